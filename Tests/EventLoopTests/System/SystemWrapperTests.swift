import EventLoop
import Glibc
import Testing

/// The typed wrappers of the System layer.
@Suite("System wrappers")
struct SystemWrapperTests {
    @Test func fdSetRefusesOutOfRangeAndIterates() throws {
        var set = FDSet()
        #expect(set.isEmpty)
        try set.insert(Descriptor(3))
        try set.insert(Descriptor(1023))
        #expect(set.contains(Descriptor(3)) && set.contains(Descriptor(1023)))
        #expect(!set.contains(Descriptor(-1)) && !set.contains(Descriptor(1024)))
        #expect(Array(set) == [Descriptor(3), Descriptor(1023)])
        for bad in [Int32(-1), Int32(FDSet.capacity), 100_000] {
            let error = #expect(throws: ArgumentError.self) { try set.insert(Descriptor(bad)) }
            #expect(error?.description == "FD_SET: fd \(bad) must be within 0..<1024 (FD_SETSIZE)")
            #expect(throws: ArgumentError.self) { try set.remove(Descriptor(bad)) }
        }
        try set.remove(Descriptor(3))
        #expect(Array(set) == [Descriptor(1023)])
        set.removeAll()
        #expect(set.isEmpty && set == FDSet())
    }

    @Test func eventFDCountsAndReportsEmptyAsAValue() throws {
        let counter = try EventFD()
        #expect(try counter.descriptor.isCloseOnExec() && counter.descriptor.isNonBlocking())
        #expect(try counter.drain() == .wouldBlock)
        for value: UInt64 in [1, 2, 3] { try counter.signal(value) }
        #expect(try counter.drain() == .completed(6))
        #expect(try !counter.signal(0xFFFF_FFFF_FFFF_FFFE).wouldBlock)
        #expect(try counter.signal(1).wouldBlock, "a full counter is a value, not an error")
        #expect(try counter.drain() == .completed(0xFFFF_FFFF_FFFF_FFFE))
        let semaphore = try EventFD(initialValue: 2, semaphore: true)
        #expect(try semaphore.drain() == .completed(1))
        #expect(try semaphore.drain() == .completed(1))
        #expect(try semaphore.drain() == .wouldBlock)
        try counter.close()
    }

    @Test func timerFDExpiresAndDisarms() throws {
        let timer = try TimerFD()
        #expect(try timer.readExpirations() == .wouldBlock)
        try timer.arm(after: .milliseconds(2), repeating: .milliseconds(1))
        #expect(try timer.remaining().interval == .milliseconds(1))
        let selector = try EpollSelector<Void>()
        try selector.register(timer.descriptor, interest: .readable)
        #expect(try selector.select(timeout: .seconds(2)).count == 1)
        #expect(try (timer.readExpirations().value ?? 0) >= 1)
        try timer.disarm()
        #expect(try timer.remaining().next == nil)
        try timer.arm(at: MonotonicInstant.now() + .milliseconds(1))
        #expect(try selector.select(timeout: .seconds(2)).count == 1)
    }

    @Test func signalFDReadsAThreadDirectedSignal() throws {
        let set = try SignalSet([SIGUSR1])
        let previous = try set.blockOnThisThread()
        defer { _ = try? previous.setAsThreadMask() }
        let signals = try SignalFD(signals: set)
        #expect(try signals.read().wouldBlock)
        pthread_kill(pthread_self(), SIGUSR1)
        let info = try #require(try signals.read().value)
        #expect(info.signal == SIGUSR1)
        #expect(info.senderPID == getpid())
        #expect(try signals.read().wouldBlock)
    }

    @Test func signalSetValidatesNumbers() throws {
        var set = SignalSet()
        try set.insert(SIGINT)
        #expect(set.contains(SIGINT) && !set.contains(SIGTERM))
        #expect(throws: ArgumentError.self) { try set.insert(0) }
        #expect(throws: ArgumentError.self) { try SignalSet([1_000]) }
    }

    /// In a child process of its own: in this one, a parallel test could reuse
    /// a closed number before the checks below see it closed.
    @Test func ownedDescriptorClosesExactlyOnce() async {
        await #expect(processExitsWith: .success) {
            do {
                // High numbers: the child has threads of its own that could reuse a low one.
                let pipe = try DescriptorPair.pipe()
                guard dup2(pipe.first.rawValue, 1_001) == 1_001, dup2(pipe.second.rawValue, 1_002) == 1_002 else { exit(7) }
                let reader = Descriptor(1_001)
                let writer = Descriptor(1_002)
                let first = OwnedDescriptor(adopting: reader)
                let second = OwnedDescriptor(adopting: writer)
                try first.close()
                guard !isOpen(reader) else { exit(1) }
                let released = second.release()
                guard isOpen(writer) else { exit(2) } // release hands the number over without closing it
                try OwnedDescriptor(adopting: released).close()
                guard !isOpen(writer) else { exit(3) }
                do {
                    try OwnedDescriptor(adopting: writer).close()
                    exit(4)
                } catch let error {
                    exit(error as? SystemError == SystemError(.badFileDescriptor, operation: "close(fd \(writer.rawValue))") ? 0 : 5)
                }
            } catch {
                exit(6)
            }
        }
    }

    @Test func descriptorFlagsAndErrors() throws {
        let pipe = try DescriptorPair.pipe(nonBlocking: false)
        let fd = pipe.first.descriptor
        #expect(try !fd.isNonBlocking())
        try fd.setNonBlocking()
        #expect(try fd.isNonBlocking())
        #expect(try fd.statusFlags() & O_NONBLOCK != 0)
        try fd.setCloseOnExec(false)
        #expect(try !fd.isCloseOnExec())
        let copy = try fd.duplicate()
        #expect(try copy.descriptor.isCloseOnExec())
        #expect(try fd.read(upTo: 4) == .wouldBlock, "EAGAIN is a value")
        let error = try #require(throws: SystemError.self) { try neverOpenDescriptor.isNonBlocking() }
        #expect(error.errno == .badFileDescriptor && error.errno.name == "EBADF")
    }

    @Test func errnoNamesAndMessages() {
        #expect(ErrnoCode.badFileDescriptor.name == "EBADF")
        #expect(ErrnoCode.wouldBlock.name == "EAGAIN")
        #expect(ErrnoCode(rawValue: 9999).name == "E9999")
        #expect(ErrnoCode.notPermitted.description == "Operation not permitted (EPERM)")
    }

    @Test func durationsRoundUpAndSaturate() {
        #expect(Duration.nanoseconds(5).nanosecondsRoundedUp == 5)
        #expect((Duration.nanoseconds(1) / 10).nanosecondsRoundedUp == 1)
        #expect(Duration.seconds(Int64.max).nanosecondsRoundedUp == .max)
        #expect((MonotonicInstant.now() + .seconds(Int64.max)) == .distantFuture)
    }

    @Test func socketAddressesParseAndPrint() throws {
        let v4 = try SocketEndpoint(ip: "127.0.0.1", port: 8080)
        #expect(v4.description == "127.0.0.1:8080" && v4.port == 8080)
        let v6 = try SocketEndpoint(ip: "::1", port: 9)
        #expect(v6.description == "[::1]:9" && v6.family == AF_INET6)
        #expect(throws: ArgumentError.self) { try SocketEndpoint(ip: "not an address", port: 1) }
    }

    @Test func udpDatagramsRoundTripOnLoopback() throws {
        let a = try Socket.bindUDP(on: SocketEndpoint(ip: "127.0.0.1", port: 0))
        let b = try Socket.bindUDP(on: SocketEndpoint(ip: "127.0.0.1", port: 0))
        let target = try b.descriptor.localAddress()
        let sent = try [UInt8]("ping".utf8).withUnsafeBytes { try a.descriptor.send($0, to: target) }
        #expect(sent == .completed(4))
        let selector = try EpollSelector<Void>()
        try selector.register(b.descriptor, interest: .readable)
        #expect(try selector.select(timeout: .seconds(2)).count == 1)
        var buffer = [UInt8](repeating: 0, count: 16)
        let got = try buffer.withUnsafeMutableBytes { try b.descriptor.receive(into: $0) }
        #expect(got.value?.count == 4)
        #expect(got.value?.from == (try a.descriptor.localAddress()))
    }

    @Test func countsOutOfRangeAreRefusedClearlyAndNothingIsRead() throws {
        let pipe = try DescriptorPair.pipe()
        try put(pipe.second.descriptor, [1, 2])
        for bad in [-1, Int.min, Descriptor.maximumReadCount + 1, Int.max] {
            let error = #expect(throws: ArgumentError.self) { try pipe.first.descriptor.read(upTo: bad) }
            #expect(error?.operation == "read(upTo:)")
        }
        #expect(try pipe.first.descriptor.read(upTo: 0) == .completed([]))
        #expect(try pipe.first.descriptor.read(upTo: 8) == .completed([1, 2]), "the refused reads took nothing")
        #expect(throws: ArgumentError.self) { _ = try EpollEventBuffer(capacity: 0) }
        #expect(throws: ArgumentError.self) {
            _ = try Socket.listenTCP(on: try SocketEndpoint(ip: "127.0.0.1", port: 0), backlog: -5)
        }
    }
}

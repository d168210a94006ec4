import EventLoop
import Glibc
import Testing

/// The contract every backend keeps: CPython's selector mixin, in Swift.
@Suite("Selector contract")
struct SelectorContractTests {
    @Test(arguments: Backend.allCases)
    func pipeBecomesReadableAfterWrite(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let pipe = try DescriptorPair.pipe()
        try selector.register(pipe.first.descriptor, interest: .readable, value: 42)
        #expect(try selector.select(timeout: .zero).isEmpty)
        try put(pipe.second.descriptor)
        let events = try selector.select(timeout: .seconds(2))
        #expect(events.count == 1)
        #expect(events.first?.descriptor == pipe.first.descriptor)
        #expect(events.first?.key.value == 42)
        #expect(events.first?.events.contains(.readable) == true)
        #expect(events.first?.events.contains(.writable) == false)
    }

    @Test(arguments: Backend.allCases)
    func socketPairIsWritableAndReadableOnlyWhenAsked(backend: Backend) throws {
        let selector = try backend.make(String.self)
        let pair = try DescriptorPair.socketPair()
        try selector.register(pair.first.descriptor, interest: .all, value: "a")
        try selector.register(pair.second.descriptor, interest: .readable, value: "b")
        var events = try selector.select(timeout: .seconds(2))
        #expect(events.map(\.key.value) == ["a"])
        #expect(events.first?.events.interest == .writable)
        try put(pair.first.descriptor)
        events = try selector.select(timeout: .seconds(2))
        let byValue = Dictionary(uniqueKeysWithValues: events.map { ($0.key.value, $0.events) })
        #expect(byValue["b"] == .readable)
        #expect(byValue["a"] == .writable)
    }

    @Test(arguments: Backend.allCases)
    func writableWhenNonBlockingConnectCompletes(backend: Backend) throws {
        let selector = try backend.make(Void.self)
        let listener = try Socket.listenTCP(on: SocketEndpoint(ip: "127.0.0.1", port: 0))
        let address = try listener.descriptor.localAddress()
        let client = try Socket.connectTCP(to: address)
        try selector.register(client.descriptor, interest: .writable)
        let events = try selector.select(timeout: .seconds(2))
        #expect(events.first?.events.contains(.writable) == true)
        #expect(try client.descriptor.pendingError() == nil)
        #expect(try client.descriptor.peerAddress().port == address.port)
        try selector.register(listener.descriptor, interest: .readable)
        #expect(try selector.select(timeout: .seconds(2)).contains { $0.descriptor == listener.descriptor })
        guard let accepted = try listener.descriptor.accept().take() else {
            Issue.record("no connection to accept")
            return
        }
        #expect(try accepted.descriptor.isNonBlocking())
        #expect(try accepted.descriptor.isCloseOnExec())
    }

    @Test(arguments: Backend.allCases)
    func hangUpWhenPeerCloses(backend: Backend) throws {
        let selector = try backend.make(Void.self)
        let pair = try DescriptorPair.socketPair()
        let reader = pair.first.descriptor
        try selector.register(reader, interest: .readable)
        let peer = pair.second
        try peer.close()
        let events = try selector.select(timeout: .seconds(2))
        let got = try #require(events.first?.events)
        #expect(got.contains(.readable))
        if backend.reportsHangUp { #expect(!got.isDisjoint(with: [.hangUp, .readHangUp])) }
        #expect(try reader.read(upTo: 16) == .completed([]))
    }

    @Test(arguments: Backend.allCases)
    func pipeWriterClosingIsReported(backend: Backend) throws {
        let selector = try backend.make(Void.self)
        let pipe = try DescriptorPair.pipe()
        try selector.register(pipe.first.descriptor, interest: .readable)
        let writer = pipe.second
        try writer.close()
        let got = try #require(try selector.select(timeout: .seconds(2)).first?.events)
        #expect(got.contains(.readable))
        if backend.reportsHangUp { #expect(got.contains(.hangUp)) }
    }

    @Test(arguments: Backend.allCases)
    func zeroTimeoutReturnsAtOnce(backend: Backend) throws {
        let selector = try backend.make(Void.self)
        let pipe = try DescriptorPair.pipe()
        try selector.register(pipe.first.descriptor, interest: .readable)
        let start = MonotonicInstant.now()
        #expect(try selector.select(timeout: .zero).isEmpty)
        #expect(try selector.select(timeout: .milliseconds(-5)).isEmpty)
        #expect(millisecondsSince(start) < 500)
    }

    @Test(arguments: Backend.allCases)
    func timeoutNeverReturnsEarly(backend: Backend) throws {
        let selector = try backend.make(Void.self)
        let pipe = try DescriptorPair.pipe()
        try selector.register(pipe.first.descriptor, interest: .readable)
        for wait in [Duration.microseconds(300), .milliseconds(1), .milliseconds(30)] {
            let start = MonotonicInstant.now()
            #expect(try selector.select(timeout: wait).isEmpty)
            let elapsed = MonotonicInstant.now() - start
            #expect(elapsed >= wait, "returned after \(elapsed), asked for \(wait)")
        }
    }

    @Test(arguments: Backend.allCases)
    func emptySelectorWaitsForTheTimeout(backend: Backend) throws {
        let selector = try backend.make(Void.self)
        let start = MonotonicInstant.now()
        #expect(try selector.select(timeout: .milliseconds(10)).isEmpty)
        #expect(MonotonicInstant.now() - start >= .milliseconds(10))
    }

    @Test(arguments: Backend.allCases)
    func modifyChangesInterestAndValue(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let pair = try DescriptorPair.socketPair()
        let fd = pair.first.descriptor
        try selector.register(fd, interest: .readable, value: 1)
        #expect(try selector.select(timeout: .zero).isEmpty)
        let key = try selector.modify(fd, interest: .writable, value: 2)
        #expect(key.interest == .writable)
        #expect(selector.key(for: fd)?.value == 2)
        let events = try selector.select(timeout: .seconds(2))
        #expect(events.map(\.key.value) == [2])
        #expect(events.first?.events == .writable)
        try selector.modify(fd, interest: .readable, value: 3)
        #expect(try selector.select(timeout: .zero).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func unregisterStopsReportsAndReturnsTheKey(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let pipe = try DescriptorPair.pipe()
        let fd = pipe.first.descriptor
        try selector.register(fd, interest: .readable, value: 7)
        try put(pipe.second.descriptor)
        let key = try selector.unregister(fd)
        #expect(key.value == 7 && key.descriptor == fd)
        #expect(selector.key(for: fd) == nil)
        #expect(selector.count == 0)
        #expect(try selector.select(timeout: .zero).isEmpty)
        try selector.register(fd, interest: .readable, value: 8)
        #expect(try selector.select(timeout: .seconds(2)).map(\.key.value) == [8])
    }

    @Test(arguments: Backend.allCases)
    func keysMapListsEveryRegistration(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let a = try DescriptorPair.pipe()
        let b = try DescriptorPair.socketPair()
        try selector.register(a.first.descriptor, interest: .readable, value: 1)
        try selector.register(b.first.descriptor, interest: .all, value: 2)
        let keys = selector.keys
        #expect(keys.count == 2 && selector.count == 2)
        #expect(keys[a.first.descriptor]?.value == 1)
        #expect(keys[b.first.descriptor]?.interest == .all)
    }

    @Test(arguments: Backend.allCases)
    func unregisterAfterTheDescriptorWasClosed(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let pipe = try DescriptorPair.pipe()
        let fd = pipe.first.descriptor
        try selector.register(fd, interest: .readable, value: 5)
        try pipe.first.close()
        #expect(try selector.unregister(fd).value == 5)
        #expect(selector.count == 0)
        #expect(try selector.select(timeout: .zero).isEmpty)
    }

    // poll says POLLNVAL and select says EBADF for a descriptor closed while
    // registered: reported as an error on its key. Each runs in a child process
    // of its own, where no parallel test can reuse the closed number first.

    @Test func pollReportsAClosedDescriptorAsAnError() async {
        await #expect(processExitsWith: .success) {
            exit(closedDescriptorIsReportedAsError(PollSelector<Int>()))
        }
    }

    @Test func selectReportsAClosedDescriptorAsAnError() async {
        await #expect(processExitsWith: .success) {
            exit(closedDescriptorIsReportedAsError(SelectSelector<Int>()))
        }
    }

    @Test(arguments: Backend.allCases)
    func manyReadyDescriptorsAreAllReported(backend: Backend) throws {
        raiseDescriptorLimit()
        let selector = try backend.make(Int.self)
        let pairs = backend == .select ? 150 : 1_100 // 2,200 descriptors for epoll and poll
        var sockets: [Descriptor] = []
        defer { for fd in sockets { try? OwnedDescriptor(adopting: fd).close() } }
        var expected = Set<Int>()
        for _ in 0..<pairs {
            let pair = try DescriptorPair.socketPair()
            try put(pair.first.descriptor)
            try put(pair.second.descriptor)
            if backend == .select {
                sockets += [pair.first.release(), pair.second.release()]
                continue
            }
            // Numbered past FD_SETSIZE: 2,200 low numbers held at once would
            // push the descriptors of select-backend tests running in parallel
            // past FD_SETSIZE, and those tests would fail.
            for end in [pair.first.descriptor, pair.second.descriptor] {
                sockets.append(try duplicate(end, atLeast: Int32(FDSet.capacity)).release())
            }
        }
        for fd in sockets {
            if backend == .select && fd.rawValue >= FDSet.capacity {
                // Parallel tests may push numbers past FD_SETSIZE: select must refuse those.
                #expect(throws: SelectorError.descriptorOutOfRange(fd, limit: FDSet.capacity)) {
                    try selector.register(fd, interest: .readable, value: Int(fd.rawValue))
                }
                continue
            }
            try selector.register(fd, interest: .readable, value: Int(fd.rawValue))
            expected.insert(Int(fd.rawValue))
        }
        #expect(selector.count == expected.count)
        var seen = Set<Int>()
        for _ in 0..<20 where seen.count < expected.count {
            for event in try selector.select(timeout: .seconds(2)) { seen.insert(event.key.value) }
        }
        #expect(seen == expected)
        for fd in sockets where expected.contains(Int(fd.rawValue)) { try selector.unregister(fd) }
        #expect(selector.count == 0)
    }

    @Test(arguments: Backend.allCases)
    func callerOwnedBufferIsReused(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let pipe = try DescriptorPair.pipe()
        try selector.register(pipe.first.descriptor, interest: .readable, value: 1)
        try put(pipe.second.descriptor)
        var buffer: [SelectorEvent<Int>] = []
        buffer.reserveCapacity(16)
        #expect(try selector.select(timeout: .seconds(2), into: &buffer) == 1)
        #expect(try selector.select(timeout: .seconds(2), into: &buffer) == 1) // level-triggered: again
        #expect(buffer.count == 1 && buffer.capacity >= 16)
    }

    @Test(arguments: Backend.allCases)
    func regularFilesFollowTheBackendsRule(backend: Backend) throws {
        let selector = try backend.make(Void.self)
        let file = try temporaryFile()
        if backend == .epoll {
            #expect(throws: SelectorError.notPollable(file.descriptor)) {
                try selector.register(file.descriptor, interest: .readable)
            }
            #expect(selector.count == 0 && selector.key(for: file.descriptor) == nil)
        } else {
            try selector.register(file.descriptor, interest: .readable)
            #expect(try selector.select(timeout: .seconds(1)).count == 1) // a file is always ready
        }
    }
}

/// An unlinked temporary file, owned by the caller.
func temporaryFile() throws -> OwnedDescriptor {
    var template = Array("/tmp/eventloop-test-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    try #require(fd >= 0)
    unlink(template)
    let owned = OwnedDescriptor(adopting: Descriptor(fd))
    try owned.descriptor.setCloseOnExec()
    return owned
}

/// Registers a pipe, closes it, and checks the next wait reports it as an
/// error. Returns 0 when it does, otherwise a code saying which check failed.
func closedDescriptorIsReportedAsError(_ selector: some EventSelector<Int>) -> Int32 {
    do {
        // Moved to a high number first: the child process has threads of its own,
        // and the lowest free number, just closed, could be reused by one of them.
        let pipe = try DescriptorPair.pipe()
        guard dup2(pipe.first.descriptor.rawValue, 1_000) == 1_000 else { return 60 }
        let fd = Descriptor(1_000)
        try selector.register(fd, interest: .readable, value: 5)
        try OwnedDescriptor(adopting: fd).close()
        let events = try selector.select(timeout: .seconds(1))
        guard events.count == 1 else { return 10 + Int32(min(events.count, 9)) }
        guard events[0].descriptor == fd else { return 20 }
        guard events[0].events.contains(.error) else { return 30 + Int32(events[0].events.rawValue) }
        return try selector.unregister(fd).value == 5 ? 0 : 40
    } catch {
        return 50
    }
}

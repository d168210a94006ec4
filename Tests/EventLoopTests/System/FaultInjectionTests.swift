import EventLoop
import Glibc
import Testing

/// The public fault seam: scripted results for the package's system calls,
/// and the trace of what was called. Each test shows that the code above the
/// seam (wrappers, selectors, the loop) survives the fault and loses nothing.
@Suite("Fault injection")
struct FaultInjectionTests {
    // MARK: The script itself

    @Test func aScriptedErrnoReachesTheCallerOnceAndTheTraceRecordsIt() throws {
        let pipe = try DescriptorPair.pipe()
        let reader = pipe.first.descriptor
        try put(pipe.second.descriptor, [7, 8, 9])
        let script = FaultScript()
        try script.inject(.fail(.connectionReset), into: .read, descriptor: reader, when: .nth(1))
        let bytes = try script.run { () throws -> [UInt8] in
            let error = #expect(throws: SystemError.self) { try reader.read(upTo: 16) }
            #expect(error?.errno == .connectionReset)
            #expect(error?.description == "read(fd \(reader.rawValue), 16 bytes): Connection reset by peer (ECONNRESET)")
            return try #require(try reader.read(upTo: 16).value) // the data is still there
        }
        #expect(bytes == [7, 8, 9])
        let reads = script.records(of: .read)
        #expect(reads.map(\.injected) == [true, false])
        #expect(reads.map(\.result) == [-Int(ErrnoCode.connectionReset.rawValue), 3])
        #expect(reads.allSatisfy { $0.descriptor == reader })
        #expect(reads.first?.description == "read(fd \(reader.rawValue)) = ECONNRESET (injected)")
    }

    @Test func aRuleForOneDescriptorLeavesTheOthersAlone() throws {
        let first = try DescriptorPair.pipe()
        let second = try DescriptorPair.pipe()
        try put(first.second.descriptor)
        try put(second.second.descriptor)
        let script = FaultScript()
        try script.inject(.fail(.inputOutput), into: .read, descriptor: first.first.descriptor)
        try script.run { () throws in
            #expect(throws: SystemError.self) { try first.first.descriptor.read(upTo: 1) }
            #expect(try second.first.descriptor.read(upTo: 1) == .completed([1]))
        }
    }

    @Test func aShortWriteInTheMiddleOfABufferLosesNothing() throws {
        let pair = try DescriptorPair.socketPair()
        let message = Array(UInt8(0)..<100)
        let script = FaultScript()
        try script.inject(.shortCount(7), into: .write, when: .nth(2))
        var sent = 0
        var calls = 0
        try script.run {
            while sent < message.count {
                let chunk = Array(message[sent..<min(sent + 40, message.count)])
                guard case .completed(let count) = try pair.first.descriptor.write(chunk) else { continue }
                sent += count
                calls += 1
            }
        }
        #expect(calls == 4, "40, then 7 (shortened), then 40, then 13")
        #expect(script.records(of: .write).map(\.result) == [40, 7, 40, 13])
        var received: [UInt8] = []
        while let bytes = try pair.second.descriptor.read(upTo: 256).value, !bytes.isEmpty {
            received += bytes
            if received.count == message.count { break }
        }
        #expect(received == message)
    }

    @Test func eintrFromEpollCtlIsRetriedInRegisterModifyAndUnregister() throws {
        let selector = try EpollSelector<Int>()
        let pipe = try DescriptorPair.pipe()
        let reader = pipe.first.descriptor
        // Each call is interrupted once, then goes through on the retry.
        let once = FaultScript()
        try once.inject(.fail(.interrupted), into: .epollCtl, when: .first(1))
        _ = try once.run { try selector.register(reader, interest: .readable, value: 1) }
        let again = FaultScript()
        try again.inject(.fail(.interrupted), into: .epollCtl, when: .first(1))
        _ = try again.run { try selector.modify(reader, interest: .readable, trigger: .edge, value: 2) } // a change the kernel must make
        try put(pipe.second.descriptor)
        #expect(try selector.select(timeout: .seconds(2)).map(\.key.value) == [2])
        let last = FaultScript()
        try last.inject(.fail(.interrupted), into: .epollCtl, when: .first(1))
        try last.run { _ = try selector.unregister(reader) }
        #expect(selector.count == 0)
        let records = once.trace + again.trace + last.trace
        #expect(records.filter { $0.call == .epollCtl && $0.injected && $0.errno == .interrupted }.count == 3)
        #expect(records.filter { $0.call == .epollCtl && !$0.injected }.count == 3, "each call went through on the retry")
        try selector.close()
    }

    @Test func eintrIsRetriedInEveryBlockingCallWithNothingLost() throws {
        let script = FaultScript()
        for call: SystemCall in [.read, .write, .accept4, .epollWait, .poll, .select, .eventfdRead, .eventfdWrite,
                                 .sendto, .recvfrom, .fcntl] {
            try script.inject(.fail(.interrupted), into: call, when: .first(2))
        }
        try script.run {
            let pipe = try DescriptorPair.pipe()
            #expect(try pipe.second.descriptor.write([1, 2]) == .completed(2))
            #expect(try pipe.first.descriptor.read(upTo: 8) == .completed([1, 2]))

            let counter = try EventFD()
            #expect(try !counter.signal(5).wouldBlock)
            #expect(try counter.drain() == .completed(5))

            let listener = try Socket.listenTCP(on: try SocketEndpoint(ip: "127.0.0.1", port: 0))
            let client = try Socket.connectTCP(to: try listener.descriptor.localAddress())
            #expect(try acceptOne(on: listener.descriptor))
            _ = client

            let udpA = try Socket.bindUDP(on: try SocketEndpoint(ip: "127.0.0.1", port: 0))
            let udpB = try Socket.bindUDP(on: try SocketEndpoint(ip: "127.0.0.1", port: 0))
            let sent = try [UInt8]([4, 2]).withUnsafeBytes { try udpA.descriptor.send($0, to: try udpB.descriptor.localAddress()) }
            #expect(sent == .completed(2))

            for backend in Backend.allCases {
                let selector = try backend.make(Int.self)
                try put(pipe.second.descriptor)
                try selector.register(pipe.first.descriptor, interest: .readable, value: 1)
                let events = try selector.select(timeout: .seconds(5))
                #expect(events.map(\.key.value) == [1], "\(backend): the wait restarted and still saw the pipe")
                _ = try pipe.first.descriptor.read(upTo: 8)
                try selector.close()
            }

            var buffer = [UInt8](repeating: 0, count: 8)
            var datagram: (count: Int, from: SocketEndpoint)?
            for _ in 0..<1_000 where datagram == nil {
                datagram = try buffer.withUnsafeMutableBytes { try udpB.descriptor.receive(into: $0) }.value
            }
            #expect(datagram?.count == 2)
            let copy = try pipe.first.descriptor.duplicate()
            #expect(try copy.descriptor.isCloseOnExec())
        }
        for call: SystemCall in [.read, .write, .accept4, .epollWait, .eventfdRead, .eventfdWrite, .sendto, .fcntl] {
            let records = script.records(of: call)
            #expect(records.prefix(2).allSatisfy { $0.errno == .interrupted && $0.injected }, "\(call)")
            #expect(records.count >= 3, "\(call) was called again after its EINTRs")
        }
    }

    @Test func acceptReportsEAGAINAsAValueAndEMFILEAsAnErrorAndTheConnectionWaits() throws {
        let listener = try Socket.listenTCP(on: try SocketEndpoint(ip: "127.0.0.1", port: 0))
        let client = try Socket.connectTCP(to: try listener.descriptor.localAddress())
        let script = FaultScript()
        try script.inject(.fail(.wouldBlock), into: .accept4, when: .nth(1))
        try script.inject(.fail(.tooManyOpenFiles), into: .accept4, when: .nth(2))
        try script.run {
            let firstWouldBlock = try listener.descriptor.accept().wouldBlock
            #expect(firstWouldBlock)
            do {
                _ = try listener.descriptor.accept().take()
                Issue.record("accept succeeded despite the scripted EMFILE")
            } catch {
                #expect((error as? SystemError)?.errno == .tooManyOpenFiles)
            }
        }
        // The connection stayed queued in the kernel: the next accept gets it.
        #expect(try acceptOne(on: listener.descriptor))
        _ = client
    }

    @Test func randomFaultsFollowTheSeed() throws {
        func pattern(seed: UInt64) throws -> [Bool] {
            let pipe = try DescriptorPair.pipe()
            let script = FaultScript(seed: seed)
            try script.inject(.fail(.interrupted), into: .fcntl, when: .random(probability: 0.5))
            script.run { for _ in 0..<64 { _ = try? pipe.first.descriptor.isNonBlocking() } }
            return script.records(of: .fcntl).map(\.injected)
        }
        let first = try pattern(seed: 42)
        #expect(try pattern(seed: 42) == first)
        #expect(first.contains(true) && first.contains(false))
    }

    @Test func badRulesAreRefusedClearly() {
        let script = FaultScript()
        #expect(throws: ArgumentError.self) { try script.inject(.shortCount(3), into: .close) }
        #expect(throws: ArgumentError.self) { try script.inject(.shortCount(0), into: .read) }
        #expect(throws: ArgumentError.self) { try script.inject(.passThrough, into: .read, when: .nth(0)) }
        #expect(throws: ArgumentError.self) { try script.inject(.passThrough, into: .read, when: .random(probability: 1.5)) }
    }

    // MARK: Scope

    @Test func aScriptIsSeenOnlyInsideItsRunAndNotByParallelTasks() async throws {
        let script = FaultScript()
        try script.inject(.fail(.inputOutput), into: .read)
        #expect(FaultScript.current == nil)
        let pipe = try DescriptorPair.pipe()
        let reader = pipe.first.descriptor
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                await script.run {
                    #expect(FaultScript.current === script)
                    var failures = 0
                    for _ in 0..<200 {
                        do { _ = try reader.read(upTo: 1) } catch { failures += 1 }
                        await Task.yield()
                    }
                    return failures
                }
            }
            group.addTask {
                // No script here: every read reaches the kernel (and finds nothing).
                var failures = 0
                for _ in 0..<200 {
                    do { _ = try reader.read(upTo: 1) } catch { failures += 1 }
                    await Task.yield()
                }
                return -failures
            }
            var results: [Int] = []
            for try await result in group { results.append(result) }
            #expect(results.sorted() == [0, 200])
        }
        #expect(FaultScript.current == nil)
    }

    @Test func aLoopTakesTheScriptItWasMadeUnderToWhereverItRuns() throws {
        let script = FaultScript()
        try script.inject(.fail(.interrupted), into: .epollWait, when: .first(3))
        let loop = try script.run { try IOLoop() }
        var fired = false
        try loop.schedule(after: .milliseconds(1)) { fired = true }
        // Outside `run`: the loop applies its own script while it runs.
        for _ in 0..<100 where !fired { try loop.runOnce(timeout: .milliseconds(100)) }
        #expect(fired)
        #expect(script.records(of: .epollWait).prefix(3).allSatisfy { $0.injected })
        try loop.close()
    }

    // MARK: The loop survives faults

    @Test func aLoopThatCannotStartReleasesWhatItMade() throws {
        let script = FaultScript()
        try script.inject(.fail(.tooManyOpenFiles), into: .eventfd)
        script.run {
            let error = #expect(throws: SystemError.self) { try IOLoop() }
            #expect(error?.errno == .tooManyOpenFiles)
        }
        let epoll = try #require(script.records(of: .epollCreate).first)
        #expect(epoll.result >= 0)
        let closed = script.records(of: .close).map(\.descriptor)
        #expect(closed.contains(Descriptor(Int32(epoll.result))), "the epoll instance made before the failure was closed")
    }

    @Test(arguments: LoopBackend.available)
    func eintrInTheLoopsWaitNeitherLosesNorDelaysWork(backend: LoopBackend) throws {
        let call: SystemCall = switch backend {
        case .epoll: .epollWait
        case .poll: .poll
        case .select: .select
        case .ioUring: .ioUringEnter
        }
        let script = FaultScript()
        try script.inject(.fail(.interrupted), into: call, when: .first(5))
        let pipe = try DescriptorPair.pipe()
        try put(pipe.second.descriptor)
        try script.run {
            let loop = try IOLoop(backend: backend)
            var reads = 0
            try loop.watch(pipe.first.descriptor) { _ in
                _ = try pipe.first.descriptor.read(upTo: 8)
                reads += 1
            }
            try loop.runOnce(timeout: .seconds(5))
            #expect(reads == 1)
            try loop.close()
        }
        #expect(script.records(of: call).filter(\.injected).count == 5)
    }

    @Test func enomemFromEpollCtlLeavesTheLoopAsItWas() throws {
        let loop = try IOLoop()
        let pipe = try DescriptorPair.pipe()
        let reader = pipe.first.descriptor
        let script = FaultScript()
        try script.inject(.fail(.noMemory), into: .epollCtl, descriptor: reader, when: .nth(1))
        script.run {
            let error = #expect(throws: SelectorError.self) { try loop.watch(reader) { _ in } }
            #expect(error == .system(SystemError(.noMemory, operation: "epoll_ctl(ADD, \(reader))")))
        }
        #expect(loop.metrics.activeWatchers == 0)
        var reads = 0
        try loop.watch(reader) { _ in
            _ = try reader.read(upTo: 8)
            reads += 1
        }
        try put(pipe.second.descriptor)
        try loop.runOnce(timeout: .seconds(5))
        #expect(reads == 1)
        try loop.close()
    }

    @Test func econnresetOnReadGoesToTheErrorHandlerAndTheLoopGoesOn() throws {
        let loop = try IOLoop()
        let broken = try DescriptorPair.socketPair()
        let healthy = try DescriptorPair.socketPair()
        var errors: [SystemError] = []
        loop.errorHandler = { errors.append(try #require($0 as? SystemError)) }
        var received: [UInt8] = []
        let brokenReader = broken.first.descriptor
        let healthyReader = healthy.first.descriptor
        let script = FaultScript()
        try script.inject(.fail(.connectionReset), into: .read, descriptor: brokenReader)
        let watcher = try loop.watch(brokenReader) { _ in _ = try brokenReader.read(upTo: 8) }
        try loop.watch(healthyReader) { _ in received += try healthyReader.read(upTo: 8).value ?? [] }
        try put(broken.second.descriptor)
        try put(healthy.second.descriptor, [5])
        try script.run { try loop.runOnce(timeout: .seconds(5)) }
        #expect(errors.map(\.errno) == [.connectionReset])
        #expect(received == [5])
        watcher.cancel()
        try put(healthy.second.descriptor, [6])
        try loop.runOnce(timeout: .seconds(5))
        #expect(received == [5, 6])
        try loop.close()
    }

    /// Accepts (and closes) one connection, waiting (bounded) for the kernel to finish the handshake.
    private func acceptOne(on listener: Descriptor) throws -> Bool {
        let selector = PollSelector<Void>()
        try selector.register(listener, interest: .readable)
        _ = try selector.select(timeout: .seconds(5))
        return try listener.accept().take() != nil
    }
}

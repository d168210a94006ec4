import EventLoop
import Glibc
import Synchronization
import Testing

/// Regressions found by trying the async layer as a demanding user would.
@Suite("Stream edge cases")
struct StreamEdgeCaseTests {
    @Test func aHugeReadCountAllocatesOnlyWhatArrives() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            try await client.write("abc")
            #expect(try await server.read(upTo: 1 << 40) == Array("abc".utf8))
            try await client.write("def")
            try await client.shutdownWriting()
            let error = await #expect(throws: StreamError.self) { try await server.readExactly(Int.max) }
            #expect(error?.kind == .endOfStream)
            #expect(try await server.read(upTo: 16) == Array("def".utf8), "what arrived stays readable")
            let udp = try await DatagramSocket.bind(on: executor)
            try await udp.send([1, 2], to: udp.localAddress)
            #expect(try await udp.receive(maxSize: Int.max).bytes == [1, 2])
        }
        try loop.close()
    }

    @Test(arguments: LoopBackend.available)
    func waitingForThePeerToCloseReturnsOnEveryBackendWithoutSpinning(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        let before = loop.metrics.iterations
        try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            let waiter = Task(executorPreference: executor) { try await client.waitUntilPeerCloses() }
            try await executor.sleep(for: .milliseconds(20)) // a spin would show as thousands of iterations
            await server.close()
            try await executor.withDeadline(after: .seconds(5)) { try await waiter.value }
        }
        #expect(loop.metrics.iterations - before < 200)
        try loop.close()
    }

    @Test func theSynchronousFaultSignalsCannotBeHandled() throws {
        let loop = try IOLoop()
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE] {
            #expect(throws: LoopError.uncatchableSignal(signal)) { try loop.onSignal(signal) { _ in } }
        }
        try loop.close()
    }

    @Test func unixEndpointsPrintTheirPathAndCompareByIt() throws {
        let a = try SocketEndpoint(unixPath: "/tmp/abc1")
        let b = try SocketEndpoint(unixPath: "/tmp/abc2-different")
        #expect(a.description == "unix:/tmp/abc1" && a.unixPath == "/tmp/abc1")
        #expect(a != b && Set([a, b]).count == 2)
        #expect(a == (try SocketEndpoint(unixPath: "/tmp/abc1")))
        #expect(a.port == 0 && a.ip.isEmpty)
    }

    @Test func theExecutorsNowIsTheManualClocksOnTheLoopThread() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        let executor = loop.executor
        #expect(executor.now == clock.now)
        let woke = Flag()
        Task(executorPreference: executor) {
            try await executor.sleep(until: executor.now + .seconds(1))
            woke.set()
        }
        try loop.runOnce(timeout: .zero)
        clock.advance(by: .seconds(2))
        try loop.runOnce(timeout: .milliseconds(100))
        #expect(woke.count == 1)
        try loop.close()
    }

    @Test func closingAUnixListenerLeavesAFileThatIsNoLongerItsOwn() throws {
        let path = "/tmp/eventloop-own-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let loop = try IOLoop()
        try loop.run { executor in
            let first = try await StreamListener.bind(unixPath: path, on: executor)
            try Socket.unlink(path)
            let second = try await StreamListener.bind(unixPath: path, on: executor)
            await first.close()
            #expect(access(path, F_OK) == 0, "the second listener's file stays")
            let client = try await StreamConnection.connect(unixPath: path, on: executor)
            await client.close()
            await second.close()
            #expect(access(path, F_OK) != 0)
        }
        try loop.close()
    }

    @Test func faultScriptsRefuseAnEndlessEINTRAndAnErrnoOfZero() {
        let script = FaultScript()
        #expect(throws: ArgumentError.self) { try script.inject(.fail(.interrupted), into: .read) }
        #expect(throws: ArgumentError.self) { try script.inject(.fail(.interrupted), into: .read, when: .random(probability: 1)) }
        #expect(throws: ArgumentError.self) { try script.inject(.fail(ErrnoCode(rawValue: 0)), into: .read) }
        #expect(throws: Never.self) { try script.inject(.fail(.interrupted), into: .read, when: .random(probability: 0.5)) }
    }

    @Test func badReadArgumentsAndLimitsAreClear() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            var empty: [UInt8] = []
            await #expect(throws: ArgumentError.self) { _ = try await server.read(into: &empty) }
            try await client.write("0123456789")
            try await client.shutdownWriting()
            let error = await #expect(throws: StreamError.self) { try await server.readToEnd(limit: 4) }
            #expect(error?.kind == .limitExceeded)
            await #expect(throws: ArgumentError.self) {
                try await StreamListener.bind(port: 0, acceptBackoff: .milliseconds(-1), on: executor)
            }
        }
        try loop.close()
    }

    @Test func aHandlersErrorReachesTheServersErrorHandler() throws {
        let loop = try IOLoop()
        let kinds = Mutex<[StreamError.Kind]>([])
        try loop.run { executor in
            let server = try await StreamServer.listening(port: 0, on: executor, errorHandler: { error in
                if let error = error as? StreamError { kinds.withLock { $0.append(error.kind) } }
            }) { connection in
                _ = try await connection.readLine(limit: 4)
            }
            let running = Task(executorPreference: executor) { try await server.run() }
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: server.port, on: executor)
            try await client.write("a line far over the limit\n")
            _ = try? await client.readToEnd()
            running.cancel()
            try await running.value
        }
        #expect(kinds.withLock { $0 } == [.lineTooLong])
        try loop.close()
    }
}

import EventLoop
import Glibc
import Synchronization
import Testing

/// Behaviours that asyncio's stream and sock_* tests, tokio's TCP and UDP
/// tests and SwiftNIO's channel tests check, tried against our public API.
@Suite("Peer behaviour: streams and datagrams")
struct PeerBehaviourStreamTests {
    // MARK: Half-close

    @Test(arguments: LoopBackend.available)
    func afterThePeersHalfCloseEveryReadIsEndOfStreamAndWritingStillWorks(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            try await client.write("question")
            try await client.shutdownWriting()
            #expect(try await server.readExactly(8) == Array("question".utf8))
            var buffer = [UInt8](repeating: 0, count: 16)
            for _ in 0..<3 {
                #expect(try await server.read(into: &buffer) == 0)
                #expect(try await server.read(upTo: 16) == [])
                #expect(try await server.readLine() == [])
                #expect(try await server.readToEnd() == [])
            }
            try await server.write("answer")
            try await server.write([UInt8](repeating: 5, count: 200_000))
            await server.close()
            let reply = try await executor.withDeadline(after: .seconds(10)) { try await client.readToEnd() }
            #expect(reply.count == 6 + 200_000 && reply.prefix(6) == ArraySlice("answer".utf8))
            #expect(try await client.read(upTo: 8) == [], "and the end repeats")
            await client.close()
        }
    }

    @Test(arguments: LoopBackend.available)
    func afterOurOwnWriteShutdownTheReplyIsStillReadable(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            let serving = Task(executorPreference: executor) {
                let request = try await server.readToEnd()
                try await server.write(Array(request.reversed()))
                await server.close()
            }
            try await client.write("abc")
            try await client.shutdownWriting()
            try await client.shutdownWriting() // a second shutdown does nothing
            let reply = try await executor.withDeadline(after: .seconds(5)) { try await client.readToEnd() }
            #expect(reply == Array("cba".utf8))
            try await serving.value
            let late = await #expect(throws: StreamError.self) { try await client.write("x") }
            #expect(late?.kind == .closed)
            await client.close()
        }
    }

    // MARK: The peer gone

    @Test(arguments: LoopBackend.available)
    func writingAfterThePeerClosedFailsWithAResetWithinAFewWrites(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            await server.close()
            let failure = try await executor.withDeadline(after: .seconds(5)) { () async throws -> StreamError? in
                for _ in 0..<1_000 {
                    do { try await client.write([UInt8](repeating: 1, count: 1_024)) } catch let error as StreamError { return error }
                    try await executor.sleep(for: .milliseconds(1)) // lets the peer's reset arrive
                }
                return nil
            }
            #expect(failure?.kind == .connectionReset)
            #expect(failure?.errno == .brokenPipe || failure?.errno == .connectionReset || failure?.errno == nil)
            await client.close()
        }
    }

    @Test func shuttingDownWritingAfterThePeersResetSucceedsAndSoDoRepeatedShutdowns() throws {
        try withConnectedPair() { executor, server, client in
            try await client.write("unread") // the server closes with this unread: a reset
            try await server.write("x")
            #expect(try await client.readExactly(1) == [UInt8(ascii: "x")]) // so "unread" has reached the server
            await server.close()
            try await executor.withDeadline(after: .seconds(5)) { try await client.waitUntilPeerCloses() }
            try await client.shutdownWriting()
            try await client.shutdownWriting()
            let late = await #expect(throws: StreamError.self) { try await client.write("x") }
            #expect(late?.kind == .closed)
            await client.close()
        }
    }

    @Test(arguments: LoopBackend.available)
    func aWriteBlockedOnAFullBufferFailsWithAResetWhenThePeerCloses(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            let writing = Task(executorPreference: executor) { try await client.write([UInt8](repeating: 1, count: 64 << 20)) }
            _ = try await server.readExactly(1_000) // the writer is under way; the rest stays unread
            try await executor.sleep(for: .milliseconds(10)) // and now stuck on a full buffer
            await server.close() // unread bytes: a reset
            let error = await #expect(throws: StreamError.self) {
                try await executor.withDeadline(after: .seconds(5)) { try await writing.value }
            }
            #expect(error?.kind == .connectionReset)
            await client.close()
        }
    }

    @Test func readingAfterThePeerClosedIsTheEndThenItStaysTheEnd() throws {
        try withConnectedPair() { executor, server, client in
            try await server.write("bye")
            await server.close()
            #expect(try await client.readToEnd() == Array("bye".utf8))
            #expect(try await client.read(upTo: 4) == [])
            #expect(try await client.read(upTo: 4) == [])
            await client.close()
        }
    }

    // MARK: Connecting

    @Test(arguments: LoopBackend.available, ["127.0.0.1", "::1"])
    func connectingToAPortNobodyListensOnIsRefusedQuickly(backend: LoopBackend, host: String) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let listener = try await StreamListener.bind(host: host, port: 0, on: executor)
            let port = listener.port
            await listener.close()
            let start = MonotonicInstant.now()
            let error = await #expect(throws: StreamError.self) {
                try await StreamConnection.connect(host: host, port: port, timeout: .seconds(10), on: executor)
            }
            #expect(error?.kind == .connectionRefused && error?.errno == .connectionRefused)
            #expect(millisecondsSince(start) < 2_000)
        }
        try loop.close()
    }

    @Test func aConnectionOverIPv6LoopbackCarriesBytesBothWaysAndKnowsItsAddresses() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(host: "::1", on: executor)
            #expect(client.peerAddress.ip == "::1" && client.localAddress.ip == "::1")
            #expect(server.peerAddress == client.localAddress && server.localAddress == client.peerAddress)
            try await client.write("six")
            #expect(try await server.readExactly(3) == Array("six".utf8))
            try await server.write("ok")
            #expect(try await client.readExactly(2) == Array("ok".utf8))
            await server.close()
            await client.close()
        }
        try loop.close()
    }

    // MARK: Cancellation and deadlines

    @Test func aPlainReadCancelledWhileWaitingLeavesTheConnectionUsable() throws {
        try withConnectedPair() { executor, server, client in
            let waiting = Task(executorPreference: executor) { try await server.read(upTo: 64) }
            try await executor.sleep(for: .milliseconds(5))
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
            try await client.write("after")
            #expect(try await server.readExactly(5) == Array("after".utf8), "no read is left behind holding the stream")
            try await server.write("back")
            #expect(try await client.readExactly(4) == Array("back".utf8))
        }
    }

    @Test(arguments: LoopBackend.available)
    func aDeadlineAroundAReadThatNeverCompletesEndsAtTheDeadline(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            let start = MonotonicInstant.now()
            await #expect(throws: DeadlineExceeded.self) {
                try await executor.withDeadline(after: .milliseconds(50)) { try await server.readLine() }
            }
            let elapsed = millisecondsSince(start)
            #expect(elapsed >= 50 && elapsed < 3_000)
            try await client.write("line\n")
            #expect(try await server.readLine() == Array("line\n".utf8), "the stream is still usable")
        }
    }

    @Test func aReadStartedConcurrentlyInAnyShapeIsRefusedAndTheFirstGetsEveryByte() throws {
        try withConnectedPair() { executor, server, client in
            let first = Task(executorPreference: executor) { try await server.readExactly(6) }
            try await executor.sleep(for: .milliseconds(5))
            var buffer = [UInt8](repeating: 0, count: 4)
            for attempt in 0..<4 {
                let error = await #expect(throws: StreamError.self) {
                    switch attempt {
                    case 0: _ = try await server.read(into: &buffer)
                    case 1: _ = try await server.readLine()
                    case 2: _ = try await server.readToEnd()
                    default: _ = try await server.readExactly(1)
                    }
                }
                #expect(error?.kind == .concurrentRead)
            }
            try await client.write("abcdef")
            #expect(try await first.value == Array("abcdef".utf8))
        }
    }

    @Test(arguments: LoopBackend.available)
    func aReaderAndAWriterInTwoTasksOnOneConnectionRunAtOnce(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            let echo = Task(executorPreference: executor) { // full duplex on the server: reads and writes interleave
                var buffer = [UInt8](repeating: 0, count: 16_384)
                while true {
                    let count = try await server.read(into: &buffer)
                    if count == 0 { break }
                    try await server.write(buffer[0..<count])
                }
                try await server.shutdownWriting()
            }
            let total = 8 << 20 // far more than both socket buffers: a writer that waited for its reader would deadlock
            let pattern = (0..<total).map { UInt8(truncatingIfNeeded: $0 >> 3) }
            let writer = Task(executorPreference: executor) {
                try await client.write(pattern)
                try await client.shutdownWriting()
            }
            let back = try await executor.withDeadline(after: .seconds(30)) { try await client.readToEnd(limit: total) }
            try await writer.value
            try await echo.value
            #expect(back == pattern)
        }
    }

    @Test(arguments: LoopBackend.available)
    func aDatagramSocketReceivesInOneTaskWhileAnotherSends(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let socket = try await DatagramSocket.bind(on: executor)
            let peer = try await DatagramSocket.bind(on: executor)
            let receiving = Task(executorPreference: executor) { try await socket.receive() }
            try await executor.sleep(for: .milliseconds(5))
            try await socket.send([1], to: peer.localAddress) // the same socket, while its receive waits
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await peer.receive() }.bytes == [1])
            try await peer.send([2], to: socket.localAddress)
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await receiving.value }.bytes == [2])
            await socket.close()
            await peer.close()
        }
        try loop.close()
    }

    // MARK: Large writes and zero lengths

    @Test func aSeveralMegabyteWriteCompletesWhileThePeerReadsSlowlyInSmallPieces() throws {
        try withConnectedPair() { executor, server, client in
            let total = 6 << 20
            let pattern = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
            let writer = Task(executorPreference: executor) { try await client.write(pattern) }
            var received: [UInt8] = []
            received.reserveCapacity(total)
            var buffer = [UInt8](repeating: 0, count: 4_096)
            var reads = 0
            while received.count < total {
                let count = try await server.read(into: &buffer)
                #expect(count > 0)
                if count == 0 { break }
                received += buffer[0..<count]
                reads += 1
                if reads % 256 == 0 { try await executor.sleep(for: .milliseconds(1)) } // a slow reader
            }
            try await executor.withDeadline(after: .seconds(10)) { try await writer.value }
            #expect(received == pattern)
        }
    }

    @Test func zeroLengthWritesSendNothingAndAZeroCountReadReturnsNothingAtOnce() throws {
        try withConnectedPair() { executor, server, client in
            try await client.write([UInt8]())
            try await client.write("")
            try await client.write([UInt8](repeating: 1, count: 4)[4...])
            try await client.write("x")
            #expect(try await server.read(upTo: 16) == [UInt8(ascii: "x")])
            #expect(try await server.readExactly(0) == [])
            // asyncio's read(0): b'' at once, nothing consumed; a negative count is refused.
            try await client.write("y")
            #expect(try await server.read(upTo: 0) == [])
            #expect(try await server.read(upTo: 16) == [UInt8(ascii: "y")])
            await #expect(throws: ArgumentError.self) { try await server.read(upTo: -1) }
            let udp = try await DatagramSocket.bind(on: executor)
            try await udp.send([], to: udp.localAddress)
            let empty = try await executor.withDeadline(after: .seconds(5)) { try await udp.receive() }
            #expect(empty.bytes == [] && !empty.truncated && empty.sender == udp.localAddress, "an empty datagram is a datagram")
            await udp.close()
        }
    }

    // MARK: Closing

    @Test func closingTwiceIsHarmlessAndEveryOperationAfterCloseIsAClearClosedError() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
            await client.close()
            await client.close()
            var buffer = [UInt8](repeating: 0, count: 8)
            let operations: [(String, @Sendable () async throws -> Void)] = [
                ("read(upTo:)", { _ = try await client.read(upTo: 8) }),
                ("readExactly", { _ = try await client.readExactly(1) }),
                ("readLine", { _ = try await client.readLine() }),
                ("readToEnd", { _ = try await client.readToEnd() }),
                ("write", { try await client.write("x") }),
                ("write empty", { try await client.write([UInt8]()) }),
                ("shutdownWriting", { try await client.shutdownWriting() }),
                ("setNoDelay", { try await client.setNoDelay(false) }),
                ("waitUntilPeerCloses", { try await client.waitUntilPeerCloses() }),
            ]
            for (name, operation) in operations {
                let error = await #expect(throws: StreamError.self, "\(name) after close") { try await operation() }
                #expect(error?.kind == .closed, "\(name) after close")
            }
            let error = await #expect(throws: StreamError.self) { _ = try await client.read(into: &buffer) }
            #expect(error?.kind == .closed)
            #expect(try await server.read(upTo: 8) == [], "the peer sees the end")
            await server.close()
        }
        try loop.close()
    }

    @Test func aReadOrWriteWaitingWhenTheConnectionClosesEndsWithClosed() throws {
        try withConnectedPair() { executor, server, client in
            let reading = Task(executorPreference: executor) { try await client.read(upTo: 8) }
            let writing = Task(executorPreference: executor) { try await client.write([UInt8](repeating: 0, count: 32 << 20)) }
            let queued = Task(executorPreference: executor) { try await client.write("waiting for its turn") }
            try await executor.sleep(for: .milliseconds(10))
            await client.close()
            let read = await #expect(throws: StreamError.self) { try await executor.withDeadline(after: .seconds(5)) { try await reading.value } }
            let write = await #expect(throws: StreamError.self) { try await executor.withDeadline(after: .seconds(5)) { try await writing.value } }
            let next = await #expect(throws: StreamError.self) { try await executor.withDeadline(after: .seconds(5)) { try await queued.value } }
            #expect(read?.kind == .closed && write?.kind == .closed && next?.kind == .closed)
            await server.close()
        }
    }

    @Test func twoTasksWaitingForThePeerToCloseBothWake() throws {
        try withConnectedPair() { executor, server, client in
            let first = Task(executorPreference: executor) { try await client.waitUntilPeerCloses() }
            let second = Task(executorPreference: executor) { try await client.waitUntilPeerCloses() }
            try await executor.sleep(for: .milliseconds(5))
            await server.close()
            try await executor.withDeadline(after: .seconds(5)) { try await first.value }
            try await executor.withDeadline(after: .seconds(5)) { try await second.value }
            await client.close()
        }
    }

    // MARK: Listening

    @Test(arguments: LoopBackend.available, ["127.0.0.1", "::1"])
    func aListenerOnPortZeroReportsItsRealPortAndAcceptsManyConnections(backend: LoopBackend, host: String) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let listener = try await StreamListener.bind(host: host, port: 0, on: executor)
            #expect(listener.port != 0 && listener.localAddress.port == listener.port && listener.localAddress.ip == host)
            let count = 100
            let accepting = Task(executorPreference: executor) { () async throws -> Int in
                var seen = 0
                for try await connection in listener.connections {
                    #expect(connection.localAddress.port == listener.port)
                    let byte = try await connection.readExactly(1)
                    try await connection.write(byte)
                    await connection.close()
                    seen += 1
                    if seen == count { break }
                }
                return seen
            }
            for index in 0..<count {
                let client = try await StreamConnection.connect(host: host, port: listener.port, timeout: .seconds(5), on: executor)
                try await client.write([UInt8(index)])
                #expect(try await client.readToEnd() == [UInt8(index)])
                await client.close()
            }
            #expect(try await executor.withDeadline(after: .seconds(10)) { try await accepting.value } == count)
            await listener.close()
        }
        try loop.close()
    }

    @Test func closingAListenerEndsAnAcceptThatIsWaitingAndLaterAccepts() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, on: executor)
            let waiting = Task(executorPreference: executor) { try await listener.accept() }
            let iterating = Task(executorPreference: executor) { () async throws -> Int in
                var count = 0
                for try await _ in listener.connections { count += 1 }
                return count
            }
            try await executor.sleep(for: .milliseconds(5))
            await listener.close()
            await listener.close()
            let error = await #expect(throws: StreamError.self) { try await executor.withDeadline(after: .seconds(5)) { try await waiting.value } }
            #expect(error?.kind == .closed)
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await iterating.value } == 0, "the sequence just ends")
            let again = await #expect(throws: StreamError.self) { try await listener.accept() }
            #expect(again?.kind == .closed)
        }
        try loop.close()
    }

    @Test(arguments: LoopBackend.available)
    func severalTasksAcceptingOnOneListenerEachGetAConnection(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, on: executor)
            var acceptors: [Task<StreamConnection, any Error>] = []
            for _ in 0..<3 { acceptors.append(Task(executorPreference: executor) { try await listener.accept() }) }
            try await executor.sleep(for: .milliseconds(5)) // all three are waiting
            var clients: [StreamConnection] = []
            for _ in 0..<3 { clients.append(try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, on: executor)) }
            var accepted: [StreamConnection] = []
            for acceptor in acceptors {
                accepted.append(try await executor.withDeadline(after: .seconds(5)) { try await acceptor.value })
            }
            #expect(Set(accepted.map(\.peerAddress)) == Set(clients.map(\.localAddress)))
            for connection in accepted + clients { await connection.close() }
            await listener.close()
        }
        try loop.close()
    }

    // MARK: Datagrams

    @Test func aDatagramToAPortNobodyListensOnDoesNotBreakTheSocket() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let gone = try await DatagramSocket.bind(on: executor)
            let deadAddress = gone.localAddress
            await gone.close()
            let socket = try await DatagramSocket.bind(on: executor)
            let peer = try await DatagramSocket.bind(on: executor)
            for _ in 0..<3 { try await socket.send([1, 2, 3], to: deadAddress) }
            try await executor.sleep(for: .milliseconds(5)) // any ICMP error has come back by now
            try await socket.send([4], to: peer.localAddress)
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await peer.receive() }.bytes == [4])
            try await peer.send([5], to: socket.localAddress)
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await socket.receive() }.bytes == [5])
            await socket.close()
            await peer.close()
        }
        try loop.close()
    }

    @Test func aDatagramLargerThanTheBufferIsReportedTruncatedAndTheNextIsWhole() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let a = try await DatagramSocket.bind(on: executor)
            let b = try await DatagramSocket.bind(on: executor)
            try await a.send([UInt8](repeating: 3, count: 1_000), to: b.localAddress)
            try await a.send([7, 8], to: b.localAddress)
            let cut = try await b.receive(maxSize: 100)
            #expect(cut.bytes.count == 100 && cut.truncated)
            let whole = try await b.receive(maxSize: 100)
            #expect(whole.bytes == [7, 8] && !whole.truncated, "the lost tail never shows up as a datagram")
            let big = [UInt8](repeating: 9, count: 65_000)
            try await a.send(big, to: b.localAddress)
            #expect(try await b.receive().bytes == big)
            await a.close()
            await b.close()
        }
        try loop.close()
    }

    @Test(arguments: LoopBackend.available)
    func aReceiveUnderADeadlineEndsThenTheSocketStillReceives(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let a = try await DatagramSocket.bind(on: executor)
            let b = try await DatagramSocket.bind(host: "::1", on: executor)
            #expect(b.localAddress.ip == "::1" && b.localAddress.port != 0)
            await #expect(throws: DeadlineExceeded.self) {
                try await executor.withDeadline(after: .milliseconds(30)) { try await a.receive() }
            }
            let other = try await DatagramSocket.bind(host: "::1", on: executor)
            try await other.send([42], to: b.localAddress)
            let got = try await executor.withDeadline(after: .seconds(5)) { try await b.receive() }
            #expect(got.bytes == [42] && got.sender == other.localAddress)
            try await b.send([43], to: other.localAddress)
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await other.receive() }.bytes == [43])
            await a.close()
            await b.close()
            await other.close()
        }
        try loop.close()
    }

    @Test func aDatagramSocketAfterCloseGivesClosedAndAWaitingReceiveEnds() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let socket = try await DatagramSocket.bind(on: executor)
            let waiting = Task(executorPreference: executor) { try await socket.receive() }
            try await executor.sleep(for: .milliseconds(5))
            await socket.close()
            await socket.close()
            let ended = await #expect(throws: StreamError.self) { try await executor.withDeadline(after: .seconds(5)) { try await waiting.value } }
            #expect(ended?.kind == .closed)
            let send = await #expect(throws: StreamError.self) { try await socket.send([1], to: socket.localAddress) }
            #expect(send?.kind == .closed)
            let receive = await #expect(throws: StreamError.self) { try await socket.receive() }
            #expect(receive?.kind == .closed)
        }
        try loop.close()
    }

    // MARK: The server

    @Test func aGracefulShutdownLetsAnInFlightExchangeFinishAndRefusesNewConnections() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let started = Flag()
            let server = try await StreamServer.listening(port: 0, on: executor) { connection in
                started.set()
                let request = try await connection.readLine()
                try await connection.write(Array(request.reversed()))
            }
            let running = Task(executorPreference: executor) { try await server.run() }
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: server.port, on: executor)
            for _ in 0..<5_000 where started.count == 0 { try await executor.sleep(for: .milliseconds(1)) } // the handler runs
            #expect(started.count == 1)
            server.shutdown(gracePeriod: .seconds(10))
            try await executor.sleep(for: .milliseconds(5))
            await #expect(throws: StreamError.self) {
                _ = try await StreamConnection.connect(host: "127.0.0.1", port: server.port, on: executor)
            }
            try await client.write("ab\n")
            #expect(try await client.readToEnd() == Array("\nba".utf8), "the handler ran to its end, then its connection closed")
            let start = MonotonicInstant.now()
            try await executor.withDeadline(after: .seconds(5)) { try await running.value }
            #expect(millisecondsSince(start) < 5_000, "run() returned as the last handler ended, not at the grace period")
            await client.close()
        }
        try loop.close()
    }

    // MARK: More cancellation, addresses in use, Unix streams

    @Test func aCancelledAcceptLeavesThePendingConnectionQueuedForTheNextAccept() throws {
        // A client is queued, but the accept waits anyway: its first accept4
        // says "would block" (as if another acceptor had raced it), so the
        // cancel lands on an accept that waits with a connection pending.
        let script = FaultScript()
        try script.inject(.fail(.wouldBlock), into: .accept4, when: .nth(1))
        try script.run {
            let loop = try IOLoop()
            try loop.run { executor in
                let listener = try await StreamListener.bind(port: 0, on: executor)
                let client = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, on: executor)
                let waiting = Task(executorPreference: executor) { try await listener.accept() }
                var turns = 0
                while !script.trace.contains(where: { $0.call == .accept4 }) && turns < 10_000 {
                    await Task.yield() // until the accept has tried once and waits
                    turns += 1
                }
                waiting.cancel()
                await #expect(throws: CancellationError.self) { try await waiting.value }
                let server = try await executor.withDeadline(after: .seconds(5)) { try await listener.accept() }
                try await client.write("hi")
                #expect(try await server.readExactly(2) == Array("hi".utf8), "the next accept got the queued client")
                await client.close()
                await server.close()
                await listener.close()
            }
            try loop.close()
        }
    }

    @Test func aWriteCancelledUnderBackpressureLetsTheNextWriteGoOut() throws {
        try withConnectedPair() { executor, server, client in
            let big = Task(executorPreference: executor) { try await client.write([UInt8](repeating: 1, count: 64 << 20)) }
            let queued = Task(executorPreference: executor) { try await client.write([UInt8](repeating: 2, count: 10)) }
            try await executor.sleep(for: .milliseconds(10)) // the first is stuck on a full buffer, the second waits its turn
            queued.cancel()
            await #expect(throws: CancellationError.self) { try await queued.value }
            big.cancel()
            await #expect(throws: CancellationError.self) { try await big.value }
            let tail = Task(executorPreference: executor) {
                try await client.write("tail")
                try await client.shutdownWriting()
            }
            let all = try await executor.withDeadline(after: .seconds(30)) { try await server.readToEnd(limit: 64 << 20) }
            try await tail.value
            #expect(all.suffix(4) == ArraySlice("tail".utf8))
            #expect(all.dropLast(4).allSatisfy { $0 == 1 } && all.count < (64 << 20) + 4, "nothing of the cancelled writes after the cancel")
        }
    }

    @Test func bindingATCPOrUDPPortThatIsInUseIsAddressInUse() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, on: executor)
            let tcp = await #expect(throws: StreamError.self) { try await StreamListener.bind(port: listener.port, on: executor) }
            #expect(tcp?.kind == .addressInUse && tcp?.errno == .addressInUse)
            let udp = try await DatagramSocket.bind(on: executor)
            let taken = await #expect(throws: StreamError.self) { try await DatagramSocket.bind(port: udp.localAddress.port, on: executor) }
            #expect(taken?.kind == .addressInUse)
            await listener.close()
            await udp.close()
        }
        try loop.close()
    }

    @Test func aDatagramTooLargeToSendIsAClearErrorAndTheSocketGoesOn() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let a = try await DatagramSocket.bind(on: executor)
            let b = try await DatagramSocket.bind(on: executor)
            let error = await #expect(throws: StreamError.self) { try await a.send([UInt8](repeating: 0, count: 70_000), to: b.localAddress) }
            #expect(error?.errno == ErrnoCode(rawValue: EMSGSIZE))
            try await a.send([1], to: b.localAddress)
            let got = try await executor.withDeadline(after: .seconds(5)) { () async throws -> DatagramSocket.Datagram in
                var none: [UInt8] = []
                return try await b.receive(into: &none)
            }
            #expect(got.count == 0 && got.truncated && got.sender == a.localAddress, "a buffer of no room takes the datagram and says it was cut")
            await a.close()
            await b.close()
        }
        try loop.close()
    }

    @Test func aDatagramToAnAddressOfTheOtherFamilyIsAClearErrorAndTheSocketGoesOn() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let v4 = try await DatagramSocket.bind(on: executor)
            let error = await #expect(throws: StreamError.self) { try await v4.send([1], to: try SocketEndpoint(ip: "::1", port: 9)) }
            #expect(error?.kind == .system && error?.errno != nil)
            try await v4.send([2], to: v4.localAddress)
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await v4.receive() }.bytes == [2])
            await v4.close()
        }
        try loop.close()
    }

    @Test func aUnixStreamHalfClosesEachWayAndAMissingPathIsRefused() throws {
        let path = "/tmp/eventloop-peer-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let loop = try IOLoop()
        try loop.run { executor in
            let missing = await #expect(throws: StreamError.self) { try await StreamConnection.connect(unixPath: path, on: executor) }
            #expect(missing?.kind == .connectionRefused)
            let listener = try await StreamListener.bind(unixPath: path, on: executor)
            async let accepted = listener.accept()
            let client = try await StreamConnection.connect(unixPath: path, on: executor)
            let server = try await accepted
            try await client.write("ask")
            try await client.shutdownWriting()
            #expect(try await server.readToEnd() == Array("ask".utf8))
            #expect(try await server.read(upTo: 4) == [])
            try await server.write("told")
            await server.close()
            #expect(try await client.readToEnd() == Array("told".utf8))
            await client.close()
            await listener.close()
        }
        try loop.close()
    }

    @Test func aUnixListenerClosedAfterItsLoopClosedStillRemovesItsFile() async throws {
        let path = "/tmp/eventloop-peer-late-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let loop = try IOLoop()
        let listener = try loop.run { executor in try await StreamListener.bind(unixPath: path, on: executor) }
        try loop.close()
        #expect(access(path, F_OK) == 0)
        await listener.close()
        #expect(access(path, F_OK) != 0, "the listener's file went with it")
        await listener.close()
    }

    @Test func closingTheLoopEndsWaitingStreamCallsAndClosesEverySocket() async {
        await #expect(processExitsWith: .success) {
            _ = try? IOLoop().run { executor in
                let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
                await server.close()
                await client.close()
            }
            let before = openSocketCount()
            do {
                let loop = try IOLoop()
                let (kept, pending) = try loop.run { executor in
                    let listener = try await StreamListener.bind(port: 0, on: executor)
                    let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
                    let udp = try await DatagramSocket.bind(on: executor)
                    let reading = Task(executorPreference: executor) { _ = try await server.read(upTo: 8) }
                    let accepting = Task(executorPreference: executor) { _ = try await listener.accept() }
                    return ((listener, server, client, udp), [reading, accepting])
                }
                try loop.close()
                guard openSocketCount() == before else { exit(3) }
                for task in pending {
                    guard case .failure = await task.result else { exit(4) }
                }
                withExtendedLifetime(kept) {}
            } catch {
                exit(2)
            }
            exit(0)
        }
    }

    @Test func callsOnAClosedLoopsStreamsFromAnotherThreadAreClearClosedErrorsNotACrash() async {
        await #expect(processExitsWith: .success) { exit(await callEveryStreamOperationAfterItsLoopClosed()) }
    }

    @Test func streamsDrivenFromTasksOffTheLoopThreadBehaveTheSame() async throws {
        let handOut = Mutex<(LoopExecutor, LoopHandle)?>(nil)
        let ready = Flag()
        let thread = TestThread {
            guard let loop = try? IOLoop() else { ready.set(); return }
            handOut.withLock { $0 = (loop.executor, loop.handle) }
            ready.set()
            try? loop.run() // until stop()
            try? loop.close()
        }
        defer { thread.join() }
        for _ in 0..<5_000 where ready.count == 0 { try await Task.sleep(for: .milliseconds(1)) } // the thread's start
        let (executor, handle) = try #require(handOut.withLock { $0 })
        defer { handle.stop() }
        let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
        try await client.write("ping\n")
        #expect(try await server.readLine() == Array("ping\n".utf8))
        let reading = Task { try await server.read(upTo: 8) } // a task of the global executor
        try await Task.sleep(for: .milliseconds(5))
        reading.cancel() // from off the loop thread
        await #expect(throws: CancellationError.self) { try await reading.value }
        await #expect(throws: DeadlineExceeded.self) {
            try await executor.withDeadline(after: .milliseconds(20)) { try await server.readExactly(1) }
        }
        async let written: Void = client.write([UInt8](repeating: 4, count: 3 << 20)) // needs the peer to read meanwhile
        let got = try await server.readExactly(3 << 20)
        try await written
        #expect(got.count == 3 << 20 && got.allSatisfy { $0 == 4 })
        try await server.write("bye")
        try await server.shutdownWriting()
        #expect(try await client.readToEnd() == Array("bye".utf8))
        await client.close()
        await server.close()
    }

    @Test func aGracefulShutdownCancelsAHandlerThatOutlivesTheGracePeriodAndThenReturns() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let cancelled = Flag()
            let server = try await StreamServer.listening(port: 0, on: executor, errorHandler: { error in
                if error is CancellationError { cancelled.set() }
            }) { connection in
                _ = try await connection.readExactly(1_000) // never comes
            }
            let running = Task(executorPreference: executor) { try await server.run() }
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: server.port, on: executor)
            try await client.write("x")
            try await executor.sleep(for: .milliseconds(5))
            let start = MonotonicInstant.now()
            server.shutdown(gracePeriod: .milliseconds(50))
            try await executor.withDeadline(after: .seconds(5)) { try await running.value }
            let elapsed = millisecondsSince(start)
            #expect(elapsed >= 45 && elapsed < 4_000, "run() returned once the grace period had cut the handler short")
            #expect(cancelled.count == 1)
            #expect(try await client.readToEnd() == [], "the cancelled handler's connection was closed")
            await client.close()
        }
        try loop.close()
    }

    // MARK: Descriptors

    @Test func noSocketIsLeftOpenAfterCancelsClosesDeadlinesAndFailures() async {
        await #expect(processExitsWith: .success) {
            _ = try? IOLoop().run { executor in // the runtime's own first-use descriptors
                let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
                await server.close()
                await client.close()
            }
            let before = openSocketCount()
            do {
                let loop = try IOLoop()
                try loop.run { executor in
                    for host in ["127.0.0.1", "::1"] {
                        let (server, client) = try await connectedPair(host: host, on: executor)
                        let reading = Task(executorPreference: executor) { try await server.read(upTo: 8) }
                        try await executor.sleep(for: .milliseconds(2))
                        reading.cancel()
                        _ = try? await reading.value
                        _ = try? await executor.withDeadline(after: .milliseconds(5)) { try await client.readLine() }
                        await client.close()
                        await client.close()
                        _ = try? await server.write("to nobody")
                        _ = try? await server.readToEnd()
                        await server.close()
                    }
                    let listener = try await StreamListener.bind(port: 0, on: executor)
                    let port = listener.port
                    let accepting = Task(executorPreference: executor) { try await listener.accept() }
                    try await executor.sleep(for: .milliseconds(2))
                    await listener.close()
                    _ = try? await accepting.value
                    _ = try? await StreamConnection.connect(host: "127.0.0.1", port: port, on: executor)
                    let connecting = Task(executorPreference: executor) {
                        try await StreamConnection.connect(host: "localhost", port: port, on: executor)
                    }
                    connecting.cancel()
                    _ = try? await connecting.value
                    let udp = try await DatagramSocket.bind(on: executor)
                    _ = try? await executor.withDeadline(after: .milliseconds(5)) { try await udp.receive() }
                    await udp.close()
                    let abandoned = try await DatagramSocket.bind(on: executor)
                    _ = abandoned.localAddress // dropped without close: its deinit closes it
                }
                try loop.close()
            } catch {
                exit(2)
            }
            exit(openSocketCount() == before ? 0 : 3)
        }
    }
}

/// Runs a loop on a thread of its own and closes it there with a connection,
/// a listener and a datagram socket open, then calls each kind of operation
/// from this task (so never on the loop's thread): the exit status is 0 when
/// every one throws a "closed" error.
private func callEveryStreamOperationAfterItsLoopClosed() async -> Int32 {
    typealias Made = (server: StreamConnection, client: StreamConnection, udp: DatagramSocket, listener: StreamListener, executor: LoopExecutor)
    let made = Mutex<Made?>(nil)
    let thread = TestThread {
        guard let loop = try? IOLoop() else { return }
        let objects = try? loop.run { executor -> Made in
            let listener = try await StreamListener.bind(port: 0, on: executor)
            async let accepted = listener.accept()
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, on: executor)
            return (try await accepted, client, try await DatagramSocket.bind(on: executor), listener, executor)
        }
        guard (try? loop.close()) != nil else { return }
        made.withLock { $0 = objects }
    }
    thread.join()
    guard let (server, client, udp, listener, executor) = made.withLock({ $0 }) else { return 3 }
    let serving = StreamServer(listener: listener) { _ in }
    let operations: [@Sendable () async throws -> Void] = [
        { _ = try await client.read(upTo: 4) },
        { try await client.write("x") },
        { _ = try await listener.accept() },
        { try await udp.send([1], to: udp.localAddress) },
        { _ = try await StreamConnection.connect(host: "127.0.0.1", port: 9, on: executor) },
        { _ = try await StreamListener.bind(port: 0, on: executor) },
        { _ = try await DatagramSocket.bind(on: executor) },
        { try await executor.sleep(for: .milliseconds(1)) },
    ]
    for (index, operation) in operations.enumerated() {
        do {
            try await operation()
            return 10 + Int32(index)
        } catch let error as StreamError where error.kind == .closed {
        } catch is LoopError {
        } catch {
            return 30 + Int32(index)
        }
    }
    serving.shutdown(gracePeriod: .seconds(1))
    try? await Task.sleep(for: .milliseconds(20)) // the shutdown's task has run by now
    await client.close()
    await server.close()
    await udp.close()
    await listener.close()
    return 0
}

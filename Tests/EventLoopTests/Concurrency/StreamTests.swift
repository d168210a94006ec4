import EventLoop
import Glibc
import Testing

/// TCP streams on the loop: connect, accept, read and write shapes, errors.
@Suite("Streams")
struct StreamTests {
    @Test func anEchoRoundTripOnPortZero() throws {
        let loop = try IOLoop()
        let reply = try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, on: executor)
            #expect(listener.port != 0)
            let server = Task(executorPreference: executor) {
                let connection = try await listener.accept()
                let line = try await connection.readLine()
                try await connection.write(line)
                await connection.close()
            }
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, on: executor)
            #expect(client.peerAddress.port == listener.port)
            try await client.write("hello\n")
            let answer = try await client.readLine()
            try await server.value
            #expect(try await client.read(upTo: 16) == [], "the server closed: end of stream")
            await client.close()
            await listener.close()
            return answer
        }
        #expect(reply == Array("hello\n".utf8))
        try loop.close()
    }

    @Test func connectingWhereNobodyListensIsRefused() throws {
        let loop = try IOLoop()
        let error = try loop.run { executor -> StreamError? in
            let listener = try await StreamListener.bind(port: 0, on: executor)
            let port = listener.port
            await listener.close()
            do {
                _ = try await StreamConnection.connect(host: "127.0.0.1", port: port, on: executor)
                return nil
            } catch let error as StreamError {
                return error
            }
        }
        #expect(error?.kind == .connectionRefused)
        #expect(error?.errno == .connectionRefused)
        #expect(error?.description.hasPrefix("connect(127.0.0.1:") == true)
        try loop.close()
    }

    @Test func aConnectThatGetsNoAnswerTimesOut() throws {
        let loop = try IOLoop()
        let kind = try loop.run { executor -> StreamError.Kind? in
            // Backlog 0 and nobody accepting: once the queue is full, the kernel drops new SYNs.
            let listener = try await StreamListener.bind(port: 0, backlog: 0, on: executor)
            var queued: [StreamConnection] = []
            for _ in 0..<8 {
                guard let connection = try? await StreamConnection.connect(
                    host: "127.0.0.1", port: listener.port, timeout: .milliseconds(200), on: executor) else { break }
                queued.append(connection)
            }
            do {
                _ = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .milliseconds(200), on: executor)
                return nil
            } catch let error as StreamError {
                return error.kind
            }
        }
        #expect(kind == .timedOut)
        try loop.close()
    }

    @Test func aNameThatDoesNotResolveIsHostNotFound() throws {
        let loop = try IOLoop()
        let kind = try loop.run { executor -> StreamError.Kind? in
            do {
                _ = try await StreamConnection.connect(host: "no-such-host.invalid", port: 80, timeout: .seconds(5), on: executor)
                return nil
            } catch let error as StreamError { return error.kind }
        }
        #expect(kind == .hostNotFound)
        try loop.close()
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func localhostReachesAServerOnEitherFamily(listenOn host: String) throws {
        let loop = try IOLoop()
        let got = try loop.run { executor in
            let listener = try await StreamListener.bind(host: host, port: 0, on: executor)
            let server = Task(executorPreference: executor) {
                let connection = try await listener.accept()
                try await connection.write("x")
            }
            let client = try await StreamConnection.connect(host: "localhost", port: listener.port, on: executor)
            let bytes = try await client.readExactly(1)
            try await server.value
            return bytes
        }
        #expect(got == [UInt8(ascii: "x")])
        try loop.close()
    }

    @Test func readExactlyCollectsManySmallSegmentsAndALineSplitAcrossSegmentsIsWhole() throws {
        let loop = try IOLoop()
        let (exact, line) = try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            let writer = Task(executorPreference: executor) {
                for byte in Array("abcdefgh".utf8) {
                    try await client.write([byte])
                    try await executor.sleep(for: .milliseconds(1))
                }
                for piece in ["first li", "ne\nsec", "ond\n"] {
                    try await client.write(piece)
                    try await executor.sleep(for: .milliseconds(1))
                }
            }
            let exact = try await server.readExactly(8)
            let line = try await server.readLine()
            let second = try await server.readLine()
            try await writer.value
            #expect(second == Array("second\n".utf8))
            return (exact, line)
        }
        #expect(exact == Array("abcdefgh".utf8))
        #expect(line == Array("first line\n".utf8))
        try loop.close()
    }

    @Test func aLineOverTheLimitThrowsAndItsBytesStayReadable() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            try await client.write("0123456789ABCDEF\nrest")
            await #expect(throws: StreamError(.lineTooLong, operation: "readLine(limit: 8)")) { try await server.readLine(limit: 8) }
            #expect(try await server.readLine(limit: 64) == Array("0123456789ABCDEF\n".utf8))
            try await client.shutdownWriting()
            #expect(try await server.readLine() == Array("rest".utf8), "at the end, what is left without a delimiter")
            #expect(try await server.readLine() == [])
        }
        try loop.close()
    }

    @Test func readExactlyAtTheEndThrowsAndKeepsWhatArrived() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            try await client.write("abc")
            try await client.shutdownWriting()
            await #expect(throws: StreamError.self) { try await server.readExactly(10) }
            #expect(try await server.read(upTo: 10) == Array("abc".utf8))
        }
        try loop.close()
    }

    @Test func halfCloseWorksInBothDirections() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            try await client.write("request")
            try await client.shutdownWriting()
            #expect(try await server.readToEnd() == Array("request".utf8))
            try await server.write("response")
            try await server.shutdownWriting()
            #expect(try await client.readToEnd() == Array("response".utf8))
            await #expect(throws: StreamError.self) { try await client.write("late") }
        }
        try loop.close()
    }

    @Test func aSecondConcurrentReadIsRefusedClearly() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            let first = Task(executorPreference: executor) { try await server.read(upTo: 8) }
            try await executor.sleep(for: .milliseconds(5))
            let error = await #expect(throws: StreamError.self) { try await server.read(upTo: 8) }
            #expect(error?.kind == .concurrentRead)
            try await client.write("x")
            #expect(try await first.value == [UInt8(ascii: "x")])
        }
        try loop.close()
    }

    @Test func concurrentWritesGoOutWholeAndInCallOrder() throws {
        let loop = try IOLoop()
        let received = try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            let chunk = 300_000 // larger than a socket buffer: each write suspends midway
            var writers: [Task<Void, any Error>] = []
            for index in 0..<4 {
                writers.append(Task(executorPreference: executor) {
                    try await client.write([UInt8](repeating: UInt8(index), count: chunk))
                })
                await Task.yield()
            }
            let all = try await server.readExactly(4 * chunk)
            for writer in writers { try await writer.value }
            return all
        }
        for index in 0..<4 {
            #expect(received[index * 300_000..<(index + 1) * 300_000].allSatisfy { $0 == UInt8(index) })
        }
        try loop.close()
    }

    @Test func aReadCancelledWhileItWaitsLosesNoBytes() throws {
        // The trace shows when the server's read has taken the 2 bytes out of
        // the socket (the script only watches: it injects nothing).
        let script = FaultScript()
        try script.run {
            let loop = try IOLoop()
            try loop.run { executor in
                let (server, client) = try await connectedPair(on: executor)
                let serverNumber = server.descriptor
                let waiting = Task(executorPreference: executor) { try await server.readExactly(4) }
                try await client.write("ab")
                try await executor.withDeadline(after: .seconds(5)) {
                    while !script.trace.contains(where: { $0.call == .read && $0.descriptor == serverNumber && $0.result == 2 }) {
                        try await executor.sleep(for: .milliseconds(1))
                    }
                }
                waiting.cancel() // the 2 bytes are in the stream's buffer now, not in the socket
                await #expect(throws: CancellationError.self) { try await waiting.value }
                try await client.write("cd")
                #expect(try await server.readExactly(4) == Array("abcd".utf8), "the 2 bytes read before the cancel stayed")
            }
            try loop.close()
        }
    }

    @Test func bytesBeforeAResetArriveBeforeTheErrorAndTheNextWriteFailsPromptly() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            try await server.write("last words")
            try await client.write("unread") // left unread by the server: its close sends a reset
            try await executor.sleep(for: .milliseconds(5))
            await server.close()
            #expect(try await client.readExactly(10) == Array("last words".utf8))
            var failure: StreamError?
            for _ in 0..<10 where failure == nil {
                do { try await client.write("more") } catch let error as StreamError { failure = error }
                try await executor.sleep(for: .milliseconds(2))
            }
            #expect(failure?.kind == .connectionReset)
        }
        try loop.close()
    }

    @Test func aWriterLearnsThatThePeerHasGoneWithoutReading() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            let watcher = Task(executorPreference: executor) { try await client.waitUntilPeerCloses() }
            try await executor.sleep(for: .milliseconds(2))
            await server.close()
            try await executor.withDeadline(after: .seconds(5)) { try await watcher.value }
        }
        try loop.close()
    }

    @Test func aWriterWhosePeerDoesNotReadWaitsInsteadOfBuffering() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            let writer = Task(executorPreference: executor) { try await client.write([UInt8](repeating: 7, count: 32 << 20)) }
            try await executor.sleep(for: .milliseconds(20))
            #expect(try await executor.withDeadline(after: .seconds(30)) { try await server.readExactly(32 << 20) }.count == 32 << 20)
            try await writer.value
        }
        try loop.close()
    }
}

/// A connected pair over loopback: (accepted side, connecting side).
func connectedPair(on executor: LoopExecutor) async throws -> (StreamConnection, StreamConnection) {
    let listener = try await StreamListener.bind(port: 0, on: executor)
    async let accepted = listener.accept()
    let client = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, on: executor)
    let server = try await accepted
    await listener.close()
    return (server, client)
}

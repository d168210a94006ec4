import EventLoop
import Testing

/// Every "one at a time" state (the reader's turn, the writers' turns, a
/// datagram socket's receive) is free the moment a cancelled operation has
/// ended, not when its task next runs.
@Suite("Stream turns: free as soon as a cancelled operation ends")
struct StreamTurnTests {
    /// Each way of reading, started and cancelled while it waits.
    static let reads: [String] = ["read", "readLine", "readExactly", "readToEnd"]

    @Test(arguments: LoopBackend.available, reads)
    func aReadStartedRightAfterACancelledReadIsNotConcurrent(backend: LoopBackend, kind: String) throws {
        try withConnectedPair(backend) { executor, server, client in
            let waiting = Task(executorPreference: executor) { () async throws -> Void in
                switch kind {
                case "read": _ = try await server.read(upTo: 8)
                case "readLine": _ = try await server.readLine()
                case "readExactly": _ = try await server.readExactly(4)
                default: _ = try await server.readToEnd()
                }
            }
            for _ in 0..<8 { await Task.yield() } // the read is under way and waits for bytes
            waiting.cancel()
            // No job has run since the cancellation: the cancelled read's task has not resumed yet.
            let writer = Task(executorPreference: executor) { try await client.write("next\n") }
            let next = try await executor.withDeadline(after: .seconds(5)) { try await server.readLine() }
            #expect(next == Array("next\n".utf8))
            try await writer.value
            await #expect(throws: CancellationError.self) { try await waiting.value }
        }
    }

    @Test(arguments: LoopBackend.available)
    func aReceiveStartedRightAfterACancelledReceiveIsNotConcurrent(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let receiver = try await DatagramSocket.bind(on: executor)
            let sender = try await DatagramSocket.bind(on: executor)
            let waiting = Task(executorPreference: executor) { _ = try await receiver.receive(maxSize: 64) }
            for _ in 0..<8 { await Task.yield() }
            waiting.cancel()
            let target = receiver.localAddress
            let sending = Task(executorPreference: executor) { try await sender.send([7], to: target) }
            let got = try await executor.withDeadline(after: .seconds(5)) { try await receiver.receive(maxSize: 64) }
            #expect(got.bytes == [7])
            try await sending.value
            await #expect(throws: CancellationError.self) { try await waiting.value }
            await receiver.close()
            await sender.close()
        }
        try loop.close()
    }

    @Test(arguments: LoopBackend.available)
    func aWriterCancelledOnAFullBufferPassesItsTurnAtOnce(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            let stuck = Task(executorPreference: executor) { try await client.write([UInt8](repeating: 1, count: 32 << 20)) }
            _ = try await server.readExactly(1) // the big write is under way
            try await executor.sleep(for: .milliseconds(5)) // and waits on a full buffer
            let next = Task(executorPreference: executor) { try await client.write("tail") }
            for _ in 0..<8 { await Task.yield() } // the second writer waits for its turn
            stuck.cancel()
            await #expect(throws: CancellationError.self) { try await stuck.value }
            // The reader drains what the cancelled write left, then finds the tail.
            let drained = try await executor.withDeadline(after: .seconds(10)) { () async throws -> [UInt8] in
                var last: [UInt8] = []
                while !(last.count >= 4 && Array(last.suffix(4)) == Array("tail".utf8)) {
                    let bytes = try await server.read(upTo: 65_536)
                    if bytes.isEmpty { break }
                    last = Array((last + bytes).suffix(8))
                }
                return last
            }
            #expect(Array(drained.suffix(4)) == Array("tail".utf8))
            try await next.value
        }
    }
}

import EventLoop
import Testing

/// Streams on io_uring take their bytes by completion (a receive into the
/// loop's provided buffers), not by `read(2)`: what that path must keep.
/// The shared stream suites run on io_uring too; these are the cases only
/// that path has. Skipped where this process may not use io_uring.
@Suite("Streams receiving by completion (io_uring)")
struct StreamReceiveByCompletionTests {
    private static var available: Bool { LoopBackend.ioUring.unavailableReason == nil }

    /// A receive that completes with an error (scripted: `ECONNRESET`) ends
    /// the stream after the bytes that came before it, and every later read,
    /// `atEndOfStream` and write reports it: never a clean end.
    @Test func aReceiveThatCompletesWithAResetEndsTheStreamAfterTheBytesBeforeIt() throws {
        guard Self.available else { return }
        let script = FaultScript()
        try script.run {
            try withConnectedPair(.ioUring) { executor, server, client in
                try await client.write("before")
                let first = try await executor.withDeadline(after: .seconds(5)) { try await server.readExactly(3) }
                #expect(first == Array("bef".utf8))
                try script.inject(.fail(.connectionReset), into: .ioUringReceive, descriptor: server.descriptor, when: .nth(1))
                try await client.write("lost")
                // "ore" came before the reset: it is read first.
                #expect(try await server.read(upTo: 16) == Array("ore".utf8))
                let read = await #expect(throws: StreamError.self) {
                    try await executor.withDeadline(after: .seconds(5)) { try await server.read(upTo: 16) }
                }
                #expect(read?.kind == .connectionReset)
                #expect(script.records(of: .ioUringReceive).contains { $0.injected && $0.descriptor == server.descriptor })
                let peeked = await #expect(throws: StreamError.self) { try await server.atEndOfStream }
                #expect(peeked?.kind == .connectionReset)
                let again = await #expect(throws: StreamError.self) { try await server.readToEnd() }
                #expect(again?.kind == .connectionReset, "never a clean end")
                let write = await #expect(throws: StreamError.self) { try await server.write("x") }
                #expect(write?.kind == .connectionReset)
                script.removeAllRules()
            }
        }
    }

    /// A receive that completes with a passing shortage (scripted: `ENOMEM`,
    /// `ENOBUFS`, `ECANCELED` from outside) is queued again: nothing is lost
    /// and the reader goes on.
    @Test(arguments: [ErrnoCode.noMemory, .noBufferSpace, .canceled])
    func aPassingShortageOnAReceiveLosesNothing(errno: ErrnoCode) throws {
        guard Self.available else { return }
        let script = FaultScript()
        try script.run {
            try withConnectedPair(.ioUring) { executor, server, client in
                try script.inject(.fail(errno), into: .ioUringReceive, descriptor: server.descriptor, when: .first(2))
                for word in ["one", "two", "six"] {
                    try await client.write(word)
                    let got = try await executor.withDeadline(after: .seconds(5)) { try await server.readExactly(3) }
                    #expect(got == Array(word.utf8))
                }
                #expect(script.records(of: .ioUringReceive).filter(\.injected).count == 2)
                script.removeAllRules()
            }
        }
    }

    /// A peer that sends more than the stream's high water mark and then
    /// closes: `waitUntilPeerCloses` returns (the receive does not pause
    /// while a task waits for the end, which comes after the bytes).
    @Test func waitingForThePeersEndBehindUnreadBytesReturns() throws {
        guard Self.available else { return }
        try withConnectedPair(.ioUring) { executor, server, client in
            try await client.write(patternBytes(256 * 1_024))
            await client.close()
            try await executor.withDeadline(after: .seconds(10)) { try await server.waitUntilPeerCloses() }
            let rest = try await executor.withDeadline(after: .seconds(10)) { try await server.readToEnd() }
            #expect(rest == patternBytes(256 * 1_024))
        }
    }

    /// A reader that does not read stops the receive at the stream's high
    /// water mark: the rest waits in the kernel, so the peer's writer meets
    /// backpressure (it suspends) instead of the stream buffering without
    /// bound; reading it all then gets every byte in order.
    @Test func aReaderThatDoesNotReadMakesThePeersWriterWait() throws {
        guard Self.available else { return }
        try withConnectedPair(.ioUring) { executor, server, client in
            // More than the kernel holds between two loopback sockets (at
            // most 6 MiB received and 4 MiB sent, with autotuning) and the
            // stream's buffer.
            let total = 16 << 20
            let pattern = patternBytes(total)
            let written = WrittenFlag()
            let writer = Task(executorPreference: executor) {
                try await client.write(pattern)
                written.done = true
            }
            // Let the writer run against a reader that reads nothing.
            try await executor.sleep(for: .milliseconds(300))
            #expect(!written.done, "the writer waits for its reader")
            let back = try await executor.withDeadline(after: .seconds(60)) { try await server.readExactly(total) }
            try await writer.value
            #expect(written.done)
            #expect(back == pattern)
        }
    }

    /// Where the kernel refuses the provided buffers (scripted: `ENOMEM` from
    /// `io_uring_register(PBUF_RING)`), a stream reads with `read(2)` after
    /// readiness, as on epoll, and nothing else changes.
    @Test func whenTheKernelRefusesTheBuffersAStreamReadsWithRead() throws {
        guard Self.available else { return }
        let script = FaultScript()
        // Call 1 is the ring's own probe at set-up; call 2 is the first
        // stream's buffer registration.
        try script.inject(.fail(.noMemory), into: .ioUringRegister, when: .nth(2))
        try script.run {
            try withConnectedPair(.ioUring) { executor, server, client in
                try await client.write("ping")
                let ping = try await executor.withDeadline(after: .seconds(5)) { try await server.readExactly(4) }
                #expect(ping == Array("ping".utf8))
                try await server.write("pong")
                let pong = try await executor.withDeadline(after: .seconds(5)) { try await client.readExactly(4) }
                #expect(pong == Array("pong".utf8))
                let refused = script.records(of: .ioUringRegister).filter(\.injected)
                #expect(refused.count == 1)
                let readers = Set(script.records(of: .read).compactMap(\.descriptor))
                #expect(!readers.isDisjoint(with: [server.descriptor, client.descriptor]), "one side fell back to read(2)")
            }
        }
    }

    /// Reads from many connections at once share the loop's provided
    /// buffers; a receive that finds none free (`ENOBUFS`) waits for the next
    /// round, and no byte is lost or reordered.
    @Test func manyConnectionsAtOnceLoseNoByte() throws {
        guard Self.available else { return }
        raiseDescriptorLimit()
        let loop = try IOLoop(backend: .ioUring)
        try loop.run { executor in
            let server = try await StreamServer.listening(port: 0, on: executor) { connection in
                var buffer = [UInt8](repeating: 0, count: 65_536)
                while true {
                    let count = try await connection.read(into: &buffer)
                    if count == 0 { break }
                    try await connection.write(buffer[0..<count])
                }
                try await connection.shutdownWriting()
            }
            let port = server.port
            let serving = Task(executorPreference: executor) { try await server.run() }
            let clients = 100
            let size = 64 * 1024
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<clients {
                    group.addTask(executorPreference: executor) {
                        let client = try await StreamConnection.connect(host: "127.0.0.1", port: port, on: executor)
                        let bytes = patternBytes(size, seed: UInt8(truncatingIfNeeded: index))
                        async let sent: Void = { try await client.write(bytes); try await client.shutdownWriting() }()
                        let back = try await executor.withDeadline(after: .seconds(60)) { try await client.readToEnd(limit: size) }
                        try await sent
                        await client.close()
                        return back == bytes
                    }
                }
                var good = 0
                for try await ok in group where ok { good += 1 }
                #expect(good == clients)
            }
            serving.cancel()
            _ = try? await serving.value
        }
        try loop.close()
    }
}

/// Set by a task on the loop, read by another on the same loop.
private final class WrittenFlag: @unchecked Sendable {
    var done = false
}

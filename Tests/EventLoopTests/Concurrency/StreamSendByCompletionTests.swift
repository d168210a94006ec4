@testable import EventLoop
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Streams on io_uring flush `bufferWrite`'s bytes by completion (an
/// `IORING_OP_SEND` the loop submits with its wait), not by `write(2)`: what
/// that path must keep. The buffered-write suites run on io_uring too; these
/// are the cases only that path has. Skipped where this process may not use
/// io_uring.
@Suite("Streams sending by completion (io_uring)")
struct StreamSendByCompletionTests {
    private static var available: Bool { LoopBackend.ioUring.unavailableReason == nil }

    /// Buffered bytes reach the peer with every `write(2)` of the socket
    /// failing (scripted): they went out as sends on the ring.
    @Test func bufferedBytesGoOutWithoutAWriteSystemCall() throws {
        guard Self.available else { return }
        let script = FaultScript()
        try script.run {
            try withConnectedPair(.ioUring) { executor, server, client in
                try script.inject(.fail(.inputOutput), into: .write, descriptor: server.descriptor)
                for word in ["one", "two", "six"] { try server.bufferWrite(word) }
                try await executor.withDeadline(after: .seconds(5)) { try await server.drain(untilEmpty: true) }
                let got = try await executor.withDeadline(after: .seconds(5)) { try await client.readExactly(9) }
                #expect(got == Array("onetwosix".utf8))
                #expect(script.records(of: .write).allSatisfy { $0.descriptor != server.descriptor })
                #expect(script.records(of: .ioUringSend).contains { $0.descriptor == server.descriptor })
                script.removeAllRules()
            }
        }
    }

    /// A send that completes with an error (scripted: `EPIPE`) ends the
    /// stream: `drain` reports it, and so do later writes.
    @Test func aSendThatCompletesWithAnErrorEndsTheStream() throws {
        guard Self.available else { return }
        let script = FaultScript()
        try script.run {
            try withConnectedPair(.ioUring) { executor, server, _ in
                try script.inject(.fail(.brokenPipe), into: .ioUringSend, descriptor: server.descriptor, when: .nth(1))
                try server.bufferWrite("gone")
                let drained = await #expect(throws: StreamError.self) {
                    try await executor.withDeadline(after: .seconds(5)) { try await server.drain(untilEmpty: true) }
                }
                #expect(drained?.errno == .brokenPipe)
                #expect(server.bufferedByteCount == 0)
                let write = await #expect(throws: StreamError.self) { try await server.write("x") }
                #expect(write?.errno == .brokenPipe)
                #expect(throws: StreamError.self) { try server.bufferWrite("y") }
                script.removeAllRules()
            }
        }
    }

    /// A send's completion scripted to say "send again" (`ECANCELED` from
    /// elsewhere, `EINTR`) after the kernel sent its bytes keeps what the
    /// kernel sent: the peer gets every byte once, in order.
    @Test(arguments: [ErrnoCode.canceled, .interrupted])
    func aScriptedResendOfBytesTheKernelSentSendsThemOnce(errno: ErrnoCode) throws {
        guard Self.available else { return }
        let script = FaultScript()
        try script.run {
            try withConnectedPair(.ioUring) { executor, server, client in
                try script.inject(.fail(errno), into: .ioUringSend, descriptor: server.descriptor, when: .first(2))
                for word in ["one", "two", "six"] {
                    try server.bufferWrite(word)
                    try await executor.withDeadline(after: .seconds(5)) { try await server.drain(untilEmpty: true) }
                }
                try await server.shutdownWriting()
                let got = try await executor.withDeadline(after: .seconds(5)) { try await client.readToEnd() }
                #expect(got == Array("onetwosix".utf8))
                #expect(script.records(of: .ioUringSend).filter(\.injected).count == 2)
                script.removeAllRules()
            }
        }
    }

    /// A shortage met by a send (scripted: `ENOBUFS`, `ENOMEM`) ends the
    /// stream, as the `write(2)` flush does on the other backends.
    @Test(arguments: [ErrnoCode.noBufferSpace, .noMemory])
    func aShortageMetByASendEndsTheStream(errno: ErrnoCode) throws {
        guard Self.available else { return }
        let script = FaultScript()
        try script.run {
            try withConnectedPair(.ioUring) { executor, server, _ in
                try script.inject(.fail(errno), into: .ioUringSend, descriptor: server.descriptor, when: .nth(1))
                try server.bufferWrite("lost")
                let drained = await #expect(throws: StreamError.self) {
                    try await executor.withDeadline(after: .seconds(5)) { try await server.drain(untilEmpty: true) }
                }
                #expect(drained?.errno == errno)
                script.removeAllRules()
            }
        }
    }

    /// A send waiting in the kernel for room, cancelled by someone else (its
    /// completion is `-ECANCELED`, nothing sent), goes again: the peer still
    /// reads every byte, in order.
    @Test func aSendCancelledFromElsewhereGoesAgain() throws {
        guard Self.available else { return }
        let script = FaultScript() // no rules: it records what each send's completion said
        let loop = try script.run { try IOLoop(backend: .ioUring) }
        guard case .ioUring(let ioUring) = loop.selector else { Issue.record("not io_uring"); return }
        // Touched only inside `run`, on the loop's thread, which owns it.
        nonisolated(unsafe) let selector = ioUring
        try loop.run { executor in
            let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
            try shrinkSocketBuffers(server, client)
            let size = 512 * 1_024 // more than the shrunk socket buffers hold: the send waits for room
            try server.bufferWrite(patternBytes(size, seed: 7))
            let fd = server.descriptor.rawValue
            // The sends took what fit and the one in flight waits in the kernel for room (the
            // peer reads nothing yet): no progress over 5 ms with a send in flight; at most 10 s.
            var waited = 0, last = -1
            while waited < 2_000 {
                let now = server.bufferedByteCount
                if now < size && now == last && selector.senders[Int(fd)]?.inFlight != nil { break }
                last = now
                try await executor.sleep(for: .milliseconds(5))
                waited += 1
            }
            let sender = try #require(selector.senders[Int(fd)])
            try selector.ring?.cancel(IOUringSelector<IOWatcher>.userData(fd, sender.generation, 0, kind: IOUringSelector<IOWatcher>.sendBit))
            let reader = Task(executorPreference: executor) { try await client.readExactly(size) }
            // Deadlines here guard against a hang only: under ThreadSanitizer, with the whole
            // list running at once on two cores, this took more than 30 s (2 MiB then).
            try await executor.withDeadline(after: .seconds(120)) { try await server.drain(untilEmpty: true) }
            #expect(try await executor.withDeadline(after: .seconds(120)) { try await reader.value } == patternBytes(size, seed: 7))
            #expect(script.records(of: .ioUringSend).contains { $0.descriptor == server.descriptor && $0.errno == .canceled },
                    "the send was cancelled while it waited, and went again")
            await server.close()
            await client.close()
        }
        try loop.close()
    }

    /// More than the socket holds buffered (the kernel sends it in parts, waiting for room
    /// as the peer reads), a `write` queued behind them and more buffered
    /// after it, then the end: the peer reads them whole and in call order.
    @Test func buffersLargerThanTheSocketGoOutWholeAndInCallOrder() throws {
        guard Self.available else { return }
        try withConnectedPair(.ioUring) { executor, server, client in
            try shrinkSocketBuffers(server, client)
            let first = patternBytes(1_048_576, seed: 1)
            let second = patternBytes(1_000, seed: 2)
            let third = patternBytes(512 * 1_024, seed: 3)
            let reader = Task(executorPreference: executor) { try await client.readToEnd() }
            try server.bufferWrite(first)
            try await server.write(second) // joins the buffer: returns once the kernel has it
            try server.bufferWrite(third)
            try await server.shutdownWriting() // after every buffered byte
            let got = try await executor.withDeadline(after: .seconds(120)) { try await reader.value }
            #expect(got.count == first.count + second.count + third.count)
            #expect(got == first + second + third)
        }
    }

    /// Closing a stream whose send waits in the kernel for room (the peer
    /// reads nothing) ends that send: the socket is released at once, so
    /// the peer sees the end without taking every buffered byte.
    @Test func closingWithASendWaitingForRoomReleasesTheSocket() throws {
        guard Self.available else { return }
        try withConnectedPair(.ioUring) { executor, server, client in
            try shrinkSocketBuffers(server, client)
            let size = 2 * 1_048_576
            try server.bufferWrite(patternBytes(size))
            try await executor.sleep(for: .milliseconds(20)) // the send submitted, the socket's buffers full
            #expect(server.bufferedByteCount > 0)
            await server.close()
            #expect(server.bufferedByteCount == 0)
            let received = try await executor.withDeadline(after: .seconds(120)) { try await countToEnd(client) }
            #expect(received < size, "the send ended with the close, not after the peer took everything")
        }
    }

    /// A stream released (its last reference gone) while its send waits in
    /// the kernel for room: the loop closes it and ends the send, so the
    /// peer sees the end without taking every buffered byte.
    @Test func aStreamReleasedWithASendWaitingForRoomEndsIt() throws {
        guard Self.available else { return }
        let loop = try IOLoop(backend: .ioUring)
        try loop.run { executor in
            let size = 2 * 1_048_576
            var pair: (server: StreamConnection, client: StreamConnection)? = try await connectedPair(host: "127.0.0.1", on: executor)
            let client = pair!.client
            try shrinkSocketBuffers(pair!.server, client)
            try pair?.server.bufferWrite(patternBytes(size))
            try await executor.sleep(for: .milliseconds(20)) // the send submitted, the socket's buffers full
            pair = nil // the server's last reference
            let received = try await executor.withDeadline(after: .seconds(120)) { try await countToEnd(client) }
            #expect(received < size)
            await client.close()
        }
        try loop.close()
    }
}

/// Reads `stream` to its end, counting the bytes.
private func countToEnd(_ stream: StreamConnection) async throws -> Int {
    var received = 0
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = try await stream.read(into: &chunk)
        if count == 0 { return received }
        received += count
    }
}

/// Small socket buffers (about 32 KiB each way, as the kernel doubles what
/// it is given), so that a transfer of a megabyte or two fills them and a
/// send waits in the kernel for room, quickly even under ThreadSanitizer.
private func shrinkSocketBuffers(_ sender: StreamConnection, _ receiver: StreamConnection) throws {
    try sender.descriptor.setOption(SOL_SOCKET, SO_SNDBUF, 16_384)
    try receiver.descriptor.setOption(SOL_SOCKET, SO_RCVBUF, 16_384)
}

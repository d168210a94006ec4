import EventLoop
import Glibc
import Synchronization
import Testing

/// The transports a stream test runs over: TCP on each loopback, and a Unix
/// domain stream.
enum StreamTransport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case tcp4, tcp6, unix

    var testDescription: String {
        switch self {
        case .tcp4: "TCP 127.0.0.1"
        case .tcp6: "TCP ::1"
        case .unix: "Unix stream"
        }
    }
}

/// A connected pair over `transport`: (accepted side, connecting side).
func streamPair(over transport: StreamTransport, on executor: LoopExecutor) async throws -> (StreamConnection, StreamConnection) {
    switch transport {
    case .tcp4:
        return try await connectedPair(host: "127.0.0.1", on: executor)
    case .tcp6:
        return try await connectedPair(host: "::1", on: executor)
    case .unix:
        let path = "/tmp/eventloop-pair-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let listener = try await StreamListener.bind(unixPath: path, on: executor)
        async let accepted = listener.accept()
        let client = try await StreamConnection.connect(unixPath: path, on: executor)
        let server = try await accepted
        await listener.close() // removes the socket file
        return (server, client)
    }
}

/// Runs `body` in a fresh loop of `backend` with a connected pair over
/// `transport` (the accepted side, the connecting side), then closes both
/// ends (again: closing is idempotent) and the loop.
func withStreamPair(
    _ backend: LoopBackend,
    over transport: StreamTransport,
    _ body: sending @escaping (LoopExecutor, StreamConnection, StreamConnection) async throws -> Void
) throws {
    let loop = try IOLoop(backend: backend)
    try loop.run { executor in
        let (server, client) = try await streamPair(over: transport, on: executor)
        try await body(executor, server, client)
        await server.close()
        await client.close()
    }
    try loop.close()
}

/// Caps what the kernel holds between `sender` and `receiver` to a few
/// hundred KiB (`SO_SNDBUF`, `SO_RCVBUF` of 64 KiB, which Linux doubles, and
/// no autotuning), so a few MiB surely wait in a stream's own write buffer.
func limitKernelBuffers(sender: StreamConnection, receiver: StreamConnection) {
    var size: Int32 = 65_536
    let length = socklen_t(MemoryLayout<Int32>.size)
    precondition(setsockopt(sender.descriptor.rawValue, SOL_SOCKET, SO_SNDBUF, &size, length) == 0, "setsockopt(SO_SNDBUF) failed")
    precondition(setsockopt(receiver.descriptor.rawValue, SOL_SOCKET, SO_RCVBUF, &size, length) == 0, "setsockopt(SO_RCVBUF) failed")
}

/// `count` bytes of a pattern that differs with `seed` and does not repeat
/// every 256 bytes, so a byte out of place shows.
func patternBytes(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        for index in 0..<count { buffer[index] = UInt8(truncatingIfNeeded: index &* 7 &+ index >> 9 &+ Int(seed) &* 101) }
        initialized = count
    }
}

/// `chunks` one after the other (a copy each: `joined()` walks byte by byte,
/// seconds for a few MiB in a debug build).
func concatenated(_ chunks: [[UInt8]]) -> [UInt8] {
    var all: [UInt8] = []
    all.reserveCapacity(chunks.reduce(0) { $0 + $1.count })
    for chunk in chunks { all += chunk }
    return all
}

/// Runs a loop of `backend` on a thread of its own (never a pool thread, so
/// it runs even when every pool thread is blocked in another test's loop)
/// while `body`, a task off the loop thread, uses its executor; then stops
/// the loop, which closes on its thread.
func withLoopOnItsOwnThread(_ backend: LoopBackend, _ body: (LoopExecutor) async throws -> Void) async throws {
    let thread = Mutex<TestThread?>(nil)
    let made: Result<(LoopExecutor, LoopHandle), any Error> = await withCheckedContinuation { started in
        let running = TestThread {
            let loop: IOLoop
            do { loop = try IOLoop(backend: backend) } catch { return started.resume(returning: .failure(error)) }
            started.resume(returning: .success((loop.executor, loop.handle)))
            try? loop.run() // until stop()
            try? loop.close()
        }
        thread.withLock { $0 = running }
    }
    defer { thread.withLock { $0 }?.join() }
    let (executor, handle) = try made.get()
    defer { handle.stop() }
    try await body(executor)
}

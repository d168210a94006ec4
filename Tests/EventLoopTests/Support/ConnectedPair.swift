import EventLoop

/// A connected pair over `host`'s loopback: (accepted side, connecting side).
func connectedPair(host: String, on executor: LoopExecutor) async throws -> (StreamConnection, StreamConnection) {
    let listener = try await StreamListener.bind(host: host, port: 0, on: executor)
    async let accepted = listener.accept()
    let client = try await StreamConnection.connect(host: host, port: listener.port, timeout: .seconds(5), on: executor)
    let server = try await accepted
    await listener.close()
    return (server, client)
}

/// Runs `body` in a fresh loop of `backend` with a connected TCP pair over
/// 127.0.0.1 (the accepted side, the connecting side), then closes both ends
/// (again: closing is idempotent) and the loop.
func withConnectedPair(
    _ backend: LoopBackend = .epoll,
    _ body: sending @escaping (LoopExecutor, StreamConnection, StreamConnection) async throws -> Void
) throws {
    let loop = try IOLoop(backend: backend)
    try loop.run { executor in
        let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
        try await body(executor, server, client)
        await server.close()
        await client.close()
    }
    try loop.close()
}

/// Echoes what `connection` reads back to it, in a task that prefers the
/// loop, until the peer closes (the task then returns) or an error ends it.
func echoOnLoop(_ connection: StreamConnection, on executor: LoopExecutor) -> Task<Void, any Error> {
    Task(executorPreference: executor) {
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = try await connection.read(into: &buffer)
            if count == 0 { return }
            try await connection.write(buffer[..<count])
        }
    }
}

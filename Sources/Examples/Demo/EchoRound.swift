import EventLoop
import ExampleSupport
import SeedPrograms

/// What the echo round did.
struct EchoRound: Sendable {
    /// Clients whose every reply was right.
    var verified = 0
    /// Replies the server sent, and bytes it received.
    var replies = 0
    var bytes = 0
    var failures: [String] = []
    var elapsed = Duration.zero
}

/// Seed 004's echo server (a `StreamServer` running the asyncio handler) and
/// `clients` clients at once on the same loop, each a task that sends
/// `messages` messages, one at a time, and checks that each reply is
/// `('127.0.0.1', PORT) Your msg ` and its own bytes, with PORT its own.
/// Bounded: the clients get `timeout` together.
func echoRound(clients: Int, messages: Int, timeout: Duration, on executor: LoopExecutor) async throws -> EchoRound {
    let listener = try await StreamListener.bind(host: "127.0.0.1", port: 0, on: executor)
    let port = listener.port
    let tally = EchoTally()
    let server = StreamServer(listener: listener) { connection in
        await serveEcho(connection, once: false, quiet: true, tally: tally)
    }
    let serving = Task(executorPreference: executor) { try await server.run() }
    var round = EchoRound()
    let start = MonotonicInstant.now()
    // A task group, so that the deadline's cancellation reaches every client.
    let outcomes = try? await executor.withDeadline(after: timeout) {
        await withTaskGroup(of: (Int, Result<Void, any Error>).self) { group in
            for client in 0..<clients {
                group.addTask(executorPreference: executor) {
                    do { return (client, .success(try await echoClient(client, port: port, messages: messages, on: executor))) }
                    catch { return (client, .failure(error)) }
                }
            }
            var outcomes: [(Int, Result<Void, any Error>)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
    round.elapsed = MonotonicInstant.now() - start
    server.shutdown(gracePeriod: .zero)
    try await serving.value
    guard let outcomes else {
        round.failures.append("the clients did not finish within \(formatSeconds(timeout))")
        return round
    }
    for (client, outcome) in outcomes.enumerated() {
        switch outcome {
        case .success: round.verified += 1
        case .failure(let error): round.failures.append("client \(client + 1): \(error)")
        }
    }
    (_, round.replies, round.bytes) = tally.totals
    return round
}

/// One client: connect, then send a message, wait for its reply, check it; `messages` times.
private func echoClient(_ client: Int, port: UInt16, messages: Int, on executor: LoopExecutor) async throws {
    let connection = try await StreamConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), on: executor)
    // The socket's own address, as the server sees it. Not `connection.localAddress`:
    // for a connection made by `connect`, the async layer sets it to the peer's address.
    let local = try connection.descriptor.localAddress()
    for number in 0..<messages {
        // Text, then 64 bytes of every value, so a reply that mixed up or mangled bytes shows.
        let message = Array("client \(client + 1), message \(number + 1): ".utf8)
            + (0..<64).map { UInt8(truncatingIfNeeded: client &* 31 &+ number &* 7 &+ $0 &* 13) }
        try await connection.write(message)
        let expected = echoReply(to: local, message)
        let reply = try await connection.readExactly(expected.count)
        guard reply == expected else {
            await connection.close()
            throw ExampleFailure("reply \(number + 1) is not its message: \(quoted(reply.prefix(60)))...")
        }
    }
    await connection.close()
}

import EventLoop
import ExampleSupport
import Synchronization

/// Serves one connection: requests one after another while both sides keep
/// it alive (HTTP/1.1 keep-alive; a pipelined request waits in the stream's
/// buffer for its turn). A refused request (400, 413, 431, 501, 505) gets its
/// answer, then the connection closes: after a bad head the rest of the
/// stream cannot be read as messages. Nothing a client sends can make this
/// throw; what goes wrong ends this connection only. While it waits for a
/// request it is in `waiting`, so that a shutdown closes it at once.
func serveHTTP(_ connection: StreamConnection, limits: RequestLimits, log: AccessLog, waiting: WaitingConnections) async {
    let peer = connection.peerAddress
    log.opened()
    while true {
        guard waiting.add(connection) else { return } // the server is stopping
        let outcome = await readRequest(from: connection, limits: limits, on: connection.executor)
        waiting.remove(connection)
        switch outcome {
        case .request(let request):
            let response = route(request)
            let keepAlive = request.keepAlive && !waiting.isStopping
            do {
                try await write(response, to: connection, keepAlive: keepAlive, headOnly: request.method == "HEAD")
            } catch {
                log.note(peer, "closed before its response went out (\(error))")
                return
            }
            log.answered(peer, request.line, response)
            if !keepAlive {
                await closeGracefully(connection)
                return
            }
        case .refusal(let status, let reason, let line):
            let response = Response.error(status)
            try? await write(response, to: connection, keepAlive: false) // a client that has gone needs no answer
            log.refused(peer, line, response, reason)
            await closeGracefully(connection)
            return
        case .closed:
            return
        case .abandoned(let why):
            log.note(peer, waiting.isStopping ? "closed while waiting for a request: the server is stopping" : why)
            return
        }
    }
}

/// The connections waiting for their next request (idle kept-alive ones,
/// and new ones yet to send theirs). A shutdown closes them at once, which
/// ends their reads; a request already read is answered (with
/// `Connection: close`) within the server's grace period. Any thread.
final class WaitingConnections: Sendable {
    private struct State {
        var stopping = false
        var waiting: [ObjectIdentifier: StreamConnection] = [:]
    }

    private let state = Mutex(State())

    init() {}

    var isStopping: Bool { state.withLock { $0.stopping } }

    /// Counts `connection` as waiting; false once the server is stopping.
    func add(_ connection: StreamConnection) -> Bool {
        state.withLock { state in
            if !state.stopping { state.waiting[ObjectIdentifier(connection)] = connection }
            return !state.stopping
        }
    }

    func remove(_ connection: StreamConnection) {
        _ = state.withLock { $0.waiting.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    /// Refuses new waits and closes every connection waiting now (on the loop, in a task of its own).
    func closeAll(on executor: LoopExecutor) {
        let waiting = state.withLock { state in
            state.stopping = true
            return Array(state.waiting.values)
        }
        Task(executorPreference: executor) {
            for connection in waiting { await connection.close() }
        }
    }
}

/// The server's log, an access log in the usual shape:
/// `127.0.0.1:50826 "GET /42 HTTP/1.1" 200 2` (status, then body bytes),
/// with the reason after a refusal. Counts requests and connections for the
/// last line. Any thread (a mutex guards the counts).
final class AccessLog: Sendable {
    let quiet: Bool
    private let counts = Mutex((connections: 0, answered: 0, refused: 0))

    init(quiet: Bool) { self.quiet = quiet }

    var totals: (connections: Int, answered: Int, refused: Int) { counts.withLock { $0 } }

    func opened() { counts.withLock { $0.connections += 1 } }

    func answered(_ peer: SocketEndpoint, _ line: String, _ response: Response) {
        counts.withLock { $0.answered += 1 }
        say("\(peer) \(quotedLine(line)) \(response.status) \(response.body.count)")
    }

    func refused(_ peer: SocketEndpoint, _ line: String, _ response: Response, _ reason: String) {
        counts.withLock { $0.refused += 1 }
        say("\(peer) \(quotedLine(line)) \(response.status) \(response.body.count) (\(reason))")
    }

    func note(_ peer: SocketEndpoint, _ what: String) { say("\(peer) \(what)") }

    private func say(_ line: String) { if !quiet { print(line) } }

    /// The request line in quotes, cut at 100 bytes; `-` when there was none.
    private func quotedLine(_ line: String) -> String {
        if line.isEmpty { return "-" }
        let bytes = Array(line.utf8)
        return bytes.count > 100 ? quoted(bytes.prefix(100)) + "..." : quoted(bytes)
    }
}

import EventLoop
import ExampleSupport
import Synchronization

/// Serves one connection: requests one after another while both sides keep
/// it alive (HTTP/1.1 keep-alive; a pipelined request waits in the stream's
/// buffer for its turn). A refused request (400, 413, 431, 501, 505) gets its
/// answer, then the connection closes: after a bad head the rest of the
/// stream cannot be read as messages. Nothing a client sends can make this
/// throw; what goes wrong ends this connection only.
func serveHTTP(_ connection: StreamConnection, limits: RequestLimits, log: AccessLog) async {
    let peer = connection.peerAddress
    log.opened()
    while true {
        switch await readRequest(from: connection, limits: limits, on: connection.executor) {
        case .request(let request):
            let response = route(request)
            do {
                try await write(response, to: connection, keepAlive: request.keepAlive, headOnly: request.method == "HEAD")
            } catch {
                log.note(peer, "closed before its response went out (\(error))")
                return
            }
            log.answered(peer, request.line, response)
            if !request.keepAlive {
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
            log.note(peer, why)
            return
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

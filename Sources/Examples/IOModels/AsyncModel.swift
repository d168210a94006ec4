import EventLoop
import ExampleSupport
import Synchronization

/// Model 8, async/await: seed 004's asyncio server (`start_server(handle, ...)`)
/// serving seed 002's page. A `StreamServer` runs a task per connection on
/// the loop's executor; each task reads (`await connection.read(upTo: 2048)`,
/// the seed's `recv(2048)`) until the request's head has ended, writes the
/// page, and closes. The code reads like model 1's, one blocking step after
/// another, but each wait suspends only its own task, and the loop (epoll,
/// edge-triggered, underneath) runs the others meanwhile.
func serveAsync(host: String, port: UInt16, _ context: ServeContext) throws -> String {
    try context.reserveDescriptors()
    let log = context.log
    let open = OpenConnections()
    return try serveUntilStopped(host: host, port: port, loops: context.loops, backend: context.backend, note: " (model: async)", gracePeriod: .seconds(1)) {
        await answer($0, log: log, open: open)
    }
}

/// One connection's task: read until the head's blank line, answer, close.
private func answer(_ connection: StreamConnection, log: ModelLog, open: OpenConnections) async {
    let peer = connection.peerAddress
    log.note("connection from \(peer), \(open.add(1)) open")
    var request: [UInt8] = []
    var answered: String?
    do {
        while answered == nil && request.count <= 16_384 { // no header end in sight: give up
            let data = try await connection.read(upTo: 2_048)
            if data.isEmpty { break } // the client left
            request += data
            if let line = HTTPConnections.completeRequest(request) {
                try await connection.write(webServerTestResponse)
                log.countAnswer()
                answered = line
            }
        }
    } catch is CancellationError {
        log.note("\(peer): the server is stopping")
    } catch {
        log.note("\(peer): \(error)") // a reset and the like
    }
    await connection.close()
    let left = open.add(-1)
    if let answered {
        log.note("answered \(peer): \(answered); closed, \(left) open")
    } else {
        log.note("\(peer) closed unanswered, \(left) open")
    }
}

/// How many connections are open, for the log. Any thread.
private final class OpenConnections: Sendable {
    private let count = Atomic(0)
    /// Adds `delta`; returns the new count.
    func add(_ delta: Int) -> Int { count.add(delta, ordering: .relaxed).newValue }
}

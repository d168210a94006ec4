import EventLoop
import ExampleSupport
import Synchronization

/// The seed's reply, plus a length and `Connection: close` so that `curl` and
/// load tools know where it ends (the seed's has neither: a client waits for
/// the close that never comes).
let webServerTestResponse = Array((
    "HTTP/1.1 200 OK\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: 24\r\nConnection: close\r\n\r\n"
    + "<h1>Web Server Test</h1>").utf8)

/// The lines every model prints (the seed's "[connected from ..., N connections]").
/// Any thread: the async model's connection tasks share it.
final class ModelLog: Sendable {
    let quiet: Bool
    private let answers = Atomic(0)

    init(quiet: Bool) { self.quiet = quiet }

    var answered: Int { answers.load(ordering: .relaxed) }
    func note(_ line: String) { if !quiet { print("[\(line)]") } }
    func countAnswer() { answers.add(1, ordering: .relaxed) }
}

/// The connections a model serves, each with its request read so far.
/// Every model calls `serve` when a connection may be readable, and closes
/// the connection (deregistering it first) when `serve` says so.
final class HTTPConnections {
    private struct Connection {
        let peer: String
        var request: [UInt8] = []
        /// The request line, once answered.
        var answered: String?
    }

    private let log: ModelLog
    private var open: [Descriptor: Connection] = [:]

    init(log: ModelLog) { self.log = log }

    var count: Int { open.count }
    var descriptors: [Descriptor] { Array(open.keys) }

    /// A new connection (released from its owner: `close` closes it).
    func add(_ fd: Descriptor) {
        open[fd] = Connection(peer: peerName(fd))
        log.note("connection from \(open[fd]!.peer), \(open.count) open")
    }

    /// Reads what is there (once, as the seed's `recv(2048)`; or until
    /// `.wouldBlock` when `drain` is set, as edge triggering requires), and
    /// answers once the request's header is complete. Returns true when the
    /// connection is finished (answered, at end of file, or failed): the
    /// caller then deregisters it and calls `close`.
    func serve(_ fd: Descriptor, drain: Bool) -> Bool {
        guard var connection = open[fd] else { return true }
        defer { open[fd] = connection }
        do {
            repeat {
                guard let data = try fd.read(upTo: 2_048).value else { return false } // would block: wait for more
                if data.isEmpty { return true } // the client left
                connection.request += data
                if let request = HTTPConnections.completeRequest(connection.request) {
                    // ~150 bytes into an empty socket buffer: the whole reply goes at once.
                    let written = try fd.write(webServerTestResponse)
                    if written != .completed(webServerTestResponse.count) { log.note("reply to \(connection.peer) cut short") }
                    connection.answered = request
                    log.countAnswer()
                    return true
                }
                if connection.request.count > 16_384 { return true } // no header end in sight: give up
            } while drain
            return false
        } catch {
            log.note("\(connection.peer): \(error)") // ECONNRESET and the like
            return true
        }
    }

    /// Closes a finished connection.
    func close(_ fd: Descriptor) {
        if let connection = open.removeValue(forKey: fd) {
            if let request = connection.answered {
                log.note("answered \(connection.peer): \(request); closed, \(open.count) open")
            } else {
                log.note("\(connection.peer) closed unanswered, \(open.count) open")
            }
        }
        closeReleased(fd)
    }

    /// The request line, once the header has ended (a blank line).
    static func completeRequest(_ bytes: [UInt8]) -> String? {
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, (0...(bytes.count - 4)).contains(where: { bytes[$0..<($0 + 4)].elementsEqual(end) }) else {
            return nil
        }
        let firstLine = bytes.prefix { $0 != 13 && $0 != 10 }
        return String(decoding: firstLine, as: UTF8.self)
    }
}

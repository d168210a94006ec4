import EventLoop
import ExampleSupport
import Synchronization

/// Seed 004's reply: `"{} Your msg {}".format(client, data.decode())`, where
/// `client` is Python's peername tuple, `('127.0.0.1', 50826)`. The bytes go
/// back as they came (the seed decodes them as UTF-8 first, and fails on
/// anything else).
public func echoReply(to peer: SocketEndpoint, _ data: some Collection<UInt8>) -> [UInt8] {
    Array("('\(peer.ip)', \(peer.port)) Your msg ".utf8) + data
}

/// What the echo handler has done, counted from every connection's task. Any thread.
public final class EchoTally: Sendable {
    private let counts = Mutex((connections: 0, replies: 0, bytes: 0))

    public init() {}

    /// Connections served, replies sent, and bytes received.
    public var totals: (connections: Int, replies: Int, bytes: Int) { counts.withLock { $0 } }

    func connected() { counts.withLock { $0.connections += 1 } }
    func replied(receiving count: Int) { counts.withLock { $0.replies += 1; $0.bytes += count } }
}

/// Seed 004's `handle(reader, writer)`, for one connection of a `StreamServer`:
/// read up to 1024 bytes (`await reader.read(1024)`), reply with the peer's
/// address and what came (`writer.write(message)`, then `await writer.drain()`:
/// here the write returns once the kernel has taken every byte), and again,
/// until the client closes (the seed loops forever on its empty reads).
/// `once`: one read, one reply, then close (the seed's second version).
/// Prints `connected by`, `received "..." from` and `closed` lines unless `quiet`.
public func serveEcho(_ connection: StreamConnection, once: Bool, quiet: Bool, tally: EchoTally) async {
    let peer = connection.peerAddress
    tally.connected()
    if !quiet { print("connected by \(peer)") }
    var buffer = [UInt8](repeating: 0, count: 1_024)
    var replies = 0
    var ending = "the client closed"
    do {
        while true {
            let count = try await connection.read(into: &buffer)
            if count == 0 { break }
            if !quiet { print("received \(quoted(buffer[..<count])) from \(peer)") }
            try await connection.write(echoReply(to: peer, buffer[..<count]))
            replies += 1
            tally.replied(receiving: count)
            if once {
                ending = "--once: one reply"
                break
            }
        }
    } catch is CancellationError {
        ending = "the server is stopping"
    } catch {
        ending = "\(error)" // a reset, mostly: the client left without closing
    }
    await connection.close()
    if !quiet { print("closed \(peer) after \(counted(replies, "reply", "replies")) (\(ending))") }
}

import EventLoop
import ExampleSupport

/// `io-models reply-server`: the seed's last program (its `Task` class on
/// `selectors.DefaultSelector`). Each connection is registered for reading;
/// once a message is read it is re-registered for writing, and once writable
/// it is answered with "ok" and re-registered for reading. The callback to run
/// is the registration's value (the seed's `key.data`).
///
/// The seed unregisters and registers again ("一个fd只能注册一次": a descriptor
/// can be registered only once); `modify` does both in one call.
func runReplyServer(host: String, port: UInt16) throws -> Int32 {
    let signals = try StopSignals()
    let listener = try listenTCP(host: host, port: port)
    print("listening on \(try listener.descriptor.localAddress()) (reply-server)")
    let server = try ReplyServer(listener: listener.descriptor, signals: signals.descriptor)
    var stoppedBy: String?
    while stoppedBy == nil {
        for event in try server.selector.select(timeout: nil) {
            if event.descriptor == signals.descriptor {
                stoppedBy = try signals.take()
            } else {
                event.key.value(event.descriptor)
            }
        }
    }
    let open = try server.close()
    try listener.close()
    print("stopped by \(stoppedBy ?? "?"): \(server.replies) replies, closed \(open) connections")
    return 0
}

/// The seed's `Task`: the listener's callback and each connection's two callbacks.
final class ReplyServer {
    typealias Callback = (Descriptor) -> Void
    let selector: DefaultSelector<Callback>
    private let listener: Descriptor
    private let signals: Descriptor
    private var peers: [Descriptor: String] = [:] // the seed's fd_socket_dict
    private(set) var replies = 0

    init(listener: Descriptor, signals: Descriptor) throws {
        selector = try DefaultSelector<Callback>()
        self.listener = listener
        self.signals = signals
        try selector.register(listener, interest: .readable, value: { [unowned self] _ in connected() })
        try selector.register(signals, interest: .readable, value: { _ in }) // handled by the loop above
    }

    /// "客户端连接时处理": a client connects.
    private func connected() {
        do {
            guard let connection = try listener.accept().take() else { return }
            let fd = connection.release() // closed by `disconnect`
            peers[fd] = peerName(fd)
            try selector.register(fd, interest: .readable, value: { [unowned self] fd in readable(fd) })
            print("\(peers[fd]!) connected, \(peers.count) open")
        } catch {
            print("accept failed: \(error)")
        }
    }

    /// "客户端可读时处理": read the message, then wait until the answer can be written.
    private func readable(_ fd: Descriptor) {
        do {
            guard let data = try fd.read(upTo: 2_048).value else { return }
            if data.isEmpty { return disconnect(fd) }
            print("[message from \(peers[fd] ?? "?"):] \(String(decoding: data, as: UTF8.self))")
            try selector.modify(fd, interest: .writable, value: { [unowned self] fd in writable(fd) })
        } catch {
            disconnect(fd, reason: error)
        }
    }

    /// "客户端可写时处理": answer "ok", then wait for the next message.
    private func writable(_ fd: Descriptor) {
        do {
            _ = try fd.write(Array("ok".utf8)) // two bytes into a writable socket: they go at once
            replies += 1
            try selector.modify(fd, interest: .readable, value: { [unowned self] fd in readable(fd) })
        } catch {
            disconnect(fd, reason: error)
        }
    }

    private func disconnect(_ fd: Descriptor, reason: (any Error)? = nil) {
        _ = try? selector.unregister(fd) // deregister before close; registered unless registering failed
        closeReleased(fd)
        let peer = peers.removeValue(forKey: fd) ?? "?"
        print("\(peer) disconnected\(reason.map { " (\($0))" } ?? ""), \(peers.count) open")
    }

    /// Closes the connections and the selector; returns how many were open.
    func close() throws -> Int {
        let open = peers.count
        for fd in Array(peers.keys) {
            _ = try? selector.unregister(fd)
            closeReleased(fd)
        }
        peers = [:]
        try selector.close()
        return open
    }
}

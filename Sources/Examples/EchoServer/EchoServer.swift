import EventLoop
import ExampleSupport

/// What a registration holds: the callback to run when its descriptor is ready
/// (the seed's `key.data`), given the descriptor and what it is ready for.
typealias Callback = (Descriptor, ReadyEvents) -> Void

/// The seed's module-level `sel`, `accept` and `read`, gathered in one object.
final class EchoServer {
    private let selector: DefaultSelector<Callback>
    private let listener: Descriptor
    private let signals: StopSignals
    private let quiet: Bool
    private var stoppedBy: String?
    /// Bytes read but not yet sent back, per connection whose socket was full.
    private var unsent: [Descriptor: ArraySlice<UInt8>] = [:]
    private(set) var echoedBytes = 0

    init(listener: Descriptor, signals: consuming StopSignals, quiet: Bool) throws {
        selector = try DefaultSelector<Callback>()
        self.listener = listener
        self.signals = signals
        self.quiet = quiet
        try selector.register(listener, interest: .readable, value: { [unowned self] fd, _ in accept(fd) })
        try selector.register(self.signals.descriptor, interest: .readable, value: { [unowned self] _, _ in
            stoppedBy = (try? self.signals.take()) ?? stoppedBy
        })
    }

    /// The event loop: wait, then call each ready registration's callback. Returns the signal that ended it.
    func run() throws -> String {
        var events: [SelectorEvent<Callback>] = []
        while stoppedBy == nil {
            try selector.select(timeout: nil, into: &events)
            for event in events {
                let callback = event.key.value
                callback(event.descriptor, event.events)
            }
        }
        return stoppedBy ?? "?"
    }

    /// The listener is readable: a client is waiting.
    private func accept(_ listener: Descriptor) {
        do {
            guard let connection = try listener.accept().take() else { return } // another process took it
            let fd = connection.release() // closed by `closeConnection`
            if !quiet { print("accepted \(fd) from \(peerName(fd))") }
            try selector.register(fd, interest: .readable, value: { [unowned self] fd, _ in read(fd) })
        } catch {
            print("accept failed: \(error)") // EMFILE and the like: the client stays queued
        }
    }

    /// A connection is readable: echo what came, or close it at end of file.
    private func read(_ fd: Descriptor) {
        do {
            guard let data = try fd.read(upTo: 1000).value else { return } // spurious wake-up
            if data.isEmpty {
                closeConnection(fd, reason: nil)
                return
            }
            if !quiet { print("echoing \(quoted(data)) to \(fd)") }
            send(data[...], to: fd)
        } catch {
            closeConnection(fd, reason: "\(error)")
        }
    }

    /// Sends `data`; what the socket cannot take now waits for it to turn writable.
    /// (The seed's `conn.send(data)  # Hope it won't block` drops that rest.)
    private func send(_ data: ArraySlice<UInt8>, to fd: Descriptor) {
        do {
            var rest = data
            if case .completed(let count) = try fd.write(rest) {
                echoedBytes += count
                rest = rest.dropFirst(count)
            }
            if rest.isEmpty {
                if unsent.removeValue(forKey: fd) != nil {
                    try selector.modify(fd, interest: .readable, value: { [unowned self] fd, _ in read(fd) })
                }
            } else {
                // Stop reading this client until its echo has gone out: back-pressure.
                if unsent.updateValue(rest, forKey: fd) == nil {
                    try selector.modify(fd, interest: .writable, value: { [unowned self] fd, _ in
                        send(unsent[fd] ?? [], to: fd)
                    })
                }
            }
        } catch {
            closeConnection(fd, reason: "\(error)")
        }
    }

    private func closeConnection(_ fd: Descriptor, reason: String?) {
        if !quiet { print("closing \(fd)" + (reason.map { ": \($0)" } ?? "")) }
        unsent[fd] = nil
        _ = try? selector.unregister(fd) // registered unless registering failed
        closeReleased(fd)
    }

    /// Closes every client connection and the selector; returns how many connections were open.
    func close() throws -> Int {
        let connections = selector.keys.keys.filter { $0 != listener && $0 != signals.descriptor }
        for fd in connections {
            _ = try? selector.unregister(fd) // registered: it came from the selector's own table
            closeReleased(fd)
        }
        try selector.close()
        return connections.count
    }
}

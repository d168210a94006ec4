import EventLoop
import ExampleSupport

/// One simulated client. Loop thread only.
final class Client {
    var fd: Descriptor?
    var watcher: IOWatcher?
    /// When the current round trip started (the send, or the connect with `--reconnect`).
    var startedAt = MonotonicInstant(nanoseconds: 0)
    var connected = false
    var received = 0
    var roundTrips = 0
    var failed = false
}

/// N clients ping-ponging a message with an echo server on one `IOLoop`.
final class LoadRun {
    private let loop: IOLoop
    private let endpoint: SocketEndpoint
    private let message: [UInt8]
    private let reconnect: Bool
    private let clients: [Client]
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 8)
    private var latencies: [Int64] = []
    private var failures: [String] = []
    private var stoppedBy: String?

    init(endpoint: SocketEndpoint, clients: Int, message: [UInt8], reconnect: Bool, backend: LoopBackend) throws {
        loop = try IOLoop(backend: backend)
        self.endpoint = endpoint
        self.message = message
        self.reconnect = reconnect
        self.clients = (0..<clients).map { _ in Client() }
    }

    deinit { buffer.deallocate() }

    /// Runs until `duration` has passed, Ctrl-C, or every client has failed.
    func run(for duration: Duration) throws -> Report {
        try loop.stopOnSignals { [unowned self] in stoppedBy = $0 }
        for client in clients { connect(client) }
        try loop.schedule(after: duration) { [unowned self] in loop.stop() }
        let start = MonotonicInstant.now()
        if clients.contains(where: { !$0.failed }) { try loop.run() }
        let elapsed = MonotonicInstant.now() - start
        for client in clients { disconnect(client) }
        try loop.close()
        return Report(clients: clients, latencies: latencies, elapsed: elapsed, failures: failures, stoppedBy: stoppedBy)
    }

    /// Starts a connection and waits for it to turn writable (connected, or failed).
    private func connect(_ client: Client) {
        do {
            let fd = try Socket.connectTCP(to: endpoint).release() // closed by `disconnect`
            client.fd = fd
            client.connected = false
            client.startedAt = MonotonicInstant.now()
            client.watcher = try loop.watch(fd, interest: .writable) { [unowned self] events in
                handle(client, fd, events)
            }
        } catch {
            fail(client, "\(error)")
        }
    }

    private func handle(_ client: Client, _ fd: Descriptor, _ events: ReadyEvents) {
        do {
            if !client.connected {
                if let error = try fd.pendingError() { throw SystemError(error, operation: "connect(\(endpoint))") }
                client.connected = true
                try client.watcher?.setInterest(.readable)
                try send(client, fd)
                return
            }
            guard case .completed(let count) = try fd.read(into: buffer) else { return }
            if count == 0 { throw ExampleFailure("the server closed the connection") }
            client.received += count
            guard client.received >= message.count else { return } // the rest of the echo is on its way
            latencies.append((MonotonicInstant.now() - client.startedAt).nanosecondsRoundedUp)
            client.roundTrips += 1
            client.received -= message.count
            if reconnect {
                disconnect(client)
                connect(client)
            } else {
                try send(client, fd)
            }
        } catch {
            fail(client, "\(error)")
        }
    }

    /// Sends the message. Each client has one message in flight, whose echo has
    /// left the socket before the next goes, so the send buffer is empty and
    /// takes the whole message (at most 4 KB) at once.
    private func send(_ client: Client, _ fd: Descriptor) throws {
        if !reconnect { client.startedAt = MonotonicInstant.now() }
        guard case .completed(message.count) = try fd.write(message) else {
            throw ExampleFailure("the socket did not take the whole message")
        }
    }

    private func fail(_ client: Client, _ reason: String) {
        disconnect(client)
        client.failed = true
        failures.append(reason)
        if clients.allSatisfy(\.failed) { loop.stop() }
    }

    private func disconnect(_ client: Client) {
        client.watcher?.cancel()
        client.watcher = nil
        if let fd = client.fd { closeReleased(fd) }
        client.fd = nil
    }
}

/// A UDP socket on an `IOLoop`: send datagrams to addresses, receive them
/// with their senders. Datagrams are never merged or split; one larger than
/// the receiving buffer is reported as truncated, never silently cut.
///
/// Every method runs on the loop's thread (see `StreamConnection`); one
/// receive at a time. Any task may hold it.
public final class DatagramSocket: @unchecked Sendable {
    /// The loop this socket belongs to.
    public let executor: LoopExecutor
    /// The address it is bound to (with the port the kernel chose for port 0).
    public let localAddress: SocketEndpoint

    // Loop thread only.
    let core: SocketCore
    /// The turn of the receive in progress (0: none); given back at once when
    /// its wait ends with an error (see `StreamConnection.abandon`).
    private var receiver: UInt64 = 0
    private var nextTurn: UInt64 = 1

    /// One datagram received.
    public struct Datagram: Sendable {
        /// How many bytes landed in the buffer.
        public let count: Int
        /// Who sent it.
        public let sender: SocketEndpoint
        /// Whether the datagram was longer than the buffer (its tail is lost).
        public let truncated: Bool
    }

    init(adopting socket: consuming OwnedDescriptor, loop: IOLoop, local: SocketEndpoint) throws {
        executor = loop.executor
        localAddress = local
        core = try SocketCore(socket, loop: loop)
        core.onAbandon = { [weak self] direction, turn in
            if direction == .read, let self, self.receiver == turn { self.receiver = 0 }
        }
    }

    deinit {
        core.closeFromAnyThread("deinit") // on the loop's thread; a closed loop has already closed it
    }

    /// Binds a UDP socket to a numeric `host` (or `localhost`: 127.0.0.1) and `port` (0: any).
    /// - Throws: `StreamError` (`.addressInUse`, `.hostNotFound`).
    public static func bind(host: String = "127.0.0.1", port: UInt16 = 0, on executor: LoopExecutor) async throws -> DatagramSocket {
        let endpoint: SocketEndpoint
        do { endpoint = try SocketEndpoint(ip: host == "localhost" ? "127.0.0.1" : host, port: port) } catch {
            throw StreamError(.hostNotFound, operation: "bind(\(host):\(port)): only numeric addresses and localhost can be bound")
        }
        return try await executor.onLoop {
            let loop = try executor.loopForCall("bind(\(endpoint))")
            do {
                let socket = try Socket.bindUDP(on: endpoint)
                let local = try socket.descriptor.localAddress()
                return try DatagramSocket(adopting: socket, loop: loop, local: local)
            } catch let error as SystemError {
                throw StreamError(error)
            }
        }
    }

    /// Sends `bytes` as one datagram to `address`, waiting while the socket's
    /// buffer is full. Several tasks may send at once, and one may receive
    /// meanwhile. An empty `bytes` sends an empty datagram.
    /// - Throws: `StreamError` (`.closed`, `.system` with `EMSGSIZE` for one too large…).
    public func send(_ bytes: [UInt8], to address: SocketEndpoint) async throws {
        try await executor.onLoop {
            while true {
                guard self.core.isOpen else { throw StreamError(.closed, operation: "sendto(\(address))") }
                if self.core.spend() {
                    try await self.core.yieldToLoop(.write, owner: 0, operation: "sendto(\(address))")
                    continue
                }
                let fd = self.core.descriptor
                let outcome: IOOutcome<Int>
                do { outcome = try bytes.withUnsafeBytes { try fd.send($0, to: address) } } catch let error as SystemError {
                    throw StreamError(error)
                }
                if case .completed = outcome { return }
                self.core.wouldBlock(.write)
                try await self.core.wait(for: .write, operation: "sendto(\(address))")
            }
        }
    }

    /// Receives one datagram into the start of `buffer`, waiting for one.
    /// Allocates nothing: keep the buffer.
    /// - Throws: `StreamError` (`.closed`, `.concurrentRead`), `CancellationError`
    ///   (nothing is lost: the datagram stays queued).
    public func receive(into buffer: inout [UInt8]) async throws -> Datagram {
        try await executor.onLoop {
            if self.receiver != 0 { throw StreamError(.concurrentRead, operation: "recvfrom") }
            let turn = self.nextTurn
            self.nextTurn += 1
            self.receiver = turn
            defer { if self.receiver == turn { self.receiver = 0 } }
            while true {
                guard self.core.isOpen else { throw StreamError(.closed, operation: "recvfrom(\(self.localAddress))") }
                if self.core.readReady {
                    if self.core.spend() {
                        try await self.core.yieldToLoop(.read, owner: turn, operation: "recvfrom(\(self.localAddress))")
                        continue
                    }
                    let fd = self.core.descriptor
                    let outcome: IOOutcome<(count: Int, from: SocketEndpoint, truncated: Bool)>
                    do { outcome = try buffer.withUnsafeMutableBytes { try fd.receiveDatagram(into: $0) } } catch let error as SystemError {
                        throw StreamError(error)
                    }
                    if case .completed(let got) = outcome {
                        return Datagram(count: got.count, sender: got.from, truncated: got.truncated)
                    }
                    self.core.wouldBlock(.read)
                }
                try await self.core.wait(for: .read, owner: turn, operation: "recvfrom(\(self.localAddress))")
            }
        }
    }

    /// Receives one datagram of up to `maxSize` bytes (1...65,536: no UDP
    /// datagram is larger) into a new array.
    public func receive(maxSize: Int = 65_536) async throws -> (bytes: [UInt8], sender: SocketEndpoint, truncated: Bool) {
        try ArgumentError.checkCount(maxSize, "maxSize", in: "receive(maxSize:)", minimum: 1)
        let size = min(maxSize, 65_536)
        var buffer = [UInt8](repeating: 0, count: size)
        let datagram = try await receive(into: &buffer)
        buffer.removeLast(size - datagram.count)
        return (buffer, datagram.sender, datagram.truncated)
    }

    /// Closes the socket and ends a waiting receive or send with `StreamError.closed`. Idempotent.
    public func close() async {
        _ = try? await executor.onLoop { self.core.close(operation: "close(\(self.localAddress))") }
    }
}

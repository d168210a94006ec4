/// A UDP socket on an `IOLoop`: send datagrams to addresses, receive them
/// with their senders. Datagrams are never merged or split; one larger than
/// the receiving buffer is reported as truncated, never silently cut.
///
/// Connected (`connect(to:from:on:)`, asyncio's `remote_addr`): `send(_:)`
/// needs no address, only the peer's datagrams arrive, and a datagram the
/// peer's host refused (nobody on that port: ICMP port unreachable) is
/// reported on a later `send` or `receive` as `StreamError.connectionRefused`,
/// once; the socket stays usable.
///
/// Every method runs on the loop's thread (see `StreamConnection`); one
/// receive at a time. Any task may hold it.
public final class DatagramSocket: @unchecked Sendable {
    /// The loop this socket belongs to.
    public let executor: LoopExecutor
    /// The address it is bound to (with the port the kernel chose for port 0).
    public let localAddress: SocketEndpoint
    /// The peer it is connected to, or nil for a socket that sends to any
    /// address (`bind`). Set once, before the socket is handed out.
    public let peerAddress: SocketEndpoint?

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

    init(adopting socket: consuming OwnedDescriptor, loop: IOLoop, local: SocketEndpoint, peer: SocketEndpoint? = nil) throws {
        executor = loop.executor
        localAddress = local
        peerAddress = peer
        core = try SocketCore(socket, loop: loop)
        core.onAbandon = { [weak self] direction, turn in
            if direction == .read, let self, self.receiver == turn { self.receiver = 0 }
        }
    }

    deinit {
        core.closeFromAnyThread("deinit") // on the loop's thread; a closed loop has already closed it
    }

    /// The socket's descriptor, borrowed: for socket options of your own
    /// (`descriptor.setOption(SOL_SOCKET, SO_RCVBUF, …)`, `descriptor.option(…)`).
    /// Valid until `close()`; after it the number may name another file, so
    /// do not keep it. Never read or write through it: the socket's readiness
    /// is cached (see `StreamConnection`). Any thread.
    public var descriptor: Descriptor { core.descriptor }

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

    /// Connects a new UDP socket to `remote` (asyncio's
    /// `create_datagram_endpoint(remote_addr=)`): `send(_:)` then needs no
    /// address, and only `remote`'s datagrams are received. With `local`,
    /// the socket is bound there first (bind and connect: a fixed local port,
    /// `local_addr=`); without, the kernel picks the local address and port.
    /// `remote` may be an IPv4, IPv6 or Unix datagram address. The
    /// corresponding C calls are `socket(SOCK_DGRAM)`, `bind(2)` and
    /// `connect(2)`, which sends nothing: whether anybody listens at `remote`
    /// shows only when a datagram sent there is refused. Loop thread (hops there).
    /// - Throws: `ArgumentError` when `local` and `remote` are of different
    ///   families; `StreamError` (`.addressInUse` for a taken `local`,
    ///   `.system` with `ENETUNREACH`…); the socket is closed on failure.
    public static func connect(
        to remote: SocketEndpoint, from local: SocketEndpoint? = nil, on executor: LoopExecutor
    ) async throws -> DatagramSocket {
        if let local, local.family != remote.family {
            throw ArgumentError("DatagramSocket.connect(to: \(remote))", argument: "from \(local)", requirement: "must be of the remote address's family")
        }
        return try await executor.onLoop {
            let loop = try executor.loopForCall("connect(\(remote))")
            do {
                let socket = try Socket.connectedDatagram(to: remote, from: local)
                let bound = try socket.descriptor.localAddress()
                return try DatagramSocket(adopting: socket, loop: loop, local: bound, peer: remote)
            } catch let error as SystemError {
                throw StreamError(error)
            }
        }
    }

    /// Takes over a datagram socket made elsewhere (systemd's socket
    /// activation, a socket a parent process passed down, asyncio's
    /// `create_datagram_endpoint(sock=)`): UDP over IPv4 or IPv6, or a Unix
    /// datagram socket, bound or not, connected or not (`peerAddress` says).
    ///
    /// The kernel is asked first (`getsockopt(SO_TYPE)`, `getsockname`,
    /// `getpeername`): it must be an open datagram socket. Then it is made
    /// non-blocking (a flag of the open file, so a process sharing it sees
    /// that too) and close-on-exec, and registered with the loop. Loop thread
    /// (hops there).
    ///
    /// Ownership: the socket owns the descriptor from here, and closes it
    /// once. On every failure it is closed too, never handed back; to keep
    /// yours, pass a duplicate (`try descriptor.duplicate()`).
    /// - Throws: `StreamError` with `.system` and the errno of what is wrong:
    ///   `EBADF` (not open), `ENOTSOCK`, `EPROTOTYPE` (a stream socket),
    ///   `EAFNOSUPPORT`; the operation reads like `adopt(fd 3): not a socket`.
    ///   `.closed` when the loop is closed.
    public static func adopt(_ socket: consuming OwnedDescriptor, on executor: LoopExecutor) async throws -> DatagramSocket {
        try await executor.adopt(socket, as: .datagram) { socket, loop, local, peer in
            try DatagramSocket(adopting: socket, loop: loop, local: local, peer: peer)
        }
    }

    /// Sends `bytes` as one datagram to `address`, waiting while the socket's
    /// buffer is full. Several tasks may send at once, and one may receive
    /// meanwhile. An empty `bytes` sends an empty datagram. The C call is `sendto(2)`.
    /// - Throws: `StreamError` (`.closed`, `.system` with `EMSGSIZE` for one
    ///   too large…). On a connected socket, an `address` other than
    ///   `peerAddress` is refused before the kernel sees it, with
    ///   `.system` and `EISCONN` (Linux would send it, but the reply could
    ///   never arrive: a connected socket takes datagrams from its peer only);
    ///   `.connectionRefused` when an earlier datagram to the peer was refused.
    public func send(_ bytes: [UInt8], to address: SocketEndpoint) async throws {
        if let peer = peerAddress, peer != address {
            throw StreamError(
                .system, operation: "sendto(\(address)): the socket is connected to \(peer); send(_:) sends there",
                errno: .alreadyConnected)
        }
        try await transmit({ "sendto(\(address))" }) { fd throws(SystemError) in
            try bytes.withUnsafeBytes { raw in Result { () throws(SystemError) in try fd.send(raw, to: address) } }.get()
        }
    }

    /// Sends `bytes` as one datagram to the peer of a connected socket (see
    /// `connect(to:from:on:)`), waiting while the socket's buffer is full.
    /// Several tasks may send at once. The C call is `send(2)`.
    /// - Throws: `StreamError`: `.connectionRefused` when an earlier datagram
    ///   to the peer met a closed port (reported once; this datagram was not
    ///   sent, and the socket stays usable), `.system` with `EDESTADDRREQ` on
    ///   a socket that is not connected (use `send(_:to:)`), `.closed`,
    ///   `.system` with `EMSGSIZE`…
    public func send(_ bytes: [UInt8]) async throws {
        guard let peer = peerAddress else {
            throw StreamError(
                .system, operation: "send(\(localAddress)): the socket is not connected; use send(_:to:)",
                errno: .destinationAddressRequired)
        }
        try await transmit({ "send(\(peer))" }) { fd throws(SystemError) in
            try bytes.withUnsafeBytes { raw in Result { () throws(SystemError) in try fd.send(raw) } }.get()
        }
    }

    /// Makes one `call` (a send), waiting while the socket's buffer is full.
    /// `operation` names it in errors (built only for one).
    private func transmit(
        _ operation: () -> String, _ call: (Descriptor) throws(SystemError) -> IOOutcome<Int>
    ) async throws {
        try await executor.onLoop {
            while true {
                guard self.core.isOpen else { throw StreamError(.closed, operation: operation()) }
                if self.core.spend() {
                    try await self.core.yieldToLoop(.write, owner: 0, operation: operation())
                    continue
                }
                let outcome: IOOutcome<Int>
                do throws(SystemError) { outcome = try call(self.core.descriptor) } catch {
                    throw self.failure(error, operation())
                }
                if case .completed = outcome { return }
                self.core.wouldBlock(.write)
                try await self.core.wait(for: .write, operation: operation())
            }
        }
    }

    /// A kernel error as a `StreamError`; a refusal names the peer and says
    /// that the socket goes on.
    private func failure(_ error: SystemError, _ operation: String) -> StreamError {
        guard error.errno == .connectionRefused else { return StreamError(error) }
        return StreamError(
            .connectionRefused, operation: "\(operation): an earlier datagram to \(peerAddress.map { "\($0)" } ?? "a peer") found its port closed",
            errno: error.errno)
    }

    /// Receives one datagram into the start of `buffer`, waiting for one.
    /// Allocates nothing: keep the buffer. On a connected socket every
    /// datagram comes from `peerAddress` (the kernel drops the others). The C
    /// call is `recvfrom(2)` with `MSG_TRUNC`.
    /// - Throws: `StreamError` (`.closed`, `.concurrentRead`), `CancellationError`
    ///   (nothing is lost: the datagram stays queued); on a connected socket,
    ///   `.connectionRefused` when a datagram sent to the peer met a closed
    ///   port (reported once: the next receive waits for datagrams again).
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
                        throw self.failure(error, "recvfrom(\(self.localAddress))")
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
    /// datagram is larger) into a new array (see `receive(into:)`).
    /// - Throws: as `receive(into:)`; `ArgumentError` for `maxSize` below 1.
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

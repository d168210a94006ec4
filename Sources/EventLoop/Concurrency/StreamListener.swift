import Synchronization

/// A listening stream socket (TCP or Unix domain) that accepts connections
/// as `StreamConnection`s: asyncio's server socket.
///
/// Running out of descriptors while accepting (`EMFILE`, `ENFILE`) neither
/// crashes nor spins: the listener waits `acceptBackoff` (the pending
/// connection stays queued in the kernel) and tries again, while the
/// connections it already has go on being served. Every method runs on the
/// loop's thread (see `StreamConnection`). Any task may hold it.
public final class StreamListener: @unchecked Sendable {
    /// The loop this listener belongs to.
    public let executor: LoopExecutor
    /// The address it listens on (with the port the kernel chose for port 0).
    public let localAddress: SocketEndpoint
    /// How long accepting pauses after the process ran out of descriptors.
    public let acceptBackoff: Duration

    // Loop thread only.
    let core: SocketCore
    let unixPath: String?
    /// The socket file this listener made, taken with `lstat` right after its
    /// `bind`, so that closing never removes a file someone else has put at
    /// the path since; nil when it could not be taken (nothing is removed then).
    let unixFile: Socket.PathEntry?
    /// Set by the first of `close()` and `deinit` to go for the file: it is
    /// removed at most once (a later call could find a new file that took
    /// its inode number). Any thread (`close()` runs off the loop once the
    /// loop has closed).
    private let fileClaimed = Atomic<Bool>(false)
    /// Connections arrive by completion (io_uring's multishot accept; see
    /// `StreamListener+Completion`), not by `accept(2)` after readiness:
    /// decided by the first accept (nil before), so a listener nobody
    /// accepts on leaves its connections in the kernel's backlog.
    var acceptsByCompletion: Bool?
    /// What the accept's completions brought, in order, from `completedHead`:
    /// new descriptors (this listener owns them until claimed) and -errno.
    var completed: [Int32] = []
    var completedHead = 0
    /// How many of `completed` are connections.
    var queuedConnections = 0
    /// The accept is ended until connections are claimed (`queueLimit`), or
    /// until a shortage's pause is over.
    var acceptPaused = false
    /// The listening socket's failure that ended the accept, thrown again
    /// by every later accept (as `accept(2)` would report it again).
    var listeningFailure: StreamError?

    init(adopting socket: consuming OwnedDescriptor, loop: IOLoop, local: SocketEndpoint, unixPath: String?, backoff: Duration) throws {
        executor = loop.executor
        localAddress = local
        self.unixPath = unixPath
        unixFile = unixPath.flatMap(Self.ownSocketFile)
        acceptBackoff = backoff
        core = try SocketCore(socket, loop: loop, receiving: true)
    }

    deinit {
        // The file first, here on whatever thread releases the listener (it is
        // no loop state), then the socket, on the loop; a closed loop has
        // closed the socket already.
        removeOwnFileOnce()
        closeQueuedConnections() // their owner is gone; a later completion's is closed by the selector's closure
        core.closeFromAnyThread("deinit")
    }

    /// Removes the socket file this listener made, if it is still at the
    /// path and this is the first call. Done before the socket closes: while
    /// the socket is open its file's inode cannot be freed, so no file made
    /// at the path since can carry the same number (a file system may hand a
    /// freed inode number to the next new file), and the identity check is exact.
    private func removeOwnFileOnce() {
        guard let unixPath, !fileClaimed.exchange(true, ordering: .relaxed) else { return }
        Self.removeSocketFile(unixPath, ifStill: unixFile)
    }

    /// The port it listens on (0 for a Unix socket).
    public var port: UInt16 { localAddress.port }

    /// Listens on `host` (a numeric IPv4 or IPv6 address, or `localhost`,
    /// which means 127.0.0.1) and `port` (0: the kernel picks one; read it from
    /// `port`), with `SO_REUSEADDR`, and `SO_REUSEPORT` if asked.
    /// `acceptBackoff` may be zero (retry at the next loop iteration), not negative.
    /// - Throws: `StreamError` (`.addressInUse`, `.hostNotFound` for a name
    ///   that is not numeric or `localhost`…), `ArgumentError` for a negative
    ///   backlog or `acceptBackoff`.
    public static func bind(
        host: String = "127.0.0.1", port: UInt16, backlog: Int32 = 511, reusePort: Bool = false,
        acceptBackoff: Duration = .milliseconds(100), on executor: LoopExecutor
    ) async throws -> StreamListener {
        try checkBackoff(acceptBackoff)
        let endpoint: SocketEndpoint
        if host == "localhost" {
            endpoint = try SocketEndpoint(ip: "127.0.0.1", port: port)
        } else {
            do { endpoint = try SocketEndpoint(ip: host, port: port) } catch {
                throw StreamError(.hostNotFound, operation: "bind(\(host):\(port)): only numeric addresses and localhost can be bound")
            }
        }
        return try await executor.onLoop {
            let loop = try executor.loopForCall("bind(\(endpoint))")
            let socket: OwnedDescriptor
            do { socket = try Socket.listenTCP(on: endpoint, backlog: backlog, reusePort: reusePort) } catch let error as SystemError {
                throw StreamError(error)
            }
            let local: SocketEndpoint
            do throws(SystemError) { local = try socket.descriptor.localAddress() } catch { throw StreamError(error) }
            return try StreamListener(adopting: socket, loop: loop, local: local, unixPath: nil, backoff: acceptBackoff)
        }
    }

    /// Takes over a listening stream socket made elsewhere: systemd's socket
    /// activation (descriptors 3 and up, `LISTEN_FDS` of them), a socket a
    /// parent process passed down (asyncio's `start_server(sock=)`, tokio's
    /// `TcpListener::from_std`). TCP over IPv4 or IPv6, or a Unix domain stream.
    ///
    /// The kernel is asked first (`getsockopt(SO_TYPE, SO_ACCEPTCONN)`,
    /// `getsockname`): it must be an open socket, a stream, and listening
    /// (`listen(2)` called). Then it is made non-blocking (a flag of the open
    /// file, so the process that passed it sees that too) and close-on-exec,
    /// and registered with the loop. `localAddress` is what `getsockname`
    /// says. A Unix listener's socket file is left where it is, on close as
    /// on `deinit`: the listener did not make it, so it never removes it.
    /// Loop thread (hops there).
    ///
    /// Ownership: the listener owns the descriptor from here, and closes it
    /// once. On every failure it is closed too, never handed back; to keep
    /// yours, pass a duplicate (`try descriptor.duplicate()`). A raw number
    /// becomes an owner only explicitly:
    /// `StreamListener.adopt(OwnedDescriptor(adopting: Descriptor(3)), on: executor)`.
    /// - Throws: `StreamError` with `.system` and the errno of what is wrong:
    ///   `EBADF` (not open), `ENOTSOCK`, `EPROTOTYPE` (a datagram socket),
    ///   `EINVAL` (not listening), `EAFNOSUPPORT`; the operation reads like
    ///   `adopt(fd 3): not a socket`. `.closed` when the loop is closed;
    ///   `ArgumentError` for a negative `acceptBackoff`.
    public static func adopt(
        _ socket: consuming OwnedDescriptor, acceptBackoff: Duration = .milliseconds(100), on executor: LoopExecutor
    ) async throws -> StreamListener {
        try checkBackoff(acceptBackoff) // `socket` closes as it goes out of scope
        return try await executor.adopt(socket, as: .listener) { socket, loop, local, _ in
            try StreamListener(adopting: socket, loop: loop, local: local, unixPath: nil, backoff: acceptBackoff)
        }
    }

    static func checkBackoff(_ backoff: Duration) throws(ArgumentError) {
        if backoff < .zero {
            throw ArgumentError("StreamListener.bind", argument: "acceptBackoff \(backoff)", requirement: "must not be negative")
        }
    }

    /// Waits for the next connection and returns it (non-blocking, close-on-exec, TCP_NODELAY set).
    /// Several tasks may accept at once: each connection goes to one of them.
    ///
    /// What goes wrong with one connection never ends the listener: an
    /// `accept(2)` error that belongs to the connection being taken
    /// (`ECONNABORTED`, `EPROTO`, `EPERM` from a firewall, and the network
    /// errors `accept(2)` says to treat like `EAGAIN`: `ENETDOWN`,
    /// `ENOPROTOOPT`, `EHOSTDOWN`, `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`,
    /// `ENETUNREACH`), or a connection the loop cannot register, skips that
    /// connection and accepts the next; running out of descriptors or kernel
    /// memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) pauses `acceptBackoff`
    /// and tries again. After `SocketCore.budget` connections taken in one
    /// loop iteration it yields to the loop first. A `StreamServer` reports
    /// each of these through its error handler.
    /// - Throws: `StreamError.closed` once the listener (or its loop) is closed,
    ///   `CancellationError` (no connection is taken: it stays queued), or a
    ///   `StreamError` for a failure of the listening socket itself (`EBADF`,
    ///   `EINVAL`: nothing more can be accepted from it).
    public func accept() async throws -> StreamConnection {
        try await accept(reporting: nil)
    }

    /// `accept()`, telling `report` what it skipped or paused for.
    func accept(reporting report: (@Sendable (StreamError) -> Void)?) async throws -> StreamConnection {
        try await executor.onLoop {
            let loop = try self.executor.loopForCall("accept")
            while true {
                let socket = try await self.acceptSocket(reporting: report, waiting: true)!
                do {
                    return try StreamConnection(adopting: OwnedDescriptor(adopting: socket.descriptor), loop: loop,
                                                local: socket.local, peer: socket.peer)
                } catch {
                    // The loop could not register it (epoll's watch limit, memory):
                    // the socket is closed with its owner; the listener goes on.
                    report?(StreamListener.skipped(error, operation: "accept(\(self.localAddress))"))
                }
            }
        }
    }

    /// What to report for a connection taken and then skipped because `error`.
    static func skipped(_ error: any Error, operation: String) -> StreamError {
        var errno: ErrnoCode?
        if case .system(let failure) = error as? SelectorError { errno = failure.errno }
        if let failure = error as? SystemError { errno = failure.errno }
        return StreamError(.system, operation: operation + ": one connection skipped: \(error)", errno: errno)
    }

    /// Takes the next connection's socket (see `accept()` for the errors it
    /// skips or pauses for), or, with `waiting` off, the next already queued
    /// (nil when none is). The caller owns the descriptor it returns. Loop thread.
    func acceptSocket(reporting report: (@Sendable (StreamError) -> Void)?, waiting: Bool) async throws -> AcceptedSocket? {
        if acceptsByCompletion == nil { acceptsByCompletion = startAcceptingByCompletion() }
        if acceptsByCompletion == true { return try await acceptQueued(reporting: report, waiting: waiting) }
        return try await acceptBySystemCall(reporting: report, waiting: waiting)
    }

    /// `acceptSocket` by `accept(2)` after readiness (every backend; on
    /// io_uring, only to empty the kernel's backlog without waiting).
    func acceptBySystemCall(reporting report: (@Sendable (StreamError) -> Void)?, waiting: Bool) async throws -> AcceptedSocket? {
        let operation = "accept(\(localAddress))"
        while true {
            guard core.isOpen else { throw StreamError(.closed, operation: operation) }
            if core.readReady || !waiting {
                if core.spend() {
                    try await core.yieldToLoop(.read, owner: 0, operation: operation)
                    continue
                }
                let outcome: IOOutcome<OwnedDescriptor>
                do throws(SystemError) {
                    outcome = try core.descriptor.accept()
                } catch {
                    switch StreamListener.acceptFailure(error.errno) {
                    case .pause:
                        // Out of descriptors or memory: the connection stays queued; pause instead of spinning.
                        report?(StreamError(.system, operation: operation + ": paused \(acceptBackoff)", errno: error.errno))
                        if !waiting { return nil }
                        try await executor.sleep(for: acceptBackoff)
                    case .skip:
                        // That connection's own failure: skip it, take the next.
                        if error.errno != .connectionAborted {
                            report?(StreamError(.system, operation: operation + ": one connection skipped", errno: error.errno))
                        }
                    case .fatal:
                        throw StreamError(error)
                    }
                    continue
                }
                switch consume outcome {
                case .completed(let socket):
                    return acceptedSocket(socket.release())
                case .wouldBlock:
                    core.wouldBlock(.read)
                    if !waiting { return nil }
                }
            }
            try await core.wait(for: .read, operation: operation)
        }
    }

    /// A new connection's socket, with `TCP_NODELAY` set (TCP) and its addresses.
    func acceptedSocket(_ fd: Descriptor) -> AcceptedSocket {
        if localAddress.family != Socket.unixFamily {
            try? fd.setOption(Socket.tcpLevel, Socket.noDelayOption, 1) // best effort: only speed depends on it
        }
        let peer = (try? fd.peerAddress()) ?? localAddress
        let local = (try? fd.localAddress()) ?? localAddress
        return AcceptedSocket(descriptor: fd, local: local, peer: peer)
    }

    /// A socket `acceptSocket` took, not yet owned by a stream: whoever holds
    /// it closes it (or adopts it into a `StreamConnection`).
    struct AcceptedSocket: Sendable {
        let descriptor: Descriptor
        let local: SocketEndpoint
        let peer: SocketEndpoint
    }

    /// What an `accept(2)` error means for the listener.
    enum AcceptFailure { case skip, pause, fatal }

    /// Sorts an `accept(2)` errno: the connection's own failure, a shortage
    /// to wait out, or the listening socket's failure.
    static func acceptFailure(_ errno: ErrnoCode) -> AcceptFailure {
        switch errno {
        case .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noMemory, .noBufferSpace:
            .pause
        case .connectionAborted, .interrupted, .wouldBlock, .protocolError, .notPermitted, .networkDown,
             .protocolNotAvailable, .hostDown, .noNetwork, .hostUnreachable, .operationNotSupported,
             .networkUnreachable, .connectionReset, .timedOut:
            .skip
        default:
            .fatal
        }
    }

    /// The accepted connections, as an `AsyncSequence` that ends when the
    /// listener closes (or throws what `accept()` throws otherwise).
    public var connections: Connections { Connections(listener: self) }

    /// Stops listening: removes a Unix socket's file (only while the path
    /// still names the file this listener made), unregisters, closes, and
    /// ends a waiting `accept()` with `StreamError.closed`. Idempotent: a
    /// second call removes nothing. After the loop has closed (which closed
    /// the socket), it still removes the file. Any thread.
    public func close() async {
        _ = try? await executor.onLoop { self.closeOnLoop() }
    }

    /// `close()`, on the loop thread.
    func closeOnLoop() {
        removeOwnFileOnce()
        core.close(operation: "accept(\(localAddress))") // does nothing once closed
        closeQueuedConnections()
    }

    /// The accepted connections of a listener (see `StreamListener.connections`).
    public struct Connections: AsyncSequence, Sendable {
        /// Each element is a new connection.
        public typealias Element = StreamConnection
        let listener: StreamListener

        /// An iterator that accepts on each `next()`.
        public func makeAsyncIterator() -> Iterator { Iterator(listener: listener) }

        /// Accepts on each `next()`; nil once the listener is closed.
        public struct Iterator: AsyncIteratorProtocol {
            let listener: StreamListener

            /// The next connection, or nil once the listener is closed.
            public mutating func next() async throws -> StreamConnection? {
                do { return try await listener.accept() } catch let error as StreamError where error.kind == .closed {
                    return nil
                }
            }
        }
    }
}

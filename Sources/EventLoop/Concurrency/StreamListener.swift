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
    private let unixPath: String?
    /// The socket file this listener made, so that closing it never removes
    /// a file someone else has put at the path since.
    private let unixFile: (device: UInt64, inode: UInt64)?

    init(adopting socket: consuming OwnedDescriptor, loop: IOLoop, local: SocketEndpoint, unixPath: String?, backoff: Duration) throws {
        executor = loop.executor
        localAddress = local
        self.unixPath = unixPath
        unixFile = unixPath.flatMap(Socket.fileIdentity)
        acceptBackoff = backoff
        core = try SocketCore(socket, loop: loop)
    }

    deinit {
        let path = unixPath
        let file = unixFile
        let removeFile: @Sendable () -> Void = { if let path { StreamListener.removeSocketFile(path, ifStill: file) } }
        if !core.closeFromAnyThread("deinit", then: removeFile), let path {
            // The loop has closed (and closed the socket with it): the file is all that is left.
            StreamListener.removeSocketFile(path, ifStill: file)
        }
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

    /// Listens on a Unix domain socket at `path` (asyncio's `start_unix_server`).
    /// With `replacingStale`, a socket file that nobody listens on (left by a
    /// crashed process) is removed first; a live one is never touched (the
    /// check is a `connect(2)`, which a live listener sees as a connection that
    /// closes at once). The listener removes its own file when it closes.
    /// - Throws: `StreamError.addressInUse` when the path exists (and is live,
    ///   or not a socket, or `replacingStale` is off), `ArgumentError` for a
    ///   path too long for `sockaddr_un`, other `StreamError`s.
    public static func bind(
        unixPath path: String, replacingStale: Bool = false, backlog: Int32 = 511,
        acceptBackoff: Duration = .milliseconds(100), on executor: LoopExecutor
    ) async throws -> StreamListener {
        try checkBackoff(acceptBackoff)
        let endpoint = try SocketEndpoint(unixPath: path)
        return try await executor.onLoop {
            let loop = try executor.loopForCall("bind(\(path))")
            let socket: OwnedDescriptor
            do {
                socket = try Socket.listenUnix(on: endpoint, backlog: backlog)
            } catch let error as SystemError where error.errno == .addressInUse && replacingStale && Socket.isStale(endpoint) {
                removeSocketFile(path)
                do { socket = try Socket.listenUnix(on: endpoint, backlog: backlog) } catch let error as SystemError {
                    throw StreamError(error)
                }
            } catch let error as SystemError {
                throw StreamError(error)
            }
            return try StreamListener(adopting: socket, loop: loop, local: endpoint, unixPath: path, backoff: acceptBackoff)
        }
    }

    private static func checkBackoff(_ backoff: Duration) throws(ArgumentError) {
        if backoff < .zero {
            throw ArgumentError("StreamListener.bind", argument: "acceptBackoff \(backoff)", requirement: "must not be negative")
        }
    }

    /// Waits for the next connection and returns it (non-blocking, close-on-exec, TCP_NODELAY set).
    /// Several tasks may accept at once: each connection goes to one of them.
    /// - Throws: `StreamError.closed` once the listener (or its loop) is closed,
    ///   `CancellationError` (no connection is taken: it stays queued).
    public func accept() async throws -> StreamConnection {
        try await executor.onLoop {
            let loop = try self.executor.loopForCall("accept")
            while true {
                guard self.core.isOpen else { throw StreamError(.closed, operation: "accept(\(self.localAddress))") }
                if self.core.readReady {
                    let outcome: IOOutcome<OwnedDescriptor>
                    do throws(SystemError) {
                        outcome = try self.core.descriptor.accept()
                    } catch let error where error.errno == .tooManyOpenFiles || error.errno == .tooManyOpenFilesInSystem {
                        // Out of descriptors: the connection stays queued; pause instead of spinning.
                        try await self.executor.sleep(for: self.acceptBackoff)
                        continue
                    } catch let error where error.errno == .connectionAborted || error.errno == .interrupted {
                        continue // the peer gave up before we took it: next one
                    } catch {
                        throw StreamError(error)
                    }
                    switch consume outcome {
                    case .completed(let socket):
                        let fd = socket.descriptor
                        if self.unixPath == nil { try? fd.setOption(Socket.tcpLevel, Socket.noDelayOption, 1) } // best effort: only speed depends on it
                        let peer = (try? fd.peerAddress()) ?? self.localAddress
                        let local = (try? fd.localAddress()) ?? self.localAddress
                        return try StreamConnection(adopting: socket, loop: loop, local: local, peer: peer)
                    case .wouldBlock:
                        self.core.wouldBlock(.read)
                    }
                }
                try await self.core.wait(for: .read, operation: "accept(\(self.localAddress))")
            }
        }
    }

    /// The accepted connections, as an `AsyncSequence` that ends when the
    /// listener closes (or throws what `accept()` throws otherwise).
    public var connections: Connections { Connections(listener: self) }

    /// Stops listening: unregisters, closes, removes a Unix socket's file,
    /// and ends a waiting `accept()` with `StreamError.closed`. Idempotent.
    /// After the loop has closed (which closed the socket), it still removes
    /// the file. Any thread.
    public func close() async {
        _ = try? await executor.onLoop {
            self.core.close(operation: "accept(\(self.localAddress))") // does nothing once closed
            // Only while the file is still the one this listener made: a second
            // call, or a file someone else has put there since, is left alone.
            if let path = self.unixPath { StreamListener.removeSocketFile(path, ifStill: self.unixFile) }
        }
    }

    /// Removes the socket file at `path`, if it is still `file` (when given):
    /// a file another listener has put there since is left alone.
    static func removeSocketFile(_ path: String, ifStill file: (device: UInt64, inode: UInt64)? = nil) {
        if let file {
            guard let now = Socket.fileIdentity(path), now == file else { return }
        }
        // A missing file is fine (someone removed it); nothing else can be done here.
        _ = try? Socket.unlink(path)
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

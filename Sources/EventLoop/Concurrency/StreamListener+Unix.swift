extension StreamListener {
    /// Listens on a Unix domain socket at `path` (asyncio's `start_unix_server`).
    ///
    /// With `replacingStale`, a socket file that nobody listens on (left by a
    /// crashed process) is removed first. Only that: the path must be a
    /// socket itself (`lstat(2)`, a symbolic link is not followed), its probe
    /// `connect(2)` must be refused, and it must still be the same socket file
    /// (device and inode) just before the `unlink(2)`. A live listener is never
    /// touched (it sees the probe as a connection that closes at once), nor is
    /// one whose queue is full, nor anything that is not a socket. The
    /// listener removes its own file when it closes, and only while the path
    /// still names that file. Loop thread (hops there from any task).
    /// - Throws: `StreamError.addressInUse` when the path exists and
    ///   `replacingStale` is off, or it is live, or it is not a socket (the
    ///   operation then names the path and what it is, and nothing is
    ///   touched); `ArgumentError` for a path too long for `sockaddr_un`, a
    ///   negative backlog or `acceptBackoff`; other `StreamError`s.
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
            } catch let error as SystemError where error.errno == .addressInUse && replacingStale {
                try removeStaleSocketFile(path, endpoint, inUse: error)
                do { socket = try Socket.listenUnix(on: endpoint, backlog: backlog) } catch let error as SystemError {
                    throw StreamError(error)
                }
            } catch let error as SystemError {
                throw StreamError(error)
            }
            return try StreamListener(adopting: socket, loop: loop, local: endpoint, unixPath: path, backoff: acceptBackoff)
        }
    }

    /// Listens on a Linux abstract-namespace Unix domain socket named `name`
    /// (`SocketEndpoint(abstractUnixName:)`; clients use
    /// `StreamConnection.connect(abstractUnixName:)`). No file is made, so
    /// none is left behind or removed: the name is free again the moment the
    /// listener closes, and there is nothing stale to replace. The name is
    /// open to anyone in the network namespace (no file permissions apply).
    /// `localAddress` prints as `unix:@name`. The corresponding C calls are
    /// `socket(AF_UNIX)`, `bind(2)` and `listen(2)`. Loop thread (hops there).
    /// - Throws: `StreamError.addressInUse` while another socket holds the
    ///   name; `ArgumentError` for an empty name, one longer than 107 bytes
    ///   or with a NUL, a negative backlog or `acceptBackoff`; other `StreamError`s.
    public static func bind(
        abstractUnixName name: String, backlog: Int32 = 511, acceptBackoff: Duration = .milliseconds(100),
        on executor: LoopExecutor
    ) async throws -> StreamListener {
        try checkBackoff(acceptBackoff)
        let endpoint = try SocketEndpoint(abstractUnixName: name)
        return try await executor.onLoop {
            let loop = try executor.loopForCall("bind(\(endpoint))")
            let socket: OwnedDescriptor
            do { socket = try Socket.listenUnix(on: endpoint, backlog: backlog) } catch let error as SystemError {
                throw StreamError(error)
            }
            return try StreamListener(adopting: socket, loop: loop, local: endpoint, unixPath: nil, backoff: acceptBackoff)
        }
    }

    /// Removes the file at `path` if it is a stale socket file; otherwise
    /// throws `StreamError.addressInUse` and touches nothing. Nothing there
    /// any more (removed since `bind` found it) is fine: bind again.
    private static func removeStaleSocketFile(_ path: String, _ endpoint: SocketEndpoint, inUse: SystemError) throws {
        let found: Socket.PathEntry?
        do throws(SystemError) { found = try Socket.entry(atPath: path) } catch { throw StreamError(error) }
        guard let found else { return }
        guard found.isSocket else {
            throw StreamError(
                .addressInUse, operation: "bind(\(path)): the path is \(found.kind.rawValue), not a socket; left as it is",
                errno: .addressInUse)
        }
        guard Socket.isStale(endpoint) else { throw StreamError(inUse) }
        // Removed only while it is still the socket file found above; if it
        // changed in between, the bind that follows reports the new one as in use.
        do throws(SystemError) { try Socket.removeSocketFile(atPath: path, ifStill: found) } catch { throw StreamError(error) }
    }

    /// The socket file a listener has just bound at `path`: nil when `path`
    /// names nothing or something else already (then closing removes nothing).
    static func ownSocketFile(_ path: String) -> Socket.PathEntry? {
        guard let entry = try? Socket.entry(atPath: path), entry.isSocket else { return nil }
        return entry
    }

    /// Removes the socket file at `path` if it is still `file`, the one this
    /// listener made: a file someone else has put there since, or any file
    /// when `file` is nil, is left alone. Errors are dropped: it runs from
    /// `close` and `deinit`, which have nobody to report to, and a file that
    /// stays is only untidy.
    static func removeSocketFile(_ path: String, ifStill file: Socket.PathEntry?) {
        guard let file else { return }
        _ = try? Socket.removeSocketFile(atPath: path, ifStill: file)
    }
}

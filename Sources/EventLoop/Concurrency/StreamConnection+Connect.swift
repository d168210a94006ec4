extension StreamConnection {
    /// Connects to `host` and `port`: asyncio's `open_connection`.
    ///
    /// `host` is a numeric IPv4 or IPv6 address, `localhost` (tried as ::1,
    /// then 127.0.0.1, so a server listening on either works), or a name,
    /// resolved with `getaddrinfo(3)` off the loop thread (a name lookup never
    /// blocks the loop). Each resolved address is tried in turn; the first
    /// that accepts wins. `timeout` bounds the connecting: one deadline, on
    /// the monotonic clock, taken before the lookup and shared by the
    /// addresses tried (a loop on a `ManualClock` does not move it). A name
    /// lookup itself is not cut short by it, nor by cancellation:
    /// `getaddrinfo` has no way to stop, so a slow resolver delays the first
    /// connect past the deadline, which then ends it at once.
    /// - Throws: `StreamError`: `.connectionRefused`, `.timedOut`,
    ///   `.hostNotFound`, `.connectionReset`…; `CancellationError` (the socket
    ///   being connected is closed).
    public static func connect(
        host: String, port: UInt16, timeout: Duration? = nil, on executor: LoopExecutor
    ) async throws -> StreamConnection {
        let deadline = timeout.map { MonotonicInstant.now() + $0 }
        let addresses = try await AddressResolver.resolve(host: host, port: port)
        var lastError = StreamError(.hostNotFound, operation: "connect(\(host):\(port))")
        for address in addresses {
            do {
                return try await connect(to: address, deadline: deadline, on: executor)
            } catch let error as StreamError where error.kind != .timedOut {
                lastError = error
            }
        }
        throw lastError
    }

    /// Connects to a Unix domain stream socket at `path` (asyncio's `open_unix_connection`).
    /// - Throws: `StreamError.connectionRefused` when nobody listens there
    ///   (also for a missing path: `ENOENT`), other `StreamError`s,
    ///   `ArgumentError` for a path too long for `sockaddr_un`.
    public static func connect(unixPath path: String, timeout: Duration? = nil, on executor: LoopExecutor) async throws -> StreamConnection {
        let deadline = timeout.map { MonotonicInstant.now() + $0 }
        return try await connect(to: try SocketEndpoint(unixPath: path), deadline: deadline, on: executor)
    }

    /// Connects to one address: non-blocking `connect(2)`, then a wait for
    /// writable, then `SO_ERROR`.
    static func connect(to address: SocketEndpoint, deadline: MonotonicInstant?, on executor: LoopExecutor) async throws -> StreamConnection {
        try await executor.onLoop {
            let loop = try executor.loopForCall("connect(\(address))")
            let socket: OwnedDescriptor
            do throws(SystemError) { socket = try Socket.connectTCP(to: address) } catch {
                if error.errno == .noSuchEntry { throw StreamError(.connectionRefused, operation: error.operation, errno: error.errno) }
                throw StreamError(error)
            }
            let connection = try StreamConnection(adopting: socket, loop: loop, local: address, peer: address)
            do {
                connection.core.writeReady = false // not connected until the kernel says writable
                try await connection.core.wait(for: .write, deadline: deadline, operation: "connect(\(address))")
                if let failure = try connection.descriptor.pendingError() {
                    throw StreamError(SystemError(failure, operation: "connect(\(address))"))
                }
                connection.connected(local: try connection.descriptor.localAddress())
                if address.family != Socket.unixFamily {
                    try? connection.descriptor.setOption(Socket.tcpLevel, Socket.noDelayOption, 1) // only speed depends on it
                }
                return connection
            } catch let error as SystemError {
                connection.core.close(operation: "connect")
                throw StreamError(error)
            } catch {
                connection.core.close(operation: "connect")
                throw error
            }
        }
    }
}

/// Turns a host name into addresses without blocking the loop thread.
enum AddressResolver {
    static func resolve(host: String, port: UInt16) async throws -> [SocketEndpoint] {
        if host == "localhost" {
            return [try SocketEndpoint(ip: "::1", port: port), try SocketEndpoint(ip: "127.0.0.1", port: port)]
        }
        if let numeric = try? SocketEndpoint(ip: host, port: port) { return [numeric] }
        // getaddrinfo blocks: run it on Swift's global executor, never on a loop.
        let lookup = Task.detached { AddressLookup.resolve(host: host, port: port) }
        switch await lookup.value {
        case .success(let addresses) where !addresses.isEmpty: return addresses
        case .success: throw StreamError(.hostNotFound, operation: "getaddrinfo(\(host))")
        case .failure(let failure): throw StreamError(.hostNotFound, operation: "getaddrinfo(\(host)): \(failure.message)")
        }
    }
}

extension StreamConnection {
    /// Connects to `host` and `port`: asyncio's `open_connection`.
    ///
    /// `host` is a numeric IPv4 or IPv6 address, `localhost` (::1 and
    /// 127.0.0.1, so a server listening on either works), or a name,
    /// resolved with `getaddrinfo(3)` off the loop thread (a name lookup never
    /// blocks the loop).
    ///
    /// Several addresses are raced (Happy Eyeballs, RFC 8305, as asyncio's
    /// `happy_eyeballs_delay` and SwiftNIO do): they are tried with the
    /// families alternating, IPv6 first; the next attempt starts when the one
    /// started last fails, or once it has gone `attemptDelay` without an
    /// answer, while the earlier attempts go on; the first to connect wins,
    /// and every other attempt is cancelled and its socket closed (one that
    /// connected meanwhile too). So an address that never answers (a dropped
    /// SYN, a black-holed route) costs `attemptDelay` (250 ms here; see
    /// `connect(host:port:timeout:attemptDelay:on:)`), not the timeout.
    /// When none connects, the error says what each address answered, e.g.
    /// `connect(localhost:9): ::1 refused, 127.0.0.1 refused`, with the last
    /// answer's kind and errno. A single address is connected to directly,
    /// and its own error thrown.
    ///
    /// `timeout` bounds the connecting: one deadline, on the monotonic clock,
    /// taken before the lookup and shared by every attempt (a loop on a
    /// `ManualClock` does not move it); when it passes, every attempt ends
    /// and no more start. A name lookup itself is not cut short by it, nor by
    /// cancellation: `getaddrinfo` has no way to stop, so a slow resolver
    /// delays the first connect past the deadline, which then ends it at
    /// once. Cancellation cancels every attempt and closes its socket. The
    /// attempts and their delays run on the loop's thread and timers.
    /// - Throws: `StreamError`: `.connectionRefused`, `.timedOut`,
    ///   `.hostNotFound`, `.connectionReset`…; `CancellationError`.
    public static func connect(
        host: String, port: UInt16, timeout: Duration? = nil, on executor: LoopExecutor
    ) async throws -> StreamConnection {
        try await connect(host: host, port: port, timeout: timeout, attemptDelay: defaultAttemptDelay, on: executor)
    }

    /// RFC 8305's recommended Connection Attempt Delay: 250 ms.
    static let defaultAttemptDelay = Duration.milliseconds(250)

    /// `connect(host:port:timeout:on:)` with an `attemptDelay` of your own
    /// (asyncio's `happy_eyeballs_delay`; RFC 8305 suggests no less than
    /// 10 ms, and 250 ms, the default, where nothing is known of the
    /// network): how long the attempt started last goes without an answer
    /// before the next address is tried beside it. Zero starts every
    /// attempt at once (each at the loop's next iteration); a huge delay
    /// tries one address at a time, the next only once the last has failed.
    /// - Throws: as `connect(host:port:timeout:on:)`; `ArgumentError` for a
    ///   negative `attemptDelay`.
    public static func connect(
        host: String, port: UInt16, timeout: Duration? = nil, attemptDelay: Duration, on executor: LoopExecutor
    ) async throws -> StreamConnection {
        if attemptDelay < .zero {
            throw ArgumentError("connect(host:port:)", argument: "attemptDelay \(attemptDelay)", requirement: "must not be negative")
        }
        let deadline = timeout.map { MonotonicInstant.now() + $0 }
        let addresses = HappyEyeballs.interleave(try await AddressResolver.resolve(host: host, port: port))
        if addresses.count == 1 { return try await connect(to: addresses[0], deadline: deadline, on: executor) }
        do {
            return try await HappyEyeballs.race(
                addresses, attemptDelay: attemptDelay, on: executor,
                attempt: { address in try await connect(to: address, deadline: deadline, on: executor) },
                discard: { connection in await connection.close() })
        } catch let failure as HappyEyeballs.Failure {
            throw failure.streamError(connecting: "connect(\(host):\(port))")
        }
    }

    /// Connects to a Unix domain stream socket at `path` (asyncio's `open_unix_connection`).
    ///
    /// A listener whose queue is full (it does not accept fast enough) makes
    /// a non-blocking `connect(2)` say `EAGAIN` where a blocking one would wait
    /// for room; this waits too. No readiness event says when room appears,
    /// so the connect is tried again on the loop's timers, after 1 ms, then
    /// 2, 4, 8… ms, at most 50 ms apart (a freed slot is taken within about
    /// 50 ms, at no more than 20 tries a second once the pause has grown).
    /// `timeout` bounds the whole connecting, that waiting included: one
    /// deadline on the monotonic clock, taken at the call; zero or negative
    /// tries once. With no timeout it waits until the listener takes the
    /// connection or the task is cancelled, as a blocking connect would.
    /// The socket is closed on every failure. Loop thread (hops there).
    /// - Throws: `StreamError.connectionRefused` when nobody listens there
    ///   (also for a missing path: `ENOENT`), `.timedOut` (naming the path)
    ///   when the deadline passes, other `StreamError`s; `CancellationError`;
    ///   `ArgumentError` for a path too long for `sockaddr_un`.
    public static func connect(unixPath path: String, timeout: Duration? = nil, on executor: LoopExecutor) async throws -> StreamConnection {
        let deadline = timeout.map { MonotonicInstant.now() + $0 }
        return try await connect(to: try SocketEndpoint(unixPath: path), deadline: deadline, on: executor)
    }

    /// Connects to the Linux abstract-namespace Unix domain socket named
    /// `name` (`SocketEndpoint(abstractUnixName:)`, a listener from
    /// `StreamListener.bind(abstractUnixName:)`). As `connect(unixPath:)`,
    /// without a file: a full listener queue is waited for within `timeout`,
    /// and the socket is closed on every failure. `peerAddress` prints as
    /// `unix:@name`. Loop thread (hops there).
    /// - Throws: `StreamError.connectionRefused` when nobody listens on the
    ///   name, `.timedOut`, other `StreamError`s; `CancellationError`;
    ///   `ArgumentError` for an empty name, one longer than 107 bytes or with a NUL.
    public static func connect(abstractUnixName name: String, timeout: Duration? = nil, on executor: LoopExecutor) async throws -> StreamConnection {
        let deadline = timeout.map { MonotonicInstant.now() + $0 }
        return try await connect(to: try SocketEndpoint(abstractUnixName: name), deadline: deadline, on: executor)
    }

    /// Connects to one address: non-blocking `connect(2)` (again, for a Unix
    /// listener's full queue), then a wait for writable, then `SO_ERROR`.
    static func connect(to address: SocketEndpoint, deadline: MonotonicInstant?, on executor: LoopExecutor) async throws -> StreamConnection {
        try await executor.onLoop {
            let loop = try executor.loopForCall("connect(\(address))")
            let socket = try await startConnecting(to: address, deadline: deadline, on: executor)
            let connection = try StreamConnection(adopting: socket, loop: loop, local: address, peer: address, receiving: false)
            do {
                connection.core.writeReady = false // not connected until the kernel says writable
                try await connection.core.wait(for: .write, deadline: deadline, operation: "connect(\(address))")
                if let failure = try connection.descriptor.pendingError() {
                    throw StreamError(SystemError(failure, operation: "connect(\(address))"))
                }
                connection.connected(local: try connection.descriptor.localAddress())
                connection.beginReceiving()
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

extension StreamConnection {
    /// The first pause before a Unix connect refused for a full queue is tried again.
    static let firstRetryPause = Duration.milliseconds(1)
    /// The longest pause between those tries (the pause doubles up to it).
    static let longestRetryPause = Duration.milliseconds(50)

    /// A new socket that has started connecting to `address` (see
    /// `Descriptor.startConnecting(to:)`), not yet registered with the loop
    /// (an unconnected Unix socket reports a hang-up, which a registration
    /// would record). A Unix listener's full queue (`EAGAIN`) is tried again
    /// after a growing pause on the loop's timers until `deadline`; TCP's
    /// `EAGAIN` (no local port) fails at once, as a blocking connect does.
    /// The socket is closed when this throws (its owner goes out of scope).
    /// Loop thread.
    private static func startConnecting(
        to address: SocketEndpoint, deadline: MonotonicInstant?, on executor: LoopExecutor
    ) async throws -> OwnedDescriptor {
        let socket: OwnedDescriptor
        do throws(SystemError) { socket = try Socket.stream(for: address) } catch { throw StreamError(error) }
        var pause = firstRetryPause
        while true {
            let outcome: IOOutcome<Void>
            do throws(SystemError) { outcome = try socket.descriptor.startConnecting(to: address) } catch {
                if error.errno == .noSuchEntry { throw StreamError(.connectionRefused, operation: error.operation, errno: error.errno) }
                throw StreamError(error)
            }
            if !outcome.wouldBlock { return socket }
            guard address.family == Socket.unixFamily else {
                throw StreamError(SystemError(.wouldBlock, operation: "connect(\(address)): no local port free"))
            }
            var wait = pause
            if let deadline {
                let left = deadline - MonotonicInstant.now()
                if left <= .zero { throw StreamError(.timedOut, operation: "connect(\(address)): the listener's queue stayed full") }
                wait = min(wait, left)
            }
            try await executor.sleep(for: wait) // never shorter, so the try after the last pause is at or past the deadline
            pause = min(pause * 2, longestRetryPause)
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

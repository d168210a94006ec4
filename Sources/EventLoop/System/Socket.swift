import Glibc

/// Making sockets: every one close-on-exec and non-blocking, owned by the caller.
public enum Socket {
    /// A TCP socket bound to `address` and listening.
    ///
    /// The corresponding C calls are `socket`, `setsockopt(SO_REUSEADDR)`, `bind` and `listen`.
    /// - Parameters:
    ///   - address: an IPv4 or IPv6 endpoint; port 0 lets the kernel choose one
    ///     (read it back with `Descriptor.localAddress()`).
    ///   - backlog: the kernel's queue of connections not yet accepted.
    ///   - reusePort: set `SO_REUSEPORT`, so several listeners share the port.
    /// - Throws: `ArgumentError` for a negative backlog; `SystemError`
    ///   (`EADDRINUSE`, `EACCES`…); the socket is closed on failure.
    public static func listenTCP(on address: SocketEndpoint, backlog: Int32 = 511, reusePort: Bool = false) throws -> OwnedDescriptor {
        try ArgumentError.checkCount(Int(backlog), "backlog", in: "listenTCP(on:backlog:)")
        let socket = try make(address.family, Int32(SOCK_STREAM.rawValue))
        let fd = socket.rawValue
        try socket.descriptor.setOption(SOL_SOCKET, SO_REUSEADDR, 1)
        if reusePort { try socket.descriptor.setOption(SOL_SOCKET, SO_REUSEPORT, 1) }
        _ = try Syscall.check(address.withSockaddr { Kernel.bind(fd, $0, $1) }, "bind(\(socket.descriptor), \(address))")
        _ = try Syscall.check(Kernel.listen(fd, backlog), "listen(\(socket.descriptor), \(backlog))")
        return socket
    }

    /// A stream socket that has started connecting to `address` (TCP, or a
    /// Unix domain socket). The connection is made when the socket turns
    /// writable; then `pendingError()` says whether it succeeded. The
    /// corresponding C calls are `socket` and `connect`.
    /// - Throws: `SystemError`; `EAGAIN` when the connect could not start: a
    ///   Unix listener's queue is full (`stream(for:)` and
    ///   `Descriptor.startConnecting(to:)` let you try again), or, for TCP,
    ///   the kernel is out of local ports. The socket is closed on failure.
    public static func connectTCP(to address: SocketEndpoint) throws(SystemError) -> OwnedDescriptor {
        let socket = try stream(for: address)
        if try socket.descriptor.startConnecting(to: address).wouldBlock {
            throw SystemError(.wouldBlock, operation: "connect(\(socket.descriptor), \(address))")
        }
        return socket
    }

    /// A stream socket of `address`'s family (TCP for IP, else a Unix domain
    /// stream), not yet connected, non-blocking and close-on-exec. The
    /// corresponding C call is `socket(2)`. Any thread.
    public static func stream(for address: SocketEndpoint) throws(SystemError) -> OwnedDescriptor {
        try make(address.family, Int32(SOCK_STREAM.rawValue))
    }

    /// A UDP socket bound to `address` (port 0 picks a free one).
    public static func bindUDP(on address: SocketEndpoint) throws(SystemError) -> OwnedDescriptor {
        let socket = try make(address.family, Int32(SOCK_DGRAM.rawValue))
        let fd = socket.rawValue
        _ = try Syscall.check(address.withSockaddr { Kernel.bind(fd, $0, $1) }, "bind(\(socket.descriptor), \(address))")
        return socket
    }

    /// A new socket of `family` and `type`, non-blocking and close-on-exec.
    static func make(_ family: Int32, _ type: Int32) throws(SystemError) -> OwnedDescriptor {
        let fd = try Syscall.check(Kernel.socket(family, type, nonBlocking: true), "socket(\(family), \(type))")
        return OwnedDescriptor(adopting: Descriptor(Int32(truncatingIfNeeded: fd)))
    }
}

extension Descriptor {
    /// Starts connecting this non-blocking stream socket to `address`.
    ///
    /// `.completed` when the connection is made or under way (TCP's
    /// `EINPROGRESS`, and `EINTR`, after which it goes on in the background:
    /// calling `connect` again would only say `EALREADY`): wait until the
    /// socket is writable, then read `pendingError()`. `.wouldBlock` (`EAGAIN`)
    /// when it could not start, and nothing changed: for a Unix domain socket,
    /// the listener's queue is full (a blocking connect would wait for room;
    /// no readiness event says when there is some, so call again later); for
    /// TCP on Linux, the kernel is out of local ports, which waiting rarely
    /// cures. The corresponding C call is `connect(2)`. Any thread (the
    /// socket's owner's).
    /// - Throws: `SystemError` (`ECONNREFUSED`, `ENOENT` for a missing Unix path…).
    public func startConnecting(to address: SocketEndpoint) throws(SystemError) -> IOOutcome<Void> {
        let fd = rawValue
        let result = address.withSockaddr { Kernel.connect(fd, $0, $1) }
        if result >= 0 || result == -Int(ErrnoCode.inProgress.rawValue) || result == -Int(ErrnoCode.interrupted.rawValue) {
            return .completed(())
        }
        if result == -Int(ErrnoCode.wouldBlock.rawValue) { return .wouldBlock }
        throw SystemError(ErrnoCode(rawValue: Int32(truncatingIfNeeded: -result)), operation: "connect(\(self), \(address))")
    }

    /// Accepts one pending connection, non-blocking and close-on-exec;
    /// `.wouldBlock` when none is pending. The corresponding C call is `accept4(2)`.
    /// - Throws: `SystemError`: `EMFILE`/`ENFILE` when out of descriptors (the
    ///   connection stays queued), `ECONNABORTED`…
    public func accept() throws(SystemError) -> IOOutcome<OwnedDescriptor> {
        let fd = rawValue
        let outcome = try Syscall.nonBlocking("accept4(\(self))") { Kernel.accept4(fd, Int32(SOCK_NONBLOCK.rawValue)) }
        guard case .completed(let accepted) = outcome else { return .wouldBlock }
        return .completed(OwnedDescriptor(adopting: Descriptor(Int32(truncatingIfNeeded: accepted))))
    }

    /// The address this socket is bound to. The corresponding C call is `getsockname(2)`.
    public func localAddress() throws(SystemError) -> SocketEndpoint {
        try address("getsockname", Kernel.getsockname)
    }

    /// The address of the connected peer. The corresponding C call is `getpeername(2)`.
    public func peerAddress() throws(SystemError) -> SocketEndpoint {
        try address("getpeername", Kernel.getpeername)
    }

    /// The socket's pending error (`SO_ERROR`), cleared by reading it; `nil` when there is none.
    public func pendingError() throws(SystemError) -> ErrnoCode? {
        var value: Int32 = 0
        _ = try Syscall.check(Kernel.getsockopt(rawValue, SOL_SOCKET, SO_ERROR, &value), "getsockopt(\(self), SO_ERROR)")
        return value == 0 ? nil : ErrnoCode(rawValue: value)
    }

    /// Reads an integer socket option, e.g. `option(SOL_SOCKET, SO_RCVBUF)`
    /// (in bytes; Linux reports twice the size that was set, the bookkeeping
    /// included). The corresponding C call is `getsockopt(2)`. Any thread
    /// (the socket's owner's).
    /// - Throws: `SystemError` (`ENOPROTOOPT` for an option the socket does
    ///   not have, `ENOTSOCK`, `EBADF`).
    public func option(_ level: Int32, _ name: Int32) throws(SystemError) -> Int32 {
        var value: Int32 = 0
        _ = try Syscall.check(Kernel.getsockopt(rawValue, level, name, &value), "getsockopt(\(self), \(level), \(name))")
        return value
    }

    /// Sets an integer socket option. The corresponding C call is `setsockopt(2)`.
    public func setOption(_ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        _ = try Syscall.check(Kernel.setsockopt(rawValue, level, name, value), "setsockopt(\(self), \(level), \(name))")
    }

    /// Shuts down writing (the peer reads end of file), reading, or both.
    /// The corresponding C call is `shutdown(2)`.
    public func shutdown(writing: Bool = true, reading: Bool = false) throws(SystemError) {
        let how = writing && reading ? Int32(SHUT_RDWR) : writing ? Int32(SHUT_WR) : Int32(SHUT_RD)
        _ = try Syscall.check(Kernel.shutdown(rawValue, how), "shutdown(\(self), \(how))")
    }

    /// Sends one datagram to `address`; `.wouldBlock` when the socket's buffer
    /// is full. Never raises `SIGPIPE` (`MSG_NOSIGNAL`). The C call is `sendto(2)`.
    public func send(_ buffer: UnsafeRawBufferPointer, to address: SocketEndpoint) throws(SystemError) -> IOOutcome<Int> {
        let fd = rawValue
        return try Syscall.nonBlocking("sendto(\(self), \(address))") {
            address.withSockaddr { Kernel.sendto(fd, buffer.baseAddress, buffer.count, $0, $1) }
        }
    }

    /// Receives one datagram and its sender; `.wouldBlock` when none is waiting.
    /// The C call is `recvfrom(2)`.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOOutcome<(count: Int, from: SocketEndpoint)> {
        let fd = rawValue
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let outcome = try Syscall.nonBlocking("recvfrom(\(self))") {
            withUnsafeMutableBytes(of: &storage) {
                Kernel.recvfrom(fd, buffer.baseAddress, buffer.count, 0, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }
        }
        guard case .completed(let count) = outcome else { return .wouldBlock }
        return .completed((count, SocketEndpoint(storage: storage, length: length)))
    }

    private func address(
        _ name: String, _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int
    ) throws(SystemError) -> SocketEndpoint {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = rawValue
        _ = try Syscall.check(
            withUnsafeMutableBytes(of: &storage) { call(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length) },
            "\(name)(\(self))")
        return SocketEndpoint(storage: storage, length: length)
    }
}

import CEventShim
import Glibc

/// Making sockets: every one close-on-exec and non-blocking, owned by the caller.
public enum Socket {
    /// A TCP socket bound to `address` and listening.
    /// - Parameters:
    ///   - backlog: the kernel's queue of connections not yet accepted.
    ///   - reusePort: set `SO_REUSEPORT`, so several listeners share the port.
    /// The corresponding C calls are `socket`, `setsockopt(SO_REUSEADDR)`, `bind` and `listen`.
    public static func listenTCP(on address: SocketEndpoint, backlog: Int32 = 511, reusePort: Bool = false) throws(SystemError) -> OwnedDescriptor {
        let socket = try make(address.family, Int32(SOCK_STREAM.rawValue))
        let fd = socket.rawValue
        try socket.descriptor.setOption(SOL_SOCKET, SO_REUSEADDR, 1)
        if reusePort { try socket.descriptor.setOption(SOL_SOCKET, SO_REUSEPORT, 1) }
        _ = try Syscall.check(address.withSockaddr { cevent_bind(fd, $0, $1) }, "bind(\(socket.descriptor), \(address))")
        _ = try Syscall.check(cevent_listen(fd, backlog), "listen(\(socket.descriptor), \(backlog))")
        return socket
    }

    /// A TCP socket that has started connecting to `address`. The connection
    /// is made when the socket turns writable; then `pendingError()` says
    /// whether it succeeded. The corresponding C calls are `socket` and `connect`.
    public static func connectTCP(to address: SocketEndpoint) throws(SystemError) -> OwnedDescriptor {
        let socket = try make(address.family, Int32(SOCK_STREAM.rawValue))
        let fd = socket.rawValue
        let result = address.withSockaddr { cevent_connect(fd, $0, $1) }
        // EINPROGRESS is the normal answer of a non-blocking connect, not a failure.
        if result < 0 && result != -ErrnoCode.inProgress.rawValue {
            throw SystemError(ErrnoCode(rawValue: -result), operation: "connect(\(socket.descriptor), \(address))")
        }
        return socket
    }

    /// A UDP socket bound to `address` (port 0 picks a free one).
    public static func bindUDP(on address: SocketEndpoint) throws(SystemError) -> OwnedDescriptor {
        let socket = try make(address.family, Int32(SOCK_DGRAM.rawValue))
        let fd = socket.rawValue
        _ = try Syscall.check(address.withSockaddr { cevent_bind(fd, $0, $1) }, "bind(\(socket.descriptor), \(address))")
        return socket
    }

    private static func make(_ family: Int32, _ type: Int32) throws(SystemError) -> OwnedDescriptor {
        OwnedDescriptor(adopting: Descriptor(try Syscall.check(cevent_socket(family, type, 0, 1), "socket(\(family), \(type))")))
    }
}

extension Descriptor {
    /// Accepts one pending connection, non-blocking and close-on-exec; `nil`
    /// when none is pending. The corresponding C call is `accept4(2)`.
    public func accept() throws(SystemError) -> OwnedDescriptor? {
        let fd = rawValue
        let accepted = try Syscall.nonBlocking("accept4(\(self))") { cevent_accept4(fd, nil, nil, Int32(SOCK_NONBLOCK.rawValue)) }
        return accepted.map { OwnedDescriptor(adopting: Descriptor($0)) }
    }

    /// The address this socket is bound to. The corresponding C call is `getsockname(2)`.
    public func localAddress() throws(SystemError) -> SocketEndpoint {
        try address("getsockname", cevent_getsockname)
    }

    /// The address of the connected peer. The corresponding C call is `getpeername(2)`.
    public func peerAddress() throws(SystemError) -> SocketEndpoint {
        try address("getpeername", cevent_getpeername)
    }

    /// The socket's pending error (`SO_ERROR`), cleared by reading it; `nil` when there is none.
    public func pendingError() throws(SystemError) -> ErrnoCode? {
        var value: Int32 = 0
        _ = try Syscall.check(cevent_getsockopt_int(rawValue, SOL_SOCKET, SO_ERROR, &value), "getsockopt(\(self), SO_ERROR)")
        return value == 0 ? nil : ErrnoCode(rawValue: value)
    }

    /// Sets an integer socket option. The corresponding C call is `setsockopt(2)`.
    public func setOption(_ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        _ = try Syscall.check(cevent_setsockopt_int(rawValue, level, name, value), "setsockopt(\(self), \(level), \(name))")
    }

    /// Shuts down writing (the peer reads end of file), reading, or both.
    /// The corresponding C call is `shutdown(2)`.
    public func shutdown(writing: Bool = true, reading: Bool = false) throws(SystemError) {
        let how = writing && reading ? Int32(SHUT_RDWR) : writing ? Int32(SHUT_WR) : Int32(SHUT_RD)
        _ = try Syscall.check(cevent_shutdown(rawValue, how), "shutdown(\(self), \(how))")
    }

    /// Sends a datagram to `address`; `nil` when it would block.
    public func send(_ buffer: UnsafeRawBufferPointer, to address: SocketEndpoint) throws(SystemError) -> Int? {
        let fd = rawValue
        return try Syscall.nonBlocking("sendto(\(self), \(address))") {
            address.withSockaddr { cevent_sendto(fd, buffer.baseAddress, UInt(buffer.count), 0, $0, $1) }
        }.map { Int($0) }
    }

    /// Receives one datagram and its sender; `nil` when none is waiting.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> (count: Int, from: SocketEndpoint)? {
        let fd = rawValue
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = try Syscall.nonBlocking("recvfrom(\(self))") {
            withUnsafeMutableBytes(of: &storage) {
                cevent_recvfrom(fd, buffer.baseAddress, UInt(buffer.count), 0, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }
        }
        return n.map { (Int($0), SocketEndpoint(storage: storage, length: length)) }
    }

    private func address(
        _ name: String, _ call: (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?) -> Int32
    ) throws(SystemError) -> SocketEndpoint {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutableBytes(of: &storage) { call(rawValue, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length) }
        _ = try Syscall.check(result, "\(name)(\(self))")
        return SocketEndpoint(storage: storage, length: length)
    }
}

import Glibc

// Adopting a socket made elsewhere: systemd's socket activation (descriptors
// 3 and up, LISTEN_FDS), a socket a parent process passed down, one a
// library opened. The number says nothing about what it names, so each
// expectation is asked of the kernel before the package relies on it: that
// it is open and a socket (`SO_TYPE`, else EBADF or ENOTSOCK), of the type
// wanted (`SO_TYPE`), listening or not (`SO_ACCEPTCONN`), of a family the
// package can address (`getsockname`), connected where that matters
// (`getpeername`). Only then are its flags changed: `O_NONBLOCK` (which
// lives in the open file description, so every process sharing it sees the
// change, as with asyncio's `sock.setblocking(False)`) and `FD_CLOEXEC`.

extension Socket {
    /// What an adopted socket must be.
    enum AdoptedRole: Sendable {
        /// A listening stream socket (`listen(2)` called).
        case listener
        /// A connected stream socket, not listening.
        case connection
        /// A datagram socket, connected or not.
        case datagram

        var name: String {
            switch self {
            case .listener: "a listening stream socket"
            case .connection: "a connected stream socket"
            case .datagram: "a datagram socket"
            }
        }
    }

    /// Checks that `descriptor` is fit for `role` (see the top of this file),
    /// then makes it non-blocking and close-on-exec. Returns its local
    /// address, and its peer (nil for a listener and an unconnected datagram
    /// socket). Changes nothing when a check fails. Any thread (the
    /// descriptor's owner's). The C calls are `getsockopt(SO_TYPE,
    /// SO_ACCEPTCONN)`, `getsockname`, `getpeername` and `fcntl`.
    /// - Throws: `SystemError` whose operation says what was wrong, e.g.
    ///   `adopt(fd 7): not a socket: … (ENOTSOCK)`: `EBADF` (not open),
    ///   `ENOTSOCK`, `EPROTOTYPE` (a stream socket where a datagram socket was
    ///   wanted, or the reverse), `EINVAL` (a listener that is not
    ///   listening, a connection that is), `ENOTCONN` (a connection that is
    ///   not connected), `EAFNOSUPPORT` (neither IP nor Unix).
    static func prepareForAdoption(
        _ descriptor: Descriptor, as role: AdoptedRole
    ) throws(SystemError) -> (local: SocketEndpoint, peer: SocketEndpoint?) {
        let name = "adopt(\(descriptor))"
        let type: Int32
        do { type = try descriptor.option(SOL_SOCKET, SO_TYPE) } catch {
            switch error.errno {
            case .notSocket: throw SystemError(error.errno, operation: "\(name): not a socket")
            case .badFileDescriptor: throw SystemError(error.errno, operation: "\(name): not an open descriptor")
            default: throw error
            }
        }
        let wanted = role == .datagram ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue)
        if type != wanted {
            throw SystemError(.protocolWrongType, operation: "\(name): \(typeName(type)), not \(role.name)")
        }
        if role != .datagram {
            let listening = try descriptor.option(SOL_SOCKET, SO_ACCEPTCONN) != 0
            if role == .listener && !listening {
                throw SystemError(.invalidArgument, operation: "\(name): a stream socket that is not listening (call listen(2) first)")
            }
            if role == .connection && listening {
                throw SystemError(.invalidArgument, operation: "\(name): a listening socket, not a connection (adopt it as a StreamListener)")
            }
        }
        let local = try descriptor.localAddress()
        guard local.family == AF_INET || local.family == AF_INET6 || local.family == AF_UNIX else {
            throw SystemError(.addressFamilyNotSupported, operation: "\(name): address family \(local.family) is neither IP nor Unix")
        }
        var peer: SocketEndpoint?
        if role != .listener {
            do { peer = try descriptor.peerAddress() } catch where error.errno == .notConnected {
                if role == .connection { throw SystemError(error.errno, operation: "\(name): a stream socket that is not connected") }
                // An unconnected datagram socket: it sends to any address.
            }
        }
        try descriptor.setNonBlocking(true)
        try descriptor.setCloseOnExec(true)
        return (local, peer)
    }

    /// `a stream socket`, `a datagram socket`, … for a `SO_TYPE` value.
    private static func typeName(_ type: Int32) -> String {
        switch type {
        case Int32(SOCK_STREAM.rawValue): "a stream socket"
        case Int32(SOCK_DGRAM.rawValue): "a datagram socket"
        case Int32(SOCK_SEQPACKET.rawValue): "a sequenced-packet socket"
        case Int32(SOCK_RAW.rawValue): "a raw socket"
        default: "a socket of type \(type)"
        }
    }
}

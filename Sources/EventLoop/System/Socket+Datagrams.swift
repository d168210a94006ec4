import Glibc

// Connected datagram sockets: `connect(2)` on a UDP (or Unix datagram) socket
// sends nothing; it fixes the peer, so `send(2)` needs no address, the kernel
// drops datagrams from anyone else, and an ICMP "port unreachable" for a
// datagram sent to the peer comes back as `ECONNREFUSED` on a later call
// (an unconnected socket never sees it).

extension Socket {
    /// A datagram socket of `remote`'s family connected to `remote`, bound
    /// first to `local` when one is given (else the kernel picks the local
    /// address and port at the connect). Non-blocking, close-on-exec. The
    /// corresponding C calls are `socket(SOCK_DGRAM)`, `bind(2)` and `connect(2)`
    /// (immediate for a datagram socket: nothing goes on the wire). Any thread.
    /// - Throws: `SystemError` (`EADDRINUSE` for a taken `local`,
    ///   `ENETUNREACH`, `EAFNOSUPPORT` when `local` is of another family…);
    ///   the socket is closed on failure.
    public static func connectedDatagram(to remote: SocketEndpoint, from local: SocketEndpoint? = nil) throws(SystemError) -> OwnedDescriptor {
        let socket = try make(remote.family, Int32(SOCK_DGRAM.rawValue))
        let fd = socket.rawValue
        if let local {
            _ = try Syscall.check(local.withSockaddr { Kernel.bind(fd, $0, $1) }, "bind(\(socket.descriptor), \(local))")
        }
        _ = try Syscall.check(remote.withSockaddr { Kernel.connect(fd, $0, $1) }, "connect(\(socket.descriptor), \(remote))")
        return socket
    }
}

extension Descriptor {
    /// Sends one datagram to the peer this datagram socket is connected to
    /// (or bytes on a connected stream); `.wouldBlock` when the socket's
    /// buffer is full. Never raises `SIGPIPE` (`MSG_NOSIGNAL`). `EINTR` is
    /// retried. The C call is `send(2)`. Any thread (the socket's owner's).
    /// - Throws: `SystemError`: `ECONNREFUSED` when an earlier datagram to the
    ///   peer met a closed port (ICMP port unreachable; the socket stays
    ///   usable), `EDESTADDRREQ` on a socket that is not connected,
    ///   `EMSGSIZE` for a datagram too large…
    public func send(_ buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOOutcome<Int> {
        let fd = rawValue
        return try Syscall.nonBlocking("send(\(self), \(buffer.count) bytes)") {
            Kernel.send(fd, buffer.baseAddress, buffer.count)
        }
    }
}

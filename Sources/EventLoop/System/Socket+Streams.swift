import Glibc

extension Socket {
    /// `IPPROTO_TCP`, the level of TCP's socket options.
    public static let tcpLevel = Int32(IPPROTO_TCP)
    /// `TCP_NODELAY`: send small segments at once (no Nagle delay).
    public static let noDelayOption = TCP_NODELAY
    /// `AF_UNIX`.
    public static let unixFamily = AF_UNIX

    /// A Unix domain stream socket bound to `address` and listening.
    ///
    /// The corresponding C calls are `socket(AF_UNIX)`, `bind` and `listen`.
    /// - Parameters:
    ///   - address: a Unix endpoint (`SocketEndpoint(unixPath:)`); the path must not exist yet.
    ///   - backlog: the kernel's queue of connections not yet accepted
    ///     (0 or more; the kernel caps it at `net.core.somaxconn`).
    /// - Throws: `ArgumentError` for a negative backlog (as `listenTCP`);
    ///   `SystemError` (`EADDRINUSE` when the path exists…); the socket is closed on failure.
    public static func listenUnix(on address: SocketEndpoint, backlog: Int32 = 511) throws -> OwnedDescriptor {
        try ArgumentError.checkCount(Int(backlog), "backlog", in: "listenUnix(on:backlog:)")
        let fd = try Syscall.check(Kernel.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), nonBlocking: true), "socket(AF_UNIX)")
        let socket = OwnedDescriptor(adopting: Descriptor(Int32(truncatingIfNeeded: fd)))
        let raw = socket.rawValue
        _ = try Syscall.check(address.withSockaddr { Kernel.bind(raw, $0, $1) }, "bind(\(socket.descriptor), \(address))")
        _ = try Syscall.check(Kernel.listen(raw, backlog), "listen(\(socket.descriptor), \(backlog))")
        return socket
    }

    /// Whether a Unix socket path is stale: a socket file that nobody listens
    /// on (a connect is refused). A blocking check: one `connect(2)`.
    ///
    /// Only meaningful for a path that `lstat` has just shown to be a socket
    /// (`entry(atPath:)`): `connect` follows symbolic links, and Linux refuses
    /// it with the same `ECONNREFUSED` for a regular file, a directory or a
    /// FIFO as for a dead socket. A listener whose queue is full says
    /// `EAGAIN`: live, so not stale.
    static func isStale(_ address: SocketEndpoint) -> Bool {
        guard let fd = try? Syscall.check(Kernel.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), nonBlocking: true), "socket(AF_UNIX)") else {
            return false
        }
        let probe = OwnedDescriptor(adopting: Descriptor(Int32(truncatingIfNeeded: fd)))
        let result = address.withSockaddr { Kernel.connect(probe.rawValue, $0, $1) }
        return result == -Int(ErrnoCode.connectionRefused.rawValue)
    }
}

extension Descriptor {
    /// Whether a connected stream socket's peer has ended its side with
    /// nothing left unread: `.completed(true)` at the end, `.completed(false)`
    /// when bytes are waiting (they stay), `.wouldBlock` when neither. The C
    /// call is `recv(2)` of one byte with `MSG_PEEK | MSG_DONTWAIT`.
    public func peekAtEnd() throws(SystemError) -> IOOutcome<Bool> {
        let fd = rawValue
        var byte: UInt8 = 0
        let outcome = try Syscall.nonBlocking("recv(\(self), MSG_PEEK)") {
            Kernel.recv(fd, &byte, 1, flags: Int32(MSG_PEEK | MSG_DONTWAIT))
        }
        guard case .completed(let count) = outcome else { return .wouldBlock }
        return .completed(count == 0)
    }

    /// Receives one datagram and its sender, and says whether it was longer
    /// than `buffer` (its tail is then lost: `MSG_TRUNC`); `.wouldBlock` when
    /// none is waiting. The C call is `recvfrom(2)` with `MSG_TRUNC`.
    public func receiveDatagram(
        into buffer: UnsafeMutableRawBufferPointer
    ) throws(SystemError) -> IOOutcome<(count: Int, from: SocketEndpoint, truncated: Bool)> {
        let fd = rawValue
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let outcome = try Syscall.nonBlocking("recvfrom(\(self))") {
            withUnsafeMutableBytes(of: &storage) {
                Kernel.recvfrom(fd, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC),
                                $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }
        }
        guard case .completed(let size) = outcome else { return .wouldBlock }
        return .completed((min(size, buffer.count), SocketEndpoint(storage: storage, length: length), size > buffer.count))
    }
}

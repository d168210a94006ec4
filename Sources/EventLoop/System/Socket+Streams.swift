import Glibc

extension Socket {
    /// `IPPROTO_TCP`, the level of TCP's socket options.
    public static let tcpLevel = Int32(IPPROTO_TCP)
    /// `TCP_NODELAY`: send small segments at once (no Nagle delay).
    public static let noDelayOption = TCP_NODELAY
    /// `AF_UNIX`.
    public static let unixFamily = AF_UNIX

    /// A Unix domain stream socket bound to `address` and listening.
    /// The corresponding C calls are `socket(AF_UNIX)`, `bind` and `listen`.
    /// - Throws: `SystemError` (`EADDRINUSE` when the path exists…); the socket is closed on failure.
    public static func listenUnix(on address: SocketEndpoint, backlog: Int32 = 511) throws(SystemError) -> OwnedDescriptor {
        let fd = try Syscall.check(Kernel.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), nonBlocking: true), "socket(AF_UNIX)")
        let socket = OwnedDescriptor(adopting: Descriptor(Int32(truncatingIfNeeded: fd)))
        let raw = socket.rawValue
        _ = try Syscall.check(address.withSockaddr { Kernel.bind(raw, $0, $1) }, "bind(\(socket.descriptor), \(address))")
        _ = try Syscall.check(Kernel.listen(raw, max(backlog, 0)), "listen(\(socket.descriptor), \(backlog))")
        return socket
    }

    /// Whether a Unix socket path is stale: a socket file that nobody listens
    /// on (a connect is refused). A blocking check: one `connect(2)`.
    static func isStale(_ address: SocketEndpoint) -> Bool {
        guard let fd = try? Syscall.check(Kernel.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), nonBlocking: true), "socket(AF_UNIX)") else {
            return false
        }
        let probe = OwnedDescriptor(adopting: Descriptor(Int32(truncatingIfNeeded: fd)))
        let result = address.withSockaddr { Kernel.connect(probe.rawValue, $0, $1) }
        return result == -Int(ErrnoCode.connectionRefused.rawValue)
    }

    /// Removes a file (a Unix socket's path). The corresponding C call is `unlink(2)`.
    /// - Throws: `SystemError` (`ENOENT`…).
    public static func unlink(_ path: String) throws(SystemError) {
        _ = try Syscall.check(Kernel.unlink(path), "unlink(\(path))")
    }
}

extension Descriptor {
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

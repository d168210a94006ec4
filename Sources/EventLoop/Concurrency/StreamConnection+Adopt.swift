extension StreamConnection {
    /// Takes over a connected stream socket made elsewhere (a socket a
    /// parent process passed down, one from another library; tokio's
    /// `TcpStream::from_std`, asyncio's `open_connection(sock=)`): TCP over
    /// IPv4 or IPv6, or a Unix domain stream, such as one end of
    /// `DescriptorPair.socketPair()`.
    ///
    /// The kernel is asked first (`getsockopt(SO_TYPE, SO_ACCEPTCONN)`,
    /// `getsockname`, `getpeername`): it must be an open socket, a stream,
    /// not listening, and connected. Then it is made non-blocking (a flag of
    /// the open file, so a process sharing it sees that too) and
    /// close-on-exec, and registered with the loop. Its other options stay as
    /// they are: `TCP_NODELAY`, which `connect` and `accept` set, is not set
    /// here (`setNoDelay(true)`). Bytes already queued in the socket are read
    /// first. Loop thread (hops there).
    ///
    /// Ownership: the connection owns the descriptor from here, and closes
    /// it once. On every failure it is closed too, never handed back; to keep
    /// yours, pass a duplicate (`try descriptor.duplicate()`). A raw number
    /// becomes an owner only explicitly: `OwnedDescriptor(adopting: Descriptor(fd))`.
    /// - Throws: `StreamError` with `.system` and the errno of what is wrong:
    ///   `EBADF` (not open), `ENOTSOCK`, `EPROTOTYPE` (a datagram socket),
    ///   `EINVAL` (a listening socket: adopt it as a `StreamListener`),
    ///   `ENOTCONN` (not connected yet), `EAFNOSUPPORT`; the operation reads
    ///   like `adopt(fd 7): not a socket`. `.closed` when the loop is closed.
    public static func adopt(_ socket: consuming OwnedDescriptor, on executor: LoopExecutor) async throws -> StreamConnection {
        try await executor.adopt(socket, as: .connection) { socket, loop, local, peer in
            guard let peer else { throw StreamError(.system, operation: "adopt(\(socket.descriptor)): not connected", errno: .notConnected) }
            return try StreamConnection(adopting: socket, loop: loop, local: local, peer: peer)
        }
    }
}

import EventLoop

/// A connected TCP socket in blocking mode, for the blocking clients.
///
/// The package's sockets start non-blocking, and its `connectTCP` only starts
/// the connection; this waits for it to finish (one `select(2)` on this one
/// socket, as a blocking `connect(2)` waits inside the kernel), then turns
/// blocking on, so later reads and writes wait as in the seeds' blocking code.
/// - Throws: `ExampleFailure` naming the address when the connection fails.
public func connectBlocking(to endpoint: SocketEndpoint, timeout: Duration = .seconds(10)) throws -> OwnedDescriptor {
    let socket = try Socket.connectTCP(to: endpoint)
    var writable = FDSet()
    var none = FDSet()
    try writable.insert(socket.descriptor)
    let ready = try FDSet.select(upTo: Int(socket.rawValue) + 1, readable: &none, writable: &writable, timeout: timeout)
    if ready == 0 { throw ExampleFailure("cannot connect to \(endpoint): no answer in \(formatSeconds(timeout))") }
    if let error = try socket.descriptor.pendingError() { throw ExampleFailure("cannot connect to \(endpoint): \(error)") }
    try socket.descriptor.setNonBlocking(false)
    return socket
}

/// Writes all of `bytes` to a blocking socket (a blocking write may still
/// take fewer bytes than asked, when a signal interrupts it part-way).
public func writeAll(_ bytes: ArraySlice<UInt8>, to fd: Descriptor) throws {
    var rest = bytes
    while !rest.isEmpty {
        guard case .completed(let count) = try fd.write(rest) else {
            throw ExampleFailure("write to \(fd) would block on a blocking socket")
        }
        rest = rest.dropFirst(count)
    }
}

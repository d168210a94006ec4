import EventLoop

/// A listening TCP socket on `host:port`, with a clear error for the usual
/// failures (port in use, port that needs privileges) instead of a bare errno.
public func listenTCP(host: String, port: UInt16) throws -> OwnedDescriptor {
    let endpoint = try SocketEndpoint(ip: host, port: port)
    do {
        return try Socket.listenTCP(on: endpoint)
    } catch let error as SystemError where error.errno == .addressInUse {
        throw ExampleFailure(
            "cannot listen on \(endpoint): the port is in use (EADDRINUSE); choose another with --port, or --port 0 to pick a free one")
    } catch let error as SystemError where error.errno.name == "EACCES" {
        throw ExampleFailure("cannot listen on \(endpoint): ports below 1024 need privileges (EACCES); choose another with --port")
    }
}

/// Closes a descriptor whose owner was released into a plain number (kept in
/// a dictionary or a closure). The close error is dropped: the number is
/// released by the kernel whatever `close` says, and there is nobody to tell.
public func closeReleased(_ fd: Descriptor) {
    try? OwnedDescriptor(adopting: fd).close()
}

/// The peer's address as text, or `?` when the socket is no longer connected.
public func peerName(_ fd: Descriptor) -> String {
    (try? fd.peerAddress().description) ?? "?"
}

/// Seconds, for printing: `1.234 s`.
public func formatSeconds(_ duration: Duration) -> String {
    formatDecimal(duration.seconds, places: 3) + " s"
}

/// Milliseconds, for printing: `0.214 ms`.
public func formatMilliseconds(nanoseconds: Int64) -> String {
    formatDecimal(Double(nanoseconds) / 1e6, places: 3) + " ms"
}

/// `value` with `places` digits after the point, without Foundation.
public func formatDecimal(_ value: Double, places: Int) -> String {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = Int64((abs(value) * scale).rounded())
    let whole = scaled / Int64(scale)
    var fraction = String(scaled % Int64(scale))
    while fraction.count < places { fraction = "0" + fraction }
    return (value < 0 && scaled != 0 ? "-" : "") + "\(whole)" + (places > 0 ? "." + fraction : "")
}

/// A `StreamListener` on `host:port`, for the async examples, with the same
/// clear errors as `listenTCP` (port in use, port that needs privileges).
public func bindListener(host: String, port: UInt16, on executor: LoopExecutor) async throws -> StreamListener {
    do {
        return try await StreamListener.bind(host: host, port: port, on: executor)
    } catch let error as StreamError where error.kind == .addressInUse {
        throw ExampleFailure(
            "cannot listen on \(try SocketEndpoint(ip: host, port: port)): the port is in use (EADDRINUSE); "
            + "choose another with --port, or --port 0 to pick a free one")
    } catch let error as StreamError where error.errno?.name == "EACCES" {
        throw ExampleFailure("cannot listen on \(try SocketEndpoint(ip: host, port: port)): ports below 1024 need privileges (EACCES); choose another with --port")
    }
}

/// `1 reply`, `2 replies`: a count and its noun (`plural` when it is not the noun plus `s`).
public func counted(_ count: Int, _ singular: String, _ plural: String? = nil) -> String {
    "\(count) " + (count == 1 ? singular : plural ?? singular + "s")
}

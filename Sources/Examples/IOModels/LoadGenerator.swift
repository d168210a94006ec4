import EventLoop
import ExampleSupport

/// `io-models load`: the load test the seed's servers were put through ("压测"):
/// `count` requests at once, each on its own connection (no keep-alive), all
/// on one `IOLoop` on `backend`. Each request counts as answered when its connection
/// closes after a reply that holds "Web Server Test". Returns the exit
/// status: 0 when every request was answered.
func runLoad(endpoint: SocketEndpoint, count: Int, timeout: Duration, backend: LoopBackend) throws -> Int32 {
    let loop = try IOLoop(backend: backend)
    var stoppedBy: String?
    try loop.stopOnSignals { stoppedBy = $0 }
    let request = Array("GET / HTTP/1.1\r\nHost: \(endpoint)\r\nConnection: close\r\n\r\n".utf8)
    var open: [Descriptor: IOWatcher] = [:]
    var answered = 0
    var failures: [String] = []
    func finish(_ fd: Descriptor, failure: String?) {
        open.removeValue(forKey: fd)?.cancel() // cancel before close
        closeReleased(fd)
        if let failure { failures.append(failure) }
        if open.isEmpty { loop.stop() }
    }
    let start = MonotonicInstant.now()
    for _ in 0..<count {
        let fd = try Socket.connectTCP(to: endpoint).release() // closed by `finish`
        var reply: [UInt8] = []
        var sent = false
        open[fd] = try loop.watch(fd, interest: .writable) { _ in
            do {
                if !sent {
                    if let error = try fd.pendingError() { throw SystemError(error, operation: "connect(\(endpoint))") }
                    // A request this small goes whole into a new socket's empty buffer.
                    guard case .completed(request.count) = try fd.write(request) else { throw ExampleFailure("short write") }
                    sent = true
                    try open[fd]?.setInterest(.readable)
                    return
                }
                while let data = try fd.read(upTo: 4_096).value { // until .wouldBlock, or end of file
                    if !data.isEmpty {
                        reply += data
                        continue
                    }
                    let ok = String(decoding: reply, as: UTF8.self).contains("Web Server Test")
                    if ok { answered += 1 }
                    finish(fd, failure: ok ? nil : "a reply without the page (\(reply.count) bytes)")
                    return
                }
            } catch {
                finish(fd, failure: "\(error)")
            }
        }
    }
    let deadline = try loop.schedule(after: timeout) { loop.stop() }
    try loop.run()
    deadline.cancel()
    let elapsed = MonotonicInstant.now() - start
    let unfinished = open.count
    for fd in Array(open.keys) { finish(fd, failure: nil) }
    try loop.close()
    if let stoppedBy { print("stopped by \(stoppedBy)") }
    print("\(answered) of \(count) requests answered in \(formatSeconds(elapsed))"
          + (unfinished > 0 ? "; \(unfinished) still waiting after \(formatSeconds(timeout))" : ""))
    if let first = failures.first { print("\(failures.count) failed; the first: \(first)") }
    return answered == count || stoppedBy != nil ? 0 : 1
}

import EventLoop

/// A test's side of a connection to an example, over loopback, non-blocking,
/// with every wait bounded (a `PollSelector` wait with a deadline).
struct LoopbackClient: ~Copyable {
    let socket: OwnedDescriptor
    var fd: Descriptor { socket.descriptor }

    /// Connects to 127.0.0.1:`port`.
    init(port: UInt16, timeout: Duration = .seconds(10)) throws {
        let socket = try Socket.connectTCP(to: SocketEndpoint(ip: "127.0.0.1", port: port))
        try LoopbackClient.wait(for: .writable, on: socket.descriptor, timeout: timeout)
        if let error = try socket.descriptor.pendingError() { throw SystemError(error, operation: "connect(127.0.0.1:\(port))") }
        self.socket = socket
    }

    /// Waits until `fd` is ready for `interest`, at most `timeout`.
    static func wait(for interest: Interest, on fd: Descriptor, timeout: Duration) throws {
        let selector = PollSelector<Void>()
        defer { selector.close() }
        try selector.register(fd, interest: interest)
        if try selector.select(timeout: timeout).isEmpty {
            throw ChildProcessError(description: "\(fd) not \(interest) within \(timeout)")
        }
    }

    /// Sends all of `text`.
    func send(_ text: String, timeout: Duration = .seconds(10)) throws {
        var rest = Array(text.utf8)[...]
        while !rest.isEmpty {
            try LoopbackClient.wait(for: .writable, on: fd, timeout: timeout)
            if case .completed(let count) = try fd.write(rest) { rest = rest.dropFirst(count) }
        }
    }

    /// Reads until `count` bytes have come (or end of file); returns them as text.
    func receive(count: Int, timeout: Duration = .seconds(10)) throws -> String {
        var bytes: [UInt8] = []
        while bytes.count < count {
            try LoopbackClient.wait(for: .readable, on: fd, timeout: timeout)
            guard let data = try fd.read(upTo: count - bytes.count).value else { continue }
            if data.isEmpty { break }
            bytes += data
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads until the server closes the connection; returns all of it as text.
    func receiveAll(timeout: Duration = .seconds(10)) throws -> String {
        var bytes: [UInt8] = []
        while true {
            try LoopbackClient.wait(for: .readable, on: fd, timeout: timeout)
            let outcome: IOOutcome<[UInt8]>
            do {
                outcome = try fd.read(upTo: 65_536)
            } catch let error as SystemError where error.errno == .connectionReset {
                break // a server that closes with unread bytes resets: what came before counts
            }
            guard let data = outcome.value else { continue }
            if data.isEmpty { break }
            bytes += data
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// `count` HTTP requests at once, each on its own connection (no keep-alive):
/// all connect, all send, then every answer is read until its connection
/// closes. Returns the answers, in connection order.
func concurrentRequests(port: UInt16, count: Int, timeout: Duration = .seconds(30)) throws -> [String] {
    var descriptors: [Descriptor] = []
    defer { for fd in descriptors { try? OwnedDescriptor(adopting: fd).close() } }
    for _ in 0..<count {
        let client = try LoopbackClient(port: port)
        try client.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        descriptors.append(client.socket.release())
    }
    let selector = PollSelector<Int>()
    defer { selector.close() }
    for (index, fd) in descriptors.enumerated() { try selector.register(fd, interest: .readable, value: index) }
    var answers = Array(repeating: [UInt8](), count: count)
    let deadline = MonotonicInstant.now() + timeout
    while selector.count > 0 {
        let left = deadline - MonotonicInstant.now()
        guard left > .zero else { throw ChildProcessError(description: "\(selector.count) of \(count) answers still open after \(timeout)") }
        for event in try selector.select(timeout: left) {
            var finished = false
            do {
                if let data = try event.descriptor.read(upTo: 65_536).value {
                    answers[event.key.value] += data
                    finished = data.isEmpty
                }
            } catch {
                finished = true // ECONNRESET: the answer is what came before it
            }
            if finished { try selector.unregister(event.descriptor) }
        }
    }
    return answers.map { String(decoding: $0, as: UTF8.self) }
}

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

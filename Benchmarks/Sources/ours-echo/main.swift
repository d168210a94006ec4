// TCP echo server on this package's loop, in the callback style a user would
// write: a watcher on the listener accepts, a watcher per connection reads
// into one shared buffer and writes it straight back. A short write keeps the
// rest and waits for writable (never needed with 64-byte ping-pong, but the
// server stays correct).
//
//   ours-echo PORT
//
// Prints "READY port=P" once listening; exits 0 after the last connection
// closes, printing the echo servers' RESULT line (README, "Program interface").
import BenchKit
import EventLoop

#if canImport(Glibc)
import Glibc
#endif

let port = integerArguments(1, usage: "PORT")[0]

/// One accepted connection. Loop thread only.
final class Connection {
    let descriptor: Descriptor
    var watcher: IOWatcher?
    var pending: [UInt8] = []
    init(_ descriptor: Descriptor) { self.descriptor = descriptor }
}

/// The server's state. Loop thread only.
final class EchoServer {
    let loop: IOLoop
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
    var open = 0
    var served = 0
    var bytes = 0

    init(loop: IOLoop) { self.loop = loop }

    func accept(from listener: Descriptor) throws {
        while let socket = try listener.accept().take() {
            let connection = Connection(socket.release())
            try connection.descriptor.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            connection.watcher = try loop.watch(connection.descriptor) { [unowned self] events in
                try self.serve(connection, events)
            }
            open += 1
            served += 1
        }
    }

    func serve(_ connection: Connection, _ events: ReadyEvents) throws {
        if !connection.pending.isEmpty {
            let rest = connection.pending
            connection.pending = []
            try connection.watcher?.setInterest(.readable)
            try send(rest.withUnsafeBytes { $0 }, on: connection)
            return
        }
        let result: IOOutcome<Int>
        do { result = try connection.descriptor.read(into: buffer) } catch { return close(connection) }
        guard case .completed(let count) = result else { return } // spurious wake-up
        if count == 0 { return close(connection) }
        bytes += count
        try send(UnsafeRawBufferPointer(rebasing: buffer[..<count]), on: connection)
    }

    /// Writes all of `data`, or keeps what the socket refused and waits for writable.
    func send(_ data: UnsafeRawBufferPointer, on connection: Connection) throws {
        var offset = 0
        while offset < data.count {
            let result: IOOutcome<Int>
            do { result = try connection.descriptor.write(UnsafeRawBufferPointer(rebasing: data[offset...])) } catch {
                return close(connection)
            }
            guard case .completed(let n) = result else {
                connection.pending = Array(data[offset...])
                try connection.watcher?.setInterest(.writable)
                return
            }
            offset += n
        }
    }

    func close(_ connection: Connection) {
        connection.watcher?.cancel()
        try? OwnedDescriptor(adopting: connection.descriptor).close()
        open -= 1
        if open == 0 {
            emit(echoServerReport(connectionsServed: served, bytes: bytes))
            exit(0)
        }
    }
}

do {
    let loop = try IOLoop()
    let server = EchoServer(loop: loop)
    let listener = try Socket.listenTCP(on: SocketEndpoint(ip: "127.0.0.1", port: UInt16(port)), backlog: 1024).release()
    try loop.watch(listener) { _ in try server.accept(from: listener) }
    emit("READY port=\(port)")
    try loop.run()
} catch {
    fail("ours-echo: \(error)")
}

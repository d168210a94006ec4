// TCP echo server on this package's loop, in the callback style a user would
// write: a watcher on the listener accepts; each connection is an object that
// serves its own socket, and its watcher's closure captures it (so the loop's
// registration keeps the connection alive until the watcher is cancelled).
// A read goes into the server's one shared buffer and is written straight
// back. A short write keeps the rest and waits for writable (never needed
// with 64-byte ping-pong, but the server stays correct).
//
//   ours-echo PORT
//   BACKEND=epoll|poll|select|io_uring (default epoll): the loop's backend
//
// Prints "READY port=P" once listening; exits 0 after the last connection
// closes, printing the echo servers' RESULT line (README, "Program interface").
import BenchKit
import EventLoop

#if canImport(Glibc)
import Glibc
#endif

let port = integerArguments(1, usage: "PORT")[0]
let backend = environmentChoice("BACKEND", default: LoopBackend.epoll)

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
            let connection = Connection(socket.release(), server: self)
            try connection.descriptor.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            connection.watcher = try loop.watch(connection.descriptor) { events in try connection.serve(events) }
            open += 1
            served += 1
        }
    }

    /// A connection has closed.
    func closed() {
        open -= 1
        if open == 0 {
            emit(echoServerReport(connectionsServed: served, bytes: bytes))
            exit(0)
        }
    }
}

/// One accepted connection. Loop thread only.
final class Connection {
    let descriptor: Descriptor
    let server: EchoServer
    /// What a short write left, sent once the socket is writable again.
    var pending: [UInt8] = []
    var watcher: IOWatcher?

    init(_ descriptor: Descriptor, server: EchoServer) {
        self.descriptor = descriptor
        self.server = server
    }

    func serve(_ events: ReadyEvents) throws {
        if !pending.isEmpty {
            let rest = pending
            pending = []
            try watcher?.setInterest(.readable)
            try rest.withUnsafeBytes { (bytes) throws in try send(bytes) }
            return
        }
        let result: IOOutcome<Int>
        do { result = try descriptor.read(into: server.buffer) } catch { return close() }
        guard case .completed(let count) = result else { return } // spurious wake-up
        if count == 0 { return close() }
        server.bytes += count
        try send(UnsafeRawBufferPointer(rebasing: server.buffer[..<count]))
    }

    /// Writes all of `data`, or keeps what the socket refused and waits for writable.
    func send(_ data: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < data.count {
            let result: IOOutcome<Int>
            do { result = try descriptor.write(UnsafeRawBufferPointer(rebasing: data[offset...])) } catch { return close() }
            guard case .completed(let n) = result else {
                pending = Array(data[offset...])
                try watcher?.setInterest(.writable)
                return
            }
            offset += n
        }
    }

    func close() {
        watcher?.cancel() // the loop lets go of this connection once the callback returns
        watcher = nil
        try? OwnedDescriptor(adopting: descriptor).close()
        server.closed()
    }
}

do {
    let loop = try IOLoop(backend: backend)
    let server = EchoServer(loop: loop)
    let listener = try Socket.listenTCP(on: SocketEndpoint(ip: "127.0.0.1", port: UInt16(port)), backlog: 1024).release()
    try loop.watch(listener) { _ in try server.accept(from: listener) }
    emit("READY port=\(port)")
    try loop.run()
} catch {
    fail("ours-echo: \(error)")
}

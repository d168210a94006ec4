// blocking-echo-server: seed 000's first program, the blocking Python echo
// server (`s.accept()`, then `conn.recv(1024)` / `conn.sendall(data)` until the
// client leaves), in Swift on this package's System layer.
//
// What it shows: with blocking sockets a server serves one client at a time.
// While one client is connected, the others wait in line (the kernel queues
// their connections in the listen backlog). Run `echo-client` against it and
// compare with `echo-server`.
//
// Ctrl-C / SIGTERM: the main thread is blocked in accept or read, so a helper
// thread's IOLoop receives the signal (`BlockingInterrupt`) and shuts down the
// sockets, which wakes the blocked call; the server then exits 0.
import EventLoop
import ExampleSupport

let usage = """
    usage: blocking-echo-server [--host IP] [--port PORT] [--quiet]

    An echo server with blocking sockets that serves one client at a time (seed 000).
      --host IP     address to listen on (default 127.0.0.1, loopback only)
      --port PORT   port to listen on (default 8888; 0 picks a free one)
      --quiet       print only the first and last lines
      --help        print this help
    It prints `listening on HOST:PORT` first, then `connected by ADDRESS` and
    `closed ADDRESS` per client. Ctrl-C or SIGTERM stops it (exit status 0).
    """

runExample(name: "blocking-echo-server", usage: usage) { arguments in
    let host = try arguments.host()
    let port = try arguments.port(default: 8888)
    let quiet = try arguments.flag("--quiet")
    try arguments.finish()

    let interrupt = try BlockingInterrupt()
    defer { interrupt.finish() }
    let listener = try listenTCP(host: host, port: port)
    try listener.descriptor.setNonBlocking(false) // the seed's sockets block
    print("listening on \(try listener.descriptor.localAddress())")
    _ = interrupt.watch(listener.descriptor)

    var served = 0
    while interrupt.signal == nil {
        let connection: OwnedDescriptor
        do {
            // Blocks until a client comes; accept4 hands it over non-blocking, so turn that off.
            guard let accepted = try listener.descriptor.accept().take() else { continue }
            connection = accepted
        } catch where interrupt.signal != nil {
            break // the helper shut the listener down: accept failed on purpose
        }
        let peer = peerName(connection.descriptor)
        if !quiet { print("connected by \(peer)") }
        if interrupt.watch(connection.descriptor) {
            do {
                try echo(connection.descriptor)
            } catch {
                if interrupt.signal == nil && !quiet { print("\(peer): \(error)") } // ECONNRESET: the client left mid-echo
            }
            interrupt.unwatch(connection.descriptor)
        }
        try connection.close()
        served += 1
        if !quiet { print("closed \(peer)") }
    }
    interrupt.unwatch(listener.descriptor)
    try listener.close()
    print("stopped by \(interrupt.signal ?? "request"): served \(served) clients")
    return 0
}

/// The seed's inner loop: `recv(1024)` until the client leaves, `sendall` each piece back.
func echo(_ connection: Descriptor) throws {
    try connection.setNonBlocking(false)
    while let data = try connection.read(upTo: 1024).value, !data.isEmpty {
        try writeAll(data[...], to: connection)
    }
}

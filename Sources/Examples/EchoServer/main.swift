// echo-server: seed 003's program (also the second half of seed 000), the
// echo server from Python's `selectors` documentation, in Swift: the package's
// `DefaultSelector` (epoll) used directly, with each registration's value
// being the callback to run (Python's `key.data`), and the same loop:
//
//     events = sel.select()
//     for key, mask in events:
//         callback = key.data
//         callback(key.fileobj, mask)
//
// What it shows: one thread serves every client at once, because it only
// reads a socket that the selector says is ready. It prints the seed's
// "accepted / echoing / closing" lines (`--quiet` turns them off for load
// tests with `echo-client`).
//
// Ctrl-C / SIGTERM: a signalfd (`StopSignals`) is registered in the same
// selector, with a callback that ends the loop; the server closes every
// connection and exits 0.
import EventLoop
import ExampleSupport

let usage = """
    usage: echo-server [--host IP] [--port PORT] [--quiet]

    An echo server on the package's DefaultSelector, callbacks stored as registration values (seed 003).
      --host IP     address to listen on (default 127.0.0.1, loopback only)
      --port PORT   port to listen on (default 1234, as in the seed; 0 picks a free one)
      --quiet       no per-connection lines (for load tests)
      --help        print this help
    It prints `listening on HOST:PORT` first, then for each client `accepted fd N from ADDRESS`,
    `echoing "DATA" to fd N` and `closing fd N`. Ctrl-C or SIGTERM stops it (exit status 0).
    """

runExample(name: "echo-server", usage: usage) { arguments in
    let host = try arguments.host()
    let port = try arguments.port(default: 1234)
    let quiet = try arguments.flag("--quiet")
    try arguments.finish()

    let signals = try StopSignals()
    let listener = try listenTCP(host: host, port: port)
    print("listening on \(try listener.descriptor.localAddress())")
    let server = try EchoServer(listener: listener.descriptor, signals: signals, quiet: quiet)
    let stoppedBy = try server.run()
    let closed = try server.close()
    try listener.close()
    print("stopped by \(stoppedBy): closed \(closed) connections, echoed \(server.echoedBytes) bytes")
    return 0
}

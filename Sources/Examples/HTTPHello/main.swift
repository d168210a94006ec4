// http-hello: the server of seed 004's aiohttp pair, on this package's async
// streams, with a small HTTP/1.1 of its own instead of aiohttp:
//
//     app.router.add_get("/", indexhandle)       # answers the path, status 201
//     app.router.add_get("/{id}", handle)        # answers the id, status 200
//     web.run_app(app, host='0.0.0.0', port=9999)
//
// The HTTP it speaks, a small honest subset of RFC 9112:
// - the request line (origin-form targets only: `/path?query`), header
//   fields (read with `readLine` and a limit), and a body of `Content-Length`
//   bytes (read and dropped: no route takes one); no chunked bodies (501);
// - keep-alive: an HTTP/1.1 connection serves requests in turn until the
//   client sends `Connection: close` or closes, or stays idle for `--timeout`;
//   HTTP/1.0 connections close after one response;
// - every response has `Content-Length`; a refused request gets its status,
//   then the connection closes: 400 for a malformed request (bad request
//   line, header line, Host, Content-Length), 431 for a request line or
//   header field line over 8190 bytes or headers over 32 KiB or 100 fields,
//   413 for a body over `--max-body`, 505 for HTTP/2+, 501 for
//   Transfer-Encoding.
// Each connection is its own task (`StreamServer`): a client that sends
// garbage, stalls, or leaves part-way through affects nobody else.
//
// Files: RequestParser.swift (reading a request), ResponseWriter.swift
// (writing a response, closing), Routes.swift (the seed's two routes),
// ConnectionHandler.swift (one connection, and the log); the message head
// reader is shared with http-get (HTTPHead).
//
// Ctrl-C / SIGTERM: the loop's `onSignal` handler closes the connections
// waiting for a request (idle kept-alive ones) and calls
// `server.shutdown(gracePeriod: 1 s)`: no new connections, requests in
// progress get a second, then the rest are cancelled; exit status 0.
import EventLoop
import ExampleSupport

let usage = """
    usage: http-hello [--host IP] [--port PORT] [--max-body BYTES] [--timeout DURATION] [--loops N] [--backend NAME] [--quiet]

    Seed 004's aiohttp server on the async/await streams: GET / answers the path with status 201,
    GET /{id} answers the id with status 200. HTTP/1.1 with keep-alive, a small subset (see the source).
      --host IP            address to listen on (default 127.0.0.1, loopback only)
      --port PORT          port to listen on (default 9999, the seed's; 0 picks a free one)
      --max-body BYTES     largest request body accepted, e.g. 64K (default 1M); more is 413
      --timeout DURATION   time for a request to arrive, and for an idle connection to stay (default 10s)
      --loops N            serve on a group of N loops, one thread each (default 1)
      --backend NAME       the loops' backend: epoll (default), poll, select or io_uring
      --quiet              no access log lines
      --help               print this help
    It prints `listening on HOST:PORT` first, then a line per request: `127.0.0.1:50826 "GET /42 HTTP/1.1" 200 2`.
    Ctrl-C or SIGTERM stops it (exit status 0).
    """

runExample(name: "http-hello", usage: usage) { arguments in
    let host = try arguments.host()
    let port = try arguments.port(default: 9999)
    let maxBody = try arguments.byteCount("--max-body", default: 1 << 20, in: 0...(1 << 30))
    let timeout = try arguments.duration("--timeout", default: .seconds(10), in: .milliseconds(10)...(.seconds(3_600)))
    let quiet = try arguments.flag("--quiet")
    let loops = try arguments.integer("--loops", default: 1, in: 1...1_024)
    let backend = try arguments.backend()
    try arguments.finish()

    let limits = RequestLimits(body: maxBody, timeout: timeout)
    let log = AccessLog(quiet: quiet)
    let waiting = WaitingConnections()
    let signal = try serveUntilStopped(
        host: host, port: port, loops: loops, backend: backend, gracePeriod: .seconds(1), beforeStop: { waiting.closeAll(on: $0) }
    ) { connection in
        await serveHTTP(connection, limits: limits, log: log, waiting: waiting)
    }
    let totals = log.totals
    print("stopped by \(signal): \(counted(totals.answered, "request")) answered, \(totals.refused) refused, "
          + "on \(counted(totals.connections, "connection"))")
    return 0
}

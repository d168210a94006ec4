// io-models: seed 002's programs, the I/O models of Linux side by side. The
// same tiny HTTP server (it answers `<h1>Web Server Test</h1>`) written once
// per model, each in the shape the seed gives it:
//
//   blocking      one connection at a time, blocking accept and read
//   busy-poll     non-blocking sockets kept in a list and tried in turn, with a short sleep
//   select        the fd_set API (`FDSet.select`): the kernel scans a bitmap; descriptors >= 1024 refused
//   poll          `PollSelector`: no descriptor limit, still a scan of every descriptor
//   epoll-level   `Epoll` itself, level-triggered: read once per report
//   epoll-edge    `Epoll`, edge-triggered: accept and read until `.wouldBlock`
//   loop          `IOLoop` watchers: the same thing with the loop doing the dispatch
//   async         async/await (seed 004's asyncio server): a `StreamServer` task per
//                 connection on the loop's executor; code that reads like model 1
//
// Also `io-models reply-server`, the seed's request/reply server on a selector
// (it re-registers each connection for reading, then writing, and answers "ok"),
// `io-models triggers`, a self-contained look at level versus edge triggering,
// and `io-models load`, the load test: many requests at once, on one IOLoop.
//
// Ctrl-C / SIGTERM: the loop model uses `loop.onSignal`, and so does the
// async model, whose handler shuts its `StreamServer` down; the select, poll,
// epoll and reply-server models watch a signalfd beside their sockets
// (`StopSignals`); busy-poll tries the signalfd on every pass like its
// sockets; blocking uses `BlockingInterrupt`. Each exits 0.
import EventLoop
import ExampleSupport

let usage = """
    usage: io-models --model MODEL [--host IP] [--port PORT] [--quiet] [--reserve-descriptors N] [--interval DURATION] [--loops N]
                     [--backend NAME]
           io-models reply-server [--host IP] [--port PORT]
           io-models triggers
           io-models load [--host IP] [--port PORT] [--requests N] [--timeout DURATION] [--backend NAME]

    Seed 002's I/O models, each serving the same tiny HTTP page ("Web Server Test").
      --model MODEL              blocking, busy-poll, select, poll, epoll-level, epoll-edge, loop or async
      --host IP                  address to listen on (default 127.0.0.1, loopback only)
      --port PORT                port to listen on (default 8080, the seed's; 0 picks a free one)
      --quiet                    no per-connection lines (for load tests)
      --reserve-descriptors N    hold N extra descriptors first, so connections get numbers past
                                 FD_SETSIZE (1024): select refuses them, the other models do not mind
      --interval DURATION        busy-poll's pause between passes (default 10ms, the seed's 0.01 s)
      --loops N                  async only: serve on a group of N loops, one thread each (default 1)
      --backend NAME             loop and async only: the loop's backend, epoll (default), poll, select or io_uring
    reply-server: the seed's request/reply server: each connection is re-registered for reading,
      then for writing, and every message is answered with "ok" (--host, --port as above).
    triggers: level versus edge triggering on one socket pair: the peer writes 3 KB, the handler
      reads 1 KB per report; level reports three times, edge once unless the handler drains.
    load: N requests at once (default 100), each on its own connection, against any of the models;
      prints how many were answered (exit status 1 unless all were). --timeout: default 30 s.
      --backend: the load generator's loop, as above.
    Each server prints `listening on HOST:PORT` first. Ctrl-C or SIGTERM stops it (exit status 0).
    """

runExample(name: "io-models", usage: usage) { arguments in
    switch arguments.subcommand() {
    case nil:
        guard let model = try arguments.value("--model").map({ text throws(UsageError) in
            guard let model = ServerModel(rawValue: text) else {
                throw UsageError("--model \(text): expected one of " + ServerModel.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return model
        }) else {
            try arguments.finish()
            throw UsageError("--model is required: one of " + ServerModel.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let host = try arguments.host()
        let port = try arguments.port(default: 8080)
        let quiet = try arguments.flag("--quiet")
        let reserve = try arguments.integer("--reserve-descriptors", default: 0, in: 0...100_000)
        let interval = try arguments.duration("--interval", default: .milliseconds(10), in: .zero...(.seconds(1)))
        let loops = try arguments.integer("--loops", default: 1, in: 1...1_024)
        let backend = try arguments.backend()
        try arguments.finish()
        if loops > 1 && model != .async { throw UsageError("--loops \(loops): only --model async serves on a group of loops") }
        if backend != .epoll && model != .loop && model != .async {
            throw UsageError("--backend \(backend): only --model loop and --model async run on a loop")
        }
        let context = ServeContext(log: ModelLog(quiet: quiet), reserve: reserve, interval: interval, loops: loops, backend: backend)
        let stoppedBy = try model.serve(host: host, port: port, context)
        context.releaseReserved()
        print("stopped by \(stoppedBy): \(context.log.answered) requests answered")
        return 0
    case "reply-server":
        let host = try arguments.host()
        let port = try arguments.port(default: 8080)
        try arguments.finish()
        return try runReplyServer(host: host, port: port)
    case "triggers":
        try arguments.finish()
        return try runTriggers()
    case "load":
        let host = try arguments.host()
        let port = try arguments.port(default: 8080)
        let requests = try arguments.integer("--requests", default: 100, in: 1...10_000)
        let timeout = try arguments.duration("--timeout", default: .seconds(30), in: .milliseconds(1)...(.seconds(3_600)))
        let backend = try arguments.backend()
        try arguments.finish()
        return try runLoad(endpoint: SocketEndpoint(ip: host, port: port), count: requests, timeout: timeout, backend: backend)
    case let other?:
        throw UsageError("unknown command \(other): use --model MODEL, reply-server, triggers or load")
    }
}

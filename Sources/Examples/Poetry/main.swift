// poetry: seed 001's programs (Twisted's "poetry" introduction): three slow
// poetry servers, a blocking client that fetches from them one after another,
// and an asynchronous client that fetches from all three at once, twice: with
// callbacks on an IOLoop, and with async/await tasks on the loop's executor
// (seed 004's asyncio style).
//
// What it shows: each server sends its poem in small chunks with a delay
// between them, so a fetch is slow. The blocking client waits for each poem
// in turn and takes the sum of the three times; the loop client reads
// whichever socket is ready and takes about the time of the slowest server
// (the seed: 12 s versus 4 s; here a few seconds with the default flags).
//
//     poetry serve                          # three servers on 10000, 10001, 10002
//     poetry get --blocking                 # one server after another
//     poetry get --loop                     # all three at once, on an IOLoop
//     poetry get --async                    # all three at once, a task each on the loop's executor
//
// The servers and clients live in the SeedPrograms library, which the demo
// runs in-process.
//
// Ctrl-C / SIGTERM: `serve` and `get --loop` stop through `loop.onSignal`;
// `get --async` too, whose handler cancels the tasks (`SignalStop`);
// `get --blocking` through `BlockingInterrupt` (a helper thread's loop shuts
// the socket down, which wakes the blocked read). Each exits 0.
import EventLoop
import ExampleSupport
import SeedPrograms

let usage = """
    usage: poetry serve [--host IP] [--ports P1,P2,P3] [--poem FILE] [--chunk-size BYTES] [--delay DURATION] [--quiet] [--backend NAME]
           poetry get (--blocking | --loop | --async) [--host IP] [--ports P1,P2,P3] [--backend NAME]

    Three slow poetry servers and two clients for them (seed 001).
    serve: three servers in one process, on one IOLoop; each sends a poem in chunks, a delay apart.
      --host IP            address to listen on (default 127.0.0.1, loopback only)
      --ports P1,P2,P3     the three ports (default 10000,10001,10002; 0 picks a free one)
      --poem FILE          serve this text file from all three (default: three short poems)
      --chunk-size BYTES   bytes per chunk, 1...65536 (default 20)
      --delay DURATION     pause between chunks: 0.15, 150ms, 1s (default 150ms)
      --quiet              do not print each chunk sent
      --backend NAME       the loop's backend: epoll (default), poll, select or io_uring
      It prints `listening on HOST:PORT` for each server, then what it sends.
    get: fetch one poem from each port and print each chunk's arrival and the total time.
      --blocking           blocking sockets, one server after another (the seed's first client)
      --loop               non-blocking sockets watched on an IOLoop, all three at once
      --async              a task per server on the IOLoop's executor (async/await streams), all at once
      --host IP            the servers' address (default 127.0.0.1)
      --ports P1,P2,...    the servers' ports (default 10000,10001,10002)
      --backend NAME       --loop and --async: the loop's backend, as for serve (--blocking makes no loop)
    Ctrl-C or SIGTERM stops either (exit status 0).
    """

runExample(name: "poetry", usage: usage) { arguments in
    switch arguments.subcommand() {
    case "serve":
        let host = try arguments.host()
        let ports = try arguments.ports(default: [10000, 10001, 10002])
        let poemFile = try arguments.value("--poem")
        let chunkSize = try arguments.integer("--chunk-size", default: 20, in: 1...65_536)
        let delay = try arguments.duration("--delay", default: .milliseconds(150), in: .zero...(.seconds(60)))
        let quiet = try arguments.flag("--quiet")
        let backend = try arguments.backend()
        try arguments.finish()
        guard ports.count == 3 else { throw UsageError("--ports needs three ports, one per server") }
        let poems = try poemFile.map { text in Array(repeating: try readPoem(text), count: 3) } ?? defaultPoems
        return try serve(host: host, ports: ports, poems: poems, chunkSize: chunkSize, delay: delay, quiet: quiet, backend: backend)
    case "get":
        let host = try arguments.host()
        let ports = try arguments.ports(default: [10000, 10001, 10002])
        var modes: [FetchMode] = []
        for mode in FetchMode.allCases where try arguments.flag("--" + mode.rawValue) { modes.append(mode) }
        let backend = try arguments.backend()
        try arguments.finish()
        guard modes.count == 1, let mode = modes.first else {
            throw UsageError("get needs one of " + FetchMode.allCases.map { "--" + $0.rawValue }.joined(separator: ", "))
        }
        let endpoints = try ports.map { try SocketEndpoint(ip: host, port: $0) }
        let fetch = switch mode {
        case .blocking: try fetchBlocking(endpoints)
        case .loop: try fetchOnLoop(endpoints, backend: backend)
        case .async: try fetchOnExecutor(endpoints, backend: backend)
        }
        return fetch.report(mode: mode)
    case let other?:
        throw UsageError("unknown command \(other): use serve or get")
    case nil:
        try arguments.finish()
        throw UsageError("missing command: serve or get")
    }
}

/// `poetry get --async`: the tasks run on a new loop until all three are done
/// (`loop.run { }`, asyncio's `run_until_complete`).
func fetchOnExecutor(_ endpoints: [SocketEndpoint], backend: LoopBackend) throws -> Fetch {
    let loop = try IOLoop(backend: backend)
    let stop = try SignalStop(loop)
    let fetch = try loop.run { executor in await fetchAsync(endpoints, on: executor, stop: stop) }
    try loop.close()
    return fetch
}

// echo-client: seed 000's Go client (20 goroutines that each connect, send
// "hello" and read the reply), grown into a small load generator: N clients
// for M seconds against any echo server, all on one thread on this package's
// `IOLoop` (one watcher per client, not a thread or goroutine per client).
//
// What it shows: round trips per second and latency percentiles, and who got
// served. Against `blocking-echo-server` one client is answered and the rest
// wait in line (with `--reconnect` they take turns, and latency shows the
// queue); against `echo-server` every client is answered.
//
// Ctrl-C / SIGTERM: `loop.onSignal` stops the run early; the report is
// printed for the time that ran, and the exit status is 0.
import EventLoop
import ExampleSupport

let usage = """
    usage: echo-client [--host IP] [--port PORT] [--clients N] [--seconds DURATION]
                       [--message TEXT] [--reconnect] [--backend epoll|poll|select|io_uring]

    N concurrent echo clients for a while, on one IOLoop; reports round trips and latency (seed 000's Go client).
      --host IP            server address (default 127.0.0.1)
      --port PORT          server port (default 8888, the seed's)
      --clients N          concurrent clients, 1...5000 (default 10)
      --seconds DURATION   how long to run: 3, 500ms, 1.5s (default 3 s)
      --message TEXT       what each client sends, 1...4096 bytes (default "hello")
      --reconnect          a new connection for every round trip, as the Go client does
      --backend NAME       the loop's backend: epoll (default), poll, select or io_uring
      --help               print this help
    It prints the round trips and their rate, latency percentiles (p50, p90, p99, max) and how many
    clients were answered. Exit status 1 when no client could connect.
    """

runExample(name: "echo-client", usage: usage) { arguments in
    let host = try arguments.host()
    let port = try arguments.port(default: 8888)
    let clients = try arguments.integer("--clients", default: 10, in: 1...5_000)
    let duration = try arguments.duration("--seconds", default: .seconds(3), in: .milliseconds(10)...(.seconds(3_600)))
    let message = try arguments.value("--message", default: Array("hello".utf8), expected: "1...4096 bytes of text") {
        (1...4_096).contains($0.utf8.count) ? Array($0.utf8) : nil
    }
    let reconnect = try arguments.flag("--reconnect")
    let backend = try arguments.backend()
    try arguments.finish()

    let endpoint = try SocketEndpoint(ip: host, port: port)
    print("echo-client: \(clients) clients for \(formatSeconds(duration)) against \(endpoint), "
          + "\(message.count)-byte message, " + (reconnect ? "a new connection per round trip" : "one connection per client")
          + ", \(backend) loop")
    let run = try LoadRun(endpoint: endpoint, clients: clients, message: message, reconnect: reconnect, backend: backend)
    let report = try run.run(for: duration)
    report.print()
    if report.roundTrips == 0, let failure = report.firstFailure, report.answered == 0 {
        throw ExampleFailure("no client could connect: \(failure)")
    }
    return 0
}

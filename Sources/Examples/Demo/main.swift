// demo: the seeds' story in one process, on loopback, in a few seconds
// (`swift run demo`, the README's first command; no second terminal).
//
// 1. Seed 001: three slow poetry servers (SeedPrograms' `PoetryServer`, on
//    a thread's IOLoop), and the three clients one after another: blocking
//    (one server after another), loop (IOLoop watchers) and async (a task per
//    server on the loop's executor). Their times side by side: the concurrent
//    ones take about one server's time, the blocking one about the sum.
// 2. Seed 004: the asyncio echo server (a `StreamServer` running
//    `serveEcho`) and 100 clients at once on one loop, each checking that
//    every reply holds its own address and its own bytes.
// 3. The async loop's metrics, and that it has nothing left registered.
//
// Every step checks its own result; the exit status is 0 only when all did.
import EventLoop
import ExampleSupport
import SeedPrograms

let usage = """
    usage: demo [--backend NAME]

    The seeds' story in one process, on loopback, in a few seconds:
    three slow poetry servers fetched by a blocking, a loop and an async client (seed 001),
    then an async echo server and 100 concurrent clients (seed 004), then the loop's metrics.
      --backend NAME   every loop's backend: epoll (default), poll, select or io_uring
    Exit status 0 when every step checked out; 1, with the reasons, otherwise.
    """

let chunkSize = 20
let delay = Duration.milliseconds(150)
let echoClients = 100
let echoMessages = 10

runExample(name: "demo", usage: usage) { arguments in
    let backend = try arguments.backend()
    try arguments.finish()
    var problems: [String] = []
    print("The seeds' story, in one process on loopback.\n")

    // MARK: Seed 001: blocking versus concurrent
    let servers = try PoetryThread(poems: defaultPoems, chunkSize: chunkSize, delay: delay, backend: backend)
    let alone = defaultPoems.map { delay * (($0.count + chunkSize - 1) / chunkSize - 1) } // the first chunk goes at once
    let sum = alone.reduce(.zero, +)
    let slowest = alone.max() ?? .zero
    print("Seed 001: three slow poetry servers on a thread's IOLoop, at "
          + servers.endpoints.map(\.description).joined(separator: ", ") + ",")
    print("each sending its poem in \(chunkSize)-byte chunks \(Int(delay.seconds * 1_000)) ms apart: "
          + alone.map(formatSeconds).joined(separator: ", ") + " each alone, \(formatSeconds(sum)) one after another.\n")

    let blocking = try fetchBlocking(servers.endpoints, verbose: false, stopsOnSignals: false)
    let onLoop = try fetchOnLoop(servers.endpoints, verbose: false, stopsOnSignals: false, backend: backend)
    let loop = try IOLoop(backend: backend)
    let endpoints = servers.endpoints
    let onExecutor = try loop.run { executor in await fetchAsync(endpoints, verbose: false, on: executor) }
    servers.stop()

    let clients: [(FetchMode, String, Fetch)] = [
        (.blocking, "blocking reads, one server after another", blocking),
        (.loop, "IOLoop watchers, all three at once", onLoop),
        (.async, "a task per server on the loop's executor", onExecutor),
    ]
    print("  client     how it waits                               time      poems")
    for (mode, how, fetch) in clients {
        let right = fetch.poems.indices.filter { fetch.finished[$0] && fetch.poems[$0] == defaultPoems[$0] }.count
        print("  " + padded(mode.rawValue, 10) + " " + padded(how, 42) + " " + padded(formatSeconds(fetch.elapsed), 9)
              + " \(right) of 3 whole and right")
        problems += fetch.failures.map { "\(mode.rawValue) client: \($0)" }
        if right != 3 { problems.append("\(mode.rawValue) client: \(3 - right) of the 3 poems missing or wrong") }
    }
    for (mode, _, fetch) in clients.dropFirst() where fetch.elapsed > blocking.elapsed * 0.75 {
        problems.append("the \(mode.rawValue) client took \(formatSeconds(fetch.elapsed)), "
                        + "not well under the blocking client's \(formatSeconds(blocking.elapsed))")
    }
    print("\n  The concurrent clients take about one server's time (the slowest alone: \(formatSeconds(slowest)));")
    print("  the blocking client takes about the sum (\(formatSeconds(sum))).\n")

    // MARK: Seed 004: the asyncio echo server and 100 clients at once
    let round = try loop.run { executor in
        try await echoRound(clients: echoClients, messages: echoMessages, timeout: .seconds(20), on: executor)
    }
    print("Seed 004: the asyncio echo server (a StreamServer task per connection) and \(echoClients) clients at once,")
    print("on one IOLoop, each sending \(echoMessages) messages and checking every reply, \"('127.0.0.1', PORT) Your msg \" + its bytes:")
    print("  \(round.verified) of \(echoClients) clients got every reply right: \(round.replies) replies, "
          + "\(round.bytes) bytes echoed, in \(formatSeconds(round.elapsed))\n")
    problems += round.failures.prefix(5).map { "echo: \($0)" }
    if round.verified != echoClients { problems.append("echo: \(echoClients - round.verified) of \(echoClients) clients failed") }
    if round.replies != echoClients * echoMessages {
        problems.append("echo: the server sent \(round.replies) replies, not \(echoClients * echoMessages)")
    }

    // MARK: The loop's metrics
    let metrics = loop.metrics
    print("The async steps' IOLoop: \(metrics.iterations) iterations, waited \(formatSeconds(metrics.waiting)) in \(backend), "
          + "ran \(formatSeconds(metrics.running)); left registered: \(metrics.activeWatchers) watchers, \(metrics.activeTimers) timers.")
    if metrics.activeWatchers != 0 || metrics.activeTimers != 0 {
        problems.append("the loop still has \(metrics.activeWatchers) watchers and \(metrics.activeTimers) timers after the last step")
    }
    try loop.close()

    if problems.isEmpty {
        print("\ndemo: every step checked its own result.")
        return 0
    }
    for problem in problems { printError("demo: failed: \(problem)") }
    return 1
}

/// `text` padded with spaces to `width` characters.
func padded(_ text: String, _ width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - text.count))
}

import EventLoop
import ExampleSupport

/// How `poetry get` waits for its three servers.
public enum FetchMode: String, CaseIterable, Sendable {
    /// Blocking sockets, one server after another.
    case blocking
    /// Watchers on an `IOLoop`, all servers at once.
    case loop
    /// A task per server on the loop's executor, all at once (seed 004's style).
    case async
}

/// The lines a fetch prints as it goes: each chunk's arrival, like the seed's
/// `Task 1: got 4 bytes of poetry from 127.0.0.1:10000`, each end and each
/// failure, timed from the fetch's start. A value: the async client's tasks
/// each hold a copy.
public struct FetchLog: Sendable {
    /// The servers, in task order (task 1 fetches from the first).
    public let endpoints: [SocketEndpoint]
    /// When the fetch began: each line's time is counted from here.
    public let start: MonotonicInstant
    /// Prints nothing when false (the demo prints only the totals).
    public let verbose: Bool

    private func say(_ line: String) {
        if verbose { print("\(formatSeconds(MonotonicInstant.now() - start))  \(line)") }
    }

    func chunk(_ count: Int, task: Int) { say("task \(task + 1): got \(count) bytes of poetry from \(endpoints[task])") }
    func finished(_ task: Int, bytes: Int) { say("task \(task + 1) finished: \(bytes) bytes") }
    func failed(_ task: Int, _ error: any Error) { say("task \(task + 1) failed: \(error)") }
}

/// What a fetch got, and how it prints.
public struct Fetch: Sendable {
    /// The servers, the start, and the lines printed as the fetch goes.
    public let log: FetchLog
    /// Each server's poem, as far as it came.
    public internal(set) var poems: [[UInt8]]
    /// Whether each server's poem came to its end.
    public internal(set) var finished: [Bool]
    /// What went wrong, a line per task that failed.
    public internal(set) var failures: [String] = []
    /// The signal that cut the fetch short, if one did.
    public var stoppedBy: String?
    /// When the last poem ended (set by each client when it is done).
    public internal(set) var end: MonotonicInstant?

    /// A fetch from `endpoints` starting now; `verbose`: print each chunk's arrival.
    public init(_ endpoints: [SocketEndpoint], verbose: Bool = true) {
        log = FetchLog(endpoints: endpoints, start: .now(), verbose: verbose)
        poems = Array(repeating: [], count: endpoints.count)
        finished = Array(repeating: false, count: endpoints.count)
    }

    /// From the start to the end of the fetch (to now, while it runs).
    public var elapsed: Duration { (end ?? .now()) - log.start }

    mutating func received(_ bytes: [UInt8], from task: Int) {
        poems[task] += bytes
        log.chunk(bytes.count, task: task)
    }

    mutating func finish(_ task: Int) {
        finished[task] = true
        log.finished(task, bytes: poems[task].count)
    }

    mutating func fail(_ task: Int, _ error: any Error) {
        failures.append("task \(task + 1) (\(log.endpoints[task])): \(error)")
        log.failed(task, error)
    }

    mutating func done() { end = .now() }

    /// Prints the poems and the total time; returns the exit status.
    public func report(mode: FetchMode) -> Int32 {
        for (task, poem) in poems.enumerated() where finished[task] {
            print("\npoem \(task + 1), from \(log.endpoints[task]):")
            print(String(decoding: poem, as: UTF8.self), terminator: poem.last == 10 ? "" : "\n")
        }
        print("")
        if let stoppedBy { print("stopped by \(stoppedBy)") }
        let count = finished.filter { $0 }.count
        print("got \(count) poems in \(formatSeconds(elapsed)) (\(mode.rawValue))")
        for failure in failures { printError("poetry: error: \(failure)") }
        return failures.isEmpty ? 0 : 1
    }
}

/// `poetry get --blocking`: one server after another, each read blocking until
/// the poem ends. With `stopsOnSignals`, Ctrl-C and `SIGTERM` end it cleanly
/// (`BlockingInterrupt`); without, they keep their default action (the demo).
public func fetchBlocking(_ endpoints: [SocketEndpoint], verbose: Bool = true, stopsOnSignals: Bool = true) throws -> Fetch {
    var fetch = Fetch(endpoints, verbose: verbose)
    let interrupt = stopsOnSignals ? try BlockingInterrupt() : nil
    defer { interrupt?.finish() }
    for (task, endpoint) in endpoints.enumerated() where interrupt?.signal == nil {
        do {
            let socket = try connectBlocking(to: endpoint)
            if interrupt?.watch(socket.descriptor) ?? true {
                // The seed's `while True: data = sock.recv(...); if not data: break`.
                while let data = try socket.descriptor.read(upTo: 1_024).value, !data.isEmpty {
                    fetch.received(data, from: task)
                }
                interrupt?.unwatch(socket.descriptor)
                if interrupt?.signal == nil { fetch.finish(task) }
            }
            try socket.close()
        } catch {
            fetch.fail(task, error)
        }
    }
    fetch.stoppedBy = interrupt?.signal
    fetch.done()
    return fetch
}

/// `poetry get --loop`: all servers at once, one readable watcher each on an
/// `IOLoop` on `backend`. `stopsOnSignals`: as for `fetchBlocking`, through `loop.onSignal`.
public func fetchOnLoop(
    _ endpoints: [SocketEndpoint], verbose: Bool = true, stopsOnSignals: Bool = true, backend: LoopBackend = .epoll
) throws -> Fetch {
    var fetch = Fetch(endpoints, verbose: verbose)
    let loop = try IOLoop(backend: backend)
    if stopsOnSignals {
        try loop.stopOnSignals { fetch.stoppedBy = $0 }
    }
    var open: [Descriptor] = []
    var remaining = endpoints.count
    func done(_ watcher: IOWatcher?, _ fd: Descriptor) {
        watcher?.cancel()
        closeReleased(fd)
        open.removeAll { $0 == fd }
        remaining -= 1
        if remaining == 0 { loop.stop() }
    }
    for (task, endpoint) in endpoints.enumerated() {
        do {
            let fd = try Socket.connectTCP(to: endpoint).release() // closed by `done`
            open.append(fd)
            // Readable also reports a failed connect: the read then throws its error.
            var watcher: IOWatcher?
            watcher = try loop.watch(fd, interest: .readable) { _ in
                do {
                    while let data = try fd.read(upTo: 1_024).value { // drain what is there
                        if data.isEmpty {
                            fetch.finish(task)
                            done(watcher, fd)
                            return
                        }
                        fetch.received(data, from: task)
                    }
                } catch {
                    fetch.fail(task, error)
                    done(watcher, fd)
                }
            }
        } catch {
            fetch.fail(task, error)
            remaining -= 1
        }
    }
    if remaining > 0 { try loop.run() }
    for fd in open { closeReleased(fd) } // interrupted: what is still open
    try loop.close()
    fetch.done()
    return fetch
}

/// `poetry get --async`: one task per server on the loop's executor, each
/// the seed's `await reader.read(1024)` until the end; they run at once, so
/// the fetch takes about the slowest server's time. Call it inside
/// `loop.run { executor in ... }`. `stop`: Ctrl-C and `SIGTERM` cancel the
/// tasks (a cancelled read loses nothing and ends the task at once).
public func fetchAsync(_ endpoints: [SocketEndpoint], verbose: Bool = true, on executor: LoopExecutor, stop: SignalStop? = nil) async -> Fetch {
    var fetch = Fetch(endpoints, verbose: verbose)
    let log = fetch.log
    let tasks = endpoints.indices.map { task in
        Task(executorPreference: executor) { await fetchPoem(task, log: log, on: executor) }
    }
    stop?.onStop { for task in tasks { task.cancel() } }
    for (task, handle) in tasks.enumerated() {
        let outcome = await handle.value
        fetch.poems[task] = outcome.poem
        switch outcome.ending {
        case .finished: fetch.finished[task] = true
        case .failed(let error): fetch.failures.append("task \(task + 1) (\(endpoints[task])): \(error)")
        case .cancelled: break
        }
    }
    fetch.stoppedBy = stop?.signal
    fetch.done()
    return fetch
}

/// What one async fetch got, and how it ended.
private struct PoemOutcome: Sendable {
    enum Ending: Sendable {
        case finished
        case failed(String)
        case cancelled
    }

    var poem: [UInt8] = []
    var ending = Ending.finished
}

/// One task of `fetchAsync`: connect, then read until the server closes.
private func fetchPoem(_ task: Int, log: FetchLog, on executor: LoopExecutor) async -> PoemOutcome {
    var outcome = PoemOutcome()
    let endpoint = log.endpoints[task]
    do {
        let connection = try await StreamConnection.connect(host: endpoint.ip, port: endpoint.port, timeout: .seconds(10), on: executor)
        do {
            while case let data = try await connection.read(upTo: 1_024), !data.isEmpty {
                outcome.poem += data
                log.chunk(data.count, task: task)
            }
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
        log.finished(task, bytes: outcome.poem.count)
    } catch is CancellationError {
        outcome.ending = .cancelled
    } catch {
        log.failed(task, error)
        outcome.ending = .failed("\(error)")
    }
    return outcome
}

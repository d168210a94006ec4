import EventLoop
import ExampleSupport

/// What a fetch got, and how it prints.
struct Fetch {
    var endpoints: [SocketEndpoint]
    var poems: [[UInt8]]
    var finished: [Bool]
    var failures: [String] = []
    var stoppedBy: String?
    let start = MonotonicInstant.now()

    init(_ endpoints: [SocketEndpoint]) {
        self.endpoints = endpoints
        poems = Array(repeating: [], count: endpoints.count)
        finished = Array(repeating: false, count: endpoints.count)
    }

    /// Records a chunk and prints its arrival, like the seed's
    /// `Task 1: got 4 bytes of poetry from 127.0.0.1:10000`.
    mutating func received(_ bytes: [UInt8], from task: Int) {
        poems[task] += bytes
        print("\(formatSeconds(MonotonicInstant.now() - start))  task \(task + 1): got \(bytes.count) bytes of poetry from \(endpoints[task])")
    }

    mutating func finish(_ task: Int) {
        finished[task] = true
        print("\(formatSeconds(MonotonicInstant.now() - start))  task \(task + 1) finished: \(poems[task].count) bytes")
    }

    mutating func fail(_ task: Int, _ error: any Error) {
        failures.append("task \(task + 1) (\(endpoints[task])): \(error)")
        print("\(formatSeconds(MonotonicInstant.now() - start))  task \(task + 1) failed: \(error)")
    }

    /// Prints the poems and the total time; returns the exit status.
    func report(mode: FetchMode) -> Int32 {
        let elapsed = MonotonicInstant.now() - start
        for (task, poem) in poems.enumerated() where finished[task] {
            print("\npoem \(task + 1), from \(endpoints[task]):")
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

/// `poetry get --blocking`: one server after another, each read blocking until the poem ends.
func fetchBlocking(_ endpoints: [SocketEndpoint]) throws -> Fetch {
    var fetch = Fetch(endpoints)
    let interrupt = try BlockingInterrupt()
    defer { interrupt.finish() }
    for (task, endpoint) in endpoints.enumerated() where interrupt.signal == nil {
        do {
            let socket = try connectBlocking(to: endpoint)
            if interrupt.watch(socket.descriptor) {
                // The seed's `while True: data = sock.recv(...); if not data: break`.
                while let data = try socket.descriptor.read(upTo: 1_024).value, !data.isEmpty {
                    fetch.received(data, from: task)
                }
                interrupt.unwatch(socket.descriptor)
                if interrupt.signal == nil { fetch.finish(task) }
            }
            try socket.close()
        } catch {
            fetch.fail(task, error)
        }
    }
    fetch.stoppedBy = interrupt.signal
    return fetch
}

/// `poetry get --loop`: all servers at once, one readable watcher each on an `IOLoop`.
func fetchOnLoop(_ endpoints: [SocketEndpoint]) throws -> Fetch {
    var fetch = Fetch(endpoints)
    let loop = try IOLoop()
    for signal in stopSignals {
        try loop.onSignal(signal) { info in
            fetch.stoppedBy = signalName(info.signal)
            loop.stop()
        }
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
    return fetch
}

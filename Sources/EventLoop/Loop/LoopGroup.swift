import Synchronization

/// Several `IOLoop`s, each on a `LoopThread` of its own: one per core by
/// default, as SwiftNIO's `MultiThreadedEventLoopGroup` and tokio's
/// multi-thread runtime give.
///
/// - Pick a loop with `next()` (round robin), `executor(forKey:)` (the same
///   key, the same loop, for the life of the process), or by index
///   (`threads[i]`). Work goes to a chosen loop as a task
///   (`Task(executorPreference: group.next())`), an actor's executor, or a
///   closure (`threads[i].handle.submit`, `threads[i].perform`); an async call
///   from a task on one loop to an actor on another hops through the target
///   loop's submission queue, like any cross-thread job.
/// - `StreamServer.listening(host:port:on:balancing:...)` spreads a server's
///   connections over the loops; each connection lives on one loop.
/// - `shutdown(gracePeriod:)` (async) or `shutdownAndWait(gracePeriod:)`
///   (blocking), from any thread, any number of times: the servers made on
///   the group stop accepting first (on every loop, before any listener
///   closes), then every loop is shut down as `LoopThread` describes, all at
///   once; every call returns when all are closed. `shutdownOnSignals` turns
///   Ctrl-C (or any signal) into that shutdown, handled once for the group.
/// - Dropped without a shutdown (the last reference released), the group
///   shuts every loop down with no grace period and does not wait: the
///   loops' threads end on their own; tasks still on them see their waits
///   throw.
///
/// Any thread: `Sendable`.
public final class LoopGroup: Sendable {
    /// The loops' threads, in order (index `i` is loop `i`).
    public let threads: [LoopThread]
    private let turn = Atomic<Int>(0)
    /// Connections each loop serves for the group's servers (the balancing's load).
    let loads: [LoopLoad]
    private let servers = LockedState<[ObjectIdentifier: StreamServer]>([:])
    private let stopping = Atomic<Bool>(false)

    /// Starts `loopCount` loops (default: one per CPU this process may run
    /// on, from `sched_getaffinity(2)`), each on a thread of its own named
    /// `name-<index>`, on `backend`; with `pinningThreads`, loop `i` is pinned
    /// to the `i`-th allowed CPU (modulo their count). Returns once every
    /// loop exists.
    /// - Throws: `ArgumentError` for a count below 1 or above 4,096;
    ///   `SystemError` when a thread cannot start (`EAGAIN`: more threads than
    ///   the process may have) or a loop cannot be made (`EMFILE`): the loops
    ///   already started are shut down first, so nothing is left running.
    public init(loopCount: Int? = nil, backend: LoopBackend = .epoll, pinningThreads: Bool = false, name: String = "IOLoop") throws {
        let count = try loopCount ?? OSThread.availableProcessorCount()
        try ArgumentError.checkCount(count, "loopCount", in: "LoopGroup.init", minimum: 1)
        if count > 4_096 {
            throw ArgumentError("LoopGroup.init", argument: "loopCount \(count)", requirement: "must be at most 4,096 (a loop per core)")
        }
        let processors = pinningThreads ? try OSThread.allowedProcessors() : []
        var started: [LoopThread] = []
        do {
            for index in 0..<count {
                let processor = processors.isEmpty ? nil : processors[index % processors.count]
                started.append(try LoopThread(name: "\(name)-\(index)", backend: backend, processor: processor))
            }
        } catch {
            for thread in started { thread.handle.stop() }
            for thread in started { try? thread.shutdownAndWait() } // never on their own threads: they were just made
            throw error
        }
        threads = started
        loads = started.map { _ in LoopLoad() }
    }

    /// How many loops the group has.
    public var count: Int { threads.count }

    /// The loops' executors, in order.
    public var executors: [LoopExecutor] { threads.map(\.executor) }

    /// The next loop's executor, round robin. Any thread.
    public func next() -> LoopExecutor {
        let index = turn.wrappingAdd(1, ordering: .relaxed).oldValue
        return threads[Int(UInt(bitPattern: index) % UInt(threads.count))].executor
    }

    /// The executor of the loop that `key` maps to: the same key, the same
    /// loop, for as long as the process runs (Swift's hashes are seeded per
    /// process). For keeping one client's work on one loop.
    public func executor(forKey key: some Hashable) -> LoopExecutor {
        threads[Int(UInt(bitPattern: key.hashValue) % UInt(threads.count))].executor
    }

    /// The index of the loop serving the fewest of the group's connections
    /// (ties: the first from a rotating start, so equal loads spread).
    func leastLoadedIndex() -> Int {
        let start = Int(UInt(bitPattern: turn.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(threads.count))
        var best = start
        var bestLoad = loads[start].connections
        for step in 1..<max(threads.count, 1) {
            let index = (start + step) % threads.count
            let load = loads[index].connections
            if load < bestLoad { best = index; bestLoad = load }
        }
        return best
    }

    /// Whether `shutdown` has begun.
    public var isShuttingDown: Bool { stopping.load(ordering: .relaxed) }

    /// Shuts the group down (see the type) and returns once every loop is
    /// closed. From any task, one on the group's own loops included (see
    /// `LoopThread.shutdown`).
    /// - Parameter gracePeriod: how long handlers and other tasks get to
    ///   finish; the first call's counts.
    public func shutdown(gracePeriod: Duration = .seconds(10)) async {
        beginShutdown(gracePeriod)
        for thread in threads { await thread.shutdown(gracePeriod: gracePeriod) }
    }

    /// Shuts the group down (see the type) and blocks until every loop is
    /// closed: for a program's main thread.
    /// - Throws: `LoopError.waitsForItself` on one of the group's own loop
    ///   threads (the shutdown is requested there, not awaited).
    public func shutdownAndWait(gracePeriod: Duration = .seconds(10)) throws {
        beginShutdown(gracePeriod)
        if threads.contains(where: { $0.executor.isOnLoopThread }) {
            for thread in threads { try? thread.shutdownAndWait(gracePeriod: gracePeriod) }
            throw LoopError.waitsForItself
        }
        for thread in threads { try thread.shutdownAndWait(gracePeriod: gracePeriod) }
    }

    /// First: every server stops accepting, everywhere, before any loop
    /// begins to close. Then every loop is asked to shut down.
    func beginShutdown(_ gracePeriod: Duration) {
        let first = !stopping.exchange(true, ordering: .acquiringAndReleasing)
        if first {
            let all = servers.withLock { Array($0.values) }
            for server in all { server.shutdown(gracePeriod: gracePeriod) }
        }
        // The loops' own requests keep the first grace period each.
        for thread in threads { thread.requestShutdown(gracePeriod: gracePeriod) }
    }

    /// Waits until every loop has closed (after a shutdown someone else asked
    /// for: a signal, another task). From any task.
    public func waitUntilShutDown() async {
        for thread in threads { await thread.waitUntilFinished() }
    }

    /// Blocks the calling thread until every loop has closed: a program's
    /// main thread, after starting its work on the group.
    /// - Throws: `LoopError.waitsForItself` on one of the group's own loop threads.
    public func wait() throws {
        if threads.contains(where: { $0.executor.isOnLoopThread }) { throw LoopError.waitsForItself }
        for thread in threads { thread.waitUntilFinishedBlocking() }
    }

    /// Shuts the whole group down (`gracePeriod`) when one of `signals`
    /// arrives, handled once for the group, on its first loop (2 is SIGINT,
    /// Ctrl-C; 15 is SIGTERM). A second signal after that one does what the
    /// signal did before (the loop that handled it is closing): a second
    /// Ctrl-C ends a shutdown that takes too long, as in asyncio.
    /// - Throws: what `IOLoop.onSignal` throws (`LoopError.signalClaimedByAnotherLoop`
    ///   when another loop handles one of them, an invalid number), `LoopError.closed`.
    public func shutdownOnSignals(_ signals: [Int32] = [2, 15], gracePeriod: Duration = .seconds(10)) throws {
        let outcome = Mutex<(any Error)?>(nil)
        let done = BlockingLatch()
        let first = threads[0]
        let accepted = first.executor.perform { [weak self] loop in
            let installed = SignalSubscriptions()
            do {
                for signal in signals {
                    installed.list.append(try loop.onSignal(signal) { _ in
                        // The first signal starts the shutdown and hands the signals back:
                        // a second one does what it did before (Ctrl-C ends the process).
                        for subscription in installed.list { subscription.cancel() }
                        installed.list = []
                        self?.beginShutdown(gracePeriod)
                    })
                }
            } catch {
                for subscription in installed.list { subscription.cancel() }
                outcome.withLock { $0 = error }
            }
            done.open()
        }
        guard accepted else { throw LoopError.closed }
        if !first.executor.isOnLoopThread { done.wait() }
        if let error = outcome.withLock({ $0 }) { throw error }
    }

    /// Every loop's metrics, in order, and the group's connections per loop.
    public func metrics() async -> [LoopGroupMetrics] {
        var all: [LoopGroupMetrics] = []
        for (index, thread) in threads.enumerated() {
            all.append(LoopGroupMetrics(loop: await thread.metrics(), connections: loads[index].connections,
                                        connectionsServed: loads[index].served))
        }
        return all
    }

    /// A server made on the group: shut down with it.
    func adopt(_ server: StreamServer) -> Bool {
        servers.withLock { $0[ObjectIdentifier(server)] = server }
        if stopping.load(ordering: .acquiring) {
            servers.withLock { $0[ObjectIdentifier(server)] = nil }
            return false
        }
        return true
    }

    /// A server that has ended lets go of the group.
    func release(_ server: StreamServer) {
        _ = servers.withLock { $0.removeValue(forKey: ObjectIdentifier(server)) }
    }
}

/// The signal handlers `LoopGroup.shutdownOnSignals` installed, for the
/// first signal to take them all down. Its loop's thread only.
private final class SignalSubscriptions: @unchecked Sendable {
    var list: [SignalSubscription] = []
}

/// One loop's share of a group's connections. Any thread.
final class LoopLoad: Sendable {
    private let current = Atomic<Int>(0)
    private let total = Atomic<Int>(0)
    var connections: Int { current.load(ordering: .relaxed) }
    var served: Int { total.load(ordering: .relaxed) }
    func opened() {
        current.add(1, ordering: .relaxed)
        total.add(1, ordering: .relaxed)
    }
    func closed() { current.subtract(1, ordering: .relaxed) }
}

/// One loop of a `LoopGroup`: its own metrics and its share of the group's
/// servers' connections, so the balance shows.
public struct LoopGroupMetrics: Sendable, Equatable {
    /// The loop's own counts and times.
    public var loop: LoopMetrics
    /// Connections of the group's servers open on this loop now.
    public var connections: Int
    /// Connections of the group's servers this loop has served in all.
    public var connectionsServed: Int
}

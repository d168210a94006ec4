import Synchronization

/// A thread of its own that owns one `IOLoop`: it creates the loop on
/// itself, runs it until shut down, lets the work in flight end, and closes
/// it there (the loop never changes threads). The package's one thread type
/// for loops: `LoopGroup` is made of them, and the serving examples and the
/// tests use it too.
///
/// Reach the loop through `executor` (tasks, actors, the streams) and
/// `handle` (closures from any thread), or run a closure with the loop
/// itself on its thread with `perform(_:)`.
///
/// Ending: `shutdown(gracePeriod:)` (async) or `shutdownAndWait(gracePeriod:)`
/// (blocking), from any thread, as often as you like: the first call
/// decides the grace period, every call returns once the loop is closed and
/// the thread has finished its work. Shutting down stops the loop, lets the
/// tasks waiting on it finish for up to the grace period, cancels those
/// still waiting (as `IOLoop.run(_:)` does with the tasks it leaves behind)
/// and runs until they have ended, then closes the loop (its jobs still
/// queued go on elsewhere, their waits throwing `LoopError.closed`).
///
/// Dropped without a shutdown (the last reference to it released), a
/// `LoopThread` shuts its loop down with no grace period and does not wait:
/// the thread ends on its own. The thread is detached: it is never joined,
/// and "finished" means its loop is closed and it has nothing left to do.
///
/// Any thread: `Sendable`.
public final class LoopThread: Sendable {
    /// The loop's executor: `Task(executorPreference:)`, actors, the streams.
    public let executor: LoopExecutor
    /// The loop's handle: submit closures and stop it from any thread.
    public let handle: LoopHandle
    /// The thread's name (the kernel shows its first 15 bytes, e.g. in `top -H`).
    public let name: String
    /// The CPU the thread is pinned to, if it was asked to be.
    public let processor: Int?
    private let control: LoopThreadControl

    /// Starts a thread named `name`, pinned to CPU `processor` if given, that
    /// creates an `IOLoop` on `backend` and runs it; returns once the loop
    /// exists (the thread that calls this waits for that, briefly).
    /// - Throws: `SystemError` when the thread cannot start (`EAGAIN`: the
    ///   process may have no more threads) or cannot be pinned (`EINVAL`: a
    ///   CPU it may not use), or what `IOLoop.init` throws (`EMFILE`…);
    ///   nothing is left running then.
    public init(name: String = "IOLoop", backend: LoopBackend = .epoll, processor: Int? = nil) throws {
        let control = LoopThreadControl()
        let ready = BlockingLatch()
        let setUp = SetUpSlot()
        _ = try OSThread.start(name: name) {
            let loop: IOLoop
            do {
                if let processor { try OSThread.pinCurrentThread(to: processor) }
                loop = try IOLoop(backend: backend)
            } catch {
                setUp.result.withLock { $0 = .failure(error) }
                ready.open()
                return
            }
            setUp.result.withLock { $0 = .success((loop.executor, loop.handle)) }
            ready.open()
            control.serve(loop)
        }
        ready.wait()
        let (executor, handle) = try setUp.result.withLock { $0! }.get()
        self.executor = executor
        self.handle = handle
        self.name = name
        self.processor = processor
        self.control = control
    }

    deinit {
        // Dropped without a shutdown: no grace, and nobody to wait.
        control.requestShutdown(gracePeriod: .zero, handle: handle)
    }

    /// Runs `body` with the loop on its thread, after the work submitted
    /// before it (see `LoopHandle.submit(_:)`): for what needs the loop
    /// itself (watchers, timers, signals).
    /// - Throws: `LoopError.closed` once the loop has closed (`body` never runs).
    public func perform(_ body: @escaping @Sendable (IOLoop) -> Void) throws {
        guard executor.perform(body) else { throw LoopError.closed }
    }

    /// Asks for a shutdown without waiting for it (the first request's grace counts).
    func requestShutdown(gracePeriod: Duration) {
        control.requestShutdown(gracePeriod: gracePeriod, handle: handle)
    }

    /// Waits until the loop has closed (after a shutdown asked elsewhere).
    func waitUntilFinished() async { await control.waitUntilFinished() }

    /// Blocks until the loop has closed.
    func waitUntilFinishedBlocking() { control.finished.wait() }

    /// Whether the loop has been shut down and closed (its thread's work is done). Any thread.
    public var isFinished: Bool { control.isFinished }

    /// Shuts the loop down (see the type) and returns once it is closed.
    /// From any task, a task on this loop included: that task's own wait is
    /// then cancelled with the others, after the grace period, and it
    /// resumes on Swift's global executor once the loop has closed.
    /// - Parameter gracePeriod: how long the tasks waiting on the loop get to
    ///   finish before they are cancelled; the first call's counts.
    public func shutdown(gracePeriod: Duration = .zero) async {
        control.requestShutdown(gracePeriod: gracePeriod, handle: handle)
        await control.waitUntilFinished()
    }

    /// Shuts the loop down (see the type) and blocks the calling thread until
    /// it is closed: for a program's main thread.
    /// - Throws: `LoopError.waitsForItself` on the loop's own thread (it would
    ///   wait for itself forever: the shutdown is requested, not awaited; use
    ///   `shutdown(gracePeriod:)` there).
    public func shutdownAndWait(gracePeriod: Duration = .zero) throws {
        control.requestShutdown(gracePeriod: gracePeriod, handle: handle)
        if executor.isOnLoopThread { throw LoopError.waitsForItself }
        control.finished.wait()
    }

    /// The loop's metrics, read on its thread. After it has closed: the
    /// last counts it had (iterations and times; no watcher or timer is left).
    public func metrics() async -> LoopMetrics {
        if let last = control.lastMetrics { return last }
        let current: LoopMetrics? = await withCheckedContinuation { continuation in
            let sent = executor.perform { loop in continuation.resume(returning: loop.metrics) }
            if !sent { continuation.resume(returning: nil) }
        }
        if let current { return current }
        await control.waitUntilFinished() // closing now: its last counts come with the end
        return control.lastMetrics!
    }
}

/// Where a `LoopThread`'s thread leaves its loop's faces (or why it has none)
/// for the thread that started it. Written once before the latch opens.
private final class SetUpSlot: Sendable {
    let result = Mutex<Result<(LoopExecutor, LoopHandle), any Error>?>(nil)
}

/// What a `LoopThread` and its thread share: the shutdown request, and who
/// waits for the end. Any thread; `state` under its lock.
final class LoopThreadControl: Sendable {
    private struct State {
        var gracePeriod: Duration?
        var finished = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        var lastMetrics: LoopMetrics?
    }

    private let state = LockedState(State())
    /// Opened once the loop is closed.
    let finished = BlockingLatch()

    var isFinished: Bool { state.withLock { $0.finished } }
    var lastMetrics: LoopMetrics? { state.withLock { $0.lastMetrics } }

    /// Records the first request's grace period and stops the loop.
    func requestShutdown(gracePeriod: Duration, handle: LoopHandle) {
        let first = state.withLock { state -> Bool in
            guard state.gracePeriod == nil else { return false }
            state.gracePeriod = max(gracePeriod, .zero)
            return true
        }
        if first { handle.stop() }
    }

    private var requestedGrace: Duration? { state.withLock { $0.gracePeriod } }

    /// Suspends until the loop has closed.
    func waitUntilFinished() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.finished { return true }
                state.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// The thread's work: runs `loop` until a shutdown is requested, lets
    /// its tasks finish within the grace period, closes it. Loop thread.
    func serve(_ loop: IOLoop) {
        while requestedGrace == nil {
            do { try loop.run() } catch {
                // The selector failed: nothing more can run here. Shut down.
                printToStandardError("LoopThread: the loop stopped: \(error)")
                state.withLock { if $0.gracePeriod == nil { $0.gracePeriod = .zero } }
            }
        }
        do { try loop.finishTasks(within: requestedGrace ?? .zero) } catch {
            printToStandardError("LoopThread: while finishing its tasks: \(error)")
        }
        let metrics = loop.metrics
        // close(2) errors of the loop's own descriptors: they are released anyway.
        try? loop.close()
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.finished = true
            state.lastMetrics = metrics
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
        // Last: a thread blocked in `shutdownAndWait` or `wait()` may end the
        // process as soon as this opens, so nothing of this thread's is left to do.
        finished.open()
    }
}

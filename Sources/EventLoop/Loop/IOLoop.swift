/// A single-threaded event loop: I/O watchers, timers, a call-soon queue,
/// signals, and work submitted from other threads.
///
/// Thread confinement: a loop belongs to the thread that created it. The type
/// is not `Sendable`, so Swift 6 refuses to hand it to another thread; every
/// entry point also checks the thread and stops with a clear message if it is
/// wrong. Other threads talk to it through `handle` (an `LoopHandle`).
///
/// One iteration: wait in the selector (until the earliest timer, I/O, a
/// submission, or the timeout), read the clock once and cache it as `now`,
/// then run, in this order, the I/O callbacks of that wait, the timers due at
/// `now` (all collected before any runs), the call-soon closures queued before
/// the iteration, and the submitted closures. Work added by a callback for
/// "now" runs in the next iteration, so no callback can starve I/O.
///
/// A callback that throws does not stop the loop: the error goes to
/// `errorHandler` (by default printed to standard error).
public final class IOLoop {
    // Loop-thread state: the hot fields live in `state` (see `LoopState`).
    let state: UnsafeMutablePointer<LoopState>
    let selector: LoopSelector
    /// Cross-thread work, and the wake-up eventfd it owns.
    let submissions: SubmissionQueue
    let clock: LoopClock
    private let owner: ThreadIdentity
    /// The `FaultScript` active where the loop was made: applied while it runs.
    let faultScript: FaultScript?
    /// Shared with every handle this loop gives out.
    let token = LoopToken()
    /// The loop as a Swift executor, for tasks and actors (see `LoopExecutor`). Any thread.
    public let executor: LoopExecutor

    /// Whether `close()` has been called.
    public var isClosed: Bool { closed }

    /// Receives every error a callback throws. If it throws in turn, both
    /// errors are printed to standard error and the loop goes on.
    public var errorHandler: (any Error) throws -> Void {
        get { state.pointee.errorHandler }
        set { state.pointee.errorHandler = newValue }
    }

    /// A loop waiting in `backend` (epoll by default) and reading time from `clock`.
    ///
    /// The loop makes and owns its selector and its wake-up eventfd. A
    /// `FaultScript` active here is taken along and applied whenever the loop
    /// runs, on whichever thread runs it. Loop thread: the calling thread.
    /// - Throws: `SelectorError.system` or `SystemError` when the kernel
    ///   refuses a descriptor (`EMFILE`…); nothing is left open then.
    public init(backend: LoopBackend = .epoll, clock: LoopClock = .monotonic) throws {
        // The throwing steps come first, and each owner closes its own
        // descriptor as it goes away, so a failure leaves nothing open.
        faultScript = FaultScript.current
        selector = try LoopSelector(backend)
        submissions = try SubmissionQueue()
        executor = LoopExecutor(queue: submissions, token: token)
        state = .allocate(capacity: 1)
        state.initialize(to: LoopState())
        self.clock = clock
        owner = ThreadIdentity.current
        state.pointee.nowNanoseconds = clock.now()
        state.pointee.lastWakeNanoseconds = MonotonicInstant.now().nanoseconds
        if case .manual(let manual) = clock { manual.loop = self }
        token.attach(self)
        // If this throws, the instance is complete, so deinit runs and closes everything.
        try addWatcher(submissions.wakeDescriptor, interest: .readable, trigger: .level, isInternal: true) { [unowned self] _ in
            self.runSubmissions()
        }
    }

    deinit {
        try? close() // a deinit has nobody to report a close error to; every descriptor is closed anyway
        token.invalidate()
        state.pointee.timers.deallocate() // the heap's raw buffers; idempotent
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// A `Sendable` handle for other threads: submit work, stop the loop.
    public var handle: LoopHandle { LoopHandle(submissions) }

    /// The time cached at the start of this iteration's callbacks.
    public var now: MonotonicInstant { MonotonicInstant(nanoseconds: nowNanoseconds) }

    // MARK: - Running

    /// Runs iterations until `stop()` (from a callback, or from any thread
    /// through `handle`). A stop requested before `run()` makes it do one
    /// non-blocking iteration and return.
    /// - Throws: `LoopError.closed`, `.alreadyRunning` (from inside a callback), or a selector failure.
    public func run() throws {
        try enter()
        defer { isRunning = false }
        try FaultScript.applying(faultScript) {
            if consumeStop() {
                try iterate(timeout: 0)
                return
            }
            while !isClosed {
                try iterate(timeout: nil)
                if consumeStop() { return }
            }
        }
    }

    /// Runs one iteration, waiting at most `timeout` for something to happen
    /// (`nil`: until something does; zero: not at all). Timers due sooner
    /// shorten the wait.
    public func runOnce(timeout: Duration? = nil) throws {
        try enter()
        defer { isRunning = false }
        try FaultScript.applying(faultScript) {
            try iterate(timeout: timeout.map { max($0.nanosecondsRoundedUp, 0) })
        }
    }

    /// Asks `run()` to return after the current iteration. Loop thread; from
    /// another thread use `handle.stop()`.
    public func stop() {
        checkThread()
        stopRequested = true
    }

    /// Cancels every watcher, timer and signal handler, releases queued
    /// closures, and closes every descriptor the loop owns (the selector, its
    /// eventfd, its signal pipe). Descriptors you passed to `watch` stay
    /// open: they are yours. Afterwards every call throws `LoopError.closed`;
    /// closing twice is harmless. Callable from a callback: the loop returns after it.
    /// - Throws: the first error the kernel reports closing the loop's own
    ///   descriptors (each is closed anyway).
    public func close() throws {
        guard !closed else { return }
        checkThread()
        closed = true
        // Unregister before close; each watcher's closure is released as its
        // key goes, with the registry whole (closed loop: callbacks are refused).
        for fd in selector.descriptors { _ = try? selector.unregister(fd) } // closing the selector drops them anyway
        teardownSignals() // after the deregistration: it closes the signal pipe
        internalWatcherCount = 0
        waiters.failAll(LoopError.closed) // async waits end with an error; their tasks go on
        timers.removeAll()
        callSoonQueue.removeAll()
        if case .manual(let manual) = clock { manual.loop = nil }
        let selectorResult = Result { () throws(SelectorError) in try selector.close() }
        let eventFDResult = Result { () throws(SystemError) in try submissions.close() } // queued work is released unrun
        // Executor jobs still queued belong to tasks: they go on, elsewhere.
        var leftover = jobs
        jobs = []
        submissions.takeJobs(into: &leftover)
        for job in leftover { globalConcurrentExecutor.enqueue(ExecutorJob(job.job)) }
        try selectorResult.get()
        try eventFDResult.get()
    }

    /// Counts and timings, for monitoring.
    public var metrics: LoopMetrics {
        LoopMetrics(
            activeWatchers: closed ? 0 : selector.count - internalWatcherCount, activeTimers: timers.count,
            activeSignalHandlers: signals.handlerCount, pendingCallSoon: callSoonQueue.count,
            iterations: iterationCount, waiting: .nanoseconds(waitNanoseconds), running: .nanoseconds(runNanoseconds))
    }

    /// Queues `work` to run on the next iteration, after those queued before it.
    /// - Throws: `LoopError.closed`.
    public func callSoon(_ work: @escaping () throws -> Void) throws {
        checkThread()
        if isClosed { throw LoopError.closed }
        callSoonQueue.append(work)
    }

    // MARK: - The iteration

    private func enter() throws {
        checkThread()
        if isClosed { throw LoopError.closed }
        if isRunning { throw LoopError.alreadyRunning }
        isRunning = true
        submissions.loopThread.store(ThreadIdentity.current.rawValue, ordering: .relaxed)
    }

    private func consumeStop() -> Bool {
        let crossThread = submissions.stopRequested.exchange(false, ordering: .acquiringAndReleasing)
        defer { stopRequested = false }
        return stopRequested || crossThread
    }

    /// One iteration. `timeout`: nanoseconds, nil for no limit of the caller's own.
    private func iterate(timeout: Int64?) throws {
        let start = MonotonicInstant.now().nanoseconds
        runNanoseconds += start - lastWakeNanoseconds
        let wait = waitTimeout(callerTimeout: timeout, realNow: start)
        var woken = false
        try selector.selectEach(timeout: wait.map { .nanoseconds($0) }) { key, ready in
            if !woken {
                woken = true
                markWake(waitStart: start)
            }
            return dispatch(key, ready)
        }
        if !woken { markWake(waitStart: start) }
        if isClosed { return }
        fireDueTimers()
        if isClosed { return }
        runCallSoonBatch()
        if isClosed { return }
        runJobs()
    }

    /// The wait is over: account for it and cache `now`, before any callback runs.
    @inline(__always)
    private func markWake(waitStart: Int64) {
        let woke = MonotonicInstant.now().nanoseconds
        waitNanoseconds += woke - waitStart
        lastWakeNanoseconds = woke
        nowNanoseconds = clock.isManual ? clock.now() : woke
        iterationCount += 1
    }

    /// How long to wait: nothing when work is already queued, otherwise until
    /// the earliest timer or the caller's limit, whichever is sooner.
    private func waitTimeout(callerTimeout: Int64?, realNow: Int64) -> Int64? {
        if !callSoonQueue.isEmpty || !jobs.isEmpty || stopRequested || submissions.stopRequested.load(ordering: .relaxed) { return 0 }
        guard let next = timers.nextDeadline else { return callerTimeout }
        let untilTimer: Int64
        if clock.isManual {
            // Virtual time never passes by waiting: only a timer already due shortens the wait.
            guard next <= clock.now() else { return callerTimeout }
            untilTimer = 0
        } else {
            untilTimer = max(next &- realNow, 0)
        }
        return min(callerTimeout ?? untilTimer, untilTimer)
    }

    private func runCallSoonBatch() {
        guard !callSoonQueue.isEmpty else { return }
        var batch = callSoonQueue.takeBatch()
        for job in batch {
            invoke(job.run)
            if closed { break }
        }
        batch.removeAll(keepingCapacity: true)
        callSoonQueue.recycle(batch)
    }

    /// The wake-up watcher: drain the eventfd, then run everything submitted.
    private func runSubmissions() {
        // Drained before the take: a submission landing after the take finds
        // the queue empty and writes the eventfd again, so none is missed.
        submissions.drainWake()
        var batch = submissionBatch
        submissionBatch = []
        submissions.takeAll(into: &batch)
        for job in batch {
            job.run()
            if closed { break }
        }
        batch.removeAll(keepingCapacity: true)
        submissionBatch = batch
        if submissions.stopRequested.load(ordering: .relaxed) { stopRequested = true }
    }

    // MARK: - Helpers for the other files

    /// Runs a callback, sending what it throws to the error handler.
    @inline(__always)
    func invoke(_ body: () throws -> Void) {
        do { try body() } catch { report(error) }
    }

    func report(_ error: any Error) {
        do {
            try errorHandler(error)
        } catch let handlerError {
            printToStandardError("IOLoop: a callback threw: \(error); the error handler threw: \(handlerError)")
        }
    }

    @inline(__always)
    func checkThread() {
        precondition(owner == ThreadIdentity.current,
                     "IOLoop used off its own thread: a loop belongs to the thread that created it; use loop.handle from other threads")
    }

    @inline(__always)
    func refuseIfClosed() throws {
        checkThread()
        if isClosed { throw LoopError.closed }
    }

    /// Fresh time for computing a new deadline (the cached `now` may be stale by
    /// the callbacks' running time, and a timer must never fire early).
    @inline(__always)
    func freshNow() -> Int64 { clock.now() }
}

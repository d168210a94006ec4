/// A single-threaded event loop: I/O watchers, timers, a call-soon queue,
/// signals, and work submitted from other threads.
///
/// Thread confinement: one thread at a time. The type is not `Sendable`, so
/// Swift 6 lets a loop move to another thread only with its sole owner (a
/// task that resumes on another thread after an `await`, a value passed as
/// `sending`); a loop that is not running may be used, closed or released by
/// whichever thread now owns it. While a thread runs it (`run`, `runOnce`, or
/// a manual clock's `advance` firing timers), any use from another thread is
/// concurrent use, and the loop stops the process with a clear message
/// rather than corrupt itself. Other threads talk to it through `handle` (a
/// `LoopHandle`), from any thread, at any time.
///
/// One iteration: wait in the selector (until the earliest timer, I/O, a
/// submission, or the timeout), then, when the wait ends, read the clock once
/// and cache it as `now`, and take the iteration's work: the timers due at
/// `now` and the call-soon closures queued so far. Then run, in this order,
/// the I/O callbacks of that wait, those timers (deadline order, ties in
/// scheduling order), those call-soon closures (FIFO), and the closures
/// submitted from other threads that the wait found. Work a callback adds or
/// moves for "now" (call-soon, a timer due at once) runs in the next
/// iteration, so no callback can starve I/O; a timer cancelled or moved by an
/// earlier callback of the iteration does not run in it. The order is the
/// same on the real and on a manual clock.
///
/// `stop()` ends `run()` after the current iteration. A stop requested while
/// the loop is not running ends its next `run()` after one non-blocking
/// iteration, once (as in asyncio), and never cuts a `runOnce` wait short.
///
/// Durations: a zero or negative delay, timeout or manual-clock step means
/// zero; a repeat interval has no such meaning, so a non-positive one is
/// refused with `LoopError.invalidInterval`. Any duration, however large,
/// reaches the kernel saturated, never overflowed.
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
    /// The `FaultScript` active where the loop was made: applied while it runs.
    let faultScript: FaultScript?
    /// Shared with every handle this loop gives out.
    @usableFromInline let token = LoopToken()
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
    /// runs, on whichever thread runs it. The calling thread owns the loop,
    /// until it hands it on (see the type's thread confinement).
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
        state.pointee.nowNanoseconds = clock.now()
        state.pointee.lastWakeNanoseconds = MonotonicInstant.now().nanoseconds
        if case .manual(let manual) = clock { manual.loop = self }
        token.attach(self)
        // If this throws, the instance is complete, so deinit runs and closes everything.
        try addWatcher(submissions.wakeDescriptor, interest: .readable, trigger: .level, isInternal: true) { [unowned self] _ in
            self.takeSubmissions()
        }
    }

    deinit {
        // First: a deinit that the closures' release runs finds no loop through
        // its handles. Then close; a deinit has nobody to report a close error to.
        token.invalidate()
        try? close()
        state.pointee.timers.deallocate() // the heap's raw buffers; idempotent
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// A `Sendable` handle for other threads: submit work, stop the loop.
    public var handle: LoopHandle { LoopHandle(submissions) }

    /// The time cached when this iteration's wait ended (or, on a manual clock,
    /// by the last `advance` that fired timers): every callback of the
    /// iteration sees the same `now`, and a timer's callback sees a `now` at
    /// or after its deadline. Loop thread.
    public var now: MonotonicInstant { MonotonicInstant(nanoseconds: nowNanoseconds) }

    // MARK: - Running

    /// Runs iterations until `stop()` (from a callback, or from any thread
    /// through `handle`) or `close()`. A stop requested while the loop was not
    /// running makes this `run()` do one non-blocking iteration and return,
    /// and is then used up: the `run()` after it runs normally.
    /// - Throws: `LoopError.closed`, `.alreadyRunning` (from inside a callback), or a selector failure.
    public func run() throws {
        try enter()
        defer { leave() }
        try FaultScript.applying(faultScript) {
            if consumeStop() {
                try iterate(timeout: 0)
                _ = consumeStop() // a stop from that iteration's callbacks ends this same run
                return
            }
            while !closed {
                try iterate(timeout: nil)
                if consumeStop() { return }
            }
        }
    }

    /// Runs one iteration, waiting at most `timeout` for something to happen
    /// (`nil`: until something does; zero or negative: not at all). Timers due
    /// sooner and work already queued shorten the wait; nothing else does: a
    /// stop requested before the call is left for the next `run()`. A stop
    /// requested during the call (its iteration ends anyway) is used up.
    /// - Throws: `LoopError.closed`, `.alreadyRunning` (from inside a callback), or a selector failure.
    public func runOnce(timeout: Duration? = nil) throws {
        try enter()
        defer { leave() }
        let stoppedBefore = consumeStop()
        defer {
            _ = consumeStop()
            if stoppedBefore { stopRequested = true }
        }
        try FaultScript.applying(faultScript) {
            try iterate(timeout: timeout.map { max($0.nanosecondsRoundedUp, 0) })
        }
    }

    /// Asks `run()` to return after the current iteration; when the loop is not
    /// running, the next `run()` does one non-blocking iteration and returns.
    /// Repeated requests before that are one. Loop thread; from another
    /// thread use `handle.stop()`.
    public func stop() {
        checkThread()
        stopRequested = true
    }

    /// Cancels every watcher, timer and signal handler, releases queued
    /// closures, and closes every descriptor the loop owns (the selector, its
    /// eventfd, its signal pipe). Descriptors you passed to `watch` stay open: they
    /// are yours. Afterwards every call throws `LoopError.closed`, `metrics`
    /// counts nothing, and closing twice is harmless. Callable from a callback:
    /// the loop returns after it.
    ///
    /// The closures are released last, once the loop is closed and consistent:
    /// a `deinit` they run may use the loop and its handles (cancelling a timer
    /// is a no-op then; adding work throws `.closed`).
    /// - Throws: the first error the kernel reports closing the loop's own
    ///   descriptors (each is closed anyway).
    public func close() throws {
        guard !closed else { return }
        checkThread()
        closed = true
        // Every user closure is moved out to a local first and released at the end.
        let (droppedSubmissions, queuedJobs) = submissions.close() // the closures never run: the loop is gone
        let droppedSignalHandlers = signals.handled // keeps the handlers alive through the teardown
        // Unregister before close; the keys keep their watchers' closures until the end.
        var droppedWatchers: [SelectorKey<Watcher>] = []
        for fd in selector.descriptors {
            if let key = try? selector.unregister(fd) { droppedWatchers.append(key) } // closing the selector drops it anyway
        }
        teardownSignals() // after the deregistration: it closes the signal pipe
        internalWatcherCount = 0
        waiters.failAll(LoopError.closed) // async waits end with an error; their tasks go on
        var droppedTimers = TimerHeap()
        swap(&droppedTimers, &timers)
        let droppedCalls = callSoonQueue.takeAll()
        var droppedBatch: [SubmissionQueue.Job] = []
        swap(&droppedBatch, &submissionBatch)
        if case .manual(let manual) = clock { manual.loop = nil }
        // Executor jobs still queued belong to tasks: they go on, elsewhere.
        var leftover = jobs
        jobs = []
        leftover.append(contentsOf: queuedJobs)
        for job in leftover { globalConcurrentExecutor.enqueue(ExecutorJob(job.job)) }
        defer {
            withExtendedLifetime((droppedSubmissions, droppedSignalHandlers, droppedWatchers, droppedCalls, droppedBatch)) {}
            droppedTimers.deallocate() // releases the timers' closures
        }
        let selectorResult = Result { () throws(SelectorError) in try selector.close() }
        let eventFDResult = Result { () throws(SystemError) in try submissions.closeWakeUp() }
        try selectorResult.get()
        try eventFDResult.get()
    }

    /// Counts and timings, for monitoring. After `close()` every count is 0;
    /// the iterations and times run up to the close stay.
    public var metrics: LoopMetrics {
        LoopMetrics(
            activeWatchers: closed ? 0 : selector.count - internalWatcherCount, activeTimers: timers.liveCount,
            activeSignalHandlers: closed ? 0 : signals.handlerCount, pendingCallSoon: callSoonQueue.count,
            iterations: iterationCount, executorJobs: executorJobCount, waiting: .nanoseconds(waitNanoseconds), running: .nanoseconds(runNanoseconds))
    }

    /// Queues `work` to run on the next iteration, after the closures queued
    /// before it: never in the iteration that is running (so a callback that
    /// queues itself again does not starve I/O).
    /// - Throws: `LoopError.closed`.
    public func callSoon(_ work: @escaping () throws -> Void) throws {
        checkThread()
        if isClosed { throw LoopError.closed }
        callSoonQueue.append(work)
    }

    // MARK: - The iteration

    private func enter() throws {
        checkThread()
        if closed { throw LoopError.closed }
        if isRunning { throw LoopError.alreadyRunning }
        beginRunning()
    }

    private func leave() { endRunning() }

    /// Marks the loop running on this thread (for the thread check and for
    /// `handle.stop()`). Called only when it is not running.
    func beginRunning() {
        let (claimed, holder) = submissions.runner.compareExchange(
            expected: 0, desired: currentThreadIdentity(), ordering: .sequentiallyConsistent)
        if !claimed { concurrentUse(holder) }
        isRunning = true
        submissions.loopThread.store(ThreadIdentity.current.rawValue, ordering: .relaxed)
    }

    func endRunning() {
        isRunning = false
        submissions.runner.store(0, ordering: .releasing)
    }

    /// Takes the stop requests, from this thread and others, made so far.
    private func consumeStop() -> Bool {
        let crossThread = submissions.stopRequested.exchange(false, ordering: .sequentiallyConsistent)
        defer { stopRequested = false }
        return stopRequested || crossThread
    }

    /// One iteration. `timeout`: nanoseconds, nil for no limit of the caller's own.
    private func iterate(timeout: Int64?) throws {
        let start = MonotonicInstant.now().nanoseconds
        runNanoseconds += start - lastWakeNanoseconds
        let wait = waitTimeout(callerTimeout: timeout, realNow: start)
        let refusedTakes = submissionTakeRefusals
        var woken = false
        // Nothing throws once the wait has ended, so a begun iteration always finishes.
        try selector.selectEach(timeout: wait.map { .nanoseconds($0) }) { key, ready in
            if !woken {
                woken = true
                beginIteration(waitStart: start)
            }
            return dispatch(key, ready)
        }
        if !woken { beginIteration(waitStart: start) }
        // A take the queue's lock refused before the wait is tried again,
        // unless the wake-up watcher has just tried (and changed the count).
        if refusedTakes > 0 && submissionTakeRefusals == refusedTakes { takeSubmissions() }
        if closed { return }
        fireCollectedTimers()
        if closed { return }
        runCallSoonBatch()
        if closed { return }
        runSubmissionBatch()
        if closed { return }
        runJobs()
    }

    /// The wait is over: account for it, cache `now`, and take the iteration's
    /// timers and call-soon batch, before any callback runs.
    @inline(__always)
    private func beginIteration(waitStart: Int64) {
        let woke = MonotonicInstant.now().nanoseconds
        waitNanoseconds += woke - waitStart
        lastWakeNanoseconds = woke
        nowNanoseconds = clock.isManual ? clock.now() : woke
        iterationCount += 1
        collectDueTimers()
        callSoonQueue.beginBatch()
    }

    /// How long to wait: nothing when work is already queued, otherwise until
    /// the earliest timer or the caller's limit, whichever is sooner; and no
    /// longer than `takeRetryDelay` while submitted work waits for a take the
    /// queue's lock refused.
    private func waitTimeout(callerTimeout: Int64?, realNow: Int64) -> Int64? {
        if !callSoonQueue.isEmpty || !jobs.isEmpty { return 0 }
        var callerTimeout = callerTimeout
        if submissionTakeRefusals > 0 {
            let retry = Self.takeRetryDelay(afterRefusals: submissionTakeRefusals)
            callerTimeout = min(callerTimeout ?? retry, retry)
        }
        guard let next = timerWakeDeadline() else { return callerTimeout }
        let untilTimer: Int64
        if clock.isManual {
            // Virtual time never passes by waiting: only a timer already due shortens the wait.
            guard next <= clock.now() else { return callerTimeout }
            untilTimer = 0
        } else {
            // Saturating: a deadline however far in the past is due now, never a wrapped-around wait.
            let (difference, overflow) = next.subtractingReportingOverflow(realNow)
            untilTimer = overflow ? (next > realNow ? .max : 0) : max(difference, 0)
        }
        return min(callerTimeout ?? untilTimer, untilTimer)
    }

    private func runCallSoonBatch() {
        guard callSoonQueue.hasBatch else { return }
        var batch = callSoonQueue.takeBatch()
        for job in batch {
            invoke(job.run)
            if closed { break }
        }
        batch.removeAll(keepingCapacity: true) // the closures' release may run user code: the queue is consistent
        if !closed { callSoonQueue.recycle(batch) }
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

    /// Stops the process when another thread is running the loop: one atomic
    /// load, and a thread-identity read only while the loop runs.
    @inline(__always)
    func checkThread() {
        let runner = submissions.runner.load(ordering: .relaxed)
        if runner != 0 && runner != currentThreadIdentity() { concurrentUse(runner) }
    }

    private func concurrentUse(_ runner: UInt) -> Never {
        // fatalError, not preconditionFailure: the message stays in optimized builds.
        fatalError(
            "IOLoop used from two threads at once: thread \(runner) is running it and thread \(currentThreadIdentity()) "
                + "called it. A loop is used by one thread at a time; other threads use loop.handle")
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

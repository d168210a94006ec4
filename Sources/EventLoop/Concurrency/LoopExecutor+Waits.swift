import Synchronization

extension LoopExecutor {
    /// Runs `body` with the loop, on the loop thread: at once when called
    /// there, otherwise through the submission queue. False when the loop is
    /// closed or gone (then `body` never runs).
    @discardableResult
    func perform(_ body: @escaping @Sendable (IOLoop) -> Void) -> Bool {
        if queue.mayTouchLoop, let loop = token.loop {
            if loop.isClosed { return false }
            body(loop)
            return true
        }
        return queue.submit { [self] in
            // Runs on the loop thread, where the token may be read.
            guard let loop = token.loop, !loop.isClosed else { return }
            body(loop)
        }
    }

    /// Runs `body` on the loop thread with the loop as the task's executor
    /// preference, so its waits resume there too: at once when the calling
    /// task already prefers the loop (it is then on the loop thread, since a
    /// nonisolated async function runs on its task's preferred executor),
    /// otherwise through `withTaskExecutorPreference` (one hop there and back).
    @inline(__always)
    func onLoop<T>(_ body: () async throws -> T) async throws -> T {
        if queue.mayTouchLoop && currentTaskPrefersLoop { return try await body() }
        return try await withTaskExecutorPreference(self, isolation: nil) { try await body() }
    }

    /// Whether a caller with `isolation` (its `#isolation`), running on the
    /// loop thread, may wait for the loop right where it is, without a hop:
    /// its task prefers this loop, and it is nonisolated or an actor whose
    /// executor is the loop's serial face. A continuation resumes its task
    /// on the task's generic executor (its preferred one), and an actor's
    /// code then hops back to the actor: with the loop preferred, both steps
    /// stay on the loop thread. Anything else hops (`onLoop`): an actor of
    /// its own that the loop thread runs for a task preferring the loop, an
    /// actor on the serial face in a task that prefers nothing (its
    /// resumption would go through Swift's pool and the submission queue),
    /// a task started in place on the loop thread. The waits' cancellation
    /// handlers keep to the caller's isolation (`withCancellationHandlerInPlace`).
    /// Loop thread. The preference costs a look at the task's status records
    /// (under the task's lock): the fast paths that finish without waiting
    /// do not ask.
    @inline(__always)
    func waitsInPlace(_ isolation: (any Actor)?) -> Bool {
        guard currentTaskPrefersLoop else { return false }
        guard let isolation else { return true }
        return isolation.unownedExecutor.asSerialExecutor() === serialFace
    }

    /// Whether the running task's executor preference is this loop.
    private var currentTaskPrefersLoop: Bool {
        let face = asUnownedTaskExecutor()
        return withUnsafeCurrentTask { $0?.unownedTaskExecutor == face }
    }

    /// The loop, for a call made on its thread (or, once the loop has closed,
    /// on Swift's global executor, where `LoopJob.enqueue` sends the jobs a
    /// closed loop can no longer run).
    /// - Throws: `StreamError.closed` when the loop has closed or is gone.
    func loopForCall(_ operation: @autoclosure () -> String) throws -> IOLoop {
        if !queue.mayTouchLoop && queue.isClosed { throw StreamError(.closed, operation: operation() + ": the loop is closed") }
        precondition(queue.mayTouchLoop, "loop state touched off the loop thread")
        guard let loop = token.loop, !loop.isClosed else { throw StreamError(.closed, operation: operation() + ": the loop is closed") }
        return loop
    }

    /// Suspends the calling task until a wait that `arm` sets up on the loop
    /// thread finishes its `Waiter`. Cancellation (from any thread) reaches the
    /// loop and ends the wait with `CancellationError`, disarming it; closing
    /// the loop ends it with `LoopError.closed`. Resumed exactly once.
    func suspend<Value: Sendable>(
        _ arm: @escaping @Sendable (IOLoop, Waiter<Value>) throws -> Void
    ) async throws -> Value {
        try Task.checkCancellation()
        let waiter = Waiter<Value>()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                waiter.attach(continuation)
                let accepted = perform { loop in
                    loop.waiters.add(waiter)
                    do { try arm(loop, waiter) } catch { waiter.finish(.failure(error)) }
                }
                if !accepted { waiter.finish(.failure(LoopError.closed)) }
            }
        } onCancel: {
            perform { _ in waiter.cancel() }
        }
    }

    // MARK: - Time

    /// The loop's clock now: its `ManualClock`'s time in tests (read on the
    /// loop thread, where a manual clock lives), the monotonic clock otherwise.
    /// Any thread; off the loop thread, always the monotonic clock.
    public var now: MonotonicInstant {
        if queue.mayTouchLoop, let loop = token.loop { return MonotonicInstant(nanoseconds: loop.clock.now()) }
        return MonotonicInstant.now()
    }

    /// Suspends the calling task until `deadline` on the loop's clock, using
    /// the loop's timers (a `ManualClock` drives it in tests). A deadline that
    /// has passed resumes on the next iteration.
    /// - Throws: `CancellationError` when the task is cancelled (the timer is
    ///   cancelled with it), `LoopError.closed` when the loop closes first.
    public func sleep(until deadline: MonotonicInstant) async throws {
        try await suspend { (loop, waiter: Waiter<Void>) in
            let timer = try loop.schedule(at: deadline) { waiter.finish(.success(())) }
            waiter.arm { timer.cancel() }
        }
    }

    /// Suspends the calling task for `duration` (see `sleep(until:)`), measured
    /// from when the loop arms the timer; never shorter. A zero or negative
    /// duration yields to the loop for one iteration; a huge one saturates at
    /// `MonotonicInstant.distantFuture` (only cancellation ends it).
    public func sleep(for duration: Duration) async throws {
        try await suspend { (loop, waiter: Waiter<Void>) in
            let timer = try loop.schedule(after: duration) { waiter.finish(.success(())) }
            waiter.arm { timer.cancel() }
        }
    }

    /// Runs `body` and returns its value, or throws `DeadlineExceeded` once
    /// `duration` has passed on the loop's clock first; `body` is then
    /// cancelled, and this returns once it has ended (cooperative cancellation,
    /// as everywhere in Swift: the loop's waits end at once).
    ///
    /// The deadline is a `sleep(for: duration)`: a zero or negative duration
    /// has passed already, so `body` has until the loop's next timer phase
    /// (one iteration) and is cancelled then unless it has finished; a huge
    /// one saturates and never fires.
    ///
    /// Cost: one task for `body` (preferring this loop, with the caller's
    /// task-local values and priority), one loop timer that cancels it, and
    /// one suspension of the caller until it ends. Cancelling the caller
    /// cancels `body`.
    /// - Throws: `DeadlineExceeded`, what `body` throws, or `LoopError.closed`
    ///   when the loop closed before the deadline could be armed.
    public func withDeadline<T: Sendable>(
        after duration: Duration, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        if queue.isClosed { throw LoopError.closed }
        let race = DeadlineRace()
        let task = Task(executorPreference: self) { () async throws -> T in
            defer { race.bodyEnded() }
            return try await body()
        }
        if Task.isCancelled { task.cancel() } // as a child task would start
        // Held by the closure that arms the timer, then by the timer's: a
        // loop that closes drops whichever holds it last without running
        // it, and its end cancels the body (`LoopError.closed`).
        // The arming closure takes it out of its box when it runs: a closure
        // that ran may linger in the submission queue's storage, and must
        // not keep the guard alive after the timer has let it go.
        let pending = DeadlineClosedGuard.Box(DeadlineClosedGuard(race) { task.cancel() })
        let sent = perform { loop in
            let closedGuard = pending.take()
            guard !race.disarmed else { return } // the body ended first: nothing to arm
            race.timer = try? loop.schedule(after: duration) {
                _ = closedGuard
                if race.expire() { task.cancel() }
            }
        }
        if !sent, race.failToArm() { task.cancel() }
        let result = await withTaskCancellationHandler { await task.result } onCancel: {
            // The caller's cancellation came first: the body ends with it, whatever the timer does.
            race.cancel()
            task.cancel()
        }
        _ = perform { _ in race.disarm() }
        switch race.outcome {
        case .expired: throw DeadlineExceeded(duration: duration)
        case .notArmed: throw LoopError.closed
        case .running, .ended, .cancelled: return try result.get()
        }
    }

    // MARK: - Readiness

    /// Suspends the calling task until `descriptor` is ready for `interest`,
    /// and returns what it is ready for (hang-up and error included). The loop
    /// watches it for this one wait only (level-triggered: a descriptor
    /// already ready resumes on the next iteration).
    /// - Throws: `CancellationError` (the watcher is removed), `LoopError.closed`,
    ///   `LoopError.alreadyWatched` when the loop already watches it, or the
    ///   `SelectorError` the selector gave (a descriptor that is not open…).
    public func waitForReadiness(of descriptor: Descriptor, interest: Interest) async throws -> ReadyEvents {
        try await suspend { (loop, waiter: Waiter<ReadyEvents>) in
            let watcher = try loop.watch(descriptor, interest: interest) { events in waiter.finish(.success(events)) }
            waiter.arm { watcher.cancel() }
        }
    }

    /// `waitForReadiness(of:interest: .readable)`.
    public func waitUntilReadable(_ descriptor: Descriptor) async throws -> ReadyEvents {
        try await waitForReadiness(of: descriptor, interest: .readable)
    }

    /// `waitForReadiness(of:interest: .writable)`.
    public func waitUntilWritable(_ descriptor: Descriptor) async throws -> ReadyEvents {
        try await waitForReadiness(of: descriptor, interest: .writable)
    }
}

/// A body run by `LoopExecutor.withDeadline` did not finish in time.
public struct DeadlineExceeded: Error, Hashable, Sendable, CustomStringConvertible {
    /// The time it was given.
    public let duration: Duration

    /// The error for a body given `duration`.
    public init(duration: Duration) { self.duration = duration }

    /// Reads like `deadline of 0.5 seconds exceeded`.
    public var description: String { "deadline of \(duration) exceeded" }
}

/// Who ended `withDeadline`'s race first: the body, its timer, the
/// caller's cancellation, or a loop that could not arm the timer. The state is one atomic (the timer fires
/// on the loop thread, the body ends on any); `timer` is the loop thread's.
final class DeadlineRace: @unchecked Sendable {
    enum Outcome: UInt8, AtomicRepresentable { case running, ended, expired, notArmed, cancelled }
    private let state = Atomic<Outcome>(.running)
    /// The deadline's timer, once armed (loop thread only).
    var timer: TimerHandle?

    /// The body ended (returned or threw) before anything else.
    func bodyEnded() { _ = state.compareExchange(expected: .running, desired: .ended, ordering: .acquiringAndReleasing) }
    /// The deadline passed first: true when the body must be cancelled.
    func expire() -> Bool { state.compareExchange(expected: .running, desired: .expired, ordering: .acquiringAndReleasing).exchanged }
    /// The timer could not be armed (the loop closed): true when the body must be cancelled.
    func failToArm() -> Bool { state.compareExchange(expected: .running, desired: .notArmed, ordering: .acquiringAndReleasing).exchanged }
    /// The caller was cancelled before anything else ended the race.
    func cancel() { _ = state.compareExchange(expected: .running, desired: .cancelled, ordering: .acquiringAndReleasing) }
    var outcome: Outcome { state.load(ordering: .acquiring) }
    /// Loop thread: the race is over; a timer not armed yet never will be.
    private(set) var disarmed = false

    /// Loop thread: the timer goes (it may have fired).
    func disarm() {
        disarmed = true
        timer?.cancel()
        timer = nil
    }
}

/// Ends a `withDeadline` race as "the loop closed" when the closures that
/// arm and hold its timer are dropped without running: a loop that closes
/// drops its queued submissions and its timers. Once the race is over
/// (the body ended, the deadline passed, the caller was cancelled), its end
/// does nothing.
final class DeadlineClosedGuard: Sendable {
    private let race: DeadlineRace
    private let cancelBody: @Sendable () -> Void

    init(_ race: DeadlineRace, cancelBody: @escaping @Sendable () -> Void) {
        self.race = race
        self.cancelBody = cancelBody
    }

    deinit { if race.failToArm() { cancelBody() } }

    /// Holds a guard until the loop takes it (loop thread), or until the box
    /// is released with the closure that was to take it.
    final class Box: @unchecked Sendable {
        private var held: DeadlineClosedGuard?
        init(_ held: DeadlineClosedGuard) { self.held = held }
        func take() -> DeadlineClosedGuard? { held.take() }
    }
}

extension IOLoop {
    /// Runs `callback` once, `delay` from now: measured on a fresh clock read,
    /// so it never fires early; a zero or negative delay means now, which is
    /// the next iteration (never the one running: a callback cannot starve I/O
    /// with timers). Any duration is accepted: a huge one saturates at
    /// `MonotonicInstant.distantFuture`. Ties with timers already due at the
    /// same deadline come after them. Loop thread.
    /// - Throws: `LoopError.closed`.
    @discardableResult
    public func schedule(after delay: Duration, _ callback: @escaping () throws -> Void) throws -> TimerHandle {
        try refuseIfClosed()
        let deadline = MonotonicInstant(nanoseconds: freshNow()) + max(delay, .zero)
        return TimerHandle(id: timers.schedule(deadline: deadline.nanoseconds, interval: 0, .closure(callback)), token: token)
    }

    /// Runs `callback` once at `deadline` on the loop's clock. A deadline that
    /// has passed, however long ago, fires in the next timer phase: at once
    /// when the loop next runs, or in the next iteration when scheduled from a
    /// callback. Loop thread.
    /// - Throws: `LoopError.closed`.
    @discardableResult
    public func schedule(at deadline: MonotonicInstant, _ callback: @escaping () throws -> Void) throws -> TimerHandle {
        try refuseIfClosed()
        return TimerHandle(id: timers.schedule(deadline: deadline.nanoseconds, interval: 0, .closure(callback)), token: token)
    }

    /// Runs `handler(tag)` once at `deadline`: libev's callback-and-data shape.
    /// Many timers can share one handler, so scheduling allocates nothing (a
    /// closure per timer costs an allocation when it captures anything).
    /// Deadlines as in `schedule(at:_:)`. Loop thread.
    /// - Throws: `LoopError.closed`.
    @discardableResult
    public func schedule(
        at deadline: MonotonicInstant, tag: Int, _ handler: @escaping (Int) throws -> Void
    ) throws -> TimerHandle {
        try refuseIfClosed()
        return TimerHandle(id: timers.schedule(deadline: deadline.nanoseconds, interval: 0, .tagged(handler, tag)), token: token)
    }

    /// Runs `handler(tag)` once, `delay` from now (see `schedule(after:_:)`). Loop thread.
    /// - Throws: `LoopError.closed`.
    @discardableResult
    public func schedule(
        after delay: Duration, tag: Int, _ handler: @escaping (Int) throws -> Void
    ) throws -> TimerHandle {
        try refuseIfClosed()
        let deadline = MonotonicInstant(nanoseconds: freshNow()) + max(delay, .zero)
        return TimerHandle(id: timers.schedule(deadline: deadline.nanoseconds, interval: 0, .tagged(handler, tag)), token: token)
    }

    /// Runs `callback` every `interval`, first after `initialDelay` (default: one
    /// interval; zero or negative: now, as in `schedule(after:_:)`). Fixed rate:
    /// each deadline follows from the previous deadline, not from when the
    /// callback ran; periods missed during a stall are skipped, not replayed in
    /// a burst. The interval is rounded up to whole nanoseconds and saturates
    /// at `Int64.max` nanoseconds. Loop thread.
    /// - Throws: `LoopError.invalidInterval` for an interval that is zero or
    ///   negative (checked before anything is scheduled), `.closed`.
    @discardableResult
    public func scheduleRepeating(
        every interval: Duration, after initialDelay: Duration? = nil, _ callback: @escaping () throws -> Void
    ) throws -> TimerHandle {
        try refuseIfClosed()
        guard interval > .zero else { throw LoopError.invalidInterval(interval) }
        let deadline = MonotonicInstant(nanoseconds: freshNow()) + max(initialDelay ?? interval, .zero)
        let id = timers.schedule(deadline: deadline.nanoseconds, interval: interval.nanosecondsRoundedUp, .closure(callback))
        return TimerHandle(id: id, token: token)
    }

    /// Cancels the timer `id`; false if it already fired or was cancelled.
    /// Its closure is released at once (after the loop's timers are
    /// consistent again, so a `deinit` it runs may use the loop).
    @discardableResult
    public func cancelTimer(_ id: TimerID) -> Bool {
        checkThread()
        let released = timers.cancel(id) // released after the heap access ends
        return released != nil
    }

    /// Takes the timers due at the cached `now` off the heap: this iteration's
    /// batch. Timers scheduled or moved by the callbacks that run before the
    /// batch fires are not in it, whatever their deadline.
    @inline(__always)
    func collectDueTimers() {
        guard let next = timers.nextDeadline, next <= nowNanoseconds else { return }
        timers.collectDue(now: nowNanoseconds, into: &dueTimers)
    }

    /// Runs the collected timers in deadline order (ties in scheduling order).
    /// A timer that a callback cancels or reschedules before its turn does not run.
    func fireCollectedTimers() {
        guard !dueTimers.isEmpty else { return }
        var index = 0
        while index < dueTimers.count {
            let due = dueTimers[index]
            index += 1
            if let action = timers.takeForFiring(due, now: nowNanoseconds) {
                invoke(action.run) // the action, and with it a one-shot closure, is released after this
            }
            if closed { break }
        }
        dueTimers.removeAll(keepingCapacity: true)
    }

    /// The manual clock moved: outside an iteration, fire what became due, as
    /// an iteration's timer phase would; inside one (a callback moved the
    /// clock), only time moves, and the next iteration fires them.
    func clockAdvanced() {
        checkThread()
        guard !isRunning, !closed else { return }
        beginRunning()
        defer { endRunning() }
        nowNanoseconds = clock.now()
        collectDueTimers()
        fireCollectedTimers()
    }
}

/// A scheduled timer's handle: cancel or reschedule it. Loop thread only.
///
/// It does not keep the loop alive; acting on a timer that fired or was
/// cancelled, or on a closed loop, does nothing.
public struct TimerHandle {
    /// The timer's id on its loop.
    public let id: TimerID
    let token: LoopToken
    var loop: IOLoop? { token.loop }

    /// Whether the timer is still to fire (repeating timers: until cancelled).
    public var isActive: Bool { loop?.timers.isLive(id) ?? false }

    /// Cancels the timer; idempotent, also from its own callback. Its closure is released at once.
    public func cancel() { loop?.cancelTimer(id) }

    /// Moves the timer to fire `delay` from now (measured on a fresh clock
    /// read; a negative delay means now: the next iteration), keeping its id
    /// and, for a repeating timer, its interval. It ties after timers already
    /// due at the new deadline. A timer due in the batch now firing, moved by an
    /// earlier callback of that batch, does not fire in it. False if it already
    /// fired or was cancelled, or the loop is closed.
    @discardableResult
    public func reschedule(after delay: Duration) -> Bool {
        guard let loop, !loop.isClosed else { return false }
        loop.checkThread()
        let deadline = MonotonicInstant(nanoseconds: loop.freshNow()) + max(delay, .zero)
        return loop.timers.reschedule(id, deadline: deadline.nanoseconds)
    }
}

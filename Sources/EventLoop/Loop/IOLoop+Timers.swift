extension IOLoop {
    /// Runs `callback` once, `delay` from now (measured on a fresh clock read,
    /// so it never fires early; a negative delay means now: the next iteration).
    /// - Throws: `LoopError.closed`.
    @discardableResult
    public func schedule(after delay: Duration, _ callback: @escaping () throws -> Void) throws -> TimerHandle {
        try refuseIfClosed()
        let deadline = MonotonicInstant(nanoseconds: freshNow()) + max(delay, .zero)
        return TimerHandle(id: timers.schedule(deadline: deadline.nanoseconds, interval: 0, .closure(callback)), token: token)
    }

    /// Runs `callback` once at `deadline` on the loop's clock (at once if it has passed).
    /// - Throws: `LoopError.closed`.
    @discardableResult
    public func schedule(at deadline: MonotonicInstant, _ callback: @escaping () throws -> Void) throws -> TimerHandle {
        try refuseIfClosed()
        return TimerHandle(id: timers.schedule(deadline: deadline.nanoseconds, interval: 0, .closure(callback)), token: token)
    }

    /// Runs `handler(tag)` once at `deadline`: libev's callback-and-data shape.
    /// Many timers can share one handler, so scheduling allocates nothing (a
    /// closure per timer costs an allocation when it captures anything).
    /// - Throws: `LoopError.closed`.
    @discardableResult
    public func schedule(
        at deadline: MonotonicInstant, tag: Int, _ handler: @escaping (Int) throws -> Void
    ) throws -> TimerHandle {
        try refuseIfClosed()
        return TimerHandle(id: timers.schedule(deadline: deadline.nanoseconds, interval: 0, .tagged(handler, tag)), token: token)
    }

    /// Runs `handler(tag)` once, `delay` from now (see `schedule(after:_:)`).
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
    /// interval). Fixed rate: each deadline follows from the previous deadline,
    /// not from when the callback ran; periods missed during a stall are
    /// skipped, not replayed in a burst.
    /// - Throws: `LoopError.invalidInterval` for an interval that is not positive, `.closed`.
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
    /// Its closure is released at once.
    @discardableResult
    public func cancelTimer(_ id: TimerID) -> Bool {
        checkThread()
        return timers.cancel(id)
    }

    /// Runs the timers due at the clock's now: all collected first, then run in
    /// deadline order (ties in scheduling order). A timer that a callback
    /// cancels before its turn does not run.
    func fireDueTimers() {
        checkThread()
        let now = clock.isManual ? clock.now() : nowNanoseconds
        guard let next = timers.nextDeadline, next <= now, !firingTimers, !closed else { return }
        firingTimers = true
        defer { firingTimers = false }
        timers.collectDue(now: now, into: &dueTimers)
        var index = 0
        while index < dueTimers.count {
            let id = dueTimers[index]
            index += 1
            if let action = timers.takeForFiring(id) { invoke(action.run) }
            if isClosed { break }
        }
        dueTimers.removeAll(keepingCapacity: true)
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

    /// Moves the timer to fire `delay` from now; false if it already fired or was cancelled.
    @discardableResult
    public func reschedule(after delay: Duration) -> Bool {
        guard let loop, !loop.isClosed else { return false }
        loop.checkThread()
        let deadline = MonotonicInstant(nanoseconds: loop.freshNow()) + max(delay, .zero)
        return loop.timers.reschedule(id, deadline: deadline.nanoseconds)
    }
}

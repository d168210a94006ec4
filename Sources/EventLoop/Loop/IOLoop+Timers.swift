extension IOLoop {
    // The scheduling functions are inlinable wrappers around the internal ones
    // below: a caller that keeps only the id (`schedule(...).id`) then never
    // retains the handle's token. Closures are taken `consuming`: one made for
    // the call is handed over without an extra retain and release.

    /// Runs `callback` once, `delay` from now: measured on a fresh clock read,
    /// so it never fires early; a zero or negative delay means now, which is
    /// the next iteration (never the one running: a callback cannot starve I/O
    /// with timers). Any duration is accepted: a huge one saturates at
    /// `MonotonicInstant.distantFuture`. Ties with timers already due at the
    /// same deadline come after them. Loop thread.
    ///
    /// A timer due long after the loop last woke wakes it at its deadline.
    /// Timers falling due in quick succession share wake-ups, at most one per
    /// millisecond: such a timer runs up to about 1 ms late (as libev's and
    /// libuv's do), never early.
    /// - Throws: `LoopError.closed`.
    @inlinable @discardableResult
    public func schedule(after delay: Duration, _ callback: consuming @escaping () throws -> Void) throws -> TimerHandle {
        TimerHandle(id: try scheduleTimer(after: delay, callback), token: token)
    }

    /// Runs `callback` once at `deadline` on the loop's clock. A deadline that
    /// has passed, however long ago, fires in the next timer phase: at once
    /// when the loop next runs, or in the next iteration when scheduled from a
    /// callback. Loop thread.
    /// - Throws: `LoopError.closed`.
    @inlinable @discardableResult
    public func schedule(at deadline: MonotonicInstant, _ callback: consuming @escaping () throws -> Void) throws -> TimerHandle {
        TimerHandle(id: try scheduleTimer(at: deadline.nanoseconds, callback), token: token)
    }

    /// Runs `handler(tag)` once at `deadline`: libev's callback-and-data shape.
    /// Many timers can share one handler, so scheduling allocates nothing (a
    /// closure per timer costs an allocation when it captures anything); the
    /// loop keeps a shared handler once, not once per timer, and releases it
    /// when its last timer fires or is cancelled. Pass the same closure value
    /// (a stored `let`) to share it. Deadlines as in `schedule(at:_:)`. Loop thread.
    /// - Throws: `LoopError.closed`.
    @inlinable @discardableResult
    public func schedule(
        at deadline: MonotonicInstant, tag: Int, _ handler: @escaping (Int) throws -> Void
    ) throws -> TimerHandle {
        TimerHandle(id: try scheduleTimer(at: deadline.nanoseconds, tag: tag, handler), token: token)
    }

    /// Runs `handler(tag)` once, `delay` from now (see `schedule(after:_:)`). Loop thread.
    /// - Throws: `LoopError.closed`.
    @inlinable @discardableResult
    public func schedule(
        after delay: Duration, tag: Int, _ handler: @escaping (Int) throws -> Void
    ) throws -> TimerHandle {
        TimerHandle(id: try scheduleTimer(after: delay, tag: tag, handler), token: token)
    }

    /// Runs `callback` every `interval`, first after `initialDelay` (default: one
    /// interval; zero or negative: now, as in `schedule(after:_:)`). Fixed rate:
    /// each deadline follows from the previous deadline, not from when the
    /// callback ran; periods missed during a stall are skipped, not replayed in
    /// a burst. The interval is rounded up to whole nanoseconds and saturates
    /// at `Int64.max` nanoseconds. Loop thread.
    /// - Throws: `LoopError.invalidInterval` for an interval that is zero or
    ///   negative (checked before anything is scheduled), `.closed`.
    @inlinable @discardableResult
    public func scheduleRepeating(
        every interval: Duration, after initialDelay: Duration? = nil, _ callback: consuming @escaping () throws -> Void
    ) throws -> TimerHandle {
        TimerHandle(id: try scheduleRepeatingTimer(every: interval, after: initialDelay, callback), token: token)
    }

    @usableFromInline
    func scheduleTimer(after delay: Duration, _ callback: consuming @escaping () throws -> Void) throws -> TimerID {
        try refuseIfClosed()
        return timers.schedule(deadline: deadline(after: delay), callback)
    }

    @usableFromInline
    func scheduleTimer(at deadline: Int64, _ callback: consuming @escaping () throws -> Void) throws -> TimerID {
        try refuseIfClosed()
        return timers.schedule(deadline: deadline, callback)
    }

    @usableFromInline
    func scheduleTimer(at deadline: Int64, tag: Int, _ handler: @escaping (Int) throws -> Void) throws -> TimerID {
        try refuseIfClosed()
        return timers.schedule(deadline: deadline, tag: tag, handler)
    }

    @usableFromInline
    func scheduleTimer(after delay: Duration, tag: Int, _ handler: @escaping (Int) throws -> Void) throws -> TimerID {
        try refuseIfClosed()
        return timers.schedule(deadline: deadline(after: delay), tag: tag, handler)
    }

    @usableFromInline
    func scheduleRepeatingTimer(
        every interval: Duration, after initialDelay: Duration?, _ callback: consuming @escaping () throws -> Void
    ) throws -> TimerID {
        try refuseIfClosed()
        guard interval > .zero else { throw LoopError.invalidInterval(interval) }
        return timers.schedule(
            deadline: deadline(after: initialDelay ?? interval), interval: Self.nanoseconds(interval), callback)
    }

    /// `delay` from a fresh clock read, in nanoseconds on the loop's clock:
    /// zero or negative means now, and the sum saturates.
    @inline(__always)
    func deadline(after delay: Duration) -> Int64 {
        let now = freshNow()
        let (sum, overflow) = now.addingReportingOverflow(Self.nanoseconds(delay))
        return overflow ? .max : sum
    }

    /// A non-negative delay in whole nanoseconds, rounded up and saturating;
    /// negative means zero. Below 9.2 s (`Int64.max` attoseconds), 64-bit
    /// arithmetic, without the 128-bit division of `nanosecondsRoundedUp`.
    @inline(__always)
    static func nanoseconds(_ delay: Duration) -> Int64 {
        let attoseconds = delay.attoseconds
        if attoseconds <= 0 { return 0 }
        if attoseconds <= Int128(Int64.max) {
            let small = UInt64(truncatingIfNeeded: attoseconds)
            return Int64(truncatingIfNeeded: (small &+ 999_999_999) / 1_000_000_000)
        }
        return delay.nanosecondsRoundedUp
    }

    /// Cancels the timer `id`; false if it already fired or was cancelled.
    /// Its closure is released at once (after the loop's timers are
    /// consistent again, so a `deinit` it runs may use the loop).
    @discardableResult
    public func cancelTimer(_ id: TimerID) -> Bool {
        checkThread()
        let released = timers.cancel(id) // dropped on return, after the heap access ends
        switch released {
        case .none: return false
        case .kept, .closure, .handler: return true
        }
    }

    /// How long after a wake-up the loop waits at least before it wakes again
    /// for a timer that became due since (see `timerWakeDeadline()`): 1 ms,
    /// the granularity libev and libuv give every timer. A wake-up costs
    /// several microseconds of CPU (measured on a KVM guest: about 17 µs per
    /// iteration at 1M timers), so 1M timers over a second took about 30,000
    /// wake-ups uncoalesced, 1,700 at 0.5 ms, 900 at 1 ms (libev: about 1,000).
    static let timerCoalescing: Int64 = 1_000_000

    /// The time the loop waits until for its timers: the earliest deadline,
    /// but not sooner than `timerCoalescing` after the last wake-up. A timer
    /// due long after the last wake-up wakes the loop at its deadline; timers
    /// falling due in quick succession (more than one per `timerCoalescing`)
    /// fire in batches, one wake-up each, instead of a wake-up (a system call
    /// and clock readings) per timer: like libev's and libuv's whole
    /// milliseconds, but only under load. Such a timer runs at most that much
    /// late (plus what the kernel and earlier callbacks add), never early. A
    /// deadline that had already passed at the last wake-up (a timer scheduled
    /// or moved since to a past deadline) does not wait: the next iteration
    /// begins at once. Virtual time (a manual clock) is not coalesced.
    func timerWakeDeadline() -> Int64? {
        guard let next = timers.nextDeadline else { return nil }
        let lastWake = lastWakeNanoseconds
        if clock.isManual || next <= lastWake { return next }
        let (earliest, overflow) = lastWake.addingReportingOverflow(Self.timerCoalescing)
        return overflow ? next : max(next, earliest)
    }

    /// Takes the timers due at the cached `now` off the heap: this iteration's
    /// batch. Timers scheduled or moved by the callbacks that run before the
    /// batch fires are not in it, whatever their deadline.
    @inline(__always)
    func collectDueTimers() {
        guard let next = timers.nextDeadline, next <= nowNanoseconds else { return }
        timers.collectDue(now: nowNanoseconds)
    }

    /// Runs the collected timers in deadline order (ties in scheduling order).
    /// A timer that a callback cancels or reschedules before its turn does not run.
    func fireCollectedTimers() {
        guard timers.dueCount > 0 else { return }
        var position = 0
        while position < timers.dueCount {
            let firing = timers.takeForFiring(position)
            position += 1
            switch consume firing {
            case .skip:
                break
            case .closure(let body):
                invoke(body) // a one-shot closure is released after this
            case .shared(let slot, let tag):
                // A run of timers that share this handler: one retain for the
                // run, not one per timer. The run ends where a timer with another
                // handler comes, or the handler's last timer (`.last`), or as soon
                // as its slot no longer holds it (a callback cancelled its last
                // timer): it is released then, as it would be without the run.
                let identity = timers.handlerIdentity(slot)
                let handler = timers.handler(slot)
                var tag = tag
                while true {
                    do { try handler(tag) } catch { report(error) }
                    if closed || timers.handlerIdentity(slot) != identity { break }
                    guard position < timers.dueCount,
                        let next = timers.takeShared(position, slot: slot, identity: identity)
                    else { break }
                    position += 1
                    tag = next
                }
            case .last(let handler, let tag):
                do { try handler(tag) } catch { report(error) } // released after this
            }
            if closed { break }
        }
        // Memory goes back after the batch, not before a callback that is due.
        timers.endBatch()
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
    @usableFromInline let token: LoopToken
    var loop: IOLoop? { token.loop }

    @inlinable
    init(id: TimerID, token: LoopToken) {
        self.id = id
        self.token = token
    }

    /// Whether the timer is still to fire (repeating timers: until cancelled).
    public var isActive: Bool { loop?.timers.isLive(id) ?? false }

    /// Cancels the timer; idempotent, also from its own callback. Its closure is released at once.
    public func cancel() { loop?.cancelTimer(id) }

    /// Moves the timer to fire `delay` from now (measured on a fresh clock
    /// read; a zero or negative delay means now: the next iteration; a huge
    /// one saturates at `MonotonicInstant.distantFuture`), keeping its id
    /// and, for a repeating timer, its interval. It ties after timers already
    /// due at the new deadline. A timer due in the batch now firing, moved by an
    /// earlier callback of that batch, does not fire in it. False if it already
    /// fired or was cancelled, or the loop is closed.
    @discardableResult
    public func reschedule(after delay: Duration) -> Bool {
        guard let loop, !loop.isClosed else { return false }
        loop.checkThread()
        return loop.timers.reschedule(id, deadline: loop.deadline(after: delay))
    }
}

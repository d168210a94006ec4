/// Where a loop reads the time: the monotonic clock, or a manual clock for tests.
public enum LoopClock {
    /// `CLOCK_MONOTONIC`: real time.
    case monotonic
    /// Virtual time that moves only when the test says so.
    case manual(ManualClock)

    @inline(__always)
    func now() -> Int64 {
        switch self {
        case .monotonic: MonotonicInstant.now().nanoseconds
        case .manual(let clock): clock.now.nanoseconds
        }
    }

    var isManual: Bool { if case .manual = self { true } else { false } }
}

/// Virtual time for a loop's timers: `advance(by:)` moves it and fires exactly
/// the timers that became due, in deadline order, on the calling thread,
/// without sleeping.
///
/// A loop on a manual clock orders work exactly as on the real clock: each
/// iteration caches `now` (the virtual now) when its wait ends, and work a
/// callback adds for "now" runs in the next iteration. Only the passing of
/// time differs: pending timers never make the loop sleep in the kernel, so
/// only I/O, submissions and the timeout given to `runOnce` end a wait.
///
/// Loop thread only, like the loop it drives.
public final class ManualClock {
    /// The virtual now.
    public private(set) var now: MonotonicInstant
    weak var loop: IOLoop?

    /// A clock that starts at `start` (by default, a round number far from zero).
    public init(start: MonotonicInstant = MonotonicInstant(nanoseconds: 1_000_000_000_000)) {
        now = start
    }

    /// Moves time forward by `duration` and runs the timers that are now due,
    /// as one loop iteration's timer phase would: the loop's `now` becomes the
    /// new time first, and timers that those callbacks schedule or move for
    /// "now" wait for the next advance or iteration.
    ///
    /// Time never runs back: a zero or negative `duration` leaves it where it
    /// is (and still fires what is due). It saturates at
    /// `MonotonicInstant.distantFuture`. Called from a callback of the loop
    /// (or of another advance), it only moves time: the loop's next iteration
    /// fires what became due.
    public func advance(by duration: Duration) {
        if duration > .zero { now = now + duration }
        loop?.clockAdvanced()
    }

    /// Moves time to `instant` and runs the due timers, as `advance(by:)`
    /// does; an instant at or before `now` leaves time where it is.
    public func advance(to instant: MonotonicInstant) {
        if instant > now { now = instant }
        loop?.clockAdvanced()
    }
}

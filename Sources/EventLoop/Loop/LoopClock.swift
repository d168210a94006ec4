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
/// With a manual clock, pending timers never make the loop sleep in the
/// kernel: only I/O, submissions and the timeout given to `runOnce` do.
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

    /// Moves time forward by `duration` (a negative one is ignored: time never
    /// runs back) and runs the timers that are now due, as one loop iteration
    /// would. Timers that those callbacks schedule for "now" wait for the next
    /// advance or iteration.
    public func advance(by duration: Duration) {
        if duration > .zero { now = now + duration }
        loop?.fireDueTimers()
    }

    /// Moves time to `instant` if it is later, and runs the due timers.
    public func advance(to instant: MonotonicInstant) {
        advance(by: instant - now)
    }
}

import CEventShim

/// A point on the monotonic clock (`CLOCK_MONOTONIC`), in nanoseconds.
///
/// Arithmetic saturates, so a deadline in the distant future never overflows.
public struct MonotonicInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since an unspecified start (boot, on Linux).
    public var nanoseconds: Int64

    /// The instant `nanoseconds` after the clock's start.
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// The clock now. The corresponding C call is `clock_gettime(CLOCK_MONOTONIC)`.
    @inlinable
    public static func now() -> MonotonicInstant { MonotonicInstant(nanoseconds: cevent_monotonic_ns()) }

    /// An instant later than any other.
    public static let distantFuture = MonotonicInstant(nanoseconds: .max)

    /// Earlier than.
    public static func < (a: MonotonicInstant, b: MonotonicInstant) -> Bool { a.nanoseconds < b.nanoseconds }

    /// `duration` later (rounded up to whole nanoseconds); saturates instead of overflowing.
    @inlinable
    public static func + (instant: MonotonicInstant, duration: Duration) -> MonotonicInstant {
        let (sum, overflow) = instant.nanoseconds.addingReportingOverflow(duration.nanosecondsRoundedUp)
        if overflow { return duration > .zero ? .distantFuture : MonotonicInstant(nanoseconds: .min) }
        return MonotonicInstant(nanoseconds: sum)
    }

    /// The time from `b` to `a` (negative when `a` is earlier); saturates instead of overflowing.
    @inlinable
    public static func - (a: MonotonicInstant, b: MonotonicInstant) -> Duration {
        let (difference, overflow) = a.nanoseconds.subtractingReportingOverflow(b.nanoseconds)
        if overflow { return a > b ? .seconds(Int64.max / 1_000_000_000) : .seconds(Int64.min / 1_000_000_000) }
        return .nanoseconds(difference)
    }

    /// Reads like `MonotonicInstant(123 ns)`.
    public var description: String { "MonotonicInstant(\(nanoseconds) ns)" }
}

extension Duration {
    /// Whole nanoseconds, a fraction rounded away from zero (so a timeout is never
    /// cut short), saturating at `Int64.max` / `Int64.min` for any duration
    /// (even one beyond `Int64.max` seconds, where `components` would trap).
    @inlinable
    public var nanosecondsRoundedUp: Int64 {
        let (whole, fraction) = attoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
        let rounded = fraction > 0 ? whole + 1 : fraction < 0 ? whole - 1 : whole
        if rounded > Int128(Int64.max) { return .max }
        if rounded < Int128(Int64.min) { return .min }
        return Int64(truncatingIfNeeded: rounded)
    }
}

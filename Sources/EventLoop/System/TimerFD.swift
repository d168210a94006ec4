import CEventShim
import Glibc

/// An owned `timerfd_create(2)` on the monotonic clock: readable when it expires.
public struct TimerFD: ~Copyable {
    /// The owned descriptor.
    public let owned: OwnedDescriptor
    /// The descriptor number, borrowed.
    public var descriptor: Descriptor { owned.descriptor }

    /// Creates a disarmed timer on `CLOCK_MONOTONIC`, close-on-exec.
    /// - Parameter nonBlocking: reading a timer that has not expired reports `.wouldBlock` (`TFD_NONBLOCK`).
    public init(nonBlocking: Bool = true) throws(SystemError) {
        let fd = try Syscall.check(
            Kernel.timerfdCreate(CLOCK_MONOTONIC, nonBlocking ? Int32(O_NONBLOCK) : 0), "timerfd_create")
        owned = OwnedDescriptor(adopting: Descriptor(Int32(truncatingIfNeeded: fd)))
    }

    /// Arms the timer to expire after `delay`, then every `interval` if given
    /// (`nil`: once). Arming again replaces the previous setting.
    ///
    /// Both are rounded up to whole nanoseconds and saturate at `Int64.max`
    /// nanoseconds (about 292 years: a timer that never expires in practice,
    /// not one that wraps to the past). A zero or negative delay expires as
    /// soon as possible (1 ns), since a zero would disarm the timer. The
    /// corresponding C call is `timerfd_settime(2)`.
    /// - Throws: `ArgumentError` for a zero or negative `interval` (checked
    ///   before the call: the timer is left as it was; the kernel refuses a
    ///   negative one, and a zero one would silently mean "once": pass `nil`
    ///   for that); `SystemError` from the kernel.
    public func arm(after delay: Duration, repeating interval: Duration? = nil) throws {
        if let interval, interval <= .zero {
            throw ArgumentError("TimerFD.arm(after:repeating:)", argument: "interval \(interval)",
                                requirement: "must be positive (nil arms a one-shot timer)")
        }
        let first = max(delay.nanosecondsRoundedUp, 1)
        let every = interval?.nanosecondsRoundedUp ?? 0
        _ = try Syscall.check(
            Kernel.timerfdSettime(descriptor.rawValue, first, every, absolute: false),
            "timerfd_settime(\(descriptor), \(first) ns, every \(every) ns)")
    }

    /// Arms the timer to expire once at `deadline` on the monotonic clock
    /// (`TFD_TIMER_ABSTIME`). A deadline that has passed (or is at or before
    /// the clock's start) expires at once; `MonotonicInstant.distantFuture`
    /// never does in practice. The corresponding C call is `timerfd_settime(2)`.
    public func arm(at deadline: MonotonicInstant) throws(SystemError) {
        let at = max(deadline.nanoseconds, 1)
        _ = try Syscall.check(
            Kernel.timerfdSettime(descriptor.rawValue, at, 0, absolute: true), "timerfd_settime(\(descriptor), at \(at) ns)")
    }

    /// Stops the timer. The corresponding C call is `timerfd_settime(2)` with zeros.
    public func disarm() throws(SystemError) {
        _ = try Syscall.check(Kernel.timerfdSettime(descriptor.rawValue, 0, 0, absolute: false), "timerfd_settime(\(descriptor), disarm)")
    }

    /// The time to the next expiry (`nil` when disarmed) and the interval (`nil`
    /// for one-shot). The corresponding C call is `timerfd_gettime(2)`.
    public func remaining() throws(SystemError) -> (next: Duration?, interval: Duration?) {
        var next: Int64 = 0
        var interval: Int64 = 0
        _ = try Syscall.check(Kernel.timerfdGettime(descriptor.rawValue, &next, &interval), "timerfd_gettime(\(descriptor))")
        return (next == 0 ? nil : .nanoseconds(next), interval == 0 ? nil : .nanoseconds(interval))
    }

    /// The number of expirations since the last read, or `.wouldBlock` when
    /// none on a non-blocking timer. The corresponding C call is an 8-byte `read(2)`.
    public func readExpirations() throws(SystemError) -> IOOutcome<UInt64> {
        let fd = descriptor.rawValue
        var count: UInt64 = 0
        let outcome = try Syscall.nonBlocking("timerfd read(fd \(fd))") { Kernel.timerfdRead(fd, &count) }
        return outcome.wouldBlock ? .wouldBlock : .completed(count)
    }

    /// Closes it. The corresponding C call is `close(2)`, never retried.
    public consuming func close() throws(SystemError) { try owned.close() }

    /// Gives up ownership without closing; the caller now owns the number.
    public consuming func release() -> Descriptor { owned.release() }
}

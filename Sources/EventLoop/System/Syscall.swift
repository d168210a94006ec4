import CEventShim

/// The helpers every wrapper funnels its shim call through.
///
/// The shim returns `>= 0` on success and `-errno` on failure. These helpers
/// turn the failure into a `SystemError`, retry `EINTR` where that is right,
/// and keep `EAGAIN` apart as a value. `close` never goes through a retry.
@usableFromInline
enum Syscall {
    /// Throws for a negative result; never retries.
    @inlinable @inline(__always)
    static func check<R: SignedInteger>(
        _ result: R, _ operation: @autoclosure () -> String
    ) throws(SystemError) -> R {
        if result < 0 { throw SystemError(ErrnoCode(rawValue: Int32(-result)), operation: operation()) }
        return result
    }

    /// Calls `body` again while it reports `EINTR`; throws any other failure.
    @inlinable @inline(__always)
    static func retrying<R: SignedInteger>(
        _ operation: @autoclosure () -> String, _ body: () -> R
    ) throws(SystemError) -> R {
        while true {
            let result = body()
            if result >= 0 { return result }
            if result == R(-ErrnoCode.interrupted.rawValue) { continue }
            throw SystemError(ErrnoCode(rawValue: Int32(-result)), operation: operation())
        }
    }

    /// Like `retrying`, but `EAGAIN` comes back as `nil` instead of an error.
    @inlinable @inline(__always)
    static func nonBlocking<R: SignedInteger>(
        _ operation: @autoclosure () -> String, _ body: () -> R
    ) throws(SystemError) -> R? {
        while true {
            let result = body()
            if result >= 0 { return result }
            if result == R(-ErrnoCode.interrupted.rawValue) { continue }
            if result == R(-ErrnoCode.wouldBlock.rawValue) { return nil }
            throw SystemError(ErrnoCode(rawValue: Int32(-result)), operation: operation())
        }
    }
}

extension Syscall {
    /// Runs a blocking wait that takes a timeout in nanoseconds (`-1` blocks),
    /// retrying `EINTR` with the time that remains, so a signal neither cuts the
    /// wait short nor stretches it. A nil timeout blocks; a negative one polls.
    @inlinable
    static func waiting<R: SignedInteger>(
        timeout: Duration?, _ operation: @autoclosure () -> String, _ body: (Int64) -> R
    ) throws(SystemError) -> R {
        let total: Int64 = timeout.map { max($0.nanosecondsRoundedUp, 0) } ?? -1
        // The clock is read only for a finite, non-zero wait, and only once before it.
        let start = total > 0 ? MonotonicInstant.now().nanoseconds : 0
        var remaining = total
        while true {
            let result = body(remaining)
            if result >= 0 { return result }
            if result != R(-ErrnoCode.interrupted.rawValue) {
                throw SystemError(ErrnoCode(rawValue: Int32(-result)), operation: operation())
            }
            if total > 0 {
                let elapsed = MonotonicInstant.now().nanoseconds - start
                remaining = max(total - elapsed, 0)
            }
        }
    }
}

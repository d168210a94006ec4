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
        if result < 0 { throw SystemError(Errno(rawValue: Int32(-result)), operation: operation()) }
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
            if result == R(-Errno.interrupted.rawValue) { continue }
            throw SystemError(Errno(rawValue: Int32(-result)), operation: operation())
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
            if result == R(-Errno.interrupted.rawValue) { continue }
            if result == R(-Errno.wouldBlock.rawValue) { return nil }
            throw SystemError(Errno(rawValue: Int32(-result)), operation: operation())
        }
    }
}

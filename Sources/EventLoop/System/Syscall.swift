/// The helpers every typed wrapper funnels its `Kernel` call through.
///
/// A `Kernel` call returns `>= 0` on success and `-errno` on failure. These
/// turn the failure into a `SystemError`, retry `EINTR` where that is right,
/// and keep `EAGAIN` apart as a value (`IOOutcome.wouldBlock`). `close` never
/// goes through a retry.
@usableFromInline
enum Syscall {
    /// Makes the call, again while it reports `EINTR` (harmless for every call
    /// but `close`, and a scripted `EINTR` may reach any call); throws any other failure.
    @inlinable @inline(__always)
    static func check(_ call: @autoclosure () -> Int, _ operation: @autoclosure () -> String) throws(SystemError) -> Int {
        try retrying(operation(), call)
    }

    /// For `close(2)` only: throws for a negative result and never retries. On
    /// Linux the number is released even when `close` reports `EINTR`, and a
    /// retry could close a number another thread has just been given.
    @inlinable @inline(__always)
    static func closing(_ result: Int, _ operation: @autoclosure () -> String) throws(SystemError) {
        if result < 0 { throw SystemError(ErrnoCode(rawValue: Int32(truncatingIfNeeded: -result)), operation: operation()) }
    }

    /// Calls `body` again while it reports `EINTR`; throws any other failure.
    @inlinable @inline(__always)
    static func retrying(_ operation: @autoclosure () -> String, _ body: () -> Int) throws(SystemError) -> Int {
        while true {
            let result = body()
            if result >= 0 { return result }
            if result == -Int(ErrnoCode.interrupted.rawValue) { continue }
            throw SystemError(ErrnoCode(rawValue: Int32(truncatingIfNeeded: -result)), operation: operation())
        }
    }

    /// Like `retrying`, but `EAGAIN` comes back as `.wouldBlock` instead of an error.
    @inlinable @inline(__always)
    static func nonBlocking(_ operation: @autoclosure () -> String, _ body: () -> Int) throws(SystemError) -> IOOutcome<Int> {
        while true {
            let result = body()
            if result >= 0 { return .completed(result) }
            if result == -Int(ErrnoCode.interrupted.rawValue) { continue }
            if result == -Int(ErrnoCode.wouldBlock.rawValue) { return .wouldBlock }
            throw SystemError(ErrnoCode(rawValue: Int32(truncatingIfNeeded: -result)), operation: operation())
        }
    }
}

extension Syscall {
    /// Runs a blocking wait that takes a timeout in nanoseconds (`-1` blocks),
    /// retrying `EINTR` with the time that remains, so a signal neither cuts the
    /// wait short nor stretches it. A nil timeout blocks; zero or negative polls.
    @inlinable
    static func waiting(
        timeout: Duration?, _ operation: @autoclosure () -> String, _ body: (Int64) -> Int
    ) throws(SystemError) -> Int {
        let total: Int64 = timeout.map { max($0.nanosecondsRoundedUp, 0) } ?? -1
        // The clock is read only for a finite, non-zero wait, and only once before it.
        let start = total > 0 ? MonotonicInstant.now().nanoseconds : 0
        var remaining = total
        while true {
            let result = body(remaining)
            if result >= 0 { return result }
            if result != -Int(ErrnoCode.interrupted.rawValue) {
                throw SystemError(ErrnoCode(rawValue: Int32(truncatingIfNeeded: -result)), operation: operation())
            }
            if total > 0 {
                let elapsed = MonotonicInstant.now().nanoseconds &- start
                remaining = max(total &- elapsed, 0)
            }
        }
    }
}

import CEventShim

/// An owned `eventfd(2)`: a 64-bit kernel counter that wakes a waiting selector.
///
/// Every read and write moves exactly 8 bytes. Close-on-exec always.
public struct EventFD: ~Copyable {
    /// The owned descriptor; lend `descriptor` to a selector.
    public let owned: OwnedDescriptor
    /// The descriptor number, borrowed.
    public var descriptor: Descriptor { owned.descriptor }

    /// Creates the counter. The corresponding C call is `eventfd(2)` with `EFD_CLOEXEC`.
    /// - Parameters:
    ///   - initialValue: the counter's start.
    ///   - semaphore: each read takes 1 instead of the whole counter (`EFD_SEMAPHORE`).
    ///   - nonBlocking: reads of a zero counter and writes that would overflow
    ///     report `.wouldBlock` instead of blocking (`EFD_NONBLOCK`).
    /// - Throws: `SystemError` (`EMFILE`…).
    public init(initialValue: UInt32 = 0, semaphore: Bool = false, nonBlocking: Bool = true) throws(SystemError) {
        let flags = (semaphore ? cevent_EFD_SEMAPHORE : 0) | (nonBlocking ? cevent_EFD_NONBLOCK : 0)
        let fd = try Syscall.check(Kernel.eventfd(initialValue, flags), "eventfd(\(initialValue))")
        owned = OwnedDescriptor(adopting: Descriptor(Int32(truncatingIfNeeded: fd)))
    }

    /// Adds `value` to the counter; `.wouldBlock` when the counter is full (it
    /// would pass 2^64 - 2) on a non-blocking eventfd. `EINTR` is retried.
    /// The corresponding C call is an 8-byte `write(2)`.
    /// - Throws: `SystemError` (`EINVAL` for a value of 2^64 - 1).
    @discardableResult
    public func signal(_ value: UInt64 = 1) throws(SystemError) -> IOOutcome<Void> {
        let fd = descriptor.rawValue
        let outcome = try Syscall.nonBlocking("eventfd write(fd \(fd), \(value))") { Kernel.eventfdWrite(fd, value) }
        return outcome.wouldBlock ? .wouldBlock : .completed(())
    }

    /// Reads and resets the counter (or takes 1, in semaphore mode);
    /// `.wouldBlock` when it is zero on a non-blocking eventfd. The
    /// corresponding C call is an 8-byte `read(2)`.
    public func drain() throws(SystemError) -> IOOutcome<UInt64> {
        let fd = descriptor.rawValue
        var value: UInt64 = 0
        let outcome = try Syscall.nonBlocking("eventfd read(fd \(fd))") { Kernel.eventfdRead(fd, &value) }
        return outcome.wouldBlock ? .wouldBlock : .completed(value)
    }

    /// Closes it. The corresponding C call is `close(2)`, never retried.
    public consuming func close() throws(SystemError) { try owned.close() }

    /// Gives up ownership without closing; the caller now owns the number.
    public consuming func release() -> Descriptor { owned.release() }
}

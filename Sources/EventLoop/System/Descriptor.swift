/// A file descriptor number, borrowed: holding one does not keep it open.
///
/// The methods are one-liners over the shim; each says the C call it makes.
/// A `Descriptor` is a plain value and may be passed to any thread; whether the
/// number still names the file you meant is the owner's business.
public struct Descriptor: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The C descriptor number.
    public let rawValue: Int32

    /// The number `rawValue`, borrowed; nothing is checked or opened.
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// The number `rawValue`, borrowed; nothing is checked or opened.
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// Orders by number.
    public static func < (a: Descriptor, b: Descriptor) -> Bool { a.rawValue < b.rawValue }
    /// Reads like `fd 7`.
    public var description: String { "fd \(rawValue)" }

    /// Whether `O_NONBLOCK` is set. The corresponding C call is `fcntl(F_GETFL)`.
    /// - Throws: `SystemError` (`EBADF` for a number that is not open).
    public func isNonBlocking() throws(SystemError) -> Bool {
        try Syscall.check(Kernel.fcntlGetNonBlocking(rawValue), "fcntl(F_GETFL, \(self))") == 1
    }

    /// Sets or clears `O_NONBLOCK`. The corresponding C calls are `fcntl(F_GETFL)` and `fcntl(F_SETFL)`.
    public func setNonBlocking(_ on: Bool = true) throws(SystemError) {
        _ = try Syscall.check(Kernel.fcntlSetNonBlocking(rawValue, on), "fcntl(F_SETFL, \(self))")
    }

    /// Whether `FD_CLOEXEC` is set. The corresponding C call is `fcntl(F_GETFD)`.
    /// Also the cheapest way to ask whether a number is open (`EBADF` if not).
    public func isCloseOnExec() throws(SystemError) -> Bool {
        try Syscall.check(Kernel.fcntlGetCloseOnExec(rawValue), "fcntl(F_GETFD, \(self))") == 1
    }

    /// Sets or clears `FD_CLOEXEC`. The corresponding C call is `fcntl(F_SETFD)`.
    public func setCloseOnExec(_ on: Bool = true) throws(SystemError) {
        _ = try Syscall.check(Kernel.fcntlSetCloseOnExec(rawValue, on), "fcntl(F_SETFD, \(self))")
    }

    /// The file status flags (`O_NONBLOCK`, `O_APPEND`, access mode…). The C call is `fcntl(F_GETFL)`.
    public func statusFlags() throws(SystemError) -> Int32 {
        Int32(truncatingIfNeeded: try Syscall.check(Kernel.fcntlGetStatusFlags(rawValue), "fcntl(F_GETFL, \(self))"))
    }

    /// Replaces the file status flags. The corresponding C call is `fcntl(F_SETFL)`.
    public func setStatusFlags(_ flags: Int32) throws(SystemError) {
        _ = try Syscall.check(Kernel.fcntlSetStatusFlags(rawValue, flags), "fcntl(F_SETFL, \(self))")
    }

    /// A close-on-exec duplicate that the caller owns. The C call is `fcntl(F_DUPFD_CLOEXEC)`.
    public func duplicate() throws(SystemError) -> OwnedDescriptor {
        let fd = rawValue
        let copy = try Syscall.retrying("fcntl(F_DUPFD_CLOEXEC, \(self))") { Kernel.fcntlDuplicate(fd) }
        return OwnedDescriptor(adopting: Descriptor(Int32(truncatingIfNeeded: copy)))
    }

    /// Reads at most `buffer.count` bytes. `.completed(0)` means end of file;
    /// `.wouldBlock` means nothing is there yet on a non-blocking descriptor.
    /// `EINTR` is retried. The corresponding C call is `read(2)`.
    /// - Throws: `SystemError` (`ECONNRESET`, `EBADF`…).
    @inlinable
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOOutcome<Int> {
        let fd = rawValue
        return try Syscall.nonBlocking("read(fd \(fd), \(buffer.count) bytes)") {
            Kernel.read(fd, buffer.baseAddress, buffer.count)
        }
    }

    /// Writes at most `buffer.count` bytes and says how many went; `.wouldBlock`
    /// when none could. `EINTR` is retried. Never raises `SIGPIPE`: a write to a
    /// pipe or socket whose reader has gone fails with `EPIPE` (a socket is
    /// written with `send(MSG_NOSIGNAL)`; anything else with `SIGPIPE` blocked
    /// on this thread for the call and the signal it raised taken back, so no
    /// process-wide disposition changes). The corresponding C call is `write(2)`.
    /// - Throws: `SystemError` (`EPIPE`, `ECONNRESET`, `EBADF`…).
    @inlinable
    public func write(_ buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOOutcome<Int> {
        let fd = rawValue
        return try Syscall.nonBlocking("write(fd \(fd), \(buffer.count) bytes)") {
            Kernel.write(fd, buffer.baseAddress, buffer.count)
        }
    }

    /// The largest `read(upTo:)` this type allocates for: 1 GiB. Read bigger
    /// amounts into a buffer of your own with `read(into:)`.
    public static let maximumReadCount = 1 << 30

    /// Reads up to `maxCount` bytes into a new array: `.completed([])` at end of
    /// file, `.wouldBlock` when nothing is there yet. Allocates; a hot path
    /// should use `read(into:)` with a buffer it keeps.
    /// - Throws: `ArgumentError` for a count below 0 or above
    ///   `maximumReadCount` (nothing is read), or `SystemError`.
    public func read(upTo maxCount: Int) throws -> IOOutcome<[UInt8]> {
        try ArgumentError.checkCount(maxCount, "maxCount", in: "read(upTo:)")
        if maxCount > Descriptor.maximumReadCount {
            throw ArgumentError("read(upTo:)", argument: "maxCount \(maxCount)",
                                requirement: "must be at most \(Descriptor.maximumReadCount); use read(into:) with your own buffer")
        }
        var bytes = [UInt8](repeating: 0, count: maxCount)
        let outcome = try bytes.withUnsafeMutableBytes { (raw) throws(SystemError) in try read(into: raw) }
        guard case .completed(let count) = outcome else { return .wouldBlock }
        bytes.removeLast(maxCount - count)
        return .completed(bytes)
    }

    /// Writes `bytes` and says how many went (perhaps fewer than all), or
    /// `.wouldBlock` when none could. Never raises `SIGPIPE` (see `write(_:)`).
    /// - Throws: `SystemError` (`EPIPE` once the reader has gone…).
    public func write(_ bytes: some Collection<UInt8>) throws(SystemError) -> IOOutcome<Int> {
        let array = Array(bytes)
        // withUnsafeBytes rethrows untyped errors: carry the typed one out in a Result.
        return try array.withUnsafeBytes { raw in Result { () throws(SystemError) in try write(raw) } }.get()
    }
}


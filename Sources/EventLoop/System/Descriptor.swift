import CEventShim

/// A file descriptor number, borrowed: holding one does not keep it open.
///
/// The methods are one-liners over the shim; each says the C call it makes.
/// A `Descriptor` is a plain value and may be passed to any thread; whether the
/// number still names the file you meant is the owner's business.
public struct Descriptor: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The C descriptor number.
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    public static func < (a: Descriptor, b: Descriptor) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "fd \(rawValue)" }

    /// Whether `O_NONBLOCK` is set. The corresponding C call is `fcntl(F_GETFL)`.
    public func isNonBlocking() throws(SystemError) -> Bool {
        try Syscall.check(cevent_get_nonblocking(rawValue), "fcntl(F_GETFL, \(self))") == 1
    }

    /// Sets or clears `O_NONBLOCK`. The corresponding C calls are `fcntl(F_GETFL)` and `fcntl(F_SETFL)`.
    public func setNonBlocking(_ on: Bool = true) throws(SystemError) {
        _ = try Syscall.check(cevent_set_nonblocking(rawValue, on ? 1 : 0), "fcntl(F_SETFL, \(self))")
    }

    /// Whether `FD_CLOEXEC` is set. The corresponding C call is `fcntl(F_GETFD)`.
    public func isCloseOnExec() throws(SystemError) -> Bool {
        try Syscall.check(cevent_get_cloexec(rawValue), "fcntl(F_GETFD, \(self))") == 1
    }

    /// Sets or clears `FD_CLOEXEC`. The corresponding C call is `fcntl(F_SETFD)`.
    public func setCloseOnExec(_ on: Bool = true) throws(SystemError) {
        _ = try Syscall.check(cevent_set_cloexec(rawValue, on ? 1 : 0), "fcntl(F_SETFD, \(self))")
    }

    /// The file status flags (`O_NONBLOCK`, `O_APPEND`, access mode…). The C call is `fcntl(F_GETFL)`.
    public func statusFlags() throws(SystemError) -> Int32 {
        try Syscall.check(cevent_get_status_flags(rawValue), "fcntl(F_GETFL, \(self))")
    }

    /// Replaces the file status flags. The corresponding C call is `fcntl(F_SETFL)`.
    public func setStatusFlags(_ flags: Int32) throws(SystemError) {
        _ = try Syscall.check(cevent_set_status_flags(rawValue, flags), "fcntl(F_SETFL, \(self))")
    }

    /// A close-on-exec duplicate that the caller owns. The C call is `fcntl(F_DUPFD_CLOEXEC)`.
    public func duplicate() throws(SystemError) -> OwnedDescriptor {
        OwnedDescriptor(adopting: Descriptor(try Syscall.retrying("fcntl(F_DUPFD_CLOEXEC, \(self))") {
            cevent_dup(rawValue)
        }))
    }

    /// Reads at most `buffer.count` bytes. `.completed(0)` means end of file;
    /// `.wouldBlock` means nothing is there yet on a non-blocking descriptor.
    /// `EINTR` is retried. The corresponding C call is `read(2)`.
    @inlinable
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOOutcome<Int> {
        let fd = rawValue
        let n = try Syscall.nonBlocking("read(fd \(fd), \(buffer.count) bytes)") {
            cevent_read(fd, buffer.baseAddress, UInt(buffer.count))
        }
        return n.map { .completed(Int($0)) } ?? .wouldBlock
    }

    /// Writes at most `buffer.count` bytes and says how many went; `.wouldBlock`
    /// when none could. `EINTR` is retried. The corresponding C call is `write(2)`.
    @inlinable
    public func write(_ buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOOutcome<Int> {
        let fd = rawValue
        let n = try Syscall.nonBlocking("write(fd \(fd), \(buffer.count) bytes)") {
            cevent_write(fd, buffer.baseAddress, UInt(buffer.count))
        }
        return n.map { .completed(Int($0)) } ?? .wouldBlock
    }

    /// Reads up to `maxCount` bytes into a new array; `[]` at end of file, `nil`
    /// when the read would block.
    public func read(upTo maxCount: Int) throws(SystemError) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: maxCount)
        let fd = rawValue
        let n = try Syscall.nonBlocking("read(fd \(fd), \(maxCount) bytes)") {
            bytes.withUnsafeMutableBytes { cevent_read(fd, $0.baseAddress, UInt($0.count)) }
        }
        guard let n else { return nil }
        bytes.removeLast(maxCount - Int(n))
        return bytes
    }

    /// Writes `bytes` and says how many went, or `nil` when the write would block.
    public func write(_ bytes: some Collection<UInt8>) throws(SystemError) -> Int? {
        let array = Array(bytes)
        let fd = rawValue
        let n = try Syscall.nonBlocking("write(fd \(fd), \(array.count) bytes)") {
            array.withUnsafeBytes { cevent_write(fd, $0.baseAddress, UInt($0.count)) }
        }
        return n.map { Int($0) }
    }
}

/// The outcome of a non-blocking operation: done, or it would have blocked (`EAGAIN`).
public enum IOOutcome<Value> {
    case completed(Value)
    case wouldBlock
}

extension IOOutcome: Equatable where Value: Equatable {}
extension IOOutcome: Sendable where Value: Sendable {}

/// Why a selector refused a request. After any of these, the selector is
/// unchanged and still usable (except after `.closed`, which is final).
public enum SelectorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The descriptor is already registered; use `modify`.
    case alreadyRegistered(Descriptor)
    /// The descriptor is not registered with this selector.
    case notRegistered(Descriptor)
    /// The interest asks for nothing a backend reports: empty, or only undefined bits.
    case emptyInterest(Descriptor)
    /// A negative descriptor, or a number that is not open (epoll: the
    /// kernel's `EBADF`; poll and select check with `fcntl(F_GETFD)`).
    case invalidDescriptor(Descriptor)
    /// The backend cannot hold this descriptor (select: `fd >= FD_SETSIZE`).
    case descriptorOutOfRange(Descriptor, limit: Int)
    /// The kernel cannot poll this descriptor (epoll says `EPERM` for regular files and directories).
    case notPollable(Descriptor)
    /// The backend has no such trigger mode (edge and one-shot are epoll's only).
    case unsupportedTrigger(Trigger, backend: String)
    /// An argument is out of range (a capacity, a count); nothing was changed.
    case invalidArgument(ArgumentError)
    /// The backend cannot run on this machine: `reason` says why (io_uring:
    /// `ENOSYS`, `EPERM` under a seccomp profile or `kernel.io_uring_disabled`,
    /// a kernel that lacks a feature). `LoopBackend.unavailableReason` asks first.
    case unavailable(backend: String, reason: String)
    /// The selector was closed.
    case closed
    /// The kernel refused for another reason.
    case system(SystemError)

    /// What went wrong, in a sentence that names the descriptor.
    public var description: String {
        switch self {
        case .alreadyRegistered(let fd): "\(fd) is already registered"
        case .notRegistered(let fd): "\(fd) is not registered"
        case .emptyInterest(let fd): "empty or undefined interest for \(fd): ask for readable, writable or both"
        case .invalidDescriptor(let fd): "invalid descriptor: \(fd) is negative or not open"
        case .descriptorOutOfRange(let fd, let limit): "\(fd) is out of range: this backend holds descriptors below \(limit)"
        case .notPollable(let fd): "\(fd) cannot be polled (a regular file or directory is always ready)"
        case .unsupportedTrigger(let trigger, let backend): "the \(backend) backend has no \(trigger) triggering"
        case .invalidArgument(let error): error.description
        case .unavailable(let backend, let reason): "the \(backend) backend is unavailable here: \(reason)"
        case .closed: "the selector is closed"
        case .system(let error): error.description
        }
    }
}

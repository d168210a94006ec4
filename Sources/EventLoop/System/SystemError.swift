/// A failed system call: the error number and the operation that reported it.
///
/// Its description reads like `epoll_ctl(ADD, fd 7): Bad file descriptor (EBADF)`.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What the kernel said.
    public let errno: ErrnoCode
    /// The call and its arguments, e.g. `epoll_ctl(ADD, fd 7)`.
    public let operation: String

    /// An error for `operation` failing with `errno`; for wrappers of your own.
    public init(_ errno: ErrnoCode, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    /// Reads like `epoll_ctl(ADD, fd 7): Bad file descriptor (EBADF)`.
    public var description: String { "\(operation): \(errno)" }
}

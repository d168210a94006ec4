import CEventShim
import Glibc

/// An error number reported by the kernel, with its symbolic C name.
///
/// The corresponding C value is `errno`. The shim hands these back as negative
/// return values, so this package never reads the global `errno`.
public struct ErrnoCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The C value, e.g. `EBADF` is 9 on Linux.
    public let rawValue: Int32

    /// The error number `rawValue` (any value; one Linux does not define prints as `E<number>`).
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `EINTR`: a signal interrupted the call.
    public static let interrupted = ErrnoCode(rawValue: EINTR)
    /// `EAGAIN` (also `EWOULDBLOCK`): the call would block.
    public static let wouldBlock = ErrnoCode(rawValue: EAGAIN)
    /// `EBADF`: not an open descriptor.
    public static let badFileDescriptor = ErrnoCode(rawValue: EBADF)
    /// `EINVAL`: an argument is out of range.
    public static let invalidArgument = ErrnoCode(rawValue: EINVAL)
    /// `EPERM`: not permitted (epoll says this for regular files).
    public static let notPermitted = ErrnoCode(rawValue: EPERM)
    /// `EEXIST`: already exists (already registered).
    public static let fileExists = ErrnoCode(rawValue: EEXIST)
    /// `ENOENT`: no such entry (not registered).
    public static let noSuchEntry = ErrnoCode(rawValue: ENOENT)
    /// `EMFILE`: the process has too many open descriptors.
    public static let tooManyOpenFiles = ErrnoCode(rawValue: EMFILE)
    /// `ENFILE`: the system has too many open files.
    public static let tooManyOpenFilesInSystem = ErrnoCode(rawValue: ENFILE)
    /// `ENOMEM`: out of kernel memory.
    public static let noMemory = ErrnoCode(rawValue: ENOMEM)
    /// `ENOSYS`: the kernel lacks the call.
    public static let notImplemented = ErrnoCode(rawValue: ENOSYS)
    /// `EPIPE`: the peer closed its end.
    public static let brokenPipe = ErrnoCode(rawValue: EPIPE)
    /// `ECONNREFUSED`: nobody listens at that address.
    public static let connectionRefused = ErrnoCode(rawValue: ECONNREFUSED)
    /// `ECONNRESET`: the peer reset the connection.
    public static let connectionReset = ErrnoCode(rawValue: ECONNRESET)
    /// `EINPROGRESS`: a non-blocking connect has started.
    public static let inProgress = ErrnoCode(rawValue: EINPROGRESS)
    /// `EADDRINUSE`: the address is taken.
    public static let addressInUse = ErrnoCode(rawValue: EADDRINUSE)
    /// `ENOTCONN`: the socket is not connected.
    public static let notConnected = ErrnoCode(rawValue: ENOTCONN)
    /// `EIO`: a low-level input/output error.
    public static let inputOutput = ErrnoCode(rawValue: EIO)
    /// `ECONNABORTED`: a connection was aborted before `accept` took it.
    public static let connectionAborted = ErrnoCode(rawValue: ECONNABORTED)
    /// `EPROTO`: a protocol error (`accept` reports it for a connection that
    /// failed on the way in; take the next one).
    public static let protocolError = ErrnoCode(rawValue: EPROTO)
    /// `ENOBUFS`: no buffer space (the kernel is short of socket memory).
    public static let noBufferSpace = ErrnoCode(rawValue: ENOBUFS)
    /// `ENETDOWN`: the network (interface) is down.
    public static let networkDown = ErrnoCode(rawValue: ENETDOWN)
    /// `ENETUNREACH`: no route to the network.
    public static let networkUnreachable = ErrnoCode(rawValue: ENETUNREACH)
    /// `EHOSTDOWN`: the host is down.
    public static let hostDown = ErrnoCode(rawValue: EHOSTDOWN)
    /// `EHOSTUNREACH`: no route to the host.
    public static let hostUnreachable = ErrnoCode(rawValue: EHOSTUNREACH)
    /// `ENONET`: the machine is not on the network.
    public static let noNetwork = ErrnoCode(rawValue: ENONET)
    /// `ENOPROTOOPT`: the protocol option is not available.
    public static let protocolNotAvailable = ErrnoCode(rawValue: ENOPROTOOPT)
    /// `EOPNOTSUPP` (also `ENOTSUP`): the operation is not supported (on this socket).
    public static let operationNotSupported = ErrnoCode(rawValue: EOPNOTSUPP)
    /// `ENOTSOCK`: the descriptor is not a socket.
    public static let notSocket = ErrnoCode(rawValue: ENOTSOCK)
    /// `ETIMEDOUT`: the operation timed out.
    public static let timedOut = ErrnoCode(rawValue: ETIMEDOUT)
    /// `ECANCELED`: the operation was cancelled (an io_uring request removed before it completed).
    public static let canceled = ErrnoCode(rawValue: ECANCELED)
    /// `EISCONN`: the socket is already connected.
    public static let alreadyConnected = ErrnoCode(rawValue: EISCONN)
    /// `EDESTADDRREQ`: a datagram socket that is not connected needs an address to send to.
    public static let destinationAddressRequired = ErrnoCode(rawValue: EDESTADDRREQ)
    /// `EPROTOTYPE`: the socket is of the wrong type (a datagram socket where a stream was wanted…).
    public static let protocolWrongType = ErrnoCode(rawValue: EPROTOTYPE)
    /// `EAFNOSUPPORT`: the address family is not supported here.
    public static let addressFamilyNotSupported = ErrnoCode(rawValue: EAFNOSUPPORT)

    /// The symbolic C name, e.g. `"EBADF"`, for every number Linux defines (1
    /// through 133, `EHWPOISON`); an alias prints as the name it stands for
    /// (`EWOULDBLOCK` as `"EAGAIN"`, `EDEADLOCK` as `"EDEADLK"`, `ENOTSUP` as
    /// `"EOPNOTSUPP"`). Any other number prints as `"E<number>"`.
    public var name: String { ErrnoCode.names[rawValue] ?? "E\(rawValue)" }

    /// The C library's message for this number (`strerror(3)`), e.g. `Protocol
    /// error`; `Unknown error <number>` for a number Linux does not define.
    public var message: String { String(cString: strerror(rawValue)) }

    /// The message and the name, e.g. `Protocol error (EPROTO)`.
    public var description: String { "\(message) (\(name))" }
}

/// Why a stream or datagram operation failed: what happened, where, and the
/// errno behind it when the kernel gave one.
///
/// Match on `kind`; `errno` and `operation` say the rest, e.g.
/// `connect(127.0.0.1:9): connection refused: Connection refused (ECONNREFUSED)`.
public struct StreamError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure.
    public enum Kind: String, Hashable, Sendable {
        /// Nobody listens at the address (`ECONNREFUSED`).
        case connectionRefused = "connection refused"
        /// The peer reset the connection (`ECONNRESET`), or it is gone (`EPIPE`, hang-up).
        case connectionReset = "connection reset by peer"
        /// The operation did not finish in the time it was given.
        case timedOut = "timed out"
        /// The address is taken (`EADDRINUSE`).
        case addressInUse = "address in use"
        /// The name did not resolve to any address.
        case hostNotFound = "host not found"
        /// The stream ended before the bytes asked for arrived (`readExactly`,
        /// `readUntil`): `partial` holds those that did arrive.
        case endOfStream = "end of stream"
        /// A line was longer than the limit; its bytes stay readable.
        case lineTooLong = "line too long"
        /// More than the limit asked for arrived before the end (`readToEnd`) or
        /// the separator (`readUntil`); the bytes stay readable.
        case limitExceeded = "limit exceeded"
        /// Another task is already reading this stream.
        case concurrentRead = "another read is in progress"
        /// The stream, listener or socket was closed (by this side, or its loop).
        case closed = "closed"
        /// Anything else the kernel reported.
        case system = "system error"
    }

    /// What kind of failure.
    public let kind: Kind
    /// The call and its target, e.g. `connect(127.0.0.1:9)`.
    public let operation: String
    /// The kernel's errno, when there was one.
    public let errno: ErrnoCode?
    /// For `.endOfStream`: a copy of the bytes that arrived before the end
    /// (asyncio's `IncompleteReadError.partial`). They also stay readable:
    /// the next read returns them. Empty for every other kind.
    public let partial: [UInt8]
    /// For `.endOfStream` from `readExactly`: the byte count asked for
    /// (asyncio's `IncompleteReadError.expected`); nil otherwise (`readUntil`
    /// asks for no count).
    public let expected: Int?

    /// An error of `kind` from `operation`, with the kernel's `errno` if any,
    /// and, for an end of stream, the bytes that arrived and the count expected.
    public init(_ kind: Kind, operation: String, errno: ErrnoCode? = nil, partial: [UInt8] = [], expected: Int? = nil) {
        self.kind = kind
        self.operation = operation
        self.errno = errno
        self.partial = partial
        self.expected = expected
    }

    /// The kind a system error maps to, keeping its errno and operation.
    init(_ error: SystemError) {
        let kind: Kind = switch error.errno {
        case .connectionRefused: .connectionRefused
        case .connectionReset, .brokenPipe, .connectionAborted: .connectionReset
        case .timedOut: .timedOut
        case .addressInUse: .addressInUse
        default: .system
        }
        self.init(kind, operation: error.operation, errno: error.errno)
    }

    /// Reads like `connect(127.0.0.1:9): connection refused: Connection refused (ECONNREFUSED)`,
    /// or, for an end of stream, `readExactly(10): end of stream: 3 of 10 bytes arrived`.
    public var description: String {
        var tail = errno.map { ": \($0)" } ?? ""
        if kind == .endOfStream {
            let count = partial.count == 1 ? "1 byte" : "\(partial.count) bytes"
            tail += expected.map { ": \(partial.count) of \($0) bytes arrived" } ?? ": \(count) arrived"
        }
        return "\(operation): \(kind.rawValue)\(tail)"
    }
}

import Glibc

/// Two owned, connected descriptors: a pipe's ends or a socketpair's.
///
/// It has no deinit of its own, so its halves may be taken apart and closed
/// separately (`let reader = pair.first`), each still closing exactly once.
@frozen
public struct DescriptorPair: ~Copyable {
    /// A pipe's read end, or a socketpair's first socket.
    public var first: OwnedDescriptor
    /// A pipe's write end, or a socketpair's second socket.
    public var second: OwnedDescriptor

    init(_ fds: (Int32, Int32)) {
        first = OwnedDescriptor(adopting: Descriptor(fds.0))
        second = OwnedDescriptor(adopting: Descriptor(fds.1))
    }

    /// A pipe, close-on-exec, non-blocking unless asked otherwise: `first` reads,
    /// `second` writes. The corresponding C call is `pipe2(2)`.
    public static func pipe(nonBlocking: Bool = true) throws(SystemError) -> DescriptorPair {
        var fds: (Int32, Int32) = (-1, -1)
        _ = try withUnsafeMutableBytes(of: &fds) { (raw) throws(SystemError) in
            try Syscall.check(
                Kernel.pipe2(raw.baseAddress!.assumingMemoryBound(to: Int32.self), nonBlocking ? Int32(O_NONBLOCK) : 0),
                "pipe2")
        }
        return DescriptorPair(fds)
    }

    /// A connected pair of Unix sockets, non-blocking and close-on-exec.
    /// The corresponding C call is `socketpair(2)`.
    /// - Parameter datagram: `SOCK_DGRAM` instead of `SOCK_STREAM`.
    public static func socketPair(datagram: Bool = false) throws(SystemError) -> DescriptorPair {
        var fds: (Int32, Int32) = (-1, -1)
        let type = Int32(datagram ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue)
        _ = try withUnsafeMutableBytes(of: &fds) { (raw) throws(SystemError) in
            try Syscall.check(
                Kernel.socketpair(AF_UNIX, type, raw.baseAddress!.assumingMemoryBound(to: Int32.self)),
                "socketpair(AF_UNIX)")
        }
        return DescriptorPair(fds)
    }
}

import CEventShim
import Glibc

/// A set of descriptors below `FD_SETSIZE`, as `select(2)` takes them.
///
/// A safe value type over C's `fd_set`: a descriptor that is negative or at
/// least `FDSet.capacity` is refused with an `ArgumentError` instead of the
/// undefined behaviour the C macros would give.
public struct FDSet: Sendable, Equatable, Sequence {
    /// `FD_SETSIZE`: one more than the largest descriptor a set can hold (1024 on Linux).
    public static let capacity = Int(cevent_FD_SETSIZE)

    @usableFromInline var storage: fd_set

    /// An empty set. The corresponding C macro is `FD_ZERO`.
    public init() {
        storage = fd_set()
        cevent_FD_ZERO(&storage)
    }

    /// Adds `descriptor`. The corresponding C macro is `FD_SET`.
    /// - Throws: `ArgumentError` when the descriptor is outside `0..<FDSet.capacity`.
    public mutating func insert(_ descriptor: Descriptor) throws(ArgumentError) {
        try FDSet.checkRange(descriptor, "FD_SET")
        _ = cevent_FD_SET(descriptor.rawValue, &storage) // in range: cannot fail
    }

    /// Removes `descriptor`. The corresponding C macro is `FD_CLR`.
    /// - Throws: `ArgumentError` when the descriptor is outside `0..<FDSet.capacity`.
    public mutating func remove(_ descriptor: Descriptor) throws(ArgumentError) {
        try FDSet.checkRange(descriptor, "FD_CLR")
        _ = cevent_FD_CLR(descriptor.rawValue, &storage) // in range: cannot fail
    }

    private static func checkRange(_ descriptor: Descriptor, _ macro: String) throws(ArgumentError) {
        guard descriptor.rawValue >= 0 && Int(descriptor.rawValue) < capacity else {
            throw ArgumentError(macro, argument: "\(descriptor)", requirement: "must be within 0..<\(capacity) (FD_SETSIZE)")
        }
    }

    /// Whether `descriptor` is in the set; `false` for one outside `0..<FDSet.capacity`,
    /// which can never be in it. The corresponding C macro is `FD_ISSET`.
    public func contains(_ descriptor: Descriptor) -> Bool {
        withUnsafePointer(to: storage) { cevent_FD_ISSET(descriptor.rawValue, $0) == 1 }
    }

    /// Empties the set. The corresponding C macro is `FD_ZERO`.
    public mutating func removeAll() { cevent_FD_ZERO(&storage) }

    /// Whether the set holds no descriptor.
    public var isEmpty: Bool { first(where: { _ in true }) == nil }

    /// The members in ascending order.
    public func makeIterator() -> AnyIterator<Descriptor> {
        var next: Int32 = 0
        let copy = self
        return AnyIterator {
            while next < Int32(FDSet.capacity) {
                let fd = Descriptor(next)
                next += 1
                if copy.contains(fd) { return fd }
            }
            return nil
        }
    }

    /// Equal when they hold the same descriptors.
    public static func == (a: FDSet, b: FDSet) -> Bool {
        withUnsafeBytes(of: a.storage) { x in withUnsafeBytes(of: b.storage) { y in x.elementsEqual(y) } }
    }
}

extension FDSet {
    /// Waits until a descriptor in `readable` can be read or one in `writable`
    /// written, or `timeout` passes, and leaves in each set only the ready ones.
    /// `nil` waits without limit; zero or negative polls; otherwise the timeout
    /// is rounded up to whole microseconds and `EINTR` restarts the wait with
    /// the time left. The C call is `select(2)`.
    /// - Parameters:
    ///   - count: one more than the highest descriptor in either set (`nfds`).
    ///   - readable: the descriptors to watch for reading; on return, those ready for it.
    ///   - writable: the descriptors to watch for writing; on return, those ready for it.
    ///   - timeout: how long to wait at most; `nil` waits without limit.
    /// - Returns: the number of ready descriptors, 0 on timeout.
    /// - Throws: `ArgumentError` for `upTo` outside `0...FDSet.capacity`;
    ///   `SystemError` (`EBADF` when a descriptor in a set is not open).
    public static func select(
        upTo count: Int, readable: inout FDSet, writable: inout FDSet, timeout: Duration?
    ) throws -> Int {
        guard (0...capacity).contains(count) else {
            throw ArgumentError("select", argument: "nfds \(count)", requirement: "must be within 0...\(capacity) (FD_SETSIZE)")
        }
        let nfds = Int32(count)
        // select leaves the sets undefined when interrupted: each retry starts from the originals.
        let (askedReadable, askedWritable) = (readable, writable)
        var attempt = 0
        return try Syscall.waiting(timeout: timeout, "select(\(count) descriptors)") { timeout in
            if attempt > 0 { (readable, writable) = (askedReadable, askedWritable) }
            attempt += 1
            return Kernel.select(nfds, &readable.storage, &writable.storage, timeout)
        }
    }
}

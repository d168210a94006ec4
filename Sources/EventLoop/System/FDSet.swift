import CEventShim
import Glibc

/// A set of descriptors below `FD_SETSIZE`, as `select(2)` takes them.
///
/// A safe value type over C's `fd_set`: a descriptor that is negative or at
/// least `FDSet.capacity` is refused with `EINVAL` instead of the undefined
/// behaviour the C macros would give.
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
    /// - Throws: `EINVAL` when the descriptor is outside `0..<FDSet.capacity`.
    public mutating func insert(_ descriptor: Descriptor) throws(SystemError) {
        _ = try Syscall.check(cevent_FD_SET(descriptor.rawValue, &storage), "FD_SET(\(descriptor))")
    }

    /// Removes `descriptor`. The corresponding C macro is `FD_CLR`.
    /// - Throws: `EINVAL` when the descriptor is outside `0..<FDSet.capacity`.
    public mutating func remove(_ descriptor: Descriptor) throws(SystemError) {
        _ = try Syscall.check(cevent_FD_CLR(descriptor.rawValue, &storage), "FD_CLR(\(descriptor))")
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

    public static func == (a: FDSet, b: FDSet) -> Bool {
        withUnsafeBytes(of: a.storage) { x in withUnsafeBytes(of: b.storage) { y in x.elementsEqual(y) } }
    }
}

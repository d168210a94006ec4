/// A value behind an `AdaptiveLock`, for the little state that loop threads
/// and other threads share outside any loop (a `LoopThread`'s end, a group's
/// servers, a server's handlers, the bytes a stream's `bufferWrite` takes).
///
/// Why not `Mutex`: besides its cost under contention (see `AdaptiveLock`),
/// the standard library's `Mutex` takes a contended lock inside the kernel
/// (priority-inheriting futexes), where ThreadSanitizer cannot see it, and
/// reports the sections it guards as data races. `AdaptiveLock` orders its
/// sections with atomics that ThreadSanitizer follows.
///
/// Any thread; `value` only inside `withLock`.
final class LockedState<Value>: @unchecked Sendable {
    private let lock = AdaptiveLock()
    /// The lock is its exclusivity: Swift's run-time check of each access
    /// (a `swift_beginAccess` and an access-set entry per `withLock`, on the
    /// path of every buffered write) would only repeat it.
    @exclusivity(unchecked) private var value: Value

    init(_ value: Value) { self.value = value }

    /// Runs `body` on the value, under the lock. Never call user code in `body`.
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

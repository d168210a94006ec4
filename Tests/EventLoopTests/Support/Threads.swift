import Glibc

/// A dedicated OS thread for a test: never a pool thread, so it runs even when
/// every pool thread is blocked in a test's wait.
final class TestThread: @unchecked Sendable {
    // `body` is written once before the thread starts and read once by it.
    private let body: @Sendable () -> Void
    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        let started = pthread_create(&thread, nil, { context in
            let me = Unmanaged<TestThread>.fromOpaque(context!).takeRetainedValue()
            me.body()
            return nil
        }, context)
        precondition(started == 0, "pthread_create failed: \(started)")
    }

    /// Waits for the body to return.
    func join() { pthread_join(thread, nil) }
}

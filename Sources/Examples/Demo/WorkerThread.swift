import Glibc

/// A plain POSIX thread running `body`, for the demo's off-loop work.
final class WorkerThread: @unchecked Sendable {
    // Written before the thread starts, read once by it.
    private let body: @Sendable () -> Void
    private var thread = pthread_t()
    private var started = false

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        started = pthread_create(&thread, nil, { context in
            Unmanaged<WorkerThread>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context) == 0
        if !started { Unmanaged<WorkerThread>.fromOpaque(context).release() }
    }

    /// Waits for the body to finish (no-op if the thread could not start).
    func join() { if started { pthread_join(thread, nil) } }
}

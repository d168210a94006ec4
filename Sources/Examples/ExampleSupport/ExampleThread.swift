import Glibc

/// A plain POSIX thread running `body` once (the blocking examples' helper, the demo's servers).
public final class ExampleThread: @unchecked Sendable {
    // `body` is written before the thread starts and read once by it;
    // `thread` is written by pthread_create before anyone joins.
    private let body: @Sendable () -> Void
    private var thread = pthread_t()

    public init(_ body: @escaping @Sendable () -> Void) throws {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<ExampleThread>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        if result != 0 {
            Unmanaged<ExampleThread>.fromOpaque(context).release()
            throw ExampleFailure("cannot start a thread: pthread_create returned \(result)")
        }
    }

    /// Waits for the body to return.
    public func join() { pthread_join(thread, nil) }
}

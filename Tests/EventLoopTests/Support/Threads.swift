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

/// Calls `fire` on a thread of its own once `timeout` has passed, unless
/// cancelled first: it bounds a wait that a bug could make endless, and costs
/// nothing when the wait ends in time (cancel wakes the thread at once).
final class Watchdog {
    private var fds: [Int32] = [-1, -1]
    private var thread: TestThread?

    init(after timeout: Duration, _ fire: @escaping @Sendable () -> Void) {
        precondition(pipe(&fds) == 0, "pipe failed")
        let wake = fds[0]
        let milliseconds = Int32(clamping: timeout.components.seconds * 1_000 + 1)
        thread = TestThread {
            var entry = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
            if poll(&entry, 1, milliseconds) == 0 { fire() } // 0: the time ran out, nobody cancelled
        }
    }

    /// Stops the watchdog without firing (if it has not fired yet) and waits for its thread.
    func cancel() {
        var byte: UInt8 = 1
        _ = write(fds[1], &byte, 1)
        thread?.join()
        thread = nil
        close(fds[0])
        close(fds[1])
    }
}

import Synchronization

/// Work other threads hand to a loop: an array behind a spin lock, swapped
/// whole by the loop, and the loop's eventfd.
///
/// A submission that makes the queue non-empty writes the eventfd; the others
/// only append, so a burst costs one wake-up however many closures it brings.
/// The loop swaps the array for an empty spare under the lock and runs the
/// batch outside it: no user code ever runs under the lock. Arrays are
/// reused, so steady state allocates nothing here.
///
/// It also holds what the loop shares with other threads besides work: the stop
/// request and the identity of the thread running the loop.
///
/// Threads: `submit`, `requestStop` from any thread; `takeAll` and `close` on
/// the loop thread only. The lock guards `pending` and `isClosed`; `runner` and
/// `stopRequested` are atomics.
final class SubmissionQueue: @unchecked Sendable {
    typealias Work = @Sendable () -> Void

    /// A closure in a struct: an array stores a bare closure at its most
    /// general abstraction, which wraps every appended closure in a
    /// reabstraction thunk (one more allocation per submission, measured);
    /// a struct field keeps the closure as it is.
    struct Job {
        let run: Work
    }

    private let lock = SpinLock()
    /// Under `lock`.
    private var pending: [Job] = []
    /// Under `lock`: set once the loop has closed; submissions after it are refused.
    private var isClosed = false
    let stopRequested = Atomic<Bool>(false)
    /// The thread now running the loop's `run`, `runOnce` or manual-clock
    /// advance (`currentThreadIdentity()`), 0 while none does. Claimed on entry
    /// and cleared on exit by the loop thread; read by the loop's thread check
    /// and by `requestStop`.
    let runner = Atomic<UInt>(0)
    /// The loop's eventfd, borrowed: the loop closes it only after `close()`,
    /// and writers hold the lock, so no write can reach a reused number.
    private let wakeDescriptor: Descriptor

    init(wakeDescriptor: Descriptor) { self.wakeDescriptor = wakeDescriptor }

    /// Queues `work`; false when the loop has closed.
    func submit(_ work: @escaping Work) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if isClosed { return false }
        pending.append(Job(run: work))
        if pending.count == 1 { wake() }
        return true
    }

    /// Any thread: asks the loop to stop. The loop is woken only while it runs,
    /// on another thread: a stop for a loop that runs nothing waits, as a flag,
    /// for the next `run()`, and must not cut a later `runOnce`'s wait short.
    /// (Sequentially consistent: either this thread sees the runner, or the
    /// runner, which claims itself before it reads the flag, sees the flag.)
    func requestStop() {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        let running = runner.load(ordering: .sequentiallyConsistent)
        if running == 0 || running == currentThreadIdentity() { return } // it reads the flag before it waits
        lock.lock()
        defer { lock.unlock() }
        if !isClosed { wake() }
    }

    /// Under `lock`. Cannot fail but for a full counter (2^64 - 2 unread
    /// wake-ups), which still wakes the loop.
    private func wake() { _ = try? EventFD.signal(wakeDescriptor) }

    /// Loop thread: everything submitted so far, in submission order, swapped
    /// into `batch` (which must be empty; its storage becomes the new queue's).
    func takeAll(into batch: inout [Job]) {
        lock.lock()
        swap(&pending, &batch)
        lock.unlock()
    }

    /// Loop thread: refuse further work, and hand out what was queued (never
    /// to run) for the caller to release once its own state is consistent: a
    /// closure's deinit is user code. Never released under the lock.
    func close() -> [Job] {
        lock.lock()
        isClosed = true
        var dropped: [Job] = []
        swap(&dropped, &pending)
        lock.unlock()
        return dropped
    }
}

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
    /// Under `lock`: jobs for the loop's executor from other threads.
    private var pendingJobs: [LoopJob] = []
    /// Under `lock`: set once the loop has closed; submissions after it are refused.
    private var isClosed = false
    let stopRequested = Atomic<Bool>(false)
    /// The thread that runs the loop (the one running it, or the last that
    /// did, or its creator): what the executor's isolation checks compare against.
    let loopThread = Atomic<UInt>(ThreadIdentity.current.rawValue)
    /// The thread now running the loop's `run`, `runOnce` or manual-clock
    /// advance (`currentThreadIdentity()`), 0 while none does. Claimed on entry
    /// and cleared on exit by the loop thread; read by the loop's thread check
    /// and by `requestStop`.
    let runner = Atomic<UInt>(0)
    /// Under `lock`: the loop's wake-up eventfd, owned here and closed by
    /// `closeWakeUp()`, under the lock, so no writer can reach its number afterwards.
    private var wakeEventFD: EventFD?
    /// The eventfd's number, for the loop to watch and drain (loop thread).
    let wakeDescriptor: Descriptor

    /// A queue with a fresh eventfd. Throws what `eventfd(2)` reports.
    init() throws(SystemError) {
        let eventFD = try EventFD()
        wakeDescriptor = eventFD.descriptor
        wakeEventFD = consume eventFD
    }

    /// Queues `work`; false when the loop has closed.
    func submit(_ work: @escaping Work) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if isClosed { return false }
        pending.append(Job(run: work))
        if pending.count == 1 && pendingJobs.isEmpty { signalLoop() }
        return true
    }

    /// Queues an executor job from another thread; false when the loop has closed.
    func submitJob(_ job: LoopJob) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if isClosed { return false }
        pendingJobs.append(job)
        if pendingJobs.count == 1 && pending.isEmpty { signalLoop() }
        return true
    }

    /// Whether the calling thread is the loop's (see `loopThread`).
    @inline(__always)
    var isLoopThread: Bool { loopThread.load(ordering: .relaxed) == ThreadIdentity.current.rawValue }

    /// Whether the calling thread may touch the loop's state now: it runs the
    /// loop, or nobody runs it and this is its thread. (A former loop thread
    /// that now runs other work, while the loop runs elsewhere, may not.)
    @inline(__always)
    var mayTouchLoop: Bool {
        let me = ThreadIdentity.current.rawValue
        let running = runner.load(ordering: .relaxed)
        return running == me || (running == 0 && loopThread.load(ordering: .relaxed) == me)
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
        if !isClosed { signalLoop() }
    }

    /// Under `lock`. The write cannot fail but for a full counter (2^64 - 2
    /// unread wake-ups, `.wouldBlock`), which still wakes the loop; an error
    /// would mean the eventfd is gone, and the loop is then closed anyway.
    private func signalLoop() { _ = try? wakeEventFD?.signal() }

    /// Loop thread: reads the eventfd's counter back to zero. Nothing to read
    /// is a spurious wake-up; an error cannot happen while the loop owns it.
    func drainWake() { _ = try? wakeEventFD?.drain() }

    /// Loop thread: everything submitted so far, in submission order, swapped
    /// into `batch` (which must be empty; its storage becomes the new queue's).
    func takeAll(into batch: inout [Job]) {
        lock.lock()
        swap(&pending, &batch)
        lock.unlock()
    }

    /// Loop thread: the executor jobs submitted so far, appended to `jobs`.
    func takeJobs(into jobs: inout [LoopJob]) {
        lock.lock()
        if !pendingJobs.isEmpty {
            jobs.append(contentsOf: pendingJobs)
            pendingJobs.removeAll(keepingCapacity: true)
        }
        lock.unlock()
    }

    /// Loop thread: refuse further work, and hand out what was queued (never
    /// to run) for the caller to release once its own state is consistent: a
    /// closure's deinit is user code. Never released under the lock. Executor
    /// jobs stay for `takeJobs`: they belong to tasks that must go on.
    func close() -> [Job] {
        lock.lock()
        isClosed = true
        var dropped: [Job] = []
        swap(&dropped, &pending)
        lock.unlock()
        return dropped
    }

    /// Loop thread, after `close()` and once the loop no longer watches it:
    /// closes the wake-up eventfd, under the lock (no writer can reach it then).
    /// - Throws: what `close(2)` reports (the descriptor is gone anyway).
    func closeWakeUp() throws(SystemError) {
        lock.lock()
        let eventFD = wakeEventFD.take()
        lock.unlock()
        try eventFD?.close()
    }
}

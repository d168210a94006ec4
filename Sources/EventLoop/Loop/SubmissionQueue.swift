import Synchronization

/// Work other threads hand to a loop: an array behind a lock, swapped whole
/// by the loop, and the loop's eventfd.
///
/// A submission that makes the queue non-empty wakes the loop (an eventfd
/// write); the others only append, so a burst costs one wake-up however many
/// closures it brings. The write happens after the lock is released, so a
/// producer preempted in the system call holds nobody up; the eventfd stays
/// open until every write begun has finished (`signalsInFlight`). The loop
/// swaps the array for an empty spare under the lock and runs the batch
/// outside it: no user code ever runs under the lock. Arrays are reused, so
/// steady state allocates nothing here.
///
/// The lock (`AdaptiveLock`): producers wait for it, spinning briefly and
/// then asleep. The loop thread never waits for it while it runs: its takes
/// (`takeAll`, `takeJobs`) only try, and report a refusal, so that a producer
/// preempted inside the lock (at a low priority, it may stay off its core
/// for seconds) never holds the loop's timers and I/O up.
///
/// Closures are taken `consuming` and moved into the array: a submission
/// touches no reference count of its own. A handler-and-tag submission
/// (`submit(tag:_:)`) stores its handler with the first of a run of
/// submissions that share it and only the tag with the others, so it touches
/// none either, and allocates nothing.
///
/// It also holds what the loop shares with other threads besides work: the stop
/// request and the identity of the thread running the loop.
///
/// Threads: `submit`, `requestStop` from any thread; `takeAll`, `takeJobs`,
/// `close` and `closeWakeUp` on the loop thread only. The lock guards `state`; `runner`, `stopRequested`
/// and `signalsInFlight` are atomics.
final class SubmissionQueue: @unchecked Sendable {
    typealias Work = @Sendable () -> Void
    typealias Handler = @Sendable (Int) -> Void

    /// One submission. A closure in an enum: an array stores a bare closure
    /// at its most general abstraction, which wraps every appended closure in
    /// a reabstraction thunk (one more allocation per submission, measured);
    /// an enum's payload keeps the closure as it is.
    enum Job {
        case work(Work)
        /// A handler and the tag to call it with.
        case tagged(Handler, Int)
        /// The handler of the job just before it (a `.tagged` or `.again`), with this tag.
        case again(Int)
    }

    /// What the lock guards, behind a pointer: a class's stored properties
    /// would be checked for exclusive access at run time on every submission.
    private struct State {
        var pending: [Job] = []
        /// Jobs for the loop's executor from other threads.
        var pendingJobs: [LoopJob] = []
        /// Set once the loop has closed; submissions after it are refused.
        var isClosed = false
        /// Whether the last job in `pending` is a `.tagged` or `.again` with
        /// the handler named by `lastHandler` (which that job keeps alive).
        var hasLastHandler = false
        var lastHandler: (UInt, UInt) = (0, 0)
    }

    /// Internal (not private) for the tests that hold it from another thread.
    let lock = AdaptiveLock()
    private let state: UnsafeMutablePointer<State>
    /// Eventfd writes begun and not finished: `closeWakeUp` waits for them.
    /// Incremented under the lock while the queue is open, so none begins after `close`.
    private let signalsInFlight = Atomic<Int>(0)
    let stopRequested = Atomic<Bool>(false)
    /// The thread that runs the loop (the one running it, or the last that
    /// did, or its creator): what the executor's isolation checks compare against.
    let loopThread = Atomic<UInt>(ThreadIdentity.current.rawValue)
    /// The thread now running the loop's `run`, `runOnce` or manual-clock
    /// advance (`currentThreadIdentity()`), 0 while none does. Claimed on entry
    /// and cleared on exit by the loop thread; read by the loop's thread check
    /// and by `requestStop`.
    let runner = Atomic<UInt>(0)
    /// The loop's wake-up eventfd, owned here. Written by producers outside the
    /// lock while `signalsInFlight` counts them; taken and closed by
    /// `closeWakeUp()` only once no write is in flight and none can begin.
    private var wakeEventFD: EventFD?
    /// The eventfd's number, for the loop to watch and drain (loop thread).
    let wakeDescriptor: Descriptor

    /// A queue with a fresh eventfd. Throws what `eventfd(2)` reports.
    init() throws(SystemError) {
        let eventFD = try EventFD()
        wakeDescriptor = eventFD.descriptor
        wakeEventFD = consume eventFD
        state = .allocate(capacity: 1)
        state.initialize(to: State())
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Whether the loop has closed (its queue refuses submissions). Any thread.
    var isClosed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return state.pointee.isClosed
    }

    /// Queues `work`; false when the loop has closed (then `work` is released
    /// here, after the lock).
    func submit(_ work: consuming @escaping Work) -> Bool {
        lock.lock()
        if state.pointee.isClosed {
            lock.unlock()
            return false
        }
        state.pointee.pending.append(.work(consume work))
        state.pointee.hasLastHandler = false
        let wake = beginSignalIfFirst()
        lock.unlock()
        if wake { signalLoop() }
        return true
    }

    /// Queues `handler(tag)`; false when the loop has closed. The handler is
    /// stored only when it differs from the previous submission's.
    func submit(tag: Int, _ handler: @escaping Handler) -> Bool {
        let identity = Self.identity(of: handler)
        lock.lock()
        if state.pointee.isClosed {
            lock.unlock()
            return false
        }
        if state.pointee.hasLastHandler && state.pointee.lastHandler == identity {
            state.pointee.pending.append(.again(tag))
        } else {
            state.pointee.pending.append(.tagged(handler, tag))
            state.pointee.hasLastHandler = true
            state.pointee.lastHandler = identity
        }
        let wake = beginSignalIfFirst()
        lock.unlock()
        if wake { signalLoop() }
        return true
    }

    /// Queues an executor job from another thread; false when the loop has closed.
    func submitJob(_ job: LoopJob) -> Bool {
        lock.lock()
        if state.pointee.isClosed {
            lock.unlock()
            return false
        }
        state.pointee.pendingJobs.append(job)
        let wake = state.pointee.pendingJobs.count == 1 && state.pointee.pending.isEmpty
        if wake { signalsInFlight.add(1, ordering: .relaxed) }
        lock.unlock()
        if wake { signalLoop() }
        return true
    }

    /// Under `lock`, after appending to `pending`: whether this submission made
    /// the queue non-empty, and so must wake the loop (counted in flight).
    @inline(__always)
    private func beginSignalIfFirst() -> Bool {
        guard state.pointee.pending.count == 1 && state.pointee.pendingJobs.isEmpty else { return false }
        signalsInFlight.add(1, ordering: .relaxed) // ordered before the unlock
        return true
    }

    /// The two words of a closure value (function and context): while a job
    /// holds the closure, its context cannot be freed and reused, so equal
    /// words mean the same closure value. (In a struct: a bare closure passed
    /// to `unsafeBitCast` would be wrapped in a thunk.)
    @inline(__always)
    private static func identity(of handler: @escaping Handler) -> (UInt, UInt) {
        struct Stored { let call: Handler }
        return unsafeBitCast(Stored(call: handler), to: (UInt, UInt).self)
    }

    /// Whether the calling thread is the loop's (see `loopThread`).
    @inline(__always)
    var isLoopThread: Bool { loopThread.load(ordering: .relaxed) == ThreadIdentity.current.rawValue }

    /// Whether the calling thread is running the loop now (inside `run`,
    /// `runOnce` or a callback): the streams' synchronous fast paths ask
    /// this, not `mayTouchLoop`, so a task that merely lands on the thread
    /// that last ran (or created) an idle loop never touches its state.
    @inline(__always)
    var isRunningHere: Bool { runner.load(ordering: .relaxed) == ThreadIdentity.current.rawValue }

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
        let wake = !state.pointee.isClosed
        if wake { signalsInFlight.add(1, ordering: .relaxed) }
        lock.unlock()
        if wake { signalLoop() }
    }

    /// Outside the lock, after a counted `beginSignal`: writes the eventfd.
    /// The write cannot fail but for a full counter (2^64 - 2 unread
    /// wake-ups, `.wouldBlock`), which still wakes the loop; the eventfd is
    /// open (`closeWakeUp` waits for this write).
    private func signalLoop() {
        _ = try? wakeEventFD?.signal()
        signalsInFlight.subtract(1, ordering: .releasing)
    }

    /// Loop thread: reads the eventfd's counter back to zero. Nothing to read
    /// is a spurious wake-up; an error cannot happen while the loop owns it.
    func drainWake() { _ = try? wakeEventFD?.drain() }

    /// Loop thread, right after `drainWake()`: everything submitted so far,
    /// in submission order, swapped into `batch` when it is empty (its storage
    /// becomes the new queue's), and the executor jobs appended to `jobs`.
    /// Both lists are emptied together: a producer wakes the loop only when it
    /// finds both empty, so a list left behind would let the next producer's
    /// work wait, unannounced, behind a wake-up already drained.
    ///
    /// Returns false, having taken nothing, when a producer holds the lock
    /// (`AdaptiveLock.tryLock`): the loop must then take again soon on its
    /// own, since the wake-up it drained is not repeated.
    func takeAll(into batch: inout [Job], jobs: inout [LoopJob]) -> Bool {
        guard lock.tryLock() else { return false }
        if batch.isEmpty {
            swap(&state.pointee.pending, &batch)
            state.pointee.hasLastHandler = false
        }
        if !state.pointee.pendingJobs.isEmpty {
            jobs.append(contentsOf: state.pointee.pendingJobs)
            state.pointee.pendingJobs.removeAll(keepingCapacity: true)
        }
        lock.unlock()
        return true
    }

    /// Loop thread: runs a batch taken by `takeAll`, in order, until `stop()`
    /// says to (it is asked after every job). Each job is moved out of the
    /// batch to run, so its closure is released right after it ran, with no
    /// copy made (the slot keeps a trivial `.again`); a run of tagged jobs
    /// with one handler holds it once. What `stop()` cuts off stays in the
    /// batch, for the caller to release.
    static func run(_ batch: inout [Job], until stop: () -> Bool) {
        batch.withUnsafeMutableBufferPointer { jobs in
            guard let base = jobs.baseAddress else { return }
            let count = jobs.count
            var index = 0
            while index < count {
                let job = (base + index).move()
                (base + index).initialize(to: .again(0))
                index += 1
                switch consume job {
                case .work(let work):
                    work()
                case .tagged(let handler, let tag):
                    handler(tag)
                    while index < count, !stop(), case .again(let next) = base[index] {
                        index += 1
                        handler(next)
                    }
                case .again:
                    preconditionFailure("a tagged submission without its handler") // `.again` follows its `.tagged`
                }
                if stop() { return }
            }
        }
    }

    /// Whether executor jobs from other threads may be waiting to be taken:
    /// true also when a producer holds the lock (the loop never waits for it).
    /// Loop thread.
    var hasJobs: Bool {
        guard lock.tryLock() else { return true }
        defer { lock.unlock() }
        return !state.pointee.pendingJobs.isEmpty
    }

    /// Loop thread: the executor jobs submitted so far, appended to `jobs`;
    /// false, having taken nothing, when a producer holds the lock. Nothing is
    /// lost then: the producer that made the list non-empty wrote the eventfd,
    /// and the loop has not drained it since (or it has, and retries a refused
    /// `takeAll`, which takes these jobs too).
    func takeJobs(into jobs: inout [LoopJob]) -> Bool {
        guard lock.tryLock() else { return false }
        if !state.pointee.pendingJobs.isEmpty {
            jobs.append(contentsOf: state.pointee.pendingJobs)
            state.pointee.pendingJobs.removeAll(keepingCapacity: true)
        }
        lock.unlock()
        return true
    }

    /// Loop thread: refuse further work, and hand out what was queued: the
    /// closures (never to run) for the caller to release once its own state
    /// is consistent (a closure's deinit is user code; never released under
    /// the lock), and the executor jobs, which belong to tasks that must go on
    /// elsewhere. None can come after: every submission is refused from here.
    /// Waits for the lock (it sleeps if a preempted producer holds it): once.
    func close() -> (dropped: [Job], jobs: [LoopJob]) {
        lock.lock()
        state.pointee.isClosed = true
        var dropped: [Job] = []
        swap(&dropped, &state.pointee.pending)
        var jobs: [LoopJob] = []
        swap(&jobs, &state.pointee.pendingJobs)
        state.pointee.hasLastHandler = false
        lock.unlock()
        return (dropped, jobs)
    }

    /// Loop thread, after `close()` and once the loop no longer watches it:
    /// closes the wake-up eventfd once no write to it is in flight (none can
    /// begin after `close()`).
    /// - Throws: what `close(2)` reports (the descriptor is gone anyway).
    func closeWakeUp() throws(SystemError) {
        while signalsInFlight.load(ordering: .acquiring) != 0 { Kernel.yieldProcessor() }
        lock.lock()
        let eventFD = wakeEventFD.take()
        lock.unlock()
        try eventFD?.close()
    }
}

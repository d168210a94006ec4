/// The `Sendable` face of an `IOLoop` for Swift concurrency: a serial
/// executor and a task executor that runs jobs on the loop's thread.
///
/// - `Task(executorPreference: loop.executor) { ... }` runs the task's
///   nonisolated code on the loop thread; an actor whose `unownedExecutor` is
///   `loop.executor.asUnownedSerialExecutor()` is isolated to the loop thread.
/// - A job enqueued from the loop thread goes on the loop's run queue: no
///   lock, no eventfd write. From another thread it goes through the loop's
///   submission queue (a short lock, and one eventfd write per burst).
///   Jobs run after the iteration's call-soon closures, in enqueue order.
/// - `checkIsolated()` passes on the loop thread and stops the process with a
///   clear message anywhere else, so `assumeIsolated` works on the loop thread.
/// - Once the loop has closed, jobs still enqueued go to Swift's global
///   concurrent executor, so no task is ever lost (its waits on the loop
///   throw `LoopError.closed`).
///
/// The async waits (`sleep`, `waitUntilReadable`, `withDeadline`…) are
/// methods of this type, callable from any task: a wait is armed on the loop
/// thread (at once when called there, otherwise through the submission
/// queue) and resumes its task from there.
///
/// Any thread. `@unchecked Sendable`: `queue` is thread-safe; `token` is
/// read only on the loop thread (checked before every use).
public final class LoopExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    let queue: SubmissionQueue
    /// Loop thread only: reaches the loop while it lives.
    let token: LoopToken
    /// The serial face, for actors: its jobs run isolated to it. This object's
    /// own `enqueue` takes a task's nonisolated jobs, which run with no serial
    /// isolation, so a nonisolated async function entered on the loop thread
    /// does not hop. (The runtime calls one `enqueue` for both roles; a job run
    /// isolated to a serial executor would hop off it, and back, at every
    /// nonisolated call: one loop iteration each.)
    let serialFace: LoopSerialExecutor

    init(queue: SubmissionQueue, token: LoopToken) {
        self.queue = queue
        self.token = token
        serialFace = LoopSerialExecutor(queue: queue, token: token)
    }

    /// Whether the calling thread is the loop's: the one running it (or that
    /// last ran it, or created it). Any thread.
    public var isOnLoopThread: Bool { queue.isLoopThread }

    /// Takes a job for the loop thread (see the type's comment for the path
    /// it takes). Any thread; called by the Swift runtime.
    public func enqueue(_ job: consuming ExecutorJob) {
        LoopJob.enqueue(LoopJob(job: UnownedJob(job), isolated: false), queue, token)
    }

    /// Stops the process unless called on the loop thread; Swift calls it to
    /// back `assumeIsolated` and isolation assertions.
    public func checkIsolated() {
        // fatalError, not precondition: the message stays in optimized builds.
        if !queue.isLoopThread { fatalError("not on the IOLoop's thread: this code is isolated to an IOLoop's executor") }
    }

    /// The loop's serial executor, for an actor's `unownedExecutor`: its jobs
    /// run on the loop thread isolated to it (see `serialFace`).
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: serialFace)
    }

    /// Runs one job on the loop thread: an actor's isolated to this serial
    /// executor, a task's nonisolated one on the task face. Loop thread.
    @inline(__always)
    func run(_ job: LoopJob) {
        if job.isolated {
            job.job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        } else {
            job.job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// A job for the loop, and whether it came through the serial face (an
/// actor's) or the task face (a task's nonisolated code).
struct LoopJob {
    let job: UnownedJob
    let isolated: Bool

    /// On the loop thread: the run queue, no lock. Elsewhere: the submission
    /// queue. After the loop closed: Swift's global executor, so no task is lost.
    @inline(__always)
    static func enqueue(_ job: LoopJob, _ queue: SubmissionQueue, _ token: LoopToken) {
        if queue.mayTouchLoop, let loop = token.loop, !loop.isClosed {
            loop.enqueueJob(job)
        } else if !queue.submitJob(job) {
            globalConcurrentExecutor.enqueue(ExecutorJob(job.job))
        }
    }
}

/// The loop's serial face, for actors (see `LoopExecutor.serialFace`). Any thread.
final class LoopSerialExecutor: SerialExecutor, @unchecked Sendable {
    let queue: SubmissionQueue
    /// Loop thread only.
    let token: LoopToken

    init(queue: SubmissionQueue, token: LoopToken) {
        self.queue = queue
        self.token = token
    }

    func enqueue(_ job: consuming ExecutorJob) {
        LoopJob.enqueue(LoopJob(job: UnownedJob(job), isolated: true), queue, token)
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    func checkIsolated() {
        // fatalError, not precondition: the message stays in optimized builds.
        if !queue.isLoopThread { fatalError("not on the IOLoop's thread: this code is isolated to an IOLoop's executor") }
    }
}

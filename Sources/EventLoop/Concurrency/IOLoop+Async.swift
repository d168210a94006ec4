import Synchronization

extension IOLoop {
    /// Runs the loop until `body` finishes, and returns its value or rethrows
    /// its error: asyncio's `run_until_complete`. `body` runs as a task on the
    /// loop's executor (its nonisolated code on the loop thread) and gets the
    /// executor, the `Sendable` face of the loop for the async waits and the
    /// streams. The loop is usable again afterwards; tasks the body started
    /// and left running go on when the loop runs next.
    ///
    /// Loop thread; not from inside a callback of this loop.
    /// - Throws: what `body` throws; `LoopError.closed`, `.alreadyRunning`, or
    ///   a selector failure from running the loop.
    public func run<T: Sendable>(_ body: sending @escaping (LoopExecutor) async throws -> T) throws -> T {
        try refuseIfClosed()
        let executor = self.executor
        let outcome = Outcome<T>()
        Task(executorPreference: executor) {
            let result: Result<T, any Error>
            do { result = .success(try await body(executor)) } catch { result = .failure(error) }
            outcome.result.withLock { $0 = result }
        }
        while true {
            if let result = outcome.result.withLock({ $0 }) { return try result.get() }
            try runOnce(timeout: nil)
        }
    }

    /// Whether the loop's backend can register edge-triggered (epoll).
    var supportsEdgeTriggering: Bool { selector.supportsEdgeTriggering }

    /// Enqueues an executor job from the loop thread: no lock, no wake-up.
    @inline(__always)
    func enqueueJob(_ job: LoopJob) { jobs.append(job) }

    /// Runs the executor jobs queued so far, in order, and those they enqueue
    /// in turn (a task resuming another), up to `jobBudget` jobs per
    /// iteration: a hop between tasks on the loop costs no wait in the kernel,
    /// and a task that keeps yielding cannot starve I/O (as NIO and tokio bound theirs).
    func runJobs() {
        _ = submissions.takeJobs(into: &jobs) // a refusal leaves them announced (see `takeJobs`)
        var ran = 0
        while !jobs.isEmpty && ran < IOLoop.jobBudget && !closed {
            var batch = jobBatch
            swap(&batch, &jobs)
            jobBatch = []
            for job in batch { executor.run(job) }
            ran += batch.count
            batch.removeAll(keepingCapacity: true)
            jobBatch = batch
        }
    }

    /// How many executor jobs one iteration runs at most before it polls for I/O again.
    static var jobBudget: Int { 4_096 }
}

/// Where `IOLoop.run(_:)` finds its body's result: written by the body's task
/// (normally on the loop thread; on another after a close), read by the loop.
private final class Outcome<T: Sendable>: Sendable {
    let result = Mutex<Result<T, any Error>?>(nil)
}

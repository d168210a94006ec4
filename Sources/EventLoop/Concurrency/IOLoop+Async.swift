import Synchronization

extension IOLoop {
    /// Runs the loop until `body` finishes, and returns its value or rethrows
    /// its error: asyncio's `run`. `body` runs as a task on the loop's
    /// executor (its nonisolated code on the loop thread) and gets the
    /// executor, the `Sendable` face of the loop for the async waits and the
    /// streams. The loop is usable again afterwards.
    ///
    /// Tasks left behind: once `body` has finished, every task still
    /// suspended in one of this loop's waits (a sleep, a readiness wait, a
    /// stream's read, write or accept, a deadline), whoever started it, is
    /// cancelled, and the loop runs until those tasks have left its waits
    /// and no job is queued for its executor, as asyncio's `run` cancels and
    /// gathers the tasks still pending. A cancelled task cannot wait on the
    /// loop again (every wait throws `CancellationError` at once), so this
    /// ends; it finishes when its cleanup is done. A task waiting on
    /// something else (another executor, a continuation of its own) is not
    /// waited for: it goes on when it is resumed. What such a task throws is
    /// its own handle's to report (Swift gives an unstructured task's result
    /// to nobody else): keep the handle, or catch inside the task.
    ///
    /// Loop thread; not from inside a callback of this loop.
    /// - Throws: what `body` throws; `LoopError.closed`, `.alreadyRunning`, or
    ///   a selector failure from running the loop.
    public func run<T: Sendable>(_ body: sending @escaping (LoopExecutor) async throws -> T) throws -> T {
        try run(cancellingOnInterrupt: false, body)
    }

    /// `run(_:)`, taking Ctrl-C as asyncio's `run` does when
    /// `cancellingOnInterrupt` is true: the first `SIGINT` cancels `body`'s
    /// task, so its cleanup runs (its waits throw `CancellationError`,
    /// `defer` blocks and `catch` clauses run) and `run` rethrows what `body`
    /// throws then, normally that `CancellationError`; a second `SIGINT`
    /// while `run` still runs (a slow cleanup) gives the signal its default
    /// action back and raises it again: the process ends as Ctrl-C ends it
    /// (killed by `SIGINT`: a shell sees status 130). Everything else is as
    /// `run(_:)` (the tasks left in the loop's waits are cancelled and
    /// awaited before it returns).
    ///
    /// The handler is the loop's own (`onSignal`: it runs on the loop's
    /// thread), installed only while `SIGINT`'s disposition is the default
    /// action when `run` starts, as asyncio does: a program that ignores it
    /// (a background job of a shell without job control) or handles it
    /// itself keeps that, and then nothing changes. It is removed when `run`
    /// returns or throws, and `SIGINT` then does what it did before. A
    /// `SIGINT` handler that `body` adds to this loop meanwhile runs too.
    /// With `false`, this is `run(_:)`, which does nothing about signals.
    ///
    /// Loop thread; not from inside a callback of this loop.
    /// - Throws: what `body` throws (`CancellationError` after a Ctrl-C,
    ///   unless `body` turns it into something else); `LoopError.closed`,
    ///   `.alreadyRunning`, a selector failure from running the loop, or what
    ///   `onSignal` throws when installing the Ctrl-C handler (then `body`
    ///   never runs).
    public func run<T: Sendable>(
        cancellingOnInterrupt: Bool, _ body: sending @escaping (LoopExecutor) async throws -> T
    ) throws -> T {
        try refuseIfClosed()
        let executor = self.executor
        let outcome = Outcome<T>()
        let interrupt = cancellingOnInterrupt ? try InterruptCancellation(self) : nil
        defer { interrupt?.end() }
        let task = Task(executorPreference: executor) {
            let result: Result<T, any Error>
            do { result = .success(try await body(executor)) } catch { result = .failure(error) }
            outcome.result.withLock { $0 = result }
        }
        interrupt?.task = task
        while true {
            if let result = outcome.result.withLock({ $0 }) {
                try finishLeftoverTasks()
                return try result.get()
            }
            try runOnce(timeout: nil)
        }
    }

    /// Lets the tasks waiting on the loop (and the jobs queued for it) finish
    /// for up to `gracePeriod` of monotonic time, then cancels the tasks still
    /// waiting and runs until they have ended (`finishLeftoverTasks`). For a
    /// loop that is shutting down (`LoopThread`). Loop thread.
    func finishTasks(within gracePeriod: Duration) throws {
        let deadline = MonotonicInstant.now() + gracePeriod
        while !closed {
            if waiters.waitingTasks().isEmpty && jobs.isEmpty && !submissions.hasJobs && callSoonQueue.isEmpty { break }
            let left = deadline - MonotonicInstant.now()
            if left <= .zero { break }
            try runOnce(timeout: min(left, .milliseconds(50)))
        }
        try finishLeftoverTasks()
    }

    /// `run(_:)`'s body has finished: cancels the tasks suspended in the
    /// loop's waits and runs iterations until none is left and no job waits.
    func finishLeftoverTasks() throws {
        while !closed {
            let waiting = waiters.waitingTasks()
            if waiting.isEmpty && jobs.isEmpty && !submissions.hasJobs { return }
            // Cancelling runs the waits' cancellation handlers here, on the
            // loop thread; a task already cancelled is left as it is.
            for task in waiting where !task.isCancelled { task.cancel() }
            try runOnce(timeout: waiting.isEmpty ? .zero : .milliseconds(10))
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
            executorJobCount &+= UInt64(batch.count)
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

extension IOLoop {
    // Work from other threads: taking it from the submission queue, and
    // running it in the last phase of an iteration. Loop thread only.

    /// The wake-up watcher: drain the eventfd and take everything submitted so
    /// far; it runs after the call-soon batch (`runSubmissionBatch`).
    ///
    /// The take only tries the queue's lock: a producer preempted while it
    /// holds it (one of low priority may stay off its core for seconds) must
    /// not stop the loop. A refused take is counted, and the count keeps the
    /// next waits short (`takeRetryDelay`) and has `iterate` try again after
    /// each, until a take succeeds: the drained wake-up is not repeated, so
    /// the loop itself must come back for the work.
    func takeSubmissions() {
        // Drained before the take: a submission landing after the take finds
        // the queue empty and writes the eventfd again, so none is missed.
        submissions.drainWake()
        if submissions.takeAll(into: &submissionBatch, jobs: &jobs) {
            submissionTakeRefusals = 0
        } else {
            submissionTakeRefusals += 1
        }
    }

    /// How long the loop waits, at most, before it tries again a take that
    /// the queue's lock refused `refusals` times in a row: 50 µs, doubled at
    /// each refusal up to 0.8 ms. A refusal means the holder is off its core
    /// (a running holder releases the lock within the try's spinning), so an
    /// immediate retry would mostly poll; backing off keeps a long preemption
    /// from costing the loop's core a wake-up every few microseconds.
    static func takeRetryDelay(afterRefusals refusals: Int) -> Int64 {
        50_000 << min(refusals - 1, 4)
    }

    /// Runs what the wake-up watcher took, in submission order.
    func runSubmissionBatch() {
        guard !submissionBatch.isEmpty else { return }
        var batch: [SubmissionQueue.Job] = []
        swap(&batch, &submissionBatch)
        SubmissionQueue.run(&batch) { closed }
        batch.removeAll(keepingCapacity: true) // released outside the loop's state: user deinits may call back
        if !closed { submissionBatch = batch } // empty storage, reused by the next take
    }
}

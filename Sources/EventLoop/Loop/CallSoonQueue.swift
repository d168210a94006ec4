/// The call-soon queue: FIFO, run in batches. An iteration takes everything
/// queued when its wait ends as its batch; what is added after that, by any
/// callback of the iteration, waits for the next one. Arrays trade places, so
/// steady state allocates nothing.
///
/// The batch is handed out rather than run in place, so a running closure may
/// add to the queue without overlapping access to it, and closures are
/// released by the caller, outside any access to the queue (a closure's
/// release may run a `deinit`, which is user code and may call `callSoon`).
///
/// Loop thread only.
struct CallSoonQueue {
    typealias Work = () throws -> Void

    /// A closure in a struct, so the array stores it without a reabstraction
    /// thunk (see `SubmissionQueue.Job`).
    struct Job {
        let run: Work
    }

    private var pending: [Job] = []
    /// This iteration's batch, taken when its wait ended, until it runs.
    private var batch: [Job] = []
    private var spare: [Job] = []

    /// Closures waiting to run: queued, and taken for this iteration but not yet started.
    var count: Int { pending.count + batch.count }
    /// Whether nothing is queued for a coming iteration.
    var isEmpty: Bool { pending.isEmpty }
    /// Whether this iteration has a batch still to run.
    var hasBatch: Bool { !batch.isEmpty }

    mutating func append(_ work: @escaping Work) { pending.append(Job(run: work)) }

    /// The wait is over: everything queued so far is this iteration's batch.
    @inline(__always)
    mutating func beginBatch() {
        guard !pending.isEmpty, batch.isEmpty else { return }
        swap(&batch, &pending)
        swap(&pending, &spare) // spare is empty: its storage serves the next queue
    }

    /// Hands out this iteration's batch to run.
    mutating func takeBatch() -> [Job] {
        var taken: [Job] = []
        swap(&taken, &batch)
        return taken
    }

    /// Gives a run batch's storage back for reuse. Its closures must be
    /// released already: no user code may run in here.
    mutating func recycle(_ emptied: consuming [Job]) {
        assert(emptied.isEmpty)
        if spare.capacity < emptied.capacity { swap(&spare, &emptied) }
    }

    /// Empties the queue and hands out every closure it held, for the caller to release.
    mutating func takeAll() -> [Job] {
        var all: [Job] = []
        swap(&all, &batch)
        all += pending
        pending = []
        spare = []
        return all
    }
}

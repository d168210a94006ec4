/// The call-soon queue: FIFO, and what is added while a batch runs waits for
/// the next iteration. Two arrays trade places, so steady state allocates nothing.
///
/// The batch is handed out rather than run in place, so a running closure may
/// add to the queue without overlapping access to it.
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
    private var spare: [Job] = []

    var count: Int { pending.count }
    var isEmpty: Bool { pending.isEmpty }

    mutating func append(_ work: @escaping Work) { pending.append(Job(run: work)) }

    /// Takes everything queued so far; later appends start a new batch.
    mutating func takeBatch() -> [Job] {
        let batch = pending
        pending = spare
        spare = []
        return batch
    }

    /// Gives a run batch's storage back for reuse, releasing its closures.
    mutating func recycle(_ batch: consuming [Job]) {
        batch.removeAll(keepingCapacity: true)
        if spare.capacity < batch.capacity { spare = batch }
    }

    mutating func removeAll() {
        pending = []
        spare = []
    }
}

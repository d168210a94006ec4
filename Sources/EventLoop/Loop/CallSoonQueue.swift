/// The call-soon queue: FIFO, and what is added while a batch runs waits for
/// the next iteration. Two arrays trade places, so steady state allocates nothing.
///
/// The batch is handed out rather than run in place, so a running closure may
/// add to the queue without overlapping access to it.
///
/// Loop thread only.
struct CallSoonQueue {
    typealias Work = () throws -> Void

    private var pending: [Work] = []
    private var spare: [Work] = []

    var count: Int { pending.count }
    var isEmpty: Bool { pending.isEmpty }

    mutating func append(_ work: @escaping Work) { pending.append(work) }

    /// Takes everything queued so far; later appends start a new batch.
    mutating func takeBatch() -> [Work] {
        let batch = pending
        pending = spare
        spare = []
        return batch
    }

    /// Gives a run batch's storage back for reuse, releasing its closures.
    mutating func recycle(_ batch: consuming [Work]) {
        batch.removeAll(keepingCapacity: true)
        if spare.capacity < batch.capacity { spare = batch }
    }

    mutating func removeAll() {
        pending = []
        spare = []
    }
}

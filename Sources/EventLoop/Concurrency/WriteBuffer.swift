import Synchronization

/// The bytes a `StreamConnection` took with `bufferWrite(_:)` (or a write
/// queued behind them) that the kernel has not taken yet, its water marks,
/// and the tasks waiting for it to empty.
///
/// Two arrays, so that no system call is made under the lock: `incoming`,
/// behind the lock, where any thread appends in call order; `outgoing`, the
/// loop thread's, which the flush writes from and, once it is used up, swaps
/// with `incoming` (both keep their capacity). Counts are totals since the
/// connection opened (`accepted`, `flushed`), so a waiter's target is one
/// number and "anything buffered?" is one atomic load on the write path.
///
/// The lock is a `LockedState` (an `AdaptiveLock`), as the group's and the
/// servers' shared state: held for an append (a copy of the caller's bytes),
/// a swap of the two arrays or a few counts, never across a system call or
/// user code. The loop thread takes it with `lock()`, not the submission
/// queue's `tryLock`: its sections are as short as an appender's, and an
/// appender preempted inside one delays only this connection's flush. (Not
/// `Mutex`: ThreadSanitizer cannot see its contended locking, in the kernel,
/// and reported its sections as races.)
///
/// Threads: `shared` under its lock (any thread); `accepted` and `flushed`
/// changed under that lock, read without it (any thread); the fields after
/// them on the loop thread only. `@unchecked Sendable` for those.
final class WriteBuffer: @unchecked Sendable {
    /// What any thread may touch, under the lock.
    struct Shared {
        /// Bytes taken after those in `outgoing`, in call order.
        var incoming: [UInt8] = []
        /// At or below it (bytes), the buffer is writable again.
        var lowWaterMark = 16_384
        /// Above it (bytes), the buffer is no longer writable.
        var highWaterMark = 65_536
        /// Writability with hysteresis (asyncio's pause and resume, NIO's
        /// writability): false once more than `highWaterMark` bytes are
        /// buffered, true again once at most `lowWaterMark` are.
        var belowMarks = true
        /// Why bytes are refused for good: the connection closed, or the
        /// error that ended the stream. Buffered bytes are dropped with it.
        var refusal: StreamError?
        /// Why bytes are refused while writing is being shut down (the
        /// buffered ones still go out first); nil when it is not.
        var shutDown: StreamError?
        /// A closure that starts the flush is on its way to the loop (sent by
        /// a `bufferWrite` off the loop thread): no need to send another.
        var kickPending = false
    }

    private let shared = LockedState(Shared())
    /// Bytes taken since the connection opened.
    let accepted = Atomic<Int>(0)
    /// Bytes of those the kernel has taken (or that were dropped).
    let flushed = Atomic<Int>(0)

    // Loop thread only, below: one thread at a time, so the run-time
    // exclusivity checks of these class properties, on the path of every
    // buffered write, are left out (as `SocketCore` does for its waiters).
    /// The bytes being written: `outgoing[sent...]` are not yet.
    @exclusivity(unchecked) var outgoing: [UInt8] = []
    @exclusivity(unchecked) var sent = 0
    /// A send by completion of `outgoing[sent...]` is in the kernel (io_uring):
    /// `outgoing` must not change until it completes.
    @exclusivity(unchecked) var sendInFlight = false
    /// Sends in a row that sent nothing and went again.
    @exclusivity(unchecked) var sendsResent = 0
    /// The writer's turn the flush holds, or waits for in line (0: no flush).
    @exclusivity(unchecked) var flushTurn: UInt64 = 0
    /// Tasks in `drain()` waiting for the buffer to be writable again.
    @exclusivity(unchecked) var writableWaiters: [Waiter<Void>] = []
    /// Tasks waiting until `flushed` reaches their target (`drain(untilEmpty:)`,
    /// a write queued behind buffered bytes).
    @exclusivity(unchecked) var flushWaiters: [(target: Int, waiter: Waiter<Void>)] = []

    /// Runs `body` on `shared` under its lock.
    @inline(__always)
    private func withLock<R>(_ body: (inout Shared) throws -> R) rethrows -> R {
        try shared.withLock(body)
    }

    /// Whether bytes wait for the kernel. Any thread (on the loop thread,
    /// exact; elsewhere, a moment's view).
    var holdsBytes: Bool { accepted.load(ordering: .acquiring) != flushed.load(ordering: .acquiring) }

    /// Bytes waiting for the kernel. Any thread. (`flushed` first: it never
    /// passes `accepted`, so the difference is never negative.)
    var count: Int {
        let done = flushed.load(ordering: .acquiring)
        return accepted.load(ordering: .acquiring) - done
    }

    /// Appends `bytes` in call order, unless bytes are refused. Any thread;
    /// no code but a copy runs under the lock (`bytes` is memory: an array,
    /// a slice, a buffer pointer).
    /// - Returns: the total of bytes taken, these included (the target a
    ///   writer waits for), and whether the caller must send the loop a
    ///   closure that starts the flush (`kick`: only off the loop thread).
    /// - Throws: the refusal (`StreamError`).
    func append(_ bytes: some Collection<UInt8>, kick: Bool) throws -> (total: Int, sendKick: Bool) {
        try withLock { shared in
            if let refusal = shared.refusal ?? shared.shutDown { throw refusal }
            shared.incoming.append(contentsOf: bytes)
            let total = accepted.load(ordering: .relaxed) + bytes.count
            accepted.store(total, ordering: .releasing)
            if total - flushed.load(ordering: .relaxed) > shared.highWaterMark { shared.belowMarks = false }
            let sendKick = kick && !shared.kickPending
            if sendKick { shared.kickPending = true }
            return (total, sendKick)
        }
    }

    /// Loop thread: moves `incoming` into `outgoing` once `outgoing` is
    /// written out. False when nothing is left to write.
    func refill() -> Bool {
        if sent < outgoing.count { return true }
        sent = 0
        return withLock { shared in
            outgoing.removeAll(keepingCapacity: true)
            swap(&outgoing, &shared.incoming)
            return !outgoing.isEmpty
        }
    }

    /// Loop thread: the kernel took `count` more bytes. Returns whether the
    /// buffer became writable again (at most `lowWaterMark` bytes left).
    func didFlush(_ count: Int) -> Bool {
        sent += count
        return withLock { shared in
            let total = flushed.load(ordering: .relaxed) + count
            flushed.store(total, ordering: .releasing)
            guard !shared.belowMarks, accepted.load(ordering: .relaxed) - total <= shared.lowWaterMark else { return false }
            shared.belowMarks = true
            return true
        }
    }

    /// Loop thread: refuses bytes from now on with `error` (a first refusal
    /// stays unless `overriding`: a close) and drops those buffered.
    func refuse(_ error: StreamError, overriding: Bool) {
        outgoing.removeAll()
        sent = 0
        refuseIncoming(error, overriding: overriding)
    }

    /// Any thread (once the loop has closed: nothing flushes any more): the
    /// locked half of `refuse`, which leaves `outgoing` alone.
    func refuseIncoming(_ error: StreamError, overriding: Bool) {
        withLock { shared in
            if overriding || shared.refusal == nil { shared.refusal = error }
            shared.incoming.removeAll()
            flushed.store(accepted.load(ordering: .relaxed), ordering: .releasing)
            shared.belowMarks = true
        }
    }

    /// Loop thread: refuses bytes with `error` while writing is being shut
    /// down, or takes them again (nil: a cancelled `shutdownWriting`).
    func setShutDown(_ error: StreamError?) {
        withLock { $0.shutDown = error }
    }

    /// Loop thread: the closure an off-loop `bufferWrite` sent has arrived.
    func kickArrived() { withLock { $0.kickPending = false } }

    /// Whether `drain()` may return: the buffer is writable (see `belowMarks`). Any thread.
    var isBelowMarks: Bool { withLock { $0.belowMarks } }

    /// Below the marks, and bytes are taken. Any thread.
    var isWritable: Bool { withLock { $0.belowMarks && $0.refusal == nil && $0.shutDown == nil } }

    /// The water marks (bytes). Any thread.
    var waterMarks: (low: Int, high: Int) { withLock { ($0.lowWaterMark, $0.highWaterMark) } }

    /// Sets the water marks (checked by the caller) and applies them to the
    /// bytes buffered now. Any thread. Returns whether the buffer became
    /// writable again.
    func setWaterMarks(low: Int, high: Int) -> Bool {
        withLock { shared in
            shared.lowWaterMark = low
            shared.highWaterMark = high
            let buffered = accepted.load(ordering: .relaxed) - flushed.load(ordering: .relaxed)
            if buffered > high {
                shared.belowMarks = false
            } else if buffered <= low && !shared.belowMarks {
                shared.belowMarks = true
                return true
            }
            return false
        }
    }
}

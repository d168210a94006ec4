import Synchronization

/// Work other threads hand to a loop: a locked queue, a "wake pending" flag,
/// and the loop's eventfd.
///
/// Threads: `submit` and `requestStop` from any thread; `takeAll` and
/// `acknowledgeWake` on the loop thread only. The lock guards `queue` only, and
/// no user code ever runs under it.
final class SubmissionQueue: Sendable {
    typealias Work = @Sendable () -> Void

    private let queue = Mutex<[Work]>([])
    /// True from the first submission after a wake-up until the loop drains the
    /// eventfd: later submitters see it and skip the write, so one wake-up costs
    /// at most one eventfd write however many submissions arrive.
    private let wakePending = Atomic<Bool>(false)
    let stopRequested = Atomic<Bool>(false)
    /// Set once the loop has closed; submissions after it are refused.
    let closed = Atomic<Bool>(false)
    /// The loop's eventfd, borrowed: the loop owns and closes it, after setting `closed`.
    private let wakeDescriptor: Int32

    init(wakeDescriptor: Descriptor) { self.wakeDescriptor = wakeDescriptor.rawValue }

    /// Queues `work`; false when the loop has closed.
    func submit(_ work: @escaping Work) -> Bool {
        let accepted = queue.withLock { queue -> Bool in
            if closed.load(ordering: .acquiring) { return false }
            queue.append(work)
            return true
        }
        if accepted { wake() }
        return accepted
    }

    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wake()
    }

    /// Writes the eventfd unless a wake-up is already on its way.
    private func wake() {
        guard !wakePending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // Under the lock, so the loop cannot close the eventfd between the
        // check and the write (the number could be reused by then).
        queue.withLock { _ in
            guard !closed.load(ordering: .acquiring) else { return }
            // Cannot fail but for a full counter (2^64 - 2 wake-ups unread), which still wakes the loop.
            _ = try? EventFD.signal(Descriptor(wakeDescriptor))
        }
    }

    /// Loop thread: the eventfd was drained; the next submission must write again.
    /// Called before `takeAll`, so nothing queued after the take goes unsignalled.
    func acknowledgeWake() { wakePending.store(false, ordering: .sequentiallyConsistent) }

    /// Loop thread: everything queued so far, swapped for `spare` to avoid allocating.
    func takeAll(swappingWith spare: inout [Work]) {
        queue.withLock { queue in swap(&queue, &spare) }
    }

    var isEmpty: Bool { queue.withLock { $0.isEmpty } }

    /// Loop thread: refuse further work and hand back what never ran.
    func close() -> [Work] {
        queue.withLock { queue in
            closed.store(true, ordering: .releasing)
            defer { queue = [] }
            return queue
        }
    }
}

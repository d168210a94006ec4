import Synchronization

/// Work other threads hand to a loop: a lock-free stack that the loop takes
/// whole, a "wake pending" flag, and the loop's eventfd.
///
/// Producers push with one compare-and-swap (no lock, so a producer that the
/// scheduler preempts never blocks the others); the loop exchanges the head
/// for nil and reverses the list, so each producer's submissions run in the
/// order it made them. There is no ABA hazard: nodes are only ever pushed one
/// by one and taken all at once.
///
/// Threads: `submit`, `requestStop` from any thread; `takeAll`,
/// `acknowledgeWake`, `close` on the loop thread only.
final class SubmissionQueue: Sendable {
    typealias Work = @Sendable () -> Void

    private final class Node {
        let work: Work
        var next: Unmanaged<Node>?
        init(_ work: @escaping Work) { self.work = work }
    }

    /// The newest node (retained by the stack), as its address; 0 when empty.
    private let head = Atomic<UInt>(0)
    /// True from the first submission after a wake-up until the loop drains the
    /// eventfd: later submitters see it and skip the write, so one wake-up costs
    /// at most one eventfd write however many submissions arrive.
    private let wakePending = Atomic<Bool>(false)
    let stopRequested = Atomic<Bool>(false)
    /// Set once the loop has closed; submissions after it are refused.
    let closed = Atomic<Bool>(false)
    /// Writers of the eventfd hold this, so the loop cannot close it (and the
    /// number be reused) between their check of `closed` and their write.
    private let wakeLock = Mutex<Void>(())
    /// The loop's eventfd, borrowed: the loop owns and closes it, after `close()`.
    private let wakeDescriptor: Descriptor

    init(wakeDescriptor: Descriptor) { self.wakeDescriptor = wakeDescriptor }

    /// Queues `work`; false when the loop has closed.
    func submit(_ work: @escaping Work) -> Bool {
        if closed.load(ordering: .acquiring) { return false }
        let node = Unmanaged.passRetained(Node(work))
        let address = UInt(bitPattern: node.toOpaque())
        var current = head.load(ordering: .relaxed)
        while true {
            node.takeUnretainedValue().next = current == 0 ? nil : Unmanaged.fromOpaque(UnsafeRawPointer(bitPattern: current)!)
            let (exchanged, original) = head.compareExchange(
                expected: current, desired: address, successOrdering: .releasing, failureOrdering: .relaxed)
            if exchanged { break }
            current = original
        }
        wake()
        return true
    }

    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wake()
    }

    /// Writes the eventfd unless a wake-up is already on its way.
    private func wake() {
        guard !wakePending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wakeLock.withLock { _ in
            guard !closed.load(ordering: .acquiring) else { return }
            // Cannot fail but for a full counter (2^64 - 2 unread wake-ups), which still wakes the loop.
            _ = try? EventFD.signal(wakeDescriptor)
        }
    }

    /// Loop thread: the eventfd was drained; the next submission must write again.
    /// Called before `takeAll`, so a submission pushed after the take sees no
    /// pending wake-up and writes.
    func acknowledgeWake() { wakePending.store(false, ordering: .sequentiallyConsistent) }

    /// Loop thread: appends everything submitted so far to `batch`, oldest first.
    func takeAll(into batch: inout [Work]) {
        var address = head.exchange(0, ordering: .acquiring)
        let start = batch.count
        while address != 0 {
            let node = Unmanaged<Node>.fromOpaque(UnsafeRawPointer(bitPattern: address)!)
            batch.append(node.takeUnretainedValue().work)
            address = node.takeUnretainedValue().next.map { UInt(bitPattern: $0.toOpaque()) } ?? 0
            node.release()
        }
        batch[start...].reverse() // the stack gave newest first
    }

    /// Loop thread: refuse further work; what was queued is released unrun.
    func close() {
        wakeLock.withLock { _ in closed.store(true, ordering: .releasing) }
        var dropped: [Work] = []
        takeAll(into: &dropped)
    }

    deinit {
        var dropped: [Work] = []
        takeAll(into: &dropped)
    }
}

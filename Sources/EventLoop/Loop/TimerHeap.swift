/// The loop's timers: a 4-ary min-heap over a slab of nodes.
///
/// - Order: by deadline, then by the sequence number given at scheduling, so
///   equal deadlines fire in the order they were scheduled.
/// - Cancel is O(log n): each node knows its heap position, and is taken out
///   at once (no tombstones), so cancelled timers leave nothing behind.
/// - A node's closure is released the moment the timer is cancelled or fires
///   for the last time. Freed nodes are reused; a generation per node makes a
///   stale `TimerID` harmless.
/// - The heap holds deadlines inline, so sifting touches one array only.
///
/// Loop thread only.
struct TimerHeap {
    typealias Callback = () throws -> Void

    struct Node {
        var callback: Callback?
        var deadline: Int64 = 0
        /// 0 for one-shot; otherwise the fixed period in nanoseconds.
        var interval: Int64 = 0
        /// Position in `heap`, or -1 when not in the heap (free, or due and running).
        var heapIndex: Int32 = -1
        var generation: UInt32 = 0
    }

    struct Entry {
        var deadline: Int64
        var sequence: UInt64
        var node: Int32

        @inline(__always)
        func precedes(_ other: Entry) -> Bool {
            deadline < other.deadline || (deadline == other.deadline && sequence < other.sequence)
        }
    }

    private(set) var nodes: [Node] = []
    private var heap: [Entry] = []
    private var free: [Int32] = []
    private var nextSequence: UInt64 = 0
    /// Generations come from one counter, so an id never matches a later timer
    /// even after the slab is emptied and its slots reused.
    private var nextGeneration: UInt32 = 1

    /// How many timers are scheduled.
    var count: Int { heap.count }

    /// The earliest deadline, if any.
    var nextDeadline: Int64? { heap.first?.deadline }

    /// Whether `id` names a timer that is still scheduled or about to run.
    func isLive(_ id: TimerID) -> Bool {
        Int(id.index) < nodes.count && nodes[Int(id.index)].generation == id.generation
            && nodes[Int(id.index)].callback != nil
    }

    mutating func schedule(deadline: Int64, interval: Int64, _ callback: @escaping Callback) -> TimerID {
        let index: Int32
        if let reused = free.popLast() {
            index = reused
        } else {
            index = Int32(nodes.count)
            nodes.append(Node())
        }
        nodes[Int(index)].callback = callback
        nodes[Int(index)].interval = interval
        nodes[Int(index)].generation = nextGeneration
        nextGeneration &+= 1
        push(index, deadline)
        return TimerID(index: index, generation: nodes[Int(index)].generation)
    }

    /// Cancels `id`; false when it already fired, was cancelled, or never existed.
    @discardableResult
    mutating func cancel(_ id: TimerID) -> Bool {
        guard isLive(id) else { return false }
        let index = Int(id.index)
        let position = Int(nodes[index].heapIndex)
        if position >= 0 { removeEntry(at: position) }
        release(Int32(index))
        return true
    }

    /// Moves a scheduled timer to a new deadline, keeping its id.
    mutating func reschedule(_ id: TimerID, deadline: Int64) -> Bool {
        guard isLive(id) else { return false }
        let position = Int(nodes[Int(id.index)].heapIndex)
        if position >= 0 { removeEntry(at: position) }
        push(id.index, deadline)
        return true
    }

    /// Takes every timer due at `now` off the heap, in firing order, into `due`.
    /// Repeating timers go back in at their next period after `now`, missed
    /// periods skipped (fixed rate, no burst).
    mutating func collectDue(now: Int64, into due: inout [TimerID]) {
        while let top = heap.first, top.deadline <= now {
            let index = top.node
            removeEntry(at: 0)
            let interval = nodes[Int(index)].interval
            if interval > 0 {
                let missed = (now - top.deadline) / interval
                let (next, overflow) = top.deadline.addingReportingOverflow((missed + 1).multipliedReportingOverflow(by: interval).partialValue)
                push(index, overflow ? .max : next)
            }
            due.append(TimerID(index: index, generation: nodes[Int(index)].generation))
        }
    }

    /// The closure to run for a due timer, or nil when it was cancelled since.
    /// A one-shot timer is released here, before its closure runs, so
    /// cancelling it from inside is a harmless no-op.
    mutating func takeForFiring(_ id: TimerID) -> Callback? {
        guard isLive(id) else { return nil }
        let node = nodes[Int(id.index)]
        if node.interval == 0 { release(id.index) }
        return node.callback
    }

    /// Forgets every timer, releasing their closures.
    mutating func removeAll() {
        nodes = []
        heap = []
        free = []
    }

    // MARK: - Heap mechanics

    private mutating func release(_ index: Int32) {
        nodes[Int(index)].callback = nil
        nodes[Int(index)].heapIndex = -1
        free.append(index)
        if free.count == nodes.count {
            // Every timer is gone: give a large slab's memory back, keep a small one
            // so a loop with a few timers allocates nothing to schedule the next.
            let keep = nodes.count <= 1_024
            nodes.removeAll(keepingCapacity: keep)
            free.removeAll(keepingCapacity: keep)
            heap.removeAll(keepingCapacity: keep)
        }
    }

    private mutating func push(_ index: Int32, _ deadline: Int64) {
        let entry = Entry(deadline: deadline, sequence: nextSequence, node: index)
        nextSequence &+= 1
        heap.append(entry)
        siftUp(heap.count - 1, entry)
    }

    private mutating func removeEntry(at position: Int) {
        nodes[Int(heap[position].node)].heapIndex = -1
        let last = heap.removeLast()
        guard position < heap.count else { return }
        if position > 0 && last.precedes(heap[(position - 1) >> 2]) {
            siftUp(position, last)
        } else {
            siftDown(position, last)
        }
    }

    @inline(__always)
    private mutating func place(_ entry: Entry, at position: Int) {
        heap[position] = entry
        nodes[Int(entry.node)].heapIndex = Int32(position)
    }

    private mutating func siftUp(_ start: Int, _ entry: Entry) {
        var position = start
        while position > 0 {
            let parent = (position - 1) >> 2
            guard entry.precedes(heap[parent]) else { break }
            place(heap[parent], at: position)
            position = parent
        }
        place(entry, at: position)
    }

    private mutating func siftDown(_ start: Int, _ entry: Entry) {
        var position = start
        let count = heap.count
        while true {
            let first = 4 * position + 1
            if first >= count { break }
            var best = first
            let end = min(first + 4, count)
            var child = first + 1
            while child < end {
                if heap[child].precedes(heap[best]) { best = child }
                child += 1
            }
            guard heap[best].precedes(entry) else { break }
            place(heap[best], at: position)
            position = best
        }
        place(entry, at: position)
    }
}

/// Names one scheduled timer of one loop. Stale ids (fired, cancelled) are harmless.
public struct TimerID: Hashable, Sendable {
    let index: Int32
    let generation: UInt32
}

/// The loop's timers: a 4-ary min-heap over a slab of nodes.
///
/// - Order: by deadline, then by the sequence number given at scheduling, so
///   equal deadlines fire in the order they were scheduled.
/// - Cancel is O(log n): each node knows its heap position, and is taken out
///   at once (no tombstones), so cancelled timers leave nothing behind.
/// - A node's closure is released the moment the timer is cancelled or fires
///   for the last time. Freed nodes are reused through a free list threaded
///   through the nodes themselves; ids carry a generation from one counter, so
///   a stale `TimerID` never matches a later timer.
/// - The heap holds deadlines inline, so sifting reads one array only.
/// - Both arrays are raw buffers: the sift loops run without the bounds and
///   uniqueness checks of `Array`, which cost more than the comparisons
///   (measured with callgrind). Every index used is below the count it is checked against.
///
/// Not copyable in spirit: the loop keeps exactly one, in place, and calls
/// `deallocate()` when it goes away. Loop thread only.
struct TimerHeap {
    /// What a timer runs: a closure, or a handler shared by many timers and the
    /// timer's own tag (libev's callback-and-data shape: no closure per timer).
    enum Action {
        case closure(() throws -> Void)
        case tagged((Int) throws -> Void, Int)

        @inline(__always)
        func run() throws {
            switch self {
            case .closure(let body): try body()
            case .tagged(let handler, let tag): try handler(tag)
            }
        }
    }

    struct Node {
        var callback: Action?
        /// 0 for one-shot; otherwise the fixed period in nanoseconds.
        var interval: Int64 = 0
        /// Position in the heap; -1 when not in it. For a free node: the next free node, or -1.
        var link: Int32 = -1
        var generation: UInt32 = 0
    }

    /// 16 bytes, so four children share a cache line. The sequence number
    /// wraps: ties are ordered by their distance, which is right while timers
    /// with equal deadlines were scheduled fewer than 2^31 schedules apart.
    struct Entry {
        var deadline: Int64
        var sequence: UInt32
        var node: Int32

        @inline(__always)
        func precedes(_ other: Entry) -> Bool {
            deadline < other.deadline
                || (deadline == other.deadline && Int32(bitPattern: sequence &- other.sequence) < 0)
        }
    }

    private var nodes: UnsafeMutablePointer<Node>? = nil
    private(set) var nodeCount = 0
    private var nodeCapacity = 0
    private var freeHead: Int32 = -1
    private var freeCount = 0
    private var heap: UnsafeMutablePointer<Entry>? = nil
    /// How many timers are scheduled.
    private(set) var count = 0
    private var heapCapacity = 0
    private var nextSequence: UInt32 = 0
    private var nextGeneration: UInt32 = 1

    /// Slots allocated for nodes (for tests of memory release).
    var allocatedNodes: Int { nodeCapacity }

    /// The earliest deadline, if any.
    var nextDeadline: Int64? { count > 0 ? heap![0].deadline : nil }

    /// Whether `id` names a timer that is still scheduled or about to run.
    @inline(__always)
    func isLive(_ id: TimerID) -> Bool {
        Int(id.index) < nodeCount && nodes![Int(id.index)].generation == id.generation
            && nodes![Int(id.index)].callback != nil
    }

    mutating func schedule(deadline: Int64, interval: Int64, _ callback: Action) -> TimerID {
        let index: Int32
        if freeHead >= 0 {
            index = freeHead
            freeHead = nodes![Int(index)].link
            freeCount -= 1
        } else {
            if nodeCount == nodeCapacity { growNodes() }
            index = Int32(nodeCount)
            (nodes! + nodeCount).initialize(to: Node())
            nodeCount += 1
        }
        let generation = nextGeneration
        nextGeneration = nextGeneration &+ 1 == 0 ? 1 : nextGeneration &+ 1
        nodes![Int(index)].callback = callback
        nodes![Int(index)].interval = interval
        nodes![Int(index)].generation = generation
        push(index, deadline)
        return TimerID(index: index, generation: generation)
    }

    /// Cancels `id`; false when it already fired, was cancelled, or never existed.
    @discardableResult
    mutating func cancel(_ id: TimerID) -> Bool {
        guard isLive(id) else { return false }
        let position = Int(nodes![Int(id.index)].link)
        if position >= 0 { removeEntry(at: position) }
        release(id.index)
        return true
    }

    /// Moves a scheduled timer to a new deadline, keeping its id.
    mutating func reschedule(_ id: TimerID, deadline: Int64) -> Bool {
        guard isLive(id) else { return false }
        let position = Int(nodes![Int(id.index)].link)
        if position >= 0 { removeEntry(at: position) }
        push(id.index, deadline)
        return true
    }

    /// Takes every timer due at `now` off the heap, in firing order, into `due`.
    /// Repeating timers go back in at their next period after `now`, missed
    /// periods skipped (fixed rate, no burst).
    mutating func collectDue(now: Int64, into due: inout [TimerID]) {
        while count > 0, heap![0].deadline <= now {
            let top = heap![0]
            removeEntry(at: 0)
            let interval = nodes![Int(top.node)].interval
            if interval > 0 {
                let missed = (now - top.deadline) / interval
                let (step, overflow1) = (missed + 1).multipliedReportingOverflow(by: interval)
                let (next, overflow2) = top.deadline.addingReportingOverflow(step)
                push(top.node, overflow1 || overflow2 ? .max : next)
            }
            due.append(TimerID(index: top.node, generation: nodes![Int(top.node)].generation))
        }
    }

    /// The closure to run for a due timer, or nil when it was cancelled since.
    /// A one-shot timer is released here, before its closure runs, so
    /// cancelling it from inside is a harmless no-op.
    mutating func takeForFiring(_ id: TimerID) -> Action? {
        guard isLive(id) else { return nil }
        let node = nodes![Int(id.index)]
        if node.interval == 0 { release(id.index) }
        return node.callback
    }

    /// Forgets every timer, releasing their closures and memory.
    mutating func removeAll() {
        deallocate()
        self = TimerHeap()
    }

    /// Frees the buffers. The heap must not be used afterwards except through `removeAll`.
    mutating func deallocate() {
        if let nodes { nodes.deinitialize(count: nodeCount).deallocate() }
        heap?.deallocate()
        nodes = nil
        heap = nil
        nodeCount = 0
        nodeCapacity = 0
        count = 0
        heapCapacity = 0
        freeHead = -1
        freeCount = 0
    }

    // MARK: - Mechanics

    private mutating func release(_ index: Int32) {
        nodes![Int(index)].callback = nil
        nodes![Int(index)].link = freeHead
        freeHead = index
        freeCount += 1
        if freeCount == nodeCount && nodeCapacity > 1_024 {
            // Every timer is gone and the slab is large: give its memory back.
            // A small one is kept, so a loop with a few timers allocates nothing to schedule the next.
            let generation = nextGeneration
            let sequence = nextSequence
            removeAll()
            nextGeneration = generation
            nextSequence = sequence
        }
    }

    private mutating func growNodes() {
        let capacity = max(16, nodeCapacity * 2)
        let grown = UnsafeMutablePointer<Node>.allocate(capacity: capacity)
        if let nodes { grown.moveInitialize(from: nodes, count: nodeCount); nodes.deallocate() }
        nodes = grown
        nodeCapacity = capacity
    }

    private mutating func push(_ index: Int32, _ deadline: Int64) {
        if count == heapCapacity {
            let capacity = max(16, heapCapacity * 2)
            let grown = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
            if let heap { grown.moveInitialize(from: heap, count: count); heap.deallocate() }
            heap = grown
            heapCapacity = capacity
        }
        let entry = Entry(deadline: deadline, sequence: nextSequence, node: index)
        nextSequence &+= 1
        count += 1
        siftUp(count - 1, entry)
    }

    private mutating func removeEntry(at position: Int) {
        let heap = heap!
        nodes![Int(heap[position].node)].link = -1
        count -= 1
        let last = heap[count]
        guard position < count else { return }
        if position > 0 && last.precedes(heap[(position - 1) >> 2]) {
            siftUp(position, last)
        } else {
            siftDown(position, last)
        }
    }

    // The sift loops use wrapping arithmetic: positions are below `count`,
    // itself far below Int.max / 4, so no step can overflow.

    private func siftUp(_ start: Int, _ entry: Entry) {
        let heap = heap.unsafelyUnwrapped
        let nodes = nodes.unsafelyUnwrapped
        var position = start
        while position > 0 {
            let parent = (position &- 1) >> 2
            let above = heap[parent]
            guard entry.precedes(above) else { break }
            heap[position] = above
            nodes[Int(above.node)].link = Int32(truncatingIfNeeded: position)
            position = parent
        }
        heap[position] = entry
        nodes[Int(entry.node)].link = Int32(truncatingIfNeeded: position)
    }

    private func siftDown(_ start: Int, _ entry: Entry) {
        let heap = heap.unsafelyUnwrapped
        let nodes = nodes.unsafelyUnwrapped
        let count = count
        var position = start
        while true {
            let first = position &* 4 &+ 1
            if first >= count { break }
            var best = first
            var bestEntry = heap[first]
            let end = Swift.min(first &+ 4, count)
            var child = first &+ 1
            while child < end {
                let candidate = heap[child]
                if candidate.precedes(bestEntry) {
                    best = child
                    bestEntry = candidate
                }
                child &+= 1
            }
            guard bestEntry.precedes(entry) else { break }
            heap[position] = bestEntry
            nodes[Int(bestEntry.node)].link = Int32(truncatingIfNeeded: position)
            position = best
        }
        heap[position] = entry
        nodes[Int(entry.node)].link = Int32(truncatingIfNeeded: position)
    }
}

/// Names one scheduled timer of one loop. Stale ids (fired, cancelled) are harmless.
public struct TimerID: Hashable, Sendable {
    let index: Int32
    let generation: UInt32
}

/// The loop's timers: a 4-ary min-heap over a slab of nodes.
///
/// - Order: by deadline, then by the sequence number given at scheduling, so
///   equal deadlines fire in the order they were scheduled.
/// - Cancel is O(log n): each node knows its heap position, and is taken out
///   at once (no tombstones), so cancelled timers leave nothing behind.
/// - A node's closure leaves it the moment the timer is cancelled or fires for
///   the last time, and is handed to the caller, who releases it once this
///   heap is consistent again: a closure's release may run a `deinit`, which is
///   user code and may call back into the heap (cancel, schedule). Freed nodes
///   are reused through a free list threaded through the nodes themselves; ids
///   carry a generation from one counter, so a stale `TimerID` never matches a
///   later timer.
/// - Firing is two steps, so callbacks may change any timer while a batch
///   runs: `collectDue` takes the due timers off the heap and marks them
///   collected; `takeForFiring` hands out each one's closure, in order, only if
///   it is still collected. A timer cancelled or rescheduled in between is no
///   longer collected (rescheduling puts it back in the heap), so it does not
///   run in this batch, and no heap entry ever outlives its node.
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
        /// Position in the heap; `collected` when taken off it by `collectDue`
        /// and not yet fired; -1 otherwise. For a free node: the next free node, or -1.
        var link: Int32 = -1
        var generation: UInt32 = 0
    }

    /// `Node.link` of a timer that `collectDue` took off the heap to fire in the current batch.
    static let collected: Int32 = -2

    /// A timer taken off the heap to fire, with the deadline it had (a
    /// repeating timer's next deadline follows from it).
    struct Due {
        var id: TimerID
        var deadline: Int64
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
    /// How many timers are in the heap (not counting those collected to fire).
    private(set) var count = 0
    private var heapCapacity = 0
    private var nextSequence: UInt32 = 0
    private var nextGeneration: UInt32 = 1

    /// Slots allocated for nodes (for tests of memory release).
    var allocatedNodes: Int { nodeCapacity }

    /// Timers scheduled and not yet fired for the last time or cancelled,
    /// including those collected to fire in the current batch.
    var liveCount: Int { nodeCount - freeCount }

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

    /// Cancels `id`, whether in the heap or collected to fire. Returns its
    /// closure for the caller to release (nil when it already fired, was
    /// cancelled, or never existed).
    mutating func cancel(_ id: TimerID) -> Action? {
        guard isLive(id) else { return nil }
        let position = Int(nodes![Int(id.index)].link)
        if position >= 0 { removeEntry(at: position) }
        return release(id.index)
    }

    /// Moves a scheduled timer to a new deadline, keeping its id; it is
    /// scheduled anew, so it ties after timers already at that deadline. A
    /// timer collected to fire leaves its batch.
    mutating func reschedule(_ id: TimerID, deadline: Int64) -> Bool {
        guard isLive(id) else { return false }
        let position = Int(nodes![Int(id.index)].link)
        if position >= 0 { removeEntry(at: position) }
        push(id.index, deadline)
        return true
    }

    /// Takes every timer due at `now` off the heap, in firing order, into `due`
    /// (which the caller has emptied), and marks each collected.
    mutating func collectDue(now: Int64, into due: inout [Due]) {
        while count > 0, heap![0].deadline <= now {
            let top = heap![0]
            removeEntry(at: 0)
            nodes![Int(top.node)].link = Self.collected
            due.append(Due(id: TimerID(index: top.node, generation: nodes![Int(top.node)].generation), deadline: top.deadline))
        }
    }

    /// The action to run for a collected timer, or nil when it was cancelled
    /// or rescheduled since it was collected. A one-shot timer is released
    /// here, before its closure runs, so cancelling it from inside is a
    /// harmless no-op; a repeating one goes back in the heap at its next period
    /// after `now` (fixed rate: missed periods are skipped, not replayed).
    mutating func takeForFiring(_ due: Due, now: Int64) -> Action? {
        guard isLive(due.id), nodes![Int(due.id.index)].link == Self.collected else { return nil }
        let interval = nodes![Int(due.id.index)].interval
        if interval == 0 { return release(due.id.index) }
        push(due.id.index, Self.nextDeadline(after: due.deadline, interval: interval, now: now))
        return nodes![Int(due.id.index)].callback
    }

    /// The first period boundary after `now` of a timer that was due at
    /// `deadline` (at or before `now`), saturating at `Int64.max`.
    static func nextDeadline(after deadline: Int64, interval: Int64, now: Int64) -> Int64 {
        // 128-bit: `now - deadline` and the step may exceed Int64 for extreme deadlines.
        let elapsed = Int128(now) - Int128(deadline)
        let periods = (elapsed > 0 ? elapsed : 0) / Int128(interval) + 1
        let next = Int128(deadline) + periods * Int128(interval)
        return next > Int128(Int64.max) ? .max : Int64(truncatingIfNeeded: next)
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

    /// Frees a node that is not in the heap and returns its closure: the
    /// caller releases it after this call, once the heap is consistent.
    private mutating func release(_ index: Int32) -> Action? {
        let callback = nodes![Int(index)].callback
        nodes![Int(index)].callback = nil // the copy above keeps it alive: no user code runs here
        nodes![Int(index)].link = freeHead
        freeHead = index
        freeCount += 1
        if freeCount == nodeCount && nodeCapacity > 1_024 {
            // Every timer is gone and the slab is large: give its memory back.
            // A small one is kept, so a loop with a few timers allocates nothing to schedule the next.
            let generation = nextGeneration
            let sequence = nextSequence
            removeAll() // every closure has left its node already
            nextGeneration = generation
            nextSequence = sequence
        }
        return callback
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

// The 4-ary heap itself: push, taking the root off, replacing it, removing
// an entry from the middle, and the sift loops over the 128-bit keys.

extension TimerHeap {
    @inline(__always)
    mutating func push(_ index: Int, _ deadline: Int64) {
        if count &+ Self.sentinelSlots >= heapCapacity { growHeap() }
        let sequence = nextSequence
        nextSequence = sequence &+ 1
        pushes &+= 1
        let heap = heap.unsafelyUnwrapped
        let position = count
        count = position &+ 1
        heap[position &+ Self.sentinelSlots] = .sentinel
        siftUp(position, Entry(deadline: deadline, sequence: sequence, node: Int32(truncatingIfNeeded: index)))
        if sequence == .max { renumber() }
    }

    mutating func growHeap() {
        let capacity = Self.grownCapacity(heapCapacity)
        let stride = MemoryLayout<Entry>.stride
        let buffer = UnsafeMutableRawPointer.allocate(
            byteCount: Self.heapOffset + (capacity + 1) * stride, alignment: 64)
        let grown = (buffer + Self.heapOffset).bindMemory(to: Entry.self, capacity: capacity + 1)
        if let heap {
            grown.moveInitialize(from: heap, count: count + Self.sentinelSlots)
        } else {
            grown.initialize(repeating: .sentinel, count: Self.sentinelSlots)
        }
        heapBuffer?.deallocate()
        heap = grown
        heapBuffer = buffer
        heapCapacity = capacity
        // The batch can hold every timer in the heap: it never grows while
        // timers fire. Allocated now, while the heap grows, rather than later:
        // a large allocation makes glibc's malloc merge every small free chunk
        // first (the closures of cancelled timers, say), which cost a long
        // pause in the middle of a batch. Pages never written are never resident.
        if dueCapacity < capacity { growDue(to: capacity) }
    }

    /// Sequence numbers ran out: number the heap's entries 0, 1, ... in their
    /// order, which keeps every comparison as it was, and continue after them.
    mutating func renumber() {
        let heap = heap.unsafelyUnwrapped
        // Repeating timers of the batch still armed as collected keep being so.
        var armed: [Int] = []
        for position in 0..<dueCount {
            let due = due.unsafelyUnwrapped[position]
            if isLive(due.id) && nodes.unsafelyUnwrapped[Int(due.id.index)].repeats
                && stillArmed(nodes.unsafelyUnwrapped[Int(due.id.index)], due)
            {
                armed.append(position)
            }
        }
        defer {
            for position in armed {
                let link = Int(nodes.unsafelyUnwrapped[Int(due.unsafelyUnwrapped[position].id.index)].link)
                due.unsafelyUnwrapped[position].sequence = heap[link].sequence
            }
        }
        var order = Array(0..<count)
        order.sort { heap[$0].sequence < heap[$1].sequence }
        for (rank, position) in order.enumerated() {
            let entry = heap[position]
            heap[position] = Entry(deadline: entry.deadline, sequence: UInt32(rank), node: Int32(truncatingIfNeeded: entry.node))
        }
        nextSequence = UInt32(count)
    }

    /// Takes the root off the heap: the hole goes down to the bottom along the
    /// smallest children, and the last entry fills it from there (it belongs
    /// near the bottom, so it rarely moves up again).
    @inline(__always)
    mutating func popRoot() {
        let heap = heap.unsafelyUnwrapped
        let nodes = nodes.unsafelyUnwrapped
        let last = count &- 1
        count = last
        let moved = heap[last]
        heap[last] = .sentinel
        if last == 0 { return }
        siftUp(Self.sinkRootHole(heap, nodes, count: last), moved)
    }

    /// Puts `entry` in the root's place (the root leaves the heap; the count
    /// stays): the hole goes down along the smallest children, as in
    /// `popRoot`, and `entry` fills it from there.
    @inline(__always)
    mutating func replaceRoot(_ entry: Entry) {
        siftUp(Self.sinkRootHole(heap.unsafelyUnwrapped, nodes.unsafelyUnwrapped, count: count), entry)
    }

    /// Moves a hole at the root down to the bottom of the first `count`
    /// entries, each step pulling up the smallest child, and returns where it
    /// ended: the caller fills it (and sifts the filler up from there).
    @inline(__always)
    static func sinkRootHole(
        _ heap: UnsafeMutablePointer<Entry>, _ nodes: UnsafeMutablePointer<Node>, count: Int
    ) -> Int {
        var hole = 0
        while true {
            let first = hole &* 4 &+ 1
            if first >= count { return hole }
            let (child, smallest) = smallestChild(heap, first)
            heap[hole] = smallest
            nodes[smallest.node].link = Int32(truncatingIfNeeded: hole)
            hole = child
        }
    }

    /// The smallest of the four children starting at `first`, which is below
    /// `count`; slots past the last entry hold the sentinel.
    @inline(__always)
    static func smallestChild(_ heap: UnsafeMutablePointer<Entry>, _ first: Int) -> (Int, Entry) {
        let a = heap[first]
        let b = heap[first &+ 1]
        let c = heap[first &+ 2]
        let d = heap[first &+ 3]
        let bFirst = b.key < a.key
        let dFirst = d.key < c.key
        let ab = bFirst ? b : a
        let cd = dFirst ? d : c
        let abIndex = bFirst ? first &+ 1 : first
        let cdIndex = dFirst ? first &+ 3 : first &+ 2
        return cd.key < ab.key ? (cdIndex, cd) : (abIndex, ab)
    }

    /// Takes the entry at `position` (of node `index`) out of the heap. The
    /// common case, the last entry fitting where the removed one was, stays
    /// inline; moving it up or down is a call.
    @inline(__always)
    mutating func removeEntry(at position: Int, node index: Int) {
        let heap = heap.unsafelyUnwrapped
        let nodes = nodes.unsafelyUnwrapped
        nodes[index].link = -1
        let last = count &- 1
        count = last
        let moved = heap[last]
        heap[last] = .sentinel
        guard position < last else { return }
        let first = position &* 4 &+ 1
        if (position > 0 && moved.key < heap[(position &- 1) >> 2].key)
            || (first < last && Self.smallestChild(heap, first).1.key < moved.key)
        {
            Self.resettle(heap, nodes, last, position, moved)
            return
        }
        heap[position] = moved
        nodes[moved.node].link = Int32(truncatingIfNeeded: position)
    }

    /// Moves `entry`, put at `position` in place of a removed entry, up or down to where it belongs.
    @inline(never)
    static func resettle(
        _ heap: UnsafeMutablePointer<Entry>, _ nodes: UnsafeMutablePointer<Node>, _ count: Int, _ position: Int, _ entry: Entry
    ) {
        if position > 0 && entry.key < heap[(position &- 1) >> 2].key {
            siftUp(heap, nodes, position, entry)
        } else {
            siftDown(heap, nodes, count, position, entry)
        }
    }

    // The sift loops use wrapping arithmetic: positions are below `count`,
    // itself far below Int.max / 4, so no step can overflow.

    @inline(__always)
    mutating func siftUp(_ start: Int, _ entry: Entry) {
        Self.siftUp(heap.unsafelyUnwrapped, nodes.unsafelyUnwrapped, start, entry)
    }

    // Static, on the buffers: a method of this struct would be handed a copy of it.

    @inline(__always)
    static func siftUp(
        _ heap: UnsafeMutablePointer<Entry>, _ nodes: UnsafeMutablePointer<Node>, _ start: Int, _ entry: Entry
    ) {
        var position = start
        while position > 0 {
            let parent = (position &- 1) >> 2
            let above = heap[parent]
            guard entry.key < above.key else { break }
            heap[position] = above
            nodes[above.node].link = Int32(truncatingIfNeeded: position)
            position = parent
        }
        heap[position] = entry
        nodes[entry.node].link = Int32(truncatingIfNeeded: position)
    }

    static func siftDown(
        _ heap: UnsafeMutablePointer<Entry>, _ nodes: UnsafeMutablePointer<Node>, _ count: Int, _ start: Int, _ entry: Entry
    ) {
        var position = start
        while true {
            let first = position &* 4 &+ 1
            if first >= count { break }
            let (child, smallest) = Self.smallestChild(heap, first)
            guard smallest.key < entry.key else { break }
            heap[position] = smallest
            nodes[smallest.node].link = Int32(truncatingIfNeeded: position)
            position = child
        }
        heap[position] = entry
        nodes[entry.node].link = Int32(truncatingIfNeeded: position)
    }
}

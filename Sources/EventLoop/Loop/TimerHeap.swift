/// The loop's timers: a 4-ary min-heap of 16-byte keys over a slab of 24-byte nodes.
///
/// - Order: by deadline, then by the sequence number given at scheduling, so
///   equal deadlines fire in the order they were scheduled. Both live in one
///   128-bit key (deadline, sequence, node), so a comparison is one unsigned
///   128-bit compare and the sift loops read the heap array only. Sequence
///   numbers are 32 bits; when they run out (every 2^32 schedules) the timers
///   in the heap are renumbered in their order, so ties stay in scheduling
///   order however far apart the timers were scheduled.
/// - Cancel is O(log n): each node knows its heap position, and is taken out
///   at once (no tombstones), so cancelled timers leave nothing behind.
/// - What a timer runs is kept out of the node: a closure (`schedule(at:_:)`)
///   in `closures`, a side array indexed like the nodes and allocated with the
///   first such timer; a shared handler (`schedule(at:tag:_:)`) once per loop
///   in `handlers`, the node keeping its index and the tag. Scheduling with the
///   handler of the previous tagged schedule (the same closure value) touches
///   no reference count. Repeating timers keep their period in `intervals`,
///   also allocated with the first one.
/// - A closure leaves the loop the moment its timer is cancelled or fires for
///   the last time (a shared handler: when its last timer does), and is handed
///   to the caller, who releases it once this heap is consistent again: a
///   closure's release may run a `deinit`, which is user code and may call back
///   into the heap (cancel, schedule). Freed nodes are reused through a free
///   list threaded through the nodes themselves; ids carry a generation from
///   one counter, so a stale `TimerID` never matches a later timer.
/// - Firing is two steps, so callbacks may change any timer while a batch
///   runs: `collectDue` takes the due one-shot timers off the heap and marks
///   them collected, and re-arms the due repeating ones in place (noting the
///   sequence number they got); `takeForFiring` hands out each one's work, in
///   order, only if it is still collected, or still armed under that number.
///   A timer cancelled or rescheduled in between is neither (rescheduling
///   puts it back in the heap under a new number), so it does not run in this
///   batch, and no heap entry ever outlives its node.
/// - The heap's children of a position share one 64-byte cache line (the
///   array starts 16 bytes before a line boundary), and a few slots past the
///   last entry always hold the largest key, so the smallest of four children
///   is found with three compares and no bounds checks or branches.
/// - Every array is a raw buffer: the loops run without the bounds and
///   uniqueness checks of `Array`, which cost more than the comparisons
///   (measured with callgrind). Every index used is below the count it is
///   checked against, or a sentinel slot.
/// - Large buffers grow fourfold: pages never written are never resident, and
///   each element is copied a third as often as with doubling.
///
/// Not copyable in spirit: the loop keeps exactly one, in place, and calls
/// `deallocate()` when it goes away. Loop thread only.
struct TimerHeap {
    typealias Closure = () throws -> Void
    typealias Handler = (Int) throws -> Void

    /// 24 bytes: what the heap needs to find an entry, and what the timer runs.
    struct Node {
        /// A tagged timer's tag.
        var tag: Int = 0
        /// Position in the heap; `collected` when taken off it by `collectDue`
        /// and not yet fired; -1 otherwise. For a free node: the next free node, or -1.
        var link: Int32 = -1
        /// The id's generation; 0 while the node is free (no id has 0).
        var generation: UInt32 = 0
        /// The shared handler's slot in `handlers`, or -1: the closure is `closures[node]`.
        var handler: Int32 = -1
        /// Whether the timer repeats (its period is `intervals[node]`).
        var repeats: Bool = false
    }

    /// `Node.link` of a timer that `collectDue` took off the heap to fire in the current batch.
    static let collected: Int32 = -2

    /// A timer collected to fire. A one-shot timer is taken off the heap
    /// (its node's link is `collected`); a repeating one stays in it, re-armed
    /// in place for its next period, under the sequence number kept here.
    struct Due {
        var id: TimerID
        /// A repeating timer's sequence number in the heap since it was re-armed:
        /// it fires only if it is still there under that number (not moved or cancelled).
        var sequence: UInt32
        /// A word of a closure timer's closure, read when it was collected and
        /// kept only so that the read happens then (see `collectDue`).
        var warm: UInt = 0
    }

    /// One heap entry: the deadline (offset to compare unsigned), the
    /// sequence number and the node, most significant first.
    struct Entry {
        var key: UInt128

        @inline(__always)
        init(deadline: Int64, sequence: UInt32, node: Int32) {
            let high = UInt64(bitPattern: deadline) ^ (1 << 63)
            key = UInt128(high) << 64 | UInt128(UInt64(sequence) << 32 | UInt64(UInt32(bitPattern: node)))
        }

        @inline(__always)
        init(key: UInt128) { self.key = key }

        /// Larger than any timer's key: fills the slots past the last entry.
        static var sentinel: Entry { Entry(key: .max) }

        @inline(__always)
        var deadline: Int64 { Int64(bitPattern: UInt64(truncatingIfNeeded: key >> 64) ^ (1 << 63)) }
        @inline(__always)
        var node: Int { Int(UInt32(truncatingIfNeeded: key)) }
        @inline(__always)
        var sequence: UInt32 { UInt32(truncatingIfNeeded: key >> 32) }
    }

    // Closures are stored inside structs: a buffer (a generic type) would store
    // a bare closure at its most general abstraction, wrapping each one in a
    // reabstraction thunk, an allocation (see `SubmissionQueue.Job`).

    /// A timer's closure as stored.
    struct StoredClosure {
        let run: Closure
    }

    /// A shared handler as stored; its two words name the closure value.
    struct StoredHandler {
        let call: Handler

        /// The two words of a closure value (function and context): while a
        /// slot holds the closure, its context cannot be freed and reused, so
        /// equal words mean the same closure value.
        @inline(__always)
        static func identity(of handler: @escaping Handler) -> (UInt, UInt) {
            unsafeBitCast(StoredHandler(call: handler), to: (UInt, UInt).self) // a copy made and dropped at once
        }
    }

    /// A shared handler and how many live timers use it. A free slot has no
    /// handler and `users` is the next free slot (or -1).
    struct HandlerSlot {
        var handler: StoredHandler?
        /// The closure value's two words, which name it while it is held here.
        var identity: (UInt, UInt)
        var users: Int
    }

    /// Slots between the last entry and the end of the heap buffer that hold
    /// the sentinel: the smallest of four children may read three past `count`.
    private static let sentinelSlots = 3
    /// The heap buffer starts this many bytes after a 64-byte boundary, so
    /// positions 4k+1 ... 4k+4 (the children of k) share a cache line.
    private static let heapOffset = 48

    private var nodes: UnsafeMutablePointer<Node>? = nil
    private(set) var nodeCount = 0
    private var nodeCapacity = 0
    private var freeHead: Int32 = -1
    private var freeCount = 0
    /// Closures of `schedule(at:_:)` timers, by node; nil until the first one.
    /// A slot is initialized exactly while its node is a live closure timer's
    /// (not optional: an optional's checks went through value witnesses).
    private var closures: UnsafeMutablePointer<StoredClosure>? = nil
    /// The batch collected to fire (see `collectDue`).
    private var due: UnsafeMutablePointer<Due>? = nil
    private(set) var dueCount = 0
    private var dueCapacity = 0
    /// Periods of repeating timers, by node; nil until the first one.
    private var intervals: UnsafeMutablePointer<Int64>? = nil
    private var heap: UnsafeMutablePointer<Entry>? = nil
    private var heapBuffer: UnsafeMutableRawPointer? = nil
    /// How many timers are in the heap (not counting those collected to fire).
    private(set) var count = 0
    private var heapCapacity = 0
    var nextSequence: UInt32 = 0
    /// How many entries `push` has added, and how many it had when the batch
    /// was collected: a repeating timer re-armed then is scheduled anew when
    /// it fires if any timer was scheduled or moved in between (see `rearmed`).
    private var pushes: UInt = 0
    private var pushesAtCollection: UInt = 0
    private var nextGeneration: UInt32 = 1
    private var handlers: UnsafeMutablePointer<HandlerSlot>? = nil
    private var handlerCount = 0
    private var handlerCapacity = 0
    private var handlerFree = -1
    /// The slot of the handler last scheduled with, and its identity: the
    /// next tagged schedule with the same closure value reuses it.
    private var lastHandler = -1
    private var lastIdentity: (UInt, UInt) = (0, 0)

    /// Slots allocated for nodes (for tests of memory release).
    var allocatedNodes: Int { nodeCapacity }

    /// Handler slots in use (for tests).
    var handlerSlotsInUse: Int {
        var used = 0
        for slot in 0..<handlerCount where handlers![slot].handler != nil { used += 1 }
        return used
    }

    /// Timers scheduled and not yet fired for the last time or cancelled,
    /// including those collected to fire in the current batch.
    var liveCount: Int { nodeCount - freeCount }

    /// The earliest deadline, if any.
    var nextDeadline: Int64? { count > 0 ? heap.unsafelyUnwrapped[0].deadline : nil }

    /// Whether `id` names a timer that is still scheduled or about to run.
    @inline(__always)
    func isLive(_ id: TimerID) -> Bool {
        Int(id.index) < nodeCount && nodes.unsafelyUnwrapped[Int(id.index)].generation == id.generation
    }

    // MARK: - Scheduling

    /// Schedules `callback` at `deadline`, repeating every `interval`
    /// nanoseconds if it is positive.
    @inline(__always)
    mutating func schedule(deadline: Int64, interval: Int64 = 0, _ callback: consuming @escaping Closure) -> TimerID {
        if closures == nil { allocateClosures() }
        let index = takeNode()
        (closures.unsafelyUnwrapped + index).initialize(to: StoredClosure(run: callback))
        if interval > 0 {
            if intervals == nil { allocateIntervals() }
            intervals.unsafelyUnwrapped[index] = interval
            nodes.unsafelyUnwrapped[index].repeats = true
        }
        return arm(index, deadline)
    }

    /// Schedules `handler(tag)` at `deadline`. The handler is kept once for
    /// every timer scheduled with the same closure value.
    @inline(__always)
    mutating func schedule(deadline: Int64, tag: Int, _ handler: @escaping Handler) -> TimerID {
        let identity = StoredHandler.identity(of: handler)
        let slot: Int
        if lastHandler >= 0 && identity == lastIdentity {
            slot = lastHandler
            handlers.unsafelyUnwrapped[slot].users &+= 1
        } else {
            slot = useHandler(StoredHandler(call: handler), identity)
        }
        let index = takeNode()
        nodes.unsafelyUnwrapped[index].tag = tag
        nodes.unsafelyUnwrapped[index].handler = Int32(truncatingIfNeeded: slot)
        return arm(index, deadline)
    }

    /// Cancels `id`, whether in the heap or collected to fire. Returns what it
    /// would have run, for the caller to release after this call (`.none` when
    /// it already fired, was cancelled, or never existed; `.kept` when it used
    /// a shared handler that other timers still use).
    @inline(__always)
    mutating func cancel(_ id: TimerID) -> Released {
        guard isLive(id) else { return .none }
        let index = Int(id.index)
        let position = Int(nodes.unsafelyUnwrapped[index].link)
        if position >= 0 { removeEntry(at: position, node: index) }
        let slot = Int(nodes.unsafelyUnwrapped[index].handler)
        freeNode(index)
        let released: Released
        if slot < 0 {
            released = .closure(takeClosure(index))
        } else {
            let users = handlers.unsafelyUnwrapped[slot].users &- 1
            handlers.unsafelyUnwrapped[slot].users = users
            released = users > 0 ? .kept : .handler(freeHandler(slot))
        }
        if freeCount == nodeCount && dueCount == 0 { shrinkIfIdle() }
        return released
    }

    /// What `cancel` took out of the loop: the caller drops it once the heap is consistent.
    enum Released {
        /// Nothing was live.
        case none
        /// Cancelled; its shared handler stays for other timers.
        case kept
        case closure(Closure)
        case handler(Handler)

    }

    /// Moves a scheduled timer to a new deadline, keeping its id; it is
    /// scheduled anew, so it ties after timers already at that deadline. A
    /// timer collected to fire leaves its batch.
    mutating func reschedule(_ id: TimerID, deadline: Int64) -> Bool {
        guard isLive(id) else { return false }
        let position = Int(nodes.unsafelyUnwrapped[Int(id.index)].link)
        if position >= 0 { removeEntry(at: position, node: Int(id.index)) }
        push(Int(id.index), deadline)
        return true
    }

    // MARK: - Firing

    /// Takes every timer due at `now` into the batch (`dueCount` of them), in
    /// firing order: a one-shot timer off the heap, marked collected; a
    /// repeating one re-armed in place at its next period after `now` (fixed
    /// rate: missed periods are skipped, not replayed), which replaces the
    /// root and sinks once, where taking it off and putting it back would
    /// sift twice. The batch must be empty.
    mutating func collectDue(now: Int64) {
        pushesAtCollection = pushes
        while count > 0 {
            let top = heap.unsafelyUnwrapped[0]
            if top.deadline > now { break }
            let node = top.node
            let generation = nodes.unsafelyUnwrapped[node].generation
            var sequence: UInt32 = 0
            let next = nodes.unsafelyUnwrapped[node].repeats
                ? Self.nextDeadline(after: top.deadline, interval: intervals.unsafelyUnwrapped[node], now: now) : now
            if next > now {
                sequence = nextSequence
                nextSequence = sequence &+ 1
                replaceRoot(Entry(deadline: next, sequence: sequence, node: Int32(truncatingIfNeeded: node)))
            } else {
                // One-shot; or repeating at the end of time (its next period
                // saturated at `Int64.max`, which is `now`): re-armed as it fires,
                // or it would be collected again at once.
                popRoot()
                nodes.unsafelyUnwrapped[node].link = Self.collected
            }
            // A closure timer: read its closure's slot now, while the heap's own
            // memory accesses are in flight, rather than when it runs, with nothing
            // to overlap the miss (the slot is cold: other timers do not touch it).
            // Measured: a tenth of the CPU per firing of 1M closure timers.
            let warm = nodes.unsafelyUnwrapped[node].handler < 0
                ? UnsafeRawPointer(closures.unsafelyUnwrapped + node).load(as: UInt.self) : 0
            if dueCount == dueCapacity { growDue() }
            due.unsafelyUnwrapped[dueCount] = Due(
                id: TimerID(index: Int32(truncatingIfNeeded: node), generation: generation), sequence: sequence,
                warm: warm)
            dueCount &+= 1
            if sequence == .max { renumber() } // after the batch entry: renumbering updates it
        }
    }

    /// What `takeForFiring` hands out to run.
    enum Firing {
        /// Cancelled or moved since it was collected: nothing to run.
        case skip
        /// A closure: moved out of a one-shot timer, a copy for a repeating one.
        case closure(Closure)
        /// A shared handler that stays in its slot (other timers use it, or
        /// the timer repeats): see `handlerIdentity(_:)` and `handler(_:)`.
        case shared(slot: Int, tag: Int)
        /// A shared handler whose last timer this is, moved out: the caller
        /// releases it after running it.
        case last(Handler, tag: Int)
    }

    /// What to run for the `position`th collected timer. A one-shot timer is
    /// released here, before its work runs, so cancelling it from inside is a
    /// harmless no-op; a repeating one (re-armed when collected) runs if it is
    /// still armed as it was then.
    @inline(__always)
    mutating func takeForFiring(_ position: Int) -> Firing {
        let due = due.unsafelyUnwrapped[position]
        let index = Int(due.id.index)
        guard isLive(due.id) else { return .skip }
        let node = nodes.unsafelyUnwrapped[index]
        if node.repeats {
            guard rearmed(index, node, due) else { return .skip }
            if node.handler < 0 { return .closure(closures.unsafelyUnwrapped[index].run) }
            return .shared(slot: Int(node.handler), tag: node.tag)
        }
        guard node.link == Self.collected else { return .skip }
        freeNode(index)
        if node.handler < 0 { return .closure(takeClosure(index)) }
        let slot = Int(node.handler)
        let users = handlers.unsafelyUnwrapped[slot].users &- 1
        handlers.unsafelyUnwrapped[slot].users = users
        if users > 0 { return .shared(slot: slot, tag: node.tag) }
        return .last(freeHandler(slot), tag: node.tag)
    }

    /// Like `takeForFiring`, for the `position`th collected timer only when it
    /// runs the handler in `slot` (named by `identity`) and that handler stays
    /// (another timer uses it, or the timer repeats): then returns its tag.
    /// Otherwise nil, and the timer is left for `takeForFiring`.
    @inline(__always)
    mutating func takeShared(_ position: Int, slot: Int, identity: (UInt, UInt)) -> Int? {
        let due = due.unsafelyUnwrapped[position]
        let index = Int(due.id.index)
        guard isLive(due.id) else { return nil }
        let node = nodes.unsafelyUnwrapped[index]
        guard Int(node.handler) == slot, handlers.unsafelyUnwrapped[slot].identity == identity else { return nil }
        if node.repeats { return rearmed(index, node, due) ? node.tag : nil }
        guard node.link == Self.collected else { return nil }
        let users = handlers.unsafelyUnwrapped[slot].users
        guard users > 1 else { return nil }
        handlers.unsafelyUnwrapped[slot].users = users &- 1
        freeNode(index)
        return node.tag
    }

    /// As a repeating timer collected as `due` fires: whether it is still armed
    /// as it was re-armed then (a callback may have moved it since: it left
    /// the batch). Its place among timers with the same next deadline is that
    /// of a re-arm now, as it fires: if any timer was scheduled or moved since
    /// the collection, it is given a new sequence number and sinks past them.
    @inline(__always)
    private mutating func rearmed(_ index: Int, _ node: Node, _ due: Due) -> Bool {
        if node.link == Self.collected {
            push(index, .max) // at the end of time: see `collectDue`
            return true
        }
        guard stillArmed(node, due) else { return false }
        if pushes != pushesAtCollection { renew(Int(node.link)) }
        return true
    }

    /// Gives the entry at `position` a new sequence number: it ties after
    /// every timer scheduled so far, so it may only move down.
    private mutating func renew(_ position: Int) {
        let heap = heap.unsafelyUnwrapped
        let old = heap[position]
        let sequence = nextSequence
        nextSequence = sequence &+ 1
        Self.siftDown(heap, nodes.unsafelyUnwrapped, count, position,
                      Entry(deadline: old.deadline, sequence: sequence, node: Int32(truncatingIfNeeded: old.node)))
        if sequence == .max { renumber() }
    }

    /// Whether a repeating timer collected as `due` is still in the heap as it
    /// was re-armed then (a callback may have moved it since: it left the batch).
    @inline(__always)
    private func stillArmed(_ node: Node, _ due: Due) -> Bool {
        node.link >= 0 && heap.unsafelyUnwrapped[Int(node.link)].sequence == due.sequence
    }

    /// The identity of the handler in `slot`, (0, 0) when it holds none: read
    /// without touching a reference count.
    @inline(__always)
    func handlerIdentity(_ slot: Int) -> (UInt, UInt) {
        slot < handlerCount ? handlers.unsafelyUnwrapped[slot].identity : (0, 0)
    }

    /// The handler in `slot` (which holds one).
    @inline(__always)
    func handler(_ slot: Int) -> Handler { handlers.unsafelyUnwrapped[slot].handler.unsafelyUnwrapped.call }

    /// The batch has run: forget it, and give memory back if no timer is left.
    mutating func endBatch() {
        dueCount = 0
        shrinkIfIdle()
    }

    /// The first period boundary after `now` of a timer that was due at
    /// `deadline` (at or before `now`), saturating at `Int64.max`.
    @inline(__always)
    static func nextDeadline(after deadline: Int64, interval: Int64, now: Int64) -> Int64 {
        // The common case, no period missed, without a division.
        let (next, overflow) = deadline.addingReportingOverflow(interval)
        if !overflow && next > now { return next }
        return skippingDeadline(after: deadline, interval: interval, now: now)
    }

    private static func skippingDeadline(after deadline: Int64, interval: Int64, now: Int64) -> Int64 {
        // 128-bit: `now - deadline` and the step may exceed Int64 for extreme deadlines.
        let elapsed = Int128(now) - Int128(deadline)
        let periods = (elapsed > 0 ? elapsed : 0) / Int128(interval) + 1
        let next = Int128(deadline) + periods * Int128(interval)
        return next > Int128(Int64.max) ? .max : Int64(truncatingIfNeeded: next)
    }

    // MARK: - Memory

    /// Gives the buffers back when no timer is left and they are large (a
    /// small slab is kept, so a loop with a few timers allocates nothing to
    /// schedule the next). Call only when no closure is held (every node free).
    mutating func shrinkIfIdle() {
        guard freeCount == nodeCount, dueCount == 0,
            nodeCapacity > 1_024 || heapCapacity > 1_024 || dueCapacity > 1_024
        else { return }
        let generation = nextGeneration
        removeAll() // every closure has left already
        nextGeneration = generation
    }

    /// Forgets every timer, releasing their closures and memory.
    mutating func removeAll() {
        deallocate()
        self = TimerHeap()
    }

    /// Frees the buffers, releasing the closures still held. The heap must not
    /// be used afterwards except through `removeAll`.
    mutating func deallocate() {
        if let closures {
            for index in 0..<(liveCount > 0 ? nodeCount : 0) where nodes.unsafelyUnwrapped[index].generation != 0
                && nodes.unsafelyUnwrapped[index].handler < 0
            {
                (closures + index).deinitialize(count: 1)
            }
            closures.deallocate()
        }
        if let handlers {
            handlers.deinitialize(count: handlerCount)
            handlers.deallocate()
        }
        nodes?.deallocate() // trivial nodes: nothing to deinitialize
        intervals?.deallocate()
        heapBuffer?.deallocate()
        due?.deallocate()
        due = nil
        dueCount = 0
        dueCapacity = 0
        closures = nil
        handlers = nil
        nodes = nil
        intervals = nil
        heap = nil
        heapBuffer = nil
        nodeCount = 0
        nodeCapacity = 0
        count = 0
        heapCapacity = 0
        freeHead = -1
        freeCount = 0
        handlerCount = 0
        handlerCapacity = 0
        handlerFree = -1
        lastHandler = -1
    }

    // MARK: - Nodes

    /// A free node, initialized for a new timer with a fresh generation.
    @inline(__always)
    private mutating func takeNode() -> Int {
        let index: Int
        if freeHead >= 0 {
            index = Int(freeHead)
            freeHead = nodes.unsafelyUnwrapped[index].link
            freeCount &-= 1
        } else {
            if nodeCount == nodeCapacity { growNodes() }
            index = nodeCount
            nodeCount &+= 1
        }
        let generation = nextGeneration
        nextGeneration = generation &+ 1 == 0 ? 1 : generation &+ 1
        (nodes.unsafelyUnwrapped + index).initialize(to: Node(tag: 0, link: -1, generation: generation, handler: -1, repeats: false))
        return index
    }

    /// Puts a new timer's node in the heap and names it.
    @inline(__always)
    private mutating func arm(_ index: Int, _ deadline: Int64) -> TimerID {
        push(index, deadline)
        return TimerID(index: Int32(truncatingIfNeeded: index), generation: nodes.unsafelyUnwrapped[index].generation)
    }

    /// Puts a node that is not in the heap on the free list; its id no longer matches.
    @inline(__always)
    private mutating func freeNode(_ index: Int) {
        nodes.unsafelyUnwrapped[index].generation = 0
        nodes.unsafelyUnwrapped[index].link = freeHead
        freeHead = Int32(truncatingIfNeeded: index)
        freeCount &+= 1
    }

    /// Moves a closure timer's closure out of its slot (no user code runs here).
    @inline(__always)
    private mutating func takeClosure(_ index: Int) -> Closure {
        (closures.unsafelyUnwrapped + index).move().run
    }

    private mutating func growDue(to wanted: Int? = nil) {
        let capacity = wanted ?? Self.grownCapacity(dueCapacity)
        let grown = UnsafeMutablePointer<Due>.allocate(capacity: capacity)
        if let due { grown.moveInitialize(from: due, count: dueCount); due.deallocate() }
        due = grown
        dueCapacity = capacity
    }

    private mutating func growNodes() {
        let capacity = Self.grownCapacity(nodeCapacity)
        let grown = UnsafeMutablePointer<Node>.allocate(capacity: capacity)
        if let nodes { grown.moveInitialize(from: nodes, count: nodeCount); nodes.deallocate() }
        nodes = grown
        if let closures {
            // A bitwise move of every slot, initialized or not (closures are bitwise movable).
            let grownClosures = UnsafeMutablePointer<StoredClosure>.allocate(capacity: capacity)
            UnsafeMutableRawPointer(grownClosures).copyMemory(
                from: closures, byteCount: nodeCount * MemoryLayout<StoredClosure>.stride)
            closures.deallocate()
            self.closures = grownClosures
        }
        if let intervals {
            let grownIntervals = UnsafeMutablePointer<Int64>.allocate(capacity: capacity)
            grownIntervals.moveInitialize(from: intervals, count: nodeCount)
            intervals.deallocate()
            self.intervals = grownIntervals
        }
        nodeCapacity = capacity
    }

    /// Doubling while small, then fourfold (see the type's notes).
    private static func grownCapacity(_ capacity: Int) -> Int {
        capacity < 16 ? 16 : capacity < 65_536 ? capacity * 2 : capacity * 4
    }

    private mutating func allocateClosures() {
        closures = UnsafeMutablePointer<StoredClosure>.allocate(capacity: max(nodeCapacity, 1))
    }

    private mutating func allocateIntervals() {
        intervals = UnsafeMutablePointer<Int64>.allocate(capacity: max(nodeCapacity, 1))
    }

    // MARK: - Handlers

    /// The slot of `handler` (found among the first slots, or a new one), with one more user.
    private mutating func useHandler(_ handler: StoredHandler, _ identity: (UInt, UInt)) -> Int {
        // A few handlers in use (one per kind of timer) are found again; a
        // handler made afresh for every timer gets a slot per timer.
        for slot in 0..<min(handlerCount, 8) where handlers.unsafelyUnwrapped[slot].users > 0
            && handlers.unsafelyUnwrapped[slot].handler != nil && handlers.unsafelyUnwrapped[slot].identity == identity
        {
            handlers.unsafelyUnwrapped[slot].users &+= 1
            lastHandler = slot
            lastIdentity = identity
            return slot
        }
        let slot: Int
        if handlerFree >= 0 {
            slot = handlerFree
            handlerFree = handlers.unsafelyUnwrapped[slot].users
            handlers.unsafelyUnwrapped[slot] = HandlerSlot(handler: handler, identity: identity, users: 1)
        } else {
            if handlerCount == handlerCapacity { growHandlers() }
            slot = handlerCount
            handlerCount += 1
            (handlers.unsafelyUnwrapped + slot).initialize(to: HandlerSlot(handler: handler, identity: identity, users: 1))
        }
        lastHandler = slot
        lastIdentity = identity
        return slot
    }

    /// Frees a slot whose last user is gone; returns its handler for the caller to release.
    private mutating func freeHandler(_ slot: Int) -> Handler {
        let entry = (handlers.unsafelyUnwrapped + slot).move()
        (handlers.unsafelyUnwrapped + slot).initialize(to: HandlerSlot(handler: nil, identity: (0, 0), users: handlerFree))
        let handler = entry.handler.unsafelyUnwrapped.call
        handlerFree = slot
        // The cached identity named a closure this slot kept alive: no longer.
        if lastHandler == slot { lastHandler = -1 }
        return handler
    }

    private mutating func growHandlers() {
        let capacity = Self.grownCapacity(handlerCapacity)
        let grown = UnsafeMutablePointer<HandlerSlot>.allocate(capacity: capacity)
        if let handlers { grown.moveInitialize(from: handlers, count: handlerCount); handlers.deallocate() }
        handlers = grown
        handlerCapacity = capacity
    }

    // MARK: - The heap

    @inline(__always)
    private mutating func push(_ index: Int, _ deadline: Int64) {
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

    private mutating func growHeap() {
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
    private mutating func renumber() {
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
    private mutating func popRoot() {
        let heap = heap.unsafelyUnwrapped
        let nodes = nodes.unsafelyUnwrapped
        let last = count &- 1
        count = last
        let moved = heap[last]
        heap[last] = .sentinel
        if last == 0 { return }
        var hole = 0
        while true {
            let first = hole &* 4 &+ 1
            if first >= last { break }
            let (child, entry) = Self.smallestChild(heap, first)
            heap[hole] = entry
            nodes[entry.node].link = Int32(truncatingIfNeeded: hole)
            hole = child
        }
        siftUp(hole, moved)
    }

    /// Puts `entry` in the root's place (the root leaves the heap; the count
    /// stays): the hole goes down along the smallest children, as in
    /// `popRoot`, and `entry` fills it from there.
    @inline(__always)
    private mutating func replaceRoot(_ entry: Entry) {
        let heap = heap.unsafelyUnwrapped
        let nodes = nodes.unsafelyUnwrapped
        let count = count
        var hole = 0
        while true {
            let first = hole &* 4 &+ 1
            if first >= count { break }
            let (child, smallest) = Self.smallestChild(heap, first)
            heap[hole] = smallest
            nodes[smallest.node].link = Int32(truncatingIfNeeded: hole)
            hole = child
        }
        siftUp(hole, entry)
    }

    /// The smallest of the four children starting at `first`, which is below
    /// `count`; slots past the last entry hold the sentinel.
    @inline(__always)
    private static func smallestChild(_ heap: UnsafeMutablePointer<Entry>, _ first: Int) -> (Int, Entry) {
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
    private mutating func removeEntry(at position: Int, node index: Int) {
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
    private static func resettle(
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
    private mutating func siftUp(_ start: Int, _ entry: Entry) {
        Self.siftUp(heap.unsafelyUnwrapped, nodes.unsafelyUnwrapped, start, entry)
    }

    // Static, on the buffers: a method of this struct would be handed a copy of it.

    @inline(__always)
    private static func siftUp(
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

    private static func siftDown(
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

/// Names one scheduled timer of one loop. Stale ids (fired, cancelled) are harmless.
public struct TimerID: Hashable, Sendable {
    let index: Int32
    let generation: UInt32
}

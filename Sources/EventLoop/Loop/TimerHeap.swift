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
    static let sentinelSlots = 3
    /// The heap buffer starts this many bytes after a 64-byte boundary, so
    /// positions 4k+1 ... 4k+4 (the children of k) share a cache line.
    static let heapOffset = 48

    var nodes: UnsafeMutablePointer<Node>? = nil
    var nodeCount = 0
    var nodeCapacity = 0
    var freeHead: Int32 = -1
    var freeCount = 0
    /// Closures of `schedule(at:_:)` timers, by node; nil until the first one.
    /// A slot is initialized exactly while its node is a live closure timer's
    /// (not optional: an optional's checks went through value witnesses).
    var closures: UnsafeMutablePointer<StoredClosure>? = nil
    /// The batch collected to fire (see `collectDue`).
    var due: UnsafeMutablePointer<Due>? = nil
    var dueCount = 0
    var dueCapacity = 0
    /// Periods of repeating timers, by node; nil until the first one.
    var intervals: UnsafeMutablePointer<Int64>? = nil
    var heap: UnsafeMutablePointer<Entry>? = nil
    var heapBuffer: UnsafeMutableRawPointer? = nil
    /// How many timers are in the heap (not counting those collected to fire).
    var count = 0
    var heapCapacity = 0
    var nextSequence: UInt32 = 0
    /// How many entries `push` has added, and how many it had when the batch
    /// was collected: a repeating timer re-armed then is scheduled anew when
    /// it fires if any timer was scheduled or moved in between (see `rearmed`).
    var pushes: UInt = 0
    var pushesAtCollection: UInt = 0
    var nextGeneration: UInt32 = 1
    var handlers: UnsafeMutablePointer<HandlerSlot>? = nil
    var handlerCount = 0
    var handlerCapacity = 0
    var handlerFree = -1
    /// The slot of the handler last scheduled with, and its identity: the
    /// next tagged schedule with the same closure value reuses it.
    var lastHandler = -1
    var lastIdentity: (UInt, UInt) = (0, 0)

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
}

/// Names one scheduled timer of one loop. Stale ids (fired, cancelled) are harmless.
public struct TimerID: Hashable, Sendable {
    let index: Int32
    let generation: UInt32
}

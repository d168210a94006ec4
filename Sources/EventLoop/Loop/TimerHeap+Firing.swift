// Firing: collecting the due timers into a batch and handing out their work
// in order (see `TimerHeap` for the two steps and why).

extension TimerHeap {
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
    mutating func rearmed(_ index: Int, _ node: Node, _ due: Due) -> Bool {
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
    mutating func renew(_ position: Int) {
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
    func stillArmed(_ node: Node, _ due: Due) -> Bool {
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

    static func skippingDeadline(after deadline: Int64, interval: Int64, now: Int64) -> Int64 {
        // 128-bit: `now - deadline` and the step may exceed Int64 for extreme deadlines.
        let elapsed = Int128(now) - Int128(deadline)
        let periods = (elapsed > 0 ? elapsed : 0) / Int128(interval) + 1
        let next = Int128(deadline) + periods * Int128(interval)
        return next > Int128(Int64.max) ? .max : Int64(truncatingIfNeeded: next)
    }
}

// The timer heap's memory: giving buffers back, the node slab and its free
// list, the closure and interval side arrays, and the shared-handler slots.

extension TimerHeap {
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
    mutating func takeNode() -> Int {
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
    mutating func arm(_ index: Int, _ deadline: Int64) -> TimerID {
        push(index, deadline)
        return TimerID(index: Int32(truncatingIfNeeded: index), generation: nodes.unsafelyUnwrapped[index].generation)
    }

    /// Puts a node that is not in the heap on the free list; its id no longer matches.
    @inline(__always)
    mutating func freeNode(_ index: Int) {
        nodes.unsafelyUnwrapped[index].generation = 0
        nodes.unsafelyUnwrapped[index].link = freeHead
        freeHead = Int32(truncatingIfNeeded: index)
        freeCount &+= 1
    }

    /// Moves a closure timer's closure out of its slot (no user code runs here).
    @inline(__always)
    mutating func takeClosure(_ index: Int) -> Closure {
        (closures.unsafelyUnwrapped + index).move().run
    }

    mutating func growDue(to wanted: Int? = nil) {
        let capacity = wanted ?? Self.grownCapacity(dueCapacity)
        let grown = UnsafeMutablePointer<Due>.allocate(capacity: capacity)
        if let due { grown.moveInitialize(from: due, count: dueCount); due.deallocate() }
        due = grown
        dueCapacity = capacity
    }

    mutating func growNodes() {
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
    static func grownCapacity(_ capacity: Int) -> Int {
        capacity < 16 ? 16 : capacity < 65_536 ? capacity * 2 : capacity * 4
    }

    mutating func allocateClosures() {
        closures = UnsafeMutablePointer<StoredClosure>.allocate(capacity: max(nodeCapacity, 1))
    }

    mutating func allocateIntervals() {
        intervals = UnsafeMutablePointer<Int64>.allocate(capacity: max(nodeCapacity, 1))
    }

    // MARK: - Handlers

    /// The slot of `handler` (found among the first slots, or a new one), with one more user.
    mutating func useHandler(_ handler: StoredHandler, _ identity: (UInt, UInt)) -> Int {
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
    mutating func freeHandler(_ slot: Int) -> Handler {
        let entry = (handlers.unsafelyUnwrapped + slot).move()
        (handlers.unsafelyUnwrapped + slot).initialize(to: HandlerSlot(handler: nil, identity: (0, 0), users: handlerFree))
        let handler = entry.handler.unsafelyUnwrapped.call
        handlerFree = slot
        // The cached identity named a closure this slot kept alive: no longer.
        if lastHandler == slot { lastHandler = -1 }
        return handler
    }

    mutating func growHandlers() {
        let capacity = Self.grownCapacity(handlerCapacity)
        let grown = UnsafeMutablePointer<HandlerSlot>.allocate(capacity: capacity)
        if let handlers { grown.moveInitialize(from: handlers, count: handlerCount); handlers.deallocate() }
        handlers = grown
        handlerCapacity = capacity
    }
}

/// The bookkeeping every backend shares: registrations in an array indexed by
/// descriptor (O(1), no hashing on the hot path), each with a generation that
/// tells a fresh registration from an older one on the same number.
///
/// This is the only registry: the loop keeps its watchers here, as the value
/// of each slot, so one lookup and one generation check serve every event.
///
/// Layout: the per-event path reads one slot, so a slot is kept small. It
/// holds the value, the interest, the trigger and the generation, and not the
/// descriptor (its index) nor anything only one backend needs (the poll
/// backend keeps its `pollfd` positions beside the table). For the loop's
/// watcher (a closure and a flag) a slot is 24 bytes, and an empty one costs
/// no more: the closure's null function pointer marks `nil`. `SelectorKey`s
/// are made from a slot when asked for.
///
/// User values may be closures whose captures run user code when released, so
/// nothing here releases a value while the table is half-changed: `remove`,
/// `update` and `removeAll` hand the removed slots back for the caller to drop.
struct RegistrationTable<Value> {
    struct Slot {
        var value: Value
        var interest: Interest
        var trigger: Trigger
        /// Distinguishes registrations of the same number over time; never 0.
        var generation: UInt32

        /// The registration as a key of descriptor `fd`.
        @inline(__always)
        func key(_ fd: Int32) -> SelectorKey<Value> {
            SelectorKey(descriptor: Descriptor(fd), interest: interest, trigger: trigger, value: value)
        }
    }

    private var slots: [Slot?] = []
    private(set) var count = 0
    private var nextGeneration: UInt32 = 1
    /// The largest registered descriptor, or -1.
    private(set) var maxDescriptor: Int32 = -1

    /// Refuses what no backend accepts: a closed selector, a negative descriptor,
    /// an interest that asks for nothing a backend reports (empty, or only
    /// undefined bits), a trigger the backend lacks.
    static func validate(_ fd: Descriptor, _ interest: Interest, _ trigger: Trigger, closed: Bool,
                         supported: Trigger, backend: String) throws(SelectorError) {
        if closed { throw .closed }
        if fd.rawValue < 0 { throw .invalidDescriptor(fd) }
        if interest.isEmpty || !interest.isSubset(of: .all) { throw .emptyInterest(fd) }
        if !trigger.isSubset(of: supported) { throw .unsupportedTrigger(trigger, backend: backend) }
    }

    /// Every check a `register` makes but the kernel's.
    func checkNew<S: EventSelector>(
        for selector: S, _ fd: Descriptor, _ interest: Interest, _ trigger: Trigger
    ) throws(SelectorError) {
        try Self.validate(fd, interest, trigger, closed: selector.isClosed, supported: S.supportedTriggers, backend: S.backendName)
        if self[fd.rawValue] != nil { throw .alreadyRegistered(fd) }
    }

    /// Every check a `modify` makes but the kernel's; returns the current
    /// interest, trigger and generation.
    func checkChange<S: EventSelector>(
        for selector: S, _ fd: Descriptor, _ interest: Interest, _ trigger: Trigger
    ) throws(SelectorError) -> (interest: Interest, trigger: Trigger, generation: UInt32) {
        try Self.validate(fd, interest, trigger, closed: selector.isClosed, supported: S.supportedTriggers, backend: S.backendName)
        guard let current = self[fd.rawValue] else { throw .notRegistered(fd) }
        return (current.interest, current.trigger, current.generation)
    }

    /// The registration of `fd`, if any (a copy: the value is retained).
    @inline(__always)
    subscript(fd: Int32) -> Slot? {
        fd >= 0 && Int(fd) < slots.count ? slots[Int(fd)] : nil
    }

    /// `fd`'s registration if it is generation `generation` (a copy), else nil:
    /// the per-event lookup, one bounds check and one compare.
    @inline(__always)
    func slot(_ fd: Int32, ifGeneration generation: UInt32) -> Slot? {
        guard fd >= 0 && Int(fd) < slots.count, let slot = slots[Int(fd)], slot.generation == generation else { return nil }
        return slot
    }

    /// The generation of `fd`'s registration, or 0 when it has none. Reads
    /// one field: the value is neither copied nor retained.
    @inline(__always)
    func generation(_ fd: Int32) -> UInt32 {
        fd >= 0 && Int(fd) < slots.count ? slots[Int(fd)]?.generation ?? 0 : 0
    }

    /// The generation the next `insert` will use.
    var upcomingGeneration: UInt32 { nextGeneration }

    /// Adds a registration that the kernel has accepted; returns its generation.
    @discardableResult
    mutating func insert(_ fd: Int32, _ interest: Interest, _ trigger: Trigger, _ value: Value) -> UInt32 {
        let index = Int(fd)
        if index >= slots.count { slots += Array(repeating: nil, count: index + 1 - slots.count) }
        precondition(slots[index] == nil, "RegistrationTable: fd \(fd) inserted twice")
        let generation = nextGeneration
        slots[index] = Slot(value: value, interest: interest, trigger: trigger, generation: generation)
        nextGeneration = nextGeneration &+ 1
        if nextGeneration == 0 { nextGeneration = 1 }
        count += 1
        maxDescriptor = max(maxDescriptor, fd)
        return generation
    }

    /// Replaces a registration's interest, trigger and value (same
    /// generation); returns the old slot, for the caller to drop.
    mutating func update(_ fd: Int32, _ interest: Interest, _ trigger: Trigger, _ value: Value) -> Slot {
        let index = Int(fd)
        let old = slots[index]!
        slots[index] = Slot(value: value, interest: interest, trigger: trigger, generation: old.generation)
        return old
    }

    /// Removes a registration and returns it; its value is released when the
    /// caller drops it, after the table is whole again.
    mutating func remove(_ fd: Int32) -> Slot? {
        guard let slot = self[fd] else { return nil }
        slots[Int(fd)] = nil
        count -= 1
        if fd == maxDescriptor {
            var candidate = fd - 1
            while candidate >= 0 && slots[Int(candidate)] == nil { candidate -= 1 }
            maxDescriptor = candidate
        }
        return slot
    }

    /// Empties the table and returns what it held, for the caller to drop.
    mutating func removeAll() -> [Slot?] {
        var old: [Slot?] = []
        swap(&old, &slots)
        count = 0
        maxDescriptor = -1
        return old
    }

    var keys: [Descriptor: SelectorKey<Value>] {
        var result: [Descriptor: SelectorKey<Value>] = [:]
        result.reserveCapacity(count)
        for (fd, slot) in registered { result[Descriptor(fd)] = slot.key(fd) }
        return result
    }

    /// Registered descriptors and their slots, ascending by descriptor.
    var registered: some Sequence<(fd: Int32, slot: Slot)> {
        slots.enumerated().lazy.compactMap { entry in entry.element.map { (Int32(entry.offset), $0) } }
    }
}

/// A backend whose registrations live in a `RegistrationTable`: the read-only
/// parts of `EventSelector` come from the table.
protocol TableBackedSelector: EventSelector {
    var table: RegistrationTable<Value> { get }
    /// Waits, then calls `body` for each ready registration (descriptor, slot,
    /// events) until it returns false; says how many it was called for.
    @discardableResult
    func selectEach(
        timeout: Duration?, _ body: (Int32, RegistrationTable<Value>.Slot, ReadyEvents) -> Bool
    ) throws(SelectorError) -> Int
}

extension TableBackedSelector {
    /// How many descriptors are registered.
    public var count: Int { table.count }
    /// Every registration, by descriptor (a copy).
    public var keys: [Descriptor: SelectorKey<Value>] { table.keys }
    /// The registration of `descriptor`, if any. O(1).
    public func key(for descriptor: Descriptor) -> SelectorKey<Value>? { table[descriptor.rawValue]?.key(descriptor.rawValue) }

    /// `select(timeout:into:)` on `selectEach`: `events` emptied, then one
    /// event per ready registration appended.
    func collect(timeout: Duration?, into events: inout [SelectorEvent<Value>]) throws(SelectorError) -> Int {
        events.removeAll(keepingCapacity: true)
        return try selectEach(timeout: timeout) { fd, slot, got in
            events.append(SelectorEvent(key: slot.key(fd), events: got))
            return true
        }
    }
}

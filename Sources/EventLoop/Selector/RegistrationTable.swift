/// The bookkeeping every backend shares: registrations in an array indexed by
/// descriptor (O(1), no hashing on the hot path), each with a generation that
/// tells a fresh registration from an older one on the same number.
///
/// This is the only registry: the loop keeps its watchers here, as the value
/// of each key, so one lookup and one generation check serve every event.
///
/// User values may be closures whose captures run user code when released, so
/// nothing here releases a value while the table is half-changed: `remove`
/// and `removeAll` hand the removed slots back for the caller to drop.
struct RegistrationTable<Value> {
    struct Slot {
        var key: SelectorKey<Value>
        /// Distinguishes registrations of the same number over time.
        var generation: UInt32
        /// Backend-private: the poll backend keeps its pollfd index here.
        var index: Int
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

    /// The key a `register` would add, after every check but the kernel's.
    func newKey<S: EventSelector>(
        for selector: S, _ fd: Descriptor, _ interest: Interest, _ trigger: Trigger, _ value: Value
    ) throws(SelectorError) -> SelectorKey<Value> {
        try Self.validate(fd, interest, trigger, closed: selector.isClosed, supported: S.supportedTriggers, backend: S.backendName)
        if self[fd.rawValue] != nil { throw .alreadyRegistered(fd) }
        return SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value)
    }

    /// The current slot and the key a `modify` would store, after every check but the kernel's.
    func changedKey<S: EventSelector>(
        for selector: S, _ fd: Descriptor, _ interest: Interest, _ trigger: Trigger, _ value: Value
    ) throws(SelectorError) -> (current: Slot, key: SelectorKey<Value>) {
        try Self.validate(fd, interest, trigger, closed: selector.isClosed, supported: S.supportedTriggers, backend: S.backendName)
        guard let slot = self[fd.rawValue] else { throw .notRegistered(fd) }
        return (slot, SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value))
    }

    @inline(__always)
    subscript(fd: Int32) -> Slot? {
        fd >= 0 && Int(fd) < slots.count ? slots[Int(fd)] : nil
    }

    /// The generation the next `insert` will use.
    var upcomingGeneration: UInt32 { nextGeneration }

    /// Adds a registration that the kernel has accepted; returns its generation.
    @discardableResult
    mutating func insert(_ key: SelectorKey<Value>, index: Int = -1) -> UInt32 {
        let fd = Int(key.descriptor.rawValue)
        if fd >= slots.count { slots.append(contentsOf: repeatElement(nil, count: fd + 1 - slots.count)) }
        precondition(slots[fd] == nil, "RegistrationTable: \(key.descriptor) inserted twice")
        let generation = nextGeneration
        slots[fd] = Slot(key: key, generation: generation, index: index)
        nextGeneration = nextGeneration &+ 1
        if nextGeneration == 0 { nextGeneration = 1 }
        count += 1
        maxDescriptor = max(maxDescriptor, key.descriptor.rawValue)
        return generation
    }

    /// Replaces a registration's key; returns the old one, for the caller to drop.
    mutating func update(_ key: SelectorKey<Value>) -> SelectorKey<Value> {
        let index = Int(key.descriptor.rawValue)
        let old = slots[index]!.key
        slots[index]!.key = key
        return old
    }

    mutating func setIndex(_ index: Int, for fd: Int32) {
        slots[Int(fd)]!.index = index
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
        for case let slot? in slots { result[slot.key.descriptor] = slot.key }
        return result
    }

    /// Registered slots, ascending by descriptor.
    var registered: some Sequence<Slot> { slots.lazy.compactMap { $0 } }
}

/// A backend whose registrations live in a `RegistrationTable`: the read-only
/// parts of `EventSelector` come from the table.
protocol TableBackedSelector: EventSelector {
    var table: RegistrationTable<Value> { get }
}

extension TableBackedSelector {
    /// How many descriptors are registered.
    public var count: Int { table.count }
    /// Every registration, by descriptor (a copy).
    public var keys: [Descriptor: SelectorKey<Value>] { table.keys }
    /// The registration of `descriptor`, if any. O(1).
    public func key(for descriptor: Descriptor) -> SelectorKey<Value>? { table[descriptor.rawValue]?.key }

    /// The generation of the registration of `descriptor`, if any (loop use).
    func generation(of descriptor: Descriptor) -> UInt32? { table[descriptor.rawValue]?.generation }
}

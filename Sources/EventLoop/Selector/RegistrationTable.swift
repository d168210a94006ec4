/// The bookkeeping every backend shares: registrations in an array indexed by
/// descriptor (O(1), no hashing on the hot path), each with a generation that
/// tells a fresh registration from an older one on the same number.
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
    /// an empty interest, a trigger the backend lacks.
    func validate(_ fd: Descriptor, _ interest: Interest, _ trigger: Trigger, closed: Bool,
                  supported: Trigger, backend: String) throws(SelectorError) {
        if closed { throw .closed }
        if fd.rawValue < 0 { throw .invalidDescriptor(fd) }
        if interest.isEmpty { throw .emptyInterest(fd) }
        if !trigger.isSubset(of: supported) { throw .unsupportedTrigger(trigger, backend: backend) }
    }

    /// The key a `register` would add, after every check but the kernel's.
    func newKey<S: EventSelector>(
        for selector: S, _ fd: Descriptor, _ interest: Interest, _ trigger: Trigger, _ value: Value
    ) throws(SelectorError) -> SelectorKey<Value> {
        try validate(fd, interest, trigger, closed: selector.isClosed, supported: S.supportedTriggers, backend: S.backendName)
        if self[fd.rawValue] != nil { throw .alreadyRegistered(fd) }
        return SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value)
    }

    /// The current slot and the key a `modify` would store, after every check but the kernel's.
    func changedKey<S: EventSelector>(
        for selector: S, _ fd: Descriptor, _ interest: Interest, _ trigger: Trigger, _ value: Value
    ) throws(SelectorError) -> (current: Slot, key: SelectorKey<Value>) {
        try validate(fd, interest, trigger, closed: selector.isClosed, supported: S.supportedTriggers, backend: S.backendName)
        guard let slot = self[fd.rawValue] else { throw .notRegistered(fd) }
        return (slot, SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value))
    }

    @inline(__always)
    subscript(fd: Int32) -> Slot? {
        get { fd >= 0 && Int(fd) < slots.count ? slots[Int(fd)] : nil }
    }

    /// The generation the next `insert` will use.
    var upcomingGeneration: UInt32 { nextGeneration }

    /// Adds a registration that the kernel has accepted.
    mutating func insert(_ key: SelectorKey<Value>, index: Int = -1) {
        let fd = Int(key.descriptor.rawValue)
        if fd >= slots.count { slots.append(contentsOf: repeatElement(nil, count: fd + 1 - slots.count)) }
        precondition(slots[fd] == nil, "RegistrationTable: \(key.descriptor) inserted twice")
        slots[fd] = Slot(key: key, generation: nextGeneration, index: index)
        nextGeneration = nextGeneration &+ 1
        if nextGeneration == 0 { nextGeneration = 1 }
        count += 1
        maxDescriptor = max(maxDescriptor, key.descriptor.rawValue)
    }

    mutating func update(_ key: SelectorKey<Value>) {
        slots[Int(key.descriptor.rawValue)]!.key = key
    }

    mutating func setIndex(_ index: Int, for fd: Int32) {
        slots[Int(fd)]!.index = index
    }

    @discardableResult
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

    mutating func removeAll() {
        slots = []
        count = 0
        maxDescriptor = -1
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
    public var count: Int { table.count }
    public var keys: [Descriptor: SelectorKey<Value>] { table.keys }
    public func key(for descriptor: Descriptor) -> SelectorKey<Value>? { table[descriptor.rawValue]?.key }
}

/// The poll backend: level-triggered only, O(registered) per wait, no limit on
/// descriptor numbers.
///
/// It keeps one `pollfd` array that the kernel reads directly; removal swaps the
/// last entry into the hole, so every change is O(1). The kernel keeps nothing
/// between waits, so a number closed while registered cannot haunt it: it is
/// reported as `.error` (`POLLNVAL`) until it is unregistered. `register`
/// checks that the number is open (`fcntl(F_GETFD)`) before any table is sized
/// by it. The corresponding C call is `ppoll(2)`.
public final class PollSelector<Value>: TableBackedSelector {
    /// `"poll"`.
    public static var backendName: String { "poll" }
    /// Level only.
    public static var supportedTriggers: Trigger { [] }

    private(set) var table = RegistrationTable<Value>()
    private var pollList = PollList()
    /// Each registered descriptor's position in `pollList`, by descriptor.
    private var positions: [Int] = []
    /// The ready descriptors of the last wait with their events, reused.
    private var readyScratch: [(fd: Int32, generation: UInt32, revents: Int16)] = []
    /// Whether `close()` has been called.
    public private(set) var isClosed = false

    /// An empty selector; it holds no kernel object.
    public init() {}

    /// Starts watching `fd` (see `EventSelector.register`).
    @discardableResult
    public func register(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        try table.checkNew(for: self, fd, interest, trigger)
        try Self.requireOpen(fd)
        let position = pollList.append(fd.rawValue, events: PollList.events(for: interest))
        let slot = Int(fd.rawValue)
        if slot >= positions.count { positions += Array(repeating: -1, count: slot + 1 - positions.count) }
        positions[slot] = position
        table.insert(fd.rawValue, interest, trigger, value)
        return SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value)
    }

    /// Changes a registration (see `EventSelector.modify`).
    @discardableResult
    public func modify(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        _ = try table.checkChange(for: self, fd, interest, trigger)
        pollList.setEvents(PollList.events(for: interest), at: positions[Int(fd.rawValue)])
        let old = table.update(fd.rawValue, interest, trigger, value)
        _ = old // released with the table whole
        return SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value)
    }

    /// Stops watching `fd` (see `EventSelector.unregister`).
    @discardableResult
    public func unregister(_ fd: Descriptor) throws(SelectorError) -> SelectorKey<Value> {
        if isClosed { throw .closed }
        guard let slot = table.remove(fd.rawValue) else { throw .notRegistered(fd) }
        let position = positions[Int(fd.rawValue)]
        positions[Int(fd.rawValue)] = -1
        if let moved = pollList.remove(at: position) { positions[Int(moved)] = position }
        return slot.key(fd.rawValue)
    }

    /// Waits and fills `events` (see `EventSelector.select(timeout:into:)`).
    @discardableResult
    public func select(timeout: Duration?, into events: inout [SelectorEvent<Value>]) throws(SelectorError) -> Int {
        try collect(timeout: timeout, into: &events)
    }

    /// Waits, then calls `body` for each ready registration, checking each
    /// against the table when its turn comes (see `EpollSelector.selectEach`).
    @discardableResult
    func selectEach(
        timeout: Duration?, _ body: (Int32, RegistrationTable<Value>.Slot, ReadyEvents) -> Bool
    ) throws(SelectorError) -> Int {
        if isClosed { throw .closed }
        let ready: Int
        do { ready = try pollList.wait(timeout: timeout) } catch { throw .system(error) }
        guard ready > 0 else { return 0 }
        // Snapshot first: a callback may unregister, which reorders the list.
        var scratch = readyScratch
        readyScratch = []
        defer {
            scratch.removeAll(keepingCapacity: true)
            readyScratch = scratch
        }
        pollList.forEachReady { fd, revents in
            let generation = table.generation(fd)
            if generation != 0 { scratch.append((fd, generation, revents)) }
        }
        var reported = 0
        for (fd, generation, revents) in scratch {
            guard let slot = table.slot(fd, ifGeneration: generation) else { continue }
            let got = PollList.readyEvents(revents, slot.interest)
            if got.isEmpty { continue }
            reported += 1
            if !body(fd, slot, got) { break }
        }
        return reported
    }

    /// Forgets every registration (see `EventSelector.close`).
    public func close() {
        isClosed = true
        pollList.removeAll()
        positions = []
        let slots = table.removeAll()
        _ = slots // released with the selector consistent
    }

    /// Refuses a number that is not open, before any table is sized by it.
    static func requireOpen(_ fd: Descriptor) throws(SelectorError) {
        do { _ = try fd.isCloseOnExec() } catch {
            if error.errno == .badFileDescriptor { throw .invalidDescriptor(fd) }
            throw .system(error)
        }
    }
}

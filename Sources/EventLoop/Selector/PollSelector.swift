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
    /// The ready descriptors of the last wait with their events, reused.
    private var readyScratch: [(fd: Int32, generation: UInt32, revents: Int16)] = []
    /// Whether `close()` has been called.
    public private(set) var isClosed = false

    /// An empty selector; it holds no kernel object.
    public init() {}

    /// Starts watching `fd` (see `EventSelector.register`).
    @discardableResult
    public func register(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        let key = try table.newKey(for: self, fd, interest, trigger, value)
        try Self.requireOpen(fd)
        let index = pollList.append(fd.rawValue, events: Self.pollEvents(interest))
        table.insert(key, index: index)
        return key
    }

    /// Changes a registration (see `EventSelector.modify`).
    @discardableResult
    public func modify(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        let (slot, key) = try table.changedKey(for: self, fd, interest, trigger, value)
        pollList.setEvents(Self.pollEvents(interest), at: slot.index)
        let old = table.update(key)
        _ = old // released with the table whole
        return key
    }

    /// Stops watching `fd` (see `EventSelector.unregister`).
    @discardableResult
    public func unregister(_ fd: Descriptor) throws(SelectorError) -> SelectorKey<Value> {
        if isClosed { throw .closed }
        guard let slot = table.remove(fd.rawValue) else { throw .notRegistered(fd) }
        if let moved = pollList.remove(at: slot.index) { table.setIndex(slot.index, for: moved) }
        return slot.key
    }

    /// Waits and fills `events` (see `EventSelector.select(timeout:into:)`).
    @discardableResult
    public func select(timeout: Duration?, into events: inout [SelectorEvent<Value>]) throws(SelectorError) -> Int {
        events.removeAll(keepingCapacity: true)
        return try selectEach(timeout: timeout) { key, got in
            events.append(SelectorEvent(key: key, events: got))
            return true
        }
    }

    /// Waits, then calls `body` for each ready registration, checking each
    /// against the table when its turn comes (see `EpollSelector.selectEach`).
    @discardableResult
    func selectEach(timeout: Duration?, _ body: (SelectorKey<Value>, ReadyEvents) -> Bool) throws(SelectorError) -> Int {
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
            if let slot = table[fd] { scratch.append((fd, slot.generation, revents)) }
        }
        var reported = 0
        for (fd, generation, revents) in scratch {
            guard let slot = table[fd], slot.generation == generation else { continue }
            let got = Self.readyEvents(revents, slot.key.interest)
            if got.isEmpty { continue }
            reported += 1
            if !body(slot.key, got) { break }
        }
        return reported
    }

    /// Forgets every registration (see `EventSelector.close`).
    public func close() {
        isClosed = true
        pollList.removeAll()
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

    private static func pollEvents(_ interest: Interest) -> Int16 {
        var events: Int16 = 0
        if interest.contains(.readable) { events |= PollList.Bits.input | PollList.Bits.readHangUp }
        if interest.contains(.writable) { events |= PollList.Bits.output }
        return events
    }

    private static func readyEvents(_ revents: Int16, _ interest: Interest) -> ReadyEvents {
        var got: ReadyEvents = []
        if revents & PollList.Bits.input != 0 { got.insert(.readable) }
        if revents & PollList.Bits.output != 0 { got.insert(.writable) }
        if revents & PollList.Bits.readHangUp != 0 { got.insert([.readHangUp, .readable]) }
        if revents & PollList.Bits.hangUp != 0 { got.insert([.hangUp, .readable, .writable]) }
        if revents & (PollList.Bits.error | PollList.Bits.invalid) != 0 { got.insert([.error, .readable, .writable]) }
        return got.subtracting(ReadyEvents(rawValue: Interest.all.rawValue & ~interest.rawValue))
    }
}

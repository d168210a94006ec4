/// The select backend: level-triggered only, descriptors below `FD_SETSIZE`
/// (1024) only, O(highest descriptor) per wait. The portable fallback.
///
/// `select(2)` cannot tell a hang-up from readable: a closed peer shows as
/// readable, and the read returns 0. A descriptor closed while registered makes
/// the kernel refuse the whole wait with `EBADF`; this backend then finds the
/// closed ones and reports them as `.error` until they are unregistered, with
/// the readiness of the open ones, polled at once (so a closed number does not
/// hide the others).
/// `register` checks that the number is open (`fcntl(F_GETFD)`). Its timeout
/// is rounded up to whole microseconds.
public final class SelectSelector<Value>: TableBackedSelector {
    /// `"select"`.
    public static var backendName: String { "select" }
    /// Level only.
    public static var supportedTriggers: Trigger { [] }

    private(set) var table = RegistrationTable<Value>()
    private var readSet = FDSet()
    private var writeSet = FDSet()
    /// The ready descriptors of the last wait with their events, reused.
    private var readyScratch: [(fd: Int32, generation: UInt32, events: ReadyEvents)] = []
    /// Whether `close()` has been called.
    public private(set) var isClosed = false

    /// An empty selector; it holds no kernel object.
    public init() {}

    /// Starts watching `fd` (see `EventSelector.register`).
    @discardableResult
    public func register(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        try table.checkNew(for: self, fd, interest, trigger)
        if fd.rawValue >= FDSet.capacity { throw .descriptorOutOfRange(fd, limit: FDSet.capacity) }
        try PollSelector<Value>.requireOpen(fd)
        setMembership(fd, interest)
        table.insert(fd.rawValue, interest, trigger, value)
        return SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value)
    }

    /// Changes a registration (see `EventSelector.modify`).
    @discardableResult
    public func modify(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        _ = try table.checkChange(for: self, fd, interest, trigger)
        setMembership(fd, interest)
        let old = table.update(fd.rawValue, interest, trigger, value)
        _ = old // released with the table whole
        return SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value)
    }

    /// Stops watching `fd` (see `EventSelector.unregister`).
    @discardableResult
    public func unregister(_ fd: Descriptor) throws(SelectorError) -> SelectorKey<Value> {
        if isClosed { throw .closed }
        guard let slot = table.remove(fd.rawValue) else { throw .notRegistered(fd) }
        setMembership(fd, [])
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
        var readable = readSet
        var writable = writeSet
        var scratch = readyScratch
        readyScratch = []
        defer {
            scratch.removeAll(keepingCapacity: true)
            readyScratch = scratch
        }
        do {
            let ready = try FDSet.select(upTo: Int(table.maxDescriptor) + 1, readable: &readable, writable: &writable, timeout: timeout)
            guard ready > 0 else { return 0 }
            collect(readable, writable, into: &scratch)
        } catch let error as SystemError where error.errno == .badFileDescriptor {
            // fcntl(F_GETFD) fails (EBADF) exactly for the numbers that are no longer open.
            readable = readSet
            writable = writeSet
            for (fd, slot) in table.registered where (try? Descriptor(fd).isCloseOnExec()) == nil {
                let got = ReadyEvents.error.union(ReadyEvents(rawValue: slot.interest.rawValue))
                scratch.append((fd, slot.generation, got))
                try! readable.remove(Descriptor(fd)) // registered, so in range
                try! writable.remove(Descriptor(fd))
            }
            // The kernel refused the whole wait: poll the open ones at once, or
            // a closed number would hide their readiness until it is unregistered.
            // A number closed since (EBADF again) is found by the next wait.
            let ready = (try? FDSet.select(upTo: Int(table.maxDescriptor) + 1, readable: &readable, writable: &writable, timeout: .zero)) ?? 0
            if ready > 0 { collect(readable, writable, into: &scratch) }
        } catch let error as SystemError {
            throw .system(error)
        } catch {
            preconditionFailure("select: nfds is within FD_SETSIZE by construction: \(error)")
        }
        var reported = 0
        for (fd, generation, got) in scratch {
            guard let slot = table.slot(fd, ifGeneration: generation) else { continue }
            let masked = got.intersection(ReadyEvents(rawValue: slot.interest.rawValue).union(.error))
            if masked.isEmpty { continue }
            reported += 1
            if !body(fd, slot, masked) { break }
        }
        return reported
    }

    /// Forgets every registration (see `EventSelector.close`).
    public func close() {
        isClosed = true
        readSet.removeAll()
        writeSet.removeAll()
        let slots = table.removeAll()
        _ = slots // released with the selector consistent
    }

    /// Appends each registration found in `readable` or `writable` after a wait.
    private func collect(_ readable: FDSet, _ writable: FDSet, into scratch: inout [(fd: Int32, generation: UInt32, events: ReadyEvents)]) {
        for (fd, slot) in table.registered {
            var got: ReadyEvents = []
            if readable.contains(Descriptor(fd)) { got.insert(.readable) }
            if writable.contains(Descriptor(fd)) { got.insert(.writable) }
            if !got.isEmpty { scratch.append((fd, slot.generation, got)) }
        }
    }

    /// Puts `fd` in exactly the sets `interest` names. `fd` is known to be in range.
    private func setMembership(_ fd: Descriptor, _ interest: Interest) {
        // In range by the check in register, so neither call can throw.
        if interest.contains(.readable) { try! readSet.insert(fd) } else { try! readSet.remove(fd) }
        if interest.contains(.writable) { try! writeSet.insert(fd) } else { try! writeSet.remove(fd) }
    }
}

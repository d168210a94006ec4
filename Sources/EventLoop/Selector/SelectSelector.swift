import CEventShim

/// The select backend: level-triggered only, descriptors below `FD_SETSIZE`
/// (1024) only, O(highest descriptor) per wait. The portable fallback.
///
/// `select(2)` cannot tell a hang-up from readable: a closed peer shows as
/// readable, and the read returns 0. A descriptor closed while registered makes
/// the kernel refuse the whole wait with `EBADF`; this backend then finds the
/// closed ones and reports them as `.error` until they are unregistered.
/// Its timeout is rounded up to whole microseconds.
public final class SelectSelector<Value>: TableBackedSelector {
    public static var backendName: String { "select" }
    public static var supportedTriggers: Trigger { [] }

    private(set) var table = RegistrationTable<Value>()
    private var readSet = FDSet()
    private var writeSet = FDSet()
    public private(set) var isClosed = false

    public init() {}

    @discardableResult
    public func register(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws -> SelectorKey<Value> {
        let key = try table.newKey(for: self, fd, interest, trigger, value)
        if fd.rawValue >= FDSet.capacity { throw SelectorError.descriptorOutOfRange(fd, limit: FDSet.capacity) }
        try setMembership(fd, interest)
        table.insert(key)
        return key
    }

    @discardableResult
    public func modify(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws -> SelectorKey<Value> {
        let (_, key) = try table.changedKey(for: self, fd, interest, trigger, value)
        try setMembership(fd, interest)
        table.update(key)
        return key
    }

    @discardableResult
    public func unregister(_ fd: Descriptor) throws -> SelectorKey<Value> {
        if isClosed { throw SelectorError.closed }
        guard let slot = table.remove(fd.rawValue) else { throw SelectorError.notRegistered(fd) }
        try setMembership(fd, [])
        return slot.key
    }

    @discardableResult
    public func select(timeout: Duration?, into events: inout [SelectorEvent<Value>]) throws -> Int {
        events.removeAll(keepingCapacity: true)
        if isClosed { throw SelectorError.closed }
        var readable = readSet
        var writable = writeSet
        let nfds = table.maxDescriptor + 1
        let ready: Int32
        do {
            ready = try Syscall.waiting(timeout: timeout, "select(\(nfds) descriptors)") {
                cevent_select(nfds, &readable.storage, &writable.storage, nil, $0)
            }
        } catch let error where error.errno == .badFileDescriptor {
            reportClosed(into: &events)
            return events.count
        } catch { throw SelectorError.system(error) }
        guard ready > 0 else { return 0 }
        for slot in table.registered {
            var got: ReadyEvents = []
            if readable.contains(slot.key.descriptor) { got.insert(.readable) }
            if writable.contains(slot.key.descriptor) { got.insert(.writable) }
            if !got.isEmpty { events.append(SelectorEvent(key: slot.key, events: got)) }
        }
        return events.count
    }

    public func close() {
        isClosed = true
        table.removeAll()
        readSet.removeAll()
        writeSet.removeAll()
    }

    /// Puts `fd` in exactly the sets `interest` names. `fd` is known to be in range.
    private func setMembership(_ fd: Descriptor, _ interest: Interest) throws {
        if interest.contains(.readable) { try readSet.insert(fd) } else { try readSet.remove(fd) }
        if interest.contains(.writable) { try writeSet.insert(fd) } else { try writeSet.remove(fd) }
    }

    /// After `EBADF`: every registered descriptor that is no longer open.
    private func reportClosed(into events: inout [SelectorEvent<Value>]) {
        for slot in table.registered {
            if (try? slot.key.descriptor.isCloseOnExec()) == nil {
                let got = ReadyEvents.error.union(ReadyEvents(rawValue: slot.key.interest.rawValue))
                events.append(SelectorEvent(key: slot.key, events: got))
            }
        }
    }
}

import CEventShim
import Glibc

/// The poll backend: level-triggered only, O(registered) per wait, no limit on
/// descriptor numbers.
///
/// It keeps one `pollfd` array that the kernel reads directly; removal swaps the
/// last entry into the hole, so every change is O(1). A descriptor closed while
/// registered is reported as `.error` (`POLLNVAL`) until it is unregistered.
/// The corresponding C call is `ppoll(2)`.
public final class PollSelector<Value>: TableBackedSelector {
    public static var backendName: String { "poll" }
    public static var supportedTriggers: Trigger { [] }

    private(set) var table = RegistrationTable<Value>()
    private var pollfds: [pollfd] = []
    public private(set) var isClosed = false

    public init() {}

    @discardableResult
    public func register(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws -> SelectorKey<Value> {
        let key = try table.newKey(for: self, fd, interest, trigger, value)
        pollfds.append(pollfd(fd: fd.rawValue, events: Self.pollEvents(interest), revents: 0))
        table.insert(key, index: pollfds.count - 1)
        return key
    }

    @discardableResult
    public func modify(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws -> SelectorKey<Value> {
        let (slot, key) = try table.changedKey(for: self, fd, interest, trigger, value)
        pollfds[slot.index].events = Self.pollEvents(interest)
        table.update(key)
        return key
    }

    @discardableResult
    public func unregister(_ fd: Descriptor) throws -> SelectorKey<Value> {
        if isClosed { throw SelectorError.closed }
        guard let slot = table.remove(fd.rawValue) else { throw SelectorError.notRegistered(fd) }
        let last = pollfds.count - 1
        if slot.index != last {
            pollfds[slot.index] = pollfds[last]
            table.setIndex(slot.index, for: pollfds[slot.index].fd)
        }
        pollfds.removeLast()
        return slot.key
    }

    @discardableResult
    public func select(timeout: Duration?, into events: inout [SelectorEvent<Value>]) throws -> Int {
        events.removeAll(keepingCapacity: true)
        if isClosed { throw SelectorError.closed }
        let ready: Int32
        do {
            ready = try pollfds.withUnsafeMutableBufferPointer { fds throws(SystemError) in
                try Syscall.waiting(timeout: timeout, "ppoll(\(fds.count) descriptors)") {
                    cevent_poll(fds.baseAddress, UInt(fds.count), $0)
                }
            }
        } catch { throw SelectorError.system(error) }
        guard ready > 0 else { return 0 }
        for entry in pollfds where entry.revents != 0 {
            guard let slot = table[entry.fd] else { continue }
            let got = Self.readyEvents(entry.revents, slot.key.interest)
            if !got.isEmpty { events.append(SelectorEvent(key: slot.key, events: got)) }
        }
        return events.count
    }

    public func close() {
        isClosed = true
        table.removeAll()
        pollfds = []
    }

    private static func pollEvents(_ interest: Interest) -> Int16 {
        var events: Int16 = 0
        if interest.contains(.readable) { events |= cevent_POLLIN | cevent_POLLRDHUP }
        if interest.contains(.writable) { events |= cevent_POLLOUT }
        return events
    }

    private static func readyEvents(_ revents: Int16, _ interest: Interest) -> ReadyEvents {
        var got: ReadyEvents = []
        if revents & cevent_POLLIN != 0 { got.insert(.readable) }
        if revents & cevent_POLLOUT != 0 { got.insert(.writable) }
        if revents & cevent_POLLRDHUP != 0 { got.insert([.readHangUp, .readable]) }
        if revents & cevent_POLLHUP != 0 { got.insert([.hangUp, .readable, .writable]) }
        if revents & (cevent_POLLERR | cevent_POLLNVAL) != 0 { got.insert([.error, .readable, .writable]) }
        return got.subtracting(ReadyEvents(rawValue: Interest.all.rawValue & ~interest.rawValue))
    }
}

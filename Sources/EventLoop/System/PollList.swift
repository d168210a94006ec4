import CEventShim
import Glibc

/// The `struct pollfd` array that `ppoll(2)` reads, kept for the poll backend.
///
/// Removal swaps the last entry into the hole, so every change is O(1); the
/// caller tracks where each descriptor sits. Loop thread (or the selector's owner) only.
struct PollList {
    /// The bits the poll backend asks for and reads back.
    enum Bits {
        static let input = cevent_POLLIN
        static let output = cevent_POLLOUT
        static let readHangUp = cevent_POLLRDHUP
        static let hangUp = cevent_POLLHUP
        static let error = cevent_POLLERR
        static let invalid = cevent_POLLNVAL
    }

    private var entries: [pollfd] = []

    var count: Int { entries.count }

    /// Appends `fd` asking for `events`; returns its index.
    mutating func append(_ fd: Int32, events: Int16) -> Int {
        entries.append(pollfd(fd: fd, events: events, revents: 0))
        return entries.count - 1
    }

    mutating func setEvents(_ events: Int16, at index: Int) { entries[index].events = events }

    /// Removes the entry at `index` by moving the last one into it; returns the
    /// descriptor that moved (now at `index`), or nil when the last was removed.
    mutating func remove(at index: Int) -> Int32? {
        let last = entries.count - 1
        if index != last { entries[index] = entries[last] }
        entries.removeLast()
        return index < entries.count ? entries[index].fd : nil
    }

    mutating func removeAll() { entries = [] }

    /// Waits as `ppoll(2)` does, `EINTR` restarted with the time left; returns
    /// how many entries have events.
    mutating func wait(timeout: Duration?) throws(SystemError) -> Int {
        let count = entries.count
        return try entries.withUnsafeMutableBufferPointer { (fds) throws(SystemError) in
            let base = fds.baseAddress
            return try Syscall.waiting(timeout: timeout, "ppoll(\(count) descriptors)") { Kernel.poll(base, count, $0) }
        }
    }

    /// Calls `body` with each descriptor that has events after `wait`, and its events.
    func forEachReady(_ body: (Int32, Int16) -> Void) {
        for entry in entries where entry.revents != 0 { body(entry.fd, entry.revents) }
    }
}

extension PollList {
    /// The `poll(2)` bits that ask for `interest` (a peer's half-close counts as readable).
    static func events(for interest: Interest) -> Int16 {
        var events: Int16 = 0
        if interest.contains(.readable) { events |= PollList.Bits.input | PollList.Bits.readHangUp }
        if interest.contains(.writable) { events |= PollList.Bits.output }
        return events
    }

    /// What `revents` reports, within `interest` (hang-ups and errors make
    /// the registration readable and writable, so its reader finds them).
    static func readyEvents(_ revents: Int16, _ interest: Interest) -> ReadyEvents {
        var got: ReadyEvents = []
        if revents & PollList.Bits.input != 0 { got.insert(.readable) }
        if revents & PollList.Bits.output != 0 { got.insert(.writable) }
        if revents & PollList.Bits.readHangUp != 0 { got.insert([.readHangUp, .readable]) }
        if revents & PollList.Bits.hangUp != 0 { got.insert([.hangUp, .readable, .writable]) }
        if revents & (PollList.Bits.error | PollList.Bits.invalid) != 0 { got.insert([.error, .readable, .writable]) }
        return got.subtracting(ReadyEvents(rawValue: Interest.all.rawValue & ~interest.rawValue))
    }
}

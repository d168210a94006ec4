import CEventShim

/// The epoll backend: O(ready) waits, level, edge and one-shot triggering.
///
/// Traps it defends against:
/// - epoll registers the open file, not the number. A number closed while
///   registered vanishes from the kernel's set by itself (when no `dup` keeps
///   the file alive), so `unregister` accepts `EBADF`/`ENOENT` from the kernel.
/// - A number can be closed and reused between a wait and the dispatch of its
///   events. Each registration's user data carries a generation beside the
///   number, and an event whose generation is not the current one is dropped.
/// - Regular files and directories are always ready; epoll refuses them with
///   `EPERM`, reported as `SelectorError.notPollable`.
/// - The events buffer is full when as many descriptors were ready as it
///   holds; it then doubles, so the rest are reported by the following waits.
///
/// The corresponding C calls are `epoll_create1(2)`, `epoll_ctl(2)` and
/// `epoll_pwait2(2)` (falling back to `epoll_pwait` on older kernels).
public final class EpollSelector<Value>: TableBackedSelector {
    public static var backendName: String { "epoll" }
    public static var supportedTriggers: Trigger { [.edge, .oneShot] }

    /// The mutable state, behind a pointer so the wait and the per-event lookups
    /// skip Swift's run-time exclusivity checks on class properties (see `LoopState`).
    private struct State {
        /// The epoll descriptor; -1 once closed. Owned: closed by `close()` or deinit.
        var epfd: Int32
        var table = RegistrationTable<Value>()
        var buffer: UnsafeMutablePointer<epoll_event>
        var capacity: Int
    }

    private let state: UnsafeMutablePointer<State>
    var table: RegistrationTable<Value> {
        @inline(__always) _read { yield state.pointee.table }
        @inline(__always) _modify { yield &state.pointee.table }
    }
    private var epfd: Int32 {
        @inline(__always) get { state.pointee.epfd }
        @inline(__always) set { state.pointee.epfd = newValue }
    }
    private static var maximumCapacity: Int { 65_536 }

    public convenience init() throws { try self.init(initialCapacity: 64) }

    /// - Parameter initialCapacity: how many events one wait can report at first; it grows as needed.
    public init(initialCapacity: Int) throws {
        let epfd = try Syscall.check(cevent_epoll_create(), "epoll_create1(EPOLL_CLOEXEC)")
        let capacity = max(initialCapacity, 1)
        state = .allocate(capacity: 1)
        state.initialize(to: State(epfd: epfd, buffer: .allocate(capacity: capacity), capacity: capacity))
    }

    deinit {
        state.pointee.buffer.deallocate()
        if epfd >= 0 { _ = cevent_close(epfd) } // nobody to report a close error to
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// The epoll descriptor itself (-1 once closed), for nesting it in another selector.
    public var descriptor: Descriptor { Descriptor(epfd) }

    public var isClosed: Bool { epfd < 0 }
    @discardableResult
    public func register(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws -> SelectorKey<Value> {
        let key = try table.newKey(for: self, fd, interest, trigger, value)
        let data = Self.userData(fd, table.upcomingGeneration)
        try control(cevent_EPOLL_CTL_ADD, "ADD", fd, Self.flags(interest, trigger), data)
        table.insert(key)
        return key
    }

    @discardableResult
    public func modify(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws -> SelectorKey<Value> {
        let (slot, key) = try table.changedKey(for: self, fd, interest, trigger, value)
        if interest != slot.key.interest || trigger != slot.key.trigger || trigger.contains(.oneShot) {
            let data = Self.userData(fd, slot.generation)
            try control(cevent_EPOLL_CTL_MOD, "MOD", fd, Self.flags(interest, trigger), data)
        }
        table.update(key)
        return key
    }

    @discardableResult
    public func unregister(_ fd: Descriptor) throws -> SelectorKey<Value> {
        if isClosed { throw SelectorError.closed }
        guard let slot = table[fd.rawValue] else { throw SelectorError.notRegistered(fd) }
        let result = cevent_epoll_ctl(epfd, cevent_EPOLL_CTL_DEL, fd.rawValue, 0, 0)
        // EBADF: the number was closed, and ENOENT: it was closed and reused;
        // either way the kernel has already dropped the registration.
        if result < 0 && result != -ErrnoCode.badFileDescriptor.rawValue && result != -ErrnoCode.noSuchEntry.rawValue {
            throw SelectorError.system(SystemError(ErrnoCode(rawValue: -result), operation: "epoll_ctl(DEL, \(fd))"))
        }
        table.remove(fd.rawValue)
        return slot.key
    }

    @discardableResult
    public func select(timeout: Duration?, into events: inout [SelectorEvent<Value>]) throws -> Int {
        events.removeAll(keepingCapacity: true)
        return try selectEach(timeout: timeout) { key, got in
            events.append(SelectorEvent(key: key, events: got))
            return true
        }
    }

    /// Waits as `select(timeout:into:)` does, then calls `body` for each ready
    /// registration straight from the kernel's buffer: no array of results.
    /// Each event is checked against the registration as it stands when its
    /// turn comes, so `body` may register, modify and unregister freely (a
    /// descriptor it unregisters is not reported afterwards). `body` returns
    /// false to stop early. Must not call `select` itself.
    /// - Returns: the number of events passed to `body`.
    @inline(__always) @discardableResult
    func selectEach(timeout: Duration?, _ body: (SelectorKey<Value>, ReadyEvents) throws -> Bool) throws -> Int {
        if isClosed { throw SelectorError.closed }
        let (epfd, buffer, capacity) = (state.pointee.epfd, state.pointee.buffer, state.pointee.capacity)
        let ready: Int32
        do {
            ready = try Syscall.waiting(timeout: timeout, "epoll_pwait2(\(Descriptor(epfd)))") {
                cevent_epoll_pwait2(epfd, buffer, Int32(capacity), $0)
            }
        } catch { throw SelectorError.system(error) }
        var flags: UInt32 = 0
        var data: UInt64 = 0
        var reported = 0
        for i in 0..<ready {
            cevent_epoll_event_get(buffer, i, &flags, &data)
            let fd = Int32(truncatingIfNeeded: data)
            guard let slot = table[fd], slot.generation == UInt32(truncatingIfNeeded: data >> 32) else { continue }
            let got = Self.readyEvents(flags, slot.key.interest)
            if got.isEmpty { continue }
            reported += 1
            if try !body(slot.key, got) { break }
        }
        if Int(ready) == capacity && capacity < Self.maximumCapacity { grow() }
        return reported
    }

    public func close() throws {
        guard epfd >= 0 else { return }
        let fd = epfd
        epfd = -1
        table.removeAll()
        _ = try Syscall.check(cevent_close(fd), "close(epoll \(Descriptor(fd)))")
    }

    // MARK: - Internals

    private func grow() {
        state.pointee.buffer.deallocate()
        state.pointee.capacity *= 2
        state.pointee.buffer = .allocate(capacity: state.pointee.capacity)
    }

    private func control(_ op: Int32, _ name: String, _ fd: Descriptor, _ flags: UInt32, _ data: UInt64) throws {
        let result = cevent_epoll_ctl(epfd, op, fd.rawValue, flags, data)
        if result == 0 { return }
        if result == -ErrnoCode.notPermitted.rawValue { throw SelectorError.notPollable(fd) }
        if result == -ErrnoCode.fileExists.rawValue { throw SelectorError.alreadyRegistered(fd) }
        throw SelectorError.system(SystemError(ErrnoCode(rawValue: -result), operation: "epoll_ctl(\(name), \(fd))"))
    }

    @inline(__always)
    private static func userData(_ fd: Descriptor, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd.rawValue))
    }

    @inline(__always)
    private static func flags(_ interest: Interest, _ trigger: Trigger) -> UInt32 {
        var flags: UInt32 = 0
        if interest.contains(.readable) { flags |= cevent_EPOLLIN | cevent_EPOLLRDHUP }
        if interest.contains(.writable) { flags |= cevent_EPOLLOUT }
        if trigger.contains(.edge) { flags |= cevent_EPOLLET }
        if trigger.contains(.oneShot) { flags |= cevent_EPOLLONESHOT }
        return flags
    }

    @inline(__always)
    private static func readyEvents(_ flags: UInt32, _ interest: Interest) -> ReadyEvents {
        var got: ReadyEvents = []
        if flags & cevent_EPOLLIN != 0 { got.insert(.readable) }
        if flags & cevent_EPOLLOUT != 0 { got.insert(.writable) }
        if flags & cevent_EPOLLRDHUP != 0 { got.insert([.readHangUp, .readable]) }
        if flags & cevent_EPOLLHUP != 0 { got.insert([.hangUp, .readable, .writable]) }
        if flags & cevent_EPOLLERR != 0 { got.insert([.error, .readable, .writable]) }
        return got.subtracting(ReadyEvents(rawValue: Interest.all.rawValue & ~interest.rawValue))
    }
}

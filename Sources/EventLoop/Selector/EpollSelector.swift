/// The epoll backend: O(ready) waits, level, edge and one-shot triggering.
///
/// Traps it defends against:
/// - epoll registers the open file, not the number. A number closed while
///   registered vanishes from the kernel's set by itself when no `dup` keeps
///   the file open, so `unregister` accepts `EBADF`/`ENOENT` from the kernel.
/// - When a duplicate does keep the file open, the kernel goes on reporting it
///   under a number that can no longer be removed (`EBADF`), or that now names
///   another file (`ENOENT`). Such an unregister marks the kernel set suspect;
///   the first event that then arrives for a registration this selector no
///   longer holds rebuilds the set in a fresh epoll instance (as libev does),
///   and the wait goes on with the time left: it never spins, and never ends
///   early with nothing to report. A rebuild re-arms one-shot registrations.
/// - A number can be closed and reused between a wait and the dispatch of its
///   events. Each registration's user data carries a generation beside the
///   number, and an event whose generation is not the current one is dropped.
/// - Regular files and directories are always ready; epoll refuses them with
///   `EPERM`, reported as `SelectorError.notPollable`.
/// - One wait reports at most as many events as its buffer holds. So that a
///   `select` reports every ready registration at once (CPython's selector
///   sizes its wait by its map for the same reason: a fixed size silently cut
///   large batches short), `select` first grows the buffer to one entry per
///   registration, up to 65,536 (beyond that, the rest are reported by the
///   following waits). The loop's own waits start smaller and double the
///   buffer whenever a wait fills it.
///
/// The corresponding C calls are `epoll_create1(2)`, `epoll_ctl(2)` and
/// `epoll_pwait2(2)` (falling back to `epoll_pwait` on older kernels), all
/// through the System layer's `Epoll`.
public final class EpollSelector<Value>: TableBackedSelector {
    /// `"epoll"`.
    public static var backendName: String { "epoll" }
    /// Edge and one-shot, beside level.
    public static var supportedTriggers: Trigger { [.edge, .oneShot] }

    /// The mutable state, behind a pointer so the wait and the per-event lookups
    /// skip Swift's run-time exclusivity checks on class properties (see `LoopState`).
    private struct State: ~Copyable {
        /// The epoll instance; nil once closed.
        var epoll: Epoll?
        var table = RegistrationTable<Value>()
        var buffer: EpollEventBuffer
        /// An unregister could not remove a number from the kernel's set.
        var suspectOrphans = false
    }

    private let state: UnsafeMutablePointer<State>
    var table: RegistrationTable<Value> {
        @inline(__always) _read { yield state.pointee.table }
        @inline(__always) _modify { yield &state.pointee.table }
    }
    private static var maximumCapacity: Int { 65_536 }

    /// A selector whose waits report up to 64 events at first.
    /// - Throws: `SelectorError.system` (`EMFILE`…).
    public convenience init() throws(SelectorError) { try self.init(initialCapacity: 64) }

    /// - Parameter initialCapacity: how many events one wait can report at
    ///   first (1...65,536). `select` grows it to the number of registrations,
    ///   and a full wait doubles it, up to 65,536 (see the type's notes).
    /// - Throws: `SelectorError.invalidArgument` out of range, `.system` (`EMFILE`…).
    public init(initialCapacity: Int) throws(SelectorError) {
        guard (1...Self.maximumCapacity).contains(initialCapacity) else {
            throw .invalidArgument(ArgumentError("EpollSelector(initialCapacity:)", argument: "initialCapacity \(initialCapacity)",
                                                 requirement: "must be within 1...\(Self.maximumCapacity)"))
        }
        let buffer = try! EpollEventBuffer(capacity: initialCapacity) // in range
        let epoll: Epoll
        do { epoll = try Epoll() } catch { throw .system(error) }
        state = .allocate(capacity: 1)
        state.initialize(to: State(epoll: epoll, buffer: buffer))
    }

    deinit {
        let slots = state.pointee.table.removeAll()
        state.deinitialize(count: 1) // closes the epoll instance if still open; nobody to report to
        state.deallocate()
        _ = slots // user values released last
    }

    /// The epoll descriptor itself (-1 once closed), for nesting it in another selector.
    public var descriptor: Descriptor { state.pointee.epoll?.descriptor ?? Descriptor(-1) }

    /// Whether `close()` has been called.
    public var isClosed: Bool { state.pointee.epoll == nil }

    /// Starts watching `fd` (see `EventSelector.register`). The C call is `epoll_ctl(ADD)`.
    @discardableResult
    public func register(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        try table.checkNew(for: self, fd, interest, trigger)
        let data = Self.userData(fd, table.upcomingGeneration)
        try control(fd) { (epoll) throws(SystemError) in try epoll.add(fd, events: Self.flags(interest, trigger), data: data) }
        table.insert(fd.rawValue, interest, trigger, value)
        return SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value)
    }

    /// Changes a registration (see `EventSelector.modify`). The C call is `epoll_ctl(MOD)`.
    @discardableResult
    public func modify(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        let current = try table.checkChange(for: self, fd, interest, trigger)
        if interest != current.interest || trigger != current.trigger || trigger.contains(.oneShot) {
            let data = Self.userData(fd, current.generation)
            try control(fd) { (epoll) throws(SystemError) in try epoll.modify(fd, events: Self.flags(interest, trigger), data: data) }
        }
        let old = table.update(fd.rawValue, interest, trigger, value)
        _ = old // the previous value is released here, with the table whole
        return SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value)
    }

    /// Re-arms `fd` as it is (`epoll_ctl(MOD)` with the same events): for an
    /// edge-triggered registration the kernel then re-checks readiness and
    /// reports it again if it holds, so a caller that was told "would block"
    /// by something other than the kernel cannot miss an edge. Internal.
    func rearm(_ fd: Descriptor) throws(SelectorError) {
        guard let slot = table[fd.rawValue] else { throw .notRegistered(fd) }
        let data = Self.userData(fd, slot.generation)
        let flags = Self.flags(slot.interest, slot.trigger)
        try control(fd) { (epoll) throws(SystemError) in try epoll.modify(fd, events: flags, data: data) }
    }

    /// Stops watching `fd` (see `EventSelector.unregister`). The C call is `epoll_ctl(DEL)`.
    @discardableResult
    public func unregister(_ fd: Descriptor) throws(SelectorError) -> SelectorKey<Value> {
        if isClosed { throw .closed }
        guard table[fd.rawValue] != nil else { throw .notRegistered(fd) }
        do {
            try state.pointee.epoll?.remove(fd)
        } catch let error where error.errno == .badFileDescriptor || error.errno == .noSuchEntry {
            // EBADF: the number was closed; ENOENT: closed and reused. If a
            // duplicate keeps the old file open, the kernel still reports it:
            // remember, so the first such event rebuilds the set.
            state.pointee.suspectOrphans = true
        } catch {
            throw .system(error)
        }
        return table.remove(fd.rawValue)!.key(fd.rawValue)
    }

    /// Waits and fills `events` (see `EventSelector.select(timeout:into:)`):
    /// every ready registration, up to 65,536, in one call. Allocates only when
    /// the registrations outgrow the events buffer or `events`.
    @discardableResult
    public func select(timeout: Duration?, into events: inout [SelectorEvent<Value>]) throws(SelectorError) -> Int {
        // Room for every registration (and one more, so a wait that reports
        // them all is not taken for a full buffer): no ready one is left out.
        let wanted = min(table.count + 1, Self.maximumCapacity)
        if wanted > state.pointee.buffer.capacity {
            state.pointee.buffer = try! EpollEventBuffer(capacity: wanted) // within 1...65,536
        }
        return try collect(timeout: timeout, into: &events)
    }

    /// Waits as `select(timeout:into:)` does, then calls `body` for each ready
    /// registration straight from the kernel's buffer: no array of results,
    /// and no key made (`body` gets the descriptor and its table slot).
    /// Each event is checked against the registration as it stands when its
    /// turn comes, so `body` may register, modify and unregister freely (a
    /// descriptor it unregisters is not reported afterwards). `body` returns
    /// false to stop early. Must not call `select` itself.
    ///
    /// Per event: one read of the kernel's entry, one bounds check and one
    /// generation compare, and one copy of the slot for `body`, which retains
    /// the value (a callback that unregisters itself must not free what it is
    /// running).
    /// - Returns: the number of events passed to `body`.
    @inline(__always) @discardableResult
    func selectEach(
        timeout: Duration?, _ body: (Int32, RegistrationTable<Value>.Slot, ReadyEvents) -> Bool
    ) throws(SelectorError) -> Int {
        // The clock is read only for a finite wait, which an unusual batch may resume.
        let deadline = timeout.flatMap { $0 > .zero ? MonotonicInstant.now() + $0 : nil }
        var wait = timeout
        while true {
            let ready = try waitForEvents(timeout: wait)
            var reported = 0
            var stale = false
            for index in 0..<ready {
                let (flags, data) = state.pointee.buffer[index]
                let fd = Int32(truncatingIfNeeded: data)
                guard let slot = table.slot(fd, ifGeneration: UInt32(truncatingIfNeeded: data >> 32)) else {
                    stale = true
                    continue
                }
                let got = Self.readyEvents(flags, slot.interest)
                if got.isEmpty { continue }
                reported &+= 1
                if !body(fd, slot, got) { break }
            }
            if _fastPath(!stale && (reported > 0 || ready == 0) && ready < state.pointee.buffer.capacity) { return reported }
            guard let resume = try afterUnusualBatch(ready: ready, reported: reported, stale: stale, timeout: timeout, deadline: deadline) else {
                return reported
            }
            wait = resume
        }
    }

    /// One wait into the events buffer.
    @inline(never)
    private func waitForEvents(timeout: Duration?) throws(SelectorError) -> Int {
        switch state.pointee.epoll {
        case .some(let epoll):
            do { return try epoll.wait(into: state.pointee.buffer, timeout: timeout) } catch { throw .system(error) }
        case .none: throw .closed
        }
    }

    /// The rare ends of a batch: a full buffer grows; a stale event while a
    /// closed number may haunt the kernel set rebuilds it; a batch of nothing
    /// but stale events waits again for the time that is left.
    /// - Returns: the timeout to wait again with, or nil to return.
    @inline(never)
    private func afterUnusualBatch(
        ready: Int, reported: Int, stale: Bool, timeout: Duration?, deadline: MonotonicInstant?
    ) throws(SelectorError) -> Duration?? {
        if ready == state.pointee.buffer.capacity && ready < Self.maximumCapacity {
            state.pointee.buffer = try! EpollEventBuffer(capacity: ready * 2) // within 1...65,536
        }
        if stale && state.pointee.suspectOrphans && !isClosed { try rebuild() }
        guard reported == 0 && ready > 0 && !isClosed else { return nil }
        if timeout == nil { return .some(nil) } // no limit: wait again without one
        guard let deadline else { return nil }  // a poll: report the nothing it found
        let left = deadline - MonotonicInstant.now()
        return left > .zero ? .some(left) : nil
    }

    /// Closes the epoll instance and forgets every registration (see `EventSelector.close`).
    public func close() throws(SelectorError) {
        guard let epoll = state.pointee.epoll.take() else { return }
        let slots = table.removeAll()
        defer { _ = slots } // user values released once the selector is consistent
        do { try epoll.close() } catch { throw .system(error) }
    }

    // MARK: - Internals

    private func control(_ fd: Descriptor, _ call: (borrowing Epoll) throws(SystemError) -> Void) throws(SelectorError) {
        var failure: SystemError?
        switch state.pointee.epoll {
        case .some(let epoll): do { try call(epoll) } catch { failure = error }
        case .none: throw .closed
        }
        if let error = failure {
            switch error.errno {
            case .notPermitted: throw .notPollable(fd)
            case .fileExists: throw .alreadyRegistered(fd)
            case .badFileDescriptor: throw .invalidDescriptor(fd)
            default: throw .system(error)
            }
        }
    }

    /// Moves every registration into a fresh epoll instance, leaving behind
    /// whatever the old one still reported for numbers that were closed.
    private func rebuild() throws(SelectorError) {
        let fresh: Epoll
        do { fresh = try Epoll() } catch { throw .system(error) }
        for (fd, slot) in table.registered {
            // A registration whose number was closed behind our back cannot be
            // re-added (EBADF); it stays in the table until unregistered.
            let descriptor = Descriptor(fd)
            try? fresh.add(descriptor, events: Self.flags(slot.interest, slot.trigger), data: Self.userData(descriptor, slot.generation))
        }
        state.pointee.epoll = .some(consume fresh) // the old instance closes as it is replaced
        state.pointee.suspectOrphans = false
    }

    @inline(__always)
    private static func userData(_ fd: Descriptor, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd.rawValue))
    }

    @inline(__always)
    private static func flags(_ interest: Interest, _ trigger: Trigger) -> EpollEvents {
        var flags: EpollEvents = []
        if interest.contains(.readable) { flags.formUnion([.input, .readHangUp]) }
        if interest.contains(.writable) { flags.insert(.output) }
        if trigger.contains(.edge) { flags.insert(.edgeTriggered) }
        if trigger.contains(.oneShot) { flags.insert(.oneShot) }
        return flags
    }

    @inline(__always)
    private static func readyEvents(_ flags: EpollEvents, _ interest: Interest) -> ReadyEvents {
        // The common case first: readable and nothing else.
        if flags == .input { return interest.contains(.readable) ? .readable : [] }
        var got: ReadyEvents = []
        if flags.contains(.input) { got.insert(.readable) }
        if flags.contains(.output) { got.insert(.writable) }
        if flags.contains(.readHangUp) { got.insert([.readHangUp, .readable]) }
        if flags.contains(.hangUp) { got.insert([.hangUp, .readable, .writable]) }
        if flags.contains(.error) { got.insert([.error, .readable, .writable]) }
        return got.subtracting(ReadyEvents(rawValue: Interest.all.rawValue & ~interest.rawValue))
    }
}

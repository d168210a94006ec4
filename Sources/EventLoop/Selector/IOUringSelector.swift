/// The io_uring backend: readiness through poll requests on a ring, level,
/// edge and one-shot triggering, many changes in one `io_uring_enter(2)`.
///
/// Each registration is one poll request in the kernel (`IORING_OP_POLL_ADD`),
/// its user data the descriptor and the registration's generation:
/// - level-triggered: a single-shot poll, queued again after each report (a
///   poll armed on a ready descriptor completes at once, as `poll(2)` would
///   report it again);
/// - edge-triggered: a multishot poll (`IORING_POLL_ADD_MULTI`), which posts
///   a completion at each wake-up of the file, as `EPOLLET` reports each one;
/// - one-shot: a single-shot poll that `modify` queues again.
///
/// Registering and re-arming after a report only fill submissions; they reach
/// the kernel with the next wait, so a loop's registrations and its wait cost
/// one system call together. `unregister` and `modify` end the request in
/// flight synchronously (`IORING_REGISTER_SYNC_CANCEL`, then an
/// `io_uring_enter` that runs the ring's completion work, which frees it:
/// two system calls where `epoll_ctl` is one): a poll request holds a
/// reference to its file, so a socket unregistered and then closed is
/// released at once, its port free.
/// `register` checks the number is open (`fcntl(F_GETFD)`) before anything is
/// queued; a regular file is always ready, as with `poll(2)`.
///
/// Traps it defends against:
/// - A completion can arrive for a registration that is gone, or for the
///   request a `modify` replaced: its user data carries the registration's
///   generation and an arming epoch that each cancel moves on, and a
///   completion that matches neither is dropped.
/// - A number closed while registered completes its next poll with
///   `EBADF`; it is reported once as `.error` and not re-armed.
/// - More completions than the ring holds stay in the kernel
///   (`IORING_FEAT_NODROP`) and are read by the following waits.
///
/// Needs Linux 6.0 or later; `LoopBackend.ioUring.unavailableReason` says
/// whether this machine has it. The corresponding C calls are
/// `io_uring_setup(2)` and `io_uring_enter(2)`, through the System layer.
public final class IOUringSelector<Value>: TableBackedSelector {
    /// `"io_uring"`.
    public static var backendName: String { "io_uring" }
    /// Edge (multishot poll) and one-shot, beside level.
    public static var supportedTriggers: Trigger { [.edge, .oneShot] }

    // One thread at a time uses a selector (it is not Sendable), so the
    // run-time exclusivity checks of these class properties, on the path of
    // every completion, are left out (callgrind: about 500 instructions per
    // echoed message), as `SocketCore` does for its waiting lists.
    @exclusivity(unchecked) var ring: IOUring?
    @exclusivity(unchecked) private(set) var table = RegistrationTable<Value>()
    /// Poll requests in flight per descriptor, for its current arming.
    @exclusivity(unchecked) private var inFlight: [UInt16] = []
    /// Each descriptor's arming epoch, moved on by every cancel, so that a
    /// completion of a request cancelled by `modify` is told from the new one's.
    @exclusivity(unchecked) private var epochs: [UInt8] = []
    /// Registrations to queue again before the next wait (level-triggered ones
    /// reported by the last wait, and multishot polls the kernel ended).
    @exclusivity(unchecked) private var rearms: [(fd: Int32, generation: UInt32)] = []
    /// The receives by completion, by descriptor (see `IOUringSelector+Receiving`).
    @exclusivity(unchecked) var receivers: [Receiver?] = []
    /// Receives to queue again before the next wait (the kernel ended them:
    /// no free buffer, or for its own reasons).
    @exclusivity(unchecked) var receiveRearms: [(fd: Int32, generation: UInt32)] = []
    /// The sockets that send by completion, by descriptor (see `IOUringSelector+Sending`).
    @exclusivity(unchecked) var senders: [Sender?] = []
    /// The bytes of sends whose cancel the kernel refused: it may still read
    /// them, so they are kept until the ring has ended every request.
    @exclusivity(unchecked) var orphanedSends: [[UInt8]] = []
    /// Completions of the current batch already taken by `dispatch`: a
    /// callback that closes the selector mid-batch leaves them out of what
    /// the ring's close drains.
    @exclusivity(unchecked) private var consumedInBatch: UInt32 = 0
    /// The listeners that accept by completion, by descriptor (see `IOUringSelector+Accepting`).
    @exclusivity(unchecked) var acceptors: [Acceptor?] = []
    /// Accepts to queue again before the next wait (the kernel ended them).
    @exclusivity(unchecked) var acceptRearms: [(fd: Int32, generation: UInt32)] = []

    /// Whether `close()` has been called.
    public var isClosed: Bool { ring == nil }

    /// A selector on a new ring.
    /// - Throws: `SelectorError.unavailable` when this kernel has no io_uring
    ///   for this process (`ENOSYS`, `EPERM` under a seccomp profile or
    ///   `kernel.io_uring_disabled`, a kernel older than 6.0), `.system`
    ///   for other failures (`EMFILE`, `ENOMEM`…).
    public init() throws(SelectorError) {
        do { ring = try IOUring() } catch { throw Self.setupFailure(error) }
    }

    /// The `SelectorError` a failed ring setup stands for.
    static func setupFailure(_ error: SystemError) -> SelectorError {
        switch error.errno {
        case .notImplemented, .notPermitted, .operationNotSupported, .invalidArgument:
            return .unavailable(backend: backendName, reason: Self.explain(error))
        default:
            return .system(error)
        }
    }

    private static func explain(_ error: SystemError) -> String {
        switch error.errno {
        case .notImplemented: "this kernel has no io_uring (io_uring_setup: ENOSYS)"
        case .notPermitted: "io_uring_setup was refused (EPERM): a seccomp profile (a container's default) or the sysctl kernel.io_uring_disabled forbids it"
        default: error.description
        }
    }

    /// The ring's descriptor (-1 once closed).
    public var descriptor: Descriptor { ring?.descriptor ?? Descriptor(-1) }

    /// Starts watching `fd` (see `EventSelector.register`): queues its poll request.
    @discardableResult
    public func register(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        try table.checkNew(for: self, fd, interest, trigger)
        try PollSelector<Value>.requireOpen(fd)
        let generation = table.upcomingGeneration
        let slot = Int(fd.rawValue)
        if slot >= inFlight.count {
            inFlight += Array(repeating: 0, count: slot + 1 - inFlight.count)
            epochs += Array(repeating: 0, count: slot + 1 - epochs.count)
        }
        try arm(fd.rawValue, generation, interest, trigger)
        table.insert(fd.rawValue, interest, trigger, value)
        return SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value)
    }

    /// Changes a registration (see `EventSelector.modify`): the poll in flight
    /// is cancelled (synchronously) and a new one queued; a one-shot one is
    /// re-armed even when nothing changes.
    @discardableResult
    public func modify(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        let current = try table.checkChange(for: self, fd, interest, trigger)
        if interest != current.interest || trigger != current.trigger || trigger.contains(.oneShot) {
            try replacePoll(fd.rawValue, current.generation, interest, trigger)
        }
        let old = table.update(fd.rawValue, interest, trigger, value)
        _ = old // released with the table whole
        return SelectorKey(descriptor: fd, interest: interest, trigger: trigger, value: value)
    }

    /// Re-arms `fd` as it is, so the kernel checks its readiness afresh (see
    /// `EpollSelector.rearm`). Internal.
    func rearm(_ fd: Descriptor) throws(SelectorError) {
        guard let slot = table[fd.rawValue] else { throw .notRegistered(fd) }
        try replacePoll(fd.rawValue, slot.generation, slot.interest, slot.trigger)
    }

    /// Stops watching `fd` (see `EventSelector.unregister`): its poll requests
    /// have ended when it returns, so closing `fd` then releases the file.
    /// The registration is forgotten even when the kernel refuses to end
    /// its requests (the error is thrown after): their completions are
    /// dropped, and no callback outlives its registration.
    @discardableResult
    public func unregister(_ fd: Descriptor) throws(SelectorError) -> SelectorKey<Value> {
        if isClosed { throw .closed }
        guard let slot = table[fd.rawValue] else { throw .notRegistered(fd) }
        var failure: SelectorError?
        do { try stopReceiving(fd.rawValue) } catch { failure = error }
        do { try stopSending(fd.rawValue) } catch { failure = failure ?? error }
        do { try stopAccepting(fd.rawValue) } catch { failure = failure ?? error }
        do { try cancel(fd.rawValue, slot.generation) } catch { failure = failure ?? error }
        let key = table.remove(fd.rawValue)!.key(fd.rawValue)
        if let failure { throw failure }
        return key
    }

    /// Waits and fills `events` (see `EventSelector.select(timeout:into:)`).
    @discardableResult
    public func select(timeout: Duration?, into events: inout [SelectorEvent<Value>]) throws(SelectorError) -> Int {
        try collect(timeout: timeout, into: &events)
    }

    /// Queues the re-arms, submits and waits in one `io_uring_enter(2)`, then
    /// calls `body` for each completion of a current registration, checked
    /// when its turn comes (see `EpollSelector.selectEach`). Completions left
    /// when `body` returns false stay for the next wait.
    @discardableResult
    func selectEach(
        timeout: Duration?, _ body: (Int32, RegistrationTable<Value>.Slot, ReadyEvents) -> Bool
    ) throws(SelectorError) -> Int {
        guard let ring else { throw .closed }
        let total: Int64 = timeout.map { max($0.nanosecondsRoundedUp, 0) } ?? -1
        let start = total > 0 ? MonotonicInstant.now().nanoseconds : 0
        var remaining = total
        while true {
            try queueRearms()
            let waited: Bool
            do { waited = try ring.wait(timeoutNanoseconds: remaining) } catch { throw .system(error) }
            let (reported, stopped) = dispatch(ring, body)
            if reported > 0 || stopped || isClosed { return reported }
            // Nothing to report: a timeout, a poll, or only completions to drop.
            if !waited || total == 0 { return 0 }
            if total > 0 {
                remaining = total - (MonotonicInstant.now().nanoseconds - start)
                if remaining <= 0 { return 0 }
            }
        }
    }

    /// Reads the ready completions in order: counts, drops, reports.
    private func dispatch(
        _ ring: IOUring, _ body: (Int32, RegistrationTable<Value>.Slot, ReadyEvents) -> Bool
    ) -> (reported: Int, stopped: Bool) {
        var reported = 0
        var ready = ring.readyCount
        while ready > 0 {
            var index: UInt32 = 0
            while index < ready {
                let (userData, kernelResult, flags) = ring.completion(index)
                index += 1
                consumedInBatch = index
                let fd = Int32(truncatingIfNeeded: userData)
                let kind = userData & Self.kindMask
                if kind == Self.sendBit {
                    let result = Kernel.uringCompletion(fd, kernelResult, .ioUringSend)
                    // A scripted "send again" cannot unsend bytes the kernel sent.
                    let scripted = result < 0 && kernelResult > 0 && Self.resentResults.contains(result) ? kernelResult : result
                    if deliverSent(fd, userData, scripted) { reported += 1 }
                    if isClosed { return (reported, true) }
                    continue
                }
                if kind == Self.acceptKind {
                    let result = Kernel.uringCompletion(fd, kernelResult, .ioUringAccept)
                    // A scripted failure of a connection the kernel took: that connection is
                    // closed, and the request ended, as the kernel ends it with an error.
                    if result < 0 && kernelResult >= 0 { _ = Kernel.close(kernelResult) }
                    let endsRequest = result < 0 && result != kernelResult && flags & IOUringBits.more != 0
                    if deliverAccepted(fd, userData, result, flags, endsRequest: endsRequest) { reported += 1 }
                    if isClosed { return (reported, true) }
                    continue
                }
                let receive = kind == Self.receiveBit
                let result = Kernel.uringCompletion(fd, kernelResult, receive ? .ioUringReceive : .ioUringPoll)
                if receive {
                    // A scripted shortage cannot take bytes the kernel already moved.
                    let scripted = result < 0 && kernelResult > 0 && Self.transientResults.contains(result) ? kernelResult : result
                    if deliverReceived(ring, fd, userData, scripted, flags) { reported += 1 }
                    if isClosed { return (reported, true) }
                    continue
                }
                guard fd >= 0, Int(fd) < epochs.count, let slot = table[fd],
                      userData == Self.userData(fd, slot.generation, epochs[Int(fd)]) else { continue } // gone or cancelled
                if flags & IOUringBits.more == 0, inFlight[Int(fd)] > 0 { inFlight[Int(fd)] -= 1 }
                if result == -ErrnoCode.canceled.rawValue { // not by us (ours change the epoch): poll again
                    noteRearm(fd, slot)
                    continue
                }
                let got: ReadyEvents
                if result < 0 {
                    got = [.error, .readable, .writable]
                    if result != -ErrnoCode.badFileDescriptor.rawValue { noteRearm(fd, slot) }
                } else {
                    got = PollList.readyEvents(Int16(truncatingIfNeeded: result), slot.interest)
                    noteRearm(fd, slot)
                }
                if got.isEmpty { continue }
                reported += 1
                if !body(fd, slot, got) {
                    ring.advance(index)
                    consumedInBatch = 0
                    return (reported, true)
                }
                if isClosed { return (reported, true) } // body closed the selector: the ring is gone
            }
            ring.advance(ready)
            consumedInBatch = 0
            // One batch per wait: completions posted while the callbacks ran
            // (their system calls run the ring's completion work) wait for
            // the next one, which returns at once for them, so a flood of
            // them cannot keep this wait's dispatch going without end. Only
            // completions the kernel held back for want of room are read now.
            ready = 0
            if ring.readyCount == 0 && ring.overflowed { _ = try? ring.wait(timeoutNanoseconds: 0); ready = ring.readyCount }
        }
        return (reported, false)
    }

    /// Closes the ring (the kernel cancels every poll) and forgets every
    /// registration (see `EventSelector.close`).
    public func close() throws(SelectorError) {
        guard let ring = ring.take() else { return }
        // Closed by a callback mid-batch: what was dispatched is not left over.
        ring.advance(consumedInBatch)
        consumedInBatch = 0
        inFlight = []
        epochs = []
        rearms = []
        receiveRearms = []
        let receiving = receivers
        receivers = []
        defer { _ = receiving } // their closures released with the rest
        let sending = senders
        senders = []
        defer { _ = sending } // their bytes released once the ring has ended every send
        acceptors = []
        acceptRearms = []
        let slots = table.removeAll()
        defer { _ = slots } // user values released once the selector is consistent
        let orphaned = orphanedSends
        orphanedSends = []
        let ended: Bool
        do {
            // Connections accepted and not yet delivered: nobody owns them but this.
            ended = try ring.close { userData, result in
                if userData & Self.kindMask == Self.acceptKind && result >= 0 { _ = Kernel.close(result) }
            }
        } catch { throw .system(error) }
        // The kernel refused to end its requests: what its sends read must outlive them.
        if !ended { _ = Unmanaged.passRetained(KeptForever((sending.compactMap { $0?.inFlight }) + orphaned)) }
    }

    // MARK: - Internals

    /// Notes a registration to poll again before the next wait, when its
    /// trigger wants that and no request of its own is in flight.
    @inline(__always)
    private func noteRearm(_ fd: Int32, _ slot: RegistrationTable<Value>.Slot) {
        if slot.trigger.contains(.oneShot) || inFlight[Int(fd)] > 0 { return }
        rearms.append((fd, slot.generation))
    }

    private func queueRearms() throws(SelectorError) {
        if !receiveRearms.isEmpty { try queueReceiveRearms() }
        if !acceptRearms.isEmpty { try queueAcceptRearms() }
        if rearms.isEmpty { return }
        try Self.queueNoted(&rearms) { fd, generation throws(SelectorError) in
            if let slot = table.slot(fd, ifGeneration: generation), inFlight[Int(fd)] == 0 {
                try arm(fd, generation, slot.interest, slot.trigger)
            }
        }
    }

    /// Calls `arm` for each request noted in `noted` since the last wait
    /// (polls, receives, accepts to queue again), emptying it. The list is
    /// swapped out, not copied (a copy would make the next append copy it:
    /// an allocation per wait), and both arrays keep their capacity. A throw
    /// leaves the ones not queued, the failed one too, for the next wait.
    static func queueNoted(
        _ noted: inout [(fd: Int32, generation: UInt32)], _ arm: (Int32, UInt32) throws(SelectorError) -> Void
    ) throws(SelectorError) {
        var pending: [(fd: Int32, generation: UInt32)] = []
        swap(&pending, &noted)
        var index = 0
        defer {
            if index < pending.count { noted.append(contentsOf: pending[index...]) }
            pending.removeAll(keepingCapacity: true)
            if noted.isEmpty { noted = pending }
        }
        while index < pending.count {
            try arm(pending[index].fd, pending[index].generation)
            index += 1
        }
    }

    private func replacePoll(_ fd: Int32, _ generation: UInt32, _ interest: Interest, _ trigger: Trigger) throws(SelectorError) {
        try cancel(fd, generation)
        try arm(fd, generation, interest, trigger)
    }

    /// Ends the registration's requests in flight, if any, and moves its
    /// epoch on, so their completions still in the ring are dropped.
    /// The bookkeeping moves on first, so a refused cancel still leaves the
    /// old requests' completions to be dropped.
    private func cancel(_ fd: Int32, _ generation: UInt32) throws(SelectorError) {
        guard let ring else { throw .closed }
        let requests = inFlight[Int(fd)]
        let userData = Self.userData(fd, generation, epochs[Int(fd)])
        inFlight[Int(fd)] = 0
        epochs[Int(fd)] = (epochs[Int(fd)] &+ 1) & Self.epochMask
        if requests > 0 {
            do { try ring.cancel(userData) } catch { throw .system(error) }
        }
    }

    /// Queues one poll request for the registration.
    private func arm(_ fd: Int32, _ generation: UInt32, _ interest: Interest, _ trigger: Trigger) throws(SelectorError) {
        guard let ring else { throw .closed }
        let events = UInt32(UInt16(bitPattern: PollList.events(for: interest)))
        do {
            try ring.pollAdd(fd, events: events, multishot: trigger.contains(.edge) && !trigger.contains(.oneShot),
                             userData: Self.userData(fd, generation, epochs[Int(fd)]))
        } catch { throw .system(error) }
        inFlight[Int(fd)] += 1
    }

    /// A request's user data: the descriptor (bits 0-31), the arming epoch
    /// (32-38: 128 cancels of one registration before a completion left
    /// unread could pass for current), its kind (39-40: a poll, a send, a
    /// receive or an accept) and the low 23 bits of the generation (41-63).
    /// Completions of a registration gone 2^23 generations ago on the same
    /// number cannot be in the ring: `unregister` ends every request before
    /// it returns.
    @inline(__always)
    static func userData(_ fd: Int32, _ generation: UInt32, _ epoch: UInt8, kind: UInt64 = 0) -> UInt64 {
        generationBits(generation) << generationShift | kind | UInt64(epoch & epochMask) << 32
            | UInt64(UInt32(bitPattern: fd))
    }

    /// The part of a generation that user data carries.
    @inline(__always)
    static func generationBits(_ generation: UInt32) -> UInt64 { UInt64(generation & 0x7F_FFFF) }
    static var generationShift: UInt64 { 41 }
    static var sendBit: UInt64 { 1 << 39 }
    static var receiveBit: UInt64 { 1 << 40 }
    static var acceptKind: UInt64 { sendBit | receiveBit }
    static var kindMask: UInt64 { sendBit | receiveBit }
    static var epochMask: UInt8 { 0x7F }
}

/// Bytes kept alive for good (see `IOUringSelector.close`).
private final class KeptForever {
    let bytes: [[UInt8]]
    init(_ bytes: [[UInt8]]) { self.bytes = bytes }
}

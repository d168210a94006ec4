/// One descriptor's watcher: the value the loop stores in its selector's
/// registration, so the selector's table is the loop's one registry (one
/// lookup and one generation check per event). Loop thread only.
struct Watcher {
    let callback: (ReadyEvents) throws -> Void
    /// The loop's own (wake-up, signals): not counted for the user, not cancellable by them.
    let isInternal: Bool
}

extension IOLoop {
    /// Calls `callback` on the loop thread whenever `descriptor` is ready for `interest`.
    ///
    /// Level-triggered by default (called again while still ready); edge and
    /// one-shot where the backend has them (epoll). The events passed in are
    /// masked to the current interest, plus hang-up and error, which always come.
    /// One watcher per descriptor: to change it use `IOWatcher.setInterest`.
    ///
    /// Cancel the watcher before you close its descriptor. If you close it from
    /// a callback and the number is reused and watched again in the same
    /// iteration, the old descriptor's events are never delivered to the new
    /// watcher. Closing first is survivable too: the loop neither spins nor
    /// ends a wait early for a file a `dup` keeps open (see `EpollSelector`).
    ///
    /// - Throws: `LoopError.alreadyWatched`, `.closed`, or the `SelectorError`
    ///   the selector gave (the loop is unchanged then).
    @discardableResult
    public func watch(
        _ descriptor: Descriptor, interest: Interest = .readable, trigger: Trigger = .level,
        _ callback: @escaping (ReadyEvents) throws -> Void
    ) throws -> IOWatcher {
        try refuseIfClosed()
        let generation = try addWatcher(descriptor, interest: interest, trigger: trigger, isInternal: false, callback)
        return IOWatcher(descriptor: descriptor, generation: generation, token: token)
    }

    /// Registers a watcher; returns its generation.
    @discardableResult
    func addWatcher(
        _ fd: Descriptor, interest: Interest, trigger: Trigger, isInternal: Bool,
        _ callback: @escaping (ReadyEvents) throws -> Void
    ) throws -> UInt32 {
        do {
            let generation = try selector.register(
                fd, interest: interest, trigger: trigger, watcher: Watcher(callback: callback, isInternal: isInternal))
            if isInternal { internalWatcherCount += 1 }
            return generation
        } catch .alreadyRegistered(let fd) {
            throw LoopError.alreadyWatched(fd)
        }
    }

    /// Whether the watcher `generation` of `fd` is still installed.
    @inline(__always)
    func isCurrent(_ fd: Descriptor, _ generation: UInt32) -> Bool {
        !isClosed && selector.generation(fd) == generation
    }

    func changeWatcher(_ fd: Descriptor, _ generation: UInt32, interest: Interest, trigger: Trigger?) throws {
        try refuseIfClosed()
        guard let slot = selector.slot(fd), slot.generation == generation else { throw LoopError.notWatched(fd) }
        // The selector keeps the old registration when it refuses the new one.
        try selector.modify(fd, interest: interest, trigger: trigger ?? slot.trigger, watcher: slot.value)
    }

    /// Whether the streams' sockets receive by completion on this loop (io_uring).
    var receivesByCompletion: Bool { selector.receivesByCompletion }

    /// Starts the receive by completion of the watched socket `fd` (watcher
    /// `generation`); `deliver` gets each completion on the loop thread (see
    /// `IOUringSelector.startReceiving`).
    func startReceiving(_ fd: Descriptor, _ generation: UInt32, _ deliver: @escaping (UnsafeRawBufferPointer, Int32, Bool) -> Void) throws {
        guard isCurrent(fd, generation) else { throw LoopError.notWatched(fd) }
        try selector.startReceiving(fd, deliver)
    }

    /// Lets the watched socket `fd` (watcher `generation`) send by
    /// completion; `deliver` gets each send's result on the loop thread (see
    /// `IOUringSelector.startSending`).
    func startSending(_ fd: Descriptor, _ generation: UInt32, _ deliver: @escaping (Int32) -> Void) throws {
        guard isCurrent(fd, generation) else { throw LoopError.notWatched(fd) }
        try selector.startSending(fd, deliver)
    }

    /// Queues a send of `bytes[offset...]` on the watched socket `fd`
    /// (watcher `generation`), which sends by completion.
    func send(_ fd: Descriptor, _ generation: UInt32, _ bytes: [UInt8], from offset: Int) throws {
        guard isCurrent(fd, generation) else { throw LoopError.notWatched(fd) }
        try selector.send(fd, bytes, from: offset)
    }

    /// Starts the accept by completion of the watched listener `fd` (watcher
    /// `generation`); `deliver` gets each completion on the loop thread (see
    /// `IOUringSelector.startAccepting`).
    func startAccepting(_ fd: Descriptor, _ generation: UInt32, _ deliver: @escaping (Int32) -> Void) throws {
        guard isCurrent(fd, generation) else { throw LoopError.notWatched(fd) }
        try selector.startAccepting(fd, deliver)
    }

    /// Pauses or resumes the accept of `fd` (watcher `generation`).
    func setAccepting(_ fd: Descriptor, _ generation: UInt32, paused: Bool) throws {
        guard isCurrent(fd, generation) else { throw LoopError.notWatched(fd) }
        try selector.setAccepting(fd, paused: paused)
    }

    /// Pauses or resumes the receive of `fd` (watcher `generation`).
    func setReceiving(_ fd: Descriptor, _ generation: UInt32, paused: Bool) throws {
        guard isCurrent(fd, generation) else { throw LoopError.notWatched(fd) }
        try selector.setReceiving(fd, paused: paused)
    }

    /// Re-arms an edge-triggered watcher so the kernel reports it again if it
    /// is ready now (see `EpollSelector.rearm`). For the streams' sockets.
    func rearmWatcher(_ fd: Descriptor, _ generation: UInt32) throws {
        guard isCurrent(fd, generation) else { throw LoopError.notWatched(fd) }
        try selector.rearm(fd)
    }

    /// Removes the watcher `generation` of `fd`, if still installed. Its closure
    /// is released last, once the registry is whole again: releasing it may run
    /// user code (a captured object's deinit) that calls back into the loop.
    func removeWatcher(_ fd: Descriptor, _ generation: UInt32) {
        guard isCurrent(fd, generation) else { return }
        do {
            let removed = try selector.unregister(fd)
            if removed.value.isInternal { internalWatcherCount -= 1 }
            _ = removed
        } catch {
            // Only .closed or .notRegistered, both ruled out above by isCurrent.
            report(error)
        }
    }

    /// Runs a watcher's callback for one event of the last wait. The selector
    /// has already checked that the registration is the one the event was for
    /// (cancelled or replaced ones are skipped). Returns false once the loop has closed.
    @inline(__always)
    func dispatch(_ slot: LoopSelector.Slot, _ ready: ReadyEvents) -> Bool {
        invoke { try slot.value.callback(ready) }
        return !closed
    }
}

/// A watcher's handle: change its interest or cancel it. Loop thread only.
///
/// It does not keep the loop alive, and acting on it after the loop closed
/// or after `cancel()` is harmless (`setInterest` then throws `.notWatched`/`.closed`).
public struct IOWatcher {
    /// The watched descriptor.
    public let descriptor: Descriptor
    let generation: UInt32
    let token: LoopToken
    var loop: IOLoop? { token.loop }

    /// Whether the watcher is still installed.
    public var isActive: Bool { loop?.isCurrent(descriptor, generation) ?? false }

    /// The current interest, or nil once cancelled.
    public var interest: Interest? {
        guard let loop, loop.isCurrent(descriptor, generation) else { return nil }
        return loop.selector.slot(descriptor)?.interest
    }

    /// Changes what the watcher waits for (and, optionally, its trigger). A
    /// one-shot watcher is re-armed by this even when nothing changes. On
    /// failure the previous interest stays.
    /// - Throws: `LoopError.notWatched` after `cancel`, `.closed`, or a `SelectorError`.
    public func setInterest(_ interest: Interest, trigger: Trigger? = nil) throws {
        guard let loop else { throw LoopError.closed }
        try loop.changeWatcher(descriptor, generation, interest: interest, trigger: trigger)
    }

    /// Stops watching, at once: an event already collected for it in this
    /// iteration is not delivered. Idempotent; also from its own callback.
    public func cancel() {
        loop?.checkThread()
        loop?.removeWatcher(descriptor, generation)
    }
}

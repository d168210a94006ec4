/// One descriptor's watcher. Loop thread only.
struct WatcherSlot {
    var callback: (ReadyEvents) throws -> Void
    var interest: Interest
    var trigger: Trigger
    /// Matches the selector's user value; an event carrying another is stale.
    let generation: UInt32
    /// The loop's own (wake-up, signals): not counted for the user, not cancellable by them.
    let isInternal: Bool
}

extension IOLoop {
    /// Calls `callback` on the loop thread whenever `descriptor` is ready for `interest`.
    ///
    /// Level-triggered by default (called again while still ready); edge and
    /// one-shot where the selector has them (epoll). The events passed in are
    /// masked to the current interest, plus hang-up and error, which always come.
    /// One watcher per descriptor: to change it use `IOWatcher.setInterest`.
    ///
    /// Before you close a watched descriptor, cancel its watcher. If you close
    /// it from a callback and the number is reused and watched again in the same
    /// iteration, the old descriptor's events are never delivered to the new watcher.
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

    var internalWatcherCount: Int { 1 + (signals.descriptor == nil ? 0 : 1) }

    @discardableResult
    func addWatcher(
        _ fd: Descriptor, interest: Interest, trigger: Trigger, isInternal: Bool,
        _ callback: @escaping (ReadyEvents) throws -> Void
    ) throws -> UInt32 {
        if let slot = watcherSlot(fd), slot.generation != 0 { throw LoopError.alreadyWatched(fd) }
        let generation = nextWatcherGeneration
        try selector.register(fd, interest: interest, trigger: trigger, value: generation)
        nextWatcherGeneration = nextWatcherGeneration &+ 1 == 0 ? 1 : nextWatcherGeneration &+ 1
        let index = Int(fd.rawValue)
        if index >= watchers.count { watchers.append(contentsOf: repeatElement(nil, count: index + 1 - watchers.count)) }
        watchers[index] = WatcherSlot(callback: callback, interest: interest, trigger: trigger,
                                      generation: generation, isInternal: isInternal)
        watcherCount += 1
        return generation
    }

    @inline(__always)
    func watcherSlot(_ fd: Descriptor) -> WatcherSlot? {
        let index = Int(fd.rawValue)
        return index >= 0 && index < watchers.count ? watchers[index] : nil
    }

    func isCurrent(_ fd: Descriptor, _ generation: UInt32) -> Bool {
        !isClosed && watcherSlot(fd)?.generation == generation
    }

    func changeWatcher(_ fd: Descriptor, _ generation: UInt32, interest: Interest, trigger: Trigger?) throws {
        try refuseIfClosed()
        guard let slot = watcherSlot(fd), slot.generation == generation else { throw LoopError.notWatched(fd) }
        let trigger = trigger ?? slot.trigger
        // The selector keeps the old registration when it refuses the new one.
        try selector.modify(fd, interest: interest, trigger: trigger, value: generation)
        watchers[Int(fd.rawValue)]!.interest = interest
        watchers[Int(fd.rawValue)]!.trigger = trigger
    }

    func removeWatcher(_ fd: Descriptor, _ generation: UInt32) {
        guard !isClosed, let slot = watcherSlot(fd), slot.generation == generation else { return }
        // A descriptor closed before its watcher was cancelled: the selector copes.
        _ = try? selector.unregister(fd)
        watchers[Int(fd.rawValue)] = nil // releases the closure now
        watcherCount -= 1
    }

    /// Runs the watcher's callback for one event of the last wait, unless the
    /// event is stale: its watcher was cancelled, or cancelled and replaced on
    /// the same number, since the wait. Returns false once the loop has closed.
    @inline(__always)
    func dispatch(_ fd: Descriptor, _ generation: UInt32, _ ready: ReadyEvents) -> Bool {
        let index = Int(fd.rawValue)
        guard index < watchers.count, let slot = watchers[index], slot.generation == generation else { return true }
        let masked = ready.subtracting(ReadyEvents(rawValue: Interest.all.rawValue & ~slot.interest.rawValue))
        if masked.isEmpty { return true }
        invoke { try slot.callback(masked) }
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
        return loop.watcherSlot(descriptor)?.interest
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

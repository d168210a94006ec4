/// Readiness multiplexing over many descriptors: Python's `selectors`, in Swift.
///
/// Register a descriptor with an interest and a value of your own; `select`
/// waits and reports the ready registrations. Three backends implement it:
/// `EpollSelector` (the default on Linux), `PollSelector` and `SelectSelector`.
///
/// Thread safety: a selector belongs to one thread at a time; it is not `Sendable`.
///
/// Every request that fails leaves the selector as it was, still usable.
public protocol EventSelector<Value>: AnyObject {
    /// The user value stored with each registration.
    associatedtype Value

    /// The backend's name, e.g. `"epoll"`.
    static var backendName: String { get }
    /// The trigger modes beyond level-triggered that this backend has.
    static var supportedTriggers: Trigger { get }

    /// Makes a selector.
    /// - Throws: `SelectorError.system` when the kernel refuses (`EMFILE`…).
    init() throws(SelectorError)

    /// Starts watching `descriptor` for `interest`.
    /// - Throws: `SelectorError`: `.alreadyRegistered`, `.emptyInterest` (also
    ///   for an interest made only of undefined bits), `.invalidDescriptor` (a
    ///   negative number, or one that is not open), `.descriptorOutOfRange`,
    ///   `.notPollable`, `.unsupportedTrigger`, `.closed`, or `.system`.
    @discardableResult
    func register(_ descriptor: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value>

    /// Changes a registration's interest, trigger and value. A one-shot
    /// registration is re-armed even when nothing changes. On failure the old
    /// registration stays.
    /// - Throws: `SelectorError.notRegistered`, `.invalidDescriptor` (a negative
    ///   number), `.emptyInterest`, `.unsupportedTrigger`, `.closed`, `.system`.
    @discardableResult
    func modify(_ descriptor: Descriptor, interest: Interest, trigger: Trigger, value: Value) throws(SelectorError) -> SelectorKey<Value>

    /// Stops watching `descriptor` and returns its last key. Works for a
    /// descriptor that was closed while registered: call it before or after
    /// `close`, the key goes either way (unregister first: see `EpollSelector`
    /// for what a closed number costs when a duplicate keeps its file open).
    /// - Throws: `SelectorError.notRegistered`, `.closed`.
    @discardableResult
    func unregister(_ descriptor: Descriptor) throws(SelectorError) -> SelectorKey<Value>

    /// The registration of `descriptor`, if any.
    func key(for descriptor: Descriptor) -> SelectorKey<Value>?

    /// Every registration, by descriptor (a copy).
    var keys: [Descriptor: SelectorKey<Value>] { get }

    /// How many descriptors are registered.
    var count: Int { get }

    /// Waits until a registration is ready or the timeout passes, and fills
    /// `events` (emptied first, capacity kept) with what is ready. Allocates
    /// nothing once `events` has grown to the largest batch.
    ///
    /// A wait never ends early with nothing to report: events the backend
    /// drops (for a registration that is gone) do not end it.
    ///
    /// - Parameters:
    ///   - timeout: `nil` waits without limit; zero or negative polls and
    ///     returns at once; otherwise waits at most that long, rounded up to
    ///     the backend's precision (nanoseconds for epoll and poll, microseconds
    ///     for select), never returning early: a signal that interrupts the wait
    ///     (`EINTR`) restarts it with the time that remains.
    ///   - events: the buffer to fill, one entry per ready registration.
    /// - Returns: the number of events, 0 on timeout.
    /// - Throws: `SelectorError.closed`, `.system`.
    @discardableResult
    func select(timeout: Duration?, into events: inout [SelectorEvent<Value>]) throws(SelectorError) -> Int

    /// Whether `close()` has been called.
    var isClosed: Bool { get }

    /// Forgets every registration and releases the kernel object. Closing twice is harmless.
    /// Later calls throw `SelectorError.closed`.
    /// - Throws: `SelectorError.system` when the kernel reports an error closing
    ///   its object (the selector is closed anyway).
    func close() throws(SelectorError)
}

extension EventSelector {
    /// Registers level-triggered.
    @discardableResult
    public func register(_ descriptor: Descriptor, interest: Interest, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        try register(descriptor, interest: interest, trigger: .level, value: value)
    }

    /// Modifies, keeping the trigger.
    @discardableResult
    public func modify(_ descriptor: Descriptor, interest: Interest, value: Value) throws(SelectorError) -> SelectorKey<Value> {
        let trigger = key(for: descriptor)?.trigger ?? .level
        return try modify(descriptor, interest: interest, trigger: trigger, value: value)
    }

    /// Waits as `select(timeout:into:)` does and returns the events in a new array.
    public func select(timeout: Duration?) throws(SelectorError) -> [SelectorEvent<Value>] {
        var events: [SelectorEvent<Value>] = []
        try select(timeout: timeout, into: &events)
        return events
    }
}

extension EventSelector where Value == Void {
    /// Registers with no user value.
    @discardableResult
    public func register(_ descriptor: Descriptor, interest: Interest, trigger: Trigger = .level) throws(SelectorError) -> SelectorKey<Void> {
        try register(descriptor, interest: interest, trigger: trigger, value: ())
    }

    /// Modifies with no user value, keeping the trigger unless one is given.
    @discardableResult
    public func modify(_ descriptor: Descriptor, interest: Interest, trigger: Trigger? = nil) throws(SelectorError) -> SelectorKey<Void> {
        let trigger = trigger ?? key(for: descriptor)?.trigger ?? .level
        return try modify(descriptor, interest: interest, trigger: trigger, value: ())
    }
}

/// The best backend for this platform: epoll on Linux.
public typealias DefaultSelector<Value> = EpollSelector<Value>

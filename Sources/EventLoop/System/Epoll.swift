import CEventShim

/// An owned epoll instance (`epoll_create1(2)`, close-on-exec): the kernel's
/// interest list and its ready list, closed exactly once.
///
/// The thin typed layer under `EpollSelector`, for experiments that want
/// epoll itself. The traps are the kernel's: it registers the open file, not
/// the number, so a number closed while a `dup` keeps the file open goes on
/// being reported and can no longer be removed; see `EpollSelector`.
public struct Epoll: ~Copyable {
    /// The owned epoll descriptor.
    public let owned: OwnedDescriptor
    /// The epoll descriptor, borrowed (to nest it in another selector).
    public var descriptor: Descriptor { owned.descriptor }

    /// Creates an empty instance. The C call is `epoll_create1(EPOLL_CLOEXEC)`.
    /// - Throws: `SystemError` (`EMFILE`, `ENOMEM`…).
    public init() throws(SystemError) {
        let fd = try Syscall.check(Kernel.epollCreate(), "epoll_create1(EPOLL_CLOEXEC)")
        owned = OwnedDescriptor(adopting: Descriptor(Int32(truncatingIfNeeded: fd)))
    }

    /// Adds `fd` with `events`; `data` comes back with each of its events.
    /// The C call is `epoll_ctl(EPOLL_CTL_ADD)`.
    /// - Throws: `SystemError`: `EEXIST` (already added), `EPERM` (a regular
    ///   file or directory), `EBADF`, `ENOMEM`, `ENOSPC`…
    @inlinable
    public func add(_ fd: Descriptor, events: EpollEvents, data: UInt64) throws(SystemError) {
        try control(cevent_EPOLL_CTL_ADD, "ADD", fd, events, data)
    }

    /// Changes the events and data of `fd` (and re-arms a one-shot one).
    /// The C call is `epoll_ctl(EPOLL_CTL_MOD)`.
    @inlinable
    public func modify(_ fd: Descriptor, events: EpollEvents, data: UInt64) throws(SystemError) {
        try control(cevent_EPOLL_CTL_MOD, "MOD", fd, events, data)
    }

    /// Removes `fd`. The C call is `epoll_ctl(EPOLL_CTL_DEL)`.
    /// - Throws: `SystemError`: `ENOENT` (not added, or closed and its number
    ///   reused), `EBADF` (closed: if no duplicate keeps its file open, the
    ///   kernel has already dropped it)…
    @inlinable
    public func remove(_ fd: Descriptor) throws(SystemError) {
        try control(cevent_EPOLL_CTL_DEL, "DEL", fd, [], 0)
    }

    @inlinable
    func control(_ op: Int32, _ name: String, _ fd: Descriptor, _ events: EpollEvents, _ data: UInt64) throws(SystemError) {
        let epfd = descriptor.rawValue
        _ = try Syscall.check(Kernel.epollCtl(epfd, op, fd.rawValue, events.rawValue, data), "epoll_ctl(\(name), \(fd))")
    }

    /// Waits for events and puts them in `buffer` (at most its capacity);
    /// returns how many. `nil` waits without limit, zero or negative polls,
    /// otherwise at most `timeout` (nanosecond precision; whole milliseconds,
    /// rounded up, on kernels without `epoll_pwait2`). `EINTR` restarts the wait
    /// with the time that remains. The C call is `epoll_pwait2(2)`.
    @inlinable
    public func wait(into buffer: borrowing EpollEventBuffer, timeout: Duration?) throws(SystemError) -> Int {
        let epfd = descriptor.rawValue
        let (events, capacity) = (buffer.events, Int32(truncatingIfNeeded: buffer.capacity))
        return try Syscall.waiting(timeout: timeout, "epoll_pwait2(\(descriptor))") {
            Kernel.epollWait(epfd, events, capacity, $0)
        }
    }

    /// Closes it. The corresponding C call is `close(2)`, never retried.
    public consuming func close() throws(SystemError) { try owned.close() }
}

/// The epoll event bits (`EPOLLIN`…), as registered and as reported.
public struct EpollEvents: OptionSet, Hashable, Sendable {
    /// The C bits.
    public let rawValue: UInt32
    /// Bits as the C header spells them.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `EPOLLIN`: readable.
    public static let input = EpollEvents(rawValue: cevent_EPOLLIN)
    /// `EPOLLOUT`: writable.
    public static let output = EpollEvents(rawValue: cevent_EPOLLOUT)
    /// `EPOLLRDHUP`: the peer shut down writing.
    public static let readHangUp = EpollEvents(rawValue: cevent_EPOLLRDHUP)
    /// `EPOLLPRI`: urgent data.
    public static let priority = EpollEvents(rawValue: cevent_EPOLLPRI)
    /// `EPOLLERR`: an error is pending (always reported).
    public static let error = EpollEvents(rawValue: cevent_EPOLLERR)
    /// `EPOLLHUP`: hung up (always reported).
    public static let hangUp = EpollEvents(rawValue: cevent_EPOLLHUP)
    /// `EPOLLET`: edge-triggered.
    public static let edgeTriggered = EpollEvents(rawValue: cevent_EPOLLET)
    /// `EPOLLONESHOT`: disabled after one report until `modify` re-arms it.
    public static let oneShot = EpollEvents(rawValue: cevent_EPOLLONESHOT)
}

/// Memory the kernel fills with ready events (`struct epoll_event[]`), owned
/// and reused across waits so a wait allocates nothing.
public struct EpollEventBuffer: ~Copyable {
    @usableFromInline let events: UnsafeMutablePointer<epoll_event>
    /// How many events one wait can report.
    public let capacity: Int

    /// A buffer for `capacity` events.
    /// - Throws: `ArgumentError` for a capacity below 1 or above 1,048,576.
    public init(capacity: Int) throws(ArgumentError) {
        try ArgumentError.checkCount(capacity, "capacity", in: "EpollEventBuffer(capacity:)", minimum: 1)
        if capacity > 1 << 20 {
            throw ArgumentError("EpollEventBuffer(capacity:)", argument: "capacity \(capacity)", requirement: "must be at most 1048576")
        }
        events = .allocate(capacity: capacity)
        self.capacity = capacity
    }

    deinit { events.deallocate() }

    /// Event `index` (below the count the wait returned): its bits and the
    /// data it was registered with. (The C struct is packed; this copies it.)
    @inlinable
    public subscript(index: Int) -> (events: EpollEvents, data: UInt64) {
        var flags: UInt32 = 0
        var data: UInt64 = 0
        cevent_epoll_event_get(events, Int32(truncatingIfNeeded: index), &flags, &data)
        return (EpollEvents(rawValue: flags), data)
    }
}

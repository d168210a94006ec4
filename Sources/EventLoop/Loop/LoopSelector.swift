/// The loop's selector, made and owned by the loop, held by concrete type.
///
/// Why not `any EventSelector`: calls through the existential run the
/// unspecialized generic code, which looks up type metadata on every wait and
/// every event (measured: about 100x the instructions of the specialized
/// path). A switch over the four backends costs one branch. The loop makes
/// the selector itself (`IOLoop(backend:)`), so nobody else can change its
/// registrations: the selector's table is the loop's only registry.
enum LoopSelector {
    case epoll(EpollSelector<Watcher>)
    case poll(PollSelector<Watcher>)
    case select(SelectSelector<Watcher>)
    case ioUring(IOUringSelector<Watcher>)

    init(_ backend: LoopBackend) throws(SelectorError) {
        switch backend {
        case .epoll: self = .epoll(try EpollSelector())
        case .poll: self = .poll(PollSelector())
        case .select: self = .select(SelectSelector())
        case .ioUring: self = .ioUring(try IOUringSelector())
        }
    }

    /// One registration: the watcher, its interest, trigger and generation.
    typealias Slot = RegistrationTable<Watcher>.Slot

    /// Waits, then calls `body` for each ready registration, checked against
    /// the registry when its turn comes, until `body` returns false.
    @inline(__always)
    func selectEach(timeout: Duration?, _ body: (Slot, ReadyEvents) -> Bool) throws(SelectorError) {
        switch self {
        case .epoll(let s): try s.selectEach(timeout: timeout) { _, slot, ready in body(slot, ready) }
        case .poll(let s): try s.selectEach(timeout: timeout) { _, slot, ready in body(slot, ready) }
        case .select(let s): try s.selectEach(timeout: timeout) { _, slot, ready in body(slot, ready) }
        case .ioUring(let s): try s.selectEach(timeout: timeout) { _, slot, ready in body(slot, ready) }
        }
    }

    /// Registers and returns the registration's generation.
    func register(_ fd: Descriptor, interest: Interest, trigger: Trigger, watcher: Watcher) throws(SelectorError) -> UInt32 {
        switch self {
        case .epoll(let s): try s.register(fd, interest: interest, trigger: trigger, value: watcher)
        case .poll(let s): try s.register(fd, interest: interest, trigger: trigger, value: watcher)
        case .select(let s): try s.register(fd, interest: interest, trigger: trigger, value: watcher)
        case .ioUring(let s): try s.register(fd, interest: interest, trigger: trigger, value: watcher)
        }
        return generation(fd)
    }

    func modify(_ fd: Descriptor, interest: Interest, trigger: Trigger, watcher: Watcher) throws(SelectorError) {
        switch self {
        case .epoll(let s): try s.modify(fd, interest: interest, trigger: trigger, value: watcher)
        case .poll(let s): try s.modify(fd, interest: interest, trigger: trigger, value: watcher)
        case .select(let s): try s.modify(fd, interest: interest, trigger: trigger, value: watcher)
        case .ioUring(let s): try s.modify(fd, interest: interest, trigger: trigger, value: watcher)
        }
    }

    /// Re-arms an edge-triggered registration (epoll and io_uring; the others need nothing).
    func rearm(_ fd: Descriptor) throws(SelectorError) {
        switch self {
        case .epoll(let s): try s.rearm(fd)
        case .ioUring(let s): try s.rearm(fd)
        case .poll, .select: break
        }
    }

    /// Unregisters and returns the key, whose watcher the caller releases.
    @discardableResult
    func unregister(_ fd: Descriptor) throws(SelectorError) -> SelectorKey<Watcher> {
        switch self {
        case .epoll(let s): try s.unregister(fd)
        case .poll(let s): try s.unregister(fd)
        case .select(let s): try s.unregister(fd)
        case .ioUring(let s): try s.unregister(fd)
        }
    }

    /// The current registration of `fd` (a copy).
    @inline(__always)
    func slot(_ fd: Descriptor) -> Slot? {
        switch self {
        case .epoll(let s): s.table[fd.rawValue]
        case .poll(let s): s.table[fd.rawValue]
        case .select(let s): s.table[fd.rawValue]
        case .ioUring(let s): s.table[fd.rawValue]
        }
    }

    /// The generation of `fd`'s registration, 0 when it has none (nothing copied).
    @inline(__always)
    func generation(_ fd: Descriptor) -> UInt32 {
        switch self {
        case .epoll(let s): s.table.generation(fd.rawValue)
        case .poll(let s): s.table.generation(fd.rawValue)
        case .select(let s): s.table.generation(fd.rawValue)
        case .ioUring(let s): s.table.generation(fd.rawValue)
        }
    }

    /// Whether a socket's bytes can arrive by completion (io_uring's receive
    /// into provided buffers) rather than by a `read(2)` after readiness.
    var receivesByCompletion: Bool { if case .ioUring = self { true } else { false } }

    /// Starts a registered socket's receive by completion (io_uring only; see
    /// `IOUringSelector.startReceiving`).
    func startReceiving(_ fd: Descriptor, _ deliver: @escaping (UnsafeRawBufferPointer, Int32, Bool) -> Void) throws(SelectorError) {
        guard case .ioUring(let s) = self else { throw .unavailable(backend: "\(self)", reason: "only io_uring receives by completion") }
        try s.startReceiving(fd, deliver)
    }

    /// Lets a registered socket send by completion (io_uring only; see
    /// `IOUringSelector.startSending`).
    func startSending(_ fd: Descriptor, _ deliver: @escaping (Int32) -> Void) throws(SelectorError) {
        guard case .ioUring(let s) = self else { throw .unavailable(backend: "\(self)", reason: "only io_uring sends by completion") }
        try s.startSending(fd, deliver)
    }

    /// Queues a send of `bytes[offset...]` on a socket that sends by
    /// completion (io_uring only; see `IOUringSelector.send`).
    func send(_ fd: Descriptor, _ bytes: [UInt8], from offset: Int) throws(SelectorError) {
        guard case .ioUring(let s) = self else { throw .unavailable(backend: "\(self)", reason: "only io_uring sends by completion") }
        try s.send(fd, bytes, from: offset)
    }

    /// Starts a registered listener's accept by completion (io_uring only;
    /// see `IOUringSelector.startAccepting`).
    func startAccepting(_ fd: Descriptor, _ deliver: @escaping (Int32) -> Void) throws(SelectorError) {
        guard case .ioUring(let s) = self else { throw .unavailable(backend: "\(self)", reason: "only io_uring accepts by completion") }
        try s.startAccepting(fd, deliver)
    }

    /// Pauses or resumes a listener's accept by completion (io_uring only).
    func setAccepting(_ fd: Descriptor, paused: Bool) throws(SelectorError) {
        guard case .ioUring(let s) = self else { return }
        if paused { try s.pauseAccepting(fd) } else { try s.resumeAccepting(fd) }
    }

    /// Pauses or resumes a socket's receive (io_uring only).
    func setReceiving(_ fd: Descriptor, paused: Bool) throws(SelectorError) {
        guard case .ioUring(let s) = self else { return }
        if paused { try s.pauseReceiving(fd) } else { try s.resumeReceiving(fd) }
    }

    /// Whether registrations may be edge-triggered (epoll, io_uring).
    var supportsEdgeTriggering: Bool {
        switch self {
        case .epoll, .ioUring: true
        case .poll, .select: false
        }
    }

    var count: Int {
        switch self {
        case .epoll(let s): s.count
        case .poll(let s): s.count
        case .select(let s): s.count
        case .ioUring(let s): s.count
        }
    }

    /// Every registration, for closing.
    var descriptors: [Descriptor] {
        switch self {
        case .epoll(let s): Array(s.keys.keys)
        case .poll(let s): Array(s.keys.keys)
        case .select(let s): Array(s.keys.keys)
        case .ioUring(let s): Array(s.keys.keys)
        }
    }

    func close() throws(SelectorError) {
        switch self {
        case .epoll(let s): try s.close()
        case .poll(let s): s.close()
        case .select(let s): s.close()
        case .ioUring(let s): try s.close()
        }
    }
}

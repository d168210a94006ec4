/// The loop's selector, held by concrete type where it is one of ours.
///
/// Why not just `any EventSelector<UInt32>`: calls through the existential run
/// the unspecialized generic code, which looks up type metadata on every wait
/// and every event (measured: about 100x the instructions of the specialized
/// path). A switch over the three concrete backends costs one branch.
enum LoopSelector {
    case epoll(EpollSelector<UInt32>)
    case poll(PollSelector<UInt32>)
    case select(SelectSelector<UInt32>)
    case custom(any EventSelector<UInt32>)

    init(_ selector: any EventSelector<UInt32>) {
        switch selector {
        case let epoll as EpollSelector<UInt32>: self = .epoll(epoll)
        case let poll as PollSelector<UInt32>: self = .poll(poll)
        case let select as SelectSelector<UInt32>: self = .select(select)
        default: self = .custom(selector)
        }
    }

    var selector: any EventSelector<UInt32> {
        switch self {
        case .epoll(let s): s
        case .poll(let s): s
        case .select(let s): s
        case .custom(let s): s
        }
    }

    /// Waits, then calls `body` for each ready registration until it returns
    /// false. epoll hands events over straight from the kernel's buffer; the
    /// others fill `scratch` first.
    @inline(__always)
    func selectEach(
        timeout: Duration?, scratch: inout [SelectorEvent<UInt32>],
        _ body: (SelectorKey<UInt32>, ReadyEvents) -> Bool
    ) throws {
        switch self {
        case .epoll(let s):
            try s.selectEach(timeout: timeout, body)
            return
        case .poll(let s): try s.select(timeout: timeout, into: &scratch)
        case .select(let s): try s.select(timeout: timeout, into: &scratch)
        case .custom(let s): try s.select(timeout: timeout, into: &scratch)
        }
        for event in scratch where !body(event.key, event.events) { break }
    }

    func register(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: UInt32) throws {
        switch self {
        case .epoll(let s): try s.register(fd, interest: interest, trigger: trigger, value: value)
        case .poll(let s): try s.register(fd, interest: interest, trigger: trigger, value: value)
        case .select(let s): try s.register(fd, interest: interest, trigger: trigger, value: value)
        case .custom(let s): try s.register(fd, interest: interest, trigger: trigger, value: value)
        }
    }

    func modify(_ fd: Descriptor, interest: Interest, trigger: Trigger, value: UInt32) throws {
        switch self {
        case .epoll(let s): try s.modify(fd, interest: interest, trigger: trigger, value: value)
        case .poll(let s): try s.modify(fd, interest: interest, trigger: trigger, value: value)
        case .select(let s): try s.modify(fd, interest: interest, trigger: trigger, value: value)
        case .custom(let s): try s.modify(fd, interest: interest, trigger: trigger, value: value)
        }
    }

    func unregister(_ fd: Descriptor) throws {
        switch self {
        case .epoll(let s): try s.unregister(fd)
        case .poll(let s): try s.unregister(fd)
        case .select(let s): try s.unregister(fd)
        case .custom(let s): try s.unregister(fd)
        }
    }

    func close() throws { try selector.close() }
}

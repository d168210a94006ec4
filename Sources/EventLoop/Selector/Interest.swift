/// What a registration waits for: readable, writable, or both.
///
/// A selector refuses an empty interest; there is nothing to wait for.
public struct Interest: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The bits: 1 readable, 2 writable (others are undefined and refused by selectors).
    public let rawValue: UInt8
    /// An option set from its bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Data can be read, or the peer has closed (a read returns 0), or a listener has a connection.
    public static let readable = Interest(rawValue: 1 << 0)
    /// Data can be written, or a non-blocking connect has finished.
    public static let writable = Interest(rawValue: 1 << 1)
    /// Both.
    public static let all: Interest = [.readable, .writable]

    /// A readable name, e.g. `readable+writable`.
    public var description: String {
        switch self {
        case .readable: "readable"
        case .writable: "writable"
        case .all: "readable+writable"
        default: "none"
        }
    }
}

/// How a registration reports readiness.
///
/// Level-triggered (the empty set, `.level`) is the default and works on every
/// backend: a ready descriptor is reported by every wait until it is drained.
/// Edge-triggered reports a descriptor once per change, so its reader must drain
/// it until the read says `.wouldBlock`; one-shot reports once and then stays
/// silent until `modify` re-arms it. Only the epoll backend has edge and one-shot.
public struct Trigger: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The bits: 1 edge, 2 one-shot.
    public let rawValue: UInt8
    /// An option set from its bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Level-triggered: reported while ready.
    public static let level: Trigger = []
    /// Edge-triggered (`EPOLLET`).
    public static let edge = Trigger(rawValue: 1 << 0)
    /// One-shot (`EPOLLONESHOT`): disabled after one report until re-armed by `modify`.
    public static let oneShot = Trigger(rawValue: 1 << 1)

    /// A readable name, e.g. `edge+one-shot`.
    public var description: String {
        switch self {
        case .level: "level"
        case .edge: "edge"
        case .oneShot: "one-shot"
        default: "edge+one-shot"
        }
    }
}

/// What a wait found a descriptor ready for.
///
/// `readable` and `writable` are masked to the registration's interest. A
/// hang-up or an error also marks the descriptor readable and/or writable (as
/// far as the interest asks), so a callback that only reads still runs and
/// learns of it from its read.
public struct ReadyEvents: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The bits: 1 readable, 2 writable, 4 hang-up, 8 read hang-up, 16 error.
    public let rawValue: UInt8
    /// An option set from its bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Readable (`EPOLLIN`, `POLLIN`, the read set).
    public static let readable = ReadyEvents(rawValue: 1 << 0)
    /// Writable (`EPOLLOUT`, `POLLOUT`, the write set).
    public static let writable = ReadyEvents(rawValue: 1 << 1)
    /// Both directions are closed (`EPOLLHUP`, `POLLHUP`). The select backend cannot tell this apart from readable.
    public static let hangUp = ReadyEvents(rawValue: 1 << 2)
    /// The peer shut down its writing side: reads will reach end of file (`EPOLLRDHUP`, `POLLRDHUP`).
    public static let readHangUp = ReadyEvents(rawValue: 1 << 3)
    /// An error is pending on the descriptor (`EPOLLERR`, `POLLERR`), or it is
    /// no longer open (`POLLNVAL`, `EBADF` from `select`).
    public static let error = ReadyEvents(rawValue: 1 << 4)

    /// The readable/writable part as an `Interest`.
    public var interest: Interest { Interest(rawValue: rawValue & 0b11) }

    /// A readable name, e.g. `readable+writable`.
    public var description: String {
        let names = [(ReadyEvents.readable, "readable"), (.writable, "writable"), (.hangUp, "hang-up"),
                     (.readHangUp, "read-hang-up"), (.error, "error")]
        let present = names.filter { contains($0.0) }.map(\.1)
        return present.isEmpty ? "none" : present.joined(separator: "+")
    }
}

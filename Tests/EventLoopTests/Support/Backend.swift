import EventLoop
import Testing

/// The selector backends, so one contract suite runs against each.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case epoll, poll, select

    func make<V>(_: V.Type = V.self) throws -> any EventSelector<V> {
        switch self {
        case .epoll: try EpollSelector<V>()
        case .poll: PollSelector<V>()
        case .select: SelectSelector<V>()
        }
    }

    var supportsEdge: Bool { self == .epoll }
    var reportsHangUp: Bool { self != .select }
    var testDescription: String { rawValue }
}

import EventLoop
import Testing

/// The selector backends, so one contract suite runs against each.
///
/// `allCases` holds the backends this process can use: io_uring is left out
/// where the kernel refuses it (`LoopBackend.ioUring.unavailableReason`
/// says why, and `.ci/run` prints it).
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case epoll, poll, select
    case ioUring = "io_uring"

    static var allCases: [Backend] {
        let all: [Backend] = [.epoll, .poll, .select, .ioUring]
        return all.filter { LoopBackend(rawValue: $0.rawValue)?.unavailableReason == nil }
    }

    func make<V>(_: V.Type = V.self) throws -> any EventSelector<V> {
        switch self {
        case .epoll: try EpollSelector<V>()
        case .poll: PollSelector<V>()
        case .select: SelectSelector<V>()
        case .ioUring: try IOUringSelector<V>()
        }
    }

    var supportsEdge: Bool { self == .epoll || self == .ioUring }
    var reportsHangUp: Bool { self != .select }
    var testDescription: String { rawValue }
}

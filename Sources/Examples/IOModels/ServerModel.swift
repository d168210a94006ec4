import EventLoop
import ExampleSupport
import Glibc

/// The I/O models that `--model` picks: one way each of waiting for many sockets.
enum ServerModel: String, CaseIterable {
    case blocking
    case busyPoll = "busy-poll"
    case select
    case poll
    case epollLevel = "epoll-level"
    case epollEdge = "epoll-edge"
    case loop
    // `case async` (`io-models --model async`, seed 004's asyncio server) joins
    // here once the async/await + streams layer lands: one more case, one more
    // file like LoopModel.swift, one more line in `serve` and in `usage`.

    /// Serves until Ctrl-C or SIGTERM; returns the signal's name.
    func serve(_ listener: Descriptor, _ context: ServeContext) throws -> String {
        switch self {
        case .blocking: try serveBlocking(listener, context)
        case .busyPoll: try serveBusyPolling(listener, context)
        case .select: try serveWithSelect(listener, context)
        case .poll: try serveWithPoll(listener, context)
        case .epollLevel: try serveWithEpoll(listener, context, edgeTriggered: false)
        case .epollEdge: try serveWithEpoll(listener, context, edgeTriggered: true)
        case .loop: try serveOnLoop(listener, context)
        }
    }
}

/// What every model shares: the log, the connections, and the experiment flags.
final class ServeContext {
    let log: ModelLog
    let connections: HTTPConnections
    let interval: Duration
    private let reserve: Int
    private var reserved: [Descriptor] = []

    init(log: ModelLog, reserve: Int, interval: Duration) {
        self.log = log
        connections = HTTPConnections(log: log)
        self.reserve = reserve
        self.interval = interval
    }

    /// `--reserve-descriptors N`: opens N descriptors on /dev/null, so the
    /// connections accepted from now on get higher numbers. Each model calls
    /// it once its own descriptors (listener, signals, selector) are open.
    func reserveDescriptors() throws {
        guard reserve > 0 else { return }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max // raise the soft limit as far as allowed
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        for _ in 0..<reserve {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            if fd < 0 { throw ExampleFailure("--reserve-descriptors: open(/dev/null): \(String(cString: strerror(errno)))") }
            reserved.append(Descriptor(fd))
        }
        log.note("holding \(reserve) extra descriptors: new connections get numbers from \(reserved.last.map { $0.rawValue + 1 } ?? 0) up")
    }

    func releaseReserved() {
        for fd in reserved { closeReleased(fd) }
        reserved = []
    }
}

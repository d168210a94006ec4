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
    case async

    /// Listens on `host:port`, prints `listening on HOST:PORT (model: M)`,
    /// and serves until Ctrl-C or SIGTERM; returns the signal's name.
    func serve(host: String, port: UInt16, _ context: ServeContext) throws -> String {
        guard let serve = descriptorServer else {
            return try serveAsync(host: host, port: port, context) // the streams bind a listener of their own
        }
        let listener = try listenTCP(host: host, port: port)
        print("listening on \(try listener.descriptor.localAddress()) (model: \(rawValue))")
        let stoppedBy = try serve(listener.descriptor, context)
        try listener.close()
        return stoppedBy
    }

    /// The model's server for a listening descriptor; nil for `async`, whose
    /// `StreamListener` makes its own socket (the streams adopt no descriptor).
    private var descriptorServer: ((Descriptor, ServeContext) throws -> String)? {
        switch self {
        case .blocking: serveBlocking
        case .busyPoll: serveBusyPolling
        case .select: serveWithSelect
        case .poll: serveWithPoll
        case .epollLevel: { try serveWithEpoll($0, $1, edgeTriggered: false) }
        case .epollEdge: { try serveWithEpoll($0, $1, edgeTriggered: true) }
        case .loop: serveOnLoop
        case .async: nil
        }
    }
}

/// What every model shares: the log, the connections, and the experiment flags.
final class ServeContext {
    let log: ModelLog
    let connections: HTTPConnections
    let interval: Duration
    /// `--loops N`: the async model's loop count (the other models run one loop).
    let loops: Int
    /// `--backend NAME`: the loop and async models' backend (the others are their own).
    let backend: LoopBackend
    private let reserve: Int
    private var reserved: [Descriptor] = []

    init(log: ModelLog, reserve: Int, interval: Duration, loops: Int = 1, backend: LoopBackend = .epoll) {
        self.log = log
        connections = HTTPConnections(log: log)
        self.reserve = reserve
        self.interval = interval
        self.loops = loops
        self.backend = backend
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

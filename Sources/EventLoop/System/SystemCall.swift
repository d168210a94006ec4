/// Names the system calls this package makes, one case per call.
///
/// Every call the package makes passes through exactly one function of the
/// System layer, named here; a `FaultScript` picks calls by these names, and
/// its trace reports them. The raw value is the C name (`"epoll_ctl"`).
/// Reads and writes of an eventfd, a timerfd and a signalfd are named apart
/// from `read`/`write`, so a script aimed at a user's descriptors never
/// disturbs the loop's own wake-ups.
public enum SystemCall: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `close(2)`. Never retried.
    case close
    /// `read(2)` on any descriptor (pipes, sockets, files).
    case read
    /// `write(2)`, or `send(MSG_NOSIGNAL)` on a socket (see `Descriptor.write`).
    case write
    /// `send(2)` on a connected socket.
    case send
    /// `recv(2)` on a connected socket.
    case recv
    /// `sendto(2)`: one datagram to an address.
    case sendto
    /// `recvfrom(2)`: one datagram and its sender.
    case recvfrom
    /// `accept4(2)`.
    case accept4
    /// `connect(2)`.
    case connect
    /// `bind(2)`.
    case bind
    /// `listen(2)`.
    case listen
    /// `socket(2)`.
    case socket
    /// `socketpair(2)`.
    case socketpair
    /// `pipe2(2)`.
    case pipe2
    /// `shutdown(2)`.
    case shutdown
    /// `unlink(2)`: removing a Unix socket's file.
    case unlink
    /// `stat(2)`: which file a path names now (a symbolic link is followed).
    case stat
    /// `lstat(2)`: what a path names itself (a symbolic link is not followed),
    /// checked before the package removes a socket file.
    case lstat
    /// `getsockopt(2)`.
    case getsockopt
    /// `setsockopt(2)`.
    case setsockopt
    /// `getsockname(2)`.
    case getsockname
    /// `getpeername(2)`.
    case getpeername
    /// `fcntl(2)`: flags, close-on-exec and `F_DUPFD_CLOEXEC`.
    case fcntl
    /// `epoll_create1(2)`.
    case epollCreate = "epoll_create1"
    /// `epoll_ctl(2)`: add, modify and delete.
    case epollCtl = "epoll_ctl"
    /// `epoll_pwait2(2)` (or `epoll_pwait` where the kernel lacks it).
    case epollWait = "epoll_pwait2"
    /// `ppoll(2)`.
    case poll = "ppoll"
    /// `select(2)`.
    case select
    /// `io_uring_setup(2)`, with the `mmap`s of its rings.
    case ioUringSetup = "io_uring_setup"
    /// `io_uring_enter(2)`: submitting, and waiting for completions.
    case ioUringEnter = "io_uring_enter"
    /// `io_uring_register(2)` with `IORING_REGISTER_SYNC_CANCEL`: ending a
    /// registration's poll requests before `unregister` or `modify` returns.
    case ioUringRegister = "io_uring_register"
    /// The result of an io_uring poll request's completion, as the package
    /// reads it from the ring (no system call): a script that fails it makes
    /// the poll complete with that errno instead of the kernel's mask.
    case ioUringPoll = "io_uring_poll"
    /// The result of an io_uring receive's completion (a stream's bytes, its
    /// end or its error; no system call): a script that fails it makes the
    /// receive complete with that errno (`-ECONNRESET`…); its bytes, if any,
    /// are dropped as the kernel would not have taken them.
    case ioUringReceive = "io_uring_recv"
    /// The result of an io_uring send's completion (a stream's buffered
    /// bytes going out; no system call): a script that fails it makes the
    /// send complete with that errno (`-EPIPE`, `-ECONNRESET`…), which ends
    /// the stream; a passing shortage (`ENOBUFS`…) keeps the count the
    /// kernel sent, so no byte is sent twice.
    case ioUringSend = "io_uring_send"
    /// The result of an io_uring accept's completion (a listener's new
    /// connection, or an errno; no system call): a script that fails it
    /// makes the accept complete with that errno (`-EMFILE`,
    /// `-ECONNABORTED`…); the connection the kernel took, if any, is closed.
    case ioUringAccept = "io_uring_accept"
    /// `eventfd(2)`.
    case eventfd
    /// The 8-byte `read(2)` of an eventfd.
    case eventfdRead = "eventfd_read"
    /// The 8-byte `write(2)` of an eventfd.
    case eventfdWrite = "eventfd_write"
    /// `timerfd_create(2)`.
    case timerfdCreate = "timerfd_create"
    /// `timerfd_settime(2)`.
    case timerfdSettime = "timerfd_settime"
    /// `timerfd_gettime(2)`.
    case timerfdGettime = "timerfd_gettime"
    /// The 8-byte `read(2)` of a timerfd.
    case timerfdRead = "timerfd_read"
    /// `signalfd(2)`: create or update.
    case signalfd
    /// The `read(2)` of one `signalfd_siginfo`.
    case signalfdRead = "signalfd_read"
    /// `pthread_sigmask(3)`.
    case sigmask = "pthread_sigmask"
    /// `sigpending(2)`.
    case sigpending
    /// `kill(2)`.
    case kill
    /// `sigaction(2)`: installing, querying or restoring a signal's disposition.
    case sigaction
    /// `sigtimedwait(2)` with a zero timeout: taking back a pending signal.
    case sigtimedwait
    /// The `read(2)` of one record from a loop's signal pipe.
    case signalPipeRead = "signal_pipe_read"

    /// `pthread_create(3)`: a loop group's or a `LoopThread`'s thread.
    case threadCreate = "pthread_create"
    /// `sched_getaffinity(2)`: the CPUs the process may run on.
    case schedGetaffinity = "sched_getaffinity"
    /// `pthread_setaffinity_np(3)`: pinning a loop's thread to a CPU.
    case threadSetAffinity = "pthread_setaffinity_np"

    /// The C name, e.g. `epoll_ctl`.
    public var description: String { rawValue }

    /// Whether the call moves a count of bytes that a `FaultScript` may shorten.
    public var takesByteCount: Bool {
        switch self {
        case .read, .write, .send, .recv, .sendto, .recvfrom: true
        default: false
        }
    }
}

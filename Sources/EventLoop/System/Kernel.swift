import CEventShim
import Glibc

/// The seam: every system call the package makes, one function each.
///
/// Each returns what the shim returns: `>= 0` on success, `-errno` on failure.
/// Before calling the kernel it checks whether any `FaultScript` is active (one
/// relaxed atomic load); only then does the call take the scripted path. The
/// typed wrappers (`Descriptor`, `EventFD`, the selectors…) call these and
/// nothing else; no file outside `System/` imports the shim or the C library.
@usableFromInline
enum Kernel {
    /// Routes one call through the fault scripts when any is active.
    /// `fd`: the descriptor acted on, or -1; `count`: the byte count `body` is given.
    @inlinable @inline(__always)
    static func seam(_ call: SystemCall, _ fd: Int32, count: Int = 0, _ body: (Int) -> Int) -> Int {
        if _slowPath(cevent_fault_armed() != 0) { return FaultScript.intercept(call, fd, count, body) }
        return body(count)
    }

    // MARK: Descriptors

    static func close(_ fd: Int32) -> Int { seam(.close, fd) { _ in Int(cevent_close(fd)) } }

    @inlinable
    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        seam(.read, fd, count: count) { cevent_read(fd, buffer, UInt($0)) }
    }

    @inlinable
    static func write(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
        seam(.write, fd, count: count) { cevent_write(fd, buffer, UInt($0)) }
    }

    static func fcntlGetNonBlocking(_ fd: Int32) -> Int { seam(.fcntl, fd) { _ in Int(cevent_get_nonblocking(fd)) } }
    static func fcntlSetNonBlocking(_ fd: Int32, _ on: Bool) -> Int {
        seam(.fcntl, fd) { _ in Int(cevent_set_nonblocking(fd, on ? 1 : 0)) }
    }
    static func fcntlGetCloseOnExec(_ fd: Int32) -> Int { seam(.fcntl, fd) { _ in Int(cevent_get_cloexec(fd)) } }
    static func fcntlSetCloseOnExec(_ fd: Int32, _ on: Bool) -> Int {
        seam(.fcntl, fd) { _ in Int(cevent_set_cloexec(fd, on ? 1 : 0)) }
    }
    static func fcntlGetStatusFlags(_ fd: Int32) -> Int { seam(.fcntl, fd) { _ in Int(cevent_get_status_flags(fd)) } }
    static func fcntlSetStatusFlags(_ fd: Int32, _ flags: Int32) -> Int {
        seam(.fcntl, fd) { _ in Int(cevent_set_status_flags(fd, flags)) }
    }
    static func fcntlDuplicate(_ fd: Int32) -> Int { seam(.fcntl, fd) { _ in Int(cevent_dup(fd)) } }

    static func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int {
        seam(.pipe2, -1) { _ in Int(cevent_pipe2(fds, flags)) }
    }

    // MARK: Sockets

    static func socket(_ family: Int32, _ type: Int32, nonBlocking: Bool) -> Int {
        seam(.socket, -1) { _ in Int(cevent_socket(family, type, 0, nonBlocking ? 1 : 0)) }
    }
    static func socketpair(_ family: Int32, _ type: Int32, _ fds: UnsafeMutablePointer<Int32>) -> Int {
        seam(.socketpair, -1) { _ in Int(cevent_socketpair(family, type, 0, fds)) }
    }
    static func accept4(_ fd: Int32, _ flags: Int32) -> Int {
        seam(.accept4, fd) { _ in Int(cevent_accept4(fd, nil, nil, flags)) }
    }
    static func bind(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int {
        seam(.bind, fd) { _ in Int(cevent_bind(fd, address, length)) }
    }
    static func listen(_ fd: Int32, _ backlog: Int32) -> Int { seam(.listen, fd) { _ in Int(cevent_listen(fd, backlog)) } }
    static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int {
        seam(.connect, fd) { _ in Int(cevent_connect(fd, address, length)) }
    }
    static func fileIdentity(_ path: String, _ device: UnsafeMutablePointer<UInt64>, _ inode: UnsafeMutablePointer<UInt64>) -> Int {
        seam(.stat, -1) { _ in Int(cevent_file_identity(path, device, inode)) }
    }
    static func lstat(
        _ path: String, _ device: UnsafeMutablePointer<UInt64>, _ inode: UnsafeMutablePointer<UInt64>,
        _ mode: UnsafeMutablePointer<UInt32>
    ) -> Int {
        seam(.lstat, -1) { _ in Int(cevent_lstat(path, device, inode, mode)) }
    }
    static func unlink(_ path: String) -> Int {
        seam(.unlink, -1) { _ in Int(cevent_unlink(path)) }
    }
    static func shutdown(_ fd: Int32, _ how: Int32) -> Int { seam(.shutdown, fd) { _ in Int(cevent_shutdown(fd, how)) } }
    static func getsockname(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: UnsafeMutablePointer<socklen_t>) -> Int {
        seam(.getsockname, fd) { _ in Int(cevent_getsockname(fd, address, length)) }
    }
    static func getpeername(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: UnsafeMutablePointer<socklen_t>) -> Int {
        seam(.getpeername, fd) { _ in Int(cevent_getpeername(fd, address, length)) }
    }
    static func getsockopt(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: UnsafeMutablePointer<Int32>) -> Int {
        seam(.getsockopt, fd) { _ in Int(cevent_getsockopt_int(fd, level, name, value)) }
    }
    static func setsockopt(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Int {
        seam(.setsockopt, fd) { _ in Int(cevent_setsockopt_int(fd, level, name, value)) }
    }
    @inlinable
    static func send(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
        seam(.send, fd, count: count) { cevent_send(fd, buffer, UInt($0), 0) }
    }
    @inlinable
    static func recv(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int, flags: Int32 = 0) -> Int {
        seam(.recv, fd, count: count) { cevent_recv(fd, buffer, UInt($0), flags) }
    }
    static func sendto(
        _ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int, _ address: UnsafePointer<sockaddr>, _ length: socklen_t
    ) -> Int {
        seam(.sendto, fd, count: count) { cevent_sendto(fd, buffer, UInt($0), 0, address, length) }
    }
    static func recvfrom(
        _ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int, _ flags: Int32,
        _ address: UnsafeMutablePointer<sockaddr>, _ length: UnsafeMutablePointer<socklen_t>
    ) -> Int {
        seam(.recvfrom, fd, count: count) { cevent_recvfrom(fd, buffer, UInt($0), flags, address, length) }
    }

    // MARK: io_uring

    static func uringSetup(_ entries: UInt32, _ completions: UInt32, _ ring: UnsafeMutablePointer<cevent_uring>) -> Int {
        seam(.ioUringSetup, -1) { _ in Int(cevent_uring_setup(entries, completions, ring)) }
    }
    static func uringEnter(_ fd: Int32, _ toSubmit: UInt32, _ minComplete: UInt32, _ timeoutNanoseconds: Int64) -> Int {
        seam(.ioUringEnter, fd) { _ in Int(cevent_uring_enter(fd, toSubmit, minComplete, timeoutNanoseconds)) }
    }
    static func uringCancel(_ fd: Int32, _ userData: UInt64, every: Bool = false) -> Int {
        seam(.ioUringRegister, fd) { _ in Int(cevent_uring_cancel(fd, userData, every ? 1 : 0)) }
    }
    static func uringSetUpBuffers(_ ring: UnsafeMutablePointer<cevent_uring>, _ entries: UInt32, _ size: UInt32) -> Int {
        seam(.ioUringRegister, ring.pointee.fd) { _ in Int(cevent_uring_setup_buffers(ring, entries, size)) }
    }
    /// A completion's result as read from the ring, which a script may replace
    /// with an errno. `fd`: the descriptor the operation acted on; `call`:
    /// `.ioUringPoll`, `.ioUringReceive` or `.ioUringSend`.
    @inline(__always)
    static func uringCompletion(_ fd: Int32, _ result: Int32, _ call: SystemCall) -> Int32 {
        Int32(truncatingIfNeeded: seam(call, fd) { _ in Int(result) })
    }

    // MARK: Multiplexers

    static func epollCreate() -> Int { seam(.epollCreate, -1) { _ in Int(cevent_epoll_create()) } }
    @inlinable
    static func epollCtl(_ epfd: Int32, _ op: Int32, _ fd: Int32, _ events: UInt32, _ data: UInt64) -> Int {
        seam(.epollCtl, fd) { _ in Int(cevent_epoll_ctl(epfd, op, fd, events, data)) }
    }
    @inlinable
    static func epollWait(_ epfd: Int32, _ events: UnsafeMutablePointer<epoll_event>, _ capacity: Int32, _ timeoutNanoseconds: Int64) -> Int {
        seam(.epollWait, epfd) { _ in Int(cevent_epoll_pwait2(epfd, events, capacity, timeoutNanoseconds)) }
    }
    static func poll(_ fds: UnsafeMutablePointer<pollfd>?, _ count: Int, _ timeoutNanoseconds: Int64) -> Int {
        seam(.poll, -1) { _ in Int(cevent_poll(fds, UInt(count), timeoutNanoseconds)) }
    }
    static func select(
        _ nfds: Int32, _ readable: UnsafeMutablePointer<fd_set>?, _ writable: UnsafeMutablePointer<fd_set>?,
        _ timeoutNanoseconds: Int64
    ) -> Int {
        seam(.select, -1) { _ in Int(cevent_select(nfds, readable, writable, nil, timeoutNanoseconds)) }
    }

    // MARK: eventfd, timerfd, signalfd, signals

    static func eventfd(_ initial: UInt32, _ flags: Int32) -> Int { seam(.eventfd, -1) { _ in Int(cevent_eventfd(initial, flags)) } }
    static func eventfdRead(_ fd: Int32, _ value: UnsafeMutablePointer<UInt64>) -> Int {
        seam(.eventfdRead, fd) { _ in Int(cevent_eventfd_read(fd, value)) }
    }
    static func eventfdWrite(_ fd: Int32, _ value: UInt64) -> Int {
        seam(.eventfdWrite, fd) { _ in Int(cevent_eventfd_write(fd, value)) }
    }
    static func timerfdCreate(_ clock: Int32, _ flags: Int32) -> Int {
        seam(.timerfdCreate, -1) { _ in Int(cevent_timerfd_create(clock, flags)) }
    }
    static func timerfdSettime(_ fd: Int32, _ initial: Int64, _ interval: Int64, absolute: Bool) -> Int {
        seam(.timerfdSettime, fd) { _ in Int(cevent_timerfd_settime(fd, initial, interval, absolute ? 1 : 0)) }
    }
    static func timerfdGettime(_ fd: Int32, _ remaining: UnsafeMutablePointer<Int64>, _ interval: UnsafeMutablePointer<Int64>) -> Int {
        seam(.timerfdGettime, fd) { _ in Int(cevent_timerfd_gettime(fd, remaining, interval)) }
    }
    static func timerfdRead(_ fd: Int32, _ expirations: UnsafeMutablePointer<UInt64>) -> Int {
        seam(.timerfdRead, fd) { _ in Int(cevent_timerfd_read(fd, expirations)) }
    }
    static func signalfd(_ fd: Int32, _ mask: UnsafePointer<sigset_t>, _ flags: Int32) -> Int {
        seam(.signalfd, fd) { _ in Int(cevent_signalfd(fd, mask, flags)) }
    }
    static func signalfdRead(_ fd: Int32, _ info: UnsafeMutablePointer<signalfd_siginfo>) -> Int {
        seam(.signalfdRead, fd) { _ in Int(cevent_signalfd_read(fd, info)) }
    }
    static func sigmask(_ how: Int32, _ set: UnsafePointer<sigset_t>?, _ old: UnsafeMutablePointer<sigset_t>?) -> Int {
        seam(.sigmask, -1) { _ in Int(cevent_sigmask(how, set, old)) }
    }
    static func sigpending(_ set: UnsafeMutablePointer<sigset_t>) -> Int {
        seam(.sigpending, -1) { _ in Int(cevent_sigpending(set)) }
    }
    static func kill(_ pid: Int32?, _ signal: Int32) -> Int {
        seam(.kill, -1) { _ in Int(pid.map { cevent_kill($0, signal) } ?? cevent_kill_self(signal)) }
    }

    static func signalCatch(_ signal: Int32, _ previous: UnsafeMutablePointer<sigaction>) -> Int {
        seam(.sigaction, -1) { _ in Int(cevent_signal_catch(signal, previous)) }
    }
    static func sigaction(_ signal: Int32, _ action: UnsafePointer<sigaction>?, _ previous: UnsafeMutablePointer<sigaction>?) -> Int {
        seam(.sigaction, -1) { _ in Int(cevent_sigaction(signal, action, previous)) }
    }
    static func sigtimedwait(_ set: UnsafePointer<sigset_t>, _ timeoutNanoseconds: Int64) -> Int {
        seam(.sigtimedwait, -1) { _ in Int(cevent_sigtimedwait(set, timeoutNanoseconds)) }
    }
    static func signalPipeRead(_ fd: Int32, _ record: UnsafeMutablePointer<cevent_signal_record>) -> Int {
        seam(.signalPipeRead, fd) { _ in Int(cevent_signal_record_read(fd, record)) }
    }

    /// `sched_yield(2)`: gives the core to another thread. Not scriptable: it
    /// cannot fail, and nothing could be learnt from scripting it.
    @inline(__always)
    static func yieldProcessor() { _ = sched_yield() }

    // MARK: futex (not scriptable)
    //
    // Only `AdaptiveLock` calls these, and no `FaultScript` sees them: a script
    // could change nothing (the lock treats every result, `EAGAIN` and `EINTR`
    // included, as "look at the word again"); intercepting takes the script's
    // own lock and records the call, which a lock's slow path must not depend
    // on; and whether a lock was contended is timing, which would make the
    // traces that tests compare differ from run to run.

    /// `futex(2)` `FUTEX_WAIT_PRIVATE`: sleeps while the 32-bit word at `word`
    /// holds `expected`, until a wake-up, a signal, or spuriously. Returns 0
    /// or -errno (`-EAGAIN` when the word no longer held `expected`).
    @inline(__always)
    static func futexWait(_ word: UnsafeMutableRawPointer, expected: UInt32) -> Int {
        Int(cevent_futex_wait(word, expected))
    }

    /// `futex(2)` `FUTEX_WAKE_PRIVATE`: wakes at most `count` threads sleeping
    /// on the word at `word`. Returns how many it woke, or -errno.
    @inline(__always)
    static func futexWake(_ word: UnsafeMutableRawPointer, count: Int32) -> Int {
        Int(cevent_futex_wake(word, count))
    }
}

// CEventShim: the few things Swift cannot import or call safely on Linux.
//
// Convention for every function here: a result >= 0 means success, a
// negative result is -errno. Swift therefore never reads the global errno,
// which another call (even a retain/release in the runtime) could clobber.
// The shim makes no decisions: no loops, no retries, no allocation, no logging.
// Every descriptor it creates is close-on-exec.
#ifndef CEVENT_SHIM_H
#define CEVENT_SHIM_H

#include <stdint.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <poll.h>

// MARK: - epoll
// Glibc's Swift module does not import <sys/epoll.h>, so this header is the
// only way in. `struct epoll_event` is packed on x86_64: copy it by value,
// never form a pointer to one of its fields.

static const uint32_t cevent_EPOLLIN = EPOLLIN;
static const uint32_t cevent_EPOLLOUT = EPOLLOUT;
static const uint32_t cevent_EPOLLERR = EPOLLERR;
static const uint32_t cevent_EPOLLHUP = EPOLLHUP;
static const uint32_t cevent_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t cevent_EPOLLPRI = EPOLLPRI;
static const uint32_t cevent_EPOLLET = EPOLLET;
static const uint32_t cevent_EPOLLONESHOT = EPOLLONESHOT;
static const uint32_t cevent_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE;
static const int cevent_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
static const int cevent_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
static const int cevent_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

/// epoll_create1(EPOLL_CLOEXEC). Returns the descriptor or -errno.
int cevent_epoll_create(void);
/// epoll_ctl with a 64-bit user value in data.u64. Returns 0 or -errno.
int cevent_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// epoll_wait with a millisecond timeout (-1 blocks). Returns the count or -errno.
int cevent_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout_ms);
/// epoll_pwait2 with a nanosecond timeout (< 0 blocks). Where the kernel lacks
/// the call (ENOSYS) it falls back to epoll_pwait with the timeout rounded UP
/// to whole milliseconds, so it never returns before the timeout.
int cevent_epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, int64_t timeout_ns);
/// Reads event `index` of an array filled by a wait, by value (the struct is packed).
static inline void cevent_epoll_event_get(const struct epoll_event *events, int index,
                                          uint32_t *flags, uint64_t *data) {
    struct epoll_event copy = events[index];
    *flags = copy.events;
    *data = copy.data.u64;
}
/// 1 when the running kernel had no epoll_pwait2 and the fallback is in use.
int cevent_epoll_pwait2_fell_back(void);

// MARK: - fd_set
// The FD_* macros are undefined behaviour outside [0, FD_SETSIZE); these
// refuse such a descriptor with -EINVAL instead.

static const int cevent_FD_SETSIZE = FD_SETSIZE;
/// FD_ZERO.
void cevent_FD_ZERO(fd_set *set);
/// FD_SET. Returns 0, or -EINVAL for fd < 0 or fd >= FD_SETSIZE.
int cevent_FD_SET(int fd, fd_set *set);
/// FD_CLR. Returns 0, or -EINVAL for fd < 0 or fd >= FD_SETSIZE.
int cevent_FD_CLR(int fd, fd_set *set);
/// FD_ISSET. Returns 1 or 0, or -EINVAL for fd < 0 or fd >= FD_SETSIZE.
int cevent_FD_ISSET(int fd, const fd_set *set);
/// select(2) with a nanosecond timeout (< 0 blocks); microseconds rounded up.
int cevent_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, int64_t timeout_ns);
/// pselect(2) with a nanosecond timeout (< 0 blocks) and an optional signal mask.
int cevent_pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
                   int64_t timeout_ns, const sigset_t *sigmask);

// MARK: - poll

static const short cevent_POLLIN = POLLIN;
static const short cevent_POLLOUT = POLLOUT;
static const short cevent_POLLERR = POLLERR;
static const short cevent_POLLHUP = POLLHUP;
static const short cevent_POLLNVAL = POLLNVAL;
static const short cevent_POLLPRI = POLLPRI;
// POLLRDHUP is only visible with _GNU_SOURCE, which a header must not force on its includers.
static const short cevent_POLLRDHUP = 0x2000;
/// ppoll(2) with a nanosecond timeout (< 0 blocks). Returns the count or -errno.
int cevent_poll(struct pollfd *fds, unsigned long nfds, int64_t timeout_ns);

// MARK: - fcntl (variadic in C, so Swift cannot call it)

/// 1 when O_NONBLOCK is set, 0 when not, or -errno.
int cevent_get_nonblocking(int fd);
/// Sets or clears O_NONBLOCK. Returns 0 or -errno.
int cevent_set_nonblocking(int fd, int on);
/// 1 when FD_CLOEXEC is set, 0 when not, or -errno.
int cevent_get_cloexec(int fd);
/// Sets or clears FD_CLOEXEC. Returns 0 or -errno.
int cevent_set_cloexec(int fd, int on);
/// F_GETFL: the status flags, or -errno.
int cevent_get_status_flags(int fd);
/// F_SETFL. Returns 0 or -errno.
int cevent_set_status_flags(int fd, int flags);
/// F_DUPFD_CLOEXEC: a close-on-exec duplicate, or -errno.
int cevent_dup(int fd);

// MARK: - eventfd, timerfd, signalfd

static const int cevent_EFD_SEMAPHORE = 1; /* EFD_SEMAPHORE */
static const int cevent_EFD_NONBLOCK = 04000; /* EFD_NONBLOCK == O_NONBLOCK */
/// eventfd(initval, flags | EFD_CLOEXEC). Returns the descriptor or -errno.
int cevent_eventfd(unsigned int initval, int flags);
/// Adds `value` to the counter with one 8-byte write. Returns 0 or -errno
/// (-EAGAIN when the counter would pass 0xfffffffffffffffe on a non-blocking fd;
/// -EINVAL for value 0xffffffffffffffff).
int cevent_eventfd_write(int fd, uint64_t value);
/// Reads the counter (resetting it, or decrementing by 1 in semaphore mode)
/// with one 8-byte read. Returns 0 or -errno (-EAGAIN when it is zero).
int cevent_eventfd_read(int fd, uint64_t *value);

/// timerfd_create(clockid, flags | TFD_CLOEXEC). Returns the descriptor or -errno.
int cevent_timerfd_create(int clockid, int flags);
/// Arms the timer: first expiry after `initial_ns` (relative, or absolute
/// with `absolute` != 0), then every `interval_ns` (0: one-shot). Both 0 disarms.
int cevent_timerfd_settime(int fd, int64_t initial_ns, int64_t interval_ns, int absolute);
/// The time left to the next expiry and the interval, in ns. Returns 0 or -errno.
int cevent_timerfd_gettime(int fd, int64_t *remaining_ns, int64_t *interval_ns);
/// Reads the number of expirations since the last read. Returns 0 or -errno.
int cevent_timerfd_read(int fd, uint64_t *expirations);

/// pthread_sigmask(how, set, old). Returns 0 or -errno.
int cevent_sigmask(int how, const sigset_t *set, sigset_t *old);
/// signalfd(fd, mask, flags | SFD_CLOEXEC); fd -1 makes a new one.
int cevent_signalfd(int fd, const sigset_t *mask, int flags);
/// Reads one signalfd_siginfo. Returns 0 or -errno.
int cevent_signalfd_read(int fd, struct signalfd_siginfo *info);
/// sigemptyset. Returns 0 or -errno.
int cevent_sigset_empty(sigset_t *set);
/// sigaddset. Returns 0 or -errno (-EINVAL for a signal number out of range).
int cevent_sigset_add(sigset_t *set, int signo);
/// sigismember: 1, 0, or -errno.
int cevent_sigset_contains(const sigset_t *set, int signo);
/// sigpending(2) into `set`. Returns 0 or -errno.
int cevent_sigpending(sigset_t *set);
/// kill(getpid(), signo): a process-directed signal. Returns 0 or -errno.
int cevent_kill_self(int signo);
/// kill(pid, signo). Returns 0 or -errno.
int cevent_kill(int pid, int signo);

// MARK: - caught signals (the loop's self-pipe)
// Why these exist: a signalfd sees a signal only while every thread that could
// take it blocks it, and threads the package never started (Swift's concurrency
// pool, a runtime's helpers) do not. So the loop catches a signal with a handler
// on whichever thread the kernel picks, and the handler writes a small record
// into a pipe the loop watches (the design of libuv, tokio and asyncio). A
// handler may only do async-signal-safe things, so it lives here, in C: lock-free
// atomics and write(2), nothing else. Swift decides everything around it.

/// One caught delivery, as the catcher writes it into the pipe routed for its
/// signal: 24 bytes, far below PIPE_BUF, so each write lands whole or not at all
/// and the pipe only ever holds whole records.
struct cevent_signal_record {
    int32_t signo;    // the signal number
    int32_t pid;      // si_pid: the sender, where the kernel knows it
    uint32_t uid;     // si_uid: the sender's real user
    int32_t code;     // si_code: how it was sent (SI_USER, SI_TKILL, ...)
    uint32_t tag;     // the route's tag when the record was written
    uint32_t unused;  // zero; keeps the size a multiple of 8
};

/// Signal numbers are 1 ..< cevent_SIGNAL_LIMIT on Linux (_NSIG).
static const int cevent_SIGNAL_LIMIT = 65;
/// What `cevent_sigaction_kind` reports.
static const int cevent_SIGACTION_DEFAULT = 0;   // SIG_DFL
static const int cevent_SIGACTION_IGNORE = 1;    // SIG_IGN
static const int cevent_SIGACTION_CATCHER = 2;   // this shim's catcher
static const int cevent_SIGACTION_OTHER = 3;     // someone else's handler

/// Routes `signo`'s caught deliveries to the pipe write end `fd` (which must be
/// non-blocking), each record stamped with `tag`; `fd` -1 routes them nowhere
/// (the catcher then drops them). Fd and tag are stored as one atomic word, so
/// the catcher always sees a matching pair. Returns 0, or -EINVAL for `signo`
/// outside 1 ..< cevent_SIGNAL_LIMIT or `fd` < -1.
int cevent_signal_route(int signo, int fd, uint32_t tag);
/// How many catcher calls for `signo` are running right now, on any thread, or
/// -EINVAL for a bad number. A catcher counts itself in before it reads its
/// signal's route and out after its write, so once a route is cleared and this
/// reads 0, no catcher will write to the descriptor that route named (both
/// sides use sequentially consistent atomics). Counted per signal, so a flood
/// of another signal cannot keep the count above 0: once the signal's own
/// action is no longer the catcher, only calls already under way remain.
int cevent_signal_catchers_running(int signo);
/// Installs the catcher for `signo` with sigaction(2): SA_SIGINFO (the record
/// needs the sender), SA_RESTART (a slow call it interrupts on another thread
/// resumes rather than failing with EINTR), every signal blocked while it runs
/// (it never nests on a thread). The action it replaced goes to *previous.
/// Returns 0 or -errno (-EINVAL for SIGKILL, SIGSTOP, the C library's own
/// signals, or a bad number).
int cevent_signal_catch(int signo, struct sigaction *previous);
/// sigaction(2): installs *action unless it is NULL, and stores the action in
/// force before the call in *previous unless that is NULL. Returns 0 or -errno.
int cevent_sigaction(int signo, const struct sigaction *action, struct sigaction *previous);
/// Which kind of action *action is: cevent_SIGACTION_DEFAULT, _IGNORE, _CATCHER
/// or _OTHER. Exists because SIG_DFL and SIG_IGN are casts of integers to
/// function pointers and sa_handler is a union member, neither of which Swift
/// can compare portably.
int cevent_sigaction_kind(const struct sigaction *action);
/// SIGRTMIN, the first real-time signal the C library leaves to programs (it
/// keeps the ones below it, from 32, for its threads). A function-like macro in C.
int cevent_sigrtmin(void);
/// sigtimedwait(2) with a nanosecond timeout (0 polls, < 0 blocks): takes one
/// pending signal of `set` off the thread's or the process's pending set.
/// Returns the signal number, or -errno (-EAGAIN when none came in time).
int cevent_sigtimedwait(const sigset_t *set, int64_t timeout_ns);
/// Reads one record from a signal pipe. Returns 0 or -errno (-EAGAIN when the
/// pipe is empty, -EIO for a short read, which whole-record writes rule out).
int cevent_signal_record_read(int fd, struct cevent_signal_record *record);
/// sched_yield(2): lets another thread run. Returns 0 or -errno.
int cevent_sched_yield(void);

// MARK: - futex
// glibc has no futex(2) wrapper, and Swift cannot call the variadic
// syscall(2). The submission queue's lock sleeps and wakes with these.
// Private futexes: the word never leaves the process.

/// futex(2) FUTEX_WAIT_PRIVATE on the 32-bit word at `word`: sleeps while it
/// holds `expected`, until a FUTEX_WAKE on it, a signal, or spuriously.
/// Returns 0 or -errno (-EAGAIN: the word did not hold `expected`; -EINTR).
int cevent_futex_wait(void *word, uint32_t expected);
/// futex(2) FUTEX_WAKE_PRIVATE: wakes at most `count` threads sleeping on the
/// word at `word`. Returns how many it woke, or -errno.
int cevent_futex_wake(void *word, int count);

// MARK: - descriptors and sockets

/// pipe2(fds, flags | O_CLOEXEC). Returns 0 or -errno.
int cevent_pipe2(int fds[2], int flags);
/// socketpair(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol, fds).
int cevent_socketpair(int domain, int type, int protocol, int fds[2]);
/// socket(domain, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), protocol).
int cevent_socket(int domain, int type, int protocol, int nonblocking);
/// accept4(fd, addr, len, flags | SOCK_CLOEXEC). Returns the descriptor or -errno.
int cevent_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int cevent_bind(int fd, const struct sockaddr *addr, socklen_t len);
int cevent_listen(int fd, int backlog);
int cevent_connect(int fd, const struct sockaddr *addr, socklen_t len);
int cevent_shutdown(int fd, int how);
int cevent_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int cevent_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
/// getsockopt for an int-valued option; the value lands in *value.
int cevent_getsockopt_int(int fd, int level, int name, int *value);
/// setsockopt for an int-valued option.
int cevent_setsockopt_int(int fd, int level, int name, int value);
/// read(2). Returns the byte count or -errno.
long cevent_read(int fd, void *buf, unsigned long count);
/// write(2) that never raises SIGPIPE: a socket is written with
/// send(MSG_NOSIGNAL); anything else with SIGPIPE blocked on the calling thread
/// for the call, and the SIGPIPE an EPIPE leaves pending taken back. Returns
/// the byte count or -errno (-EPIPE when the reader has gone).
long cevent_write(int fd, const void *buf, unsigned long count);
/// send(2) with MSG_NOSIGNAL, so a closed peer gives -EPIPE, not SIGPIPE.
long cevent_send(int fd, const void *buf, unsigned long count, int flags);
long cevent_recv(int fd, void *buf, unsigned long count, int flags);
long cevent_sendto(int fd, const void *buf, unsigned long count, int flags,
                   const struct sockaddr *addr, socklen_t len);
long cevent_recvfrom(int fd, void *buf, unsigned long count, int flags,
                     struct sockaddr *addr, socklen_t *len);
/// unlink(2). Returns 0 or -errno.
int cevent_unlink(const char *path);
/// stat(2), reduced to the file's identity: its device and inode numbers.
/// Returns 0 or -errno.
int cevent_file_identity(const char *path, uint64_t *device, uint64_t *inode);
/// lstat(2): what `path` names itself (a symbolic link is not followed),
/// reduced to its device and inode numbers and its st_mode (type and
/// permission bits). Returns 0 or -errno.
int cevent_lstat(const char *path, uint64_t *device, uint64_t *inode, uint32_t *mode);
/// close(2). Returns 0 or -errno. Never retry it: on Linux the descriptor is
/// gone even when close reports EINTR.
int cevent_close(int fd);
/// open(path, flags | O_CLOEXEC, mode). Returns the descriptor or -errno.
int cevent_open(const char *path, int flags, int mode);

// MARK: - clock

/// CLOCK_MONOTONIC in nanoseconds.
int64_t cevent_monotonic_ns(void);
/// The calling thread's kernel thread id (gettid).
int cevent_gettid(void);

// MARK: - fault injection
// How many fault scripts are active in the process. The Swift seam reads it
// before every system call: while it is 0 (always, outside tests) a call costs
// one relaxed load more. A plain C global, because a Swift global is
// initialized lazily and every read of one checks that it was.

extern int cevent_fault_scripts_armed;
/// The number of active fault scripts (relaxed load).
static inline int cevent_fault_armed(void) {
    return __atomic_load_n(&cevent_fault_scripts_armed, __ATOMIC_RELAXED);
}
/// The fault script a running loop applies on its thread (an opaque Swift
/// object, unretained), or NULL. Thread-local: tasks that the loop runs see
/// it, which a Swift task-local value set around the loop would not reach.
void *cevent_fault_thread_script(void);
/// Sets the calling thread's fault script (see above); returns the previous one.
void *cevent_fault_set_thread_script(void *script);
/// Adds `delta` (+1 or -1) to the number of active fault scripts.
static inline void cevent_fault_arm(int delta) {
    __atomic_fetch_add(&cevent_fault_scripts_armed, delta, __ATOMIC_RELAXED);
}

// MARK: Threads (the loop group)

/// sched_getaffinity(0): how many CPUs the calling process may run on
/// (CPU_COUNT of its mask). Returns the count (>= 1) or -errno.
int cevent_cpu_count(void);
/// The CPU numbers the process may run on, in order, into `cpus` (room for
/// `capacity`). Returns how many were written or -errno.
int cevent_allowed_cpus(int *cpus, int capacity);
/// pthread_setaffinity_np(pthread_self()): pins the calling thread to `cpu`.
/// Returns 0, -EINVAL for a CPU outside 0..<CPU_SETSIZE, or -errno.
int cevent_pin_thread(int cpu);
/// pthread_setname_np(pthread_self()): names the calling thread (at most 15
/// bytes are kept, as the kernel allows). Returns 0 or -errno.
int cevent_name_thread(const char *name);

// MARK: - io_uring
// No liburing: these map the rings io_uring_setup(2) shares with the kernel and
// fill or read their entries with the barriers the ring heads need (a release
// store publishes a tail or head, an acquire load reads the kernel's). Swift
// holds the struct and passes it back; it never touches the kernel's memory.

/// One io_uring instance's mapped rings. Fields are the shim's; read only
/// `fd` and `features` from Swift.
struct cevent_uring {
    int fd;
    uint32_t features;
    uint32_t sq_entries;
    uint32_t cq_entries;
    uint32_t sq_mask;
    uint32_t cq_mask;
    /// Submissions filled but not yet published to the kernel.
    uint32_t sq_local_tail;
    uint32_t *sq_head, *sq_tail, *sq_flags, *sq_array;
    uint32_t *cq_head, *cq_tail;
    void *sqes, *cqes;
    void *sq_map, *cq_map;
    uint64_t sq_map_size, cq_map_size, sqes_size;
    /// The provided-buffer ring (group 0) and its buffers, once set up.
    void *buf_ring;
    unsigned char *buf_base;
    uint32_t buf_entries, buf_size;
    uint16_t buf_tail;
};

static const uint32_t cevent_IORING_FEAT_NODROP = 1U << 1;
static const uint32_t cevent_IORING_FEAT_EXT_ARG = 1U << 8;
static const uint32_t cevent_IORING_CQE_F_MORE = 1U << 1;
static const uint32_t cevent_IORING_CQE_F_BUFFER = 1U << 0;

/// io_uring_setup(2) with `entries` submissions and `cq_entries` completions
/// (IORING_SETUP_CQSIZE, with IORING_SETUP_COOP_TASKRUN where the kernel has
/// it), then the mmaps of both rings and the submission array. Fills `ring`.
/// Returns the ring's descriptor, or -errno (nothing left open or mapped).
int cevent_uring_setup(uint32_t entries, uint32_t cq_entries, struct cevent_uring *ring);
/// Unmaps the rings (the descriptor is the caller's to close).
void cevent_uring_unmap(struct cevent_uring *ring);
/// Fills the next submission with IORING_OP_POLL_ADD for `fd` and `events`
/// (poll(2) bits), multishot when `multishot` is 1. Returns 0, or -EBUSY when
/// every submission is filled and unsubmitted.
int cevent_uring_prep_poll_add(struct cevent_uring *ring, int fd, uint32_t events, int multishot, uint64_t user_data);
/// io_uring_register(IORING_REGISTER_SYNC_CANCEL) of every request whose user
/// data is `user_data` (IORING_ASYNC_CANCEL_ALL), no time limit: returns once
/// each has ended (a request the kernel was completing at that moment is
/// waited for); with `every` 1, every request of the ring whatever its user
/// data (IORING_ASYNC_CANCEL_ANY). Returns 0 or how many were cancelled
/// (kernels differ), -ENOENT when none was found, or -errno (-EINVAL: a
/// kernel before 6.0).
int cevent_uring_cancel(int fd, uint64_t user_data, int every);
/// Sets up a ring of `entries` (a power of two, at most 32,768) provided
/// buffers of `size` bytes each (IORING_REGISTER_PBUF_RING, group 0, Linux
/// 5.19+) and hands every buffer to the kernel. Returns 0 or -errno
/// (nothing left mapped).
int cevent_uring_setup_buffers(struct cevent_uring *ring, uint32_t entries, uint32_t size);
/// Buffer `id`'s memory (the kernel filled it, a completion said how much).
const void *cevent_uring_buffer(const struct cevent_uring *ring, uint16_t id);
/// Gives buffer `id` back to the kernel (a release store of the buffer ring's tail).
void cevent_uring_recycle_buffer(struct cevent_uring *ring, uint16_t id);
/// Fills the next submission with an IORING_OP_RECV on `fd` into a buffer of
/// group 0 (IOSQE_BUFFER_SELECT), multishot (IORING_RECV_MULTISHOT) when
/// `multishot` is 1. A completion with bytes carries IORING_CQE_F_BUFFER and
/// the buffer's id in its upper 16 flag bits. Returns 0, or -EBUSY when every
/// submission is filled.
int cevent_uring_prep_recv(struct cevent_uring *ring, int fd, uint64_t user_data, int multishot);
/// Fills the next submission with an IORING_OP_SEND of `count` bytes at
/// `bytes` on the socket `fd`, with MSG_NOSIGNAL. The memory must stay as it
/// is until the completion (or a synchronous cancel) says the kernel is done
/// with it. On a full socket the kernel waits for room itself (no -EAGAIN);
/// the completion's result is the count sent (possibly short) or -errno.
/// Returns 0, or -EBUSY when every submission is filled.
int cevent_uring_prep_send(struct cevent_uring *ring, int fd, const void *bytes, uint32_t count, uint64_t user_data);
/// Fills the next submission with an IORING_OP_ACCEPT on the listening
/// socket `fd` (no peer address asked for), the new socket non-blocking and
/// close-on-exec; multishot (IORING_ACCEPT_MULTISHOT, Linux 5.19+) when
/// `multishot` is 1: one completion per connection, each result a new
/// descriptor the caller owns (or -errno), IORING_CQE_F_MORE while it stays
/// armed. Returns 0, or -EBUSY when every submission is filled.
int cevent_uring_prep_accept(struct cevent_uring *ring, int fd, uint64_t user_data, int multishot);
/// Publishes the filled submissions; returns how many the kernel has not consumed.
uint32_t cevent_uring_publish(struct cevent_uring *ring);
/// io_uring_enter(2): submits `to_submit`; when `min_complete` > 0, waits for
/// that many completions at most `timeout_ns` (< 0: no limit), through
/// IORING_ENTER_EXT_ARG. Always runs the ring's pending completion work
/// (IORING_ENTER_GETEVENTS). Returns how many were submitted, or -errno
/// (-ETIME: the timeout passed; -EINTR: a signal).
int cevent_uring_enter(int fd, uint32_t to_submit, uint32_t min_complete, int64_t timeout_ns);
/// How many completions are ready to read.
uint32_t cevent_uring_ready(const struct cevent_uring *ring);
/// Reads the completion `index` places past the head (below cevent_uring_ready).
void cevent_uring_completion(const struct cevent_uring *ring, uint32_t index,
                             uint64_t *user_data, int32_t *result, uint32_t *flags);
/// Consumes `count` completions (a release store of the head).
void cevent_uring_advance(struct cevent_uring *ring, uint32_t count);
/// 1 when the kernel holds completions the ring had no room for (IORING_SQ_CQ_OVERFLOW).
int cevent_uring_overflowed(const struct cevent_uring *ring);

#endif

// Thin wrappers: each calls one system call and turns -1 into -errno.
#define _GNU_SOURCE
#include "CEventShim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

_Static_assert(sizeof(uint64_t) == 8, "eventfd I/O is exactly 8 bytes");
_Static_assert(sizeof(((struct epoll_event *)0)->data.u64) == 8, "epoll user data is 64 bits");
_Static_assert(sizeof(struct signalfd_siginfo) == 128, "signalfd reads 128-byte records");
_Static_assert(EFD_NONBLOCK == 04000, "cevent_EFD_NONBLOCK must match EFD_NONBLOCK");
_Static_assert(EFD_SEMAPHORE == 1, "cevent_EFD_SEMAPHORE must match EFD_SEMAPHORE");
_Static_assert(POLLRDHUP == 0x2000, "cevent_POLLRDHUP must match POLLRDHUP");
_Static_assert(sizeof(mode_t) <= sizeof(uint32_t), "cevent_lstat hands st_mode over as 32 bits");

#define RESULT(expr) do { long r_ = (long)(expr); return r_ < 0 ? -errno : r_; } while (0)

// Time conversions from nanoseconds. None can overflow, whatever the input:
// a negative count converts as zero (callers that mean "no timeout" by it pass
// NULL instead), and INT64_MAX ns (about 292 years) fits every C time type the
// kernel accepts (the kernel saturates at its own maximum). Rounding is up, so
// a wait is never cut short and a sub-unit timeout never becomes a busy poll.

static inline struct timespec to_timespec(int64_t ns) {
    if (ns < 0) ns = 0;
    struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
    return ts;
}

// ceil(ns / unit) without the overflow of (ns + unit - 1) / unit near INT64_MAX.
static inline int64_t divide_rounding_up(int64_t ns, int64_t unit) {
    if (ns < 0) return 0;
    return ns / unit + (ns % unit != 0);
}

static inline struct timeval to_timeval(int64_t ns) {
    int64_t us = divide_rounding_up(ns, 1000);
    struct timeval tv = { .tv_sec = us / 1000000, .tv_usec = us % 1000000 };
    return tv;
}

// Whole milliseconds for the epoll_pwait fallback, saturating at INT32_MAX (about 24.8 days).
static inline int to_milliseconds(int64_t ns) {
    int64_t ms = divide_rounding_up(ns, 1000000);
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

// MARK: epoll

int cevent_epoll_create(void) { RESULT(epoll_create1(EPOLL_CLOEXEC)); }

int cevent_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = { .events = events, .data = { .u64 = data } };
    // Before Linux 2.6.9 DEL required a non-NULL event; passing one always is harmless.
    RESULT(epoll_ctl(epfd, op, fd, &ev));
}

int cevent_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout_ms) {
    RESULT(epoll_wait(epfd, events, maxevents, timeout_ms));
}

// Set once the kernel has answered ENOSYS, so later waits skip the failing call.
static atomic_int pwait2_missing;

int cevent_epoll_pwait2_fell_back(void) { return atomic_load_explicit(&pwait2_missing, memory_order_relaxed); }

int cevent_epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, int64_t timeout_ns) {
    if (!atomic_load_explicit(&pwait2_missing, memory_order_relaxed)) {
        // Called through syscall(2): glibc's wrapper is newer than some libcs we build against.
        struct timespec ts = to_timespec(timeout_ns);
        long r = syscall(SYS_epoll_pwait2, epfd, events, maxevents, timeout_ns < 0 ? NULL : &ts, NULL, 0);
        if (r >= 0) return (int)r;
        if (errno != ENOSYS) return -errno;
        atomic_store_explicit(&pwait2_missing, 1, memory_order_relaxed);
    }
    // Fallback: round up, so a 1 ns timeout waits 1 ms rather than busy-polling.
    RESULT(epoll_pwait(epfd, events, maxevents, timeout_ns < 0 ? -1 : to_milliseconds(timeout_ns), NULL));
}

// MARK: fd_set

void cevent_FD_ZERO(fd_set *set) { FD_ZERO(set); }

int cevent_FD_SET(int fd, fd_set *set) {
    if (fd < 0 || fd >= FD_SETSIZE) return -EINVAL;
    FD_SET(fd, set);
    return 0;
}

int cevent_FD_CLR(int fd, fd_set *set) {
    if (fd < 0 || fd >= FD_SETSIZE) return -EINVAL;
    FD_CLR(fd, set);
    return 0;
}

int cevent_FD_ISSET(int fd, const fd_set *set) {
    if (fd < 0 || fd >= FD_SETSIZE) return -EINVAL;
    return FD_ISSET(fd, set) ? 1 : 0;
}

int cevent_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, int64_t timeout_ns) {
    struct timeval tv = to_timeval(timeout_ns);
    RESULT(select(nfds, readfds, writefds, exceptfds, timeout_ns < 0 ? NULL : &tv));
}

int cevent_pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
                   int64_t timeout_ns, const sigset_t *sigmask) {
    struct timespec ts = to_timespec(timeout_ns);
    RESULT(pselect(nfds, readfds, writefds, exceptfds, timeout_ns < 0 ? NULL : &ts, sigmask));
}

// MARK: poll

int cevent_poll(struct pollfd *fds, unsigned long nfds, int64_t timeout_ns) {
    struct timespec ts = to_timespec(timeout_ns);
    RESULT(ppoll(fds, (nfds_t)nfds, timeout_ns < 0 ? NULL : &ts, NULL));
}

// MARK: fcntl

int cevent_get_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -errno : ((flags & O_NONBLOCK) != 0);
}

int cevent_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -errno;
    int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (wanted == flags) return 0;
    RESULT(fcntl(fd, F_SETFL, wanted));
}

int cevent_get_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFD);
    return flags < 0 ? -errno : ((flags & FD_CLOEXEC) != 0);
}

int cevent_set_cloexec(int fd, int on) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return -errno;
    RESULT(fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC)));
}

int cevent_get_status_flags(int fd) { RESULT(fcntl(fd, F_GETFL)); }
int cevent_set_status_flags(int fd, int flags) { RESULT(fcntl(fd, F_SETFL, flags)); }
int cevent_dup(int fd) { RESULT(fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

// MARK: eventfd, timerfd, signalfd

int cevent_eventfd(unsigned int initval, int flags) { RESULT(eventfd(initval, flags | EFD_CLOEXEC)); }

int cevent_eventfd_write(int fd, uint64_t value) {
    ssize_t n = write(fd, &value, sizeof value);
    if (n < 0) return -errno;
    return n == sizeof value ? 0 : -EIO; // the kernel never writes part of the 8 bytes
}

int cevent_eventfd_read(int fd, uint64_t *value) {
    ssize_t n = read(fd, value, sizeof *value);
    if (n < 0) return -errno;
    return n == sizeof *value ? 0 : -EIO;
}

int cevent_timerfd_create(int clockid, int flags) { RESULT(timerfd_create(clockid, flags | TFD_CLOEXEC)); }

int cevent_timerfd_settime(int fd, int64_t initial_ns, int64_t interval_ns, int absolute) {
    if (initial_ns < 0 || interval_ns < 0) return -EINVAL;
    struct itimerspec spec = { .it_interval = to_timespec(interval_ns), .it_value = to_timespec(initial_ns) };
    RESULT(timerfd_settime(fd, absolute ? TFD_TIMER_ABSTIME : 0, &spec, NULL));
}

int cevent_timerfd_gettime(int fd, int64_t *remaining_ns, int64_t *interval_ns) {
    struct itimerspec spec;
    if (timerfd_gettime(fd, &spec) < 0) return -errno;
    *remaining_ns = (int64_t)spec.it_value.tv_sec * 1000000000 + spec.it_value.tv_nsec;
    *interval_ns = (int64_t)spec.it_interval.tv_sec * 1000000000 + spec.it_interval.tv_nsec;
    return 0;
}

int cevent_timerfd_read(int fd, uint64_t *expirations) {
    ssize_t n = read(fd, expirations, sizeof *expirations);
    if (n < 0) return -errno;
    return n == sizeof *expirations ? 0 : -EIO;
}

// pthread_sigmask reports its error as the return value, not in errno.
int cevent_sigmask(int how, const sigset_t *set, sigset_t *old) { return -pthread_sigmask(how, set, old); }

int cevent_signalfd(int fd, const sigset_t *mask, int flags) { RESULT(signalfd(fd, mask, flags | SFD_CLOEXEC)); }

int cevent_signalfd_read(int fd, struct signalfd_siginfo *info) {
    ssize_t n = read(fd, info, sizeof *info);
    if (n < 0) return -errno;
    return n == sizeof *info ? 0 : -EIO;
}

int cevent_sigset_empty(sigset_t *set) { RESULT(sigemptyset(set)); }
int cevent_sigset_add(sigset_t *set, int signo) { RESULT(sigaddset(set, signo)); }
int cevent_sigset_contains(const sigset_t *set, int signo) { RESULT(sigismember(set, signo)); }
int cevent_sigpending(sigset_t *set) { RESULT(sigpending(set)); }
int cevent_kill_self(int signo) { RESULT(kill(getpid(), signo)); }
int cevent_kill(int pid, int signo) { RESULT(kill(pid, signo)); }

// MARK: caught signals

_Static_assert(_NSIG == 65, "cevent_SIGNAL_LIMIT must match _NSIG");
_Static_assert(sizeof(struct cevent_signal_record) == 24, "signal records are 24 bytes");
_Static_assert(sizeof(struct cevent_signal_record) <= PIPE_BUF, "a record must be one atomic pipe write");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the catcher needs lock-free 64-bit atomics (async-signal-safe)");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the catcher needs lock-free int atomics (async-signal-safe)");
_Static_assert(sizeof(unsigned long long) == sizeof(uint64_t), "a route is one 64-bit word");

// Each signal's route, one word so the catcher reads fd and tag together:
// 0 routes nowhere, otherwise (tag << 32) | (write end + 1).
static _Atomic unsigned long long cevent_signal_routes[65];
_Static_assert(sizeof cevent_signal_routes / sizeof cevent_signal_routes[0] == _NSIG, "one route per signal number");
// Per signal, the catcher calls between counting themselves in and out; see
// cevent_signal_catchers_running.
static atomic_uint cevent_signal_catchers[65];

// The handler. Async-signal-safe: lock-free atomics, getting and setting
// errno, and write(2). It may run on any thread, at any point of that thread.
static void cevent_signal_catcher(int signo, siginfo_t *info, void *context) {
    (void)context;
    int saved_errno = errno; // write(2) may change errno under the code this interrupted
    // The kernel only calls this for signals it was installed for, all in range.
    atomic_fetch_add_explicit(&cevent_signal_catchers[signo], 1, memory_order_seq_cst);
    unsigned long long route = atomic_load_explicit(&cevent_signal_routes[signo], memory_order_seq_cst);
    unsigned int fd_plus_one = (unsigned int)(route & 0xffffffffu);
    if (fd_plus_one != 0) {
        struct cevent_signal_record record = {
            .signo = signo, .pid = info->si_pid, .uid = info->si_uid, .code = info->si_code,
            .tag = (uint32_t)(route >> 32), .unused = 0,
        };
        // The result is dropped on purpose: the write end is non-blocking, so the
        // only failure on a routed (hence open) pipe is EAGAIN, a full pipe, and
        // then this delivery merges with the records already waiting there.
        ssize_t written = write((int)(fd_plus_one - 1), &record, sizeof record);
        (void)written;
    }
    atomic_fetch_sub_explicit(&cevent_signal_catchers[signo], 1, memory_order_seq_cst);
    errno = saved_errno;
}

int cevent_signal_route(int signo, int fd, uint32_t tag) {
    if (signo <= 0 || signo >= cevent_SIGNAL_LIMIT || fd < -1) return -EINVAL;
    unsigned long long route = fd == -1 ? 0 : (((unsigned long long)tag << 32) | (unsigned int)(fd + 1));
    atomic_store_explicit(&cevent_signal_routes[signo], route, memory_order_seq_cst);
    return 0;
}

int cevent_signal_catchers_running(int signo) {
    if (signo <= 0 || signo >= cevent_SIGNAL_LIMIT) return -EINVAL;
    return (int)atomic_load_explicit(&cevent_signal_catchers[signo], memory_order_seq_cst);
}

int cevent_signal_catch(int signo, struct sigaction *previous) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = cevent_signal_catcher;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&action.sa_mask); // cannot fail for a valid pointer
    RESULT(sigaction(signo, &action, previous));
}

int cevent_sigaction(int signo, const struct sigaction *action, struct sigaction *previous) {
    RESULT(sigaction(signo, action, previous));
}

int cevent_sigaction_kind(const struct sigaction *action) {
    if (action->sa_flags & SA_SIGINFO) {
        return action->sa_sigaction == cevent_signal_catcher ? cevent_SIGACTION_CATCHER : cevent_SIGACTION_OTHER;
    }
    if (action->sa_handler == SIG_DFL) return cevent_SIGACTION_DEFAULT;
    if (action->sa_handler == SIG_IGN) return cevent_SIGACTION_IGNORE;
    return cevent_SIGACTION_OTHER;
}

int cevent_sigrtmin(void) { return SIGRTMIN; }

int cevent_sigtimedwait(const sigset_t *set, int64_t timeout_ns) {
    struct timespec ts = to_timespec(timeout_ns < 0 ? 0 : timeout_ns);
    RESULT(sigtimedwait(set, NULL, timeout_ns < 0 ? NULL : &ts));
}

int cevent_signal_record_read(int fd, struct cevent_signal_record *record) {
    ssize_t n = read(fd, record, sizeof *record);
    if (n < 0) return -errno;
    return n == sizeof *record ? 0 : -EIO;
}

int cevent_sched_yield(void) { RESULT(sched_yield()); }

// MARK: futex

int cevent_futex_wait(void *word, uint32_t expected) {
    RESULT(syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0));
}

int cevent_futex_wake(void *word, int count) {
    RESULT(syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0));
}

// MARK: descriptors and sockets

int cevent_pipe2(int fds[2], int flags) { RESULT(pipe2(fds, flags | O_CLOEXEC)); }

int cevent_socketpair(int domain, int type, int protocol, int fds[2]) {
    RESULT(socketpair(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol, fds));
}

int cevent_socket(int domain, int type, int protocol, int nonblocking) {
    RESULT(socket(domain, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), protocol));
}

int cevent_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    RESULT(accept4(fd, addr, len, flags | SOCK_CLOEXEC));
}

int cevent_bind(int fd, const struct sockaddr *addr, socklen_t len) { RESULT(bind(fd, addr, len)); }
int cevent_listen(int fd, int backlog) { RESULT(listen(fd, backlog)); }
int cevent_connect(int fd, const struct sockaddr *addr, socklen_t len) { RESULT(connect(fd, addr, len)); }
int cevent_shutdown(int fd, int how) { RESULT(shutdown(fd, how)); }
int cevent_getsockname(int fd, struct sockaddr *addr, socklen_t *len) { RESULT(getsockname(fd, addr, len)); }
int cevent_getpeername(int fd, struct sockaddr *addr, socklen_t *len) { RESULT(getpeername(fd, addr, len)); }

int cevent_getsockopt_int(int fd, int level, int name, int *value) {
    socklen_t len = sizeof *value;
    RESULT(getsockopt(fd, level, name, value, &len));
}

int cevent_setsockopt_int(int fd, int level, int name, int value) {
    RESULT(setsockopt(fd, level, name, &value, sizeof value));
}

long cevent_read(int fd, void *buf, unsigned long count) { RESULT(read(fd, buf, count)); }
// A write to a pipe or socket whose reader has gone raises SIGPIPE, whose
// default action ends the process. Sockets: send(MSG_NOSIGNAL) never raises
// it. Anything else (pipes, FIFOs, ttys): block SIGPIPE on this thread around
// the write, and if the write failed with EPIPE, take the SIGPIPE it left
// pending before restoring the mask, so the disposition and the other
// threads are never touched. When the thread already blocked SIGPIPE, a
// pending one is the caller's and is left alone.
static long write_with_sigpipe_blocked(int fd, const void *buf, unsigned long count);

long cevent_write(int fd, const void *buf, unsigned long count) {
    ssize_t sent = send(fd, buf, count, MSG_NOSIGNAL);
    if (sent >= 0) return sent;
    if (errno != ENOTSOCK) return -errno;
    return write_with_sigpipe_blocked(fd, buf, count);
}

// Kept out of line so the socket path above stays a few instructions.
__attribute__((noinline))
static long write_with_sigpipe_blocked(int fd, const void *buf, unsigned long count) {
    sigset_t pipe_only, old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    int masked = pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    if (masked != 0) return -masked;
    ssize_t written = write(fd, buf, count);
    int saved = written < 0 ? errno : 0;
    if (saved == EPIPE && !sigismember(&old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return written < 0 ? -saved : written;
}
long cevent_send(int fd, const void *buf, unsigned long count, int flags) {
    RESULT(send(fd, buf, count, flags | MSG_NOSIGNAL));
}
long cevent_recv(int fd, void *buf, unsigned long count, int flags) { RESULT(recv(fd, buf, count, flags)); }
long cevent_sendto(int fd, const void *buf, unsigned long count, int flags,
                   const struct sockaddr *addr, socklen_t len) {
    RESULT(sendto(fd, buf, count, flags | MSG_NOSIGNAL, addr, len));
}
long cevent_recvfrom(int fd, void *buf, unsigned long count, int flags,
                     struct sockaddr *addr, socklen_t *len) {
    RESULT(recvfrom(fd, buf, count, flags, addr, len));
}

int cevent_close(int fd) { RESULT(close(fd)); }
int cevent_unlink(const char *path) { RESULT(unlink(path)); }
int cevent_file_identity(const char *path, uint64_t *device, uint64_t *inode) {
    struct stat info;
    if (stat(path, &info) != 0) return -errno;
    *device = (uint64_t)info.st_dev;
    *inode = (uint64_t)info.st_ino;
    return 0;
}
// Why a wrapper: Swift cannot name `struct stat`'s fields portably across C
// libraries, and a caller about to remove a path needs only these three.
int cevent_lstat(const char *path, uint64_t *device, uint64_t *inode, uint32_t *mode) {
    struct stat info;
    if (lstat(path, &info) != 0) return -errno;
    *device = (uint64_t)info.st_dev;
    *inode = (uint64_t)info.st_ino;
    *mode = (uint32_t)info.st_mode;
    return 0;
}
int cevent_open(const char *path, int flags, int mode) { RESULT(open(path, flags | O_CLOEXEC, mode)); }

// MARK: clock

int64_t cevent_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); // cannot fail for CLOCK_MONOTONIC with a valid pointer
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cevent_gettid(void) { return (int)gettid(); }

// MARK: fault injection

int cevent_fault_scripts_armed = 0; // read and written only with __atomic builtins

static __thread void *thread_fault_script;
void *cevent_fault_thread_script(void) { return thread_fault_script; }
void *cevent_fault_set_thread_script(void *script) {
    void *previous = thread_fault_script;
    thread_fault_script = script;
    return previous;
}

// MARK: Threads

int cevent_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -errno;
    return CPU_COUNT(&set);
}

int cevent_allowed_cpus(int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -errno;
    int written = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && written < capacity; cpu++) {
        if (CPU_ISSET(cpu, &set)) cpus[written++] = cpu;
    }
    return written;
}

int cevent_pin_thread(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return -EINVAL; // CPU_SET is undefined outside the set
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return -pthread_setaffinity_np(pthread_self(), sizeof set, &set); // returns the error, not -1
}

int cevent_name_thread(const char *name) {
    char short_name[16]; // the kernel keeps 15 bytes and the NUL; longer names are refused (ERANGE)
    strncpy(short_name, name, sizeof short_name - 1);
    short_name[sizeof short_name - 1] = '\0';
    return -pthread_setname_np(pthread_self(), short_name);
}

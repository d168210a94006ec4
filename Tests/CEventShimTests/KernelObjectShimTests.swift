import CEventShim
import Glibc
import Testing

@Suite("CEventShim eventfd and timerfd")
struct KernelObjectShimTests {
    @Test func eventfdCountsAndRefusesAFullCounter() {
        let fd = cevent_eventfd(0, cevent_EFD_NONBLOCK)
        #expect(fd >= 0 && cevent_get_cloexec(fd) == 1 && cevent_get_nonblocking(fd) == 1)
        var value: UInt64 = 0
        #expect(cevent_eventfd_read(fd, &value) == EAGAIN_)
        for n: UInt64 in [1, 2, 3] { #expect(cevent_eventfd_write(fd, n) == 0) }
        #expect(cevent_eventfd_read(fd, &value) == 0 && value == 6)
        #expect(cevent_eventfd_write(fd, 0xFFFF_FFFF_FFFF_FFFE) == 0)
        #expect(cevent_eventfd_write(fd, 1) == EAGAIN_, "the counter is full")
        #expect(cevent_eventfd_write(fd, UInt64.max) == EINVAL_)
        #expect(cevent_eventfd_read(fd, &value) == 0 && value == 0xFFFF_FFFF_FFFF_FFFE)
        closeAll(fd)
        #expect(cevent_eventfd_write(closedFD, 1) == EBADF_)
        #expect(cevent_eventfd_read(closedFD, &value) == EBADF_)
    }

    @Test func eventfdSemaphoreModeTakesOneAtATime() {
        let fd = cevent_eventfd(3, cevent_EFD_NONBLOCK | cevent_EFD_SEMAPHORE)
        var value: UInt64 = 0
        for _ in 0..<3 { #expect(cevent_eventfd_read(fd, &value) == 0 && value == 1) }
        #expect(cevent_eventfd_read(fd, &value) == EAGAIN_)
        closeAll(fd)
        #expect(cevent_eventfd(0, -1) == EINVAL_)
    }

    @Test func timerfdFiresOnceAndPeriodically() {
        let fd = cevent_timerfd_create(CLOCK_MONOTONIC, Int32(O_NONBLOCK))
        #expect(fd >= 0 && cevent_get_cloexec(fd) == 1)
        var expirations: UInt64 = 0
        #expect(cevent_timerfd_read(fd, &expirations) == EAGAIN_, "disarmed")
        #expect(cevent_timerfd_settime(fd, 5_000_000, 0, 0) == 0)
        #expect(waitReadable(fd))
        #expect(cevent_timerfd_read(fd, &expirations) == 0 && expirations == 1)
        #expect(cevent_timerfd_settime(fd, 1_000_000, 1_000_000, 0) == 0)
        var remaining: Int64 = 0
        var interval: Int64 = 0
        #expect(cevent_timerfd_gettime(fd, &remaining, &interval) == 0 && interval == 1_000_000)
        #expect(waitReadable(fd))
        #expect(cevent_timerfd_read(fd, &expirations) == 0 && expirations >= 1)
        #expect(cevent_timerfd_settime(fd, 0, 0, 0) == 0) // disarm
        _ = cevent_timerfd_read(fd, &expirations) // drop anything that expired meanwhile
        #expect(cevent_timerfd_gettime(fd, &remaining, &interval) == 0 && remaining == 0 && interval == 0)
        #expect(cevent_timerfd_read(fd, &expirations) == EAGAIN_)
        #expect(cevent_timerfd_settime(fd, -1, 0, 0) == EINVAL_)
        #expect(cevent_timerfd_settime(fd, 1, -1, 0) == EINVAL_)
        let absolute = cevent_monotonic_ns() + 2_000_000
        #expect(cevent_timerfd_settime(fd, absolute, 0, 1) == 0)
        #expect(waitReadable(fd))
        #expect(cevent_monotonic_ns() >= absolute)
        closeAll(fd)
        #expect(cevent_timerfd_settime(closedFD, 1, 0, 0) == EBADF_)
        #expect(cevent_timerfd_read(closedFD, &expirations) == EBADF_)
        #expect(cevent_timerfd_create(-1, 0) == EINVAL_)
    }
}

/// Signals are process-wide: these run one at a time. Each delivery is
/// thread-directed (pthread_kill to this thread), because the test runner's
/// other threads do not block the signal.
@Suite("CEventShim signals", .serialized)
struct SignalShimTests {
    @Test func sigsetHelpersValidate() {
        var set = sigset_t()
        #expect(cevent_sigset_empty(&set) == 0)
        #expect(cevent_sigset_add(&set, SIGUSR1) == 0)
        #expect(cevent_sigset_contains(&set, SIGUSR1) == 1)
        #expect(cevent_sigset_contains(&set, SIGUSR2) == 0)
        #expect(cevent_sigset_add(&set, 0) == EINVAL_)
        #expect(cevent_sigset_add(&set, 1_000) == EINVAL_)
        #expect(cevent_sigset_contains(&set, 1_000) == EINVAL_)
    }

    @Test func signalfdReceivesABlockedSignal() throws {
        var set = sigset_t()
        _ = cevent_sigset_empty(&set)
        _ = cevent_sigset_add(&set, SIGUSR1)
        var old = sigset_t()
        #expect(cevent_sigmask(SIG_BLOCK, &set, &old) == 0)
        defer { _ = cevent_sigmask(SIG_SETMASK, &old, nil) }
        let fd = cevent_signalfd(-1, &set, Int32(O_NONBLOCK))
        #expect(fd >= 0 && cevent_get_cloexec(fd) == 1)
        var info = signalfd_siginfo()
        #expect(cevent_signalfd_read(fd, &info) == EAGAIN_)
        #expect(pthread_kill(pthread_self(), SIGUSR1) == 0)
        var pending = sigset_t()
        #expect(cevent_sigpending(&pending) == 0 && cevent_sigset_contains(&pending, SIGUSR1) == 1)
        #expect(waitReadable(fd))
        #expect(cevent_signalfd_read(fd, &info) == 0)
        #expect(info.ssi_signo == UInt32(SIGUSR1))
        #expect(cevent_signalfd_read(fd, &info) == EAGAIN_, "read away: nothing left pending")
        #expect(cevent_signalfd(fd, &set, 0) == fd, "updating the mask keeps the descriptor")
        closeAll(fd)
        #expect(cevent_signalfd_read(closedFD, &info) == EBADF_)
        #expect(cevent_sigmask(12_345, &set, nil) == EINVAL_)
    }

    @Test func killReportsErrors() {
        #expect(cevent_kill_self(0) == 0, "signal 0 only checks that we may signal ourselves")
        #expect(cevent_kill_self(1_000) == EINVAL_)
        #expect(cevent_kill(Int32.max, 0) == -ESRCH)
    }
}

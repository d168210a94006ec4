import CEventShim
import Glibc
import Testing

/// The shim's signal catcher, driven directly. SIGCONT: no other test uses it,
/// and its default action (continue a stopped process) does nothing to a
/// running one, so a regression cannot kill the run. Deliveries are
/// thread-directed to this thread, which unblocks the signal for the test.
extension SignalShimTests {
    @Test func theCatcherWritesOneRecordPerDeliveryIntoItsRoute() throws {
        let (reader, writer) = try makePipe()
        defer { closeAll(reader, writer) }
        let restoreMask = try unblockOnThisThread(SIGCONT)
        defer { restoreMask() }
        var previous = sigaction()
        #expect(cevent_signal_route(SIGCONT, writer, 7) == 0)
        #expect(cevent_signal_catch(SIGCONT, &previous) == 0)
        defer { _ = cevent_sigaction(SIGCONT, &previous, nil) }
        #expect(kind(SIGCONT) == cevent_SIGACTION_CATCHER)
        #expect(cevent_sigaction_kind(&previous) == cevent_SIGACTION_DEFAULT)

        #expect(pthread_kill(pthread_self(), SIGCONT) == 0) // caught on the way back from the call
        var record = cevent_signal_record()
        #expect(cevent_signal_record_read(reader, &record) == 0)
        #expect(record.signo == SIGCONT && record.tag == 7 && record.unused == 0)
        #expect(record.pid == getpid() && record.uid == getuid() && record.code == SI_TKILL)
        #expect(cevent_signal_record_read(reader, &record) == EAGAIN_, "one record per delivery")

        #expect(cevent_signal_route(SIGCONT, -1, 0) == 0)
        #expect(cevent_signal_catchers_running(SIGCONT) == 0, "this thread's catcher call has ended")
        #expect(pthread_kill(pthread_self(), SIGCONT) == 0) // caught, routed nowhere: dropped
        #expect(cevent_signal_record_read(reader, &record) == EAGAIN_)

        #expect(cevent_sigaction(SIGCONT, &previous, nil) == 0)
        #expect(kind(SIGCONT) == cevent_SIGACTION_DEFAULT)
    }

    @Test func theCatcherKeepsTheErrnoOfTheCodeItInterrupts() throws {
        let (reader, writer) = try makePipe()
        defer { closeAll(reader, writer) }
        let restoreMask = try unblockOnThisThread(SIGCONT)
        defer { restoreMask() }
        var previous = sigaction()
        // Routed to the read end, so the catcher's write fails (EBADF) and sets errno inside it.
        #expect(cevent_signal_route(SIGCONT, reader, 1) == 0)
        defer { _ = cevent_signal_route(SIGCONT, -1, 0) }
        #expect(cevent_signal_catch(SIGCONT, &previous) == 0)
        defer { _ = cevent_sigaction(SIGCONT, &previous, nil) }
        errno = ENOTTY
        _ = pthread_kill(pthread_self(), SIGCONT) // returns 0 without touching errno
        #expect(errno == ENOTTY)
    }

    @Test func routesAndSignalCallsRefuseBadInput() {
        #expect(cevent_signal_route(0, -1, 0) == EINVAL_)
        #expect(cevent_signal_route(cevent_SIGNAL_LIMIT, -1, 0) == EINVAL_)
        #expect(cevent_signal_route(SIGCONT, -2, 0) == EINVAL_)
        #expect(cevent_signal_catchers_running(0) == EINVAL_ && cevent_signal_catchers_running(cevent_SIGNAL_LIMIT) == EINVAL_)
        var previous = sigaction()
        #expect(cevent_signal_catch(SIGKILL, &previous) == EINVAL_)
        #expect(cevent_signal_catch(SIGSTOP, &previous) == EINVAL_)
        #expect(cevent_signal_catch(32, &previous) == EINVAL_, "glibc keeps 32 for its threads")
        #expect(cevent_sigaction(1_000, nil, &previous) == EINVAL_)
        #expect(cevent_sigrtmin() >= 34 && cevent_sigrtmin() < cevent_SIGNAL_LIMIT)
        var set = sigset_t()
        _ = cevent_sigset_empty(&set)
        _ = cevent_sigset_add(&set, SIGCONT)
        #expect(cevent_sigtimedwait(&set, 0) == EAGAIN_, "nothing pending: a zero timeout polls")
        #expect(cevent_sched_yield() == 0)
        var record = cevent_signal_record()
        #expect(cevent_signal_record_read(closedFD, &record) == EBADF_)
    }
}

/// The kind of `signal`'s current action.
private func kind(_ signal: Int32) -> Int32 {
    var current = sigaction()
    guard cevent_sigaction(signal, nil, &current) == 0 else { return -1 }
    return cevent_sigaction_kind(&current)
}

/// Unblocks `signal` on this thread (the test pool's threads block most
/// signals); returns what puts the mask back.
private func unblockOnThisThread(_ signal: Int32) throws -> () -> Void {
    var set = sigset_t()
    _ = cevent_sigset_empty(&set)
    _ = cevent_sigset_add(&set, signal)
    var old = sigset_t()
    try #require(cevent_sigmask(SIG_UNBLOCK, &set, &old) == 0)
    return { _ = cevent_sigmask(SIG_SETMASK, &old, nil) }
}

import CEventShim
import Glibc

/// The process-wide signal catcher: the shim's handler, installed with
/// `sigaction(2)`, writes one record per delivery into the pipe its signal is
/// routed to, on whichever thread the kernel picked (libuv, tokio and asyncio
/// do the same). The loop watches the pipe's read end and runs its callbacks
/// from there, so other threads' masks do not matter.
///
/// Routes are a table in the shim, one atomic word (write end and tag) per
/// signal. The race it defends against: a catcher on another thread reads a
/// route, the loop clears it and closes the pipe, a new descriptor takes the
/// number, and the catcher's write lands in someone else's file. So a catcher
/// counts itself in (per signal) before it reads a route and out after its
/// write, and `unroute` clears the route and then waits (yielding the CPU)
/// until no catcher of that signal is running: at most one `write(2)` on each
/// thread that was already in one. The other choice, one process-wide pipe
/// that is never closed, would make loops forward each other's records and
/// keep two descriptors for the life of the process; with a pipe per loop,
/// `IOLoop.close()` still releases everything it made.
///
/// Any thread; the loop keeps one loop per signal (`SignalClaims`).
enum SignalCatcher {
    /// Whether a number names a signal a program may catch.
    enum Validity {
        case catchable
        /// `SIGKILL`, `SIGSTOP`, or one the C library keeps for its threads (32, 33).
        case uncatchable
        /// Outside 1...64.
        case notASignal
    }

    /// Validates `signal` without touching process state.
    static func validity(of signal: Int32) -> Validity {
        guard signal > 0 && signal < cevent_SIGNAL_LIMIT else { return .notASignal }
        if signal == SIGKILL || signal == SIGSTOP { return .uncatchable }
        // Faults raised by the faulting instruction itself: a handler that returns
        // re-runs it, so catching them turns every crash into a silent hang.
        if signal == SIGSEGV || signal == SIGBUS || signal == SIGILL || signal == SIGFPE { return .uncatchable }
        // Between the standard signals (1...31) and SIGRTMIN: glibc's own (cancellation, setxid).
        if signal >= 32 && signal < cevent_sigrtmin() { return .uncatchable }
        return .catchable
    }

    /// What the process did with a signal before the catcher took it over.
    struct PreviousAction {
        fileprivate var action: sigaction
    }

    /// Installs the catcher for `signal` and returns the action it replaced.
    /// The corresponding C call is `sigaction(2)` with `SA_SIGINFO | SA_RESTART`.
    static func install(_ signal: Int32) throws(SystemError) -> PreviousAction {
        var previous = sigaction()
        _ = try Syscall.check(Kernel.signalCatch(signal, &previous), "sigaction(\(signal), catch)")
        return PreviousAction(action: previous)
    }

    /// Puts `previous` back, unless the catcher was replaced since: then the
    /// newer action, someone else's, stays. The C call is `sigaction(2)`.
    static func restore(_ signal: Int32, _ previous: PreviousAction) throws(SystemError) {
        var current = sigaction()
        _ = try Syscall.check(Kernel.sigaction(signal, nil, &current), "sigaction(\(signal), query)")
        guard cevent_sigaction_kind(&current) == cevent_SIGACTION_CATCHER else { return }
        var action = previous.action
        _ = try Syscall.check(Kernel.sigaction(signal, &action, nil), "sigaction(\(signal), restore)")
    }

    /// Sends `signal`'s records to `writer` (a non-blocking pipe write end), stamped with `tag`.
    static func route(_ signal: Int32, to writer: Descriptor, tag: UInt32) throws(SystemError) {
        // Not a system call: an atomic store into the shim's route table.
        _ = try Syscall.check(Int(cevent_signal_route(signal, writer.rawValue, tag)), "route(signal \(signal), \(writer))")
    }

    /// Routes `signal` nowhere, then waits until no catcher for it is running,
    /// so no write for it reaches the old write end once this returns (the
    /// caller may then close it). Any catcher that starts later finds no route.
    /// Call it after `restore`: then only catcher calls already under way can
    /// keep it waiting, each for one `write(2)`.
    static func unroute(_ signal: Int32) {
        // Neither call can fail: the number was validated when it was routed.
        _ = cevent_signal_route(signal, -1, 0)
        while cevent_signal_catchers_running(signal) > 0 {
            Kernel.yieldProcessor()
        }
    }

    /// Takes away every delivery of `signal` the kernel holds pending for the
    /// calling thread or the process, and says how many there were. A signal is
    /// pending only while every thread that could take it blocks it.
    /// The corresponding C call is `sigtimedwait(2)` with a zero timeout.
    @discardableResult
    static func discardPending(_ signal: Int32) throws(SystemError) -> Int {
        // The number was validated when it was routed, so the set cannot refuse it.
        let set = (try? SignalSet([signal]))?.storage ?? sigset_t()
        var count = 0
        while case .completed = try withUnsafePointer(to: set, { (pointer) throws(SystemError) in
            try Syscall.nonBlocking("sigtimedwait(\(signal))") { Kernel.sigtimedwait(pointer, 0) }
        }) {
            count += 1
        }
        return count
    }
}

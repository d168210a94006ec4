import EventLoop
import Glibc
import Synchronization
import Testing

/// Signals caught by the package's handler and read by the loop from its pipe.
/// Serialized, with the suites nested in it (other files): dispositions, claims
/// and pending state are process-wide. In this process, deliveries are
/// thread-directed (`pthread_kill` to the loop's thread) and use signals whose
/// default action is to do nothing (SIGURG, SIGWINCH), so a regression fails a
/// test instead of killing the run; signals that terminate by default are
/// sent in child processes (exit tests).
@Suite("Loop signals", .serialized)
struct LoopSignalTests {
    @Test func tenSeparateDeliveriesGiveTenCallbacks() throws {
        let loop = try IOLoop()
        let received = Atomic<Int>(0)
        var seen: [Int32] = []
        let subscription = try loop.onSignal(SIGURG) { info in
            seen.append(info.signal)
            received.add(1, ordering: .releasing)
        }
        let target = pthread_self()
        let sender = TestThread {
            for round in 1...10 {
                pthread_kill(target, SIGURG)
                // Wait until the loop has read this one, so the kernel cannot merge two.
                var waited = 0
                while received.load(ordering: .acquiring) < round && waited < 5_000 { usleep(1_000); waited += 1 }
            }
        }
        var iterations = 0
        while received.load(ordering: .acquiring) < 10 && iterations < 1_000 {
            try loop.runOnce(timeout: .milliseconds(50))
            iterations += 1
        }
        sender.join()
        #expect(seen == [Int32](repeating: SIGURG, count: 10))
        subscription.cancel()
        try loop.close()
    }

    @Test func severalHandlersShareOneSignal() throws {
        let loop = try IOLoop()
        var log: [String] = []
        let first = try loop.onSignal(SIGWINCH) { _ in log.append("first") }
        try loop.onSignal(SIGWINCH) { _ in log.append("second") }
        pthread_kill(pthread_self(), SIGWINCH)
        try spin(loop) { log.count == 2 }
        #expect(log == ["first", "second"])
        first.cancel()
        pthread_kill(pthread_self(), SIGWINCH)
        try spin(loop) { log.count == 3 }
        #expect(log == ["first", "second", "second"])
        #expect(loop.metrics.activeSignalHandlers == 1)
        try loop.close()
    }

    @Test func oneLoopPerSignal() throws {
        let first = try IOLoop()
        let second = try IOLoop()
        let subscription = try first.onSignal(SIGWINCH) { _ in }
        #expect(throws: LoopError.signalClaimedByAnotherLoop(SIGWINCH)) { try second.onSignal(SIGWINCH) { _ in } }
        subscription.cancel()
        try second.onSignal(SIGWINCH) { _ in } // released by the cancel
        try second.close() // and by close
        try first.onSignal(SIGWINCH) { _ in }
        try first.close()
    }

    @Test func handlingASignalUnblocksItOnTheLoopThreadUntilTheLastHandlerGoes() throws {
        let original = try SignalSet.threadMask()
        defer { _ = try? original.setAsThreadMask() }
        try SignalSet([SIGWINCH]).blockOnThisThread()
        let dispositionBefore = try SignalDisposition.current(of: SIGWINCH)
        let loop = try IOLoop()
        let first = try loop.onSignal(SIGWINCH) { _ in }
        let second = try loop.onSignal(SIGWINCH) { _ in }
        #expect(try !SignalSet.threadMask().contains(SIGWINCH), "the loop's thread takes the signals it handles")
        #expect(try SignalDisposition.current(of: SIGWINCH) == .caughtByLoop)
        first.cancel()
        #expect(try !SignalSet.threadMask().contains(SIGWINCH))
        second.cancel()
        #expect(try SignalSet.threadMask().contains(SIGWINCH), "blocked again, as it was")
        #expect(try SignalDisposition.current(of: SIGWINCH) == dispositionBefore)
        #expect(loop.metrics.activeWatchers == 0 && loop.metrics.activeSignalHandlers == 0)
        try loop.close()
    }

    /// The old test of this (`removingTheLastHandlerDrainsAndRestoresTheMask`)
    /// expected the loop to block the signal on its thread; the loop no longer
    /// blocks anything. What it protected stays: a delivery pending when the
    /// last handler goes must not run the default action (killing the process)
    /// later. In a child process, since a regression kills it.
    @Test func cancellingTheLastHandlerDiscardsDeliveriesStillPending() async {
        await #expect(processExitsWith: .success) {
            exit(pendingDeliveriesAreDiscardedOnCancel())
        }
    }

    @Test func uncatchableAndInvalidSignalsAreRefused() throws {
        let loop = try IOLoop()
        for signal in [SIGKILL, SIGSTOP, 32, 33] {
            #expect(throws: LoopError.uncatchableSignal(signal)) { try loop.onSignal(signal) { _ in } }
        }
        for signal: Int32 in [0, -1, 65, 1_000] {
            #expect(throws: LoopError.invalidSignal(signal)) { try loop.onSignal(signal) { _ in } }
        }
        #expect(loop.metrics.activeSignalHandlers == 0 && loop.metrics.activeWatchers == 0)
        #expect(try SignalDisposition.current(of: SIGINT) != .caughtByLoop)
        try loop.close()
    }

    /// In a child process: it inspects /proc/self/fd, and parallel tests open pipes too.
    @Test func aLoopThatHandledSignalsLeavesNoDescriptorBehind() async {
        await #expect(processExitsWith: .success) {
            exit(signalsLeaveNoDescriptorBehind())
        }
    }

    @Test func unwatchedSignalsDoNotCutTheWaitShort() throws {
        _ = signal(SIGUSR2) { _ in } // a handler, so the signal interrupts the wait (EINTR)
        let previous = try SignalSet([SIGUSR2]).unblockOnThisThread()
        defer { _ = try? previous.setAsThreadMask() }
        let loop = try IOLoop()
        let target = pthread_self()
        let done = Atomic<Bool>(false)
        let sender = TestThread {
            for _ in 0..<20 where !done.load(ordering: .acquiring) {
                usleep(10_000)
                pthread_kill(target, SIGUSR2)
            }
        }
        let start = MonotonicInstant.now()
        try loop.runOnce(timeout: .milliseconds(150))
        let elapsed = MonotonicInstant.now() - start
        done.store(true, ordering: .releasing)
        sender.join()
        #expect(elapsed >= .milliseconds(150))
        try loop.close()
    }
}

/// In a child process: a delivery the catcher wrote but the loop never read,
/// and one the kernel holds pending, are both gone once the last handler is
/// cancelled; the disposition is back; unblocking the signal then kills nothing.
private func pendingDeliveriesAreDiscardedOnCancel() -> Int32 {
    alarm(20) // a hang ends this child, not the run
    do {
        let dispositionBefore = try SignalDisposition.current(of: SIGUSR1)
        let loop = try IOLoop()
        var calls = 0
        let subscription = try loop.onSignal(SIGUSR1) { _ in calls += 1 }
        guard try SignalDisposition.current(of: SIGUSR1) == .caughtByLoop else { return 1 }
        pthread_kill(pthread_self(), SIGUSR1) // caught at once: a record in the loop's pipe, not yet read
        // Then the signal is blocked on every thread that could take it (here,
        // the loop's, by this test), so a second delivery stays pending.
        let maskBefore = try SignalSet([SIGUSR1]).blockOnThisThread()
        pthread_kill(pthread_self(), SIGUSR1)
        guard try SignalSet.pending().contains(SIGUSR1) else { return 2 }
        subscription.cancel()
        guard try !SignalSet.pending().contains(SIGUSR1) else { return 3 }
        guard try SignalDisposition.current(of: SIGUSR1) == dispositionBefore else { return 4 }
        try maskBefore.setAsThreadMask() // with a delivery left pending, the default action would end the process here
        try loop.runOnce(timeout: .milliseconds(20))
        guard calls == 0 else { return 5 }
        try loop.close()
        return 0
    } catch {
        return 9
    }
}

/// In a child process (fewer threads opening descriptors meanwhile): the
/// loop's pipe, found as the new pipe in /proc/self/fd and known by its inode
/// (numbers are reused, inodes are not), stays while a signal is handled, and
/// is gone after the last cancel, or after `close()`.
private func signalsLeaveNoDescriptorBehind() -> Int32 {
    alarm(20)
    do {
        let loop = try IOLoop()
        let before = openDescriptorTargets()
        var seen = 0
        let first = try loop.onSignal(SIGURG) { _ in seen += 1 }
        let second = try loop.onSignal(SIGWINCH) { _ in seen += 1 }
        let pipe = openDescriptorTargets().subtracting(before).filter { $0.target.hasPrefix("pipe:") }
        guard pipe.count == 2, Set(pipe.map(\.target)).count == 1 else { return 1 } // one pipe, both ends
        pthread_kill(pthread_self(), SIGURG)
        pthread_kill(pthread_self(), SIGWINCH)
        try spin(loop) { seen == 2 }
        guard seen == 2 else { return 2 }
        first.cancel()
        guard pipe.isSubset(of: openDescriptorTargets()) else { return 3 } // SIGWINCH still needs it
        second.cancel()
        guard pipe.isDisjoint(with: openDescriptorTargets()) else { return 4 } // the last cancel closed it
        let again = openDescriptorTargets()
        try loop.onSignal(SIGURG) { _ in }
        let newPipe = openDescriptorTargets().subtracting(again).filter { $0.target.hasPrefix("pipe:") }
        guard newPipe.count == 2 else { return 5 }
        try loop.close()
        guard newPipe.isDisjoint(with: openDescriptorTargets()) else { return 6 } // close() closed it
        return 0
    } catch {
        return 9
    }
}

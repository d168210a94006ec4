import EventLoop
import Glibc
import Synchronization
import Testing

/// Signals through signalfd. Serialized: a signal's mask and pending state are process-wide.
/// Deliveries are thread-directed (`pthread_kill` to the loop's thread), because
/// the test runner's other threads do not block these signals.
@Suite("Loop signals", .serialized)
struct LoopSignalTests {
    @Test func tenSeparateDeliveriesGiveTenCallbacks() throws {
        let loop = try IOLoop()
        let received = Atomic<Int>(0)
        var seen: [Int32] = []
        let subscription = try loop.onSignal(SIGUSR1) { info in
            seen.append(info.signal)
            received.add(1, ordering: .releasing)
        }
        let target = pthread_self()
        let sender = TestThread {
            for round in 1...10 {
                pthread_kill(target, SIGUSR1)
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
        #expect(seen == [Int32](repeating: SIGUSR1, count: 10))
        subscription.cancel()
        try loop.close()
    }

    @Test func severalHandlersShareOneSignal() throws {
        let loop = try IOLoop()
        var log: [String] = []
        let first = try loop.onSignal(SIGUSR2) { _ in log.append("first") }
        try loop.onSignal(SIGUSR2) { _ in log.append("second") }
        pthread_kill(pthread_self(), SIGUSR2)
        try spin(loop) { log.count == 2 }
        #expect(log == ["first", "second"])
        first.cancel()
        pthread_kill(pthread_self(), SIGUSR2)
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

    @Test func removingTheLastHandlerDrainsAndRestoresTheMask() throws {
        let maskBefore = try SignalSet.threadMask()
        let loop = try IOLoop()
        var calls = 0
        let subscription = try loop.onSignal(SIGUSR1) { _ in calls += 1 }
        #expect(try SignalSet.threadMask().contains(SIGUSR1))
        pthread_kill(pthread_self(), SIGUSR1) // pending, never read by the loop
        #expect(try SignalSet.pending().contains(SIGUSR1))
        subscription.cancel() // must read it away: unblocked, it would kill the process
        #expect(!(try SignalSet.pending().contains(SIGUSR1)))
        #expect(try SignalSet.threadMask() == maskBefore)
        #expect(calls == 0)
        #expect(loop.metrics.activeWatchers == 0 && loop.metrics.activeSignalHandlers == 0)
        try loop.close()
    }

    @Test func uncatchableAndInvalidSignalsAreRefused() throws {
        let loop = try IOLoop()
        #expect(throws: SystemError.self) { try loop.onSignal(SIGKILL) { _ in } }
        #expect(throws: SystemError.self) { try loop.onSignal(SIGSTOP) { _ in } }
        #expect(throws: ArgumentError.self) { try loop.onSignal(0) { _ in } }
        #expect(throws: ArgumentError.self) { try loop.onSignal(1_000) { _ in } }
        #expect(loop.metrics.activeSignalHandlers == 0)
        try loop.close()
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

import EventLoop
import Glibc
import Testing

/// run, stop, close, and what is left afterwards.
@Suite("Loop lifecycle")
struct LoopLifecycleTests {
    @Test func stopFromACallbackEndsRun() throws {
        let loop = try IOLoop()
        var ticks = 0
        try loop.scheduleRepeating(every: .milliseconds(1)) {
            ticks += 1
            if ticks == 5 { loop.stop() }
        }
        try loop.run()
        #expect(ticks == 5)
        try loop.close() // the timer's closure and the loop hold each other
    }

    @Test func stopBeforeRunMakesOneNonBlockingIteration() throws {
        let loop = try IOLoop()
        var ran = 0
        try loop.callSoon { ran += 1 }
        loop.stop()
        let start = MonotonicInstant.now()
        try loop.run()
        #expect(ran == 1)
        #expect(MonotonicInstant.now() - start < .seconds(1))
        try loop.callSoon { loop.stop() } // the stop was consumed: run works normally again
        try loop.run()
    }

    @Test func runCannotBeEnteredFromACallback() throws {
        let loop = try IOLoop()
        var error: (any Error)?
        try loop.callSoon {
            do { try loop.runOnce(timeout: .zero) } catch let caught { error = caught }
        }
        try loop.runOnce(timeout: .zero)
        #expect(error as? LoopError == .alreadyRunning)
    }

    @Test func everyCallAfterCloseIsAClearError() throws {
        let loop = try IOLoop()
        let pipe = try DescriptorPair.pipe()
        let watcher = try loop.watch(pipe.first.descriptor) { _ in }
        let timer = try loop.schedule(after: .seconds(1)) {}
        let handle = loop.handle
        try loop.close()
        try loop.close() // twice is harmless
        #expect(loop.isClosed)
        #expect(throws: LoopError.closed) { try loop.run() }
        #expect(throws: LoopError.closed) { try loop.runOnce(timeout: .zero) }
        #expect(throws: LoopError.closed) { try loop.callSoon {} }
        #expect(throws: LoopError.closed) { try loop.schedule(after: .zero) {} }
        #expect(throws: LoopError.closed) { try loop.watch(pipe.second.descriptor) { _ in } }
        #expect(throws: LoopError.closed) { try loop.onSignal(SIGWINCH) { _ in } }
        #expect(throws: LoopError.closed) { try handle.submit {} }
        #expect(throws: LoopError.closed) { try watcher.setInterest(.writable) }
        watcher.cancel()
        timer.cancel()
        handle.stop()
        #expect(isOpen(pipe.first.descriptor), "descriptors the user owns stay open")
    }

    @Test func closeFromACallbackEndsRun() throws {
        let loop = try IOLoop()
        try loop.callSoon { try loop.close() }
        try loop.callSoon { Issue.record("ran after close") }
        try loop.run()
        #expect(loop.isClosed)
    }

    /// Each loop owns 2 descriptors, so a leak would show 1,000 or more.
    /// Counted in a child process of its own (as `SelectorLeakTests`): the
    /// suites running beside this one open and close descriptors too, and
    /// once added 178 to the process's count in CI.
    @Test func aThousandLoopsLeaveNoDescriptorBehind() async {
        await #expect(processExitsWith: .success) {
            do {
                let before = openDescriptorCount()
                for index in 0..<1_000 {
                    let loop = try IOLoop()
                    if index % 2 == 0 {
                        try loop.callSoon {}
                        try loop.runOnce(timeout: .zero)
                        try loop.close()
                    } // odd ones are closed by deinit
                }
                exit(openDescriptorCount() - before < 10 ? 0 : 1)
            } catch {
                exit(2)
            }
        }
    }

    /// Issue 9, fault 7: a stop made while nothing ran made every later
    /// `runOnce` return at once (100 waits of 10 ms took 0.4 ms in all).
    @Test func aStopWhileNothingRunsLeavesRunOnceWaitsWhole() throws {
        let loop = try IOLoop()
        loop.stop()
        loop.handle.stop() // from "another thread" too: the loop is not running, so it is not woken
        let start = MonotonicInstant.now()
        for _ in 0..<10 { try loop.runOnce(timeout: .milliseconds(10)) }
        #expect(MonotonicInstant.now() - start >= .milliseconds(100))
        // The stop is still waiting for the next run(), which it ends after one iteration, once.
        var ran = 0
        try loop.callSoon { ran += 1 }
        try loop.run()
        #expect(ran == 1)
        try loop.schedule(after: .milliseconds(5)) { ran += 1; loop.stop() }
        try loop.run()
        #expect(ran == 2, "the second run() ran until its own stop")
        try loop.close()
    }

    @Test func aStopFromAnotherThreadWhileNothingRunsEndsTheNextRun() throws {
        let loop = try IOLoop()
        let handle = loop.handle
        let other = TestThread { handle.stop() }
        other.join()
        let start = MonotonicInstant.now()
        try loop.runOnce(timeout: .milliseconds(20))
        #expect(MonotonicInstant.now() - start >= .milliseconds(20), "not woken by a stop for a loop that was not running")
        let watchdog = Watchdog(after: .seconds(10)) { handle.stop() }
        try loop.run() // ends after one iteration
        watchdog.cancel()
        #expect(MonotonicInstant.now() - start < .seconds(5))
        try loop.close()
    }

    @Test func aStopDuringRunOnceIsUsedUpByIt() throws {
        let loop = try IOLoop()
        try loop.callSoon { loop.stop() }
        try loop.runOnce(timeout: .zero)
        var ticks = 0
        try loop.scheduleRepeating(every: .milliseconds(1)) {
            ticks += 1
            if ticks == 3 { loop.stop() }
        }
        try loop.run()
        #expect(ticks == 3, "run() did not inherit the stop its predecessor runOnce used")
        try loop.close()
    }

    /// Issue 9, fault 13: `activeWatchers` was -1 after close.
    @Test func everyCountIsZeroAfterClose() throws {
        let loop = try IOLoop()
        let pipe = try DescriptorPair.pipe()
        try loop.watch(pipe.first.descriptor) { _ in }
        try loop.schedule(after: .seconds(60)) {}
        try loop.scheduleRepeating(every: .seconds(1)) {}
        try loop.callSoon {}
        try loop.onSignal(SIGURG) { _ in }
        try loop.runOnce(timeout: .zero)
        try loop.callSoon {}
        let iterations = loop.metrics.iterations
        try loop.close()
        let metrics = loop.metrics
        #expect(metrics.activeWatchers == 0)
        #expect(metrics.activeTimers == 0)
        #expect(metrics.activeSignalHandlers == 0)
        #expect(metrics.pendingCallSoon == 0)
        #expect(metrics.iterations == iterations, "what was counted before the close stays")
        #expect(metrics.waiting >= .zero && metrics.running >= .zero)
        let fresh = try IOLoop()
        try fresh.close()
        #expect(fresh.metrics.activeWatchers == 0 && fresh.metrics.activeTimers == 0)
    }

    /// Issue 9, fault 8: a deadline far in the past made the wait wrap around
    /// to the far future, so run() slept instead of firing it.
    @Test(arguments: Backend.allCases)
    func aDeadlineFarInThePastFiresAtOnce(backend: Backend) throws {
        let loop = try makeLoop(backend)
        var fired: [String] = []
        try loop.schedule(at: loop.now + .seconds(Int64.min)) { fired.append("far past"); loop.stop() }
        try loop.schedule(at: MonotonicInstant(nanoseconds: .min)) { fired.append("the earliest instant") }
        let handle = loop.handle
        let watchdog = Watchdog(after: .seconds(10)) { handle.stop() }
        let start = MonotonicInstant.now()
        try loop.run()
        watchdog.cancel()
        #expect(fired == ["the earliest instant", "far past"])
        #expect(MonotonicInstant.now() - start < .seconds(5))
        try loop.schedule(at: loop.now + .seconds(Int64.min)) { fired.append("again") }
        try loop.runOnce(timeout: .seconds(10))
        #expect(fired.last == "again")
        #expect(MonotonicInstant.now() - start < .seconds(5))
        try loop.close()
    }
}

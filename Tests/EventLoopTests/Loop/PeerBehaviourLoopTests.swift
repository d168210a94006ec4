import EventLoop
import Glibc
import Testing

/// Behaviours that asyncio's event-loop tests and libuv's timer and loop tests
/// check, asked of `IOLoop` through the public API.
@Suite("Loop behaviours peers check")
struct PeerBehaviourLoopTests {
    // MARK: Timers

    @Test func zeroAndNegativeDelaysRunInTheNextIterationInSchedulingOrder() throws {
        let loop = try IOLoop()
        var order: [Int] = []
        try loop.schedule(after: .zero) { order.append(1) }
        try loop.schedule(after: .seconds(-2)) { order.append(2) } // negative means now: ties in scheduling order
        try loop.schedule(after: .nanoseconds(-1)) { order.append(3) }
        try loop.runOnce(timeout: .seconds(1))
        #expect(order == [1, 2, 3])
        try loop.close()
    }

    @Test func equalDeadlinesFireInSchedulingOrder() throws {
        let loop = try IOLoop()
        let deadline = loop.now + .milliseconds(2)
        var order: [Int] = []
        for index in 0..<20 { try loop.schedule(at: deadline) { order.append(index) } }
        try spin(loop) { order.count == 20 }
        #expect(order == Array(0..<20))
        try loop.close()
    }

    @Test func aOneShotTimerIsInactiveInItsOwnCallbackAndCancellingOrReschedulingItThereDoesNothing() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        var runs = 0
        var handle: TimerHandle?
        var activeInside: Bool?
        var rescheduled: Bool?
        handle = try loop.schedule(after: .seconds(1)) {
            runs += 1
            activeInside = handle?.isActive
            handle?.cancel()
            rescheduled = handle?.reschedule(after: .seconds(1))
        }
        clock.advance(by: .seconds(1))
        #expect(runs == 1)
        #expect(activeInside == false)
        #expect(rescheduled == false)
        clock.advance(by: .seconds(5))
        #expect(runs == 1)
        #expect(loop.metrics.activeTimers == 0)
        try loop.close()
    }

    @Test func aRepeatingTimerRescheduledFromItsOwnCallbackNextRunsAtTheNewDeadlineThenKeepsItsPeriod() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        let start = loop.now
        var seen: [Duration] = []
        var handle: TimerHandle?
        handle = try loop.scheduleRepeating(every: .seconds(1)) {
            seen.append(loop.now - start)
            if seen.count == 1 { #expect(handle?.reschedule(after: .seconds(10)) == true) }
        }
        for _ in 0..<13 { clock.advance(by: .seconds(1)) }
        #expect(seen == [.seconds(1), .seconds(11), .seconds(12), .seconds(13)])
        handle?.cancel()
        try loop.close()
    }

    @Test func aRepeatingTimerCancelledFromItsCallbackNeverRunsAgainAndIsReleased() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        var runs = 0
        var handle: TimerHandle?
        handle = try loop.scheduleRepeating(every: .milliseconds(10)) {
            runs += 1
            if runs == 3 { handle?.cancel() }
        }
        for _ in 0..<10 { clock.advance(by: .milliseconds(10)) }
        #expect(runs == 3)
        #expect(handle?.isActive == false)
        #expect(loop.metrics.activeTimers == 0)
        try loop.close()
    }

    @Test func reschedulingAPendingTimerReplacesItsDeadlineAndItFiresOnce() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        var runs = 0
        let timer = try loop.schedule(after: .seconds(1)) { runs += 1 }
        #expect(timer.reschedule(after: .seconds(3)))
        clock.advance(by: .seconds(2))
        #expect(runs == 0)
        clock.advance(by: .seconds(1))
        #expect(runs == 1)
        clock.advance(by: .seconds(10))
        #expect(runs == 1)
        #expect(!timer.reschedule(after: .seconds(1)), "a timer that fired cannot be moved")
        #expect(!loop.cancelTimer(timer.id))
        try loop.close()
    }

    @Test func aTimerNeverFiresBeforeItsDeadlineOnTheLoopsClock() throws {
        let loop = try IOLoop()
        let start = MonotonicInstant.now()
        var firedAt: MonotonicInstant?
        var loopNow: MonotonicInstant?
        let deadline = start + .milliseconds(25)
        try loop.schedule(after: .milliseconds(25)) {
            firedAt = MonotonicInstant.now()
            loopNow = loop.now
        }
        try spin(loop) { firedAt != nil }
        let fired = try #require(firedAt)
        #expect(fired >= deadline)
        #expect(try #require(loopNow) >= deadline)
        try loop.close()
    }

    @Test func aTimerDueAtAPastDeadlineFiresInTheFirstNonBlockingIteration() throws {
        let loop = try IOLoop()
        var ran = false
        try loop.schedule(at: MonotonicInstant(nanoseconds: 1)) { ran = true }
        try loop.runOnce(timeout: .zero)
        #expect(ran)
        try loop.close()
    }

    @Test func aTimerCancelledByAnotherOfTheSameBatchDoesNotRunAndTheOthersDo() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        var order: [Int] = []
        var second: TimerHandle?
        try loop.schedule(after: .seconds(1)) {
            order.append(1)
            second?.cancel()
        }
        second = try loop.schedule(after: .seconds(1)) { order.append(2) }
        try loop.schedule(after: .seconds(1)) { order.append(3) }
        clock.advance(by: .seconds(1))
        #expect(order == [1, 3])
        try loop.close()
    }

    /// asyncio's `test_timeout_rounding`: a delay far below a millisecond
    /// neither busy-polls until it is due nor fires early.
    @Test func subMillisecondDelaysTakeAFewIterationsEachAndNeverFireEarly() throws {
        let loop = try IOLoop()
        for delay: Duration in [.milliseconds(10), .microseconds(100), .microseconds(1), .nanoseconds(1)] {
            let before = loop.metrics.iterations
            let deadline = MonotonicInstant.now() + delay
            var firedAt: MonotonicInstant?
            try loop.schedule(after: delay) { firedAt = MonotonicInstant.now() }
            try spin(loop) { firedAt != nil }
            let fired = try #require(firedAt)
            #expect(fired >= deadline)
            #expect(loop.metrics.iterations - before <= 3, "\(delay) took \(loop.metrics.iterations - before) iterations")
        }
        try loop.close()
    }

    // MARK: Run modes (libuv's UV_RUN_NOWAIT / UV_RUN_ONCE)

    @Test func runOnceWithZeroTimeoutDoesNotWaitForAFutureTimer() throws {
        let loop = try IOLoop()
        var ran = false
        try loop.schedule(after: .seconds(30)) { ran = true }
        let start = MonotonicInstant.now()
        try loop.runOnce(timeout: .zero)
        try loop.runOnce(timeout: .seconds(-1))
        #expect(millisecondsSince(start) < 1_000)
        #expect(!ran)
        #expect(loop.metrics.activeTimers == 1)
        try loop.close()
    }

    @Test func runOnceWaitsForTheEarliestTimerAndFiresIt() throws {
        let loop = try IOLoop()
        var runs = 0
        try loop.schedule(after: .zero) { runs += 1 }
        try loop.runOnce()
        #expect(runs == 1)
        try loop.schedule(after: .milliseconds(5)) { runs += 1 }
        let watchdog = try loop.schedule(after: .seconds(10)) { Issue.record("the 5 ms timer did not end the wait") }
        let start = MonotonicInstant.now()
        while runs < 2 && millisecondsSince(start) < 5_000 { try loop.runOnce() }
        #expect(runs == 2)
        #expect(millisecondsSince(start) >= 5)
        watchdog.cancel()
        try loop.close()
    }

    @Test func runOnceWithNothingToDoWaitsTheWholeTimeout() throws {
        let loop = try IOLoop()
        let start = MonotonicInstant.now()
        try loop.runOnce(timeout: .milliseconds(20))
        #expect(millisecondsSince(start) >= 20)
        try loop.close()
    }

    // MARK: stop, close, run

    @Test func stopFromACallbackLetsTheRestOfTheIterationRunAndRunCanStartAgain() throws {
        let loop = try IOLoop()
        var order: [String] = []
        try loop.callSoon {
            order.append("stop")
            loop.stop()
        }
        try loop.callSoon {
            order.append("same iteration")
            try loop.callSoon { order.append("next iteration") }
        }
        try loop.run()
        #expect(order == ["stop", "same iteration"])
        try loop.callSoon { loop.stop() }
        try loop.run()
        #expect(order == ["stop", "same iteration", "next iteration"])
        try loop.close()
    }

    @Test func stopFromATimerEndsRunAfterThatIteration() throws {
        let loop = try IOLoop()
        var ticks = 0
        var afterStop = 0
        try loop.scheduleRepeating(every: .milliseconds(1)) {
            ticks += 1
            if ticks == 1 {
                loop.stop()
                try loop.callSoon { afterStop += 1 }
            }
        }
        try loop.run()
        #expect(ticks == 1)
        #expect(afterStop == 0, "call-soon work queued by the stopping callback waits for the next run")
        try loop.runOnce(timeout: .zero)
        #expect(afterStop == 1)
        try loop.close()
    }

    @Test func closingTheLoopFromATimerEndsRunAndDropsTheRestOfTheIteration() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        var ran: [Int] = []
        try loop.schedule(after: .zero) {
            ran.append(1)
            try loop.close()
        }
        try loop.schedule(after: .zero) { ran.append(2) }
        try loop.callSoon { ran.append(3) }
        try loop.run()
        #expect(ran == [1])
        #expect(loop.isClosed)
        #expect(throws: LoopError.closed) { try loop.run() }
        #expect(throws: LoopError.closed) { try loop.runOnce(timeout: .zero) }
    }

    @Test func closingLeavesTheUsersDescriptorsOpenAndTheLoopsOwnClosed() throws {
        let pipe = try DescriptorPair.pipe()
        // The loop's own calls, traced by a script of this test's: other tests
        // make loops at the same time, so the process's descriptor list cannot tell.
        let script = FaultScript()
        let loop = try script.run { try IOLoop() }
        try loop.watch(pipe.first.descriptor) { _ in }
        try loop.schedule(after: .seconds(60)) {}
        try script.run {
            try loop.runOnce(timeout: .zero)
            try loop.close()
        }
        #expect(isOpen(pipe.first.descriptor))
        let made = script.trace.filter { [.epollCreate, .eventfd, .pipe2].contains($0.call) && $0.result >= 0 }
        #expect(made.contains { $0.call == .epollCreate } && made.contains { $0.call == .eventfd })
        let closed = Set(script.records(of: .close).compactMap(\.descriptor).map(\.rawValue))
        let madeNumbers = made.filter { $0.call != .pipe2 }.map { Int32($0.result) }
        #expect(madeNumbers.allSatisfy { closed.contains($0) }, "made \(made), closed \(closed)")
        #expect(!closed.contains(pipe.first.descriptor.rawValue), "the user's descriptor is left alone")
    }

    // MARK: callSoon

    @Test func callSoonRunsFIFOAndWorkItQueuesRunsInTheNextIteration() throws {
        let loop = try IOLoop()
        var order: [String] = []
        try loop.callSoon {
            order.append("a")
            try loop.callSoon { order.append("c") }
        }
        try loop.callSoon { order.append("b") }
        try loop.runOnce(timeout: .zero)
        #expect(order == ["a", "b"])
        try loop.runOnce(timeout: .zero)
        #expect(order == ["a", "b", "c"])
        try loop.close()
    }

    // MARK: Watchers

    @Test(arguments: Backend.allCases)
    func aWatcherReplacedByAnotherWatchersCallbackSeesOnlyLaterEvents(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let a = try DescriptorPair.pipe()
        let b = try DescriptorPair.pipe()
        var log: [String] = []
        var watchers: [Descriptor: IOWatcher] = [:]
        var replaced = false
        for (name, fd) in [("a", a.first.descriptor), ("b", b.first.descriptor)] {
            watchers[fd] = try loop.watch(fd) { _ in
                log.append(name)
                guard !replaced else { return }
                replaced = true
                // Cancel the other one and watch its number again, in this iteration.
                let other = fd == a.first.descriptor ? b.first.descriptor : a.first.descriptor
                watchers[other]?.cancel()
                watchers[other] = try loop.watch(other) { _ in log.append("replacement") }
            }
        }
        try put(a.second.descriptor)
        try put(b.second.descriptor)
        try loop.runOnce(timeout: .seconds(1))
        #expect(log.count == 1, "the cancelled watcher ran, or the replacement got the old event: \(log)")
        try loop.runOnce(timeout: .seconds(1))
        #expect(log.contains("replacement"), "level-triggered: the replacement sees the data next iteration")
        for watcher in watchers.values { watcher.cancel() }
        try loop.close()
    }

    @Test(arguments: Backend.allCases)
    func aWatcherCancelledInItsOwnCallbackRunsOnceAndItsNumberCanBeWatchedAgain(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let pipe = try DescriptorPair.pipe()
        let fd = pipe.first.descriptor
        var runs = 0
        var watcher: IOWatcher?
        watcher = try loop.watch(fd) { _ in
            runs += 1
            watcher?.cancel()
            watcher?.cancel() // twice is harmless
        }
        try put(pipe.second.descriptor)
        try loop.runOnce(timeout: .seconds(1))
        try loop.runOnce(timeout: .zero)
        #expect(runs == 1)
        #expect(watcher?.isActive == false)
        #expect(throws: LoopError.notWatched(fd)) { try watcher?.setInterest(.writable) }
        var again = 0
        let second = try loop.watch(fd) { _ in again += 1 }
        try loop.runOnce(timeout: .seconds(1))
        #expect(again == 1)
        second.cancel()
        try loop.close()
    }

    @Test(arguments: Backend.allCases)
    func watchingANegativeOrClosedDescriptorFailsAndTheLoopGoesOn(backend: Backend) throws {
        let loop = try makeLoop(backend)
        #expect(throws: SelectorError.invalidDescriptor(Descriptor(-1))) { try loop.watch(Descriptor(-1)) { _ in } }
        let expected: SelectorError = backend == .select
            ? .descriptorOutOfRange(neverOpenDescriptor, limit: FDSet.capacity) : .invalidDescriptor(neverOpenDescriptor)
        #expect(throws: expected) { try loop.watch(neverOpenDescriptor) { _ in } }
        #expect(loop.metrics.activeWatchers == 0)
        let pipe = try DescriptorPair.pipe()
        var runs = 0
        let watcher = try loop.watch(pipe.first.descriptor) { _ in runs += 1 }
        #expect(throws: LoopError.alreadyWatched(pipe.first.descriptor)) { try loop.watch(pipe.first.descriptor) { _ in } }
        try put(pipe.second.descriptor)
        try loop.runOnce(timeout: .seconds(1))
        #expect(runs == 1)
        watcher.cancel()
        try loop.close()
    }

    @Test func aWatcherWhoseDescriptorWasClosedBeforeCancelIsCancelledCleanly() throws {
        for backend in Backend.allCases {
            let loop = try makeLoop(backend)
            let pipe = try DescriptorPair.pipe()
            let reader = try pipe.first.descriptor.duplicate()
            let fd = reader.descriptor
            let watcher = try loop.watch(fd) { _ in }
            try reader.close()
            watcher.cancel() // epoll: EBADF from the kernel, accepted
            #expect(!watcher.isActive)
            #expect(loop.metrics.activeWatchers == 0)
            try loop.runOnce(timeout: .zero)
            try loop.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func aWatcherLeftOnAClosedNumberDoesNotHideTheOtherWatchersEvents(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let pipe = try DescriptorPair.pipe()
        // A number high in select's range, which the suite's parallel tests do
        // not reach: none of them can reopen it while this test needs it closed.
        let stale = try duplicate(pipe.first.descriptor, atLeast: 1_000)
        let number = stale.descriptor.rawValue
        // A parallel test holding a thousand descriptors can fill that range: nothing to test then.
        guard number < Int32(FDSet.capacity) else {
            withKnownIssue("skipped: parallel tests held every number from 1,000 to FD_SETSIZE") { Issue.record("skipped") }
            return
        }
        let staleNumber = stale.descriptor
        let staleWatcher = try loop.watch(staleNumber) { _ in }
        let other = try DescriptorPair.pipe() // made first: it must not take the number closed next
        try stale.close() // closed without cancelling its watcher first
        var otherRuns = 0
        let otherWatcher = try loop.watch(other.first.descriptor) { _ in otherRuns += 1 }
        try put(other.second.descriptor)
        try spin(loop, iterations: 20) { otherRuns > 0 }
        #expect(otherRuns > 0, "the closed number's error hid the ready descriptor")
        staleWatcher.cancel()
        otherWatcher.cancel()
        try loop.close()
    }
}

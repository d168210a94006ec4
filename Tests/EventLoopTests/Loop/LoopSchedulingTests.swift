import EventLoop
import Testing

/// Real-clock timers, call-soon and the order of work within an iteration.
@Suite("Loop scheduling")
struct LoopSchedulingTests {
    @Test(arguments: Backend.allCases)
    func timersNeverFireEarlyOnTheRealClock(backend: Backend) throws {
        let loop = try makeLoop(backend)
        var early: [String] = []
        var fired = 0
        for micros in [0, 1, 50, 500, 1_000, 2_500, 7_000, 15_000] {
            let delay = Duration.microseconds(micros)
            let start = MonotonicInstant.now()
            try loop.schedule(after: delay) {
                fired += 1
                let elapsed = MonotonicInstant.now() - start
                if elapsed < delay { early.append("\(delay) fired after \(elapsed)") }
            }
        }
        try spin(loop, iterations: 1_000) { fired == 8 }
        #expect(fired == 8)
        #expect(early.isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func distantFutureTimersAreNoErrorForTheKernelWait(backend: Backend) throws {
        let loop = try makeLoop(backend)
        try loop.schedule(at: .distantFuture) { Issue.record("fired") }
        try loop.schedule(after: .seconds(Int64.max)) { Issue.record("fired") }
        let start = MonotonicInstant.now()
        try loop.runOnce(timeout: .milliseconds(2))
        #expect(MonotonicInstant.now() - start >= .milliseconds(2))
        #expect(loop.metrics.activeTimers == 2)
    }

    @Test(arguments: ClockKind.allCases)
    func callSoonIsFIFOAndNestedCallsWaitForTheNextIteration(clock: ClockKind) throws {
        let loop = try ClockedLoop(clock).loop
        var log: [String] = []
        try loop.callSoon {
            log.append("a")
            try loop.callSoon { log.append("c") }
        }
        try loop.callSoon { log.append("b") }
        try loop.runOnce(timeout: .zero)
        #expect(log == ["a", "b"])
        try loop.runOnce(timeout: .zero)
        #expect(log == ["a", "b", "c"])
    }

    /// How a callback keeps itself going: call-soon, or a timer for "now".
    enum Reschedule: String, CaseIterable, Sendable { case callSoon, zeroTimer }

    @Test(arguments: Backend.allCases, Reschedule.allCases)
    func selfReschedulingWorkDoesNotStarveIO(backend: Backend, how: Reschedule) throws {
        for clock in ClockKind.allCases {
            let loop = try ClockedLoop(clock, backend: backend).loop
            func again() throws {
                switch how {
                case .callSoon: try loop.callSoon(again)
                case .zeroTimer: try loop.schedule(after: .zero, again)
                }
            }
            try again()
            let pipe = try DescriptorPair.pipe()
            var served = false
            try loop.watch(pipe.first.descriptor) { _ in served = true }
            try put(pipe.second.descriptor)
            try loop.runOnce(timeout: .zero)
            if !served { try loop.runOnce(timeout: .zero) }
            #expect(served, "a readable pipe is served within two iterations (\(clock) clock)")
            try loop.close() // `again` and the loop hold each other
        }
    }

    @Test func dueTimersAreCollectedBeforeAnyRuns() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        var log: [String] = []
        try loop.schedule(after: .milliseconds(1)) {
            log.append("first")
            clock.advance(by: .milliseconds(10)) // re-entry is ignored while timers fire
        }
        try loop.schedule(after: .milliseconds(5)) { log.append("later") }
        clock.advance(by: .milliseconds(1))
        #expect(log == ["first"])
        try loop.runOnce(timeout: .zero)
        #expect(log == ["first", "later"])
    }

    @Test(arguments: ClockKind.allCases)
    func throwingCallbacksReachTheErrorHandlerAndTheLoopGoesOn(clock: ClockKind) throws {
        struct Boom: Error, Equatable { let n: Int }
        let loop = try ClockedLoop(clock).loop
        var errors: [Int] = []
        loop.errorHandler = { error in
            errors.append((error as? Boom)?.n ?? -1)
            if errors.count == 2 { throw Boom(n: 99) } // a throwing handler is survived too
        }
        try loop.callSoon { throw Boom(n: 1) }
        try loop.schedule(after: .zero) { throw Boom(n: 2) }
        let pipe = try DescriptorPair.pipe()
        try loop.watch(pipe.first.descriptor) { _ in throw Boom(n: 3) }
        try put(pipe.second.descriptor)
        try loop.runOnce(timeout: .zero)
        try loop.runOnce(timeout: .zero)
        #expect(Set(errors.prefix(3)) == [1, 2, 3])
        var ran = false
        try loop.callSoon { ran = true }
        try loop.runOnce(timeout: .zero)
        #expect(ran)
    }

    @Test func metricsCountWhatTheLoopHolds() throws {
        let loop = try IOLoop()
        let pipe = try DescriptorPair.pipe()
        let watcher = try loop.watch(pipe.first.descriptor) { _ in }
        let timer = try loop.schedule(after: .seconds(60)) {}
        try loop.callSoon {}
        var metrics = loop.metrics
        #expect(metrics.activeWatchers == 1 && metrics.activeTimers == 1 && metrics.pendingCallSoon == 1)
        try loop.runOnce(timeout: .zero)
        try loop.runOnce(timeout: .milliseconds(5))
        metrics = loop.metrics
        #expect(metrics.iterations == 2 && metrics.pendingCallSoon == 0)
        #expect(metrics.waiting >= .milliseconds(5))
        watcher.cancel()
        timer.cancel()
        #expect(loop.metrics.activeWatchers == 0 && loop.metrics.activeTimers == 0)
    }
}

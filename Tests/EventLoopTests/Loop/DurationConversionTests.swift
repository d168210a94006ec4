@testable import EventLoop
import Testing

/// Every `Duration` a user can write reaches the kernel as a valid C time:
/// conversions to nanoseconds, timespec, timeval, milliseconds and itimerspec
/// saturate and never overflow, on every backend and through every timer API.
@Suite("Durations into C times saturate")
struct DurationConversionTests {
    /// Zero, negative, sub-microsecond and sub-nanosecond, and the extremes.
    static let sweep: [Duration] = [
        .zero, .nanoseconds(-1), .seconds(-5), Duration(attoseconds: 1), Duration(attoseconds: -1),
        .nanoseconds(1), .nanoseconds(999), .microseconds(1), .nanoseconds(1_001),
        .seconds(Int64.max), .seconds(Int64.min), .nanoseconds(Int64.max), .nanoseconds(Int64.min),
        .milliseconds(Int64.max), Duration(attoseconds: .max), Duration(attoseconds: .min),
    ]

    /// Whether a timer `delay` from now is due within the test's few milliseconds.
    static func isSoon(_ delay: Duration) -> Bool { delay < .milliseconds(1) }

    @Test func nanosecondsSaturateAndRoundAwayFromZero() {
        #expect(Duration.seconds(Int64.max).nanosecondsRoundedUp == .max)
        #expect(Duration.seconds(Int64.min).nanosecondsRoundedUp == .min)
        #expect(Duration(attoseconds: .max).nanosecondsRoundedUp == .max)
        #expect(Duration(attoseconds: .min).nanosecondsRoundedUp == .min)
        #expect(Duration.seconds(1e20).nanosecondsRoundedUp == .max, "beyond Int64 seconds: no trap")
        #expect(Duration(attoseconds: 1).nanosecondsRoundedUp == 1)
        #expect(Duration(attoseconds: -1).nanosecondsRoundedUp == -1)
        #expect(Duration.nanoseconds(Int64.max).nanosecondsRoundedUp == .max)
        #expect(Duration.microseconds(-3).nanosecondsRoundedUp == -3_000)
        #expect(MonotonicInstant(nanoseconds: 5) + .seconds(Int64.min) == MonotonicInstant(nanoseconds: Int64.min + 5))
        #expect(MonotonicInstant(nanoseconds: -5) + .seconds(Int64.min) == MonotonicInstant(nanoseconds: .min))
        #expect(MonotonicInstant(nanoseconds: 5) + .seconds(Int64.max) == .distantFuture)
    }

    @Test(arguments: Backend.allCases)
    func everySelectorTakesEveryTimeout(backend: Backend) throws {
        let selector: any EventSelector<Int> = try backend.make()
        let pipe = try DescriptorPair.pipe()
        try put(pipe.second.descriptor)
        try selector.register(pipe.first.descriptor, interest: .readable, value: 7)
        for timeout in Self.sweep {
            // The pipe is readable, so even the longest wait returns at once: what
            // is checked is that the kernel accepts the converted timeout.
            let events = try selector.select(timeout: timeout)
            #expect(events.map(\.key.value) == [7], "timeout \(timeout)")
        }
        let empty: any EventSelector<Int> = try backend.make()
        for timeout in Self.sweep where timeout < .microseconds(2) {
            #expect(try empty.select(timeout: timeout).isEmpty, "timeout \(timeout)")
        }
        try selector.close()
        try empty.close()
    }

    @Test(arguments: Backend.allCases)
    func runOnceTakesEveryTimeoutOnEveryBackend(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let pipe = try DescriptorPair.pipe()
        try put(pipe.second.descriptor)
        var calls = 0
        try loop.watch(pipe.first.descriptor) { _ in calls += 1 }
        for timeout in Self.sweep {
            try loop.runOnce(timeout: timeout) // the readable pipe ends even the longest wait at once
        }
        #expect(calls == Self.sweep.count)
        // Nothing ready: the short and non-positive timeouts return promptly.
        let idle = try makeLoop(backend)
        let start = MonotonicInstant.now()
        for timeout in Self.sweep where timeout < .microseconds(2) { try idle.runOnce(timeout: timeout) }
        #expect(MonotonicInstant.now() - start < .seconds(5))
        try loop.close()
        try idle.close()
    }

    @Test(arguments: Backend.allCases)
    func everyTimerAPITakesEveryDuration(backend: Backend) throws {
        let loop = try makeLoop(backend)
        var fired: [String] = []
        var expected: [String] = []
        var distant: [TimerHandle] = []
        for (index, delay) in Self.sweep.enumerated() {
            let after = try loop.schedule(after: delay) { fired.append("after \(index)") }
            let at = try loop.schedule(at: loop.now + delay) { fired.append("at \(index)") }
            let tagged = try loop.schedule(after: delay, tag: index) { fired.append("tag \($0)") }
            let moved = try loop.schedule(after: .seconds(3_600)) { fired.append("moved \(index)") }
            #expect(moved.reschedule(after: delay))
            if delay > .zero {
                let repeating = try loop.scheduleRepeating(every: delay) { fired.append("every \(index)") }
                if Self.isSoon(delay) { repeating.cancel() } else { distant.append(repeating) }
            } else {
                #expect(throws: LoopError.invalidInterval(delay)) { try loop.scheduleRepeating(every: delay) {} }
            }
            let delayed = try loop.scheduleRepeating(every: .seconds(3_600), after: delay) { fired.append("first \(index)") }
            if Self.isSoon(delay) {
                expected += ["after \(index)", "at \(index)", "tag \(index)", "moved \(index)", "first \(index)"]
            } else {
                distant += [after, at, tagged, moved, delayed]
            }
        }
        try spin(loop) { Set(fired).isSuperset(of: expected) }
        #expect(Set(fired) == Set(expected))
        #expect(distant.allSatisfy { $0.isActive }, "far timers stay scheduled")
        // Far deadlines bound the wait without overflowing it: the caller's timeout wins.
        let start = MonotonicInstant.now()
        try loop.runOnce(timeout: .milliseconds(2))
        #expect(MonotonicInstant.now() - start < .seconds(5))
        try loop.close()
    }

    @Test func manualClockTakesEveryDuration() throws {
        let clock = ManualClock(start: MonotonicInstant(nanoseconds: 0))
        let loop = try IOLoop(clock: .manual(clock))
        var fired = 0
        for delay in Self.sweep {
            try loop.schedule(after: delay) { fired += 1 }
            try loop.schedule(at: clock.now + delay) { fired += 1 }
            clock.advance(by: delay)
        }
        clock.advance(to: .distantFuture)
        #expect(clock.now == .distantFuture)
        #expect(fired == 2 * Self.sweep.count, "every deadline is at or before the distant future")
        try loop.close()
    }

    @Test func timerDescriptorTakesEveryDuration() throws {
        let timer = try TimerFD()
        for delay in Self.sweep {
            try timer.arm(after: delay)
            try timer.arm(at: MonotonicInstant.now() + delay)
            if delay > .zero {
                try timer.arm(after: .seconds(3_600), repeating: delay)
                try timer.arm(after: delay, repeating: delay)
            } else {
                #expect(throws: ArgumentError.self) { try timer.arm(after: .seconds(3_600), repeating: delay) }
            }
        }
        try timer.arm(after: .seconds(Int64.max))
        let (next, _) = try timer.remaining()
        #expect(try #require(next) > .seconds(1_000_000), "a far expiry stays far, not wrapped to the past")
        try timer.disarm()
        try timer.close()
    }
}

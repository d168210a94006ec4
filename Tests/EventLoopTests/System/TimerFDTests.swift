import EventLoop
import Testing

/// What `TimerFD.arm` does with every delay and interval a caller can write:
/// refused before the kernel sees it, or documented and kept.
@Suite("Timer descriptor arguments")
struct TimerFDTests {
    /// Whether `timer` expires within two seconds (a bounded wait on epoll).
    static func expiresSoon(_ timer: borrowing TimerFD) throws -> Bool {
        let selector = try EpollSelector<Void>()
        defer { try? selector.close() }
        try selector.register(timer.descriptor, interest: .readable)
        guard try selector.select(timeout: .seconds(2)).count == 1 else { return false }
        return try (timer.readExpirations().value ?? 0) >= 1
    }

    @Test(arguments: [
        Duration.zero, .nanoseconds(-1), .milliseconds(-5), .seconds(Int64.min), Duration(attoseconds: -1),
        Duration(attoseconds: .min),
    ])
    func aZeroOrNegativeRepeatIntervalIsRefusedAndLeavesTheTimerAsItWas(interval: Duration) throws {
        let timer = try TimerFD()
        try timer.arm(after: .seconds(3_600), repeating: .seconds(7_200))
        let script = FaultScript()
        let refused = script.run {
            #expect(throws: ArgumentError.self) { try timer.arm(after: .milliseconds(1), repeating: interval) }
        }
        #expect(refused?.requirement.contains("positive") == true)
        #expect(script.records(of: .timerfdSettime).isEmpty, "refused before the kernel was asked")
        let (next, every) = try timer.remaining()
        #expect(every == .seconds(7_200), "still repeating as before, not turned into a one-shot")
        #expect(try #require(next) > .seconds(3_000), "still due in an hour, not in a millisecond")
        try timer.close()
    }

    @Test(arguments: [Duration.zero, .nanoseconds(-1), .milliseconds(-5), .seconds(Int64.min)])
    func aZeroOrNegativeDelayExpiresAtOnce(delay: Duration) throws {
        let timer = try TimerFD()
        try timer.arm(after: delay)
        #expect(try Self.expiresSoon(timer))
        #expect(try timer.remaining().next == nil, "a one-shot that has fired is disarmed")
        try timer.close()
    }

    @Test func aHugeDelayOrIntervalSaturatesInsteadOfWrappingToThePast() throws {
        let timer = try TimerFD()
        for huge in [Duration.seconds(Int64.max), Duration(attoseconds: .max), .nanoseconds(Int64.max)] {
            try timer.arm(after: huge, repeating: huge)
            let (next, every) = try timer.remaining()
            #expect(every == .nanoseconds(Int64.max), "\(huge)")
            #expect(try #require(next) > .seconds(100 * 365 * 86_400), "\(huge): due in about 292 years")
            #expect(try timer.readExpirations() == .wouldBlock)
        }
        try timer.close()
    }

    @Test func aSubNanosecondIntervalRoundsUpToOneNanosecond() throws {
        let timer = try TimerFD()
        try timer.arm(after: .seconds(3_600), repeating: Duration(attoseconds: 1))
        #expect(try timer.remaining().interval == .nanoseconds(1))
        try timer.close()
    }

    @Test func aDeadlineThatHasPassedExpiresAtOnceAndTheDistantFutureDoesNot() throws {
        let timer = try TimerFD()
        for past in [MonotonicInstant.now() + .seconds(-1), MonotonicInstant(nanoseconds: 0), MonotonicInstant(nanoseconds: -5)] {
            try timer.arm(at: past)
            #expect(try Self.expiresSoon(timer), "\(past)")
        }
        try timer.arm(at: .distantFuture)
        #expect(try #require(try timer.remaining().next) > .seconds(100 * 365 * 86_400))
        #expect(try timer.readExpirations() == .wouldBlock)
        try timer.close()
    }
}

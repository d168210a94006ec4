@testable import EventLoop
import Testing

/// Timer semantics on virtual time: no sleeping, exact order.
@Suite("Loop timers (manual clock)")
struct LoopTimerTests {
    private func manualLoop() throws -> (IOLoop, ManualClock) {
        let clock = ManualClock()
        return (try IOLoop(clock: .manual(clock)), clock)
    }

    @Test func firesExactlyTheTimersThatBecameDueInOrder() throws {
        let (loop, clock) = try manualLoop()
        var fired: [Int] = []
        for delay in [30, 10, 20, 40] {
            try loop.schedule(after: .milliseconds(delay)) { fired.append(delay) }
        }
        clock.advance(by: .milliseconds(9))
        #expect(fired.isEmpty)
        clock.advance(by: .milliseconds(1))
        #expect(fired == [10])
        clock.advance(by: .milliseconds(25))
        #expect(fired == [10, 20, 30])
        clock.advance(by: .seconds(1))
        #expect(fired == [10, 20, 30, 40])
        #expect(loop.metrics.activeTimers == 0)
    }

    @Test func equalDeadlinesFireInSchedulingOrderDespiteRandomCancels() throws {
        let (loop, clock) = try manualLoop()
        var generator = SeededGenerator(seed: 7)
        var fired: [Int] = []
        var expected: [Int] = []
        var handles: [TimerHandle] = []
        for i in 0..<500 {
            handles.append(try loop.schedule(after: .milliseconds(5)) { fired.append(i) })
        }
        for (i, handle) in handles.enumerated() {
            if Bool.random(using: &generator) { handle.cancel() } else { expected.append(i) }
        }
        clock.advance(by: .milliseconds(5))
        #expect(fired == expected)
    }

    @Test func randomDeadlinesFireSortedWithTiesInOrder() throws {
        let (loop, clock) = try manualLoop()
        var generator = SeededGenerator(seed: 42)
        var fired: [(deadline: Int, order: Int)] = []
        var live: [(deadline: Int, order: Int)] = []
        var handles: [TimerHandle] = []
        for order in 0..<5_000 {
            let deadline = Int.random(in: 0..<200, using: &generator)
            handles.append(try loop.schedule(after: .milliseconds(deadline)) { fired.append((deadline, order)) })
            live.append((deadline, order))
        }
        for index in stride(from: 0, to: handles.count, by: 3) { handles[index].cancel() }
        live = live.enumerated().filter { $0.offset % 3 != 0 }.map(\.element)
        for _ in 0..<50 { clock.advance(by: .milliseconds(5)) }
        let sorted = live.sorted { ($0.deadline, $0.order) < ($1.deadline, $1.order) }
        #expect(fired.map(\.order) == sorted.map(\.order))
    }

    @Test func negativeDelayMeansNowAndDistantFutureDoesNotOverflow() throws {
        let (loop, clock) = try manualLoop()
        var fired: [String] = []
        try loop.schedule(after: .seconds(-5)) { fired.append("now") }
        let far = try loop.schedule(after: .seconds(Int64.max)) { fired.append("never") }
        try loop.schedule(at: .distantFuture) { fired.append("never either") }
        clock.advance(by: .zero)
        #expect(fired == ["now"])
        clock.advance(by: .seconds(1_000_000_000))
        #expect(fired == ["now"])
        #expect(far.isActive)
        try loop.runOnce(timeout: .zero) // a far timer must not make the wait invalid
    }

    @Test func repeatingIsFixedRateAndSkipsMissedPeriods() throws {
        let (loop, clock) = try manualLoop()
        var firedAt: [Int64] = []
        let start = clock.now.nanoseconds
        try loop.scheduleRepeating(every: .milliseconds(10)) {
            firedAt.append((clock.now.nanoseconds - start) / 1_000_000)
        }
        for _ in 0..<3 { clock.advance(by: .milliseconds(10)) }
        #expect(firedAt == [10, 20, 30])
        clock.advance(by: .milliseconds(55)) // a stall: 85 ms; periods 40..80 are missed
        #expect(firedAt == [10, 20, 30, 85])
        clock.advance(by: .milliseconds(5)) // next deadline is 90, not 95: fixed rate
        #expect(firedAt == [10, 20, 30, 85, 90])
    }

    @Test func repeatingTimerCancelsItselfFromItsCallback() throws {
        let (loop, clock) = try manualLoop()
        var count = 0
        var handle: TimerHandle?
        handle = try loop.scheduleRepeating(every: .milliseconds(1)) {
            count += 1
            if count == 3 { handle?.cancel(); handle?.cancel() }
        }
        for _ in 0..<10 { clock.advance(by: .milliseconds(1)) }
        #expect(count == 3)
        #expect(handle?.isActive == false)
    }

    @Test func nonPositiveIntervalIsRefused() throws {
        let (loop, _) = try manualLoop()
        #expect(throws: LoopError.invalidInterval(.zero)) { try loop.scheduleRepeating(every: .zero) {} }
        #expect(loop.metrics.activeTimers == 0)
    }

    @Test func cancellingFromAnEarlierCallbackInTheSameIterationPreventsIt() throws {
        let (loop, clock) = try manualLoop()
        var fired: [String] = []
        var second: TimerHandle?
        try loop.schedule(after: .milliseconds(1)) { fired.append("first"); second?.cancel() }
        second = try loop.schedule(after: .milliseconds(1)) { fired.append("second") }
        clock.advance(by: .milliseconds(1))
        #expect(fired == ["first"])
    }

    @Test func cancelReleasesTheClosureAtOnce() throws {
        let (loop, _) = try manualLoop()
        final class Token {}
        var token: Token? = Token()
        weak let weakToken = token
        let handle = try loop.schedule(after: .seconds(10)) { [token] in _ = token }
        token = nil
        #expect(weakToken != nil)
        handle.cancel()
        #expect(weakToken == nil)
    }

    @Test func rescheduleMovesTheDeadline() throws {
        let (loop, clock) = try manualLoop()
        var fired = 0
        let handle = try loop.schedule(after: .milliseconds(5)) { fired += 1 }
        #expect(handle.reschedule(after: .milliseconds(50)))
        clock.advance(by: .milliseconds(10))
        #expect(fired == 0)
        clock.advance(by: .milliseconds(40))
        #expect(fired == 1)
        #expect(!handle.reschedule(after: .milliseconds(1)), "a fired timer cannot be rescheduled")
    }

    @Test func timerScheduledForNowFromACallbackWaitsForTheNextIteration() throws {
        let (loop, clock) = try manualLoop()
        var fired: [String] = []
        try loop.schedule(after: .milliseconds(1)) {
            fired.append("outer")
            try loop.schedule(after: .zero) { fired.append("inner") }
        }
        clock.advance(by: .milliseconds(1))
        #expect(fired == ["outer"])
        try loop.runOnce(timeout: .zero)
        #expect(fired == ["outer", "inner"])
    }

    @Test func taggedTimersShareOneHandler() throws {
        let (loop, clock) = try manualLoop()
        var fired: [Int] = []
        let handler: (Int) throws -> Void = { fired.append($0) }
        var handles: [TimerHandle] = []
        for tag in 0..<10 {
            handles.append(try loop.schedule(at: clock.now + .milliseconds(10 - tag), tag: tag, handler))
        }
        try loop.schedule(after: .milliseconds(20), tag: 99, handler)
        handles[3].cancel()
        clock.advance(by: .milliseconds(10))
        #expect(fired == [9, 8, 7, 6, 5, 4, 2, 1, 0])
        clock.advance(by: .milliseconds(10))
        #expect(fired.last == 99)
    }

    /// Issue 9, fault 2, exactly as reported: B ran although A had moved it,
    /// and an entry of B's that outlived B's node fired C at +15 ms.
    @Test func aTimerRescheduledByAnEarlierCallbackOfTheSameBatchIsNotCorrupted() throws {
        let (loop, clock) = try manualLoop()
        var fired: [String] = []
        var b: TimerHandle?
        try loop.schedule(after: .milliseconds(5)) { fired.append("A"); b?.reschedule(after: .milliseconds(10)) }
        b = try loop.schedule(after: .milliseconds(5)) { fired.append("B at \(clock.now.nanoseconds / 1_000_000 - 1_000_000)") }
        clock.advance(by: .milliseconds(5))
        #expect(fired == ["A"])
        try loop.schedule(after: .seconds(3_600)) { fired.append("C") }
        clock.advance(by: .milliseconds(10))
        #expect(fired == ["A", "B at 15"])
        clock.advance(by: .seconds(60))
        #expect(fired == ["A", "B at 15"], "C is an hour away")
        #expect(loop.metrics.activeTimers == 1)
    }

    @Test func aRepeatingTimerMovedByAnEarlierCallbackOfItsBatchKeepsItsPeriodFromTheNewDeadline() throws {
        let (loop, clock) = try manualLoop()
        var fired: [String] = []
        var ticker: TimerHandle?
        try loop.schedule(after: .milliseconds(10)) { fired.append("mover"); ticker?.reschedule(after: .milliseconds(3)) }
        ticker = try loop.scheduleRepeating(every: .milliseconds(10)) { fired.append("tick") }
        clock.advance(by: .milliseconds(10))
        #expect(fired == ["mover"])
        clock.advance(by: .milliseconds(3))
        #expect(fired == ["mover", "tick"])
        clock.advance(by: .milliseconds(10))
        #expect(fired == ["mover", "tick", "tick"])
    }

    @Test func aTimerCancelledInItsBatchIsNotReplacedByTheTimerThatReusesItsNode() throws {
        let (loop, clock) = try manualLoop()
        var fired: [String] = []
        var victim: TimerHandle?
        try loop.schedule(after: .milliseconds(1)) {
            fired.append("first")
            victim?.cancel()
            _ = try? loop.schedule(after: .zero) { fired.append("replacement") } // reuses the freed node
        }
        victim = try loop.schedule(after: .milliseconds(1)) { fired.append("victim") }
        clock.advance(by: .milliseconds(1))
        #expect(fired == ["first"])
        clock.advance(by: .zero)
        #expect(fired == ["first", "replacement"])
    }

    @Test func insideATimerFiredByAdvanceNowIsTheAdvancedTime() throws {
        let (loop, clock) = try manualLoop()
        var seen: [Duration] = []
        let start = clock.now
        try loop.schedule(after: .milliseconds(7)) { seen.append(loop.now - start) }
        try loop.schedule(at: start + .milliseconds(3)) { seen.append(loop.now - start) }
        clock.advance(by: .milliseconds(5))
        clock.advance(to: start + .milliseconds(9))
        #expect(seen == [.milliseconds(5), .milliseconds(9)])
        #expect(loop.now == start + .milliseconds(9))
    }

    /// A negative duration means zero wherever zero has a meaning (a delay, a
    /// timeout, a clock step); a repeat interval has none, so it is refused.
    @Test func negativeDurationsMeanZeroAndNonPositiveIntervalsAreRefused() throws {
        let (loop, clock) = try manualLoop()
        let start = clock.now
        var fired: [String] = []
        for interval in [Duration.zero, .nanoseconds(-1), .seconds(Int64.min), Duration(attoseconds: -1)] {
            #expect(throws: LoopError.invalidInterval(interval)) { try loop.scheduleRepeating(every: interval) {} }
            #expect(throws: LoopError.invalidInterval(interval)) {
                try loop.scheduleRepeating(every: interval, after: .zero) {}
            }
        }
        #expect(loop.metrics.activeTimers == 0)
        try loop.schedule(after: .milliseconds(-5)) { fired.append("negative delay") }
        try loop.scheduleRepeating(every: .milliseconds(10), after: .milliseconds(-5)) { fired.append("tick") }
        let moved = try loop.schedule(after: .seconds(60)) { fired.append("moved") }
        #expect(moved.reschedule(after: .seconds(-1)))
        clock.advance(by: .milliseconds(-5)) // time does not run back, and what is due fires
        #expect(clock.now == start)
        #expect(fired == ["negative delay", "tick", "moved"])
        clock.advance(to: start + .seconds(-1))
        #expect(clock.now == start)
        let begin = MonotonicInstant.now()
        try loop.runOnce(timeout: .milliseconds(-100)) // a negative timeout polls
        #expect(MonotonicInstant.now() - begin < .seconds(5))
        #expect(LoopError.invalidInterval(.zero).description.contains("positive interval"))
    }

    @Test func repeatingTimersNearTheEndsOfTimeDoNotOverflow() throws {
        let clock = ManualClock(start: MonotonicInstant(nanoseconds: .min))
        let loop = try IOLoop(clock: .manual(clock))
        var ticks = 0
        let ticker = try loop.scheduleRepeating(every: .milliseconds(1)) { ticks += 1 }
        try loop.scheduleRepeating(every: .seconds(Int64.max)) { ticks += 100 }
        clock.advance(to: .distantFuture)
        #expect(ticks == 101, "missed periods are skipped, not replayed")
        #expect(ticker.isActive)
        try loop.close()
    }

    @Test func timerLayoutStaysCompact() {
        #expect(MemoryLayout<TimerHeap.Entry>.stride == 16, "four heap children per cache line")
        #expect(MemoryLayout<TimerHeap.Node>.stride <= 48)
    }

    @Test func aMillionTimersHalfCancelledLeaveNothingBehind() throws {
        let (loop, clock) = try manualLoop()
        var generator = SeededGenerator(seed: 1)
        var fired = 0
        var last = Int64.min
        var ordered = true
        var handles: [TimerHandle] = []
        handles.reserveCapacity(1_000_000)
        for _ in 0..<1_000_000 {
            let delay = Int64.random(in: 0..<1_000_000_000, using: &generator)
            handles.append(try loop.schedule(after: .nanoseconds(delay)) {
                fired += 1
                let now = clock.now.nanoseconds
                if now < last { ordered = false }
                last = now
            })
        }
        for index in stride(from: 0, to: handles.count, by: 2) { handles[index].cancel() }
        #expect(loop.metrics.activeTimers == 500_000)
        for _ in 0..<10 { clock.advance(by: .milliseconds(100)) }
        #expect(fired == 500_000)
        #expect(ordered)
        #expect(loop.metrics.activeTimers == 0)
        #expect(loop.timers.allocatedNodes == 0, "the slab gave its memory back")
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}

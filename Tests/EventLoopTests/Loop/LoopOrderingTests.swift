import EventLoop
import Glibc
import Synchronization
import Testing

/// The clocks a loop reads time from; ordering must not depend on which.
enum ClockKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case monotonic, manual
    var testDescription: String { rawValue }
}

/// A loop on either clock, with the one way a test lets time pass on both.
struct ClockedLoop {
    let loop: IOLoop
    let manual: ManualClock?

    init(_ kind: ClockKind, backend: Backend = .epoll) throws {
        manual = kind == .manual ? ManualClock() : nil
        loop = try makeLoop(backend, clock: manual.map { .manual($0) } ?? .monotonic)
    }

    /// Lets `duration` pass and fires the timers that became due. Manual
    /// clock: `advance(by:)`. Real clock: wait without running the loop, then
    /// one non-blocking iteration, which fires them (in its timer phase).
    func elapse(_ duration: Duration) throws {
        if let manual {
            manual.advance(by: duration)
            return
        }
        let target = MonotonicInstant.now() + duration
        while MonotonicInstant.now() < target { usleep(200) } // real time has to pass on the real clock
        try loop.runOnce(timeout: .zero)
    }
}

/// The order of work within and across iterations, on the real and the manual
/// clock alike (the same test, the same result).
@Suite("Loop ordering on both clocks")
struct LoopOrderingTests {
    @Test(arguments: ClockKind.allCases, Backend.allCases)
    func eachIterationRunsIOThenTimersThenCallSoonThenSubmissions(clock: ClockKind, backend: Backend) throws {
        let loop = try ClockedLoop(clock, backend: backend).loop
        let pipe = try DescriptorPair.pipe()
        let log = Mutex<[String]>([])
        try loop.callSoon { log.withLock { $0.append("call-soon") } }
        try loop.handle.submit { log.withLock { $0.append("submission") } }
        try loop.schedule(after: .zero) { log.withLock { $0.append("timer") } }
        let watcher = try loop.watch(pipe.first.descriptor) { _ in log.withLock { $0.append("io") } }
        try put(pipe.second.descriptor)
        try loop.runOnce(timeout: .zero)
        #expect(log.withLock { $0 } == ["io", "timer", "call-soon", "submission"])
        watcher.cancel()
        try loop.close()
    }

    @Test(arguments: ClockKind.allCases)
    func callSoonQueuedBeforeASubmissionRunsBeforeIt(clock: ClockKind) throws {
        let loop = try ClockedLoop(clock).loop
        let log = Mutex<[Int]>([])
        try loop.callSoon { log.withLock { $0.append(1) } }
        try loop.handle.submit { log.withLock { $0.append(2) } }
        try loop.runOnce(timeout: .zero)
        #expect(log.withLock { $0 } == [1, 2])
        // The phases are ordered, not the calls: a submission made first still runs after call-soon.
        try loop.handle.submit { log.withLock { $0.append(4) } }
        try loop.callSoon { log.withLock { $0.append(3) } }
        try loop.runOnce(timeout: .zero)
        #expect(log.withLock { $0 } == [1, 2, 3, 4])
        try loop.close()
    }

    /// Where work for "now" comes from.
    enum Source: String, CaseIterable, Sendable { case io, timer, callSoon, submission }
    /// What it adds for "now".
    enum Work: String, CaseIterable, Sendable { case callSoon, zeroTimer, pastTimer, movedTimer }

    @Test(arguments: ClockKind.allCases, Source.allCases)
    func workAddedForNowByAnyCallbackRunsInTheNextIteration(clock: ClockKind, source: Source) throws {
        for work in Work.allCases {
            let loop = try ClockedLoop(clock).loop
            let pipe = try DescriptorPair.pipe()
            let ran = Mutex<[String]>([])
            // A timer far away, for the `movedTimer` work to bring forward to now.
            let parked = try loop.schedule(after: .seconds(3_600)) { ran.withLock { $0.append("work") } }
            let addWork: () throws -> Void = {
                ran.withLock { $0.append("source") }
                switch work {
                case .callSoon: try loop.callSoon { ran.withLock { $0.append("work") } }
                case .zeroTimer: try loop.schedule(after: .zero) { ran.withLock { $0.append("work") } }
                case .pastTimer:
                    try loop.schedule(at: loop.now + .seconds(-1)) { ran.withLock { $0.append("work") } }
                case .movedTimer: parked.reschedule(after: .zero)
                }
            }
            var watcher: IOWatcher?
            switch source {
            case .io:
                watcher = try loop.watch(pipe.first.descriptor) { _ in
                    watcher?.cancel()
                    try addWork()
                }
                try put(pipe.second.descriptor)
            case .timer: try loop.schedule(after: .zero, addWork)
            case .callSoon: try loop.callSoon(addWork)
            case .submission:
                // Submitted closures are Sendable; this one only sends the loop thread back to `addWork`.
                nonisolated(unsafe) let onLoopThread = addWork
                try loop.handle.submit { try? onLoopThread() }
            }
            try loop.runOnce(timeout: .milliseconds(100))
            #expect(ran.withLock { $0 } == ["source"], "\(work) added by \(source) ran in the same iteration")
            try loop.runOnce(timeout: .milliseconds(100))
            #expect(ran.withLock { $0 } == ["source", "work"], "\(work) added by \(source)")
            try loop.close()
        }
    }

    @Test(arguments: ClockKind.allCases)
    func dueTimersFireInDeadlineOrderWithTiesInSchedulingOrder(clock: ClockKind) throws {
        let clocked = try ClockedLoop(clock)
        let loop = clocked.loop
        var fired: [String] = []
        let base = loop.now
        for (name, offset) in [("c", 4), ("a", 2), ("d", 4), ("b", 2), ("e", 30), ("first", 0)] {
            try loop.schedule(at: base + .milliseconds(offset)) { fired.append(name) }
        }
        try clocked.elapse(.milliseconds(4))
        // On the real clock "e" may be due too, if this thread was held up: it comes last all the same.
        #expect(fired.prefix(5) == ["first", "a", "b", "c", "d"])
        try clocked.elapse(.milliseconds(30))
        #expect(fired == ["first", "a", "b", "c", "d", "e"])
        try loop.close()
    }

    /// Issue 9, fault 2: B, moved by A in the batch where both were due, ran
    /// anyway, and a heap entry of B's outlived it and fired C an hour early.
    @Test(arguments: ClockKind.allCases)
    func aTimerMovedOrCancelledByAnEarlierCallbackOfItsBatchDoesNotRunInIt(clock: ClockKind) throws {
        let clocked = try ClockedLoop(clock)
        let loop = clocked.loop
        var fired: [String] = []
        var b: TimerHandle?
        var c: TimerHandle?
        let due = loop.now + .milliseconds(5)
        try loop.schedule(at: due) {
            fired.append("A")
            #expect(b?.reschedule(after: .milliseconds(10)) == true)
            c?.cancel()
        }
        b = try loop.schedule(at: due) { fired.append("B") }
        c = try loop.schedule(at: due) { fired.append("C") }
        try clocked.elapse(.milliseconds(5))
        #expect(fired == ["A"])
        #expect(b?.isActive == true && c?.isActive == false)
        try loop.schedule(after: .seconds(3_600)) { fired.append("an hour later") }
        try clocked.elapse(.milliseconds(11))
        #expect(fired == ["A", "B"])
        #expect(loop.metrics.activeTimers == 1)
        try loop.close()
    }

    @Test(arguments: ClockKind.allCases)
    func aTimerSeesNowAtOrAfterItsDeadline(clock: ClockKind) throws {
        let clocked = try ClockedLoop(clock)
        let loop = clocked.loop
        var early: [String] = []
        var fired = 0
        for delay in [0, 1, 2, 3] {
            let deadline = loop.now + .milliseconds(delay)
            try loop.schedule(at: deadline) {
                fired += 1
                if loop.now < deadline { early.append("\(delay) ms timer saw now \(deadline - loop.now) early") }
            }
            let after = MonotonicInstant(nanoseconds: clocked.manual?.now.nanoseconds ?? MonotonicInstant.now().nanoseconds)
                + .milliseconds(delay)
            try loop.schedule(after: .milliseconds(delay)) {
                fired += 1
                if loop.now < after { early.append("\(delay) ms delay saw now \(after - loop.now) early") }
            }
        }
        for _ in 0..<4 { try clocked.elapse(.milliseconds(1)) }
        #expect(fired == 8)
        #expect(early.isEmpty)
        try loop.close()
    }

    @Test(arguments: ClockKind.allCases)
    func randomDeadlinesFireSortedWithTiesInSchedulingOrderDespiteCancels(clock: ClockKind) throws {
        let clocked = try ClockedLoop(clock)
        let loop = clocked.loop
        var generator = SeededGenerator(seed: 99)
        var fired: [Int] = []
        var live: [(deadline: Int, order: Int)] = []
        let base = loop.now
        for order in 0..<2_000 {
            let deadline = Int.random(in: 0..<40, using: &generator)
            let handle = try loop.schedule(at: base + .milliseconds(deadline)) { fired.append(order) }
            if Int.random(in: 0..<3, using: &generator) == 0 { handle.cancel() } else { live.append((deadline, order)) }
        }
        for _ in 0..<10 { try clocked.elapse(.milliseconds(5)) }
        let sorted = live.sorted { ($0.deadline, $0.order) < ($1.deadline, $1.order) }
        #expect(fired == sorted.map(\.order))
        try loop.close()
    }
}

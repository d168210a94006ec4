@testable import EventLoop
import Glibc
import Synchronization
import Testing

/// The handler-and-tag forms (`schedule(at:tag:_:)`, `LoopHandle.submit(tag:_:)`)
/// keep a shared handler once, not once per timer or submission: they must
/// still run every tag exactly once, in order, and release the handler when
/// its last timer or submission is gone.
@Suite("Shared handlers: timers and submissions with a tag")
struct LoopSharedHandlerTests {
    private func manualLoop() throws -> (IOLoop, ManualClock) {
        let clock = ManualClock()
        return (try IOLoop(clock: .manual(clock)), clock)
    }

    /// An object whose release a test can watch.
    final class Witness: @unchecked Sendable {
        let onDeinit: @Sendable () -> Void
        init(_ onDeinit: @escaping @Sendable () -> Void = {}) { self.onDeinit = onDeinit }
        deinit { onDeinit() }
    }

    @Test func aStoredHandlerIsKeptOnceAndReleasedWithItsLastTimer() throws {
        let (loop, clock) = try manualLoop()
        var fired: [Int] = []
        weak var weakWitness: Witness?
        do {
            let witness = Witness()
            weakWitness = witness
            let handler: (Int) throws -> Void = { tag in _ = witness; fired.append(tag) }
            var ids: [TimerID] = []
            for tag in 0..<1_000 {
                ids.append(try loop.schedule(at: clock.now + .milliseconds(1 + tag % 3), tag: tag, handler).id)
            }
            #expect(loop.timers.handlerSlotsInUse == 1, "one handler, one slot")
            for tag in stride(from: 1, to: 1_000, by: 2) { loop.cancelTimer(ids[tag]) }
        }
        #expect(weakWitness != nil)
        clock.advance(by: .milliseconds(2))
        #expect(weakWitness != nil, "timers at +3 ms still use it")
        clock.advance(by: .milliseconds(1))
        #expect(weakWitness == nil, "released with its last timer")
        let expected = (0..<1_000).filter { $0 % 2 == 0 }.sorted { ($0 % 3, $0) < ($1 % 3, $1) }
        #expect(fired == expected)
        #expect(loop.timers.handlerSlotsInUse == 0)
    }

    @Test func cancellingAHandlersLastTimerFromAnotherHandlersRunReleasesItAtOnce() throws {
        let (loop, clock) = try manualLoop()
        var log: [String] = []
        var victims: [TimerID] = []
        weak var weakVictimWitness: Witness?
        do {
            let witness = Witness()
            weakVictimWitness = witness
            let victimHandler: (Int) throws -> Void = { tag in _ = witness; log.append("victim \(tag)") }
            for tag in 0..<3 { victims.append(try loop.schedule(at: clock.now + .milliseconds(5), tag: tag, victimHandler).id) }
        }
        let canceller: (Int) throws -> Void = { tag in
            if tag == 0 {
                for id in victims { loop.cancelTimer(id) }
                log.append(weakVictimWitness == nil ? "released at once" : "still held")
            }
            log.append("canceller \(tag)")
        }
        for tag in 0..<2 { try loop.schedule(at: clock.now + .milliseconds(1), tag: tag, canceller) }
        clock.advance(by: .milliseconds(1))
        #expect(log == ["released at once", "canceller 0", "canceller 1"])
        clock.advance(by: .milliseconds(5))
        #expect(log.count == 3)
        #expect(loop.metrics.activeTimers == 0)
    }

    @Test func aRunThatCancelsItsOwnLaterTimersSkipsThemAndThenReleasesItsHandler() throws {
        let (loop, clock) = try manualLoop()
        var log: [String] = []
        var ids: [TimerID] = []
        weak var weakWitness: Witness?
        do {
            let witness = Witness()
            weakWitness = witness
            let handler: (Int) throws -> Void = { tag in
                _ = witness
                log.append("run \(tag)")
                if tag == 0 { for id in ids.dropFirst() { loop.cancelTimer(id) } }
            }
            for tag in 0..<4 { ids.append(try loop.schedule(at: clock.now + .milliseconds(1), tag: tag, handler).id) }
        }
        clock.advance(by: .milliseconds(1))
        #expect(log == ["run 0"])
        #expect(weakWitness == nil)
        #expect(loop.timers.handlerSlotsInUse == 0)
    }

    @Test func handlersMadeAfreshForEveryTimerEachGetASlotAndAllAreReleased() throws {
        let (loop, clock) = try manualLoop()
        let released = Atomic<Int>(0)
        var fired: [Int] = []
        for tag in 0..<100 {
            let witness = Witness { released.add(1, ordering: .relaxed) }
            try loop.schedule(at: clock.now + .milliseconds(100 - tag), tag: tag) { tag in _ = witness; fired.append(tag) }
        }
        #expect(loop.timers.handlerSlotsInUse == 100)
        clock.advance(by: .milliseconds(100))
        #expect(fired == Array((0..<100).reversed()))
        #expect(released.load(ordering: .relaxed) == 100)
        #expect(loop.timers.handlerSlotsInUse == 0)
    }

    @Test func twoHandlersAlternatingAreBothFoundAgain() throws {
        let (loop, clock) = try manualLoop()
        var log: [String] = []
        let a: (Int) throws -> Void = { log.append("a\($0)") }
        let b: (Int) throws -> Void = { log.append("b\($0)") }
        for tag in 0..<10 {
            try loop.schedule(at: clock.now + .milliseconds(1), tag: tag, tag % 2 == 0 ? a : b)
        }
        #expect(loop.timers.handlerSlotsInUse == 2)
        clock.advance(by: .milliseconds(1))
        #expect(log == (0..<10).map { $0 % 2 == 0 ? "a\($0)" : "b\($0)" })
    }

    @Test func aHandlerThatThrowsReachesTheErrorHandlerAndItsRunGoesOn() throws {
        struct Boom: Error { let tag: Int }
        let (loop, clock) = try manualLoop()
        var errors: [Int] = []
        var fired: [Int] = []
        loop.errorHandler = { errors.append(($0 as? Boom)?.tag ?? -1) }
        let handler: (Int) throws -> Void = { tag in
            fired.append(tag)
            if tag % 3 == 0 { throw Boom(tag: tag) }
        }
        for tag in 0..<7 { try loop.schedule(at: clock.now + .milliseconds(1), tag: tag, handler) }
        clock.advance(by: .milliseconds(1))
        #expect(fired == Array(0..<7))
        #expect(errors == [0, 3, 6])
    }

    @Test func closingFromASharedHandlersRunStopsItAndReleasesEverything() throws {
        let (loop, clock) = try manualLoop()
        var fired: [Int] = []
        weak var weakWitness: Witness?
        do {
            let witness = Witness()
            weakWitness = witness
            let handler: (Int) throws -> Void = { tag in
                _ = witness
                fired.append(tag)
                if tag == 2 { try loop.close() }
            }
            for tag in 0..<6 { try loop.schedule(at: clock.now + .milliseconds(1), tag: tag, handler) }
        }
        clock.advance(by: .milliseconds(1))
        #expect(fired == [0, 1, 2])
        #expect(loop.isClosed)
        #expect(weakWitness == nil)
    }

    /// Ties across the point where 32-bit sequence numbers run out still fire
    /// in scheduling order: the heap renumbers them.
    @Test func tiesStayInSchedulingOrderAcrossTheSequenceWrap() throws {
        let (loop, clock) = try manualLoop()
        var fired: [Int] = []
        let handler: (Int) throws -> Void = { fired.append($0) }
        let deadline = clock.now + .milliseconds(1)
        try loop.schedule(at: clock.now + .seconds(10), tag: -1, handler) // an old timer that outlives the wrap
        loop.timers.nextSequence = UInt32.max - 20
        for tag in 0..<50 { try loop.schedule(at: deadline, tag: tag, handler) }
        #expect(loop.timers.nextSequence < 100, "renumbered")
        clock.advance(by: .milliseconds(1))
        #expect(fired == Array(0..<50))
        try loop.schedule(at: clock.now + .milliseconds(9_999), tag: 99, handler)
        clock.advance(by: .milliseconds(9_999))
        #expect(fired.suffix(2) == [-1, 99], "the old timer, renumbered, still ties first")
    }

    /// Repeating timers are re-armed in place when their batch is collected;
    /// among timers with the same next deadline they still take the place of
    /// a re-arm as they fire, also across the sequence wrap.
    @Test func repeatingTimersReArmedInTheirBatchKeepTheOrderOfAReArmAsTheyFire() throws {
        let (loop, clock) = try manualLoop()
        var log: [String] = []
        var first: TimerHandle?
        loop.timers.nextSequence = UInt32.max - 3
        first = try loop.scheduleRepeating(every: .milliseconds(10)) { log.append("a") }
        try loop.scheduleRepeating(every: .milliseconds(10)) { log.append("b") }
        try loop.schedule(after: .milliseconds(10)) {
            log.append("one-shot")
            // Due with the repeating timers' next period: scheduled after b re-armed
            // (b fired before this callback) and before d re-arms (d fires after it).
            _ = try? loop.schedule(after: .milliseconds(10)) { log.append("c") }
            first?.cancel()
        }
        try loop.scheduleRepeating(every: .milliseconds(10)) { log.append("d") }
        clock.advance(by: .milliseconds(10))
        #expect(log == ["a", "b", "one-shot", "d"])
        clock.advance(by: .milliseconds(10))
        #expect(log == ["a", "b", "one-shot", "d", "b", "c", "d"], "c ties after b's re-arm and before d's")
        #expect(loop.timers.nextSequence < 100, "renumbered on the way")
        clock.advance(by: .milliseconds(10))
        #expect(log.suffix(2) == ["b", "d"])
    }

    @Test func repeatingTimersRunOncePerPeriodWithoutADivision() throws {
        let (loop, clock) = try manualLoop()
        var ticks = 0
        try loop.scheduleRepeating(every: .milliseconds(3)) { ticks += 1 }
        for _ in 0..<30 { clock.advance(by: .milliseconds(1)) }
        #expect(ticks == 10)
        clock.advance(by: .milliseconds(31)) // ten periods missed: skipped, one run
        #expect(ticks == 11)
        clock.advance(by: .milliseconds(2))
        #expect(ticks == 12, "the period stays on the grid of the first deadline")
    }

    @Test func delaysConvertRoundedUpOnBothSidesOfTheFastPath() {
        let cases: [(Duration, Int64)] = [
            (.zero, 0), (.nanoseconds(-5), 0), (Duration(attoseconds: 1), 1), (.nanoseconds(7), 7),
            (Duration(attoseconds: 1_000_000_001), 2), (.seconds(9), 9_000_000_000),
            (Duration(attoseconds: Int128(Int64.max)), 9_223_372_037), (.seconds(10), 10_000_000_000),
            (.seconds(3_600), 3_600_000_000_000), (.seconds(Int64.max), .max),
        ]
        for (delay, nanoseconds) in cases {
            #expect(IOLoop.nanoseconds(delay) == nanoseconds, "\(delay)")
            #expect(IOLoop.nanoseconds(delay) == max(delay.nanosecondsRoundedUp, 0), "\(delay)")
        }
    }

    // MARK: - Submissions with a tag

    @Test func taggedAndPlainSubmissionsFromManyThreadsRunOnceInOrder() throws {
        let loop = try IOLoop()
        let handle = loop.handle
        let threads = 8
        let perThread = 20_000
        final class Tally: @unchecked Sendable { // loop thread only
            var next = [Int](repeating: 0, count: 8)
            var outOfOrder = 0
            var total = 0
        }
        let tally = Tally()
        var senders: [TestThread] = []
        for thread in 0..<threads {
            senders.append(TestThread {
                let handler: @Sendable (Int) -> Void = { index in
                    if tally.next[thread] != index { tally.outOfOrder += 1 }
                    tally.next[thread] = index + 1
                    tally.total += 1
                    if tally.total == threads * perThread { handle.stop() }
                }
                for index in 0..<perThread {
                    if index % 7 == 3 {
                        try? handle.submit { handler(index) } // a closure between tagged runs
                    } else {
                        try? handle.submit(tag: index, handler)
                    }
                }
            })
        }
        let watchdog = try loop.schedule(after: .seconds(60)) { loop.stop() }
        try loop.run()
        watchdog.cancel()
        for sender in senders { sender.join() }
        try loop.runOnce(timeout: .zero)
        #expect(tally.total == threads * perThread)
        #expect(tally.outOfOrder == 0)
    }

    @Test func aSubmittedHandlerIsReleasedOnceItsSubmissionsRanOrWereDropped() throws {
        let loop = try IOLoop()
        let handle = loop.handle
        let released = Atomic<Int>(0)
        let ran = Atomic<Int>(0)
        do {
            let witness = Witness { released.add(1, ordering: .relaxed) }
            let handler: @Sendable (Int) -> Void = { _ in _ = witness; ran.add(1, ordering: .relaxed) }
            for tag in 0..<10 { try handle.submit(tag: tag, handler) }
        }
        #expect(released.load(ordering: .relaxed) == 0)
        try loop.runOnce(timeout: .zero)
        #expect(ran.load(ordering: .relaxed) == 10)
        #expect(released.load(ordering: .relaxed) == 1)
        do {
            let witness = Witness { released.add(1, ordering: .relaxed) }
            let handler: @Sendable (Int) -> Void = { _ in _ = witness; ran.add(1, ordering: .relaxed) }
            for tag in 0..<10 { try handle.submit(tag: tag, handler) }
        }
        try loop.close() // never run: released with the queue
        #expect(ran.load(ordering: .relaxed) == 10)
        #expect(released.load(ordering: .relaxed) == 2)
        #expect(throws: LoopError.closed) { try handle.submit(tag: 1) { _ in } }
    }

    @Test func closingInsideATaggedRunDropsTheRestUnrun() throws {
        let loop = try IOLoop()
        let handle = loop.handle
        final class Box: @unchecked Sendable { var ran: [Int] = [] } // loop thread only
        let box = Box()
        nonisolated(unsafe) let loopThreadOnly = loop // the handler runs on the loop thread
        let handler: @Sendable (Int) -> Void = { tag in
            box.ran.append(tag)
            if tag == 2 { try? loopThreadOnly.close() }
        }
        for tag in 0..<5 { try handle.submit(tag: tag, handler) }
        try loop.runOnce(timeout: .zero)
        #expect(box.ran == [0, 1, 2])
    }

    /// Producers outnumbering the cores keep submitting while the loop closes:
    /// every submission either runs or is refused, none is lost, and no
    /// eventfd write reaches a closed descriptor.
    @Test func closingWhileManyProducersSubmitIsClean() throws {
        for _ in 0..<20 {
            let loop = try IOLoop()
            let handle = loop.handle
            let accepted = Atomic<Int>(0)
            let ran = Atomic<Int>(0)
            let go = Atomic<Bool>(false)
            var senders: [TestThread] = []
            for _ in 0..<8 {
                senders.append(TestThread {
                    while !go.load(ordering: .acquiring) {}
                    for tag in 0..<2_000 {
                        let done = tag % 2 == 0
                            ? (try? handle.submit { ran.add(1, ordering: .relaxed) }) != nil
                            : (try? handle.submit(tag: tag) { _ in ran.add(1, ordering: .relaxed) }) != nil
                        if !done { return }
                        accepted.add(1, ordering: .relaxed)
                        if tag % 64 == 0 { handle.stop() }
                    }
                })
            }
            go.store(true, ordering: .releasing)
            for _ in 0..<3 { try loop.runOnce(timeout: .milliseconds(1)) }
            try loop.close()
            for sender in senders { sender.join() }
            #expect(ran.load(ordering: .relaxed) <= accepted.load(ordering: .relaxed))
        }
    }
}

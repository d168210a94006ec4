import EventLoop
import Glibc
import Testing

/// The loop's timers against a plain model: a list of live timers, sorted when
/// a batch fires. Random schedule, schedule-at, repeat, cancel, reschedule,
/// advance and iterate operations, each also made from inside timer callbacks
/// while their batch fires, on a `ManualClock`. Checked: never early, never
/// lost, never twice, ties in scheduling order, and the live count.
///
/// A longer run by hand: `TIMER_MODEL_SEED=123 TIMER_MODEL_OPS=5000000 swift test --filter TimerModelTests`.
@Suite("Timers against a sorted-list model")
struct TimerModelTests {
    @Test func randomOperationsMatchTheModel() throws {
        let seed = environmentNumber("TIMER_MODEL_SEED") ?? 20_240_917
        let operations = environmentNumber("TIMER_MODEL_OPS") ?? 100_000
        let run = try ModelRun(seed: seed)
        try run.perform(operations)
        #expect(run.failures.isEmpty, "seed \(seed): \(run.failures.prefix(5))")
        if run.failures.isEmpty && operations >= 10_000 {
            // The run was worth its time: timers fired, piled up, and changed mid-batch.
            #expect(run.fired > operations / 4, "seed \(seed)")
            #expect(run.liveSum / operations > 5, "seed \(seed)")
            #expect(run.changedInsideBatches > operations / 20, "seed \(seed)")
        }
        try run.finish()
    }

    private func environmentNumber(_ name: String) -> Int? {
        guard let text = getenv(name) else { return nil }
        return Int(String(cString: text))
    }
}

/// What the model knows about one timer.
private struct ModelTimer {
    var deadline: Int64
    /// Scheduling order: the order of the last schedule, reschedule or re-arm.
    var sequence: Int
    var interval: Int64
    /// Bumped by every change, so a batch entry taken before it is stale.
    var version: Int
}

/// Drives a loop and the model in step. Loop thread only.
private final class ModelRun {
    let clock = ManualClock(start: MonotonicInstant(nanoseconds: 1_000_000_000))
    let loop: IOLoop
    var generator: SeededGenerator
    var live: [Int: ModelTimer] = [:]
    var handles: [Int: TimerHandle] = [:]
    var nextID = 0
    var nextSequence = 0
    /// The batch firing now: entries in firing order, taken when it began.
    var batch: [(id: Int, version: Int, deadline: Int64)] = []
    var batchPosition = 0
    var batchNow: Int64 = 0
    var inBatch = false
    var failures: [String] = []
    var fired = 0
    var liveSum = 0
    var changedInsideBatches = 0
    var tagHandler: ((Int) throws -> Void)!

    init(seed: Int) throws {
        generator = SeededGenerator(seed: UInt64(truncatingIfNeeded: seed))
        loop = try IOLoop(clock: .manual(clock))
        tagHandler = { [unowned self] id in self.timerFired(id) }
    }

    func fail(_ message: @autoclosure () -> String) {
        if failures.count < 20 { failures.append(message()) }
    }

    func perform(_ operations: Int) throws {
        for _ in 0..<operations {
            if !failures.isEmpty { return }
            try randomOperation(insideBatch: false)
            liveSum += live.count
            if loop.metrics.activeTimers != live.count {
                fail("live count \(loop.metrics.activeTimers), model \(live.count)")
            }
        }
    }

    func finish() throws {
        try loop.close() // releases the closures, which hold this run
    }

    // MARK: - Operations

    func random(_ range: Range<Int>) -> Int { Int.random(in: range, using: &generator) }

    /// A delay: mostly a few multiples of 5 ms (so deadlines tie), some up to a
    /// second (so timers pile up), some zero, negative, sub-microsecond or extreme.
    func randomDelay() -> Duration {
        switch random(0..<40) {
        case 0, 1: .zero
        case 2, 3: .milliseconds(-random(1..<50))
        case 4: .seconds(Int64.max)
        case 5, 6: .nanoseconds(random(1..<1_000))
        case 7..<17: .milliseconds(random(0..<1_000))
        default: .milliseconds(5 * random(0..<6))
        }
    }

    func randomInstant() -> MonotonicInstant {
        switch random(0..<20) {
        case 0: MonotonicInstant(nanoseconds: .min)
        case 1: .distantFuture
        default: clock.now + .milliseconds(5 * random(-1..<6))
        }
    }

    /// A live timer's id half the time, otherwise any recent one (perhaps fired or cancelled).
    func randomKnownID() -> Int? {
        if random(0..<2) == 0, let id = live.keys.randomElement(using: &generator) { return id }
        return nextID == 0 ? nil : random(max(0, nextID - 150)..<nextID)
    }

    func randomOperation(insideBatch: Bool) throws {
        // Keep the model small enough to sort often: past 64 live timers, cancel instead of scheduling.
        let crowded = live.count > 64
        switch random(0..<100) {
        case 0..<32 where crowded: cancel()
        case 0..<19: try scheduleAfter()
        case 19..<27: try scheduleAt()
        case 27..<31: try scheduleTagged()
        case 31..<32: try scheduleRepeating()
        case 32..<38: cancel()
        case 38..<50: reschedule()
        case 50..<53: checkActive()
        case 53..<66: try iterate(insideBatch: insideBatch)
        default: advance(insideBatch: insideBatch)
        }
    }

    func add(deadline: MonotonicInstant, interval: Int64, _ handle: TimerHandle) {
        live[nextID] = ModelTimer(deadline: deadline.nanoseconds, sequence: nextSequence, interval: interval, version: 0)
        handles[nextID] = handle
        nextSequence += 1
        nextID += 1
        if inBatch { changedInsideBatches += 1 }
    }

    func scheduleAfter() throws {
        let delay = randomDelay()
        let id = nextID
        let deadline = clock.now + max(delay, .zero)
        let handle = try loop.schedule(after: delay) { [unowned self] in self.timerFired(id) }
        add(deadline: deadline, interval: 0, handle)
    }

    func scheduleAt() throws {
        let instant = randomInstant()
        let id = nextID
        let handle = try loop.schedule(at: instant) { [unowned self] in self.timerFired(id) }
        add(deadline: instant, interval: 0, handle)
    }

    func scheduleTagged() throws {
        let instant = randomInstant()
        let handle = try loop.schedule(at: instant, tag: nextID, tagHandler)
        add(deadline: instant, interval: 0, handle)
    }

    func scheduleRepeating() throws {
        let interval = Duration.milliseconds(random(1..<100))
        let initial: Duration? = random(0..<2) == 0 ? nil : randomDelay()
        let id = nextID
        let deadline = clock.now + max(initial ?? interval, .zero)
        let handle = try loop.scheduleRepeating(every: interval, after: initial) { [unowned self] in self.timerFired(id) }
        add(deadline: deadline, interval: interval.nanosecondsRoundedUp, handle)
    }

    func cancel() {
        guard let id = randomKnownID(), let handle = handles[id] else { return }
        let cancelled = loop.cancelTimer(handle.id)
        if cancelled != (live[id] != nil) { fail("cancel(\(id)) returned \(cancelled)") }
        if live.removeValue(forKey: id) != nil && inBatch { changedInsideBatches += 1 }
        if random(0..<4) == 0 { handle.cancel() } // twice is harmless
    }

    func reschedule() {
        guard let id = randomKnownID(), let handle = handles[id] else { return }
        let delay = randomDelay()
        let deadline = clock.now + max(delay, .zero)
        let moved = handle.reschedule(after: delay)
        guard var timer = live[id] else {
            if moved { fail("reschedule(\(id)) of a dead timer returned true") }
            return
        }
        if !moved { fail("reschedule(\(id)) of a live timer returned false") }
        timer.deadline = deadline.nanoseconds
        timer.sequence = nextSequence
        timer.version += 1
        nextSequence += 1
        live[id] = timer
        if inBatch { changedInsideBatches += 1 }
    }

    func checkActive() {
        guard let id = randomKnownID(), let handle = handles[id] else { return }
        if handle.isActive != (live[id] != nil) { fail("isActive(\(id)) is \(handle.isActive)") }
    }

    /// Outside a batch: moves time and fires a batch. Inside: only moves time.
    func advance(insideBatch: Bool) {
        let step = Duration.milliseconds(random(0..<8))
        if insideBatch {
            clock.advance(by: step)
            return
        }
        let target = clock.now + step
        beginBatch(at: target.nanoseconds)
        clock.advance(by: step)
        endBatch()
    }

    /// One loop iteration: its batch is what is due at the clock's now.
    func iterate(insideBatch: Bool) throws {
        if insideBatch {
            #expect(throws: LoopError.alreadyRunning) { try self.loop.runOnce(timeout: .zero) }
            return
        }
        beginBatch(at: clock.now.nanoseconds)
        try loop.runOnce(timeout: .zero)
        endBatch()
    }

    // MARK: - Batches

    func beginBatch(at now: Int64) {
        batchNow = now
        batch = live.filter { $0.value.deadline <= now }
            .sorted { ($0.value.deadline, $0.value.sequence) < ($1.value.deadline, $1.value.sequence) }
            .map { (id: $0.key, version: $0.value.version, deadline: $0.value.deadline) }
        batchPosition = 0
        inBatch = true
    }

    func endBatch() {
        inBatch = false
        while batchPosition < batch.count {
            let entry = batch[batchPosition]
            batchPosition += 1
            if live[entry.id]?.version == entry.version { fail("timer \(entry.id) due at \(entry.deadline) was lost") }
        }
    }

    /// A timer's callback: it must be the next valid entry of the batch.
    func timerFired(_ id: Int) {
        fired += 1
        guard inBatch else { return fail("timer \(id) fired outside a batch") }
        var expected: (id: Int, version: Int, deadline: Int64)?
        while batchPosition < batch.count {
            let entry = batch[batchPosition]
            batchPosition += 1
            if live[entry.id]?.version == entry.version {
                expected = entry
                break
            }
        }
        guard let entry = expected, entry.id == id else {
            return fail("timer \(id) fired; expected \(expected.map { "\($0.id)" } ?? "none") at \(batchNow)")
        }
        if loop.now.nanoseconds < entry.deadline || clock.now.nanoseconds < entry.deadline {
            fail("timer \(id) fired early: now \(loop.now.nanoseconds), deadline \(entry.deadline)")
        }
        var timer = live[id]!
        if timer.interval == 0 {
            live[id] = nil
        } else {
            let elapsed = Int128(batchNow) - Int128(entry.deadline)
            let next = Int128(entry.deadline) + (elapsed / Int128(timer.interval) + 1) * Int128(timer.interval)
            timer.deadline = next > Int128(Int64.max) ? .max : Int64(next)
            timer.sequence = nextSequence
            timer.version += 1
            nextSequence += 1
            live[id] = timer
        }
        // Change timers while the batch fires: the kind of fault this model hunts.
        let changes = [0, 0, 0, 1, 1, 2][random(0..<6)]
        for _ in 0..<changes {
            do { try randomOperation(insideBatch: true) } catch { fail("operation in a callback threw \(error)") }
        }
    }
}

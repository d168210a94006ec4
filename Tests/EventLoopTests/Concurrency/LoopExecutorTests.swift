import EventLoop
import Synchronization
import Testing

/// An actor isolated to a loop: its methods run on the loop thread.
actor LoopBoundCounter {
    nonisolated let executor: LoopExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    var count = 0
    init(executor: LoopExecutor) { self.executor = executor }
    func increment() -> Bool {
        count += 1
        return executor.isOnLoopThread
    }
}

/// How each of many waits ended, one code per wait (0: not yet), from any thread.
final class WaitOutcomes: Sendable {
    let values: Mutex<[UInt8]>
    init(count: Int) { values = Mutex([UInt8](repeating: 0, count: count)) }
}

/// A flag set once, readable from any thread.
final class Flag: Sendable {
    private let value = Atomic<Int>(0)
    func set() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// The loop as a Swift executor: `run { }`, tasks and actors on the loop thread.
@Suite("Loop executor")
struct LoopExecutorTests {
    @Test func runReturnsTheBodysValueAndTheLoopIsUsableAgain() throws {
        let loop = try IOLoop()
        #expect(try loop.run { _ in 42 } == 42)
        var ran = false
        try loop.callSoon { ran = true }
        try loop.runOnce(timeout: .zero)
        #expect(ran)
        #expect(try loop.run { executor in
            try await executor.sleep(for: .milliseconds(1))
            return "again"
        } == "again")
        try loop.close()
    }

    @Test func runRethrowsTheBodysError() throws {
        struct Boom: Error, Equatable {}
        let loop = try IOLoop()
        #expect(throws: Boom()) { try loop.run { _ -> Int in throw Boom() } }
        try loop.close()
    }

    @Test func tasksAndActorsOnTheExecutorRunOnTheLoopThread() throws {
        let loop = try IOLoop()
        let onThread = try loop.run { executor in
            executor.checkIsolated() // passes: the body runs on the loop thread
            let counter = LoopBoundCounter(executor: executor)
            let fromActor = await counter.increment()
            let child = Task(executorPreference: executor) { executor.isOnLoopThread }
            return [executor.isOnLoopThread, fromActor, await child.value]
        }
        #expect(onThread == [true, true, true])
        try loop.close()
    }

    @Test func assumeIsolatedWorksOnTheLoopThread() throws {
        let loop = try IOLoop()
        let counter = LoopBoundCounter(executor: loop.executor)
        #expect(counter.assumeIsolated { $0.count } == 0)
        try loop.close()
    }

    @Test func checkIsolatedStopsTheProcessOffTheLoopThread() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let loop = try IOLoop()
            let executor = loop.executor
            let thread = TestThread { executor.checkIsolated() } // not the loop's thread: stops the process
            thread.join()
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("not on the IOLoop's thread"), "stopped by checkIsolated, with its message")
    }

    @Test func aSleepOnAManualClockEndsExactlyWhenTheClockReachesIt() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        let executor = loop.executor
        let done = Flag()
        Task(executorPreference: executor) {
            try await executor.sleep(for: .seconds(3_600))
            done.set()
        }
        try loop.runOnce(timeout: .zero) // the task starts and arms its timer
        #expect(loop.metrics.activeTimers == 1)
        clock.advance(by: .seconds(3_599))
        try loop.runOnce(timeout: .zero)
        #expect(done.count == 0)
        clock.advance(by: .seconds(1))
        try loop.runOnce(timeout: .zero)
        #expect(done.count == 1)
        #expect(loop.metrics.activeTimers == 0)
        try loop.close()
    }

    @Test func cancellingASleepRemovesItsTimerAndThrowsCancellationError() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        let executor = loop.executor
        let cancelled = Flag()
        let task = Task(executorPreference: executor) {
            do { try await executor.sleep(for: .seconds(60)) } catch is CancellationError { cancelled.set() }
        }
        try loop.runOnce(timeout: .zero)
        #expect(loop.metrics.activeTimers == 1)
        task.cancel()
        for _ in 0..<3 where cancelled.count == 0 { try loop.runOnce(timeout: .milliseconds(100)) }
        #expect(cancelled.count == 1)
        #expect(loop.metrics.activeTimers == 0)
        try loop.close()
    }

    @Test func waitingForReadinessResumesWithTheEvents() throws {
        let loop = try IOLoop()
        let pipe = try DescriptorPair.pipe()
        let reader = pipe.first.descriptor
        let events = try loop.run { executor in
            async let ready = executor.waitUntilReadable(reader)
            try await executor.sleep(for: .milliseconds(1))
            _ = try pipe.second.descriptor.write([1])
            return try await ready
        }
        #expect(events.contains(.readable))
        #expect(loop.metrics.activeWatchers == 0)
        try loop.close()
    }

    @Test func aDeadlineThatPassesThrowsAndCancelsTheBody() throws {
        let loop = try IOLoop()
        let bodyCancelled = Flag()
        #expect(throws: DeadlineExceeded(duration: .milliseconds(5))) {
            try loop.run { executor in
                try await executor.withDeadline(after: .milliseconds(5)) {
                    do { try await executor.sleep(for: .seconds(60)) } catch { bodyCancelled.set(); throw error }
                }
            }
        }
        #expect(bodyCancelled.count == 1)
        #expect(try loop.run { executor in try await executor.withDeadline(after: .seconds(60)) { 7 } } == 7)
        #expect(loop.metrics.activeTimers == 0)
        try loop.close()
    }

    @Test func tasksStillWaitingWhenTheLoopClosesAreResumedWithAnError() async throws {
        let loop = try IOLoop()
        let executor = loop.executor
        let pipe = try DescriptorPair.pipe()
        let reader = pipe.first.descriptor
        let sleeper = Task(executorPreference: executor) { try await executor.sleep(for: .seconds(60)) }
        let watcher = Task(executorPreference: executor) { _ = try await executor.waitUntilReadable(reader) }
        try loop.runOnce(timeout: .zero)
        try loop.runOnce(timeout: .zero)
        try loop.close()
        await #expect(throws: LoopError.closed) { try await sleeper.value }
        await #expect(throws: LoopError.closed) { try await watcher.value }
        // A wait started after the close fails at once.
        await #expect(throws: LoopError.closed) { try await executor.sleep(for: .seconds(1)) }
    }

    /// A loop that closes while a `withDeadline` from another task waits
    /// (its timer queued, or armed) ends the body and says so with
    /// `LoopError.closed`, even for a body that waits on nothing of the
    /// loop's: the deadline does not vanish with the loop's timers.
    @Test(arguments: [false, true])
    func aDeadlineWhoseLoopClosesEndsItsBodyWithLoopClosed(afterArming: Bool) async throws {
        let thread = try LoopThread()
        let executor = thread.executor
        // Without the close's answer the body would end normally after 20 s
        // and `withDeadline` return its value: the error is the proof.
        let waiting = Task.detached {
            try await executor.withDeadline(after: .seconds(20)) { try await Task.sleep(for: .seconds(20)) }
        }
        // Either way the answer is the same; a pause lets the loop arm the timer first.
        if afterArming { try await Task.sleep(for: .milliseconds(20)) }
        await thread.shutdown()
        await #expect(throws: LoopError.closed) { try await waiting.value }
    }

    @Test func tenThousandWaitsCancelledAtRandomPointsEachEndExactlyOnce() throws {
        let loop = try IOLoop()
        let executor = loop.executor
        let count = 10_000
        /// How each wait ended: 0 not yet, then one of the cases below.
        let cancelled: UInt8 = 1, deadline: UInt8 = 2, somethingElse: UInt8 = 3
        let outcomes = WaitOutcomes(count: count)
        let ended = Flag()
        var generator = SystemRandomNumberGenerator()
        var tasks: [Task<Void, Never>] = []
        for index in 0..<count {
            let delay = Duration.microseconds(Int64.random(in: 0...3_000, using: &generator))
            tasks.append(Task(executorPreference: executor) {
                var outcome = somethingElse
                do {
                    // A few readiness waits (each needs its own pipe: keep descriptor
                    // numbers low for the select-backed tests running in parallel).
                    if index % 50 != 1 {
                        try await executor.withDeadline(after: delay) { try await executor.sleep(for: .seconds(60)) }
                    } else {
                        let pipe = try DescriptorPair.pipe()
                        let reader = pipe.first.descriptor
                        _ = try await executor.withDeadline(after: delay) { try await executor.waitUntilReadable(reader) }
                        _ = pipe
                    }
                } catch is CancellationError {
                    outcome = cancelled
                } catch is DeadlineExceeded {
                    outcome = deadline
                } catch {}
                // A second ending of the same wait would find its slot taken.
                outcomes.values.withLock { $0[index] = $0[index] == 0 ? outcome : somethingElse }
                ended.set()
            })
        }
        // Cancel a third at once from the loop thread, a third from another thread, the rest never.
        for index in stride(from: 0, to: count, by: 3) { tasks[index].cancel() }
        let others = tasks.enumerated().filter { $0.offset % 3 == 1 }.map(\.element)
        let canceller = TestThread { for task in others { task.cancel() } }
        let start = MonotonicInstant.now()
        while ended.count < count && millisecondsSince(start) < 20_000 {
            try loop.runOnce(timeout: .milliseconds(10))
        }
        canceller.join()
        #expect(ended.count == count)
        let seen = outcomes.values.withLock { $0 }
        let wrong = (0..<count).filter { index in
            switch index % 3 {
            case 0: seen[index] != cancelled // cancelled before the wait could end otherwise
            case 2: seen[index] != deadline // never cancelled: only the deadline ends it
            default: seen[index] != cancelled && seen[index] != deadline // whichever came first
            }
        }
        #expect(wrong.isEmpty, "every wait ended once, with the error its cancellation or deadline calls for: \(wrong.prefix(5)) did not")
        #expect(loop.metrics.activeTimers == 0 && loop.metrics.activeWatchers == 0)
        try loop.close()
    }
}

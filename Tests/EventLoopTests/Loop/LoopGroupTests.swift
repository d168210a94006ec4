import EventLoop
import Glibc
import Synchronization
import Testing

/// `LoopGroup` and `LoopThread`: a loop per thread, picking loops, shutting
/// down exactly once from anywhere, and bad input.
@Suite("Loop group")
struct LoopGroupTests {
    @Test func eachLoopRunsOnAThreadOfItsOwn() async throws {
        let group = try LoopGroup(loopCount: 3)
        var threads: Set<UInt> = []
        for executor in group.executors {
            let thread = try await runOn(executor) { UInt(pthread_self()) }
            threads.insert(thread)
        }
        #expect(threads.count == 3)
        #expect(!threads.contains(UInt(pthread_self())))
        await group.shutdown(gracePeriod: .zero)
    }

    @Test func theDefaultIsOneLoopPerCPUTheProcessMayUse() async throws {
        // The kernel's own account: the mask in /proc/self/status, counted bit by bit.
        let status = try String(contentsOfProcFile: "/proc/self/status")
        let mask = try #require(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed:") })
        let hex = mask.dropFirst("Cpus_allowed:".count).filter { $0.isHexDigit }
        let allowed = hex.reduce(0) { $0 + Int($1.hexDigitValue!).nonzeroBitCount }
        let group = try LoopGroup()
        #expect(group.count == allowed)
        await group.shutdown(gracePeriod: .zero)
    }

    @Test(arguments: [0, -1, 5_000])
    func aLoopCountOutOfRangeIsRefusedAndNothingStarts(count: Int) {
        #expect(throws: ArgumentError.self) { try LoopGroup(loopCount: count) }
    }

    @Test func aThreadTheProcessCannotHaveIsAClearErrorAndTheLoopsStartedAreShutDown() throws {
        let script = FaultScript()
        try script.inject(.fail(.wouldBlock), into: .threadCreate, when: .nth(3))
        let failure = script.run { () -> (any Error)? in
            do { _ = try LoopGroup(loopCount: 4) } catch { return error }
            return nil
        }
        let error = try #require(failure as? SystemError)
        #expect(error.errno == .wouldBlock && error.operation.hasPrefix("pthread_create"))
        #expect(script.records(of: .threadCreate).count == 3, "no thread is started after the refusal")
    }

    @Test func nextGoesRoundEveryLoopInTurn() async throws {
        let group = try LoopGroup(loopCount: 3)
        let executors = group.executors
        let picked = (0..<9).map { _ in group.next() }
        for (index, executor) in picked.enumerated() {
            #expect(executor === picked[index % 3])
        }
        #expect(Set(picked.map(ObjectIdentifier.init)) == Set(executors.map(ObjectIdentifier.init)))
        await group.shutdown(gracePeriod: .zero)
    }

    @Test func theSameKeyAlwaysPicksTheSameLoop() async throws {
        let group = try LoopGroup(loopCount: 4)
        for key in ["alice", "bob", "carol"] {
            let first = group.executor(forKey: key)
            for _ in 0..<10 { #expect(group.executor(forKey: key) === first) }
        }
        await group.shutdown(gracePeriod: .zero)
    }

    @Test func shutdownFromSeveralThreadsAtOnceEndsEveryLoopOnceAndEveryCallReturns() async throws {
        let group = try LoopGroup(loopCount: 2)
        let returned = Atomic<Int>(0)
        let blocking = (0..<3).map { _ in
            TestThread {
                try? group.shutdownAndWait(gracePeriod: .milliseconds(10))
                returned.add(1, ordering: .relaxed)
            }
        }
        await group.shutdown(gracePeriod: .milliseconds(10))
        await group.shutdown(gracePeriod: .zero) // again: returns at once
        for thread in blocking { thread.join() }
        #expect(returned.load(ordering: .relaxed) == 3)
        let allFinished = group.threads.allSatisfy { $0.isFinished }
        #expect(allFinished)
    }

    @Test func aTaskOnTheGroupCanShutItDown() async throws {
        let group = try LoopGroup(loopCount: 2)
        let executor = group.executors[1]
        let done = Task(executorPreference: executor) { () async -> Bool in
            #expect(throws: LoopError.waitsForItself) { try group.shutdownAndWait(gracePeriod: .zero) }
            await group.shutdown(gracePeriod: .zero)
            return true
        }
        #expect(await done.value)
        await group.waitUntilShutDown()
        let allFinished = group.threads.allSatisfy { $0.isFinished }
        #expect(allFinished)
    }

    @Test func aGroupUsedAfterShutdownGivesAClearErrorEachWay() async throws {
        let group = try LoopGroup(loopCount: 2)
        await group.shutdown(gracePeriod: .zero)
        let listening = await #expect(throws: StreamError.self) {
            _ = try await StreamServer.listening(port: 0, on: group) { _ in }
        }
        #expect(listening?.kind == .closed)
        let thread = group.threads[0]
        #expect(throws: LoopError.closed) { try thread.perform { _ in } }
        #expect(throws: LoopError.closed) { try thread.handle.submit {} }
        let executor = group.next()
        await #expect(throws: LoopError.closed) { try await executor.sleep(for: .milliseconds(1)) }
    }

    @Test func aGroupDroppedWithoutShutdownClosesItsLoopsOnItsOwn() async throws {
        var group: LoopGroup? = try LoopGroup(loopCount: 2)
        let executor = group!.executors[0]
        let handles = group!.threads.map(\.handle)
        group = nil
        // The loops close on their threads, soon, each in its own time: a
        // bounded wait for every one of them (a sleep on a loop still
        // closing would be a wait its close cancels, not a refusal).
        var closed = false
        for _ in 0..<500 where !closed {
            closed = handles.allSatisfy { handle in (try? handle.submit {}) == nil }
            if !closed { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(closed)
        await #expect(throws: LoopError.closed) { try await executor.sleep(for: .milliseconds(1)) }
    }

    @Test func tasksWaitingOnALoopGetTheGracePeriodThenACancellation() async throws {
        let group = try LoopGroup(loopCount: 1)
        let executor = group.next()
        let quick = Task(executorPreference: executor) { try await executor.sleep(for: .milliseconds(20)); return "slept" }
        let slow = Task(executorPreference: executor) { () async -> String in
            do { try await executor.sleep(for: .seconds(3_600)); return "slept" } catch { return "\(type(of: error))" }
        }
        try await Task.sleep(for: .milliseconds(5)) // both are asleep on the loop
        let started = MonotonicInstant.now()
        await group.shutdown(gracePeriod: .milliseconds(200))
        #expect(MonotonicInstant.now() - started < .seconds(5))
        #expect(try await quick.value == "slept", "finished within the grace period")
        #expect(await slow.value == "CancellationError", "cancelled once it ran out")
    }

    @Test func aSignalShutsTheWholeGroupDownOnce() async throws {
        let group = try LoopGroup(loopCount: 2)
        let signal: Int32 = 40 // a real-time signal no other test handles
        try group.shutdownOnSignals([signal], gracePeriod: .zero)
        kill(getpid(), signal)
        let waiting = Task { await group.waitUntilShutDown() }
        let watchdog = Watchdog(after: .seconds(10)) { waiting.cancel() }
        await waiting.value
        watchdog.cancel()
        let allFinished = group.threads.allSatisfy { $0.isFinished }
        #expect(allFinished)
    }

    @Test func metricsShowEachLoop() async throws {
        let group = try LoopGroup(loopCount: 2)
        for executor in group.executors {
            _ = try await runOn(executor) { 0 }
        }
        let metrics = await group.metrics()
        #expect(metrics.count == 2)
        #expect(metrics.allSatisfy { $0.loop.iterations > 0 })
        await group.shutdown(gracePeriod: .zero)
        let after = await group.metrics()
        #expect(after.count == 2, "the last counts stay readable")
    }
}

/// Runs `body` as a task on `executor` and returns its value.
func runOn<T: Sendable>(_ executor: LoopExecutor, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task(executorPreference: executor) { try await body() }.value
}

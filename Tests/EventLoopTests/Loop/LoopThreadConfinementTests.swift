import EventLoop
import Synchronization
import Testing

/// One thread at a time: a loop that is not running moves with its sole owner,
/// as Swift 6 allows (a task resuming on another thread, a `sending` hand-off);
/// use from a second thread while one runs it stops the process.
@Suite("Loop thread confinement")
struct LoopThreadConfinementTests {
    @Test func usingALoopFromAnotherThreadWhileItRunsStopsTheProcess() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let loop = try IOLoop()
            nonisolated(unsafe) let smuggled = loop // what the compiler would refuse without `unsafe`
            try loop.callSoon {
                // The loop is running on this thread; another thread uses it meanwhile.
                let other = TestThread { try? smuggled.callSoon {} }
                other.join()
            }
            try loop.runOnce(timeout: .zero)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("IOLoop used from two threads at once"), "stopped by the loop's own check, with its message")
    }

    @Test func runningALoopThatAnotherThreadRunsStopsTheProcess() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let loop = try IOLoop()
            nonisolated(unsafe) let smuggled = loop
            try loop.callSoon {
                let other = TestThread { try? smuggled.runOnce(timeout: .zero) }
                other.join()
            }
            try loop.runOnce(timeout: .zero)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("IOLoop used from two threads at once"), "stopped by the loop's own check, with its message")
    }

    @Test func theHandleWorksFromAnyThread() throws {
        let loop = try IOLoop()
        let handle = loop.handle
        let other = TestThread { try? handle.submit { handle.stop() } }
        other.join()
        try loop.run()
    }

    /// A nonisolated async function may resume on another thread after an
    /// `await`; Swift 6 compiles this without a warning, so it must not trap.
    @Test func aLoopCarriedAcrossAnAwaitKeepsWorking() async throws {
        for _ in 0..<20 {
            try await useAcrossAwait()
        }
    }

    private nonisolated func useAcrossAwait() async throws {
        let loop = try IOLoop()
        var ran = 0
        try loop.callSoon { ran += 1 }
        try loop.runOnce(timeout: .zero)
        let timer = try loop.schedule(after: .seconds(60)) {}
        try await Task.sleep(for: .milliseconds(1))
        try loop.callSoon { ran += 1 }
        try loop.runOnce(timeout: .zero)
        #expect(ran == 2)
        timer.cancel()
        #expect(loop.metrics.activeTimers == 0)
        try await Task.sleep(for: .milliseconds(1))
        // Released (deinit) on whichever thread the task resumed on.
    }

    @Test func aLoopHandedToAnotherThreadIsUsedClosedAndReleasedThere() throws {
        let loop = try IOLoop()
        try loop.callSoon {}
        try loop.runOnce(timeout: .zero)
        let mailbox = Mutex<IOLoop?>(loop) // `sending`: the loop's region goes with it
        let done = Atomic<Int>(0)
        let other = TestThread {
            guard let moved = mailbox.withLock({ $0.take() }) else { return }
            var count = 0
            try? moved.callSoon { count += 1 }
            try? moved.runOnce(timeout: .zero)
            try? moved.close()
            if count == 1 && moved.isClosed { done.store(1, ordering: .releasing) }
        }
        other.join()
        let finished = done.load(ordering: .acquiring)
        #expect(finished == 1)
    }

    @Test func aLoopReleasedOnAnotherThreadReleasesWhatItHeldThere() throws {
        final class Flag: Sendable { let raised = Atomic<Bool>(false) }
        final class Probe: Sendable {
            let flag: Flag
            init(_ flag: Flag) { self.flag = flag }
            deinit { flag.raised.store(true, ordering: .releasing) }
        }
        let released = Flag()
        let loop = try IOLoop()
        try loop.schedule(after: .seconds(60)) { [probe = Probe(released)] in _ = probe }
        let mailbox = Mutex<IOLoop?>(consume loop) // this thread keeps no reference
        let other = TestThread { mailbox.withLock { $0 = nil } } // the loop's deinit runs on that thread
        other.join()
        let raised = released.raised.load(ordering: .acquiring)
        #expect(raised)
    }
}

import EventLoop
import Glibc
import Synchronization
import Testing

/// Work from other threads through the `Sendable` handle.
@Suite("Loop cross-thread submission")
struct LoopCrossThreadTests {
    @Test func aSubmissionWhileAnotherThreadsExecutorJobWaitsStillWakesTheLoop() throws {
        let loop = try IOLoop()
        let handle = loop.handle
        let executor = loop.executor
        let jobRan = Flag()
        let submissionRan = Flag()
        // Another thread starts a task on the loop: its first job waits in the
        // cross-thread queue, and the loop's wake-up is written for it.
        TestThread { _ = Task(executorPreference: executor) { jobRan.set() } }.join()
        // In the iteration that drains that wake-up, after the drain and before
        // the jobs run, a third thread submits work: it finds the job still
        // queued, so it does not wake the loop itself.
        try loop.callSoon {
            TestThread { try? handle.submit { submissionRan.set() } }.join()
        }
        try loop.runOnce(timeout: .zero)
        #expect(jobRan.count == 1)
        // The submission must have woken the loop: this wait ends at once.
        let start = MonotonicInstant.now()
        try loop.runOnce(timeout: .seconds(5))
        #expect(submissionRan.count == 1)
        #expect(millisecondsSince(start) < 2_500, "the submission woke the loop instead of waiting out the timeout")
        try loop.close()
    }

    @Test func eightThreadsTimesAHundredThousandRunExactlyOnceInOrder() throws {
        let loop = try IOLoop()
        let handle = loop.handle
        let threads = 8
        let perThread = 100_000
        // Loop-thread state, touched only by submitted closures (which run on the loop).
        final class Tally: @unchecked Sendable {
            var next = [Int](repeating: 0, count: 8)
            var outOfOrder = 0
            var total = 0
        }
        let tally = Tally()
        var senders: [TestThread] = []
        for thread in 0..<threads {
            senders.append(TestThread {
                for index in 0..<perThread {
                    try? handle.submit {
                        if tally.next[thread] != index { tally.outOfOrder += 1 }
                        tally.next[thread] = index + 1
                        tally.total += 1
                        if tally.total == threads * perThread { handle.stop() }
                    }
                }
            })
        }
        let watchdog = try loop.schedule(after: .seconds(60)) { loop.stop() } // bound the wait
        try loop.run()
        watchdog.cancel()
        for sender in senders { sender.join() }
        try loop.runOnce(timeout: .zero)
        #expect(tally.total == threads * perThread)
        #expect(tally.outOfOrder == 0)
    }

    @Test func stopFromAnotherThreadEndsALoopBlockedInTheKernel() throws {
        let loop = try IOLoop()
        let handle = loop.handle
        let stopper = TestThread {
            usleep(50_000) // let the loop block first; the assertion below does not depend on it
            handle.stop()
        }
        let watchdog = try loop.schedule(after: .seconds(30)) { Issue.record("stop did not wake the loop") ; loop.stop() }
        let start = MonotonicInstant.now()
        try loop.run()
        stopper.join()
        watchdog.cancel()
        #expect(MonotonicInstant.now() - start < .seconds(10))
    }

    @Test func anIdleLoopSleepsUntilWorkArrives() throws {
        let loop = try IOLoop()
        let handle = loop.handle
        let ran = Atomic<Int>(0)
        let sender = TestThread {
            usleep(20_000)
            try? handle.submit { ran.add(1, ordering: .relaxed) }
        }
        let start = MonotonicInstant.now()
        try loop.runOnce(timeout: .seconds(10)) // blocks in the kernel until the submission
        sender.join()
        #expect(ran.load(ordering: .relaxed) == 1)
        #expect(MonotonicInstant.now() - start < .seconds(9))
        let iterations = loop.metrics.iterations
        #expect(iterations == 1, "no polling: one wake-up, one iteration")
    }

    @Test func submissionsAfterCloseAreRefusedAndNeverRun() throws {
        let loop = try IOLoop()
        let handle = loop.handle
        let ran = Atomic<Int>(0)
        try handle.submit { ran.add(1, ordering: .relaxed) }
        try loop.close()
        #expect(throws: LoopError.closed) { try handle.submit { ran.add(1, ordering: .relaxed) } }
        #expect(ran.load(ordering: .relaxed) == 0)
    }
}

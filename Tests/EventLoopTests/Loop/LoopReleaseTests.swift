import EventLoop
import Synchronization
import Testing

/// An object a callback owns, whose `deinit` calls back into the loop: user
/// code that runs whenever the loop releases a closure.
private final class Conn {
    var timer: TimerHandle?
    var other: TimerHandle?
    let onDeinit: () -> Void
    init(_ onDeinit: @escaping () -> Void = {}) { self.onDeinit = onDeinit }
    deinit {
        timer?.cancel()
        other?.cancel()
        _ = other?.reschedule(after: .milliseconds(1))
        onDeinit()
    }
}

/// The loop releases user closures only once its own structures are
/// consistent again, wherever it releases them: close, deinit, cancel, a fired
/// timer, the call-soon queue, submissions. (Run under AddressSanitizer in CI.)
@Suite("Loop releases closures safely")
struct LoopReleaseTests {
    /// Issue 9, fault 3: closing crashed (use after free in the timer heap).
    @Test func closingWhileATimerOwnsAnObjectWhoseDeinitCancelsATimerIsSafe() throws {
        let loop = try IOLoop()
        var released = 0
        for _ in 0..<100 {
            let conn = Conn { released += 1 }
            conn.timer = try loop.schedule(after: .seconds(60)) { _ = conn }
            conn.other = try loop.schedule(after: .seconds(30)) {}
        }
        try loop.close()
        #expect(released == 100)
        #expect(loop.metrics.activeTimers == 0)
    }

    @Test func releasingTheLoopWhileTimersOwnSuchObjectsIsSafe() throws {
        var released = 0
        do {
            let loop = try IOLoop()
            for _ in 0..<100 {
                let conn = Conn { released += 1 }
                conn.timer = try loop.schedule(after: .seconds(60)) { _ = conn }
            }
            let conn = Conn { released += 1 }
            try loop.callSoon { _ = conn }
        } // deinit closes the loop
        #expect(released == 101)
    }

    @Test func aDeinitRunByCloseMayUseTheLoop() throws {
        let loop = try IOLoop()
        var outcomes: [String] = []
        do {
            let conn = Conn {
                outcomes.append(loop.isClosed ? "closed" : "open")
                do { try loop.callSoon {} } catch { outcomes.append("\(error)") }
                outcomes.append("timers \(loop.metrics.activeTimers)")
            }
            try loop.schedule(after: .seconds(60)) { [conn] in _ = conn }
        }
        try loop.close()
        #expect(outcomes == ["closed", "the event loop is closed", "timers 0"])
    }

    @Test func cancellingATimerWhoseClosureOwnsSuchAnObjectKeepsTheHeapConsistent() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        var fired: [String] = []
        var handles: [TimerHandle] = []
        for index in 0..<2_000 { // past 1,024 nodes: the last cancel frees them all, and the slab is given back
            let conn = Conn {
                if index == 1_999 { _ = try? loop.schedule(after: .milliseconds(1)) { fired.append("from deinit \(index)") } }
            }
            conn.other = try loop.schedule(after: .milliseconds(2)) { fired.append("other \(index)") }
            handles.append(try loop.schedule(after: .seconds(60)) { _ = conn })
        }
        for handle in handles { handle.cancel() } // each deinit cancels its `other` too
        #expect(loop.metrics.activeTimers == 1)
        clock.advance(by: .milliseconds(5))
        #expect(fired == ["from deinit 1999"])
        #expect(loop.metrics.activeTimers == 0)
        try loop.close()
    }

    @Test func aFiredTimerReleasesItsClosureOnceTheHeapIsConsistent() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        var fired: [String] = []
        let later = try loop.schedule(after: .milliseconds(5)) { fired.append("later") }
        do {
            let conn = Conn {
                later.cancel()
                _ = try? loop.schedule(after: .milliseconds(1)) { fired.append("scheduled by deinit") }
            }
            try loop.schedule(after: .milliseconds(1)) { [conn] in fired.append("first"); _ = conn }
        }
        clock.advance(by: .milliseconds(1))
        #expect(fired == ["first"])
        clock.advance(by: .milliseconds(10))
        #expect(fired == ["first", "scheduled by deinit"])
        try loop.close()
    }

    @Test func callSoonClosuresAreReleasedOutsideTheQueue() throws {
        let loop = try IOLoop()
        var log: [String] = []
        let timer = try loop.schedule(after: .seconds(60)) {}
        do {
            let conn = Conn {
                log.append("deinit")
                try? loop.callSoon { log.append("queued by deinit") }
            }
            conn.timer = timer
            try loop.callSoon { [conn] in log.append("ran"); _ = conn }
        }
        try loop.runOnce(timeout: .zero)
        #expect(log == ["ran", "deinit"])
        #expect(!timer.isActive)
        try loop.runOnce(timeout: .zero)
        #expect(log == ["ran", "deinit", "queued by deinit"])
        // Still queued at close: released after the loop is closed.
        do {
            let conn = Conn { log.append(loop.isClosed ? "released closed" : "released open") }
            try loop.callSoon { _ = conn }
        }
        try loop.close()
        #expect(log.last == "released closed")
    }

    @Test func submittedClosuresAreReleasedOutsideTheQueue() throws {
        final class Outcome: Sendable { let log = Mutex<[String]>([]) }
        final class Sentinel: Sendable {
            let handle: LoopHandle
            let outcome: Outcome
            init(_ handle: LoopHandle, _ outcome: Outcome) { self.handle = handle; self.outcome = outcome }
            deinit {
                let result = (try? handle.submit {}) == nil ? "refused" : "submitted"
                outcome.log.withLock { $0.append(result) }
            }
        }
        let loop = try IOLoop()
        let outcome = Outcome()
        try loop.handle.submit { [sentinel = Sentinel(loop.handle, outcome)] in _ = sentinel }
        try loop.runOnce(timeout: .zero)
        #expect(outcome.log.withLock { $0 } == ["submitted"])
        try loop.handle.submit { [sentinel = Sentinel(loop.handle, outcome)] in _ = sentinel }
        try loop.close() // never run: released after the queue is closed
        #expect(outcome.log.withLock { $0 } == ["submitted", "refused"])
    }

    @Test func closingFromACallbackReleasesTheRestOfTheIterationSafely() throws {
        let clock = ManualClock()
        let loop = try IOLoop(clock: .manual(clock))
        var released = 0
        for _ in 0..<10 {
            let conn = Conn { released += 1 }
            conn.timer = try loop.schedule(after: .zero) { _ = conn }
            try loop.callSoon { _ = conn }
        }
        try loop.schedule(after: .zero) { try loop.close() }
        try loop.runOnce(timeout: .zero) // the first timers run, one closes; the rest of the batch is dropped
        #expect(loop.isClosed)
        #expect(released == 10)
    }
}

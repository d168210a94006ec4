import EventLoop
import Glibc
import Testing

/// `loop.run(cancellingOnInterrupt: true) { }`: Ctrl-C as asyncio's `run`
/// takes it. Each test runs in a child process (a `SIGINT` to the test
/// process would end the run), which arms `alarm(20)` so that a lost
/// delivery ends the child, not the run, and starts from SIGINT's default
/// action (a child of a shell without job control may inherit it ignored).
@Suite("loop.run and Ctrl-C")
struct LoopRunInterruptTests {
    @Test func theFirstCtrlCCancelsTheBodyWhoseCleanupRunsAndRunRethrowsCancellationError() async {
        await #expect(processExitsWith: .success) {
            exit(firstInterruptCancelsTheBody())
        }
    }

    @Test func aSecondCtrlCDuringASlowCleanupEndsTheProcessAsCtrlCDoes() async {
        await #expect(processExitsWith: .signal(SIGINT)) {
            secondInterruptDuringCleanup()
            exit(0) // reached only if the second SIGINT did not end the process
        }
    }

    @Test func anIgnoredSIGINTStaysIgnoredAndCancelsNothing() async {
        await #expect(processExitsWith: .success) {
            exit(ignoredInterruptChangesNothing())
        }
    }

    @Test func withoutTheOptionRunLeavesSIGINTAlone() throws {
        let before = try SignalDisposition.current(of: SIGINT)
        let loop = try IOLoop()
        let seen = try loop.run { _ in try SignalDisposition.current(of: SIGINT) }
        #expect(seen == before)
        try loop.close()
    }
}

/// In a child: `SIGINT` raised inside the body cancels its sleep; the body's
/// cleanup runs and rethrows; `run` throws `CancellationError`; afterwards
/// SIGINT's disposition is the default again, and the loop runs another body.
private func firstInterruptCancelsTheBody() -> Int32 {
    alarm(20)
    signal(SIGINT, SIG_DFL)
    do {
        let loop = try IOLoop()
        let cleanedUp = Flag()
        let handledDuringRun = Flag()
        do {
            _ = try loop.run(cancellingOnInterrupt: true) { executor in
                if try SignalDisposition.current(of: SIGINT) == .caughtByLoop { handledDuringRun.set() }
                do {
                    try raiseInProcess(SIGINT)
                    try await executor.sleep(for: .seconds(60))
                    return 1
                } catch {
                    cleanedUp.set() // the body's cleanup
                    throw error
                }
            }
            return 2 // run returned instead of rethrowing
        } catch is CancellationError {
            // what asyncio's run raises too
        } catch {
            return 3
        }
        guard handledDuringRun.count == 1 else { return 4 }
        guard cleanedUp.count == 1 else { return 5 }
        guard try SignalDisposition.current(of: SIGINT) == .default else { return 6 }
        guard try loop.run(cancellingOnInterrupt: true, { _ in 7 }) == 7 else { return 7 }
        guard try SignalDisposition.current(of: SIGINT) == .default else { return 8 }
        try loop.close()
        return 0
    } catch {
        return 9
    }
}

/// In a child: the first `SIGINT` cancels the body, whose cleanup raises a
/// second one and then waits on something other than the loop (a detached
/// task's sleep, which the cancellation does not reach) while the loop runs.
/// The second must end the process by `SIGINT`.
private func secondInterruptDuringCleanup() {
    alarm(20)
    signal(SIGINT, SIG_DFL)
    guard let loop = try? IOLoop() else { return }
    _ = try? loop.run(cancellingOnInterrupt: true) { executor in
        do {
            try raiseInProcess(SIGINT)
            try await executor.sleep(for: .seconds(60))
        } catch {
            try? raiseInProcess(SIGINT) // "Ctrl-C again" while the cleanup is slow
            await Task.detached { try? await Task.sleep(for: .seconds(10)) }.value
        }
    }
}

/// In a child whose `SIGINT` is ignored: `run` leaves it ignored, a raised
/// `SIGINT` cancels nothing, and the body's value comes back.
private func ignoredInterruptChangesNothing() -> Int32 {
    alarm(20)
    signal(SIGINT, SIG_IGN)
    do {
        let loop = try IOLoop()
        let value: Int32 = try loop.run(cancellingOnInterrupt: true) { executor -> Int32 in
            guard try SignalDisposition.current(of: SIGINT) == .ignored else { return 1 }
            try raiseInProcess(SIGINT)
            try await executor.sleep(for: .milliseconds(20)) // a cancellation would end this
            return 0
        }
        guard value == 0 else { return value }
        guard try SignalDisposition.current(of: SIGINT) == .ignored else { return 2 }
        try loop.close()
        return 0
    } catch {
        return 9
    }
}

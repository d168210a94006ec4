import EventLoop
import Glibc
import Testing

extension LoopSignalTests {
    /// Issue 9, fault 17: what the package does to the process's signal state
    /// must not reach children. Blocking the signal on the loop's thread
    /// (the signalfd design) left it blocked in every child started from that
    /// thread, so a child kept running when sent SIGTERM.
    @Suite("Children of a process whose loop handles signals")
    struct Children {
        @Test func aChildStartedWhileTheLoopHandlesSIGTERMNeitherBlocksNorIgnoresIt() throws {
            let dispositionBefore = try SignalDisposition.current(of: SIGTERM)
            let maskBefore = try SignalSet.threadMask()
            let loop = try IOLoop()
            let subscription = try loop.onSignal(SIGTERM) { _ in }
            let child = try SpawnedChild("/bin/sleep", ["sleep", "5"])
            defer { child.reap() }
            let state = try #require(child.signalState())
            #expect(!state.blocked.contains(SIGTERM), "the child inherited SIGTERM blocked")
            #expect(!state.ignored.contains(SIGTERM), "the child inherited SIGTERM ignored")
            #expect(child.terminate(with: SIGTERM) == SIGTERM, "the child did not end on SIGTERM")
            subscription.cancel()
            #expect(try SignalDisposition.current(of: SIGTERM) == dispositionBefore)
            #expect(try SignalSet.threadMask() == maskBefore)
            try loop.close()
        }
    }

    /// Issue 9, fault 18: a process-directed signal goes to any thread that
    /// does not block it, and threads started before the loop (an async
    /// program's pool among them) need not block it. Each delivery must reach
    /// the loop, whichever thread took it. In child processes: with the fault,
    /// the signal's default action ends the process.
    @Suite("Signals taken by other threads")
    struct OtherThreads {
        @Test func aSignalTakenByAnotherThreadReachesTheLoop() async {
            await #expect(processExitsWith: .success) {
                exit(deliveriesReachTheLoop(directedAtAnotherThread: true))
            }
        }

        @Test func aProcessDirectedSignalReachesTheLoopWhileAnotherThreadDoesNotBlockIt() async {
            await #expect(processExitsWith: .success) {
                exit(deliveriesReachTheLoop(directedAtAnotherThread: false))
            }
        }

        /// The body of an exit test runs on Swift's concurrency pool, whose
        /// threads existed before the loop.
        @Test func aLoopOnTheConcurrencyPoolHandlesAProcessDirectedSIGTERM() async {
            await #expect(processExitsWith: .success) {
                exit(processDirectedSIGTERMReachesTheLoop())
            }
        }
    }
}

/// In a child process: a thread started before the loop takes SIGUSR1 (its mask
/// is empty). Three deliveries, to that thread or to the process, must each
/// reach the loop's handler, with the sender's PID and `si_code`.
private func deliveriesReachTheLoop(directedAtAnotherThread: Bool) -> Int32 {
    alarm(20) // a lost delivery ends this child, not the run
    do {
        let other = try UnmaskedThread()
        defer { other.finish() }
        let loop = try IOLoop()
        var received: [SignalInfo] = []
        let subscription = try loop.onSignal(SIGUSR1) { received.append($0) }
        for round in 1...3 {
            if directedAtAnotherThread {
                guard pthread_kill(other.thread, SIGUSR1) == 0 else { return 1 }
            } else {
                try raiseInProcess(SIGUSR1) // kill(getpid(), SIGUSR1)
            }
            try spin(loop) { received.count == round } // waits for each, so none merges with the next
            guard received.count == round else { return 2 }
        }
        let code = directedAtAnotherThread ? SI_TKILL : SI_USER
        guard received.allSatisfy({ $0.signal == SIGUSR1 && $0.senderPID == getpid() && $0.code == code }) else { return 3 }
        guard received.allSatisfy({ $0.senderUID == getuid() }) else { return 4 }
        subscription.cancel()
        try loop.close()
        return 0
    } catch {
        return 9
    }
}

/// In a child process, on a concurrency pool thread: `onSignal(SIGTERM)`, then
/// `kill(getpid(), SIGTERM)`, handled by the loop; the process lives on.
private func processDirectedSIGTERMReachesTheLoop() -> Int32 {
    alarm(20)
    do {
        let loop = try IOLoop()
        var handled = 0
        try loop.onSignal(SIGTERM) { info in if info.signal == SIGTERM { handled += 1 } }
        try raiseInProcess(SIGTERM)
        try spin(loop) { handled == 1 }
        guard handled == 1 else { return 1 }
        try loop.close()
        return try SignalDisposition.current(of: SIGTERM) == .caughtByLoop ? 2 : 0
    } catch {
        return 9
    }
}

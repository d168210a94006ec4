import EventLoop
import Testing

/// What an async workload costs in task switches, counted by the loop
/// (`LoopMetrics.executorJobs`): a request/response on streams, with both
/// ends tasks on the loop, resumes each end once per message (the wait for
/// the other's bytes), and a read that finds its bytes or a write the kernel
/// takes costs none (from a task that prefers the loop, or from an actor
/// on its serial face); a sleep is one timer and one resumption; a deadline
/// one timer, the body's task and one resumption.
@Suite("Task switches per message, counted by the loop")
struct TaskSwitchCountTests {
    static let messages = 200

    enum Reading: CaseIterable, Sendable { case readInto, readExactly, readLine }

    @Test(arguments: LoopBackend.available, Reading.allCases)
    func aRequestAndResponseOnTheLoopResumesEachEndOncePerMessage(backend: LoopBackend, reading: Reading) throws {
        let loop = try IOLoop(backend: backend)
        // The body runs on the loop thread, where the loop's metrics may be read.
        nonisolated(unsafe) let counted = loop
        let jobs = try loop.run { executor in
            let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
            let echo = echoOnLoop(server, on: executor)
            for _ in 0..<10 { try await Self.roundTrip(client, reading) } // warm-up
            let before = counted.metrics.executorJobs
            for _ in 0..<Self.messages { try await Self.roundTrip(client, reading) }
            let jobs = counted.metrics.executorJobs - before
            await client.close()
            _ = try? await echo.value
            await server.close()
            return jobs
        }
        // One resumption per end per message, and a few for the run's own task
        // and a message that arrives in two segments.
        #expect(jobs <= UInt64(2 * Self.messages + 10), "\(jobs) jobs for \(Self.messages) messages")
        #expect(jobs >= UInt64(Self.messages), "each message waits at least once: \(jobs)")
        try loop.close()
    }

    /// The requesting end an actor whose executor is the loop's serial face:
    /// its waits suspend in place on the actor, and each costs it two jobs,
    /// both on the loop thread (Swift's continuation resumes the task on its
    /// generic executor, here the loop's task face, and the continuation's
    /// caller hops from there to the actor); it hopped to the loop's task
    /// executor and back for each wait, three jobs. Its calls come from a task on the loop (a synchronous test
    /// blocks a thread of Swift's small pool with `run`: a detached task
    /// could starve while the parallel cases block the rest).
    @Test(arguments: LoopBackend.available)
    func anActorOnTheSerialFaceIsResumedOncePerMessage(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        nonisolated(unsafe) let counted = loop
        let (jobs, trips) = try loop.run { executor in
            let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
            let echo = echoOnLoop(server, on: executor)
            let peer = ElsewherePeer(client, executor: executor)
            _ = try await peer.roundTrips(10) // warm-up
            let before = counted.metrics.executorJobs
            let trips = try await peer.roundTrips(Self.messages)
            let jobs = counted.metrics.executorJobs - before
            await client.close()
            _ = try? await echo.value
            await server.close()
            return (jobs, trips)
        }
        #expect(trips == Self.messages)
        // The echo's one resumption and the actor's two, per message.
        #expect(jobs <= UInt64(3 * Self.messages + 10), "\(jobs) jobs for \(Self.messages) messages")
        try loop.close()
    }

    /// One 16-byte request and its echo, read the way `reading` says.
    static func roundTrip(_ client: StreamConnection, _ reading: Reading) async throws {
        try await client.write(Array("0123456789abcde\n".utf8))
        switch reading {
        case .readInto:
            var buffer = [UInt8](repeating: 0, count: 16)
            var got = 0
            while got < 16 { got += try await client.read(into: &buffer) }
        case .readExactly:
            _ = try await client.readExactly(16)
        case .readLine:
            _ = try await client.readLine()
        }
    }

    @Test func aSleepOnTheLoopIsOneResumption() throws {
        let loop = try IOLoop()
        let before = loop.metrics.executorJobs
        try loop.run { executor in
            for _ in 0..<50 { try await executor.sleep(for: .microseconds(100)) }
        }
        let jobs = loop.metrics.executorJobs - before
        #expect(jobs <= 50 + 3, "\(jobs) jobs for 50 sleeps")
        #expect(jobs >= 50)
        try loop.close()
    }

    /// `withDeadline` around a body that finishes in time costs the body's
    /// task (one job to start it) and the caller's one resumption: its
    /// deadline is a loop timer, not a task of its own.
    @Test func aDeadlineIsOneTaskForTheBodyAndOneResumption() throws {
        let loop = try IOLoop()
        let before = loop.metrics.executorJobs
        try loop.run { executor in
            for index in 0..<50 {
                let value = try await executor.withDeadline(after: .seconds(30)) { index }
                #expect(value == index)
            }
        }
        let jobs = loop.metrics.executorJobs - before
        #expect(jobs <= 2 * 50 + 3, "\(jobs) jobs for 50 deadlines")
        #expect(loop.metrics.activeTimers == 0, "each deadline's timer is gone")
        try loop.close()
    }
}

import EventLoop
import Glibc
import Synchronization
import Testing

/// Every stream path that loops while it can make progress yields to the loop
/// after a budget of operations, so a deadline or a timer on the same loop is
/// late by about one budget's worth of work, not by however long a peer keeps
/// the socket full (tokio's cooperative budget).
@Suite("Stream budget: a busy socket cannot starve the loop")
struct StreamBudgetTests {
    /// What a 50 ms deadline may be late by here: the bug made it 1 to 2.4 s,
    /// and a budget's worth of work is well under a millisecond; the margin
    /// is for a shared, noisy machine.
    static let allowedLateness = Duration.milliseconds(700)

    @Test(arguments: LoopBackend.available)
    func aDeadlineAroundReadsOfASocketThatNeverRunsDryFiresOnTime(backend: LoopBackend) throws {
        try withPeerKeepingItFull(backend) { executor, server in
            var buffer = [UInt8](repeating: 0, count: 16)
            while true { _ = try await server.read(into: &buffer) }
        }
    }

    @Test(arguments: LoopBackend.available)
    func aDeadlineAroundReadLineOfASocketThatNeverRunsDryFiresOnTime(backend: LoopBackend) throws {
        try withPeerKeepingItFull(backend, pattern: Array("0123456\n".utf8)) { executor, server in
            while true { _ = try await server.readLine() }
        }
    }

    @Test func aDeadlineAroundReadExactlyOfASocketThatNeverRunsDryFiresOnTime() throws {
        try withPeerKeepingItFull { executor, server in
            while true { _ = try await server.readExactly(8) }
        }
    }

    @Test(arguments: LoopBackend.available)
    func aDeadlineAroundWritesTheKernelKeepsTakingFiresOnTime(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        try loop.run { executor in
            let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
            // A thread drains the client's side as fast as it can, so small writes never block.
            let stop = Atomic<Bool>(false)
            let fd = client.descriptor
            let drainer = TestThread {
                var bytes = [UInt8](repeating: 0, count: 1 << 16)
                var total = 0
                while !stop.load(ordering: .relaxed) && total < 1 << 28 {
                    switch try? bytes.withUnsafeMutableBytes({ try fd.read(into: $0) }) {
                    case .completed(let n)? where n > 0: total += n
                    case .wouldBlock?: sched_yield()
                    default: return
                    }
                }
            }
            defer { stop.store(true, ordering: .relaxed); drainer.join() }
            let message = [UInt8](repeating: 1, count: 8)
            try await expectDeadlineOnTime(executor) {
                for _ in 0..<300_000 { try await server.write(message) }
            }
        }
        try loop.close()
    }

    @Test func aTimerOnTheSameLoopKeepsTickingWhileAReaderNeverRunsDry() throws {
        try withPeerKeepingItFull(expectDeadline: false) { executor, server in
            let ticks = Mutex<[MonotonicInstant]>([MonotonicInstant.now()])
            let ticker = Task(executorPreference: executor) {
                for _ in 0..<10 {
                    try await executor.sleep(for: .milliseconds(10))
                    ticks.withLock { $0.append(MonotonicInstant.now()) }
                }
            }
            let reader = Task(executorPreference: executor) {
                var buffer = [UInt8](repeating: 0, count: 16)
                while true { _ = try await server.read(into: &buffer) }
            }
            try await ticker.value
            reader.cancel()
            _ = await reader.result
            let times = ticks.withLock { $0 }
            #expect(times.count == 11)
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            #expect(gaps.allSatisfy { $0 < StreamBudgetTests.allowedLateness }, "gaps between 10 ms ticks: \(gaps)")
        }
    }
}

/// Runs `body` (a task that reads forever) under a 50 ms deadline and
/// expects `DeadlineExceeded` within the allowed lateness.
private func expectDeadlineOnTime(
    _ executor: LoopExecutor, _ body: @escaping @Sendable () async throws -> Void
) async throws {
    let started = MonotonicInstant.now()
    await #expect(throws: DeadlineExceeded.self) {
        try await executor.withDeadline(after: .milliseconds(50)) { try await body() }
    }
    let took = MonotonicInstant.now() - started
    #expect(took < .milliseconds(50) + StreamBudgetTests.allowedLateness, "the 50 ms deadline fired after \(took)")
}

/// A connected pair whose client side a thread of its own keeps writing
/// (`pattern`, over and over, up to 32 MiB), so the server side never runs
/// dry; `body` gets the server side, under a 50 ms deadline unless told not to.
private func withPeerKeepingItFull(
    _ backend: LoopBackend = .epoll, pattern: [UInt8] = [UInt8](repeating: 9, count: 8), expectDeadline: Bool = true,
    _ body: @escaping @Sendable (LoopExecutor, StreamConnection) async throws -> Void
) throws {
    try withConnectedPair(backend) { executor, server, client in
        let stop = Atomic<Bool>(false)
        let fd = client.descriptor
        let writer = TestThread {
            let chunk = Array(repeatElement(pattern, count: 8_192 / pattern.count).joined())
            var total = 0
            while !stop.load(ordering: .relaxed) && total < 1 << 25 {
                switch try? fd.write(chunk) {
                case .completed(let n)?: total += n
                case .wouldBlock?: sched_yield()
                case nil: return
                }
            }
        }
        // The socket fills before the reading starts.
        try await executor.sleep(for: .milliseconds(20))
        do {
            if expectDeadline {
                try await expectDeadlineOnTime(executor) { try await body(executor, server) }
            } else {
                try await body(executor, server)
            }
        } catch {
            stop.store(true, ordering: .relaxed)
            writer.join()
            throw error
        }
        stop.store(true, ordering: .relaxed)
        writer.join()
    }
}

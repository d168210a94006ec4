import EventLoop
import Synchronization
import Testing

/// `loop.run { }` cancels the tasks its body leaves waiting on the loop and
/// runs the loop until they have ended, as asyncio's `run` cancels and
/// gathers the tasks still pending when the main coroutine returns.
@Suite("loop.run: tasks left behind are cancelled and awaited")
struct LoopRunLeftoverTaskTests {
    @Test(arguments: LoopBackend.available)
    func aTaskLeftSleepingIsCancelledAndItsCleanupRunsBeforeRunReturns(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        let ended = Locked<String?>(nil)
        try loop.run { executor in
            Task(executorPreference: executor) {
                do {
                    try await executor.sleep(for: .seconds(3_600))
                    ended.withLock { $0 = "woke" }
                } catch is CancellationError {
                    ended.withLock { $0 = "cancelled" }
                } catch {
                    ended.withLock { $0 = "\(error)" }
                }
            }
            for _ in 0..<4 { await Task.yield() } // it is asleep
        }
        #expect(ended.withLock { $0 } == "cancelled")
        #expect(loop.metrics.activeTimers == 0, "its timer went with it")
        #expect(try loop.run { _ in 42 } == 42, "the loop is usable again")
        try loop.close()
    }

    @Test func aTaskNotYetStartedWhenTheBodyReturnsIsCancelledOnceItWaits() throws {
        let loop = try IOLoop()
        let ended = Locked<String?>(nil)
        try loop.run { executor in
            _ = Task(executorPreference: executor) {
                do { try await executor.sleep(for: .seconds(3_600)) } catch { ended.withLock { $0 = "\(type(of: error))" } }
            }
        }
        #expect(ended.withLock { $0 } == "CancellationError")
        try loop.close()
    }

    @Test func aTaskLeftReadingAStreamIsCancelledAndClosesItsConnection() throws {
        let loop = try IOLoop()
        let ended = Locked<[String]>([])
        try loop.run { executor in
            let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
            Task(executorPreference: executor) {
                do { _ = try await server.readToEnd() } catch { ended.withLock { $0.append("reader: \(type(of: error))") } }
                await server.close()
            }
            Task(executorPreference: executor) {
                do { try await client.waitUntilPeerCloses() } catch { ended.withLock { $0.append("waiter: \(type(of: error))") } }
                await client.close()
            }
            for _ in 0..<4 { await Task.yield() }
        }
        #expect(Set(ended.withLock { $0 }) == ["reader: CancellationError", "waiter: CancellationError"])
        try loop.close()
    }

    @Test func aCancelledTaskThatTriesToWaitAgainCannotHoldRunOpen() throws {
        let loop = try IOLoop()
        let attempts = Locked(0)
        try loop.run { executor in
            Task(executorPreference: executor) {
                for _ in 0..<100 {
                    attempts.withLock { $0 += 1 }
                    try? await executor.sleep(for: .seconds(3_600)) // ignores the cancellation, and waits again
                }
            }
            for _ in 0..<4 { await Task.yield() }
        }
        #expect(attempts.withLock { $0 } == 100, "every later wait ended at once")
        try loop.close()
    }

    @Test func aTaskWaitingOnAnotherTasksValueIsNotWaitedFor() throws {
        let loop = try IOLoop()
        let gate = AsyncGate()
        let finished = Locked(false)
        try loop.run { executor in
            Task(executorPreference: executor) {
                await gate.wait() // not one of the loop's waits
                finished.withLock { $0 = true }
            }
            for _ in 0..<4 { await Task.yield() }
        }
        #expect(!finished.withLock { $0 })
        gate.open()
        // It goes on when the loop runs next.
        try loop.run { executor in
            for _ in 0..<100 where !finished.withLock({ $0 }) { try await executor.sleep(for: .milliseconds(1)) }
        }
        #expect(finished.withLock { $0 })
        try loop.close()
    }
}

/// A value behind a lock, shared by reference with the tasks a test starts.
private final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> R { mutex.withLock(body) }
}

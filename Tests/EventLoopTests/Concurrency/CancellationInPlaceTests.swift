@testable import EventLoop
import Synchronization
import Testing

/// `withCancellationHandlerInPlace`, the streams' cancellation handler: its
/// operation runs on the caller's actor (Swift 6.3's
/// `withTaskCancellationHandler` ran it on the task's generic executor when
/// called from `nonisolated(nonsending)` code), its handler runs at once for
/// a task cancelled already, once for a cancellation during the operation,
/// and never after the operation has returned.
@Suite("Cancellation handlers that keep the caller's isolation")
struct CancellationInPlaceTests {
    @Test func theOperationRunsOnTheCallersActor() async throws {
        let home = try LoopThread(name: "home")
        let other = try LoopThread(name: "other")
        // An actor on one loop's serial face, called from a task that prefers another loop.
        let probe = IsolationProbe(executor: home.executor)
        let stayed = try await Task(executorPreference: other.executor) { try await probe.operationStaysOnTheActor() }.value
        await home.shutdown()
        await other.shutdown()
        #expect(stayed)
    }

    @Test func aTaskCancelledAlreadyRunsTheHandlerBeforeTheOperation() async throws {
        let order = OrderLog()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await recordOrder(order)
        }
        try await task.value
        #expect(order.entries.withLock { $0 } == ["handler", "operation"])
    }

    @Test(.timeLimit(.minutes(1))) // a handler that never ran would leave the operation waiting
    func aCancellationDuringTheOperationRunsTheHandlerOnce() async throws {
        let handled = Atomic<Int>(0)
        let started = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        let task = Task {
            try await withCancellationHandlerInPlace {
                started.continuation.yield()
                for await _ in release.stream { break }
            } onCancel: {
                handled.add(1, ordering: .relaxed)
                release.continuation.yield()
            }
        }
        for await _ in started.stream { break }
        task.cancel()
        task.cancel()
        try await task.value
        #expect(handled.load(ordering: .relaxed) == 1)
    }

    @Test func noHandlerRunsAfterTheOperationReturned() async throws {
        let handled = Atomic<Int>(0)
        let finished = AsyncStream<Void>.makeStream()
        let resume = AsyncStream<Void>.makeStream()
        let task = Task {
            try await withCancellationHandlerInPlace {} onCancel: { handled.add(1, ordering: .relaxed) }
            finished.continuation.yield()
            for await _ in resume.stream { break }
        }
        for await _ in finished.stream { break }
        task.cancel()
        resume.continuation.yield()
        try await task.value
        #expect(handled.load(ordering: .relaxed) == 0)
    }
}

/// Records "handler" and "operation" in the order they run.
private nonisolated(nonsending) func recordOrder(_ order: OrderLog) async throws {
    try await withCancellationHandlerInPlace {
        order.entries.withLock { $0.append("operation") }
    } onCancel: {
        order.entries.withLock { $0.append("handler") }
    }
}

/// What ran, in order (from any thread).
private final class OrderLog: Sendable {
    let entries = Mutex<[String]>([])
}

/// An actor on a loop's serial face that checks where a handler's
/// operation runs.
private actor IsolationProbe {
    nonisolated let executor: LoopExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    init(executor: LoopExecutor) { self.executor = executor }

    /// Whether the operation ran on the loop thread, before and after a
    /// suspension inside it, and the actor's code after it.
    func operationStaysOnTheActor() async throws -> Bool {
        let inside = try await inPlace { self.executor.queue.isRunningHere }
        return inside && executor.queue.isRunningHere
    }

    /// A nonsending caller, as the streams' waits are.
    private nonisolated(nonsending) func inPlace(_ check: @Sendable () -> Bool) async throws -> Bool {
        var stayed = false
        try await withCancellationHandlerInPlace {
            let before = check()
            await Task.yield()
            stayed = before && check()
        } onCancel: {}
        return stayed
    }
}

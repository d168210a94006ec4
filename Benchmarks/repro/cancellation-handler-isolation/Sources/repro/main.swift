// Where does withTaskCancellationHandler's operation run when it is called
// from a nonisolated(nonsending) function whose caller is an actor?
// Expected: on the actor (nonsending code runs in its caller's isolation).
// Swift 6.3.1: on the generic executor (the task's preferred executor, or
// the global pool), off the actor. Exit status 1 when it runs off the actor.
import Foundation

/// A serial executor that runs its jobs on one thread of its own.
final class ThreadExecutor: SerialExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var thread: pthread_t?

    init() {
        Thread.detachNewThread { [self] in
            condition.lock()
            thread = pthread_self()
            condition.broadcast()
            condition.unlock()
            while true {
                condition.lock()
                while jobs.isEmpty { condition.wait() }
                let job = jobs.removeFirst()
                condition.unlock()
                job.runSynchronously(on: asUnownedSerialExecutor())
            }
        }
        condition.lock()
        while thread == nil { condition.wait() }
        condition.unlock()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    var isCurrent: Bool { pthread_equal(thread!, pthread_self()) != 0 }
}

let executorA = ThreadExecutor()

actor OnA {
    nonisolated var unownedExecutor: UnownedSerialExecutor { executorA.asUnownedSerialExecutor() }
    func locate() async -> (entry: Bool, operation: Bool, exit: Bool) { await steps() }
}

nonisolated(nonsending) func steps() async -> (entry: Bool, operation: Bool, exit: Bool) {
    let entry = executorA.isCurrent
    let operation = await withTaskCancellationHandler { executorA.isCurrent } onCancel: {}
    return (entry, operation, executorA.isCurrent)
}

let result = await OnA().locate()
print("nonsending function on the actor's executor: \(result.entry)")
print("withTaskCancellationHandler's operation on the actor's executor: \(result.operation)")
print("after it, on the actor's executor: \(result.exit)")
exit(result.operation ? 0 : 1)

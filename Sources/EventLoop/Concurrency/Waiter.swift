/// One suspended task waiting on the loop: resumed exactly once, on the loop
/// thread, with a value or an error.
///
/// Armed on the loop thread by the wait that made it (a timer, a watcher…),
/// with a `disarm` closure that undoes that; a cancellation that arrives
/// first (from any thread, through the loop) makes the arming resume it at
/// once. Every field is touched on the loop thread only, hence
/// `@unchecked Sendable`; the continuation is stored before the waiter is
/// handed to the loop (the submission's lock orders the two).
final class Waiter<Value: Sendable>: @unchecked Sendable, WaiterProtocol {
    private var continuation: UnsafeContinuation<Value, any Error>?
    /// Undoes the arming (cancels the timer, the watcher…). Released once resumed.
    private var disarm: (() -> Void)?
    private(set) var isFinished = false
    private var cancelled = false
    /// The suspended task (see `SocketCore.Waiting.task`); nil once resumed.
    private var task: UnsafeCurrentTask?
    /// The loop's registry entry, for `IOLoop.close()`.
    var registryID = 0
    weak var registry: WaiterRegistry?

    init() {}

    /// Task side, before the waiter is handed to the loop.
    func attach(_ continuation: UnsafeContinuation<Value, any Error>) {
        self.continuation = continuation
        withUnsafeCurrentTask { task = $0 } // assigned inside: no optional copied out through the generic
    }

    deinit {
        // The loop let go of an unarmed wait (closed with the arming still
        // queued): never leak the task.
        continuation?.resume(throwing: LoopError.closed)
    }

    /// Loop thread: the wait is in place; `disarm` takes it down. A cancellation
    /// that came first ends the wait now. Returns whether the wait stays armed.
    @discardableResult
    func arm(_ disarm: @escaping () -> Void) -> Bool {
        if cancelled || isFinished {
            disarm()
            finish(.failure(cancelled ? CancellationError() : LoopError.closed))
            return false
        }
        self.disarm = disarm
        return true
    }

    /// Loop thread: ends the wait with `result` (a second call does nothing).
    func finish(_ result: Result<Value, any Error>) {
        guard !isFinished else { return }
        isFinished = true
        let continuation = self.continuation
        self.continuation = nil
        task = nil
        let disarm = self.disarm
        self.disarm = nil
        registry?.remove(self)
        disarm?()
        continuation?.resume(with: result)
    }

    /// Loop thread: the task was cancelled.
    func cancel() {
        cancelled = true
        if disarm != nil { finish(.failure(CancellationError())) }
    }

    /// Loop thread: the loop is closing.
    func fail(_ error: any Error) { finish(.failure(error)) }

    /// Loop thread: the task suspended here, if it still is.
    func waitingTasks(into tasks: inout [UnsafeCurrentTask]) {
        if !isFinished, let task { tasks.append(task) }
    }
}

/// What the loop's registry of waiters needs of each, whatever its value type.
protocol WaiterProtocol: AnyObject {
    var registryID: Int { get set }
    var isFinished: Bool { get }
    func fail(_ error: any Error)
    /// Appends the tasks suspended in this wait.
    func waitingTasks(into tasks: inout [UnsafeCurrentTask])
}

/// The waiters a loop has armed, so that closing the loop resumes every one
/// of them with `LoopError.closed` instead of leaking its task. Loop thread only.
final class WaiterRegistry {
    private var waiters: [Int: any WaiterProtocol] = [:]
    private var nextID = 1

    /// Registers a waiter that removes itself when it ends (a stream's socket core).
    func addOther(_ waiter: any WaiterProtocol) {
        waiter.registryID = nextID
        waiters[nextID] = waiter
        nextID += 1
    }

    /// Registers a `Waiter`, which removes itself through `registry` when it finishes.
    func add<Value>(_ waiter: Waiter<Value>) {
        waiter.registry = self
        addOther(waiter)
    }

    func remove(_ waiter: any WaiterProtocol) { waiters[waiter.registryID] = nil }

    /// The tasks suspended in the registered waits, each once.
    func waitingTasks() -> [UnsafeCurrentTask] {
        var tasks: [UnsafeCurrentTask] = []
        for waiter in waiters.values { waiter.waitingTasks(into: &tasks) }
        var seen = Set<UnsafeCurrentTask>()
        return tasks.filter { seen.insert($0).inserted }
    }

    /// Resumes every waiter still waiting with `error`; their tasks run on.
    func failAll(_ error: any Error) {
        let all = waiters.values
        waiters = [:]
        for waiter in all where !waiter.isFinished { waiter.fail(error) }
    }
}

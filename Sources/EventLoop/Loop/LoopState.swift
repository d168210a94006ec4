/// The loop's mutable state, kept behind a pointer.
///
/// Why: Swift checks exclusive access to a class's stored properties at run
/// time (`swift_beginAccess`), and on the dispatch path those checks cost more
/// than everything else the loop does (measured with callgrind: about half of
/// all instructions per event). State reached through a pointer is not checked
/// dynamically. The discipline that makes this safe is the one the loop keeps
/// anyway: it never holds an access to a field across a user callback, which
/// may re-enter the loop. Loop thread only.
struct LoopState {
    /// Watchers the loop installed for itself (wake-up, signals).
    var internalWatcherCount: Int = 0
    var timers: TimerHeap = TimerHeap()
    var callSoonQueue: CallSoonQueue = CallSoonQueue()
    /// Executor jobs enqueued on the loop thread (and taken from other threads).
    var jobs: [LoopJob] = []
    /// The spare array `runJobs` swaps in, so steady state allocates nothing.
    var jobBatch: [LoopJob] = []
    /// Async waits armed on this loop, resumed with an error when it closes.
    let waiters = WaiterRegistry()
    /// What the wake-up watcher took from the submission queue: it runs after the call-soon batch.
    var submissionBatch: [SubmissionQueue.Job] = []
    /// How many takes from the submission queue in a row found its lock held
    /// by a producer; 0 when the last take succeeded (`takeSubmissions`).
    var submissionTakeRefusals: Int = 0
    var signals: SignalState = SignalState()
    var stopRequested: Bool = false
    /// Set while `run`, `runOnce` or a manual clock's `advance` runs callbacks.
    var isRunning: Bool = false
    var closed: Bool = false
    var nowNanoseconds: Int64 = 0
    var iterationCount: UInt64 = 0
    /// Executor jobs run so far (see `LoopMetrics.executorJobs`).
    var executorJobCount: UInt64 = 0
    var waitNanoseconds: Int64 = 0
    var runNanoseconds: Int64 = 0
    var lastWakeNanoseconds: Int64 = 0
    var errorHandler: (any Error) throws -> Void = { error in
        printToStandardError("IOLoop: a callback threw: \(error)")
    }
}

/// Each field of `LoopState` under its own name, read and written in place.
extension IOLoop {
    var internalWatcherCount: Int {
        @inline(__always) _read { yield state.pointee.internalWatcherCount }
        @inline(__always) _modify { yield &state.pointee.internalWatcherCount }
    }
    var timers: TimerHeap {
        @inline(__always) _read { yield state.pointee.timers }
        @inline(__always) _modify { yield &state.pointee.timers }
    }
    var jobs: [LoopJob] {
        @inline(__always) _read { yield state.pointee.jobs }
        @inline(__always) _modify { yield &state.pointee.jobs }
    }
    var jobBatch: [LoopJob] {
        @inline(__always) _read { yield state.pointee.jobBatch }
        @inline(__always) _modify { yield &state.pointee.jobBatch }
    }
    var waiters: WaiterRegistry { state.pointee.waiters }
    var callSoonQueue: CallSoonQueue {
        @inline(__always) _read { yield state.pointee.callSoonQueue }
        @inline(__always) _modify { yield &state.pointee.callSoonQueue }
    }
    var submissionBatch: [SubmissionQueue.Job] {
        @inline(__always) _read { yield state.pointee.submissionBatch }
        @inline(__always) _modify { yield &state.pointee.submissionBatch }
    }
    var submissionTakeRefusals: Int {
        @inline(__always) _read { yield state.pointee.submissionTakeRefusals }
        @inline(__always) _modify { yield &state.pointee.submissionTakeRefusals }
    }
    var signals: SignalState {
        @inline(__always) _read { yield state.pointee.signals }
        @inline(__always) _modify { yield &state.pointee.signals }
    }
    var stopRequested: Bool {
        @inline(__always) _read { yield state.pointee.stopRequested }
        @inline(__always) _modify { yield &state.pointee.stopRequested }
    }
    var isRunning: Bool {
        @inline(__always) _read { yield state.pointee.isRunning }
        @inline(__always) _modify { yield &state.pointee.isRunning }
    }
    var closed: Bool {
        @inline(__always) _read { yield state.pointee.closed }
        @inline(__always) _modify { yield &state.pointee.closed }
    }
    var nowNanoseconds: Int64 {
        @inline(__always) _read { yield state.pointee.nowNanoseconds }
        @inline(__always) _modify { yield &state.pointee.nowNanoseconds }
    }
    var iterationCount: UInt64 {
        @inline(__always) _read { yield state.pointee.iterationCount }
        @inline(__always) _modify { yield &state.pointee.iterationCount }
    }
    var executorJobCount: UInt64 {
        @inline(__always) _read { yield state.pointee.executorJobCount }
        @inline(__always) _modify { yield &state.pointee.executorJobCount }
    }
    var waitNanoseconds: Int64 {
        @inline(__always) _read { yield state.pointee.waitNanoseconds }
        @inline(__always) _modify { yield &state.pointee.waitNanoseconds }
    }
    var runNanoseconds: Int64 {
        @inline(__always) _read { yield state.pointee.runNanoseconds }
        @inline(__always) _modify { yield &state.pointee.runNanoseconds }
    }
    var lastWakeNanoseconds: Int64 {
        @inline(__always) _read { yield state.pointee.lastWakeNanoseconds }
        @inline(__always) _modify { yield &state.pointee.lastWakeNanoseconds }
    }
}

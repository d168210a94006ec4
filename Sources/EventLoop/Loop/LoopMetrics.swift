/// A snapshot of what a loop holds and how it spends its time.
public struct LoopMetrics: Sendable, Equatable {
    /// I/O watchers not cancelled.
    public var activeWatchers: Int
    /// Timers scheduled and not yet fired or cancelled.
    public var activeTimers: Int
    /// Signal handlers installed.
    public var activeSignalHandlers: Int
    /// Closures waiting in the call-soon queue.
    public var pendingCallSoon: Int
    /// Iterations run so far.
    public var iterations: UInt64
    /// Swift concurrency jobs the loop has run so far: each is a task
    /// starting or resuming on the loop (after a suspension, or a hop from
    /// another executor), or an actor's job on the loop's serial executor;
    /// a task's `await` that does not suspend costs none. With `iterations`,
    /// the task switches an async workload costs (a stream read that must
    /// wait costs one: its resumption).
    public var executorJobs: UInt64
    /// Time spent waiting in the kernel.
    public var waiting: Duration
    /// Time spent running callbacks and bookkeeping between waits.
    public var running: Duration
}

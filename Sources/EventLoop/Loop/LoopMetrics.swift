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
    /// Time spent waiting in the kernel.
    public var waiting: Duration
    /// Time spent running callbacks and bookkeeping between waits.
    public var running: Duration
}

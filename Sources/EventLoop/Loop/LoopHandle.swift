/// What other threads may do with a loop: submit work and stop it.
///
/// Any thread. It touches only a locked queue and the loop's eventfd, and
/// never runs user code under the lock.
public struct LoopHandle: Sendable {
    let submissions: SubmissionQueue

    init(_ submissions: SubmissionQueue) { self.submissions = submissions }

    /// Runs `work` on the loop thread, exactly once, after work this thread
    /// submitted before it. An idle loop wakes at once; many submissions before
    /// it wakes cost one eventfd write in all. Submitted work runs in the last
    /// phase of an iteration, after that iteration's call-soon closures (so a
    /// `callSoon` made on the loop thread before a submission runs first).
    /// - Throws: `LoopError.closed` once the loop has closed (the work is not run).
    public func submit(_ work: consuming @escaping @Sendable () -> Void) throws {
        guard submissions.submit(consume work) else { throw LoopError.closed }
    }

    /// Runs `handler(tag)` on the loop thread, exactly once, in order with
    /// this thread's other submissions (as `submit(_:)` does): the
    /// handler-and-tag shape of `IOLoop.schedule(at:tag:_:)`. One handler
    /// shared by many submissions (the same closure value, e.g. a stored
    /// `let`) is kept once for a run of them, so a submission allocates
    /// nothing and touches no reference count: the data travels in the tag
    /// (an index into the caller's own table, say), where a closure capturing
    /// it would be allocated per submission.
    /// - Throws: `LoopError.closed` once the loop has closed (the handler is not run).
    public func submit(tag: Int, _ handler: @escaping @Sendable (Int) -> Void) throws {
        guard submissions.submit(tag: tag, handler) else { throw LoopError.closed }
    }

    /// Asks the loop's `run()` to return after its current iteration, waking it
    /// if it is blocked in the kernel. When the loop is not running, the stop
    /// waits for its next `run()`, which does one non-blocking iteration and
    /// returns (once); it does not cut a `runOnce` wait short. Harmless on a
    /// closed loop.
    public func stop() {
        submissions.requestStop()
    }
}

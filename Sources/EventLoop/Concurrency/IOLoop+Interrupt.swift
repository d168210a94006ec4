/// Ctrl-C for `IOLoop.run(cancellingOnInterrupt: true) { }`, as asyncio's
/// `run` handles it: the first `SIGINT` cancels the body's task (its cleanup
/// runs; `run` rethrows the `CancellationError`), the second gives the signal
/// its default action back and raises it again, so the process ends as
/// Ctrl-C ends it. Through the loop's own `onSignal`: the handler runs on the
/// loop's thread. Loop thread only.
final class InterruptCancellation {
    private var subscription: SignalSubscription?
    /// The body's task, cancelled by the first `SIGINT`.
    var task: Task<Void, Never>?
    private var deliveries = 0

    /// Starts handling `SIGINT` on `loop`, only while its disposition is the
    /// default action (as asyncio does): a program that ignores it (a
    /// background job of a shell without job control) or that has a handler
    /// of its own (another loop's, or anyone's) keeps that. Nil then.
    /// - Throws: what `onSignal` or `sigaction` throw.
    init?(_ loop: IOLoop) throws {
        guard try SignalDisposition.current(of: SignalDisposition.interruptSignal) == .default else { return nil }
        subscription = try loop.onSignal(SignalDisposition.interruptSignal) { [unowned self] _ in self.interrupted() }
    }

    /// One `SIGINT`: the first cancels the task; the second ends the process.
    private func interrupted() {
        deliveries += 1
        if deliveries == 1 {
            task?.cancel()
            return
        }
        // The previous disposition (the default action) goes back, then the
        // signal is raised again and ends the process as Ctrl-C would. Should
        // the raise fail, which `kill(2)` on this process never does, the
        // next Ctrl-C meets the default action anyway.
        end()
        try? raiseInProcess(SignalDisposition.interruptSignal)
    }

    /// Stops handling `SIGINT`: the disposition it had comes back. Idempotent.
    func end() {
        subscription.take()?.cancel()
    }
}

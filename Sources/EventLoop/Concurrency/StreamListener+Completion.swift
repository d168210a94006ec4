/// Accepting by completion, on an io_uring loop: one multishot
/// `IORING_OP_ACCEPT` stays in the kernel and each new connection arrives as
/// a completion (see `IOUringSelector+Accepting`), queued here until a task
/// takes it: no `accept(2)` per connection.
///
/// What `accept()` promises stays: the errors the kernel reports for one
/// connection skip it, a shortage of descriptors or memory pauses
/// `acceptBackoff` (the kernel ends the request then; it is armed again
/// after the pause), the listening socket's own failure is thrown, and the
/// socket budget bounds how many are taken per loop iteration. Backpressure:
/// with `queueLimit` connections taken and not yet claimed, the request is
/// ended and the rest wait in the kernel's backlog, as they would with
/// nobody calling `accept()`; it is armed again once half are claimed.
/// Every descriptor has an owner at every moment: the queue, a stream, or
/// (for a listener gone) the selector, which closes it. The request is
/// armed by the first `accept()` (a `StreamServer`'s `run()`): a listener
/// nobody accepts on leaves its connections in the kernel's backlog, which
/// stays the backpressure `backlog` sets.
extension StreamListener {
    /// Connections taken by the kernel and not yet claimed, at which the
    /// accept pauses (and half of which it resumes at).
    static var queueLimit: Int { 128 }

    /// Starts accepting by completion where the loop can; false elsewhere.
    /// Called once, by the first accept.
    func startAcceptingByCompletion() -> Bool {
        core.startAccepting { [weak self] result in
            // Released meanwhile: the descriptor has no other owner.
            guard let self else { if result >= 0 { _ = Kernel.close(result) }; return }
            self.acceptCompleted(result)
        }
    }

    /// One completion: a new descriptor (queued) or -errno (queued too, so
    /// the task that takes it handles it in order).
    private func acceptCompleted(_ result: Int32) {
        guard core.isOpen else {
            if result >= 0 { _ = Kernel.close(result) }
            return
        }
        completed.append(result)
        if result >= 0 {
            queuedConnections += 1
            if queuedConnections >= Self.queueLimit && !acceptPaused {
                acceptPaused = true
                core.setAccepting(paused: true)
            }
        }
        core.deliveredRead(end: false)
    }

    /// `acceptSocket` on the completion path: the next queued connection
    /// (see the extension's notes), waiting for one unless `waiting` is off;
    /// with none queued and `waiting` off, one still in the kernel's backlog
    /// (`accept(2)`; the request may be paused), or nil. Loop thread.
    func acceptQueued(reporting report: (@Sendable (StreamError) -> Void)?, waiting: Bool) async throws -> AcceptedSocket? {
        let operation = "accept(\(localAddress))"
        while true {
            guard core.isOpen else { throw StreamError(.closed, operation: operation) }
            if let listeningFailure { throw listeningFailure }
            guard completedHead < completed.count else {
                if !waiting { return try await acceptBySystemCall(reporting: report, waiting: false) }
                if acceptPaused { resumeAccepting() }
                try await core.wait(for: .read, operation: operation)
                continue
            }
            if core.spend() {
                try await core.yieldToLoop(.read, owner: 0, operation: operation)
                continue
            }
            let result = completed[completedHead]
            completedHead += 1
            if completedHead == completed.count {
                completed.removeAll(keepingCapacity: true)
                completedHead = 0
            }
            if result >= 0 {
                queuedConnections -= 1
                if acceptPaused && queuedConnections <= Self.queueLimit / 2 { resumeAccepting() }
                return acceptedSocket(Descriptor(result))
            }
            let errno = ErrnoCode(rawValue: -result)
            switch StreamListener.acceptFailure(errno) {
            case .pause:
                // Out of descriptors or memory: the kernel ended the request; it is armed
                // after the pause (or by the next accept, if this one's wait is cancelled).
                acceptPaused = true
                report?(StreamError(.system, operation: operation + ": paused \(acceptBackoff)", errno: errno))
                if !waiting { return nil }
                try await executor.sleep(for: acceptBackoff)
                resumeAccepting()
            case .skip:
                // That connection's own failure: skip it, take the next.
                if errno != .connectionAborted {
                    report?(StreamError(.system, operation: operation + ": one connection skipped", errno: errno))
                }
                resumeAccepting() // if the kernel ended the request with it
            case .fatal:
                // The listening socket's own failure ended the request: every later accept says so too.
                let failure = StreamError(SystemError(errno, operation: operation))
                listeningFailure = failure
                throw failure
            }
        }
    }

    /// Arms the accept again (it does nothing while one is armed).
    private func resumeAccepting() {
        acceptPaused = false
        core.setAccepting(paused: false)
    }

    /// Closes the connections taken and never claimed (the listener is
    /// closing). Loop thread, or `deinit`.
    func closeQueuedConnections() {
        for result in completed[completedHead...] where result >= 0 { _ = Kernel.close(result) }
        completed.removeAll()
        completedHead = 0
        queuedConnections = 0
    }
}

/// The loop's signal handling. Loop thread only.
///
/// A class, so the `~Copyable` pipe owner can live inside the copyable `LoopState`.
final class SignalState {
    typealias Handler = (SignalInfo) throws -> Void

    /// One `onSignal` subscription.
    struct Subscriber {
        let id: UInt64
        let run: Handler
    }

    /// A signal this loop handles: its subscribers, and what to undo when the last one goes.
    struct Handled {
        var subscribers: [Subscriber]
        /// Stamped by the catcher on each record of this route; another tag is a stale record.
        let tag: UInt32
        let previousAction: SignalCatcher.PreviousAction
        /// Whether the loop's thread blocked the signal before the loop unblocked it.
        let wasBlockedOnLoopThread: Bool
    }

    /// The pipe the catcher writes this loop's records into; nil while no signal is handled.
    var pipe: SignalPipe?
    /// The generation of the loop's watcher on the pipe's read end.
    var pipeWatcher: UInt32 = 0
    var handled: [Int32: Handled] = [:]
    var nextID: UInt64 = 1
    var nextTag: UInt32 = 1

    /// The pipe's read end (the loop's internal watcher), or nil.
    var descriptor: Descriptor? { pipe?.readEnd }
    /// The pipe's write end (routed to the catcher), or nil.
    var writeEnd: Descriptor? { pipe?.writeEnd }
    var handlerCount: Int { handled.values.reduce(0) { $0 + $1.subscribers.count } }
    var watched: [Int32] { Array(handled.keys) }

    func isSubscribed(_ signal: Int32, _ id: UInt64) -> Bool {
        handled[signal]?.subscribers.contains { $0.id == id } ?? false
    }
}

extension IOLoop {
    /// Calls `handler` on the loop thread for each delivery of `signal` to this
    /// process, whichever thread the kernel delivered it to.
    ///
    /// How: the first subscription of a signal installs a catcher for it with
    /// `sigaction(2)` (`SA_SIGINFO | SA_RESTART`). On whichever thread the kernel
    /// picks, the catcher writes a 24-byte record (signal, sender PID and UID,
    /// `si_code`) into a non-blocking pipe this loop watches, and the loop runs
    /// the handlers in its I/O phase. Other threads' masks do not matter, so
    /// this works in async programs, whose pool threads exist before the loop.
    /// The loop blocks nothing; it unblocks the signal on its own thread while
    /// it handles it, so a process-directed delivery always has a thread to land
    /// on, and `pthread_kill` to the loop's thread works.
    ///
    /// - Order: a delivery's handlers run in subscription order. A handler
    ///   cancelled by an earlier one does not run; one added by a handler first
    ///   sees the deliveries that arrive after it.
    /// - Coalescing: deliveries of a standard signal that the kernel holds
    ///   pending together are one, and while the pipe is full (about 2,700
    ///   unread records) more deliveries are dropped. Count deliveries only when
    ///   each is awaited before the next is sent.
    /// - Several handlers may share a signal; one loop per signal at a time.
    /// - Cancelling the last handler of a signal restores the loop thread's mask
    ///   for it, discards deliveries the kernel holds pending for the loop's
    ///   thread or the process (so the restored default action cannot run them
    ///   later), puts back the previous disposition, and drops records not yet
    ///   read. Deliveries after that meet the previous disposition. A delivery
    ///   pending on another thread that blocks the signal is not the loop's to
    ///   discard: it meets the previous disposition when that thread unblocks it.
    /// - Children inherit nothing from this: no blocked mask, no ignored signal,
    ///   and a caught signal reverts to its default action in a program started
    ///   by `exec` (`posix_spawn`, Foundation's `Process`).
    ///
    /// Your part: do not install another handler for the signal (`signal(3)`,
    /// `sigaction(2)`, another library) while the loop handles it: the last one
    /// installed wins, and if that is yours the loop stops seeing the signal and
    /// leaves your handler in place when it is done. Do not block the signal on
    /// the loop's thread. After `fork()` without `exec`, the child shares the
    /// loop's pipe: its deliveries would reach the parent's loop. Loop thread only.
    ///
    /// - Returns: the subscription; `cancel()` it to stop (the loop's `close()` does too).
    /// - Throws: `LoopError.uncatchableSignal` (`SIGKILL`, `SIGSTOP`, 32, 33, and the synchronous faults `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, which a handler that returns would re-run forever),
    ///   `.invalidSignal` (outside 1...64), `.signalClaimedByAnotherLoop`,
    ///   `.closed`, or the `SystemError` of the pipe or of `sigaction`.
    @discardableResult
    public func onSignal(_ signal: Int32, _ handler: @escaping (SignalInfo) throws -> Void) throws -> SignalSubscription {
        try refuseIfClosed()
        switch SignalCatcher.validity(of: signal) {
        case .catchable: break
        case .uncatchable: throw LoopError.uncatchableSignal(signal)
        case .notASignal: throw LoopError.invalidSignal(signal)
        }
        if signals.handled[signal] == nil { try startHandling(signal) }
        let id = signals.nextID
        signals.nextID += 1
        signals.handled[signal]!.subscribers.append(SignalState.Subscriber(id: id, run: handler))
        return SignalSubscription(signal: signal, id: id, token: token)
    }

    /// Claims `signal`, opens and watches the pipe if no signal is handled yet,
    /// routes the signal to the pipe, installs the catcher, then unblocks the
    /// signal on this thread (after the catcher, so a delivery already pending
    /// here becomes a record rather than the default action). A failure undoes
    /// the steps taken, in reverse.
    private func startHandling(_ signal: Int32) throws {
        let me = ObjectIdentifier(self)
        guard SignalClaims.claim(signal, for: me) else { throw LoopError.signalClaimedByAnotherLoop(signal) }
        let openedPipe = signals.pipe == nil
        do {
            if openedPipe { try openPipe() }
            let tag = signals.nextTag
            signals.nextTag &+= 1
            try SignalCatcher.route(signal, to: signals.writeEnd!, tag: tag)
            let previous: SignalCatcher.PreviousAction
            do { previous = try SignalCatcher.install(signal) } catch {
                SignalCatcher.unroute(signal)
                throw error
            }
            let wasBlocked: Bool
            do { wasBlocked = try SignalSet([signal]).unblockOnThisThread().contains(signal) } catch {
                // The first error is the one to report; putting back the action
                // sigaction just handed over does not fail.
                try? SignalCatcher.restore(signal, previous)
                SignalCatcher.unroute(signal)
                throw error
            }
            signals.handled[signal] = SignalState.Handled(
                subscribers: [], tag: tag, previousAction: previous, wasBlockedOnLoopThread: wasBlocked)
        } catch {
            if openedPipe { closePipe() }
            SignalClaims.release(signal, from: me)
            throw error
        }
    }

    /// Opens the pipe and watches its read end.
    private func openPipe() throws {
        let pipe = try SignalPipe()
        // If this throws, `pipe` goes out of scope here and closes both ends.
        let generation = try addWatcher(pipe.readEnd, interest: .readable, trigger: .level, isInternal: true) {
            [unowned self] _ in self.readSignals()
        }
        signals.pipe = consume pipe
        signals.pipeWatcher = generation
    }

    /// Stops watching the pipe, then closes both ends, once. Every route to it must be gone.
    private func closePipe() {
        guard let pipe = signals.pipe.take() else { return }
        // A no-op once the loop is closing: close() has already deregistered every watcher.
        removeWatcher(pipe.readEnd, signals.pipeWatcher)
        do { try pipe.close() } catch { report(error) }
    }

    /// The pipe's watcher: reads every waiting record, then runs the handlers.
    private func readSignals() {
        guard let reader = signals.descriptor else { return }
        // Everything is read before any handler runs: a handler may cancel the
        // last subscription (the loop then closes the pipe) and open a
        // descriptor that takes the pipe's number. After the first handler,
        // nothing here touches the pipe again.
        var records: [SignalRecord] = []
        do {
            while let record = try SignalPipe.read(reader) { records.append(record) }
        } catch {
            // Only EBADF is possible, if someone closed the loop's descriptor:
            // the records read so far are delivered, and the error reported.
            report(error)
        }
        // Handlers subscribed by these handlers do not see these deliveries, which came before them.
        let newest = signals.nextID
        for record in records {
            deliver(record, subscribedBefore: newest)
            if isClosed { return }
        }
    }

    /// Runs the handlers of one record, skipping any cancelled since the loop read it.
    private func deliver(_ record: SignalRecord, subscribedBefore newest: UInt64) {
        let signal = record.info.signal
        // A record of an older route (handled, cancelled, handled again) is stale.
        guard let handled = signals.handled[signal], handled.tag == record.tag else { return }
        for subscriber in handled.subscribers where subscriber.id < newest {
            // A handler cancelled by an earlier one does not run.
            guard signals.isSubscribed(signal, subscriber.id) else { continue }
            invoke { try subscriber.run(record.info) }
            if isClosed { return }
        }
    }

    func removeSignalHandler(_ signal: Int32, _ id: UInt64) {
        guard !isClosed, var handled = signals.handled[signal],
              let index = handled.subscribers.firstIndex(where: { $0.id == id }) else { return }
        let removed = handled.subscribers.remove(at: index)
        if handled.subscribers.isEmpty {
            stopHandling(signal)
        } else {
            signals.handled[signal] = handled
        }
        // The handler goes last, once the loop's state is consistent: what it
        // captured may call back into the loop from a deinit.
        withExtendedLifetime(removed) {}
    }

    /// Undoes `startHandling`: the loop thread's mask as it was, then deliveries
    /// pending in the kernel discarded (while the catcher is still in place, so
    /// the restored action never sees them), the previous action back, the
    /// route cleared (waiting out catchers running on other threads), the claim
    /// released, and the pipe closed when no signal is left. Records of this
    /// route still in the pipe carry its tag and are dropped when read.
    private func stopHandling(_ signal: Int32) {
        guard let handled = signals.handled.removeValue(forKey: signal) else { return }
        if handled.wasBlockedOnLoopThread {
            do { try SignalSet([signal]).blockOnThisThread() } catch { report(error) }
        }
        do { try SignalCatcher.discardPending(signal) } catch { report(error) }
        do { try SignalCatcher.restore(signal, handled.previousAction) } catch { report(error) }
        SignalCatcher.unroute(signal)
        SignalClaims.release(signal, from: ObjectIdentifier(self))
        if signals.handled.isEmpty { closePipe() }
    }

    /// Called by `close()` once the loop has deregistered its watchers: stops
    /// handling every signal and closes the pipe.
    func teardownSignals() {
        let all = signals.handled // the handlers outlive the teardown (their deinits may call back)
        for signal in all.keys { stopHandling(signal) }
        closePipe()
        withExtendedLifetime(all) {}
    }
}

/// A signal handler's handle. Loop thread only.
///
/// It does not keep the loop alive; acting on it after `cancel()` or after the
/// loop closed is harmless.
public struct SignalSubscription {
    /// The signal it handles.
    public let signal: Int32
    let id: UInt64
    let token: LoopToken
    var loop: IOLoop? { token.loop }

    /// Whether the handler is still installed: false after `cancel()` or once the loop closed.
    public var isActive: Bool {
        guard let loop, !loop.isClosed else { return false }
        loop.checkThread()
        return loop.signals.isSubscribed(signal, id)
    }

    /// Removes the handler, at once: a delivery the loop has read but not yet
    /// handed to it is not handed to it. Idempotent; also from a handler.
    /// Cancelling a signal's last handler gives the signal back (see
    /// `IOLoop.onSignal`); it may wait, yielding the CPU, for a catcher running
    /// on another thread to finish its one write into the loop's pipe.
    public func cancel() {
        loop?.checkThread()
        loop?.removeSignalHandler(signal, id)
    }
}

import Glibc

/// The loop's signal handling. Loop thread only.
struct SignalState {
    typealias Handler = (SignalInfo) throws -> Void

    /// The signalfd, owned by the loop; nil while no signal is handled.
    var descriptor: Descriptor?
    var handlers: [Int32: [(id: UInt64, run: Handler)]] = [:]
    var nextID: UInt64 = 1
    /// Signals this loop blocked on its thread, to unblock when done with them.
    var blockedByLoop: Set<Int32> = []

    var handlerCount: Int { handlers.values.reduce(0) { $0 + $1.count } }
    var watched: [Int32] { Array(handlers.keys) }
}

extension IOLoop {
    /// Calls `handler` on the loop thread once for each delivery of `signal`
    /// that the kernel reports (two deliveries that arrive before the loop reads
    /// the first are one, as with any standard signal).
    ///
    /// The signal is read through a signalfd and blocked on the loop's thread.
    /// A process-directed signal goes to any thread that does not block it, so
    /// block it in every other thread too (threads started after the loop's
    /// thread blocked it inherit the mask). Several handlers may share one
    /// signal; only one loop in the process may handle it at a time.
    ///
    /// Cancelling the last handler of a signal reads away what is pending before
    /// restoring the thread's mask, so the default action does not run afterwards.
    /// - Throws: `LoopError.signalClaimedByAnotherLoop`, `.closed`, or
    ///   `SystemError` (`EINVAL` for `SIGKILL`, `SIGSTOP` or a bad number).
    @discardableResult
    public func onSignal(_ signal: Int32, _ handler: @escaping (SignalInfo) throws -> Void) throws -> SignalSubscription {
        try refuseIfClosed()
        if signal == SIGKILL || signal == SIGSTOP {
            throw SystemError(.invalidArgument, operation: "signalfd(signal \(signal)): it cannot be caught")
        }
        _ = try SignalSet([signal]) // validates the number
        if signals.handlers[signal] == nil {
            guard SignalClaims.claim(signal, for: ObjectIdentifier(self)) else {
                throw LoopError.signalClaimedByAnotherLoop(signal)
            }
            do { try startReading(signal) } catch {
                SignalClaims.release(signal, from: ObjectIdentifier(self))
                throw error
            }
        }
        let id = signals.nextID
        signals.nextID += 1
        signals.handlers[signal, default: []].append((id, handler))
        return SignalSubscription(signal: signal, id: id, token: token)
    }

    /// Blocks `signal` and adds it to the signalfd (creating and watching it first if needed).
    private func startReading(_ signal: Int32) throws {
        let set = try SignalSet([signal])
        let previous = try set.blockOnThisThread()
        if !previous.contains(signal) { signals.blockedByLoop.insert(signal) }
        do {
            let all = try SignalSet(signals.watched + [signal])
            if let fd = signals.descriptor {
                try SignalFD.update(fd, all)
            } else {
                let fd = try SignalFD(signals: all).release()
                signals.descriptor = fd
                do {
                    try addWatcher(fd, interest: .readable, trigger: .level, isInternal: true) { [unowned self] _ in
                        self.readSignals()
                    }
                } catch {
                    signals.descriptor = nil
                    try? OwnedDescriptor(adopting: fd).close()
                    throw error
                }
            }
        } catch {
            if signals.blockedByLoop.remove(signal) != nil { _ = try? set.unblockOnThisThread() }
            throw error
        }
    }

    /// Reads every pending signal and runs its handlers.
    private func readSignals() {
        guard let fd = signals.descriptor else { return }
        // A read error can only be EBADF for a descriptor the loop owns and
        // keeps open, so it ends the batch like "nothing pending" would.
        while let info = (try? SignalFD.read(fd))?.value {
            // A copy: a handler may add or cancel handlers.
            for handler in signals.handlers[info.signal] ?? [] {
                invoke { try handler.run(info) }
                if isClosed { return }
            }
        }
    }

    func removeSignalHandler(_ signal: Int32, _ id: UInt64) {
        guard !isClosed, var list = signals.handlers[signal] else { return }
        list.removeAll { $0.id == id }
        if !list.isEmpty {
            signals.handlers[signal] = list
            return
        }
        stopReading(signal)
    }

    /// Drains, narrows the signalfd, restores the mask, and gives up the claim.
    private func stopReading(_ signal: Int32) {
        guard let fd = signals.descriptor else { return }
        signals.handlers[signal] = nil
        // Read away deliveries still pending, for this signal and others:
        // this one's are dropped, the others' handlers run on the next iteration.
        var others: [SignalInfo] = []
        while let info = (try? SignalFD.read(fd))?.value {
            if info.signal != signal { others.append(info) }
        }
        for info in others {
            let handlers = signals.handlers[info.signal] ?? []
            callSoonQueue.append { [unowned self] in
                for handler in handlers { self.invoke { try handler.run(info) } }
            }
        }
        if let remaining = try? SignalSet(signals.watched), !signals.handlers.isEmpty {
            _ = try? SignalFD.update(fd, remaining)
        } else {
            removeWatcher(fd, selector.slot(fd)?.generation ?? 0)
            try? OwnedDescriptor(adopting: fd).close()
            signals.descriptor = nil
        }
        if signals.blockedByLoop.remove(signal) != nil, let set = try? SignalSet([signal]) {
            _ = try? set.unblockOnThisThread()
        }
        SignalClaims.release(signal, from: ObjectIdentifier(self))
    }

    func teardownSignals() {
        for signal in signals.watched { stopReading(signal) }
    }
}

/// A signal handler's handle. Loop thread only.
public struct SignalSubscription {
    /// The signal it handles.
    public let signal: Int32
    let id: UInt64
    let token: LoopToken
    var loop: IOLoop? { token.loop }

    /// Removes the handler; idempotent.
    public func cancel() {
        loop?.checkThread()
        loop?.removeSignalHandler(signal, id)
    }
}

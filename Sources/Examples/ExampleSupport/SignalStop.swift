import EventLoop
import Synchronization

/// Ctrl-C and `SIGTERM` for the async examples, through the loop's own
/// signal support: `loop.onSignal` runs on the loop's thread, records which
/// signal came, and runs the actions registered with `onStop`, such as
/// `server.shutdown(gracePeriod:)` or `task.cancel()`. The example then
/// leaves `loop.run { }` the ordinary way, closes what it opened, and exits 0.
///
/// Make it before `loop.run { }` (the loop is not in reach inside the body);
/// register actions from inside, once there is something to stop. An action
/// registered after a signal came runs at once.
///
/// Any thread: every field is under the mutex, and no action runs under it.
public final class SignalStop: Sendable {
    private struct State {
        var signal: String?
        var actions: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())

    /// Installs handlers for `signals` (`SIGINT` and `SIGTERM` unless told
    /// otherwise) on `loop`. Leave `SIGINT` out when the loop's
    /// `run(cancellingOnInterrupt: true)` takes Ctrl-C. Loop thread.
    public init(_ loop: IOLoop, signals: [Int32] = stopSignals) throws {
        for signal in signals {
            try loop.onSignal(signal) { [self] info in stop(by: signalName(info.signal)) }
        }
    }

    /// Records the first signal and runs the actions waiting for one.
    private func stop(by signal: String) {
        let actions = state.withLock { state in
            if state.signal == nil { state.signal = signal }
            defer { state.actions = [] }
            return state.actions
        }
        for action in actions { action() }
    }

    /// The signal that came (`SIGINT`), or nil while none has.
    public var signal: String? { state.withLock { $0.signal } }

    /// Runs `action` when a stop signal comes, once; at once if one has already come.
    public func onStop(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state in
            if state.signal != nil { return true }
            state.actions.append(action)
            return false
        }
        if runNow { action() }
    }
}

import EventLoop
import Glibc

/// The signals that end an example cleanly: Ctrl-C (`SIGINT`) and `SIGTERM`.
public let stopSignals: [Int32] = [SIGINT, SIGTERM]

/// `SIGINT`, `SIGTERM`, or `signal N` for another.
public func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGINT: "SIGINT"
    case SIGTERM: "SIGTERM"
    default: "signal \(signal)"
    }
}

/// Ctrl-C and `SIGTERM` as a readable descriptor, for the examples that wait
/// in a selector, `select`, `poll` or `epoll` of their own rather than on an
/// `IOLoop` (which has `onSignal`).
///
/// Both signals are blocked on the calling thread (these examples have only
/// one) and read through a signalfd. The example watches `descriptor` beside
/// its sockets, as one more readable descriptor: when it is ready, `take()`
/// names the signal, and the example leaves its loop, closes what it opened,
/// and exits 0. The signal's default action (killing the process mid-write)
/// never runs.
public struct StopSignals: ~Copyable {
    private let signals: SignalFD

    /// The signalfd, to register with the example's selector (read-only use).
    public var descriptor: Descriptor { signals.descriptor }

    /// Blocks `SIGINT` and `SIGTERM` on this thread and opens the signalfd that reads them.
    public init() throws {
        let set = try SignalSet(stopSignals)
        try set.blockOnThisThread()
        signals = try SignalFD(signals: set)
    }

    /// The name of a pending stop signal (`SIGINT`), consuming it; nil when none is pending.
    public func take() throws -> String? {
        guard let info = try signals.read().take() else { return nil }
        return signalName(info.signal)
    }
}

extension IOLoop {
    /// Stops the loop on Ctrl-C or `SIGTERM`: `stopped` gets the signal's
    /// name (`SIGINT`), then the loop stops after the current iteration. Loop
    /// thread, as every `onSignal` handler.
    public func stopOnSignals(_ stopped: @escaping (String) -> Void) throws {
        for signal in stopSignals {
            try onSignal(signal) { [unowned self] info in
                stopped(signalName(info.signal))
                stop()
            }
        }
    }
}

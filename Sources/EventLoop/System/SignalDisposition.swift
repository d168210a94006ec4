import CEventShim
import Glibc

/// What the process does when a signal arrives, as `sigaction(2)` reports it.
///
/// A signal caught by a handler reverts to `.default` in a program started by
/// `exec`; an ignored one stays ignored there.
public enum SignalDisposition: Sendable, Hashable {
    /// `SIG_DFL`: the signal's default action (terminate, dump core, stop, or nothing, per signal).
    case `default`
    /// `SIG_IGN`: deliveries are discarded.
    case ignored
    /// Caught by the package's catcher, for an `IOLoop` that handles it (`IOLoop.onSignal`).
    case caughtByLoop
    /// Caught by a handler someone else installed.
    case caught

    /// The process's current disposition of `signal`. Any thread; changes nothing.
    /// The corresponding C call is `sigaction(2)` with no new action.
    /// - Throws: `SystemError` with `EINVAL` for a number that is not a signal.
    public static func current(of signal: Int32) throws(SystemError) -> SignalDisposition {
        var current = sigaction()
        _ = try Syscall.check(Kernel.sigaction(signal, nil, &current), "sigaction(\(signal), query)")
        switch cevent_sigaction_kind(&current) {
        case cevent_SIGACTION_DEFAULT: return .default
        case cevent_SIGACTION_IGNORE: return .ignored
        case cevent_SIGACTION_CATCHER: return .caughtByLoop
        default: return .caught
        }
    }
}

extension SignalDisposition {
    /// `SIGINT`, Ctrl-C's signal (for `IOLoop.run(cancellingOnInterrupt:_:)`).
    static let interruptSignal: Int32 = SIGINT
}

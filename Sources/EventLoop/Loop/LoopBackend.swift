/// Which readiness backend a loop waits in.
///
/// The loop makes and owns its selector, so no caller can change the
/// selector's registrations behind the loop's back.
public enum LoopBackend: String, Sendable, CaseIterable, CustomStringConvertible {
    /// `epoll(7)`: O(ready) waits; level, edge and one-shot triggering. The default on Linux.
    case epoll
    /// `poll(2)`: O(watched) waits, level-triggered only, any descriptor number.
    case poll
    /// `select(2)`: level-triggered only, descriptors below `FD_SETSIZE` (1024) only.
    case select
    /// `io_uring(7)`: readiness as poll requests on a ring, the loop's changes
    /// and its wait in one `io_uring_enter(2)`; level, edge (multishot) and
    /// one-shot triggering. Opt-in: needs Linux 6.0 or later, and a process
    /// that may use io_uring (container seccomp profiles and the sysctl
    /// `kernel.io_uring_disabled` often forbid it). Check `unavailableReason`.
    case ioUring = "io_uring"

    /// `epoll`, `poll`, `select` or `io_uring`.
    public var description: String { rawValue }

    /// Why this backend cannot run in this process, or nil when it can.
    ///
    /// epoll, poll and select always can. For io_uring the answer comes from
    /// setting up (and closing) one small ring, once per process; the result
    /// is kept. Any thread.
    public var unavailableReason: String? {
        switch self {
        case .epoll, .poll, .select: nil
        case .ioUring: IOUringProbe.reason
        }
    }

    /// The backends this process can use, in `allCases` order (epoll first).
    /// Any thread.
    public static var available: [LoopBackend] { allCases.filter { $0.unavailableReason == nil } }

    /// The fastest backend this process can use, for a loop that asks for none.
    ///
    /// Always epoll: io_uring's poll requests cost what epoll's waits cost for
    /// readiness, and where the process may not use io_uring (a container's
    /// default seccomp profile) choosing it silently would make the same
    /// program behave differently from one machine to the next. io_uring is
    /// chosen by name.
    public static var automatic: LoopBackend { .epoll }
}

/// The io_uring answer of `LoopBackend.unavailableReason`, computed once.
enum IOUringProbe {
    static let reason: String? = {
        do throws(SelectorError) {
            let selector = try IOUringSelector<Void>()
            try? selector.close()
            return nil
        } catch {
            if case .unavailable(_, let reason) = error { return reason }
            return error.description
        }
    }()
}

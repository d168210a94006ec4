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

    /// `epoll`, `poll` or `select`.
    public var description: String { rawValue }
}

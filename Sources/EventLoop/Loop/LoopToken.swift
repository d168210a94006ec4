/// What a handle (`IOWatcher`, `TimerHandle`, `SignalSubscription`) holds to
/// reach its loop without keeping it alive.
///
/// Why not `weak var loop`: forming a weak reference costs an atomic update of
/// the loop's side table for every handle made (measured: a third of the cost
/// of scheduling a timer). A handle retains this token instead, and the loop
/// clears the token's cell when it goes away. The cell lives behind a pointer,
/// so reading it skips Swift's run-time exclusivity checks. Loop thread only.
@usableFromInline final class LoopToken {
    private let cell: UnsafeMutablePointer<Unmanaged<IOLoop>?>

    /// A token for a loop still being initialized; `attach` completes it.
    init() {
        cell = .allocate(capacity: 1)
        cell.initialize(to: nil)
    }

    func attach(_ loop: IOLoop) { cell.pointee = .passUnretained(loop) }

    deinit { cell.deallocate() }

    /// The loop, or nil once it has been deinitialized.
    @inline(__always)
    var loop: IOLoop? { cell.pointee?.takeUnretainedValue() }

    /// Called by the loop's deinit.
    func invalidate() { cell.pointee = nil }
}

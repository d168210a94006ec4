/// Runs `operation` right where its caller runs, with `onCancel` as the
/// task's cancellation handler meanwhile: what Swift's
/// `withTaskCancellationHandler` does, without leaving the caller's
/// isolation.
///
/// In Swift 6.3, the operation of `withTaskCancellationHandler` called from
/// `nonisolated(nonsending)` code runs on the task's generic executor (its
/// preferred executor, or Swift's pool), not on the caller's actor
/// (`Benchmarks/repro/cancellation-handler-isolation`; swiftlang/swift#85518
/// makes it `nonisolated(nonsending)` in later toolchains). For the streams'
/// waits that is a switch per wait on the loop thread, and for an actor on
/// the loop's serial face, a wait registered from another thread. This
/// function makes the same two runtime calls the standard library's own
/// makes (`swift_task_addCancellationHandler` before `operation`,
/// `swift_task_removeCancellationHandler` after it, whatever it throws,
/// through CEventShim's `task_cancel.c`), with an operation that is
/// `nonisolated(nonsending)`: the operation starts where the caller runs,
/// with no switch (after a suspension inside it, the task resumes as any
/// continuation does, and its caller's code hops back to its isolation).
///
/// `onCancel` runs at once when the task is already cancelled, otherwise
/// on the thread that cancels it, at most once; it must not wait for
/// `operation`. The runtime keeps `onCancel` (its function and context)
/// until the record is removed, so this function is never inlined: a
/// non-escaping argument's context lives until its callee returns, and that
/// callee must be this whole function, not just the call adding the record.
/// Not generic (the streams' waits return nothing): a generic that cannot
/// be inlined would move its result through value witnesses.
@inline(never)
nonisolated(nonsending) func withCancellationHandlerInPlace(
    operation: nonisolated(nonsending) () async throws -> Void,
    onCancel: @Sendable () -> Void
) async throws {
    let record = taskAddCancellationHandler(onCancel)
    defer { taskRemoveCancellationHandler(record) }
    try await operation()
}

/// `swift_task_addCancellationHandler`, the runtime entry the standard
/// library's `withTaskCancellationHandler` calls (declared there the same
/// way), through CEventShim: adds a cancellation record holding `handler` to
/// the current task and returns it; runs `handler` at once if the task is
/// cancelled already, and then returns nil (no record).
@_silgen_name("cevent_task_add_cancellation_handler")
private func taskAddCancellationHandler(_ handler: () -> Void) -> UnsafeRawPointer?

/// `swift_task_removeCancellationHandler`, through CEventShim: removes the
/// record `taskAddCancellationHandler` returned, from the task that added it
/// (records nest: the innermost goes first); nil does nothing.
@_silgen_name("cevent_task_remove_cancellation_handler")
private func taskRemoveCancellationHandler(_ record: UnsafeRawPointer?)

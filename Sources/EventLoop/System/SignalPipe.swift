import CEventShim

/// The pipe that carries a loop's caught signals from the catcher (any
/// thread) to the loop: a `~Copyable` owner of both ends, each closed exactly
/// once, by `close()` or when the owner goes away.
///
/// Both ends are non-blocking and close-on-exec: the catcher must never block
/// in a signal handler (a full pipe drops the record: deliveries coalesce), and
/// the loop drains the read end until it would block. Loop thread, except that
/// the catcher writes to the write end while it is routed (`SignalCatcher`).
struct SignalPipe: ~Copyable {
    private let reader: OwnedDescriptor
    private let writer: OwnedDescriptor

    /// A new pipe. The corresponding C call is `pipe2(2)` with `O_NONBLOCK | O_CLOEXEC`.
    init() throws(SystemError) {
        let pair = try DescriptorPair.pipe(nonBlocking: true)
        reader = pair.first
        writer = pair.second
    }

    /// The read end, borrowed: the loop watches and reads it.
    var readEnd: Descriptor { reader.descriptor }
    /// The write end, borrowed: routed to the catcher.
    var writeEnd: Descriptor { writer.descriptor }

    /// Reads one record from a signal pipe's read end; `nil` when it is empty
    /// (an internal type: the loop's reader stops at the first nil).
    /// `EINTR` is retried. The corresponding C call is `read(2)` of 24 bytes.
    static func read(_ reader: Descriptor) throws(SystemError) -> SignalRecord? {
        var record = cevent_signal_record()
        let fd = reader.rawValue
        let outcome = try Syscall.nonBlocking("signal pipe read(fd \(fd))") { Kernel.signalPipeRead(fd, &record) }
        if outcome.wouldBlock { return nil }
        return SignalRecord(
            info: SignalInfo(signal: record.signo, senderPID: record.pid, senderUID: record.uid, code: record.code),
            tag: record.tag)
    }

    /// Closes both ends: the write end first, then the read end, each once and
    /// never retried, even when the first fails. Unroute the write end first.
    /// The corresponding C call is `close(2)`.
    consuming func close() throws(SystemError) {
        var failure: SystemError?
        do { try writer.close() } catch { failure = error }
        do { try reader.close() } catch { failure = failure ?? error }
        if let failure { throw failure }
    }
}

/// One caught delivery read from a `SignalPipe`.
struct SignalRecord {
    /// The signal and its sender.
    let info: SignalInfo
    /// The tag of the route that wrote it: a record from an older route is stale.
    let tag: UInt32
}

/// The write buffer's flush by completion, on an io_uring loop: the buffered
/// bytes go out as `IORING_OP_SEND`s the loop submits with its next wait,
/// not as `write(2)`s (see `IOUringSelector+Sending`).
///
/// The flush holds the writers' turn as it does with `write(2)`: one send in
/// flight at a time, from the write buffer's `outgoing` array, which stays
/// as it is until the completion (the selector keeps a reference, so even
/// a close or an error that drops the buffered bytes meanwhile frees nothing
/// the kernel reads). Each completion counts its bytes as flushed (waking
/// `drain()` and the writes queued behind the buffer) and the flush goes on;
/// an error ends the stream as a failed `write(2)` would (`ENOBUFS` and
/// `ENOMEM` too, as the `write(2)` flush does); a send that sent nothing
/// (cancelled from elsewhere, interrupted) goes again, up to `resendLimit`
/// times in a row. The kernel waits for room in the socket itself, so
/// the loop's readiness reports and the socket's budget play no part.
///
/// `write(_:)` keeps its `write(2)`: it returns once the kernel has taken its
/// bytes, which a send by completion could say only after the loop's next
/// wait (a suspension and a task switch per write, dearer than the call).
/// `bufferWrite(_:)`, which returns before the kernel has taken them, is the
/// way to send without a system call.
extension StreamConnection {
    /// Whether the flush sends by completion on this connection's loop
    /// (decided on first use; see `SocketCore.sendsByCompletion`).
    var flushSendsByCompletion: Bool {
        switch core.sendPath {
        case .completion: true
        case .systemCall: false
        case .undecided: core.sendsByCompletion { [weak self] result in self?.sentByCompletion(result) }
        }
    }

    /// Holding the writers' turn: hands `outgoing[sent...]` to the ring,
    /// unless a send is already in flight; `sentByCompletion` goes on.
    func sendBuffered() {
        let buffer = writeBuffer
        if buffer.sendInFlight { return }
        do {
            try core.sendByCompletion(buffer.outgoing, from: buffer.sent, operation: "flush(\(peerAddress))")
        } catch let error as StreamError {
            return flushFailed(error)
        } catch {
            return flushFailed(StreamError(.closed, operation: "flush(\(peerAddress)): \(error)"))
        }
        buffer.sendInFlight = true
    }

    /// A send's completion: `result` bytes went out, or `-errno`.
    func sentByCompletion(_ result: Int32) {
        let buffer = writeBuffer
        buffer.sendInFlight = false
        let turn = buffer.flushTurn
        // Ended meanwhile (closed, or an error dropped the bytes): nothing to go on with.
        guard turn != 0, writer == turn, core.isOpen, failure == nil else { return }
        if result > 0 {
            buffer.sendsResent = 0
            flushProgressed(writable: buffer.didFlush(Int(result)))
        } else {
            // Nothing sent: the same bytes go again, a bounded number of times in a row.
            let resend = result == 0 || IOUringSelector<Void>.resentResults.contains(result)
            buffer.sendsResent += 1
            if !resend || buffer.sendsResent > Self.resendLimit {
                let errno = result < 0 ? ErrnoCode(rawValue: -result) : ErrnoCode.inputOutput
                let operation = "send(\(peerAddress), \(buffer.outgoing.count - buffer.sent) bytes) by io_uring"
                return flushFailed(StreamError(SystemError(errno, operation: operation)))
            }
        }
        // A waiter resumed above may have closed the stream or queued a write: the flush checks.
        if writer == turn, buffer.flushTurn == turn { flush(turn) }
    }

    /// How many sends in a row may send nothing (and go again) before the
    /// stream ends with the last one's error (`EIO` for a count of 0): a
    /// request someone keeps cancelling cannot keep the loop busy for good.
    static var resendLimit: Int { 16 }
}

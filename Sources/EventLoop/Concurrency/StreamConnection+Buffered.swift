/// Writes that need not wait for the kernel: a per-connection write buffer
/// bounded by water marks (asyncio's `writer.write(data)` then
/// `await writer.drain()`, NIO's writability).
///
/// How it fits with `write(_:)`: the flush is one more writer. It takes the
/// writers' turn when bytes are buffered (at once when the turn is free,
/// otherwise after the writes already called) and keeps it until the buffer
/// is empty; a `write` called while bytes are buffered joins the buffer
/// instead of taking a turn. Every byte of both goes out in call order.
///
/// The flush needs no task: it runs on the loop thread from the loop's
/// readiness reports (`SocketCore.whenReady`), spends the socket's budget
/// per `write(2)` like any write, and holds its turn while it waits, so a
/// reset or close gives the turn back at once. On an io_uring loop it makes
/// no system call: each part goes out as a send on the ring, submitted with
/// the loop's wait (`StreamConnection+Sending`). An error it meets ends the
/// stream (kept in `failure`, even a passing `ENOBUFS`: bytes were lost) and
/// is reported by `drain()` and every later write.
extension StreamConnection {
    // MARK: - Buffered writing

    /// Takes a copy of `bytes` for sending and returns without waiting for
    /// the kernel (asyncio's `writer.write(data)`); follow it with `drain()`
    /// for backpressure.
    ///
    /// - Parameter bytes: the bytes to send, copied before the call returns
    ///   (the sequence is read on the calling thread, never under a lock).
    /// - Ordering: the bytes go out after those of every `bufferWrite` and
    ///   `write(_:)` called before it on this connection, and before those
    ///   called after it (calls from one task are in program order; calls
    ///   racing on several threads, in the order they take the buffer's lock).
    /// - Never waits and never refuses for size: stop when `isWritable` turns
    ///   false, or call `drain()` after each call.
    /// - Keep the connection until `drain(untilEmpty: true)` returns: closing
    ///   it (a `StreamServer` handler's return does), or dropping its last
    ///   reference, drops what is still buffered.
    /// - On an io_uring loop the bytes go out as sends by completion
    ///   (`IORING_OP_SEND`), submitted with the loop's next wait: no
    ///   `write(2)` per call.
    /// - Threads: any thread. On the loop's thread (a task on the loop:
    ///   `loop.run { }`, `Task(executorPreference:)`), the flush starts
    ///   before it returns (unless an earlier write holds the writers' turn:
    ///   then it starts when that write ends): bytes the kernel takes at once
    ///   are written by then. From another thread, the bytes are appended under a lock, and
    ///   one closure per burst, sent through the loop's submission queue,
    ///   starts the flush.
    /// - Throws: `StreamError.closed` after `close()` or `shutdownWriting()`
    ///   (off the loop thread: also once the loop has closed), or the error
    ///   that ended the stream (a reset). An error the flush meets afterwards
    ///   comes from the next `drain()`, `write` or `bufferWrite`. Nothing is
    ///   taken when it throws.
    public func bufferWrite(_ bytes: some Sequence<UInt8>) throws {
        // Bytes in memory already (an array, a slice, a native string's
        // UTF-8) are copied once, straight into the buffer; any other
        // sequence runs here first, never under the buffer's lock.
        if try bytes.withContiguousStorageIfAvailable({ try bufferWriteTaking($0) }) != nil { return }
        try bufferWriteTaking(Array(bytes))
    }

    /// `bufferWrite(_:)` of bytes that need no code of the caller's to read.
    private func bufferWriteTaking(_ bytes: some Collection<UInt8>) throws {
        if executor.queue.mayTouchLoop {
            guard core.isOpen else { throw StreamError(.closed, operation: "bufferWrite(\(peerAddress))") }
            if let failure { throw failure }
            _ = try writeBuffer.append(bytes, kick: false)
            startFlushIfNeeded()
            return
        }
        let (_, sendKick) = try writeBuffer.append(bytes, kick: true)
        if !sendKick && executor.queue.isClosed {
            // The closure that was to start the flush was dropped with the loop's queue.
            let error = StreamError(.closed, operation: "bufferWrite(\(peerAddress)): the loop is closed")
            writeBuffer.refuseIncoming(error, overriding: false)
            throw error
        }
        guard sendKick else { return } // the flush, or a closure that starts it, will find them
        let sent = executor.perform { _ in
            self.writeBuffer.kickArrived()
            self.startFlushIfNeeded()
        }
        if !sent {
            let error = StreamError(.closed, operation: "bufferWrite(\(peerAddress)): the loop is closed")
            writeBuffer.refuseIncoming(error, overriding: false)
            throw error
        }
    }

    /// Takes a copy of the UTF-8 bytes of `text` for sending and returns
    /// without waiting for the kernel (asyncio's `writer.write(data)`), as
    /// `bufferWrite(_:)` does with bytes: the same ordering, any thread.
    /// - Throws: as `bufferWrite(_:)`: `StreamError.closed` after `close()`
    ///   or `shutdownWriting()`, or the error that ended the stream.
    public func bufferWrite(_ text: String) throws {
        try bufferWrite(text.utf8)
    }

    /// Waits until the write buffer is writable (`isWritable`: at most the
    /// low water mark buffered, after it went over the high one; asyncio's
    /// `await writer.drain()`), or, with `untilEmpty`, until the kernel has
    /// taken every byte buffered before the call. Returns at once when there
    /// is nothing to wait for (on the loop's thread, without suspending:
    /// asyncio's `drain()` after each `write` costs nothing below the high
    /// water mark). Several tasks may wait at once. Any task: it waits on
    /// the loop thread (a hop from elsewhere).
    /// - Parameter untilEmpty: wait for every byte buffered before the call
    ///   to reach the kernel, not only for the low water mark.
    /// - Throws: the error that ended the stream (a reset met by the flush
    ///   or by any read or write; the buffered bytes are then dropped),
    ///   `StreamError.closed` after or during `close()`, `LoopError.closed`,
    ///   `CancellationError`: the bytes stay buffered and keep going out.
    public nonisolated(nonsending) func drain(untilEmpty: Bool = false) async throws {
        if executor.queue.isRunningHere, core.isOpen, failure == nil {
            startFlushIfNeeded()
            if core.isOpen, failure == nil, untilEmpty ? !writeBuffer.holdsBytes : writeBuffer.isBelowMarks { return }
        }
        try await drainOnLoop(untilEmpty: untilEmpty)
    }

    /// `drain(untilEmpty:)` on the loop thread, waiting if it must.
    private func drainOnLoop(untilEmpty: Bool) async throws {
        try await executor.onLoop {
            guard self.core.isOpen else { throw StreamError(.closed, operation: "drain(\(self.peerAddress))") }
            if let failure = self.failure { throw failure }
            self.startFlushIfNeeded() // a closure sent from another thread may still be on its way
            try self.checkFlushStillWhole("drain(\(self.peerAddress))")
            let buffer = self.writeBuffer
            let target = buffer.accepted.load(ordering: .relaxed)
            if untilEmpty ? buffer.flushed.load(ordering: .relaxed) >= target : buffer.isBelowMarks { return }
            try await self.executor.suspend { (_, waiter: Waiter<Void>) in
                if untilEmpty {
                    buffer.flushWaiters.append((target, waiter))
                } else {
                    buffer.writableWaiters.append(waiter)
                }
                waiter.arm {
                    buffer.writableWaiters.removeAll { $0 === waiter }
                    buffer.flushWaiters.removeAll { $0.waiter === waiter }
                }
            }
        }
    }

    /// How many bytes `bufferWrite(_:)` (and writes queued behind them) took
    /// that the kernel has not taken yet (asyncio's
    /// `transport.get_write_buffer_size()`); 0 once they are dropped by
    /// `close()` or an error. Any thread: off the loop thread, a moment's view.
    public var bufferedByteCount: Int { writeBuffer.count }

    /// Whether `bufferWrite(_:)` may go on without overfilling: false once
    /// more than the high water mark (bytes) is buffered, true again once at
    /// most the low one is (hysteresis, as NIO's `Channel.isWritable` and
    /// asyncio's `pause_writing` and `resume_writing`), and false for good
    /// once bytes are refused (closed, writing shut down, the stream ended by
    /// an error). Any thread: off the loop thread, a moment's view.
    public var isWritable: Bool { writeBuffer.isWritable }

    /// The write buffer's water marks, in bytes: `isWritable` turns false
    /// above `high` and true again at or below `low` (asyncio's
    /// `transport.get_write_buffer_limits()`, NIO's `WriteBufferWaterMark`).
    /// 16 KiB and 64 KiB by default, asyncio's. Any thread.
    public var writeBufferWaterMarks: (low: Int, high: Int) { writeBuffer.waterMarks }

    /// Sets the write buffer's water marks (see `writeBufferWaterMarks`;
    /// asyncio's `transport.set_write_buffer_limits(high, low)`, NIO's
    /// `ChannelOptions.writeBufferWaterMark`) and applies them to the bytes
    /// buffered now: above `high` the buffer is no longer writable, and at or
    /// below `low` it is again, so a waiting `drain()` returns. Any thread.
    /// - Parameters:
    ///   - low: the mark, in bytes, at or below which the buffer is writable
    ///     again (0 or more).
    ///   - high: the mark, in bytes, above which it is not (`low` or more).
    /// - Throws: `ArgumentError` when `low` is negative or above `high`;
    ///   the marks are then left as they were.
    public func setWriteBufferWaterMarks(low: Int, high: Int) throws {
        let operation = "setWriteBufferWaterMarks(low:high:)"
        try ArgumentError.checkCount(low, "low", in: operation)
        if high < low {
            throw ArgumentError(operation, argument: "high \(high)", requirement: "must be at least low (\(low))")
        }
        guard writeBuffer.setWaterMarks(low: low, high: high) else { return }
        executor.perform { _ in self.flushProgressed(writable: self.writeBuffer.isBelowMarks) }
    }

    // MARK: - The flush (loop thread)

    /// Queues the flush for the writers' turn if bytes are buffered and no
    /// flush is under way; it runs now when the turn is free.
    func startFlushIfNeeded() {
        guard writeBuffer.flushTurn == 0, writeBuffer.holdsBytes else { return }
        let turn = nextTurn
        nextTurn += 1
        writeBuffer.flushTurn = turn
        if writer == 0 {
            writer = turn
            flush(turn)
        } else {
            writerTurns.append((turn, nil))
        }
    }

    /// Holding the writers' turn `turn`: writes the buffered bytes until none
    /// is left (then gives the turn back), the kernel would block (then waits
    /// for room, holding it), the socket's budget is spent (then goes on at
    /// the loop's next iteration), or an error ends the stream.
    func flush(_ turn: UInt64) {
        let buffer = writeBuffer
        while true {
            guard core.isOpen else { return endFlush(failing: StreamError(.closed, operation: "flush(\(peerAddress))")) }
            if let failure { return endFlush(failing: failure) }
            guard buffer.refill() else {
                buffer.flushTurn = 0
                return passWriterTurn(turn)
            }
            if core.hangUp { return flushFailed(StreamError(.connectionReset, operation: "flush(\(peerAddress))")) }
            if flushSendsByCompletion { return sendBuffered() }
            if !core.writeReady { return waitToFlush(turn, yielding: false) }
            if core.spend() { return waitToFlush(turn, yielding: true) }
            let fd = core.descriptor
            let outcome = buffer.outgoing.withUnsafeBytes { raw -> Result<IOOutcome<Int>, SystemError> in
                do throws(SystemError) {
                    return .success(try fd.write(UnsafeRawBufferPointer(rebasing: raw[buffer.sent...])))
                } catch {
                    return .failure(error)
                }
            }
            switch outcome {
            case .success(.completed(let count)):
                // A short write proves nothing: the next attempt says whether the buffer is full.
                flushProgressed(writable: buffer.didFlush(count))
            case .success(.wouldBlock):
                core.wouldBlock(.write)
            case .failure(let error):
                return flushFailed(StreamError(error))
            }
        }
    }

    /// Waits (with no task) for room in the socket, or for the loop's next
    /// iteration (`yielding`), holding `turn`, then flushes on.
    private func waitToFlush(_ turn: UInt64, yielding: Bool) {
        core.whenReady(.write, owner: turn, yielding: yielding) { [weak self] error in
            // Released meanwhile: its close dropped the bytes.
            guard let self else { return }
            if let error {
                // `abandon` has given the turn back already, unless the socket was closed before the wait.
                let ended = error as? StreamError ?? StreamError(.closed, operation: "flush(\(self.peerAddress)): \(error)")
                // Bytes are lost: the stream ends, so no later write goes out after the hole.
                return self.flushFailed(ended)
            }
            // Dropped meanwhile (a read met a reset), and maybe started again: not this flush.
            guard self.writer == turn, self.writeBuffer.flushTurn == turn else { return }
            self.flush(turn)
        }
    }

    /// The flush met `error`: the stream ends with it, even a passing
    /// shortage that `ended(by:)` would not keep, since buffered bytes are lost.
    func flushFailed(_ error: StreamError) {
        if failure == nil { failure = error }
        endFlush(failing: error)
    }

    /// Resumes the waiters whose wait is over: a write queued behind bytes
    /// now taken, `drain(untilEmpty:)`, and `drain()` when the buffer became
    /// `writable` again.
    func flushProgressed(writable: Bool) {
        let buffer = writeBuffer
        if writable, !buffer.writableWaiters.isEmpty {
            let ready = buffer.writableWaiters
            buffer.writableWaiters.removeAll()
            for waiter in ready { waiter.finish(.success(())) }
        }
        guard !buffer.flushWaiters.isEmpty else { return }
        let flushed = buffer.flushed.load(ordering: .relaxed)
        let ready = buffer.flushWaiters.filter { $0.target <= flushed }
        if ready.isEmpty { return }
        buffer.flushWaiters.removeAll { $0.target <= flushed }
        for (_, waiter) in ready { waiter.finish(.success(())) }
    }

    /// The buffered bytes will not go out: they are dropped, later ones are
    /// refused with `error` (a close's replaces an earlier error: `overriding`),
    /// the flush gives back its turn (or its place in line), and every waiter
    /// gets `error`.
    func endFlush(failing error: StreamError, overriding: Bool = false) {
        let buffer = writeBuffer
        buffer.refuse(error, overriding: overriding)
        let turn = buffer.flushTurn
        if turn != 0 {
            buffer.flushTurn = 0
            if writer == turn {
                passWriterTurn(turn)
            } else if let index = writerTurns.firstIndex(where: { $0.id == turn }) {
                writerTurns.remove(at: index)
            }
        }
        let waiting = buffer.writableWaiters + buffer.flushWaiters.map(\.waiter)
        buffer.writableWaiters.removeAll()
        buffer.flushWaiters.removeAll()
        for waiter in waiting { waiter.finish(.failure(error)) }
    }

    /// A flush run just now (it may have failed, and counted its dropped
    /// bytes as gone) did not end the stream.
    /// - Throws: `StreamError.closed`, or the error that ended the stream.
    private func checkFlushStillWhole(_ operation: @autoclosure () -> String) throws {
        guard core.isOpen else { throw StreamError(.closed, operation: operation()) }
        if let failure { throw failure }
    }

    /// `write(_:)` behind buffered bytes: joins them, and waits until the
    /// kernel has taken its last byte. Holds no turn: the flush writes it.
    nonisolated(nonsending) func writeBehindBuffer(_ bytes: ArraySlice<UInt8>) async throws {
        try Task.checkCancellation() // nothing of it taken yet
        let (target, _) = try writeBuffer.append(bytes, kick: false)
        startFlushIfNeeded()
        try checkFlushStillWhole("write(\(peerAddress))")
        try await awaitFlushed(target)
    }

    /// A write the kernel took part of, for a caller that may not wait in
    /// place (an actor whose task does not prefer the loop): the rest joins the write buffer and the flush writes
    /// it in the writers' turn the write holds, on the loop, so the turn is
    /// never held across the caller's hop; the caller then waits until the
    /// kernel has taken the last byte. A cancellation of that wait loses
    /// nothing: the rest is sent whole, as buffered bytes are. Loop thread.
    nonisolated(nonsending) func writeRestThroughFlush(_ rest: ArraySlice<UInt8>, holding turn: UInt64) async throws {
        let target: Int
        do { (target, _) = try writeBuffer.append(rest, kick: false) } catch {
            passWriterTurn(turn)
            throw error
        }
        writeBuffer.flushTurn = turn
        flush(turn)
        try checkFlushStillWhole("write(\(peerAddress))")
        try await awaitFlushed(target)
    }

    /// Waits until the flush has taken the buffered bytes up to `target`
    /// (counted since the connection began), from any executor: the wait is
    /// armed on the loop, where the count is checked again, so a flush that
    /// finished (or failed) in between is not missed.
    func awaitFlushed(_ target: Int) async throws {
        let buffer = writeBuffer
        if buffer.flushed.load(ordering: .relaxed) >= target { return }
        try await executor.suspend { [self] (_, waiter: Waiter<Void>) in
            if buffer.flushed.load(ordering: .relaxed) >= target { return waiter.finish(.success(())) }
            guard core.isOpen else { return waiter.finish(.failure(StreamError(.closed, operation: "write(\(peerAddress))"))) }
            if let failure { return waiter.finish(.failure(failure)) }
            buffer.flushWaiters.append((target, waiter))
            waiter.arm { buffer.flushWaiters.removeAll { $0.waiter === waiter } }
        }
    }
}

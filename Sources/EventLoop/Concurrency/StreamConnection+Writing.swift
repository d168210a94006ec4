/// Writing: each write whole, in call order, returning once the kernel has
/// taken every byte (or, behind buffered bytes, once the flush has).
extension StreamConnection {
    /// Writes all of `bytes`, waiting while the socket's buffer is full.
    /// Concurrent writes go out whole, in call order. Never raises `SIGPIPE`.
    /// An empty write sends nothing (it still fails on a closed connection).
    /// Behind bytes that `bufferWrite(_:)` took and the kernel has not, it
    /// joins them in the write buffer (a copy) and returns once the kernel
    /// has taken it too: the bytes of both go out in call order.
    /// - Throws: `StreamError` (`.connectionReset` once the peer has gone,
    ///   `.closed` after `close()` or `shutdownWriting()`), `CancellationError`:
    ///   the bytes the kernel took before it are sent, the rest are not (the
    ///   stream is then mid-message); a write that joined the write buffer is
    ///   sent whole all the same, and so is one from a caller that may not
    ///   wait in place (an actor in a task that does not prefer the loop)
    ///   that the kernel took part of at once (the flush finishes it on the loop).
    ///
    /// Runs where it is called (`nonisolated(nonsending)`): on the loop
    /// thread, a write the kernel takes whole returns at once, with no
    /// suspension and no executor switch; one that must wait suspends right
    /// there when its caller is a task that prefers the loop (or an actor on
    /// the loop's serial face in such a task), holding its turn, and any
    /// other caller hops to the loop (`writeWaiting`), as `read(into:)` does.
    public nonisolated(nonsending) func write(_ bytes: [UInt8]) async throws {
        try await write(bytes[...])
    }

    /// Writes all of `bytes`, a slice of an array you keep (see `write(_:)`):
    /// for echoing part of a reused buffer without copying it.
    public nonisolated(nonsending) func write(_ bytes: ArraySlice<UInt8>) async throws {
        guard executor.queue.isRunningHere else { return try await writeWaiting(bytes, from: 0, holding: 0) }
        switch try writeWithoutWaiting(bytes) {
        case .done:
            return
        case .partly(let turn, let written):
            // Resumed here after the wait: wait here, no hop.
            if executor.waitsInPlace(#isolation) { return try await writeAll(bytes, from: written, holding: turn) }
            // Elsewhere: the flush finishes it on the loop, so the turn is not held across the hop.
            try await writeRestThroughFlush(bytes[(bytes.startIndex + written)...], holding: turn)
        case .notStarted:
            if executor.waitsInPlace(#isolation) { return try await writeAll(bytes) }
            try await writeWaiting(bytes, from: 0, holding: 0)
        }
    }

    /// `write(_:)` for a caller that may not wait in place (see
    /// `readWaiting`): `bytes[from...]`, in the writer's turn `held` (0:
    /// takes one first).
    private func writeWaiting(_ bytes: ArraySlice<UInt8>, from offset: Int, holding turn: UInt64) async throws {
        try await executor.onLoop { try await self.writeAll(bytes, from: offset, holding: turn) }
    }

    /// Writes the UTF-8 bytes of `text` (see `write(_:)`).
    public nonisolated(nonsending) func write(_ text: String) async throws {
        try await write(Array(text.utf8))
    }

    /// How far `writeWithoutWaiting` got.
    private enum QuickWrite {
        /// Every byte went out.
        case done
        /// The kernel took `written` bytes, then would block (or the budget
        /// ran out): the writer's `turn` is held for the rest.
        case partly(turn: UInt64, written: Int)
        /// Nothing was written: the slow path does it all, checks included.
        case notStarted
    }

    /// `write(_:)` when the kernel takes it at once, called on the loop
    /// thread: no writer ahead (the write buffer's flush is one), nothing
    /// buffered by `bufferWrite(_:)` (such bytes go first: the slow path
    /// joins them), the socket writable, nothing wrong with the stream.
    /// Touches no task state: a write the kernel takes whole costs no
    /// executor switch. Throws what a `write(2)` reports (kept as the
    /// stream's end, as `writeAll` does).
    private func writeWithoutWaiting(_ bytes: ArraySlice<UInt8>) throws -> QuickWrite {
        guard !bytes.isEmpty, core.isOpen, !shutdownRequested, failure == nil, writer == 0, !writeBuffer.holdsBytes,
              !core.hangUp, core.writeReady else {
            return .notStarted
        }
        let turn = nextTurn
        nextTurn += 1
        writer = turn
        var offset = 0
        while core.writeReady, offset < bytes.count {
            if core.spend() {
                core.refund()
                break
            }
            do {
                if let written = try send(bytes, from: offset) { offset += written }
            } catch {
                passWriterTurn(turn)
                throw error
            }
        }
        if offset == bytes.count {
            passWriterTurn(turn)
            return .done
        }
        return .partly(turn: turn, written: offset)
    }

    /// One `write(2)` of `bytes[offset...]` (offset from the slice's start):
    /// the count the kernel took, or nil when it would block (the socket is
    /// then not writable until the loop says so). An error is kept as the
    /// stream's end (`ended(by:)`) and thrown.
    private func send(_ bytes: ArraySlice<UInt8>, from offset: Int) throws -> Int? {
        let fd = core.descriptor
        let outcome: IOOutcome<Int>
        do {
            outcome = try bytes.withUnsafeBytes { raw in try fd.write(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
        } catch let error as SystemError {
            throw ended(by: StreamError(error))
        }
        switch outcome {
        case .completed(let written): return written
        case .wouldBlock:
            core.wouldBlock(.write)
            return nil
        }
    }

    /// Writes `bytes[from...]` in the writer's turn `held` (0: takes one
    /// first, or, behind bytes `bufferWrite(_:)` took, joins them).
    private nonisolated(nonsending) func writeAll(_ bytes: ArraySlice<UInt8>, from start: Int = 0, holding held: UInt64 = 0) async throws {
        // Built only for an error: a string per write would allocate on the hot path.
        let peer = peerAddress
        func operation() -> String { "write(\(peer), \(bytes.count) bytes)" }
        var turn = held
        defer { if turn != 0 { passWriterTurn(turn) } }
        guard core.isOpen else { throw StreamError(.closed, operation: operation()) } // an empty write too
        if shutdownRequested && held == 0 { throw StreamError(.closed, operation: operation() + ": writing was shut down") }
        if let failure { throw failure }
        // A write that has not started goes behind buffered bytes; one that
        // holds its turn (the fast path wrote part of it) finishes first.
        if held == 0, writeBuffer.holdsBytes { return try await writeBehindBuffer(bytes[(bytes.startIndex + start)...]) }
        if turn == 0 {
            turn = try await takeWriterTurn()
            // A shutdown queued ahead of it (and another one cancelled meanwhile) ran first.
            if writingShutDown { throw StreamError(.closed, operation: operation() + ": writing was shut down") }
        }
        var offset = start
        while offset < bytes.count {
            guard core.isOpen else { throw StreamError(.closed, operation: operation()) }
            if let failure { throw failure }
            if core.hangUp { throw StreamError(.connectionReset, operation: operation()) }
            if core.writeReady {
                if core.spend() {
                    try await core.yieldToLoop(.write, owner: turn, operation: operation())
                    continue
                }
                // A short write proves nothing: the next attempt says whether the buffer is full.
                if let written = try send(bytes, from: offset) {
                    offset += written
                    continue
                }
            }
            try await core.wait(for: .write, owner: turn, operation: operation())
        }
    }

    /// Waits for the writers before this one, and returns this writer's turn.
    nonisolated(nonsending) func takeWriterTurn() async throws -> UInt64 {
        let turn = nextTurn
        nextTurn += 1
        guard writer != 0 else {
            writer = turn
            return turn
        }
        try await withCancellationHandlerInPlace {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                if Task.isCancelled { continuation.resume(throwing: CancellationError()); return }
                writerTurns.append((turn, continuation))
            }
        } onCancel: {
            executor.perform { _ in
                guard let index = self.writerTurns.firstIndex(where: { $0.id == turn }) else { return }
                self.writerTurns.remove(at: index).continuation?.resume(throwing: CancellationError())
            }
        }
        return turn
    }

    /// The writer holding `turn` is done (or its wait was abandoned): the
    /// next writer in line gets the turn (the write buffer's flush runs at
    /// once). Does nothing for a turn already passed.
    func passWriterTurn(_ turn: UInt64) {
        guard writer == turn else { return }
        if writerTurns.isEmpty {
            writer = 0
        } else {
            let next = writerTurns.removeFirst()
            writer = next.id
            if let continuation = next.continuation { continuation.resume() } else { flush(next.id) }
        }
    }
}

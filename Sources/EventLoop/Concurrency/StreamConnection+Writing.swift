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
    ///   sent whole all the same.
    public func write(_ bytes: [UInt8]) async throws {
        try await executor.onLoop { try await self.writeAll(bytes[...]) }
    }

    /// Writes all of `bytes`, a slice of an array you keep (see `write(_:)`):
    /// for echoing part of a reused buffer without copying it.
    public func write(_ bytes: ArraySlice<UInt8>) async throws {
        try await executor.onLoop { try await self.writeAll(bytes) }
    }

    /// Writes the UTF-8 bytes of `text` (see `write(_:)`).
    public func write(_ text: String) async throws {
        try await write(Array(text.utf8))
    }

    private func writeAll(_ bytes: ArraySlice<UInt8>) async throws {
        // Built only for an error: a string per write would allocate on the hot path.
        let peer = peerAddress
        func operation() -> String { "write(\(peer), \(bytes.count) bytes)" }
        guard core.isOpen else { throw StreamError(.closed, operation: operation()) } // an empty write too
        if shutdownRequested { throw StreamError(.closed, operation: operation() + ": writing was shut down") }
        if let failure { throw failure }
        if writeBuffer.holdsBytes { return try await writeBehindBuffer(bytes) }
        let turn = try await takeWriterTurn()
        defer { passWriterTurn(turn) }
        var offset = 0
        while offset < bytes.count {
            guard core.isOpen else { throw StreamError(.closed, operation: operation()) }
            if let failure { throw failure }
            if core.hangUp { throw StreamError(.connectionReset, operation: operation()) }
            if core.writeReady {
                if core.spend() {
                    try await core.yieldToLoop(.write, owner: turn, operation: operation())
                    continue
                }
                let fd = core.descriptor
                let outcome: IOOutcome<Int>
                do {
                    outcome = try bytes.withUnsafeBytes { raw in
                        try fd.write(UnsafeRawBufferPointer(rebasing: raw[offset...]))
                    }
                } catch let error as SystemError {
                    throw ended(by: StreamError(error))
                }
                switch outcome {
                case .completed(let n):
                    // A short write proves nothing: the next attempt says whether the buffer is full.
                    offset += n
                    continue
                case .wouldBlock:
                    core.wouldBlock(.write)
                }
            }
            try await core.wait(for: .write, owner: turn, operation: operation())
        }
    }

    /// Waits for the writers before this one, and returns this writer's turn.
    func takeWriterTurn() async throws -> UInt64 {
        let turn = nextTurn
        nextTurn += 1
        guard writer != 0 else {
            writer = turn
            return turn
        }
        try await withTaskCancellationHandler {
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
    /// next writer in line gets the turn. Does nothing for a turn already passed.
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

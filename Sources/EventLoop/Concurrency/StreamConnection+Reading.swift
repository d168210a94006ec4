/// Reads by separator, and the end of stream without reading.
extension StreamConnection {
    /// Reads up to and including `separator` (one or more bytes: an HTTP
    /// head ends at `\r\n\r\n`), at most `limit` bytes with it: asyncio's
    /// `readuntil`. The search goes on where the last one stopped, so each
    /// byte is looked at about once however the bytes arrive, and a separator
    /// split across segments is found.
    /// - Parameters:
    ///   - separator: the bytes that end what is read (not empty).
    ///   - limit: the most bytes returned, the separator included (at least
    ///     `separator.count`).
    /// - Returns: the bytes read, ending with `separator`.
    /// - Throws: `ArgumentError` for an empty separator or a limit below its
    ///   length; `StreamError.limitExceeded` when the first `limit` bytes
    ///   hold no separator (they stay readable: nothing is lost; asyncio's
    ///   `LimitOverrunError`, where `readLine` says `.lineTooLong`);
    ///   `StreamError.endOfStream` when the stream ends first, with a copy of
    ///   the bytes that arrived in `partial` (they also stay readable, for
    ///   the next read; asyncio's `IncompleteReadError`); `CancellationError`
    ///   (the bytes read so far stay buffered); other `StreamError`s
    ///   (`.concurrentRead`, a reset, `.closed`).
    public func readUntil(_ separator: [UInt8], limit: Int = 65_536) async throws -> [UInt8] {
        if separator.isEmpty {
            throw ArgumentError("readUntil(_:limit:)", argument: "an empty separator", requirement: "must hold at least one byte")
        }
        try ArgumentError.checkCount(limit, "limit", in: "readUntil(_:limit:)", minimum: separator.count)
        return try await executor.onLoop {
            let turn = try await self.beginRead("readUntil")
            defer { self.endRead(turn) }
            // Where a separator may still start, counted from `start` (a fill
            // may move the bytes, not this offset): before it, none does.
            var from = 0
            while true {
                let available = self.end - self.start
                if let found = self.offset(of: separator, from: from) {
                    if found + separator.count > limit { break }
                    return self.take(found + separator.count)
                }
                from = max(from, available - separator.count + 1)
                if available >= limit { break }
                if self.atEnd {
                    let partial = Array(self.buffer[self.start..<self.end])
                    throw StreamError(.endOfStream, operation: "readUntil(\(separator.count) bytes)", partial: partial)
                }
                try await self.fill(wanting: 1, turn: turn)
            }
            throw StreamError(.limitExceeded, operation: "readUntil(\(separator.count) bytes, limit: \(limit))")
        }
    }

    /// The offset from `start` of the first whole `separator` in the
    /// buffered bytes that begins at `from` or later, if any.
    private func offset(of separator: [UInt8], from: Int) -> Int? {
        let lastStart = end - separator.count // the last index a whole separator can begin at
        guard start + from <= lastStart else { return nil }
        return buffer.withUnsafeBufferPointer { bytes in
            separator.withUnsafeBufferPointer { wanted in
                let first = wanted[0]
                var index = start + from
                while index <= lastStart {
                    if bytes[index] == first {
                        var matched = 1
                        while matched < wanted.count && bytes[index + matched] == wanted[matched] { matched += 1 }
                        if matched == wanted.count { return index - start }
                    }
                    index += 1
                }
                return nil
            }
        }
    }

    /// Whether the stream is at its end, without reading (asyncio's
    /// `at_eof`): nothing is buffered and the peer has shut down its writing
    /// side with nothing left unread. Consumes nothing and never waits: it
    /// asks the kernel with a peek (`recv(2)` of one byte with `MSG_PEEK |
    /// MSG_DONTWAIT`) when the stream's own buffer is empty and no read has
    /// met the end yet, on every backend. False while bytes are buffered or
    /// wait in the kernel, and while the peer may still send. A read in
    /// progress does not stop it. Runs on the loop thread (a hop from elsewhere).
    /// - Throws: `StreamError.closed` after `close()`; the error that ended
    ///   the stream (a reset), once no byte from before it is left, as a read
    ///   would: a cut-off stream never looks like a clean end.
    public var atEndOfStream: Bool {
        get async throws {
            try await executor.onLoop { try self.peekAtEnd() }
        }
    }

    /// `atEndOfStream` on the loop thread.
    private func peekAtEnd() throws -> Bool {
        guard core.isOpen else { throw StreamError(.closed, operation: "atEndOfStream(\(peerAddress))") }
        if end > start { return false }
        if atEnd { return true }
        let outcome: IOOutcome<Bool>
        do throws(SystemError) { outcome = try core.descriptor.peekAtEnd() } catch {
            // The error is consumed by the peek (a reset): kept for the reads and writes after it.
            throw ended(by: StreamError(error))
        }
        switch outcome {
        case .completed(false):
            return false
        case .completed(true):
            if let failure { throw failure }
            // Nothing can come after the end: later reads return 0 without asking the kernel.
            atEnd = true
            core.sawEnd()
            return true
        case .wouldBlock:
            if let failure { throw failure }
            return false
        }
    }
}

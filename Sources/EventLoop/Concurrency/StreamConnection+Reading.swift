/// Reads by count, by delimiter or separator, to the end, and the end of
/// stream without reading.
extension StreamConnection {
    /// Reads exactly `count` bytes, across as many segments as it takes.
    /// - Throws: `StreamError.endOfStream` when the stream ends first: its
    ///   `partial` holds a copy of the bytes that did arrive and `expected`
    ///   the count (asyncio's `IncompleteReadError`), and those bytes also
    ///   stay readable, for the next read; `CancellationError` (the bytes
    ///   read so far stay buffered for the next read), other `StreamError`s.
    ///
    /// Bytes the stream already buffered are taken where it is called, on
    /// the loop thread, with no suspension and no executor switch
    /// (`nonisolated(nonsending)`); a read that must wait waits there too
    /// when `read(into:)` would (`LoopExecutor.waitsInPlace`), and hops to
    /// the loop otherwise.
    public nonisolated(nonsending) func readExactly(_ count: Int) async throws -> [UInt8] {
        try ArgumentError.checkCount(count, "count", in: "readExactly(_:)")
        if executor.queue.isRunningHere {
            if let bytes = takeBuffered(count) { return bytes }
            if executor.waitsInPlace(#isolation) { return try await readExactlyHere(count) }
        }
        return try await readExactlyOnLoop(count)
    }

    /// `readExactly(_:)` for a caller that may not wait in place (a plain
    /// `async` function: it hops to the loop).
    private func readExactlyOnLoop(_ count: Int) async throws -> [UInt8] {
        try await executor.onLoop { try await self.readExactlyHere(count) }
    }

    /// `readExactly(_:)` on the loop thread, waiting where it is called.
    private nonisolated(nonsending) func readExactlyHere(_ count: Int) async throws -> [UInt8] {
        let turn = try await beginRead("readExactly(\(count))")
        defer { endRead(turn) }
        while end - start < count {
            if atEnd {
                let partial = Array(buffer[start..<end])
                throw StreamError(.endOfStream, operation: "readExactly(\(count))", partial: partial, expected: count)
            }
            try await fill(wanting: count - (end - start), turn: turn)
        }
        return take(count)
    }

    /// Reads up to and including `delimiter` (a newline by default), at most
    /// `limit` bytes with it. At end of stream, returns what is left without
    /// a delimiter, then `[]`.
    /// - Throws: `StreamError.lineTooLong` when `limit` bytes hold no delimiter
    ///   (they stay readable: nothing is lost), `CancellationError` (the bytes
    ///   read so far stay buffered), other `StreamError`s.
    ///
    /// A line the stream already buffered is taken where it is called, on
    /// the loop thread, with no suspension and no executor switch
    /// (`nonisolated(nonsending)`); a read that must wait waits there too
    /// when `read(into:)` would, and hops to the loop otherwise.
    public nonisolated(nonsending) func readLine(delimiter: UInt8 = 0x0A, limit: Int = 65_536) async throws -> [UInt8] {
        try ArgumentError.checkCount(limit, "limit", in: "readLine(delimiter:limit:)", minimum: 1)
        if executor.queue.isRunningHere {
            if let line = takeBufferedLine(delimiter, limit: limit) { return line }
            if executor.waitsInPlace(#isolation) { return try await readLineHere(delimiter: delimiter, limit: limit) }
        }
        return try await readLineOnLoop(delimiter: delimiter, limit: limit)
    }

    /// `readLine(delimiter:limit:)` for a caller that may not wait in place
    /// (see `readExactlyOnLoop`).
    private func readLineOnLoop(delimiter: UInt8, limit: Int) async throws -> [UInt8] {
        try await executor.onLoop { try await self.readLineHere(delimiter: delimiter, limit: limit) }
    }

    /// `readLine(delimiter:limit:)` on the loop thread, waiting where it is called.
    private nonisolated(nonsending) func readLineHere(delimiter: UInt8, limit: Int) async throws -> [UInt8] {
        let turn = try await beginRead("readLine")
        defer { endRead(turn) }
        var scanned = 0 // bytes after `start` already searched (fill may move them)
        while true {
            if let index = buffer[(start + scanned)..<end].firstIndex(of: delimiter) {
                if index - start + 1 > limit { break }
                return take(index - start + 1)
            }
            scanned = end - start
            if end - start >= limit { break }
            if atEnd { return take(end - start) }
            try await fill(wanting: 1, turn: turn)
        }
        throw StreamError(.lineTooLong, operation: "readLine(limit: \(limit))")
    }

    /// Reads until the end of stream and returns everything, at most `limit` bytes.
    /// - Throws: `StreamError.limitExceeded` when more than `limit` bytes arrive
    ///   (they stay readable), `ArgumentError` for a negative limit,
    ///   `CancellationError` (what was read stays buffered), other `StreamError`s.
    public func readToEnd(limit: Int = 1 << 24) async throws -> [UInt8] {
        try ArgumentError.checkCount(limit, "limit", in: "readToEnd(limit:)", minimum: 0)
        return try await executor.onLoop {
            let turn = try await self.beginRead("readToEnd")
            defer { self.endRead(turn) }
            while !self.atEnd {
                if self.end - self.start > limit { throw StreamError(.limitExceeded, operation: "readToEnd(limit: \(limit))") }
                try await self.fill(wanting: 1, turn: turn)
            }
            if self.end - self.start > limit { throw StreamError(.limitExceeded, operation: "readToEnd(limit: \(limit))") }
            return self.take(self.end - self.start)
        }
    }

    /// `count` buffered bytes, taken at once on the loop thread, if they are
    /// all there, no read is in progress and the budget allows (nil otherwise).
    private func takeBuffered(_ count: Int) -> [UInt8]? {
        guard reader == 0, core.isOpen, end - start >= count else { return nil }
        if core.spend() {
            core.refund()
            return nil
        }
        return take(count)
    }

    /// A whole buffered line within `limit`, taken at once on the loop thread
    /// (as `takeBuffered`).
    private func takeBufferedLine(_ delimiter: UInt8, limit: Int) -> [UInt8]? {
        guard reader == 0, core.isOpen, end > start,
              let index = buffer[start..<end].firstIndex(of: delimiter), index - start + 1 <= limit else { return nil }
        if core.spend() {
            core.refund()
            return nil
        }
        return take(index - start + 1)
    }

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
        if receivesByCompletion {
            // The receive takes every byte and the end out of the socket (a
            // peek there could find the end while bytes before it wait in the
            // completion ring): the end is known once its completion came.
            if let failure { throw failure }
            return false
        }
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

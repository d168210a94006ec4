/// A connected stream socket (TCP, or a Unix domain stream): asyncio's
/// reader and writer pair, on an `IOLoop`.
///
/// Every method runs on the loop's thread: called from a task whose executor
/// preference is the loop (`loop.run { }`, `Task(executorPreference:)`), it
/// runs there without a hop; from anywhere else it hops to the loop for the
/// call. Any task may hold it (it is `Sendable`).
///
/// - Reads: one at a time (a second concurrent read throws
///   `StreamError.concurrentRead`). Bytes that arrived before an end of
///   stream or a reset are delivered before it is. Bytes the stream buffered
///   (for `readExactly`, `readLine`) stay for the next read.
/// - Writes: any number of tasks may write at once; each write goes out whole
///   and in call order. A write returns once the kernel has taken every byte:
///   the socket's send buffer is the only buffer, so a writer whose peer does
///   not read suspends (backpressure) instead of buffering without bound.
/// - Cancellation (what each method keeps and loses) is in the README's table.
/// - The connection owns its descriptor and its registration: `close()` (or
///   dropping the last reference) unregisters, then closes.
public final class StreamConnection: @unchecked Sendable {
    /// The loop this connection belongs to.
    public let executor: LoopExecutor
    /// The local address (for Unix sockets, the path or an unnamed endpoint).
    /// Set once, before the connection is handed out.
    public private(set) var localAddress: SocketEndpoint
    /// The peer's address.
    public let peerAddress: SocketEndpoint

    // Loop thread only, below.
    let core: SocketCore
    /// Bytes read from the socket and not yet consumed: `buffer[start..<end]`.
    private var buffer: [UInt8] = []
    private var start = 0
    private var end = 0
    private var readerActive = false
    /// End of stream reached (a read returned 0).
    private var atEnd = false
    /// Writers waiting for their turn, in call order.
    private var writerTurns: [(id: UInt64, continuation: UnsafeContinuation<Void, any Error>)] = []
    private var writerActive = false
    private var nextWriterID: UInt64 = 1
    private var writingShutDown = false

    /// Wraps an open, connected, non-blocking socket. Loop thread.
    init(adopting socket: consuming OwnedDescriptor, loop: IOLoop, local: SocketEndpoint, peer: SocketEndpoint) throws {
        executor = loop.executor
        localAddress = local
        peerAddress = peer
        core = try SocketCore(socket, loop: loop)
    }

    /// Loop thread, before the connection is handed out: the kernel's own address for it.
    func connected(local: SocketEndpoint) { localAddress = local }

    deinit {
        // Released anywhere: the loop closes it on its own thread. A closed
        // loop has already closed it.
        core.closeFromAnyThread("deinit")
    }

    /// The socket's descriptor, borrowed (for socket options of your own).
    public var descriptor: Descriptor { core.descriptor }

    // MARK: - Reading

    /// Reads what is available, at most `buffer.count` bytes, into the start of
    /// `buffer`, waiting until at least one byte (or the end) arrives. Returns
    /// the count; 0 means end of stream. Allocates nothing: keep the buffer.
    /// - Throws: `StreamError` (`.connectionReset`, `.closed`, `.concurrentRead`),
    ///   `CancellationError` (nothing is lost: the bytes stay in the socket),
    ///   `ArgumentError` for an empty buffer.
    public func read(into buffer: inout [UInt8]) async throws -> Int {
        try await executor.onLoop { try await self.readSome(into: &buffer) }
    }

    /// Reads what is available, up to `maxCount` bytes (>= 1; at most 64 KiB
    /// per call, whatever larger count is asked), into a new array; `[]` at
    /// end of stream.
    /// - Throws: as `read(into:)`; `ArgumentError` for `maxCount` below 1.
    public func read(upTo maxCount: Int = 65_536) async throws -> [UInt8] {
        try ArgumentError.checkCount(maxCount, "maxCount", in: "read(upTo:)", minimum: 1)
        let size = min(maxCount, 65_536) // never sized by the caller's number alone: it grows with what arrives
        var bytes = [UInt8](repeating: 0, count: size)
        let count = try await read(into: &bytes)
        bytes.removeLast(size - count)
        return bytes
    }

    /// Reads exactly `count` bytes, across as many segments as it takes.
    /// - Throws: `StreamError.endOfStream` when the stream ends first (the
    ///   bytes that did arrive stay readable), `CancellationError` (the bytes
    ///   read so far stay buffered for the next read), other `StreamError`s.
    public func readExactly(_ count: Int) async throws -> [UInt8] {
        try ArgumentError.checkCount(count, "count", in: "readExactly(_:)")
        return try await executor.onLoop {
            try self.beginRead("readExactly(\(count))")
            defer { self.readerActive = false }
            while self.end - self.start < count {
                if self.atEnd { throw StreamError(.endOfStream, operation: "readExactly(\(count))") }
                try await self.fill(wanting: count - (self.end - self.start))
            }
            return self.take(count)
        }
    }

    /// Reads up to and including `delimiter` (a newline by default), at most
    /// `limit` bytes with it. At end of stream, returns what is left without
    /// a delimiter, then `[]`.
    /// - Throws: `StreamError.lineTooLong` when `limit` bytes hold no delimiter
    ///   (they stay readable: nothing is lost), `CancellationError` (the bytes
    ///   read so far stay buffered), other `StreamError`s.
    public func readLine(delimiter: UInt8 = 0x0A, limit: Int = 65_536) async throws -> [UInt8] {
        try ArgumentError.checkCount(limit, "limit", in: "readLine(delimiter:limit:)", minimum: 1)
        return try await executor.onLoop {
            try self.beginRead("readLine")
            defer { self.readerActive = false }
            var scanned = 0 // bytes after `start` already searched (fill may move them)
            while true {
                if let index = self.buffer[(self.start + scanned)..<self.end].firstIndex(of: delimiter) {
                    if index - self.start + 1 > limit { break }
                    return self.take(index - self.start + 1)
                }
                scanned = self.end - self.start
                if self.end - self.start >= limit { break }
                if self.atEnd { return self.take(self.end - self.start) }
                try await self.fill(wanting: 1)
            }
            throw StreamError(.lineTooLong, operation: "readLine(limit: \(limit))")
        }
    }

    /// Reads until the end of stream and returns everything, at most `limit` bytes.
    /// - Throws: `StreamError.limitExceeded` when more than `limit` bytes arrive
    ///   (they stay readable), `ArgumentError` for a negative limit,
    ///   `CancellationError` (what was read stays buffered), other `StreamError`s.
    public func readToEnd(limit: Int = 1 << 24) async throws -> [UInt8] {
        try ArgumentError.checkCount(limit, "limit", in: "readToEnd(limit:)", minimum: 0)
        return try await executor.onLoop {
            try self.beginRead("readToEnd")
            defer { self.readerActive = false }
            while !self.atEnd {
                if self.end - self.start > limit { throw StreamError(.limitExceeded, operation: "readToEnd(limit: \(limit))") }
                try await self.fill(wanting: 1)
            }
            if self.end - self.start > limit { throw StreamError(.limitExceeded, operation: "readToEnd(limit: \(limit))") }
            return self.take(self.end - self.start)
        }
    }

    private func beginRead(_ operation: String) throws {
        if readerActive { throw StreamError(.concurrentRead, operation: operation) }
        readerActive = true
    }

    /// `read(into:)` on the loop thread.
    private func readSome(into target: inout [UInt8]) async throws -> Int {
        if target.isEmpty {
            throw ArgumentError("read(into:)", argument: "an empty buffer", requirement: "must have room for a byte (0 means end of stream)")
        }
        guard core.isOpen else { throw StreamError(.closed, operation: "read(\(peerAddress))") }
        try beginRead("read")
        defer { readerActive = false }
        if end > start {
            let count = min(end - start, target.count)
            target.replaceSubrange(0..<count, with: buffer[start..<start + count])
            start += count
            return count
        }
        while true {
            if atEnd { return 0 }
            if core.readReady {
                let outcome = try receive(into: &target, at: 0, count: target.count)
                if case .completed(let count) = outcome {
                    if count == 0 { atEnd = true; core.sawEnd() }
                    return count
                }
            }
            try await core.wait(for: .read, operation: "read(\(peerAddress))")
        }
    }

    /// Reads more into the stream's buffer (at least one byte, or the end).
    private func fill(wanting: Int) async throws {
        if start == end { start = 0; end = 0 }
        // Room for the next segments, not for everything asked: a peer that
        // announces a huge length and sends 3 bytes costs 3 bytes.
        let room = min(max(wanting, 16_384), 65_536)
        if buffer.count - end < room {
            if start > 0 {
                buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
                end -= start
                start = 0
            }
            if buffer.count - end < room { buffer += [UInt8](repeating: 0, count: room - (buffer.count - end)) }
        }
        while true {
            if core.readReady {
                let outcome = try receive(into: &buffer, at: end, count: buffer.count - end)
                if case .completed(let count) = outcome {
                    if count == 0 { atEnd = true; core.sawEnd() } else { end += count }
                    return
                }
            }
            try await core.wait(for: .read, operation: "read(\(peerAddress))")
        }
    }

    /// One `read(2)` into `target[offset..<offset+count]`; clears the cached
    /// readiness when it would block or comes back short (the socket is drained).
    private func receive(into target: inout [UInt8], at offset: Int, count: Int) throws -> IOOutcome<Int> {
        guard core.isOpen else { throw StreamError(.closed, operation: "read(\(peerAddress))") }
        let fd = core.descriptor
        let outcome: IOOutcome<Int>
        do {
            outcome = try target.withUnsafeMutableBytes { raw in
                try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[offset..<offset + count]))
            }
        } catch let error as SystemError {
            throw StreamError(error)
        }
        switch outcome {
        case .wouldBlock: core.wouldBlock(.read)
        // A short read drained the socket: a new edge comes with new bytes, so
        // the next read waits without a call. Not so once the peer's end is
        // known (the end of stream is still to read), nor while a FaultScript
        // is active anywhere (a scripted short count drains nothing).
        case .completed(let n) where n < count && n > 0 && !core.readHangUp && !FaultScript.isArmed: core.readReady = false
        case .completed: break
        }
        return outcome
    }

    /// Takes `count` buffered bytes.
    private func take(_ count: Int) -> [UInt8] {
        let bytes = Array(buffer[start..<start + count])
        start += count
        return bytes
    }

    // MARK: - Writing

    /// Writes all of `bytes`, waiting while the socket's buffer is full.
    /// Concurrent writes go out whole, in call order. Never raises `SIGPIPE`.
    /// An empty write sends nothing (it still fails on a closed connection).
    /// - Throws: `StreamError` (`.connectionReset` once the peer has gone,
    ///   `.closed` after `close()` or `shutdownWriting()`), `CancellationError`:
    ///   the bytes the kernel took before it are sent, the rest are not (the
    ///   stream is then mid-message).
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
        if writingShutDown { throw StreamError(.closed, operation: operation() + ": writing was shut down") }
        try await takeWriterTurn()
        defer { passWriterTurn() }
        var offset = 0
        while offset < bytes.count {
            guard core.isOpen else { throw StreamError(.closed, operation: operation()) }
            if core.hangUp { throw StreamError(.connectionReset, operation: operation()) }
            if core.writeReady {
                let fd = core.descriptor
                let outcome: IOOutcome<Int>
                do {
                    outcome = try bytes.withUnsafeBytes { raw in
                        try fd.write(UnsafeRawBufferPointer(rebasing: raw[offset...]))
                    }
                } catch let error as SystemError {
                    throw StreamError(error)
                }
                switch outcome {
                case .completed(let n):
                    // A short write: the next attempt says whether the buffer is full.
                    offset += n
                    continue
                case .wouldBlock:
                    core.wouldBlock(.write)
                }
            }
            try await core.wait(for: .write, operation: operation())
        }
    }

    private func takeWriterTurn() async throws {
        guard writerActive else {
            writerActive = true
            return
        }
        let id = nextWriterID
        nextWriterID += 1
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                if Task.isCancelled { continuation.resume(throwing: CancellationError()); return }
                writerTurns.append((id, continuation))
            }
        } onCancel: {
            executor.perform { _ in
                guard let index = self.writerTurns.firstIndex(where: { $0.id == id }) else { return }
                self.writerTurns.remove(at: index).continuation.resume(throwing: CancellationError())
            }
        }
    }

    private func passWriterTurn() {
        if writerTurns.isEmpty {
            writerActive = false
        } else {
            writerTurns.removeFirst().continuation.resume() // stays active: the turn passes on
        }
    }

    // MARK: - Connection state

    /// Shuts down the writing side (the peer reads end of stream) once the
    /// writes already started have gone out; reading goes on (half-close).
    /// Calling it again does nothing, and so does calling it once the peer
    /// has reset the connection (there is no writing side left to shut: the
    /// kernel's `ENOTCONN` is not an error here, as in tokio). Later writes
    /// throw `StreamError.closed`. The C call is `shutdown(SHUT_WR)`.
    /// - Throws: `StreamError.closed` after `close()`, another `StreamError`
    ///   from the kernel, `CancellationError` while waiting for earlier writes.
    public func shutdownWriting() async throws {
        try await executor.onLoop {
            try await self.takeWriterTurn()
            defer { self.passWriterTurn() }
            guard self.core.isOpen else { throw StreamError(.closed, operation: "shutdown") }
            if self.writingShutDown { return }
            self.writingShutDown = true
            do throws(SystemError) { try self.core.descriptor.shutdown(writing: true) } catch {
                // ENOTCONN: the peer's reset already ended both directions; what
                // was asked for holds, and the next read reports the reset.
                if error.errno == .notConnected { return }
                throw StreamError(error)
            }
        }
    }

    /// Waits until the peer has shut down its writing side or the connection
    /// is gone (read hang-up, hang-up), without reading: a task that only
    /// writes can stop early. On epoll this needs no read; on poll and select
    /// the peer's close shows only once the bytes before it are read.
    /// Several tasks may wait at once; each returns.
    /// - Throws: `StreamError.closed` when this side is (or gets) closed,
    ///   `CancellationError`.
    public func waitUntilPeerCloses() async throws {
        try await executor.onLoop {
            guard self.core.isOpen else { throw StreamError(.closed, operation: "waitUntilPeerCloses(\(self.peerAddress))") }
            if !self.core.readHangUp && !self.atEnd && !self.core.isEdgeTriggered { self.core.checkForEnd() }
            while !self.core.readHangUp && !self.atEnd {
                try await self.core.wait(for: .hangUp, operation: "waitUntilPeerCloses(\(self.peerAddress))")
            }
        }
    }

    /// Sets `TCP_NODELAY` (on by default: small writes go out at once). TCP only.
    /// The corresponding C call is `setsockopt(2)`.
    /// - Throws: `StreamError.closed` after `close()` (the descriptor's number
    ///   may name another file by then: it is never touched), or the kernel's
    ///   error as a `StreamError` (`EOPNOTSUPP` on a Unix socket).
    public func setNoDelay(_ on: Bool) async throws {
        try await executor.onLoop {
            guard self.core.isOpen else { throw StreamError(.closed, operation: "setNoDelay(\(self.peerAddress))") }
            do throws(SystemError) { try self.core.descriptor.setOption(Socket.tcpLevel, Socket.noDelayOption, on ? 1 : 0) } catch {
                throw StreamError(error)
            }
        }
    }

    /// Closes the connection: unregisters, closes the descriptor, and ends any
    /// waiting read or write with `StreamError.closed`. Idempotent.
    public func close() async {
        _ = try? await executor.onLoop { self.core.close(operation: "close(\(self.peerAddress))") }
    }
}

/// A connected stream socket (TCP, or a Unix domain stream): asyncio's
/// reader and writer pair, on an `IOLoop`.
///
/// Every `async` method runs on the loop's thread: called from a task whose
/// executor preference is the loop (`loop.run { }`, `Task(executorPreference:)`),
/// it runs there without a hop; from anywhere else it hops to the loop for
/// the call (`bufferWrite(_:)` and the write buffer's counts and water marks
/// work from any thread without one). Any task may hold it (it is
/// `Sendable`). The hot calls, `read(into:)`, `write`, `readLine` and
/// `readExactly`, are `nonisolated(nonsending)`: on the loop thread, one
/// that needs no wait (bytes already there, a write the kernel takes whole)
/// finishes with no suspension and no executor switch, and one that must
/// wait waits right there (one suspension, one resumption) when its caller
/// is a task that prefers the loop, or an actor on the loop's serial face
/// in such a task; other callers hop to the loop for a wait
/// (`LoopExecutor.waitsInPlace`).
///
/// - Reads: one at a time (a second concurrent read throws
///   `StreamError.concurrentRead`; a read cancelled while it waits frees the
///   turn at once). Bytes that arrived before an end of stream or a reset are
///   delivered before it is. Bytes the stream buffered (for `readExactly`,
///   `readLine`) stay for the next read.
/// - An error that ends the stream (a reset, a timed-out connection) stays:
///   every later read, once the bytes before it are read, and every later
///   write throws it again; a cut-off stream never reads as a clean end.
/// - Fairness: each socket gets `128` operations that complete without
///   waiting per loop iteration (reads, reads from the stream's buffer, each
///   `write(2)` of a long write); the next yields to the loop first, so a
///   peer that keeps the socket full cannot starve timers or other
///   connections on the loop (tokio's cooperative budget).
/// - Writes: any number of tasks may write at once; each write goes out whole
///   and in call order. A write returns once the kernel has taken every byte:
///   the socket's send buffer is the only buffer, so a writer whose peer does
///   not read suspends (backpressure) instead of buffering without bound.
/// - Buffered writes: `bufferWrite(_:)` returns without waiting (a copy goes
///   into the connection's write buffer, which the loop flushes), `drain()`
///   waits while the buffer is over its water marks (asyncio's `write` and
///   `drain`, NIO's writability); the bytes of `write` and `bufferWrite` go
///   out in call order.
/// - Cancellation: what each method keeps and loses is tabled in
///   <doc:ThreadingAndIsolation#Cancellation> (and in the README).
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
    var buffer: [UInt8] = []
    var start = 0
    var end = 0
    /// The turn of the read in progress (0: none). Given back when the read
    /// returns or throws, or at once when its wait ends with an error (see
    /// `abandon`), so a read right after a cancelled one never finds it taken.
    var reader: UInt64 = 0
    /// End of stream reached (a read returned 0, or `atEndOfStream` peeked at
    /// the end, and no error came before it).
    var atEnd = false
    /// The error that ended the stream (a reset, a timed-out connection…):
    /// every later read (once the bytes before it are read) and write
    /// reports it again, so a cut-off stream never looks like a clean end.
    @exclusivity(unchecked) var failure: StreamError?
    /// Writers waiting for their turn, in call order; a nil continuation is
    /// the write buffer's flush (see `StreamConnection+Buffered.swift`).
    /// This and the two after it skip Swift's run-time exclusivity checks
    /// (one thread touches them; callgrind: hundreds of instructions per
    /// buffered write), as `SocketCore`'s waiting lists do.
    @exclusivity(unchecked) var writerTurns: [(id: UInt64, continuation: UnsafeContinuation<Void, any Error>?)] = []
    /// The turn of the writer writing now (0: none).
    @exclusivity(unchecked) var writer: UInt64 = 0
    /// The next turn's number, for readers, writers and the flush.
    @exclusivity(unchecked) var nextTurn: UInt64 = 1
    var writingShutDown = false
    /// `shutdownWriting()` was called (and not cancelled before its turn):
    /// later writes are refused, the earlier ones go out first.
    var shutdownRequested = false
    /// The bytes `bufferWrite(_:)` took that the kernel has not yet.
    let writeBuffer = WriteBuffer()
    /// Bytes arrive by completion (io_uring's receive into provided buffers) into
    /// `buffer`, rather than by a `read(2)` after readiness.
    var receivesByCompletion = false
    /// The receive is paused: `buffer` holds `receiveHighWater` bytes or more.
    var receivePaused = false
    /// Buffered bytes at which the receive pauses (it resumes below half).
    static let receiveHighWater = 65_536

    /// Wraps an open, connected, non-blocking socket. Loop thread.
    /// `receiving`: start receiving by completion at once where the loop
    /// can (false for a socket still connecting: a receive there would take
    /// the connect's error before `SO_ERROR` could; see `beginReceiving`).
    init(adopting socket: consuming OwnedDescriptor, loop: IOLoop, local: SocketEndpoint, peer: SocketEndpoint,
         receiving: Bool = true) throws {
        executor = loop.executor
        localAddress = local
        peerAddress = peer
        core = try SocketCore(socket, loop: loop, receiving: true)
        core.onAbandon = { [weak self] direction, owner in self?.abandon(direction, owner) }
        if receiving { beginReceiving() }
    }

    /// Starts receiving by completion where the loop can (io_uring); reads
    /// use `read(2)` otherwise. Loop thread, once.
    func beginReceiving() {
        receivesByCompletion = core.startReceiving { [weak self] bytes, result, filled in self?.received(bytes, result, filled: filled) }
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
    ///
    /// Runs where it is called (`nonisolated(nonsending)`): on the loop
    /// thread, a read that finds bytes (in the stream's buffer or the
    /// kernel's) returns at once, with no suspension and no executor switch,
    /// and one that must wait suspends once, right there, when its caller is
    /// a task that prefers the loop, or an actor on the loop's serial face in
    /// such a task (`LoopExecutor.waitsInPlace`); any other caller hops to
    /// the loop for the wait (`readWaiting`).
    public nonisolated(nonsending) func read(into buffer: inout [UInt8]) async throws -> Int {
        if executor.queue.isRunningHere {
            if let count = try readWithoutWaiting(into: &buffer) { return count }
            // Resumed here after the wait: wait here, no hop.
            if executor.waitsInPlace(#isolation) { return try await readSome(into: &buffer) }
        }
        return try await readWaiting(into: &buffer)
    }

    /// `read(into:)` for a caller that may not wait in place (an actor, a
    /// task that prefers another executor): a plain
    /// `async` function, so it leaves the caller's executor, and `onLoop`
    /// makes the loop the task's preference for the read and its waits.
    private func readWaiting(into buffer: inout [UInt8]) async throws -> Int {
        try await executor.onLoop { try await self.readSome(into: &buffer) }
    }

    /// Reads what is available, up to `maxCount` bytes (at most 64 KiB per
    /// call, whatever larger count is asked), into a new array; `[]` at end
    /// of stream. A `maxCount` of 0 returns `[]` at once and reads nothing
    /// (asyncio's `read(0)`, as `readExactly(0)`).
    /// - Throws: as `read(into:)`; `ArgumentError` for a negative `maxCount`.
    public func read(upTo maxCount: Int = 65_536) async throws -> [UInt8] {
        try ArgumentError.checkCount(maxCount, "maxCount", in: "read(upTo:)", minimum: 0)
        if maxCount == 0 { return [] }
        let size = min(maxCount, 65_536) // never sized by the caller's number alone: it grows with what arrives
        var bytes = [UInt8](repeating: 0, count: size)
        let count = try await read(into: &bytes)
        bytes.removeLast(size - count)
        return bytes
    }

    /// Takes the reader's turn for a read, after yielding to the loop if this
    /// socket has used its budget of operations in this iteration (see
    /// `SocketCore.spend()`; nothing has been read yet, so a cancellation
    /// there loses nothing).
    /// - Throws: `StreamError.concurrentRead` while another read is in
    ///   progress, `StreamError.closed`, `CancellationError`.
    nonisolated(nonsending) func beginRead(_ operation: @autoclosure () -> String) async throws -> UInt64 {
        if reader != 0 { throw StreamError(.concurrentRead, operation: operation()) }
        let turn = nextTurn
        nextTurn += 1
        reader = turn
        if core.spend() {
            do { try await core.yieldToLoop(.read, owner: turn, operation: operation()) } catch {
                endRead(turn)
                throw error
            }
        }
        return turn
    }

    /// The read numbered `turn` is over: the reader's turn is free (unless
    /// it was already given back, and maybe taken by another read).
    func endRead(_ turn: UInt64) {
        if reader == turn { reader = 0 }
    }

    /// An operation's wait ended with an error (cancelled, timed out,
    /// closed): its turn is free now, before its task runs again.
    private func abandon(_ direction: SocketCore.Direction, _ turn: UInt64) {
        switch direction {
        case .read: endRead(turn)
        case .write: passWriterTurn(turn)
        case .hangUp: break
        }
    }

    /// `read(into:)` when it can finish at once, called on the loop thread:
    /// bytes buffered, the end already met, or a `read(2)` that does not
    /// block. Nil when it would wait, yield (the budget), or report a misuse:
    /// `readSome` then does it all, checks included. Touches no task state:
    /// the path a read that finds bytes takes costs no executor switch.
    private func readWithoutWaiting(into target: inout [UInt8]) throws -> Int? {
        guard !target.isEmpty, core.isOpen, reader == 0 else { return nil }
        if core.spend() {
            core.refund()
            return nil
        }
        if end > start { return copyBuffered(into: &target) }
        if atEnd { return 0 }
        if core.readReady || failure != nil {
            if case .completed(let count) = try receive(into: &target, at: 0, count: target.count) { return count }
        }
        core.refund()
        return nil
    }

    /// Moves as many buffered bytes as fit to the start of `target` (some are
    /// buffered) and returns their count.
    private func copyBuffered(into target: inout [UInt8]) -> Int {
        let count = min(end - start, target.count)
        target.replaceSubrange(0..<count, with: buffer[start..<start + count])
        start += count
        if receivePaused { resumeReceivingIfRoom() }
        return count
    }

    /// `read(into:)` on the loop thread.
    private nonisolated(nonsending) func readSome(into target: inout [UInt8]) async throws -> Int {
        if target.isEmpty {
            throw ArgumentError("read(into:)", argument: "an empty buffer", requirement: "must have room for a byte (0 means end of stream)")
        }
        guard core.isOpen else { throw StreamError(.closed, operation: "read(\(peerAddress))") }
        let turn = try await beginRead("read")
        defer { endRead(turn) }
        if end > start { return copyBuffered(into: &target) }
        while true {
            if atEnd { return 0 }
            // After an error that ended the stream, one more read delivers what
            // the kernel still holds from before it; then the error again.
            if core.readReady || failure != nil {
                if case .completed(let count) = try receive(into: &target, at: 0, count: target.count) { return count }
            }
            try await core.wait(for: .read, owner: turn, operation: "read(\(peerAddress))")
        }
    }

    /// Reads more into the stream's buffer (at least one byte, or the end),
    /// for the read holding `turn`.
    nonisolated(nonsending) func fill(wanting: Int, turn: UInt64) async throws {
        if receivesByCompletion { return try await fillByCompletion(turn: turn) }
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
            if core.readReady || failure != nil {
                if core.spend() {
                    try await core.yieldToLoop(.read, owner: turn, operation: "read(\(peerAddress))")
                    continue
                }
                if case .completed(let count) = try receive(into: &buffer, at: end, count: buffer.count - end) {
                    end += count
                    return
                }
            }
            try await core.wait(for: .read, owner: turn, operation: "read(\(peerAddress))")
        }
    }

    /// One `read(2)` into `target[offset..<offset+count]`. Clears the cached
    /// readiness only when it would block: a short read proves nothing (TCP's
    /// urgent mark cuts a read short with bytes still queued behind it). A
    /// zero count is the end of stream, or, after an error that ended the
    /// stream, that error again; so is a would-block then. An error is kept
    /// (see `failure`).
    private func receive(into target: inout [UInt8], at offset: Int, count: Int) throws -> IOOutcome<Int> {
        guard core.isOpen else { throw StreamError(.closed, operation: "read(\(peerAddress))") }
        if receivesByCompletion { return try receiveByCompletion(into: &target, at: offset, count: count) }
        let fd = core.descriptor
        let outcome: IOOutcome<Int>
        do {
            outcome = try target.withUnsafeMutableBytes { raw in
                try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[offset..<offset + count]))
            }
        } catch let error as SystemError {
            throw ended(by: StreamError(error))
        }
        switch outcome {
        case .wouldBlock:
            if let failure { throw failure }
            core.wouldBlock(.read)
        case .completed(0):
            if let failure { throw failure }
            atEnd = true
            core.sawEnd()
        case .completed:
            break
        }
        return outcome
    }

    /// Keeps `error` as the stream's end (see `failure`), unless it is a
    /// passing shortage (`ENOBUFS`, `ENOMEM`) that the next call may not meet,
    /// and returns it.
    func ended(by error: StreamError) -> StreamError {
        if error.errno != .noMemory && error.errno != .noBufferSpace {
            if failure == nil { failure = error }
            endFlush(failing: error)
        }
        return error
    }

    /// Takes `count` buffered bytes.
    func take(_ count: Int) -> [UInt8] {
        let bytes = Array(buffer[start..<start + count])
        start += count
        if receivePaused { resumeReceivingIfRoom() }
        return bytes
    }

    // MARK: - Connection state

    /// Shuts down the writing side (the peer reads end of stream) once the
    /// writes already started and the bytes `bufferWrite(_:)` took have gone
    /// out; reading goes on (half-close). Calling it again does nothing, and
    /// so does calling it once the peer has reset the connection (there is no
    /// writing side left to shut: the kernel's `ENOTCONN` is not an error
    /// here, as in tokio). Writes and `bufferWrite` calls made after it
    /// throw `StreamError.closed`. The C call is `shutdown(SHUT_WR)`.
    /// - Throws: `StreamError.closed` after `close()`, the error that ended
    ///   the stream if the buffered bytes could not go out, another
    ///   `StreamError` from the kernel, `CancellationError` while waiting for
    ///   earlier writes (writes are then taken again).
    public func shutdownWriting() async throws {
        try await executor.onLoop {
            self.shutdownRequested = true
            self.writeBuffer.setShutDown(StreamError(.closed, operation: "bufferWrite(\(self.peerAddress)): writing was shut down"))
            let hadBufferedBytes = self.writeBuffer.holdsBytes
            self.startFlushIfNeeded() // queued before this turn: the buffered bytes go out first
            let turn: UInt64
            do { turn = try await self.takeWriterTurn() } catch {
                if !self.writingShutDown {
                    self.shutdownRequested = false
                    self.writeBuffer.setShutDown(nil)
                }
                throw error
            }
            defer { self.passWriterTurn(turn) }
            guard self.core.isOpen else { throw StreamError(.closed, operation: "shutdown") }
            if self.writingShutDown { return }
            if hadBufferedBytes, let failure = self.failure { throw failure } // they could not go out
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
            if self.receivePaused { // the end comes after what the peer sent: receive it
                self.receivePaused = false
                self.core.setReceiving(paused: false)
            }
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
    /// waiting read, write or `drain()` with `StreamError.closed`. Bytes that
    /// `bufferWrite(_:)` took and the kernel has not are dropped (as NIO's
    /// close fails pending writes; asyncio's `close()` flushes them first):
    /// `drain(untilEmpty: true)` or `shutdownWriting()` before it sends them.
    /// Idempotent.
    public func close() async {
        _ = try? await executor.onLoop {
            let operation = "close(\(self.peerAddress))"
            self.core.close(operation: operation)
            self.endFlush(failing: StreamError(.closed, operation: operation), overriding: true)
        }
    }
}

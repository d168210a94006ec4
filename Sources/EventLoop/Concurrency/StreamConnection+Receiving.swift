/// The read path on a loop that receives by completion (io_uring): the
/// kernel's receive fills the stream's own buffer as bytes arrive,
/// and reads take them from there, with no system call. A completion that
/// fills its whole provided buffer (a bulk transfer) takes the rest waiting
/// in the socket with one `read(2)`, up to the high water mark.
///
/// Every guarantee of the read path holds: bytes arrive in order, and the
/// end or an error arrives after the bytes that came before it (the
/// completions come in that order, and reads take buffered bytes first); a
/// cancelled read loses nothing (the bytes stay buffered); the buffer is
/// bounded (`receiveHighWater`: the receive pauses there, so the peer's
/// writes meet backpressure again, and resumes below half, or when a reader
/// asks for more than is buffered: `readExactly`, `readToEnd`…).
extension StreamConnection {
    /// One completion of the socket's receive, on the loop thread: bytes
    /// (`result` > 0), the end (0) or an error (-errno).
    /// `filled`: the receive filled its whole buffer, so more is likely
    /// waiting: it is taken now with `read(2)` (see `topUp`).
    func received(_ bytes: UnsafeRawBufferPointer, _ result: Int32, filled: Bool) {
        if result > 0 {
            append(bytes)
            if filled && end - start < Self.receiveHighWater { topUp() }
            // Not while a task waits for the peer's end: it comes after the bytes.
            if !receivePaused && end - start >= Self.receiveHighWater && !core.hasHangUpWaiters {
                receivePaused = true
                core.setReceiving(paused: true)
            }
            core.deliveredRead(end: false)
        } else if result == 0 {
            atEnd = true
            core.deliveredRead(end: true)
        } else {
            let errno = ErrnoCode(rawValue: -result)
            _ = ended(by: StreamError(SystemError(errno, operation: "recv(\(core.descriptor))")))
            core.deliveredRead(end: true) // nothing comes after it: the peer is gone for `waitUntilPeerCloses`
        }
    }

    /// Appends received bytes to the buffer.
    private func append(_ bytes: UnsafeRawBufferPointer) {
        makeRoom(bytes.count)
        buffer.withUnsafeMutableBytes { raw in
            UnsafeMutableRawBufferPointer(rebasing: raw[end..<end + bytes.count]).copyMemory(from: bytes)
        }
        end += bytes.count
    }

    /// At least `count` free bytes after `end`, moving the unread ones to the
    /// buffer's start first when that makes room.
    private func makeRoom(_ count: Int) {
        if start == end { start = 0; end = 0 }
        guard buffer.count - end < count else { return }
        if start > 0 {
            buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
            end -= start
            start = 0
        }
        if buffer.count - end < count {
            // A zeroed array, appended whole (one memcpy): `repeatElement`
            // goes through the generic iterator, element by element, where
            // the append is not specialized (debug builds: 16 KiB took
            // milliseconds; under ThreadSanitizer a loop serving a hundred
            // new connections stood still for seconds).
            buffer += [UInt8](repeating: 0, count: max(count - (buffer.count - end), 16_384))
        }
    }

    /// A receive filled its whole provided buffer: a bulk transfer, with more
    /// waiting in the socket. One `read(2)` takes what is there, up to the
    /// high water mark, so a transfer moves at the socket's pace rather than
    /// one provided buffer per loop iteration. Safe: the receive that
    /// completed is not queued again until the next wait, so no receive is in
    /// the kernel now. Its end and its errors are kept as a read's would be.
    private func topUp() {
        let room = Self.receiveHighWater - (end - start)
        makeRoom(room)
        let fd = core.descriptor
        let outcome: IOOutcome<Int>
        do {
            outcome = try buffer.withUnsafeMutableBytes { raw in
                try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[end..<end + room]))
            }
        } catch let error as SystemError {
            _ = ended(by: StreamError(error))
            return
        } catch {
            return
        }
        switch outcome {
        case .completed(0):
            atEnd = true
            core.sawEnd()
        case .completed(let count):
            end += count
        case .wouldBlock:
            break
        }
    }

    /// Resumes a paused receive once the reader has taken the buffer below half its high water mark.
    func resumeReceivingIfRoom() {
        guard receivePaused, end - start < Self.receiveHighWater / 2 else { return }
        receivePaused = false
        core.setReceiving(paused: false)
    }

    /// `receive(into:at:count:)` by completion: the buffered bytes (callers
    /// take those first, so usually none), else the end or the error that
    /// ended the stream, else "would block" until the next completion.
    func receiveByCompletion(into target: inout [UInt8], at offset: Int, count: Int) throws -> IOOutcome<Int> {
        if end > start {
            let taken = min(end - start, count)
            target.replaceSubrange(offset..<offset + taken, with: buffer[start..<start + taken])
            start += taken
            if receivePaused { resumeReceivingIfRoom() }
            return .completed(taken)
        }
        if let failure { throw failure }
        if atEnd { return .completed(0) }
        core.wouldBlock(.read)
        return .wouldBlock
    }

    /// `fill(wanting:turn:)` by completion: waits until the receive has put
    /// more bytes in the buffer, or the end or an error came.
    /// A reader asking for more takes the buffer past its high water mark
    /// (the readiness path's `fill` reads more whatever is buffered, too):
    /// a paused receive resumes.
    nonisolated(nonsending) func fillByCompletion(turn: UInt64) async throws {
        let had = end - start
        while true {
            if end - start > had || atEnd { return }
            if let failure { throw failure }
            if receivePaused {
                receivePaused = false
                core.setReceiving(paused: false)
            }
            core.wouldBlock(.read)
            try await core.wait(for: .read, owner: turn, operation: "read(\(peerAddress))")
        }
    }
}

/// Receives into provided buffers: the io_uring backend reading a socket
/// for its owner, with no system call per read.
///
/// A registered socket can ask for its bytes to arrive by completion
/// (`startReceiving`): an `IORING_OP_RECV` stays in the kernel (which polls
/// the socket itself) and completes when bytes arrive, into a buffer the
/// kernel takes from the loop's ring of provided buffers. The owner's
/// `deliver` copies the bytes out during the wait's dispatch; the buffer goes
/// back to the kernel as soon as it returns, and the receive is queued again
/// for the next wait (the queueing is a submission, not a system call). End
/// of stream is a completion of 0, an error one of `-errno`; both are
/// delivered once.
///
/// Why single-shot, not `IORING_RECV_MULTISHOT`: a multishot receive goes on
/// taking bytes from the socket as they arrive, between two waits, into as
/// many provided buffers as the ring has (megabytes for one connection whose
/// reader is slow); a single-shot one takes at most one buffer per wait, so
/// the socket's own buffer stays the backpressure a peer's writes meet.
///
/// Flow: `pauseReceiving` stops the queueing (and ends a receive in the
/// kernel, synchronously; completions already posted are still delivered,
/// so no byte is lost); bytes wait in the socket until `resumeReceiving`.
/// A receive the kernel ends because no buffer was free (`ENOBUFS`) is
/// queued again before the next wait: the bytes wait in the socket meanwhile.
extension IOUringSelector {
    /// One socket's receive.
    struct Receiver {
        /// The registration it belongs to.
        let generation: UInt32
        /// Moved on by each cancel, so the cancelled receive's last
        /// completions are told from a new one's.
        var epoch: UInt8 = 0
        /// A receive is in the kernel.
        var armed = false
        /// The owner asked for no more bytes for now.
        var paused = false
        /// Called on the loop's thread with the bytes of one completion
        /// (result > 0), or an empty buffer and 0 (end of stream) or -errno;
        /// the flag says the bytes filled a whole provided buffer (more is
        /// likely waiting in the socket).
        let deliver: (UnsafeRawBufferPointer, Int32, Bool) -> Void
    }

    /// How many provided buffers a loop's ring has, and their size in bytes
    /// (8 MiB of address space; pages are touched as the kernel fills them).
    static var bufferCount: UInt32 { 2_048 }
    static var bufferSize: UInt32 { 4_096 }

    /// Starts receiving on the registered socket `fd`; its bytes
    /// go to `deliver` (see the extension's notes). Sets up the provided
    /// buffers on first use. Internal: the streams' read path.
    /// - Throws: `SelectorError.notRegistered`, `.closed`, `.system` (the
    ///   kernel refused the buffers: the caller reads with `read(2)` instead).
    func startReceiving(_ fd: Descriptor, _ deliver: @escaping (UnsafeRawBufferPointer, Int32, Bool) -> Void) throws(SelectorError) {
        guard let ring else { throw .closed }
        guard let slot = table[fd.rawValue] else { throw .notRegistered(fd) }
        if !ring.hasBuffers {
            do { try ring.setUpBuffers(count: Self.bufferCount, size: Self.bufferSize) } catch { throw .system(error) }
        }
        let index = Int(fd.rawValue)
        if index >= receivers.count { receivers += Array(repeating: nil, count: index + 1 - receivers.count) }
        receivers[index] = Receiver(generation: slot.generation, deliver: deliver)
        try armReceive(fd.rawValue)
    }

    /// Ends `fd`'s receive until `resumeReceiving` (completions already
    /// posted are still delivered).
    func pauseReceiving(_ fd: Descriptor) throws(SelectorError) {
        guard receivers.indices.contains(Int(fd.rawValue)), receivers[Int(fd.rawValue)] != nil else { return }
        try cancelReceive(fd.rawValue)
        receivers[Int(fd.rawValue)]?.paused = true
    }

    /// Starts `fd`'s receive again after `pauseReceiving`.
    func resumeReceiving(_ fd: Descriptor) throws(SelectorError) {
        let index = Int(fd.rawValue)
        guard receivers.indices.contains(index), let receiver = receivers[index], receiver.paused else { return }
        receivers[index]?.paused = false
        if !receiver.armed { try armReceive(fd.rawValue) }
    }

    /// `unregister`'s part: the receive ends and its owner is forgotten.
    func stopReceiving(_ fd: Int32) throws(SelectorError) {
        guard receivers.indices.contains(Int(fd)), receivers[Int(fd)] != nil else { return }
        let receiver = receivers[Int(fd)]
        defer {
            receivers[Int(fd)] = nil // forgotten even when the cancel is refused
            _ = receiver // its closure released with the table consistent
        }
        try cancelReceive(fd)
    }

    /// Handles one receive completion; true when something was delivered.
    /// The provided buffer it used goes back to the kernel whatever happens.
    func deliverReceived(_ ring: IOUring, _ fd: Int32, _ userData: UInt64, _ result: Int32, _ flags: UInt32) -> Bool {
        let bufferID: UInt16? = flags & IOUringBits.buffer != 0 ? UInt16(truncatingIfNeeded: flags >> 16) : nil
        defer { if let bufferID, !isClosed { ring.recycle(bufferID) } } // a closed selector's buffers are unmapped
        let index = Int(fd)
        guard fd >= 0, index < receivers.count, let receiver = receivers[index],
              Self.generationBits(receiver.generation) == userData >> Self.generationShift else { return false } // its socket is gone
        let current = UInt8(truncatingIfNeeded: userData >> 32) & Self.epochMask == receiver.epoch
        let ended = flags & IOUringBits.more == 0
        if ended && current { receivers[index]?.armed = false }
        if result > 0 {
            guard let bufferID else { return false }
            receiver.deliver(ring.buffer(bufferID, count: Int(result)), result, UInt32(result) >= Self.bufferSize)
            if ended && current && !isClosed { noteReceiveRearm(fd) }
            return true
        }
        guard current else { return false } // the cancelled receive's last word
        // Passing shortages, and a cancel that was not ours (ours change the
        // epoch): the bytes wait in the socket; receive again next round.
        if Self.transientResults.contains(result) {
            noteReceiveRearm(fd)
            return false
        }
        receiver.deliver(UnsafeRawBufferPointer(start: nil, count: 0), result, false)
        return true
    }

    /// Queues the receives noted since the last wait.
    func queueReceiveRearms() throws(SelectorError) {
        try Self.queueNoted(&receiveRearms) { fd, generation throws(SelectorError) in
            if receivers.indices.contains(Int(fd)), let receiver = receivers[Int(fd)], receiver.generation == generation,
               !receiver.armed, !receiver.paused {
                try armReceive(fd)
            }
        }
    }

    /// Receive results that end nothing: no free buffer, no memory, a
    /// signal, "try again", a cancel not made by this selector.
    static var transientResults: [Int32] {
        [ErrnoCode.noBufferSpace, .noMemory, .wouldBlock, .interrupted, .canceled].map { -$0.rawValue }
    }

    private func noteReceiveRearm(_ fd: Int32) {
        guard receivers.indices.contains(Int(fd)), let receiver = receivers[Int(fd)], !receiver.armed, !receiver.paused else { return }
        receiveRearms.append((fd, receiver.generation))
    }

    private func armReceive(_ fd: Int32) throws(SelectorError) {
        guard let ring else { throw .closed }
        guard let receiver = receivers[Int(fd)], !receiver.armed else { return }
        let userData = Self.userData(fd, receiver.generation, receiver.epoch, kind: Self.receiveBit)
        do { try ring.receive(fd, userData: userData, multishot: false) } catch { throw .system(error) }
        receivers[Int(fd)]?.armed = true
    }

    /// The bookkeeping moves on first, so a refused cancel still leaves the
    /// old receive's completions to be told apart.
    private func cancelReceive(_ fd: Int32) throws(SelectorError) {
        guard let ring else { throw .closed }
        guard let receiver = receivers[Int(fd)] else { return }
        receivers[Int(fd)]?.armed = false
        receivers[Int(fd)]?.epoch = (receiver.epoch &+ 1) & Self.epochMask
        if receiver.armed {
            let userData = Self.userData(fd, receiver.generation, receiver.epoch, kind: Self.receiveBit)
            do { try ring.cancel(userData) } catch { throw .system(error) }
        }
    }
}

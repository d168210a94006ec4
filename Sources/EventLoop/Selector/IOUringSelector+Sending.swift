/// Sends by completion: the io_uring backend writing a socket's buffered
/// bytes for its owner, with no system call per write.
///
/// A registered socket can hand the selector bytes to send (`send`): an
/// `IORING_OP_SEND` is queued and reaches the kernel with the next wait,
/// beside every other submission of the loop, so a loop's sends, receives
/// and wait cost one `io_uring_enter(2)` together. On a full socket the
/// kernel waits for room itself. The owner's `deliver` gets the count the
/// kernel sent (possibly short) or `-errno`, on the loop's thread, during
/// the wait's dispatch.
///
/// One send per socket at a time, so bytes go out in the order given. The
/// selector keeps the array the bytes live in until the kernel is done with
/// them (the completion, or the synchronous cancel of `unregister` and
/// `close`): an owner that drops its buffer meanwhile frees nothing the
/// kernel still reads.
extension IOUringSelector {
    /// One socket's sending.
    struct Sender {
        /// The registration it belongs to.
        let generation: UInt32
        /// The array the send in the kernel reads from (nil: none in flight).
        var inFlight: [UInt8]?
        /// Called on the loop's thread with each completion's result: bytes
        /// sent, or -errno.
        let deliver: (Int32) -> Void
    }

    /// Lets the registered socket `fd` send by completion; each send's
    /// result goes to `deliver`. Internal: the streams' buffered writes.
    /// - Throws: `SelectorError.notRegistered`, `.closed`.
    func startSending(_ fd: Descriptor, _ deliver: @escaping (Int32) -> Void) throws(SelectorError) {
        guard ring != nil else { throw .closed }
        guard let slot = table[fd.rawValue] else { throw .notRegistered(fd) }
        let index = Int(fd.rawValue)
        if index >= senders.count { senders += Array(repeating: nil, count: index + 1 - senders.count) }
        senders[index] = Sender(generation: slot.generation, deliver: deliver)
    }

    /// Queues a send of `bytes[offset...]` (at most 4 GiB of it) on `fd`;
    /// the selector keeps `bytes` until the kernel is done with them.
    /// - Throws: `SelectorError.notRegistered` (no `startSending`),
    ///   `.closed`, `.system` (`EINPROGRESS`: a send of `fd` is still in flight;
    ///   or a full submission ring could not be submitted).
    func send(_ fd: Descriptor, _ bytes: [UInt8], from offset: Int) throws(SelectorError) {
        guard let ring else { throw .closed }
        let index = Int(fd.rawValue)
        guard senders.indices.contains(index), let sender = senders[index] else { throw .notRegistered(fd) }
        if sender.inFlight != nil { throw .system(SystemError(ErrnoCode.inProgress, operation: "io_uring send(\(fd)): one is in flight")) }
        let userData = Self.userData(fd.rawValue, sender.generation, 0, kind: Self.sendBit)
        // A native array's storage stays put while it is neither changed nor
        // freed: `inFlight` keeps it alive and shared, so the owner's next
        // change copies it rather than writing where the kernel reads.
        let result: Result<Void, SystemError> = bytes.withUnsafeBytes { raw in
            do throws(SystemError) {
                try ring.send(fd.rawValue, UnsafeRawBufferPointer(rebasing: raw[offset...]), userData: userData)
                return .success(())
            } catch { return .failure(error) }
        }
        if case .failure(let error) = result { throw .system(error) }
        senders[index]?.inFlight = bytes
    }

    /// `unregister`'s part: a send in flight ends (synchronously: the kernel
    /// reads its bytes no more) and its owner is forgotten.
    func stopSending(_ fd: Int32) throws(SelectorError) {
        guard senders.indices.contains(Int(fd)), let sender = senders[Int(fd)] else { return }
        defer {
            senders[Int(fd)] = nil // forgotten even when the cancel is refused
            _ = sender // its closure and bytes released with the table consistent
        }
        guard let bytes = sender.inFlight, let ring else { return }
        do { try ring.cancel(Self.userData(fd, sender.generation, 0, kind: Self.sendBit)) } catch {
            orphanedSends.append(bytes) // the kernel may still read them: kept until the ring closes
            throw .system(error)
        }
    }

    /// Handles one send completion; true when it was delivered.
    func deliverSent(_ fd: Int32, _ userData: UInt64, _ result: Int32) -> Bool {
        let index = Int(fd)
        // Fields, not a copy of the sender: a copy would hold the bytes
        // across `deliver`, and the owner's next change of its buffer would
        // then copy it whole.
        guard fd >= 0, index < senders.count, senders[index]?.inFlight != nil, let generation = senders[index]?.generation,
              let deliver = senders[index]?.deliver,
              Self.generationBits(generation) == userData >> Self.generationShift else { return false } // its socket is gone
        senders[index]?.inFlight = nil // the kernel is done with the bytes: the owner's array is its own again
        deliver(result)
        return true
    }

    /// Send results after which the same bytes go again: the kernel sent
    /// nothing (a cancel that was not `unregister`'s, a signal, "try
    /// again"). Any other error ends the stream, as a failed `write(2)` does.
    static var resentResults: [Int32] { [ErrnoCode.canceled, .interrupted, .wouldBlock].map { -$0.rawValue } }
}

/// Accepts by completion: the io_uring backend taking a listener's new
/// connections for its owner, with no system call per connection.
///
/// A registered listening socket can ask for its connections to arrive by
/// completion (`startAccepting`): one multishot `IORING_OP_ACCEPT` stays in
/// the kernel and completes once per connection, its result the new socket
/// (non-blocking, close-on-exec), which the owner's `deliver` takes during
/// the wait's dispatch. An error is a completion of `-errno`; one that ends
/// the request (no `IORING_CQE_F_MORE`) leaves it unarmed until the owner
/// calls `resumeAccepting` (after the pause `EMFILE` asks for, say).
///
/// Flow: `pauseAccepting` ends the request (synchronously), so connections
/// wait in the kernel's backlog while the owner has enough of them. No
/// descriptor is lost: a completion that carries one for an acceptor that
/// is gone (unregistered, or its selector closed) has it closed here.
extension IOUringSelector {
    /// One listener's accepting.
    struct Acceptor {
        /// The registration it belongs to.
        let generation: UInt32
        /// Moved on by each cancel, so the cancelled request's last
        /// completions are told from a new one's.
        var epoch: UInt8 = 0
        /// The accept is in the kernel.
        var armed = false
        /// The owner asked for no more connections for now.
        var paused = false
        /// Called on the loop's thread with each completion's result: a new
        /// descriptor, which it then owns, or -errno.
        let deliver: (Int32) -> Void
    }

    /// Starts accepting on the registered listening socket `fd`; each
    /// connection goes to `deliver`. Internal: `StreamListener`.
    /// - Throws: `SelectorError.notRegistered`, `.closed`, `.system` (a full
    ///   submission ring could not be submitted).
    func startAccepting(_ fd: Descriptor, _ deliver: @escaping (Int32) -> Void) throws(SelectorError) {
        guard ring != nil else { throw .closed }
        guard let slot = table[fd.rawValue] else { throw .notRegistered(fd) }
        let index = Int(fd.rawValue)
        if index >= acceptors.count { acceptors += Array(repeating: nil, count: index + 1 - acceptors.count) }
        acceptors[index] = Acceptor(generation: slot.generation, deliver: deliver)
        try armAccept(fd.rawValue)
    }

    /// Ends `fd`'s accept until `resumeAccepting` (completions already posted
    /// are still delivered).
    func pauseAccepting(_ fd: Descriptor) throws(SelectorError) {
        guard acceptors.indices.contains(Int(fd.rawValue)), acceptors[Int(fd.rawValue)] != nil else { return }
        acceptors[Int(fd.rawValue)]?.paused = true
        try cancelAccept(fd.rawValue)
    }

    /// Arms `fd`'s accept again if it is not (after `pauseAccepting`, or an
    /// error that ended it).
    func resumeAccepting(_ fd: Descriptor) throws(SelectorError) {
        let index = Int(fd.rawValue)
        guard acceptors.indices.contains(index), acceptors[index] != nil else { return }
        acceptors[index]?.paused = false
        try armAccept(fd.rawValue)
    }

    /// `unregister`'s part: the accept ends and its owner is forgotten.
    func stopAccepting(_ fd: Int32) throws(SelectorError) {
        guard acceptors.indices.contains(Int(fd)), let acceptor = acceptors[Int(fd)] else { return }
        defer {
            acceptors[Int(fd)] = nil // forgotten even when the cancel is refused
            _ = acceptor // its closure released with the table consistent
        }
        try cancelAccept(fd)
    }

    /// Handles one accept completion; true when something was delivered.
    /// `endsRequest`: a scripted error the kernel did not end the request
    /// with: it is ended here, as the kernel ends it after an error.
    func deliverAccepted(_ fd: Int32, _ userData: UInt64, _ result: Int32, _ flags: UInt32, endsRequest: Bool = false) -> Bool {
        let index = Int(fd)
        guard fd >= 0, index < acceptors.count, let acceptor = acceptors[index],
              Self.generationBits(acceptor.generation) == userData >> Self.generationShift else {
            if result >= 0 { _ = Kernel.close(result) } // its listener is gone: nobody else will close it
            return false
        }
        let current = UInt8(truncatingIfNeeded: userData >> 32) & Self.epochMask == acceptor.epoch
        let ended = flags & IOUringBits.more == 0
        if ended && current { acceptors[index]?.armed = false }
        if result >= 0 {
            // A connection is a connection, even from a request cancelled since.
            acceptor.deliver(result)
            if ended && current && !isClosed { acceptRearms.append((fd, acceptor.generation)) }
            return true
        }
        guard current else { return false } // the cancelled request's last word
        if [ErrnoCode.canceled, .interrupted, .wouldBlock].contains(where: { result == -$0.rawValue }) { // not ours: arm it again
            if ended && !isClosed { acceptRearms.append((fd, acceptor.generation)) }
            return false
        }
        acceptor.deliver(result)
        if endsRequest && !isClosed { try? cancelAccept(fd) }
        return true
    }

    /// Queues the accepts the kernel ended with no error.
    func queueAcceptRearms() throws(SelectorError) {
        try Self.queueNoted(&acceptRearms) { fd, generation throws(SelectorError) in
            if acceptors.indices.contains(Int(fd)), let acceptor = acceptors[Int(fd)], acceptor.generation == generation {
                try armAccept(fd)
            }
        }
    }

    private func armAccept(_ fd: Int32) throws(SelectorError) {
        guard let ring else { throw .closed }
        guard let acceptor = acceptors[Int(fd)], !acceptor.armed, !acceptor.paused else { return }
        let userData = Self.userData(fd, acceptor.generation, acceptor.epoch, kind: Self.acceptKind)
        do { try ring.accept(fd, userData: userData) } catch { throw .system(error) }
        acceptors[Int(fd)]?.armed = true
    }

    /// The bookkeeping moves on first, so a refused cancel still leaves the
    /// old request's completions to be told apart.
    private func cancelAccept(_ fd: Int32) throws(SelectorError) {
        guard let ring else { throw .closed }
        guard let acceptor = acceptors[Int(fd)] else { return }
        acceptors[Int(fd)]?.armed = false
        acceptors[Int(fd)]?.epoch = (acceptor.epoch &+ 1) & Self.epochMask
        if acceptor.armed {
            let userData = Self.userData(fd, acceptor.generation, acceptor.epoch, kind: Self.acceptKind)
            do { try ring.cancel(userData) } catch { throw .system(error) }
        }
    }
}

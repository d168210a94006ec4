import CEventShim
import Glibc

/// An owned io_uring instance: the submission and completion rings it shares
/// with the kernel, unmapped and closed exactly once.
///
/// The thin typed layer under `IOUringSelector`. It fills submissions (poll
/// requests, receives into its ring of provided buffers, sends from memory
/// its caller keeps, multishot accepts), publishes them
/// and waits in one `io_uring_enter(2)`, and hands completions over in ring
/// order. The ring memory, the barriers of its heads
/// and the `mmap`s are the C shim's; every system call goes through the seam
/// (`io_uring_setup`, `io_uring_enter`), and so does each completion's result
/// (`SystemCall.ioUringPoll`, `.ioUringReceive`, `.ioUringSend`, `.ioUringAccept`), so a `FaultScript` can fail any of them.
///
/// Needs Linux 6.0 or later: completions are never dropped
/// (`IORING_FEAT_NODROP`), a wait takes a timeout (`IORING_FEAT_EXT_ARG`),
/// and a request can be cancelled synchronously (`IORING_REGISTER_SYNC_CANCEL`).
final class IOUring {
    private let ring: UnsafeMutablePointer<cevent_uring>
    private var isOpen = true
    /// The ring's descriptor.
    let descriptor: Descriptor

    /// The features a ring must have for this package.
    static let requiredFeatures: [(bit: UInt32, name: String)] = [
        (cevent_IORING_FEAT_NODROP, "IORING_FEAT_NODROP"),
        (cevent_IORING_FEAT_EXT_ARG, "IORING_FEAT_EXT_ARG"),
    ]

    /// Sets up a ring with room for `entries` submissions and `completions`
    /// completions (the kernel rounds both up to powers of two).
    /// - Throws: `SystemError` from `io_uring_setup(2)` or its `mmap`s
    ///   (`ENOSYS`: no io_uring in this kernel; `EPERM`: refused by a seccomp
    ///   profile or `kernel.io_uring_disabled`; `ENOMEM`, `EMFILE`…), or
    ///   `EOPNOTSUPP` when the kernel lacks a feature this package needs.
    init(entries: UInt32 = 256, completions: UInt32 = 4096) throws(SystemError) {
        let ring = UnsafeMutablePointer<cevent_uring>.allocate(capacity: 1)
        ring.initialize(to: cevent_uring())
        let fd = Kernel.uringSetup(entries, completions, ring)
        if fd < 0 {
            ring.deallocate()
            throw SystemError(ErrnoCode(rawValue: Int32(truncatingIfNeeded: -fd)), operation: "io_uring_setup(\(entries))")
        }
        let missing = Self.requiredFeatures.first(where: { ring.pointee.features & $0.bit == 0 })?.name
            ?? (Kernel.uringCancel(Int32(truncatingIfNeeded: fd), 0) == -Int(EINVAL) ? "IORING_REGISTER_SYNC_CANCEL" : nil)
        if let missing {
            cevent_uring_unmap(ring)
            ring.deallocate()
            _ = Kernel.close(Int32(truncatingIfNeeded: fd))
            throw SystemError(.operationNotSupported, operation: "io_uring_setup: the kernel lacks \(missing) (Linux 6.0 or later has it)")
        }
        self.ring = ring
        descriptor = Descriptor(Int32(truncatingIfNeeded: fd))
    }

    deinit {
        if isOpen {
            endEveryRequest()
            _ = Kernel.close(descriptor.rawValue)
            cevent_uring_unmap(ring)
        }
        ring.deallocate()
    }

    /// Ends every request still in the kernel, synchronously, so that none
    /// can write into the provided buffers once they are unmapped (closing
    /// the ring only starts an asynchronous cancellation).
    /// Returns false when the kernel refused (the requests may live on).
    @discardableResult
    private func endEveryRequest() -> Bool {
        while true {
            let result = Kernel.uringCancel(descriptor.rawValue, 0, every: true)
            if result != -Int(EINTR) { return result >= 0 || result == -Int(ENOENT) }
        }
    }

    /// Queues a poll request for `fd` (`IORING_OP_POLL_ADD`, multishot when
    /// asked); it reaches the kernel with the next `submit` or `wait`. A full
    /// submission ring is submitted first.
    /// - Throws: `SystemError` from that submission.
    func pollAdd(_ fd: Int32, events: UInt32, multishot: Bool, userData: UInt64) throws(SystemError) {
        if cevent_uring_prep_poll_add(ring, fd, events, multishot ? 1 : 0, userData) == 0 { return }
        try submit()
        _ = cevent_uring_prep_poll_add(ring, fd, events, multishot ? 1 : 0, userData) // room now: the kernel consumed all
    }

    /// Whether the provided buffers are set up (`setUpBuffers`).
    private(set) var hasBuffers = false

    /// Sets up `count` provided buffers of `size` bytes (group 0) that
    /// receives fill. The C call is
    /// `io_uring_register(IORING_REGISTER_PBUF_RING)`.
    /// - Throws: `SystemError` (`EINVAL` before Linux 5.19, `ENOMEM`…).
    func setUpBuffers(count: UInt32, size: UInt32) throws(SystemError) {
        let result = Kernel.uringSetUpBuffers(ring, count, size)
        if result < 0 {
            throw SystemError(ErrnoCode(rawValue: Int32(truncatingIfNeeded: -result)), operation: "io_uring_register(\(descriptor), PBUF_RING \(count) x \(size) bytes)")
        }
        hasBuffers = true
    }

    /// The first `count` bytes of provided buffer `id`, as a completion filled them.
    @inline(__always)
    func buffer(_ id: UInt16, count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: cevent_uring_buffer(ring, id), count: count)
    }

    /// Gives provided buffer `id` back to the kernel.
    @inline(__always)
    func recycle(_ id: UInt16) { cevent_uring_recycle_buffer(ring, id) }

    /// Queues a receive on `fd` into one of the provided buffers
    /// (`IORING_OP_RECV` with `IOSQE_BUFFER_SELECT`; `IORING_RECV_MULTISHOT`
    /// when `multishot`); it reaches the kernel with the next `submit` or `wait`.
    /// - Throws: `SystemError` from submitting a full submission ring first.
    func receive(_ fd: Int32, userData: UInt64, multishot: Bool) throws(SystemError) {
        if cevent_uring_prep_recv(ring, fd, userData, multishot ? 1 : 0) == 0 { return }
        try submit()
        _ = cevent_uring_prep_recv(ring, fd, userData, multishot ? 1 : 0)
    }

    /// Queues a multishot accept on the listening socket `fd`
    /// (`IORING_OP_ACCEPT` with `IORING_ACCEPT_MULTISHOT`, new sockets
    /// non-blocking and close-on-exec); it reaches the kernel with the next
    /// `submit` or `wait`. Each completion's result is a descriptor the
    /// caller owns, or -errno.
    /// - Throws: `SystemError` from submitting a full submission ring first.
    func accept(_ fd: Int32, userData: UInt64) throws(SystemError) {
        if cevent_uring_prep_accept(ring, fd, userData, 1) == 0 { return }
        try submit()
        _ = cevent_uring_prep_accept(ring, fd, userData, 1)
    }

    /// Queues a send of `bytes` on the socket `fd` (`IORING_OP_SEND` with
    /// `MSG_NOSIGNAL`); it reaches the kernel with the next `submit` or
    /// `wait`. The memory must stay as it is until the completion, or a
    /// `cancel` of `userData`, says the kernel is done with it.
    /// - Throws: `SystemError` from submitting a full submission ring first.
    func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, userData: UInt64) throws(SystemError) {
        let count = UInt32(clamping: bytes.count)
        if cevent_uring_prep_send(ring, fd, bytes.baseAddress, count, userData) == 0 { return }
        try submit()
        _ = cevent_uring_prep_send(ring, fd, bytes.baseAddress, count, userData)
    }

    /// Ends every request whose user data is `userData`, submitting what is
    /// queued first: when it returns, the kernel holds none of them (nor
    /// their files); their completions (`-ECANCELED`, or a result they had
    /// reached) may still be in the ring. The C call is
    /// `io_uring_register(IORING_REGISTER_SYNC_CANCEL)`.
    /// - Throws: `SystemError` from the submission or the cancel (not `ENOENT`: none left).
    func cancel(_ userData: UInt64) throws(SystemError) {
        try submit()
        while true {
            let result = Kernel.uringCancel(descriptor.rawValue, userData)
            if result >= 0 || result == -Int(ENOENT) {
                // The cancelled requests are freed (and their files released)
                // by completion work the ring runs when it is next entered:
                // run it now, so a socket closed after this is gone at once.
                _ = Kernel.uringEnter(descriptor.rawValue, 0, 0, 0)
                return
            }
            if result == -Int(EINTR) { continue }
            throw SystemError(ErrnoCode(rawValue: Int32(truncatingIfNeeded: -result)), operation: "io_uring_register(\(descriptor), SYNC_CANCEL)")
        }
    }

    /// Hands every queued submission to the kernel without waiting.
    /// - Throws: `SystemError` from `io_uring_enter(2)` (not `EINTR`, retried).
    func submit() throws(SystemError) {
        while true {
            let pending = cevent_uring_publish(ring)
            if pending == 0 { return }
            let result = Kernel.uringEnter(descriptor.rawValue, pending, 0, -1)
            if result >= 0 || result == -Int(EINTR) { continue }
            throw SystemError(ErrnoCode(rawValue: Int32(truncatingIfNeeded: -result)), operation: "io_uring_enter(\(descriptor), submit \(pending))")
        }
    }

    /// Submits what is queued and waits until a completion is ready or
    /// `timeoutNanoseconds` pass (< 0: no limit; 0: does not wait). Returns
    /// at once when completions are already waiting to be read.
    /// - Returns: false when the timeout passed (`ETIME`), true otherwise (a
    ///   signal, `EINTR`, also returns true: the caller decides whether to wait again).
    /// - Throws: `SystemError` from `io_uring_enter(2)`.
    func wait(timeoutNanoseconds: Int64) throws(SystemError) -> Bool {
        let pending = cevent_uring_publish(ring)
        let wanted: UInt32 = timeoutNanoseconds == 0 || cevent_uring_ready(ring) > 0 ? 0 : 1
        let result = Kernel.uringEnter(descriptor.rawValue, pending, wanted, timeoutNanoseconds)
        if result >= 0 || result == -Int(EINTR) { return true }
        if result == -Int(ETIME) { return false }
        // EBUSY/EAGAIN: completions the ring had no room for; reading them makes room.
        if (result == -Int(EBUSY) || result == -Int(EAGAIN)) && cevent_uring_ready(ring) > 0 { return true }
        throw SystemError(ErrnoCode(rawValue: Int32(truncatingIfNeeded: -result)), operation: "io_uring_enter(\(descriptor), wait)")
    }

    /// How many completions are ready to read.
    var readyCount: UInt32 { cevent_uring_ready(ring) }

    /// Whether the kernel holds completions the ring had no room for.
    var overflowed: Bool { cevent_uring_overflowed(ring) != 0 }

    /// Completion `index` past the head (below `readyCount`): its user data,
    /// result (`>= 0`, or `-errno`) and flags (`IORING_CQE_F_MORE`…).
    @inline(__always)
    func completion(_ index: UInt32) -> (userData: UInt64, result: Int32, flags: UInt32) {
        var userData: UInt64 = 0
        var result: Int32 = 0
        var flags: UInt32 = 0
        cevent_uring_completion(ring, index, &userData, &result, &flags)
        return (userData, result, flags)
    }

    /// Consumes the first `count` ready completions.
    func advance(_ count: UInt32) { if count > 0 { cevent_uring_advance(ring, count) } }

    /// Closes the ring: the kernel cancels every request still in flight.
    /// `leftover` sees each completion still unread once every request has
    /// ended (an accept's new descriptor is there to close).
    /// - Returns: whether every request had ended before the ring closed
    ///   (false: the kernel refused the cancel, and may still read memory
    ///   its sends were given, so their owner must keep it for good).
    /// - Throws: `SystemError` from `close(2)` (the ring is released anyway).
    /// Call once; nothing else after it.
    @discardableResult
    func close(leftover: (_ userData: UInt64, _ result: Int32) -> Void = { _, _ in }) throws(SystemError) -> Bool {
        guard isOpen else { return true }
        isOpen = false
        let ended = endEveryRequest()
        _ = Kernel.uringEnter(descriptor.rawValue, 0, 0, 0) // posts what the kernel held back for want of room
        while case let ready = readyCount, ready > 0 {
            for index in 0..<ready {
                let (userData, result, _) = completion(index)
                leftover(userData, result)
            }
            advance(ready)
            if readyCount == 0 && overflowed { _ = Kernel.uringEnter(descriptor.rawValue, 0, 0, 0) }
        }
        defer { cevent_uring_unmap(ring) }
        try Syscall.closing(Kernel.close(descriptor.rawValue), "close(\(descriptor))")
        return ended
    }
}

/// The io_uring flag bits the selector reads from a completion.
enum IOUringBits {
    /// `IORING_CQE_F_MORE`: the multishot request goes on.
    static let more = cevent_IORING_CQE_F_MORE
    /// `IORING_CQE_F_BUFFER`: the completion used a provided buffer, whose id
    /// is in the upper 16 bits of the flags.
    static let buffer = cevent_IORING_CQE_F_BUFFER
}

import CEventShim
import Glibc

/// An owned `signalfd(2)`: signals read as data instead of run as handlers.
///
/// The signals must be blocked (in every thread that could take them) or the
/// kernel delivers them the usual way; `SignalSet.blockOnThisThread()` does it
/// for the calling thread.
public struct SignalFD: ~Copyable {
    /// The owned descriptor.
    public let owned: OwnedDescriptor
    /// The descriptor number, borrowed.
    public var descriptor: Descriptor { owned.descriptor }

    /// A signalfd for `signals`, close-on-exec.
    /// - Parameters:
    ///   - signals: the signals it reports (block them on every thread, or the
    ///     kernel may deliver them elsewhere instead).
    ///   - nonBlocking: a read with nothing pending reports `.wouldBlock` (`SFD_NONBLOCK`).
    public init(signals: SignalSet, nonBlocking: Bool = true) throws(SystemError) {
        var mask = signals.storage
        let fd = try Syscall.check(Kernel.signalfd(-1, &mask, nonBlocking ? Int32(O_NONBLOCK) : 0), "signalfd")
        owned = OwnedDescriptor(adopting: Descriptor(Int32(truncatingIfNeeded: fd)))
    }

    /// Replaces the set of signals this descriptor reads.
    public func update(signals: SignalSet) throws(SystemError) { try SignalFD.update(descriptor, signals) }

    static func update(_ descriptor: Descriptor, _ signals: SignalSet) throws(SystemError) {
        var mask = signals.storage
        _ = try Syscall.check(Kernel.signalfd(descriptor.rawValue, &mask, 0), "signalfd(\(descriptor), update)")
    }

    /// Reads one pending signal, or `.wouldBlock` when none is pending.
    /// The corresponding C call is `read(2)` of one `signalfd_siginfo`.
    public func read() throws(SystemError) -> IOOutcome<SignalInfo> { try SignalFD.read(descriptor) }

    /// `read` on a borrowed signalfd number: the one place that reads a signalfd.
    static func read(_ descriptor: Descriptor) throws(SystemError) -> IOOutcome<SignalInfo> {
        let fd = descriptor.rawValue
        var info = signalfd_siginfo()
        let outcome = try Syscall.nonBlocking("signalfd read(fd \(fd))") { Kernel.signalfdRead(fd, &info) }
        if outcome.wouldBlock { return .wouldBlock }
        return .completed(SignalInfo(signal: Int32(info.ssi_signo), senderPID: Int32(bitPattern: info.ssi_pid),
                          senderUID: info.ssi_uid, code: info.ssi_code))
    }

    /// Closes it. The corresponding C call is `close(2)`, never retried.
    public consuming func close() throws(SystemError) { try owned.close() }

    /// Gives up ownership without closing; the caller now owns the number.
    public consuming func release() -> Descriptor { owned.release() }
}

/// One signal as the kernel reported it.
public struct SignalInfo: Sendable, Hashable {
    /// The signal number, e.g. `SIGINT`.
    public var signal: Int32
    /// The sending process, where the kernel knows it.
    public var senderPID: Int32
    /// The sending user.
    public var senderUID: UInt32
    /// `si_code`: how it was sent (`SI_USER` for `kill`, …).
    public var code: Int32
}

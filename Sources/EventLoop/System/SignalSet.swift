import CEventShim
import Glibc

/// A set of signal numbers, over C's `sigset_t`.
public struct SignalSet: Sendable, Equatable {
    @usableFromInline var storage = sigset_t()

    /// An empty set. The corresponding C call is `sigemptyset(3)`.
    public init() { _ = cevent_sigset_empty(&storage) }

    /// A set of these signals.
    /// - Throws: `ArgumentError` for a number that is not a signal.
    public init(_ signals: [Int32]) throws(ArgumentError) {
        self.init()
        for signal in signals { try insert(signal) }
    }

    /// Adds `signal`. The corresponding C call is `sigaddset(3)`.
    /// - Throws: `ArgumentError` for a number that is not a signal (outside 1...64).
    public mutating func insert(_ signal: Int32) throws(ArgumentError) {
        guard cevent_sigset_add(&storage, signal) == 0 else {
            throw ArgumentError("sigaddset", argument: "signal \(signal)", requirement: "must be a signal number (1...64)")
        }
    }

    /// Whether `signal` is in the set; `false` for a number that is not a signal.
    public func contains(_ signal: Int32) -> Bool {
        withUnsafePointer(to: storage) { cevent_sigset_contains($0, signal) == 1 }
    }

    /// The signals pending for this thread or the process (`sigpending(2)`).
    public static func pending() throws(SystemError) -> SignalSet {
        var set = SignalSet()
        _ = try Syscall.check(Kernel.sigpending(&set.storage), "sigpending")
        return set
    }

    /// Blocks these signals for the calling thread and returns the previous mask.
    /// The corresponding C call is `pthread_sigmask(SIG_BLOCK)`.
    @discardableResult
    public func blockOnThisThread() throws(SystemError) -> SignalSet { try SignalSet.mask(SIG_BLOCK, self) }

    /// Unblocks these signals for the calling thread and returns the previous mask.
    @discardableResult
    public func unblockOnThisThread() throws(SystemError) -> SignalSet { try SignalSet.mask(SIG_UNBLOCK, self) }

    /// Makes this set the calling thread's whole mask and returns the previous one.
    @discardableResult
    public func setAsThreadMask() throws(SystemError) -> SignalSet { try SignalSet.mask(SIG_SETMASK, self) }

    /// The calling thread's signal mask.
    public static func threadMask() throws(SystemError) -> SignalSet {
        var old = SignalSet()
        _ = try Syscall.check(Kernel.sigmask(SIG_BLOCK, nil, &old.storage), "pthread_sigmask(query)")
        return old
    }

    private static func mask(_ how: Int32, _ set: SignalSet) throws(SystemError) -> SignalSet {
        var old = SignalSet()
        var new = set.storage
        _ = try Syscall.check(Kernel.sigmask(how, &new, &old.storage), "pthread_sigmask(\(how))")
        return old
    }

    /// Equal when they hold the same signals.
    public static func == (a: SignalSet, b: SignalSet) -> Bool {
        (1..<65).allSatisfy { a.contains(Int32($0)) == b.contains(Int32($0)) }
    }
}

/// Sends `signal` to this process (`kill(getpid(), signal)`): any thread that
/// does not block it may take it.
public func raiseInProcess(_ signal: Int32) throws(SystemError) {
    _ = try Syscall.check(Kernel.kill(nil, signal), "kill(self, \(signal))")
}

/// A descriptor with one owner, closed exactly once: by `close()`, or when the
/// owner goes away without calling it.
///
/// Being `~Copyable`, it cannot be closed twice by accident. Use `descriptor`
/// to lend the number to calls that do not take ownership.
public struct OwnedDescriptor: ~Copyable {
    /// The number, borrowed: valid while this owner lives.
    public let descriptor: Descriptor

    /// Takes ownership of `descriptor`: it will be closed by this value.
    public init(adopting descriptor: Descriptor) { self.descriptor = descriptor }

    /// The C descriptor number.
    public var rawValue: Int32 { descriptor.rawValue }

    /// Closes the descriptor. Never retried: on Linux the number is released even
    /// when `close` reports `EINTR`, and retrying could close someone else's.
    /// The corresponding C call is `close(2)`.
    public consuming func close() throws(SystemError) {
        let fd = descriptor.rawValue
        discard self
        try Syscall.closing(Kernel.close(fd), "close(fd \(fd))")
    }

    /// Gives up ownership without closing; the caller now owns the number.
    public consuming func release() -> Descriptor {
        let fd = descriptor
        discard self
        return fd
    }

    deinit {
        // Errors are dropped on purpose: a deinit has nobody to report to, and
        // the number is released by the kernel whatever close says.
        _ = Kernel.close(descriptor.rawValue)
    }
}

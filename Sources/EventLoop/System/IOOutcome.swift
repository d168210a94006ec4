/// The outcome of a non-blocking operation: done, or it would have blocked.
///
/// The one spelling of `EAGAIN`/`EWOULDBLOCK` in this package: every call that
/// may find nothing to do on a non-blocking descriptor returns this, never
/// `nil` or `false`. It is `~Copyable` when its value is (an accepted
/// connection), so an owned descriptor cannot be dropped by accident.
@frozen
public enum IOOutcome<Value: ~Copyable>: ~Copyable {
    /// The call did its work; the value is what it produced (a count, bytes, a descriptor…).
    case completed(Value)
    /// The call would have blocked (`EAGAIN`): try again when the descriptor is ready.
    case wouldBlock
}

extension IOOutcome: Copyable where Value: Copyable {}
extension IOOutcome: Equatable where Value: Equatable {}
extension IOOutcome: Sendable where Value: Sendable & ~Copyable {}

extension IOOutcome where Value: ~Copyable {
    /// Whether the call would have blocked.
    public var wouldBlock: Bool {
        switch self {
        case .completed: false
        case .wouldBlock: true
        }
    }

    /// The value, or nil when the call would have blocked; for loops such as
    /// `while let connection = try listener.accept().take() { ... }`.
    public consuming func take() -> Value? {
        switch consume self {
        case .completed(let value): value
        case .wouldBlock: nil
        }
    }
}

extension IOOutcome {
    /// The value, or nil when the call would have blocked.
    public var value: Value? {
        if case .completed(let value) = self { value } else { nil }
    }
}

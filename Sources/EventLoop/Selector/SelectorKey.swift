/// One registration: the descriptor, what it waits for, how, and the user's value.
///
/// An immutable snapshot; `modify` makes a new one.
public struct SelectorKey<Value> {
    /// The registered descriptor.
    public let descriptor: Descriptor
    /// What it waits for; never empty.
    public let interest: Interest
    /// Level, edge or one-shot.
    public let trigger: Trigger
    /// The value given at registration, handed back with every event.
    public let value: Value
}

extension SelectorKey: Sendable where Value: Sendable {}
extension SelectorKey: Equatable where Value: Equatable {}
extension SelectorKey: Hashable where Value: Hashable {}

/// A ready registration and what it is ready for.
public struct SelectorEvent<Value> {
    /// The registration as it stood when the event was reported.
    public let key: SelectorKey<Value>
    /// Never empty.
    public let events: ReadyEvents

    /// The descriptor, for short.
    public var descriptor: Descriptor { key.descriptor }
}

extension SelectorEvent: Sendable where Value: Sendable {}
extension SelectorEvent: Equatable where Value: Equatable {}

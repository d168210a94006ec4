import Synchronization

/// What an async echo server counts, from its connection handlers on any
/// thread: connections open and served, bytes echoed. The exit line is
/// `echoServerReport(connectionsServed:bytes:)`.
public final class EchoStats: Sendable {
    public let open = Atomic<Int>(0)
    public let served = Atomic<Int>(0)
    public let bytes = Atomic<Int>(0)

    public init() {}
}

/// Carries a socket given to an `adopt` method into the closure that runs on
/// the loop thread: a closure cannot consume a `~Copyable` value it captures,
/// so the owner travels in here and is taken out once. If it is never taken
/// (the hop failed), it closes with this box. Touched by the adopting call
/// only, one step after another.
final class AdoptedSocket {
    private var socket: OwnedDescriptor?

    init(_ socket: consuming OwnedDescriptor) { self.socket = Optional(socket) }

    /// The socket, the first time; nil after.
    func take() -> OwnedDescriptor? { socket.take() }
}

extension LoopExecutor {
    /// The common part of the `adopt` methods: on the loop thread, checks that
    /// `socket` is fit for `role` and makes it non-blocking and close-on-exec
    /// (`Socket.prepareForAdoption`), then hands it with its local address
    /// and peer to `make`, which registers it. The socket is closed on every
    /// failure (its owner goes out of scope), `make`'s included.
    /// - Throws: `StreamError` (`.system` with the errno of what was wrong,
    ///   `.closed` for a closed loop), or what `make` throws.
    func adopt<T>(
        _ socket: consuming OwnedDescriptor, as role: Socket.AdoptedRole,
        _ make: (consuming OwnedDescriptor, IOLoop, SocketEndpoint, SocketEndpoint?) throws -> T
    ) async throws -> T {
        let number = socket.descriptor
        let carried = AdoptedSocket(socket)
        return try await onLoop {
            guard let socket = carried.take() else { throw StreamError(.closed, operation: "adopt(\(number)): taken already") }
            let loop = try loopForCall("adopt(\(number))")
            let found: (local: SocketEndpoint, peer: SocketEndpoint?)
            do throws(SystemError) { found = try Socket.prepareForAdoption(socket.descriptor, as: role) } catch {
                throw StreamError(error)
            }
            return try make(socket, loop, found.local, found.peer)
        }
    }
}

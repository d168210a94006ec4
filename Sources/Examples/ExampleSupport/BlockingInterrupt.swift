import EventLoop
import Glibc
import Synchronization

/// Ctrl-C and `SIGTERM` for a program whose main thread blocks in `accept` or
/// `read` (the blocking examples), where no selector is there to watch a
/// signal descriptor.
///
/// How it works: the constructor blocks both signals on the calling thread,
/// then starts a helper thread (which inherits that mask) running an `IOLoop`
/// whose `onSignal` handlers do two things: record the signal, and
/// `shutdown(2)` every socket the main thread has handed over with `watch`.
/// That wakes the blocked call at once: `accept` on a shut-down listener fails
/// (`EINVAL`), `read` on a shut-down connection returns end of file. The main
/// thread then sees `signal` set and leaves cleanly, closing what it opened.
///
/// The main thread must `unwatch` a socket before closing it, so the helper
/// never shuts down a number that has been reused. Both take one lock.
public final class BlockingInterrupt: Sendable {
    private struct State {
        var signal: String?
        var sockets: Set<Descriptor> = []
        var handle: LoopHandle?
        var startError: String?
    }

    /// Shared by the main thread and the helper; every field under the mutex.
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    private let shared = Shared()
    private let thread: ExampleThread

    /// Blocks `SIGINT`/`SIGTERM` here and starts the helper thread; returns once it listens.
    public init() throws {
        try SignalSet(stopSignals).blockOnThisThread()
        let ready = try DescriptorPair.pipe(nonBlocking: false)
        let readyReader = ready.first.descriptor
        let readyWriter = ready.second.descriptor
        let shared = self.shared
        thread = try ExampleThread { BlockingInterrupt.serve(shared, ready: readyWriter) }
        // The helper writes one byte once its handlers are installed (or it failed).
        _ = try readyReader.read(upTo: 1)
        _ = consume ready // closes both ends
        if let failure = shared.state.withLock({ $0.startError }) {
            thread.join()
            throw ExampleFailure("cannot watch for Ctrl-C: \(failure)")
        }
    }

    /// The helper thread's body: a loop that only waits for the two signals.
    private static func serve(_ shared: Shared, ready: Descriptor) {
        do {
            let loop = try IOLoop()
            for signal in stopSignals {
                try loop.onSignal(signal) { info in
                    shared.state.withLock { state in
                        state.signal = signalName(info.signal)
                        // Errors are dropped: a socket whose peer has already
                        // gone (ENOTCONN) needs no waking.
                        for socket in state.sockets { try? socket.shutdown(writing: true, reading: true) }
                    }
                    loop.stop()
                }
            }
            shared.state.withLock { $0.handle = loop.handle }
            _ = try? ready.write([1])
            try loop.run()
            try loop.close()
        } catch {
            shared.state.withLock { $0.startError = "\(error)" }
            _ = try? ready.write([0])
        }
    }

    /// The signal that arrived (`SIGINT`), or nil while none has.
    public var signal: String? { shared.state.withLock { $0.signal } }

    /// Hands `socket` over to be shut down when a signal comes. Returns false
    /// when one has already come: then do not block on it.
    public func watch(_ socket: Descriptor) -> Bool {
        shared.state.withLock { state in
            guard state.signal == nil else { return false }
            state.sockets.insert(socket)
            return true
        }
    }

    /// Takes `socket` back; call it before closing the socket.
    public func unwatch(_ socket: Descriptor) {
        _ = shared.state.withLock { $0.sockets.remove(socket) }
    }

    /// Stops the helper thread and waits for it.
    public func finish() {
        shared.state.withLock { $0.handle }?.stop()
        thread.join()
    }
}

/// Why a loop refused a request. The loop stays usable after each, except `.closed`.
public enum LoopError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The loop was closed; nothing more can be added to it.
    case closed
    /// This descriptor already has a watcher on this loop; change or cancel that one.
    case alreadyWatched(Descriptor)
    /// The watcher was cancelled, or its descriptor is not watched.
    case notWatched(Descriptor)
    /// Another loop in this process handles this signal.
    case signalClaimedByAnotherLoop(Int32)
    /// This signal cannot be caught: `SIGKILL` and `SIGSTOP` never can, and the
    /// C library keeps the numbers between 31 and `SIGRTMIN` (32, 33) for its threads.
    case uncatchableSignal(Int32)
    /// Not a signal number: Linux has 1 through 64.
    case invalidSignal(Int32)
    /// A repeating timer needs a positive interval.
    case invalidInterval(Duration)
    /// A loop is already running `run()` or `runOnce()`; it cannot be entered again from a callback.
    case alreadyRunning
    /// A thread asked to wait for its own loop's end, which would never come
    /// (`LoopThread.shutdownAndWait` or `LoopGroup.shutdownAndWait` on a loop
    /// thread of its own): the shutdown is requested, not awaited.
    case waitsForItself

    /// What went wrong, in a sentence.
    public var description: String {
        switch self {
        case .closed: "the event loop is closed"
        case .alreadyWatched(let fd): "\(fd) is already watched by this loop"
        case .notWatched(let fd): "\(fd) is not watched by this loop"
        case .signalClaimedByAnotherLoop(let signal): "signal \(signal) is handled by another event loop"
        case .uncatchableSignal(let signal): "signal \(signal) cannot be caught"
        case .invalidSignal(let signal): "\(signal) is not a signal number (Linux has 1 through 64)"
        case .invalidInterval(let interval): "a repeating timer needs a positive interval, not \(interval)"
        case .alreadyRunning: "the event loop is already running"
        case .waitsForItself: "a loop's own thread cannot wait for that loop to end: use the async shutdown there"
        }
    }
}

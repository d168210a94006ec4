import EventLoop
import ExampleSupport

/// One of seed 001's slow poetry servers: accepts clients and recites its
/// poem to each, a chunk per tick of a repeating timer on the loop (the seed's
/// `sendall` + `time.sleep(1)`, without blocking the other servers on the
/// same loop). `poetry serve` runs three; the demo runs three on a thread.
/// Loop thread only.
public final class PoetryServer {
    /// What a server prints.
    public enum Log {
        /// Each client, and each chunk sent.
        case chunks
        /// Each client and each finished poem (`poetry serve --quiet`).
        case recitals
        /// Nothing (the demo).
        case silent
    }

    /// Its number in the output: `server 2: ...`.
    public let number: Int
    /// The listening socket, released from its owner: `close()` closes it.
    public let listener: Descriptor
    private let poem: [UInt8]
    private let chunkSize: Int
    private let delay: Duration
    private let log: Log
    private unowned let loop: IOLoop
    /// Connections still being recited to, with their timers.
    private var recitals: [Descriptor: TimerHandle] = [:]
    private var listening: IOWatcher?
    /// Poems recited to the end.
    public private(set) var recited = 0

    /// A server for `listener` (a listening, non-blocking socket it takes over); `start()` starts it.
    public init(number: Int, listener: Descriptor, poem: [UInt8], chunkSize: Int, delay: Duration, log: Log, loop: IOLoop) {
        self.number = number
        self.listener = listener
        self.poem = poem
        self.chunkSize = chunkSize
        self.delay = delay
        self.log = log
        self.loop = loop
    }

    /// Watches the listener: each client gets the poem from now on.
    public func start() throws {
        listening = try loop.watch(listener) { [unowned self] _ in
            while let connection = try listener.accept().take() {
                recite(to: connection.release()) // closed by `finish`
            }
        }
    }

    private func say(_ line: String) {
        if log != .silent { print("server \(number): \(line)") }
    }

    private func recite(to fd: Descriptor) {
        let peer = peerName(fd)
        say("somebody at \(peer) wants poetry")
        var offset = 0
        do {
            // The first chunk goes at once, then one per `delay`.
            recitals[fd] = try loop.scheduleRepeating(every: max(delay, .nanoseconds(1)), after: .zero) { [unowned self] in
                do {
                    let end = min(offset + chunkSize, poem.count)
                    if case .completed(let count) = try fd.write(poem[offset..<end]) { // a full socket: try next tick
                        offset += count
                        if log == .chunks { say("sent \(count) bytes to \(peer)") }
                    }
                    if offset == poem.count {
                        recited += 1
                        say("finished the poem for \(peer)")
                        finish(fd)
                    }
                } catch {
                    say("\(peer) went away (\(error))") // EPIPE, ECONNRESET
                    finish(fd)
                }
            }
        } catch {
            say("cannot schedule the poem: \(error)")
            closeReleased(fd)
        }
    }

    private func finish(_ fd: Descriptor) {
        recitals.removeValue(forKey: fd)?.cancel()
        closeReleased(fd)
    }

    /// Closes the listener and the connections still listening; returns how many were cut short.
    public func close() -> Int {
        let open = Array(recitals.keys)
        for fd in open { finish(fd) }
        listening?.cancel() // deregister before close
        listening = nil
        closeReleased(listener)
        return open.count
    }
}

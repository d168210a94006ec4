import EventLoop
import ExampleSupport

/// `poetry serve`: three slow servers on one `IOLoop`. Returns the exit status.
func serve(host: String, ports: [UInt16], poems: [[UInt8]], chunkSize: Int, delay: Duration, quiet: Bool) throws -> Int32 {
    let loop = try IOLoop()
    var stoppedBy = "?"
    for signal in stopSignals {
        try loop.onSignal(signal) { info in
            stoppedBy = signalName(info.signal)
            loop.stop()
        }
    }
    var servers: [PoetryServer] = []
    for (index, port) in ports.enumerated() {
        let listener = try listenTCP(host: host, port: port).release() // closed by `PoetryServer.close`
        let server = PoetryServer(number: index + 1, listener: listener, poem: poems[index],
                                  chunkSize: chunkSize, delay: delay, quiet: quiet, loop: loop)
        servers.append(server)
        print("listening on \(try listener.localAddress()) (server \(server.number): \(poems[index].count) bytes "
              + "in \((poems[index].count + chunkSize - 1) / chunkSize) chunks, \(formatSeconds(delay)) apart)")
        try server.start()
    }
    print("fetch with: poetry get --loop --ports " + (try servers.map { "\(try $0.listener.localAddress().port)" }).joined(separator: ","))
    try loop.run()
    let interrupted = servers.reduce(0) { $0 + $1.close() }
    try loop.close()
    print("stopped by \(stoppedBy): \(servers.reduce(0) { $0 + $1.recited }) poems recited, \(interrupted) cut short")
    return 0
}

/// One server: accepts clients and recites its poem to each, a chunk per tick
/// of a repeating timer on the loop (the seed's `sendall` + `time.sleep(1)`,
/// without blocking the other servers). Loop thread only.
final class PoetryServer {
    let number: Int
    let listener: Descriptor
    private let poem: [UInt8]
    private let chunkSize: Int
    private let delay: Duration
    private let quiet: Bool
    private unowned let loop: IOLoop
    /// Connections still being recited to, with their timers.
    private var recitals: [Descriptor: TimerHandle] = [:]
    private(set) var recited = 0

    init(number: Int, listener: Descriptor, poem: [UInt8], chunkSize: Int, delay: Duration, quiet: Bool, loop: IOLoop) {
        self.number = number
        self.listener = listener
        self.poem = poem
        self.chunkSize = chunkSize
        self.delay = delay
        self.quiet = quiet
        self.loop = loop
    }

    func start() throws {
        try loop.watch(listener) { [unowned self] _ in
            while let connection = try listener.accept().take() {
                recite(to: connection.release()) // closed by `finish`
            }
        }
    }

    private func recite(to fd: Descriptor) {
        let peer = peerName(fd)
        print("server \(number): somebody at \(peer) wants poetry")
        var offset = 0
        do {
            // The first chunk goes at once, then one per `delay`.
            recitals[fd] = try loop.scheduleRepeating(every: max(delay, .nanoseconds(1)), after: .zero) { [unowned self] in
                do {
                    let end = min(offset + chunkSize, poem.count)
                    if case .completed(let count) = try fd.write(poem[offset..<end]) { // a full socket: try next tick
                        offset += count
                        if !quiet { print("server \(number): sent \(count) bytes to \(peer)") }
                    }
                    if offset == poem.count {
                        recited += 1
                        print("server \(number): finished the poem for \(peer)")
                        finish(fd)
                    }
                } catch {
                    print("server \(number): \(peer) went away (\(error))") // EPIPE, ECONNRESET
                    finish(fd)
                }
            }
        } catch {
            print("server \(number): cannot schedule the poem: \(error)")
            closeReleased(fd)
        }
    }

    private func finish(_ fd: Descriptor) {
        recitals.removeValue(forKey: fd)?.cancel()
        closeReleased(fd)
    }

    /// Closes the listener and the connections still listening; returns how many were cut short.
    func close() -> Int {
        let open = Array(recitals.keys)
        for fd in open { finish(fd) }
        closeReleased(listener)
        return open.count
    }
}

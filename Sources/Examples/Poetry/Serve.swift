import EventLoop
import ExampleSupport
import SeedPrograms

/// `poetry serve`: three slow servers on one `IOLoop` on `backend`. Returns the exit status.
func serve(
    host: String, ports: [UInt16], poems: [[UInt8]], chunkSize: Int, delay: Duration, quiet: Bool, backend: LoopBackend
) throws -> Int32 {
    let loop = try IOLoop(backend: backend)
    var stoppedBy = "?"
    try loop.stopOnSignals { stoppedBy = $0 }
    var servers: [PoetryServer] = []
    for (index, port) in ports.enumerated() {
        let listener = try listenTCP(host: host, port: port).release() // closed by `PoetryServer.close`
        let server = PoetryServer(number: index + 1, listener: listener, poem: poems[index],
                                  chunkSize: chunkSize, delay: delay, log: quiet ? .recitals : .chunks, loop: loop)
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

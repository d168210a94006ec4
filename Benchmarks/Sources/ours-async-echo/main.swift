// TCP echo server on this package's async streams, as a user writes it with
// async/await: a StreamServer whose handler reads into a buffer it keeps and
// writes the same bytes back (a slice of that buffer: no copy, no allocation
// per message), until the client closes.
//
//   ours-async-echo PORT
//
// Prints "READY port=P" once listening; exits 0 after the last connection
// closes, printing the echo servers' RESULT line (README, "Program interface").
import BenchKit
import EventLoop
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

let port = integerArguments(1, usage: "PORT")[0]

let stats = EchoStats()
do {
    let loop = try IOLoop()
    try loop.run { executor in
        let listener = try await StreamListener.bind(port: UInt16(port), backlog: 1024, on: executor)
        let server = StreamServer(listener: listener) { connection in
            stats.open.add(1, ordering: .relaxed)
            stats.served.add(1, ordering: .relaxed)
            defer { // also when the peer resets the connection
                if stats.open.subtract(1, ordering: .relaxed).newValue == 0 {
                    emit(echoServerReport(connectionsServed: stats.served.load(ordering: .relaxed),
                                          bytes: stats.bytes.load(ordering: .relaxed)))
                    exit(0)
                }
            }
            var buffer = [UInt8](repeating: 0, count: 65_536)
            do {
                while true {
                    let count = try await connection.read(into: &buffer)
                    if count == 0 { break }
                    stats.bytes.add(count, ordering: .relaxed)
                    try await connection.write(buffer[0..<count])
                }
            } catch {
                // A reset ends the connection as a close does (loadgen closes
                // with echoes unread at thousands of connections: the kernel
                // sends RST), and it must still be counted out.
            }
        }
        emit("READY port=\(port)")
        try await server.run()
    }
} catch {
    fail("ours-async-echo: \(error)")
}

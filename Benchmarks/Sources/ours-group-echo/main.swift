// TCP echo server on this package's async streams over a LoopGroup: the
// async echo of ours-async-echo (a handler that reads into a buffer it keeps
// and writes the same bytes back), with the connections spread over the
// group's loops (issue 19's cost check: a 2-loop group's server CPU per
// message against one loop's).
//
//   ours-group-echo PORT
//   LOOPS=N (default 2)  BALANCING=acceptor|reuseport (default acceptor)
//   BACKEND=epoll|poll|select|io_uring (default epoll): every loop's backend
//
// Prints "READY port=P" once listening; exits 0 after the last connection
// closes, printing the echo servers' RESULT line (README, "Program interface").
import BenchKit
import EventLoop
import OursAsyncEcho
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

let port = integerArguments(1, usage: "PORT")[0]
let loops = environmentValue("LOOPS").flatMap { Int($0) } ?? 2
let balancing: ConnectionBalancing = environmentValue("BALANCING") == "reuseport" ? .reusePort : .acceptor
let backend = environmentChoice("BACKEND", default: LoopBackend.epoll)

let stats = EchoStats()
do {
    let group = try LoopGroup(loopCount: loops, backend: backend)
    let server = try await StreamServer.listening(port: UInt16(port), on: group, balancing: balancing) { connection in
        await echoOnStreams(connection, stats: stats)
    }
    emit("READY port=\(port)")
    try await server.run()
} catch {
    fail("ours-group-echo: \(error)")
}

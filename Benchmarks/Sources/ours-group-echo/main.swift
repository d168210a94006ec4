// TCP echo server on this package's async streams over a LoopGroup: the
// async echo of ours-async-echo (a handler that reads into a buffer it keeps
// and writes the same bytes back), with the connections spread over the
// group's loops (issue 19's cost check: a 2-loop group's server CPU per
// message against one loop's).
//
//   ours-group-echo PORT
//   LOOPS=N (default 2)  BALANCING=acceptor|reuseport (default acceptor)
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
let environment = ProcessInfoLite()
let loops = environment.integer("LOOPS") ?? 2
let balancing: ConnectionBalancing = environment.string("BALANCING") == "reuseport" ? .reusePort : .acceptor

let stats = EchoStats()
do {
    let group = try LoopGroup(loopCount: loops)
    let server = try await StreamServer.listening(port: UInt16(port), on: group, balancing: balancing) { connection in
        await echoOnStreams(connection, stats: stats)
    }
    emit("READY port=\(port)")
    try await server.run()
} catch {
    fail("ours-group-echo: \(error)")
}

/// The two environment variables this program reads.
struct ProcessInfoLite {
    func string(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
    func integer(_ name: String) -> Int? { string(name).flatMap { Int($0) } }
}

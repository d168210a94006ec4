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
            // A reset ends the connection as a close does (see ours-async-echo).
        }
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

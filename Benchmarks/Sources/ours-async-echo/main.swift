// TCP echo server on this package's async streams, as a user writes it with
// async/await: a StreamServer whose handler reads into a buffer it keeps and
// writes the same bytes back (a slice of that buffer: no copy, no allocation
// per message), until the client closes.
//
//   ours-async-echo PORT
//   BACKEND=epoll|poll|select|io_uring (default epoll): the loop's backend
//   SERVER=actor: each connection served by an actor on the loop's serial face
//   READS=exactly|line, WRITES=buffered: see echoOnStreams
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
let backend = environmentChoice("BACKEND", default: LoopBackend.epoll)

let stats = EchoStats()
do {
    let loop = try IOLoop(backend: backend)
    try loop.run { executor in
        let listener = try await StreamListener.bind(port: UInt16(port), backlog: 1024, on: executor)
        let onActor = getenv("SERVER").map { String(cString: $0) == "actor" } ?? false
        let server = StreamServer(listener: listener) { connection in
            if onActor {
                await EchoActor(executor: executor).serve(connection, stats: stats)
            } else {
                await echoOnStreams(connection, stats: stats)
            }
        }
        emit("READY port=\(port)")
        try await server.run()
    }
} catch {
    fail("ours-async-echo: \(error)")
}

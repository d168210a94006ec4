// TCP echo server on SwiftNIO's async API, as NIO's own examples write it:
// a ServerBootstrap bound to NIOAsyncChannel, a discarding task group with a
// child task per connection that iterates the inbound stream and writes each
// buffer back through the outbound writer.
//
//   nio-async-echo PORT
//
// Prints "READY port=P" once listening; exits 0 after the last connection
// closes, printing the echo servers' RESULT line (README, "Program interface").
import BenchKit
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

let port = integerArguments(1, usage: "PORT")[0]

let stats = EchoStats()
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
do {
    let server = try await ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .bind(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    emit("READY port=\(port)")
    try await withThrowingDiscardingTaskGroup { group in
        try await server.executeThenClose { inbound in
            for try await connection in inbound {
                group.addTask {
                    stats.open.add(1, ordering: .relaxed)
                    stats.served.add(1, ordering: .relaxed)
                    // Errors (a reset peer) end the connection like a close does.
                    try? await connection.executeThenClose { input, output in
                        for try await buffer in input {
                            stats.bytes.add(buffer.readableBytes, ordering: .relaxed)
                            try await output.write(buffer)
                        }
                    }
                    if stats.open.subtract(1, ordering: .relaxed).newValue == 0 {
                        emit(echoServerReport(connectionsServed: stats.served.load(ordering: .relaxed),
                                              bytes: stats.bytes.load(ordering: .relaxed)))
                        exit(0)
                    }
                }
            }
        }
    }
} catch {
    fail("nio-async-echo: \(error)")
}

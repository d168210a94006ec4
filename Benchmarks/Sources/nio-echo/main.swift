// TCP echo server on SwiftNIO, as NIO's own examples write it: a
// ServerBootstrap on a one-thread MultiThreadedEventLoopGroup, a handler that
// writes each read back and flushes on channelReadComplete.
//
//   nio-echo PORT
//
// Prints "READY port=P" once listening; exits 0 after the last connection
// closes, printing the echo servers' RESULT line (README, "Program interface").
import BenchKit
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

let port = integerArguments(1, usage: "PORT")[0]

/// Connection counts and bytes echoed. Loop thread only (one loop).
final class EchoStats {
    var open = 0
    var served = 0
    var bytes = 0
}

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let stats: EchoStats

    init(stats: EchoStats) { self.stats = stats }

    func channelActive(context: ChannelHandlerContext) {
        stats.open += 1
        stats.served += 1
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        stats.bytes += unwrapInboundIn(data).readableBytes
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stats.open -= 1
        if stats.open == 0 {
            emit(echoServerReport(connectionsServed: stats.served, bytes: stats.bytes))
            exit(0)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
// Created on the loop thread and only touched there.
let stats = try loop.submit { NIOLoopBound(EchoStats(), eventLoop: loop) }.wait()

let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(EchoHandler(stats: stats.value))
        }
    }
    .bind(host: "127.0.0.1", port: port)
    .wait()
emit("READY port=\(port)")
try server.closeFuture.wait()

// Loop overhead on SwiftNIO: every socketpair becomes a pipe channel
// (NIOPipeBootstrap, input = end [0], output = end [1]) on a one-thread
// MultiThreadedEventLoopGroup; a token is passed on with
// `writeAndFlush` on the next pair's channel. NIO may read two queued
// tokens in one read, so events are counted per byte (one byte = one token =
// one read event in the C peers).
//
//   nio-loop PAIRS ACTIVE EVENTS          (same contract as c/loop.h)
import BenchKit
import NIOCore
import NIOPosix

/// The token ring. Loop thread only (one loop; built and read there).
final class Ring {
    let events: Int
    var channels: [any Channel] = []
    var fired = 0
    var writes = 0
    var token: ByteBuffer
    var startNs: UInt64 = 0
    var cpu0: UInt64 = 0
    var mallocs0: UInt64 = 0
    let done: EventLoopPromise<String>
    let workload: LoopWorkload

    init(workload: LoopWorkload, done: EventLoopPromise<String>) {
        self.workload = workload
        self.events = workload.events
        self.done = done
        self.token = ByteBufferAllocator().buffer(string: "e")
    }

    func start() {
        writes = events - workload.active
        cpu0 = bench_cpu_us()
        mallocs0 = bench_mallocs()
        startNs = bench_now_ns()
        for i in workload.tokenPairs { channels[i].writeAndFlush(token, promise: nil) }
    }

    func received(_ bytes: Int, on index: Int) {
        for _ in 0..<bytes {
            if writes > 0 {
                writes -= 1
                let next = index + 1 == channels.count ? 0 : index + 1
                channels[next].writeAndFlush(token, promise: nil)
            }
            fired += 1
            if fired == events {
                let elapsed = bench_now_ns() - startNs
                let line = workload.report(
                    fired: fired, elapsedNs: elapsed, cpuUs: bench_cpu_us() - cpu0,
                    mallocs: bench_mallocs() - mallocs0)
                done.succeed(line)
            }
        }
    }
}

final class TokenHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let ring: Ring
    let index: Int

    init(ring: Ring, index: Int) {
        self.ring = ring
        self.index = index
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        ring.received(unwrapInboundIn(data).readableBytes, on: index)
    }
}

let workload = LoopWorkload()
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
let done = loop.makePromise(of: String.self)
let ring = try loop.submit { NIOLoopBound(Ring(workload: workload, done: done), eventLoop: loop) }.wait()
for (i, fds) in workload.descriptors.enumerated() {
    let channel = try NIOPipeBootstrap(group: loop)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(TokenHandler(ring: ring.value, index: i))
            }
        }
        .takingOwnershipOfDescriptors(input: fds.read, output: fds.write)
        .wait()
    try loop.submit { ring.value.channels.append(channel) }.wait()
}
loop.execute { ring.value.start() }
emit(try done.futureResult.wait())
exit(0)

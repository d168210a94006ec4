// Task hop on SwiftNIO's event loop executor: two tasks whose executor
// preference is a NIO event loop (`eventLoop.executor` as a task executor
// is not public in NIO 2.101, so the tasks run on an actor isolated to the
// loop's serial executor) pass a counter back and forth through checked
// continuations, HOPS times in all.
//
//   nio-hop HOPS
//
// Prints `RESULT hops=* ns_per_hop=* cpu_us=* mallocs=*`.
import BenchKit
import NIOCore
import NIOPosix

let hops = integerArguments(1, usage: "HOPS")[0]

/// Both players live on the NIO loop's serial executor.
actor OnLoop {
    nonisolated let loop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }
    init(loop: any EventLoop) { self.loop = loop }

    func run(_ hops: Int) async -> (UInt64, UInt64, UInt64) {
        let pingPong = PingPong()
        let start = bench_now_ns()
        let cpu0 = bench_cpu_us()
        let mallocs0 = bench_mallocs()
        async let other: Void = self.play(pingPong, as: 1, until: hops)
        await pingPong.play(as: 0, until: hops)
        await other
        return (bench_now_ns() - start, bench_cpu_us() - cpu0, bench_mallocs() - mallocs0)
    }

    func play(_ pingPong: PingPong, as player: Int, until hops: Int) async {
        await pingPong.play(as: player, until: hops)
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let (nanoseconds, cpu, mallocs) = await OnLoop(loop: group.next()).run(hops)
emit("RESULT hops=\(hops) ns_per_hop=\(fixed1(Double(nanoseconds) / Double(hops))) cpu_us=\(cpu) mallocs=\(mallocs)")
try? await group.shutdownGracefully()

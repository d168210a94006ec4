// Cross-thread submission into SwiftNIO: THREADS producer threads call
// `eventLoop.execute { }` on a one-thread MultiThreadedEventLoopGroup; each
// closure bumps a counter on the loop; the last one completes a promise.
//
//   nio-xthread THREADS TOTAL          (same contract as c/xthread.h)
import BenchKit
import NIOCore
import NIOPosix

/// `ran` is touched on the loop thread only (closures run there; the main
/// thread reads it through `submit`); the `let`s are immutable.
final class Run: @unchecked Sendable {
    let total: Int
    let done: EventLoopPromise<UInt64>
    var ran = 0

    init(total: Int, done: EventLoopPromise<UInt64>) {
        self.total = total
        self.done = done
    }

    func job() {
        ran += 1
        if ran == total { done.succeed(bench_now_ns()) }
    }
}

let (threads, total) = crossThreadArguments()
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
let run = Run(total: total, done: loop.makePromise(of: UInt64.self))
let barrier = StartBarrier(parties: threads + 1)
let share = total / threads
let producers = (0..<threads).map { _ in
    spawnThread {
        barrier.wait()
        for _ in 0..<share { loop.execute { run.job() } }
    }
}
let cpu0 = bench_cpu_us()
let mallocs0 = bench_mallocs()
let start = bench_now_ns()
barrier.wait()
let end = try run.done.futureResult.wait()
let cpu = bench_cpu_us() - cpu0
let mallocs = bench_mallocs() - mallocs0
producers.forEach(joinThread)
let ran = try loop.submit { run.ran }.wait()
emit(crossThreadReport(
    threads: threads, total: total, ran: ran, elapsedNs: end - start, cpuUs: cpu, mallocs: mallocs))
try group.syncShutdownGracefully()
exit(ran == total ? 0 : 1)

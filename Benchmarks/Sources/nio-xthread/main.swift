// Cross-thread submission into SwiftNIO: THREADS producer threads call
// `eventLoop.execute { }` on a one-thread MultiThreadedEventLoopGroup; each
// closure bumps a counter on the loop; the last one completes a promise.
//
//   nio-xthread THREADS TOTAL [capture]          (same contract as c/xthread.h)
//
// `capture`: each closure captures a reference and an index, as user code
// does (the C peers malloc an item per submission).
import BenchKit
import NIOCore
import NIOPosix

/// `ran` is touched on the loop thread only (closures run there; the main
/// thread reads it through `submit`); the `let`s are immutable.
final class Run: @unchecked Sendable {
    let total: Int
    let done: EventLoopPromise<UInt64>
    var ran = 0
    var indexSum = 0

    init(total: Int, done: EventLoopPromise<UInt64>) {
        self.total = total
        self.done = done
    }

    func job() {
        ran += 1
        if ran == total { done.succeed(bench_now_ns()) }
    }

    /// A capturing closure's work: use the index, count.
    @inline(never)
    func take(_ index: Int) {
        indexSum &+= index
        job()
    }
}

let arguments = CommandLine.arguments
if arguments.count > 4 || (arguments.count == 4 && arguments[3] != "capture") {
    fail("usage: \(arguments[0]) THREADS TOTAL [capture]", status: 64)
}
let capture = arguments.count == 4
let (threads, total) = crossThreadArguments()
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
let run = Run(total: total, done: loop.makePromise(of: UInt64.self))
let barrier = StartBarrier(parties: threads + 1)
let share = total / threads
let producers = (0..<threads).map { _ in
    spawnThread {
        let target = run // a local: the capturing closures below capture it
        barrier.wait()
        if capture {
            for i in 0..<share { loop.execute { target.take(i) } }
        } else {
            for _ in 0..<share { loop.execute { run.job() } }
        }
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
let (ran, indexSum) = try loop.submit { (run.ran, run.indexSum) }.wait()
let expectedSum = capture ? threads * (share * (share - 1) / 2) : 0
if indexSum != expectedSum { fail("nio-xthread: captured indexes sum to \(indexSum), expected \(expectedSum)") }
emit(crossThreadReport(
    threads: threads, total: total, ran: ran, elapsedNs: end - start, cpuUs: cpu, mallocs: mallocs))
try group.syncShutdownGracefully()
exit(ran == total ? 0 : 1)

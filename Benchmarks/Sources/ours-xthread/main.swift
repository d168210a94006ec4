// Cross-thread submission into this package's loop: THREADS producer threads
// call `handle.submit`; each submission bumps a counter on the loop; the last
// one stops it.
//
//   ours-xthread THREADS TOTAL [capture]          (same contract as c/xthread.h)
//
// Default: like the C peers, which pass a function and a pointer to static
// state, the submitted closure reaches its state through globals, so it
// captures nothing and needs no allocation of its own. `capture`: what user
// code writes, a closure that captures a reference and an index (one context
// allocation per closure; the C peers malloc an item per submission).
import BenchKit
import EventLoop

#if canImport(Glibc)
import Glibc
#endif

/// Touched only by submitted closures, which run on the loop thread.
final class Run: @unchecked Sendable {
    let total: Int
    var ran = 0
    var indexSum = 0
    var endNs: UInt64 = 0
    init(total: Int) { self.total = total }

    /// A capturing closure's work: use the index, count.
    @inline(never)
    func take(_ index: Int) {
        indexSum &+= index
        job()
    }
}

let usage = "THREADS TOTAL [capture]"
let arguments = CommandLine.arguments
if arguments.count > 4 || (arguments.count == 4 && arguments[3] != "capture") {
    fail("usage: \(arguments[0]) \(usage)", status: 64)
}
let capture = arguments.count == 4
let (threads, total) = crossThreadArguments()
let loop: IOLoop
do { loop = try IOLoop() } catch { fail("ours-xthread: \(error)") }
let handle = loop.handle
let run = Run(total: total)

/// The submitted work: count, and stop the loop after the last one.
@Sendable func job() {
    run.ran += 1
    if run.ran == run.total {
        run.endNs = bench_now_ns()
        handle.stop()
    }
}

let barrier = StartBarrier(parties: threads + 1)
let share = total / threads
let producers = (0..<threads).map { _ in
    spawnThread {
        let target = run // a local: the closures below capture it
        barrier.wait()
        if capture {
            for i in 0..<share { try? handle.submit { target.take(i) } }
        } else {
            for _ in 0..<share { try? handle.submit(job) }
        }
    }
}
let cpu0 = bench_cpu_us()
let mallocs0 = bench_mallocs()
let start = bench_now_ns()
barrier.wait()
do { try loop.run() } catch { fail("ours-xthread: \(error)") }
let cpu = bench_cpu_us() - cpu0
let mallocs = bench_mallocs() - mallocs0
producers.forEach(joinThread)
let expectedSum = capture ? threads * (share * (share - 1) / 2) : 0
if run.indexSum != expectedSum { fail("ours-xthread: captured indexes sum to \(run.indexSum), expected \(expectedSum)") }
emit(crossThreadReport(
    threads: threads, total: total, ran: run.ran, elapsedNs: run.endNs - start, cpuUs: cpu, mallocs: mallocs))
exit(run.ran == total ? 0 : 1)

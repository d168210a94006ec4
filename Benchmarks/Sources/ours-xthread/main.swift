// Cross-thread submission into this package's loop: THREADS producer threads
// call `handle.submit { }`; each closure bumps a counter on the loop; the last
// one stops it.
//
//   ours-xthread THREADS TOTAL          (same contract as c/xthread.h)
//
// Like the C peers, which pass a function and a pointer to static state, the
// submitted closure reaches its state through globals, so it captures nothing
// and needs no allocation of its own.
import BenchKit
import EventLoop

#if canImport(Glibc)
import Glibc
#endif

/// Touched only by submitted closures, which run on the loop thread.
final class Run: @unchecked Sendable {
    let total: Int
    var ran = 0
    var endNs: UInt64 = 0
    init(total: Int) { self.total = total }
}

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
        barrier.wait()
        for _ in 0..<share { try? handle.submit(job) }
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
emit(crossThreadReport(
    threads: threads, total: total, ran: run.ran, elapsedNs: run.endNs - start, cpuUs: cpu, mallocs: mallocs))
exit(run.ran == total ? 0 : 1)

// Cross-thread submission into this package's loop: THREADS producer threads
// call `handle.submit`; each submission bumps a counter on the loop; the last
// one stops it.
//
//   ours-xthread THREADS TOTAL [capture] [tag|unretained]   (same contract as c/xthread.h)
//   BACKEND=epoll|poll|select|io_uring (default epoll): the loop's backend
//
// Default: like the C peers, which pass a function and a pointer to static
// state, the submitted closure reaches its state through globals, so it
// captures nothing and needs no allocation of its own. `capture`: what user
// code writes, a closure that captures a reference and an index (one context
// allocation per closure; the C peers malloc an item per submission).
// `tag` (with or without `capture`, which the harness passes to every peer
// of the capturing variants): the same work through `submit(tag:_:)`, one
// handler per producer (capturing the reference) and the index as the tag:
// no allocation. `unretained` (a diagnostic): the capturing closure with the
// reference captured `unowned(unsafe)`, so it allocates its context but no
// thread counts references to the shared object; the difference from
// `capture` is what that reference counting costs across threads.
import BenchKit
import EventLoop

#if canImport(Glibc)
import Glibc
#endif

/// Touched only by submitted closures, which run on the loop thread. The
/// counters skip Swift's run-time exclusivity checks (a C peer's `++b->ran`
/// has none), so the job costs what the C peers' does.
final class Run: @unchecked Sendable {
    let total: Int
    @exclusivity(unchecked) var ran = 0
    @exclusivity(unchecked) var indexSum = 0
    @exclusivity(unchecked) var endNs: UInt64 = 0
    init(total: Int) { self.total = total }

    /// A capturing closure's work: use the index, count.
    @inline(never)
    func take(_ index: Int) {
        indexSum &+= index
        job()
    }
}

let usage = "THREADS TOTAL [capture] [tag|unretained]"
let arguments = CommandLine.arguments
let words = Set(arguments.dropFirst(3))
if arguments.count > 5 || !words.isSubset(of: ["capture", "tag", "unretained"]) || words.count != arguments.count - 3 {
    fail("usage: \(arguments[0]) \(usage)", status: 64)
}
let mode = words.contains("tag") ? "tag" : words.contains("unretained") ? "unretained" : words.contains("capture") ? "capture" : "plain"
let (threads, total) = crossThreadArguments()
let backend = environmentChoice("BACKEND", default: LoopBackend.epoll)
let loop: IOLoop
do { loop = try IOLoop(backend: backend) } catch { fail("ours-xthread: \(error)") }
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
        let handler: @Sendable (Int) -> Void = { i in target.take(i) }
        barrier.wait()
        if mode == "unretained" {
            unowned(unsafe) let bare = target
            for i in 0..<share { try? handle.submit { bare.take(i) } }
        } else if mode == "capture" {
            for i in 0..<share { try? handle.submit { target.take(i) } }
        } else if mode == "tag" {
            for i in 0..<share { try? handle.submit(tag: i, handler) }
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
let expectedSum = mode != "plain" ? threads * (share * (share - 1) / 2) : 0
if run.indexSum != expectedSum { fail("ours-xthread: captured indexes sum to \(run.indexSum), expected \(expectedSum)") }
emit(crossThreadReport(
    threads: threads, total: total, ran: run.ran, elapsedNs: run.endNs - start, cpuUs: cpu, mallocs: mallocs))
exit(run.ran == total ? 0 : 1)

// xthread-ab THREADS TOTAL
//
// THREADS producer threads, released together, submit TOTAL closures in all
// (TOTAL / THREADS each) to a running IOLoop through its LoopHandle. Each
// closure captures nothing (as in the suite's xthread workload: a submission
// allocates nothing of its own) and bumps a counter on the loop thread; the
// last one stops the loop. Prints the time from the release to the last
// closure, per closure: `ns_per_closure=12.3`.
import EventLoop
import Glibc

/// Loop-thread counters. `@exclusivity(unchecked)`: the suite's workload
/// skips the run-time exclusivity checks too, so the job costs the same.
final class Run: @unchecked Sendable {
    let total: Int
    let handle: LoopHandle
    @exclusivity(unchecked) var ran = 0
    @exclusivity(unchecked) var end = MonotonicInstant.now()
    init(total: Int, handle: LoopHandle) { (self.total, self.handle) = (total, handle) }
}

@Sendable func job() {
    run.ran += 1
    if run.ran == run.total {
        run.end = MonotonicInstant.now()
        run.handle.stop()
    }
}

/// A thread running `body`, for `pthread_join`.
func spawn(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Body { let run: @Sendable () -> Void; init(_ run: @escaping @Sendable () -> Void) { self.run = run } }
    var thread = pthread_t()
    let context = Unmanaged.passRetained(Body(body)).toOpaque()
    let created = pthread_create(&thread, nil, { context in
        Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
        return nil
    }, context)
    precondition(created == 0, "pthread_create: \(created)")
    return thread
}

/// A pthread barrier that outlives every thread waiting on it (released at exit).
struct Barrier: @unchecked Sendable {
    let barrier: UnsafeMutablePointer<pthread_barrier_t>
    init(parties: Int) {
        barrier = .allocate(capacity: 1)
        precondition(pthread_barrier_init(barrier, nil, UInt32(parties)) == 0)
    }
    func wait() { _ = pthread_barrier_wait(barrier) }
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
guard arguments.count == 2, arguments[0] >= 1, arguments[1] % arguments[0] == 0 else {
    print("usage: xthread-ab THREADS TOTAL (TOTAL a multiple of THREADS)")
    exit(64)
}
let (threads, total) = (arguments[0], arguments[1])
let loop = try IOLoop()
let handle = loop.handle
let run = Run(total: total, handle: handle)
let barrier = Barrier(parties: threads + 1)
let producers = (0..<threads).map { _ in
    spawn {
        barrier.wait()
        for _ in 0..<(total / threads) { try? handle.submit(job) }
    }
}
barrier.wait()
let start = MonotonicInstant.now()
try loop.run()
for producer in producers { pthread_join(producer, nil) }
precondition(run.ran == total, "ran \(run.ran) of \(total)")
let elapsed = (run.end - start).components
let nanoseconds = Double(elapsed.seconds) * 1e9 + Double(elapsed.attoseconds) / 1e9
print("ns_per_closure=\(nanoseconds / Double(total))")

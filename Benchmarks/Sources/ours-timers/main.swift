// Timers on this package's loop: schedule N one-shot timers at the shared
// pseudo-random deadlines, cancel every other one, run the loop until the
// rest have fired, and check they fired in deadline order.
//
//   ours-timers N SEED [tag|closure]          (same contract and RESULT line as c/timers.h)
//
// `tag` (default), like libev's ev_timer (a callback and the watcher's own
// data): every timer shares one handler and carries its index as a tag
// (`schedule(at:tag:_:)`, no allocation per timer). `closure`: what most code
// writes, `schedule(at:_:)` with a closure that captures a reference and the
// index (one context allocation per timer). Both keep the TimerIDs (8 bytes
// each) to cancel with.
import BenchKit
import EventLoop

#if canImport(Glibc)
import Glibc
#endif

let usage = "N SEED [tag|closure]"
let numbers = integerArguments(2, usage: usage)
let arguments = CommandLine.arguments
if arguments.count > 4 || (arguments.count == 4 && !["tag", "closure"].contains(arguments[3])) {
    fail("usage: \(arguments[0]) \(usage)", status: 64)
}
let useClosures = arguments.count == 4 && arguments[3] == "closure"
let deadlines = timerDeadlines(count: numbers[0], seed: UInt64(numbers[1]))
let count = deadlines.count
let expected = count - count / 2

/// The run's bookkeeping. Loop thread only.
final class TimerRun {
    var fired = 0
    var lastFired: UInt32 = 0
    var orderOK = true
    var cancelledFired = false
    var base: Int64 = 0
    var lateNs: Int64 = 0
    var loop: IOLoop?

    /// Timer i fired.
    func fire(_ i: Int) {
        let deadline = deadlines[i]
        if i & 1 == 1 { cancelledFired = true }
        if deadline < lastFired { orderOK = false }
        lastFired = deadline
        fired += 1
        if fired == expected {
            lateNs = Int64(bench_now_ns()) - base - Int64(deadline) * 1_000
            loop?.stop()
        }
    }
}

do {
    let loop = try IOLoop()
    let run = TimerRun()
    run.loop = loop
    var ids: [TimerID] = []
    ids.reserveCapacity(count)
    let handler: (Int) throws -> Void = { i in run.fire(i) }
    let cpu0 = bench_cpu_us()
    let mallocs0 = bench_mallocs()
    let t0 = bench_now_ns()
    let base = MonotonicInstant.now().nanoseconds
    run.base = base
    if useClosures {
        for i in 0..<count {
            let at = MonotonicInstant(nanoseconds: base + Int64(deadlines[i]) * 1_000)
            ids.append(try loop.schedule(at: at) { run.fire(i) }.id)
        }
    } else {
        for i in 0..<count {
            let at = MonotonicInstant(nanoseconds: base + Int64(deadlines[i]) * 1_000)
            ids.append(try loop.schedule(at: at, tag: i, handler).id)
        }
    }
    let t1 = bench_now_ns()
    for i in stride(from: 1, to: count, by: 2) { loop.cancelTimer(ids[i]) }
    let t2 = bench_now_ns()
    let iterations0 = loop.metrics.iterations
    if expected > 0 { try loop.run() }
    let t3 = bench_now_ns()
    let cpu = bench_cpu_us() - cpu0
    let mallocs = bench_mallocs() - mallocs0
    let ok = run.orderOK && !run.cancelledFired && run.fired == expected
    emit("RESULT n=\(count)"
        + " schedule_ns=\(fixed1(Double(t1 - t0) / Double(max(count, 1))))"
        + " cancel_ns=\(fixed1(Double(t2 - t1) / Double(max(count / 2, 1))))"
        + " fired=\(run.fired) order_ok=\(ok ? 1 : 0)"
        + " run_ms=\(fixed1(Double(t3 - t2) / 1e6)) late_us=\(fixed1(Double(run.lateNs) / 1e3))"
        + " cpu_us=\(cpu) maxrss_kb=\(bench_maxrss_kb()) mallocs=\(mallocs)"
        + " iterations=\(loop.metrics.iterations - iterations0)")
    exit(ok ? 0 : 1)
} catch {
    fail("ours-timers: \(error)")
}

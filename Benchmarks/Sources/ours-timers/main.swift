// Timers on this package's loop: schedule N one-shot timers at the shared
// pseudo-random deadlines, cancel every other one, run the loop until the
// rest have fired, and check they fired in deadline order.
//
//   ours-timers N SEED [tag|closure] [repeat|rearm]          (same contract and RESULT line as c/timers.h)
//   BACKEND=epoll|poll|select|io_uring (default epoll): the loop's backend
//
// `tag` (default), like libev's ev_timer (a callback and the watcher's own
// data): every timer shares one handler and carries its index as a tag
// (`schedule(at:tag:_:)`, no allocation per timer). `closure`: what most code
// writes, `schedule(at:_:)` with a closure that captures a reference and the
// index (one context allocation per timer). Both keep the TimerIDs (8 bytes
// each) to cancel with.
//
// `repeat` (closures: repeating timers take one): the N/2 timers that the
// one-shot run keeps, as `scheduleRepeating(every: 1 s)` from the same
// deadlines, none cancelled, run until each has fired twice (N firings over
// 2 s; the order check is the loop's own tests' job here): fire_cpu_ns, the
// CPU per firing, compares with the one-shot runs' (schedule_ns is per
// repeating timer, cancel_ns is 0). `rearm`: the same periodic timers written
// with one-shot closures, each firing scheduling the next period's
// (`schedule(at:_:)` from its callback): what `repeat` saves a program.
import BenchKit
import EventLoop

#if canImport(Glibc)
import Glibc
#endif

let usage = "N SEED [tag|closure] [repeat|rearm]"
let numbers = integerArguments(2, usage: usage)
let arguments = CommandLine.arguments
let words = Set(arguments.dropFirst(3))
if arguments.count > 5 || !words.isSubset(of: ["tag", "closure", "repeat", "rearm"]) || words.count != arguments.count - 3
    || words.isSuperset(of: ["tag", "closure"]) || words.isSuperset(of: ["repeat", "rearm"])
{
    fail("usage: \(arguments[0]) \(usage)", status: 64)
}
let rearming = words.contains("rearm")
let repeating = words.contains("repeat") || rearming
let useClosures = words.contains("closure")
let backend = environmentChoice("BACKEND", default: LoopBackend.epoll)
let deadlines = timerDeadlines(count: numbers[0], seed: UInt64(numbers[1]))
let count = deadlines.count
let expected = repeating ? 2 * (count - count / 2) : count - count / 2

/// The run's bookkeeping. Loop thread only.
final class TimerRun {
    var fired = 0
    var lastFired: UInt32 = 0
    var orderOK = true
    var cancelledFired = false
    var base: Int64 = 0
    var lateNs: Int64 = 0
    var loop: IOLoop?
    /// Repeating runs: how often each timer fired.
    var rounds: [UInt8] = []
    var timersDone = 0
    /// Rearming runs: arms timer i's one-shot for period `round`; the ids, to cancel at the end.
    var arm: ((Int, Int) -> Void)?
    var armed: [TimerID?] = []

    /// Rearming timer i fired in period `round`: arm the next period, as a repeating timer does.
    func fireRearming(_ i: Int, _ round: Int) {
        arm?(i, round + 1)
        fireRepeating(i)
    }

    /// Timer i fired.
    func fire(_ i: Int) {
        let deadline = deadlines[i]
        if i & 1 == 1 { cancelledFired = true }
        if deadline < lastFired { orderOK = false }
        lastFired = deadline
        fired += 1
        if fired == expected { finish(deadlineMicroseconds: Int64(deadline)) }
    }

    /// Repeating timer i fired: its second firing (at deadline + 1 s) ends
    /// its part. (A loaded machine may make a timer skip a missed period;
    /// every firing counts for the CPU per firing.)
    func fireRepeating(_ i: Int) {
        let round = rounds[i]
        if round < 2 { rounds[i] = round + 1 }
        if i & 1 == 1 { cancelledFired = true }
        fired += 1
        if round == 1 {
            timersDone += 1
            if timersDone == count - count / 2 { finish(deadlineMicroseconds: Int64(deadlines[i]) + 1_000_000) }
        }
    }

    private func finish(deadlineMicroseconds: Int64) {
        lateNs = Int64(bench_now_ns()) - base - deadlineMicroseconds * 1_000
        loop?.stop()
    }
}

do {
    let loop = try IOLoop(backend: backend)
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
    if rearming {
        run.rounds = [UInt8](repeating: 0, count: count)
        run.armed = [TimerID?](repeating: nil, count: count / 2 + 1)
        run.arm = { i, round in
            let at = MonotonicInstant(nanoseconds: base + (Int64(deadlines[i]) + Int64(round) * 1_000_000) * 1_000)
            run.armed[i / 2] = try? loop.schedule(at: at) { run.fireRearming(i, round) }.id
        }
        for i in stride(from: 0, to: count, by: 2) { run.arm?(i, 0) }
    } else if repeating {
        run.rounds = [UInt8](repeating: 0, count: count)
        for i in stride(from: 0, to: count, by: 2) {
            let first = base + Int64(deadlines[i]) * 1_000 - MonotonicInstant.now().nanoseconds
            ids.append(try loop.scheduleRepeating(every: .seconds(1), after: .nanoseconds(first)) {
                run.fireRepeating(i)
            }.id)
        }
    } else if useClosures {
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
    if !repeating { for i in stride(from: 1, to: count, by: 2) { loop.cancelTimer(ids[i]) } }
    let t2 = bench_now_ns()
    let cpu2 = bench_cpu_us()
    let iterations0 = loop.metrics.iterations
    if expected > 0 { try loop.run() }
    let t3 = bench_now_ns()
    let cpu3 = bench_cpu_us()
    let cpu = cpu3 - cpu0
    let mallocs = bench_mallocs() - mallocs0
    if repeating { for id in ids { loop.cancelTimer(id) } }
    if rearming { for case let id? in run.armed { loop.cancelTimer(id) } }
    run.arm = nil
    let ok = run.orderOK && !run.cancelledFired && (repeating ? run.fired >= expected : run.fired == expected)
    let scheduled = repeating ? count - count / 2 : count
    emit("RESULT n=\(count)"
        + " schedule_ns=\(fixed1(Double(t1 - t0) / Double(max(scheduled, 1))))"
        + " cancel_ns=\(repeating ? "0.0" : fixed1(Double(t2 - t1) / Double(max(count / 2, 1))))"
        + " fired=\(run.fired) order_ok=\(ok ? 1 : 0)"
        + " run_ms=\(fixed1(Double(t3 - t2) / 1e6)) late_us=\(fixed1(Double(run.lateNs) / 1e3))"
        + " fire_cpu_ns=\(fixed1(Double(cpu3 - cpu2) * 1e3 / Double(max(run.fired, 1))))"
        + " cpu_us=\(cpu) maxrss_kb=\(bench_maxrss_kb()) mallocs=\(mallocs)"
        + " iterations=\(loop.metrics.iterations - iterations0)")
    exit(ok ? 0 : 1)
} catch {
    fail("ours-timers: \(error)")
}

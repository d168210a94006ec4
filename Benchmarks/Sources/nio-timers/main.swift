// Timers on SwiftNIO: one MultiThreadedEventLoopGroup thread; everything
// runs on that loop (schedule, cancel, fire), through `assumeIsolated()` so
// no cross-thread hop is measured.
//
//   nio-timers N SEED [task|callback]
//
// `task` (default): `scheduleTask(deadline:)` and `Scheduled.cancel()`, the
// API most NIO code uses (each timer carries a promise). `callback`:
// `scheduleCallback(at:handler:)` and `NIOScheduledCallback.cancel()`, the
// lighter API added in NIO 2.75. Same work and output as c/timers.h.
//
// Note: in NIO 2.101 both cancels find the timer by a linear scan of the
// timer heap (`PriorityQueue.removeFirst(where:)`), so a cancel costs O(n).
import BenchKit
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

let usage = "N SEED [task|callback]"
let numbers = integerArguments(2, usage: usage)
let args = CommandLine.arguments
if args.count > 3 && !["task", "callback"].contains(args[3]) {
    fail("usage: \(args[0]) \(usage)", status: 64)
}
let useCallbacks = args.count > 3 && args[3] == "callback"
let deadlines = timerDeadlines(count: numbers[0], seed: UInt64(numbers[1]))

/// The run's bookkeeping. Loop thread only.
final class TimerRun {
    let deadlines: [UInt32]
    let expected: Int
    let done: EventLoopPromise<String>
    var fired = 0
    var lastFired: UInt32 = 0
    var orderOK = true
    var cancelledFired = false
    var marks: [UInt64] = []
    var cpu0: UInt64 = 0
    var mallocs0: UInt64 = 0

    init(deadlines: [UInt32], done: EventLoopPromise<String>) {
        self.deadlines = deadlines
        self.expected = deadlines.count - deadlines.count / 2
        self.done = done
        marks.reserveCapacity(3)
    }

    func mark() {
        if marks.isEmpty {
            cpu0 = bench_cpu_us()
            mallocs0 = bench_mallocs()
        }
        marks.append(bench_now_ns())
    }

    func fire(_ i: Int) {
        if i & 1 == 1 { cancelledFired = true }
        let d = deadlines[i]
        if d < lastFired { orderOK = false }
        lastFired = d
        fired += 1
        if fired == expected { finish() }
    }

    func finish() {
        let t3 = bench_now_ns()
        let cpu = bench_cpu_us() - cpu0
        let mallocs = bench_mallocs() - mallocs0
        let count = deadlines.count
        let cancelled = count / 2
        let ok = orderOK && !cancelledFired && fired == expected
        let line =
            "RESULT n=\(count)"
            + " schedule_ns=\(fixed1(Double(marks[1] - marks[0]) / Double(max(count, 1))))"
            + " cancel_ns=\(fixed1(Double(marks[2] - marks[1]) / Double(max(cancelled, 1))))"
            + " fired=\(fired) order_ok=\(ok ? 1 : 0)"
            + " run_ms=\(fixed1(Double(t3 - marks[2]) / 1e6))"
            + " cpu_us=\(cpu) maxrss_kb=\(bench_maxrss_kb()) mallocs=\(mallocs)"
        done.succeed(line)
    }
}

struct FireTimer: NIOScheduledCallbackHandler {
    let run: TimerRun
    let index: Int
    func handleScheduledCallback(eventLoop: some EventLoop) { run.fire(index) }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
let done = loop.makePromise(of: String.self)
loop.execute {
    let isolated = loop.assumeIsolated()
    let run = TimerRun(deadlines: deadlines, done: done)
    let count = deadlines.count
    if useCallbacks {
        var handles: [NIOScheduledCallback] = []
        handles.reserveCapacity(count)
        run.mark()
        let base = NIODeadline.now()
        for i in 0..<count {
            let at = base + .microseconds(Int64(deadlines[i]))
            handles.append(try! isolated.scheduleCallback(at: at, handler: FireTimer(run: run, index: i)))
        }
        run.mark()
        for i in stride(from: 1, to: count, by: 2) { handles[i].cancel() }
        run.mark()
    } else {
        var handles: [Scheduled<Void>] = []
        handles.reserveCapacity(count)
        run.mark()
        let base = NIODeadline.now()
        for i in 0..<count {
            let at = base + .microseconds(Int64(deadlines[i]))
            handles.append(isolated.scheduleTask(deadline: at) { run.fire(i) })
        }
        run.mark()
        for i in stride(from: 1, to: count, by: 2) { handles[i].cancel() }
        run.mark()
    }
    if run.expected == 0 { run.finish() }
}
let line = try done.futureResult.wait()
emit(line)
try group.syncShutdownGracefully()
exit(line.contains(" order_ok=1 ") ? 0 : 1)

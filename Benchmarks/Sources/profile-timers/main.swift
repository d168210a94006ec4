// Per-operation instruction counts of this package's timers, for callgrind:
// the same work as ours-timers (N timers at pseudo-random deadlines over 1 s,
// every other one cancelled, the rest fired), on a ManualClock moved in 1 ms
// steps, so every run executes the same instructions and the batches are
// those of a real 1 s run (about N/2000 timers each). The phases are
// separated by calls to `profileMark()` for `--dump-before`:
//
//   valgrind --tool=callgrind --dump-before='$s14profile_timers0A4MarkyyF' \
//       profile-timers N tag|closure|repeat
//
// BACKEND=epoll|poll|select|io_uring (default epoll): the loop's backend.
//
// part 2: N schedules; part 3: N/2 cancels (none for repeat); part 4: the
// firings (N/2, or for repeat N firings: the N/2 kept timers as
// scheduleRepeating(every: 1 s), each firing twice over 2 s of steps),
// including each step's loop iteration. Not run by the harness:
// harness/callgrind.py runs it.
import BenchKit
import EventLoop

/// A call callgrind can split the run at (kept out of line, and not optimized away).
@_optimize(none) @inline(never)
func profileMark() {}

/// Loop thread only.
final class Sink {
    var sum = 0
}

func profile() throws {
    let numbers = integerArguments(1, usage: "N tag|closure|repeat")
    let arguments = CommandLine.arguments
    guard arguments.count == 3, ["tag", "closure", "repeat"].contains(arguments[2]) else {
        fail("usage: \(arguments[0]) N tag|closure|repeat", status: 64)
    }
    let mode = arguments[2]
    let backend = environmentChoice("BACKEND", default: LoopBackend.epoll)
    let deadlines = timerDeadlines(count: numbers[0], seed: 42)
    let count = deadlines.count
    let clock = ManualClock(start: MonotonicInstant(nanoseconds: 1_000_000_000))
    let loop = try IOLoop(backend: backend, clock: .manual(clock))
    let base = clock.now.nanoseconds
    let sink = Sink()
    let handler: (Int) throws -> Void = { i in sink.sum &+= i }
    var ids: [TimerID] = []
    ids.reserveCapacity(count)
    profileMark() // part 2: schedule
    switch mode {
    case "tag":
        for i in 0..<count {
            ids.append(try loop.schedule(at: MonotonicInstant(nanoseconds: base + Int64(deadlines[i]) * 1_000), tag: i, handler).id)
        }
    case "closure":
        for i in 0..<count {
            ids.append(try loop.schedule(at: MonotonicInstant(nanoseconds: base + Int64(deadlines[i]) * 1_000)) { sink.sum &+= i }.id)
        }
    default:
        for i in stride(from: 0, to: count, by: 2) {
            ids.append(try loop.scheduleRepeating(every: .seconds(1), after: .microseconds(deadlines[i])) { sink.sum &+= i }.id)
        }
    }
    profileMark() // part 3: cancel every other one
    if mode != "repeat" { for i in stride(from: 1, to: count, by: 2) { loop.cancelTimer(ids[i]) } }
    profileMark() // part 4: fire, in 1 ms steps
    for _ in 0..<(mode == "repeat" ? 2_000 : 1_000) { clock.advance(by: .milliseconds(1)) }
    profileMark() // part 5: the end
    emit("RESULT n=\(count) mode=\(mode) sum=\(sink.sum) active=\(loop.metrics.activeTimers)")
}

do { try profile() } catch { fail("profile-timers: \(error)") }

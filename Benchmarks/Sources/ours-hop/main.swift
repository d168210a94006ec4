// Task hop on this package's loop executor: two tasks on the loop pass a
// counter back and forth through checked continuations, HOPS times in all.
// Each hop resumes the other task, which the loop runs next (no thread hop:
// both tasks prefer the loop's executor).
//
//   ours-hop HOPS
//   BACKEND=epoll|poll|select|io_uring (default epoll): the loop's backend
//
// Prints `RESULT hops=* ns_per_hop=* cpu_us=* mallocs=*`.
import BenchKit
import EventLoop

let hops = integerArguments(1, usage: "HOPS")[0]
let backend = environmentChoice("BACKEND", default: LoopBackend.epoll)

do {
    let loop = try IOLoop(backend: backend)
    let (nanoseconds, cpu, mallocs) = try loop.run { executor in
        let pingPong = PingPong()
        let start = bench_now_ns()
        let cpu0 = bench_cpu_us()
        let mallocs0 = bench_mallocs()
        async let other: Void = Task(executorPreference: executor) { await pingPong.play(as: 1, until: hops) }.value
        await pingPong.play(as: 0, until: hops)
        await other
        return (bench_now_ns() - start, bench_cpu_us() - cpu0, bench_mallocs() - mallocs0)
    }
    emit("RESULT hops=\(hops) ns_per_hop=\(fixed1(Double(nanoseconds) / Double(hops))) cpu_us=\(cpu) mallocs=\(mallocs)")
} catch {
    fail("ours-hop: \(error)")
}

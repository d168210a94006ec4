// Task hop on Swift's default global executor: two tasks pass a counter back
// and forth through checked continuations, HOPS times in all.
//
//   global-hop HOPS
//
// Prints `RESULT hops=* ns_per_hop=* cpu_us=* mallocs=*`.
import BenchKit

let hops = integerArguments(1, usage: "HOPS")[0]
let pingPong = PingPong()
let start = bench_now_ns()
let cpu0 = bench_cpu_us()
let mallocs0 = bench_mallocs()
let other = Task.detached { await pingPong.play(as: 1, until: hops) }
await pingPong.play(as: 0, until: hops)
await other.value
emit("RESULT hops=\(hops) ns_per_hop=\(fixed1(Double(bench_now_ns() - start) / Double(hops))) cpu_us=\(bench_cpu_us() - cpu0) mallocs=\(bench_mallocs() - mallocs0)")

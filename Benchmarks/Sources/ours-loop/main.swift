// Loop overhead on this package's loop, the libevent benchmark's shape: a
// watcher on the read end of every socketpair; each read event reads its
// token and writes one to the next pair, until EVENTS events have fired.
//
//   ours-loop PAIRS ACTIVE EVENTS          (same contract as c/loop.h)
//   BACKEND=epoll|poll|select|io_uring (default epoll): the loop's backend
import BenchKit
import EventLoop

#if canImport(Glibc)
import Glibc
#endif

/// The token ring. Loop thread only.
final class Ring {
    var fired = 0
    var writes: Int
    init(writes: Int) { self.writes = writes }
}

let workload = LoopWorkload()
let backend = environmentChoice("BACKEND", default: LoopBackend.epoll)
do {
    let loop = try IOLoop(backend: backend)
    let ring = Ring(writes: workload.events - workload.active)
    let descriptors = workload.descriptors
    let token = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
    token[0] = 0x65
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
    let events = workload.events
    var startNs: UInt64 = 0
    var cpu0: UInt64 = 0
    var mallocs0: UInt64 = 0
    for (index, pair) in descriptors.enumerated() {
        let reader = Descriptor(pair.read)
        let next = Descriptor(descriptors[index + 1 == descriptors.count ? 0 : index + 1].write)
        try loop.watch(reader) { _ in
            guard case .completed(1) = try reader.read(into: buffer) else { return }
            if ring.writes > 0 {
                ring.writes -= 1
                _ = try next.write(UnsafeRawBufferPointer(token))
            }
            ring.fired += 1
            if ring.fired == events { loop.stop() }
        }
    }
    cpu0 = bench_cpu_us()
    mallocs0 = bench_mallocs()
    startNs = bench_now_ns()
    for i in workload.tokenPairs { _ = try Descriptor(descriptors[i].write).write(UnsafeRawBufferPointer(token)) }
    try loop.run()
    let elapsed = bench_now_ns() - startNs
    emit(workload.report(
        fired: ring.fired, elapsedNs: elapsed, cpuUs: bench_cpu_us() - cpu0, mallocs: bench_mallocs() - mallocs0))
    exit(ring.fired == events ? 0 : 1)
} catch {
    fail("ours-loop: \(error)")
}

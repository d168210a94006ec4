// Swift helpers shared by the Swift benchmark programs (nio-*, later ours-*):
// argument parsing, the RESULT line, and the workloads' common inputs. The
// clocks and the malloc counter are C (BenchSupport), shared with the C peers.
@_exported import BenchSupport

#if canImport(Glibc)
import Glibc
#endif

/// Writes `line` and a newline to stdout, unbuffered (write(2)).
public func emit(_ line: String) {
    var text = line
    text.append("\n")
    text.withUTF8 { bytes in
        bytes.withMemoryRebound(to: CChar.self) { bench_emit($0.baseAddress, UInt(bytes.count)) }
    }
}

/// Prints `message` to stderr and exits with `status` (64: usage, 2: failure).
public func fail(_ message: String, status: Int32 = 2) -> Never {
    var text = message
    text.append("\n")
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    exit(status)
}

/// The integer command-line arguments at positions 1...count, or a usage error.
public func integerArguments(_ count: Int, usage: String) -> [Int] {
    let args = CommandLine.arguments
    guard args.count > count else { fail("usage: \(args[0]) \(usage)", status: 64) }
    return (1...count).map { i in
        guard let v = Int(args[i]), v >= 0 else { fail("usage: \(args[0]) \(usage)", status: 64) }
        return v
    }
}

/// The environment variable `name`, or nil when it is unset.
public func environmentValue(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// The environment variable `name` as one of `T`'s raw values (`BACKEND=io_uring`
/// for a `LoopBackend`), `defaultValue` when it is unset or empty, or a usage
/// error (exit 64) naming the values it takes.
public func environmentChoice<T: RawRepresentable & CaseIterable>(_ name: String, default defaultValue: T) -> T
where T.RawValue == String {
    guard let text = environmentValue(name), !text.isEmpty else { return defaultValue }
    guard let value = T(rawValue: text) else {
        fail("\(CommandLine.arguments[0]): \(name)=\(text): expected one of "
             + T.allCases.map(\.rawValue).joined(separator: ", "), status: 64)
    }
    return value
}

/// `x` with one decimal place, like C's "%.1f" (for the RESULT lines).
public func fixed1(_ x: Double) -> String {
    let tenths = Int((x * 10).rounded())
    let sign = tenths < 0 ? "-" : ""
    return "\(sign)\(abs(tenths) / 10).\(abs(tenths) % 10)"
}

/// Timer i's deadline in microseconds in [0, 1 s): xorshift64 from `seed`,
/// the same sequence as the C peers (c/common.h, timer_deadlines_us).
public func timerDeadlines(count: Int, seed: UInt64) -> [UInt32] {
    var state: UInt64 = seed == 0 ? 1 : seed
    return (0..<count).map { _ in UInt32(bench_xorshift64(&state) % 1_000_000) }
}

/// Raises the soft descriptor limit to the hard one (C: bench_raise_nofile).
public func raiseDescriptorLimit() { bench_raise_nofile() }

/// The echo servers' exit line (README, "Program interface").
public func echoServerReport(connectionsServed: Int, bytes: Int) -> String {
    "RESULT conns_served=\(connectionsServed) bytes=\(bytes) cpu_us=\(bench_cpu_us())"
        + " maxrss_kb=\(bench_maxrss_kb()) mallocs=\(bench_mallocs())"
}

// MARK: - Threads for the cross-thread workload

/// Holds a thread's body until the thread starts.
private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// Starts a joinable POSIX thread running `body`; join it with `joinThread`.
public func spawnThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    var tid = pthread_t()
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    let rc = pthread_create(&tid, nil, { context in
        Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
        return nil
    }, context)
    if rc != 0 { fail("pthread_create: error \(rc)") }
    return tid
}

public func joinThread(_ tid: pthread_t) {
    _ = pthread_join(tid, nil)
}

/// A one-shot pthread barrier: `parties` threads call `wait()`, and all
/// return once the last has arrived. Any thread; the barrier lives until
/// the object is released.
public final class StartBarrier: @unchecked Sendable {
    private let barrier: UnsafeMutablePointer<pthread_barrier_t> // only used through pthread calls

    public init(parties: Int) {
        barrier = .allocate(capacity: 1)
        if pthread_barrier_init(barrier, nil, UInt32(parties)) != 0 { fail("pthread_barrier_init") }
    }

    public func wait() { _ = pthread_barrier_wait(barrier) }

    deinit {
        pthread_barrier_destroy(barrier)
        barrier.deallocate()
    }
}

/// The cross-thread workload's arguments, THREADS TOTAL (TOTAL a multiple of THREADS).
public func crossThreadArguments() -> (threads: Int, total: Int) {
    let usage = "THREADS TOTAL (TOTAL a multiple of THREADS)"
    let v = integerArguments(2, usage: usage)
    guard v[0] >= 1, v[1] >= v[0], v[1] % v[0] == 0 else {
        fail("usage: \(CommandLine.arguments[0]) \(usage)", status: 64)
    }
    return (v[0], v[1])
}

/// The cross-thread workload's RESULT line (same fields as c/xthread.h).
public func crossThreadReport(
    threads: Int, total: Int, ran: Int, elapsedNs: UInt64, cpuUs: UInt64, mallocs: UInt64
) -> String {
    "RESULT threads=\(threads) total=\(total) ran=\(ran)"
        + " ns_per_op=\(fixed1(Double(elapsedNs) / Double(total)))"
        + " elapsed_ms=\(fixed1(Double(elapsedNs) / 1e6)) cpu_us=\(cpuUs) mallocs=\(mallocs)"
}

// MARK: - The loop-overhead workload

/// The loop workload's arguments and socketpairs (same contract as c/loop.h):
/// PAIRS non-blocking, close-on-exec AF_UNIX stream socketpairs; the loop
/// reads end `.read` of pair i, and pair i's tokens are written to end `.write`.
public struct LoopWorkload: Sendable {
    public let pairs: Int
    public let active: Int
    public let events: Int
    public let descriptors: [(read: Int32, write: Int32)]

    /// Parses PAIRS ACTIVE EVENTS and opens the socketpairs (exits on error).
    public init() {
        let usage = "PAIRS ACTIVE EVENTS (1 <= ACTIVE <= PAIRS, ACTIVE <= EVENTS)"
        let v = integerArguments(3, usage: usage)
        guard v[1] >= 1, v[1] <= v[0], v[2] >= v[1] else {
            fail("usage: \(CommandLine.arguments[0]) \(usage)", status: 64)
        }
        (pairs, active, events) = (v[0], v[1], v[2])
        raiseDescriptorLimit()
        descriptors = (0..<v[0]).map { _ in
            var fds: [Int32] = [-1, -1]
            let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                | Int32(SOCK_CLOEXEC.rawValue)
            if socketpair(AF_UNIX, type, 0, &fds) != 0 { fail("socketpair: errno \(errno)") }
            return (fds[0], fds[1])
        }
    }

    /// The pairs that receive the initial tokens: i * (PAIRS / ACTIVE).
    public var tokenPairs: [Int] { (0..<active).map { $0 * (pairs / active) } }

    /// The RESULT line (`fired` read events handled).
    public func report(fired: Int, elapsedNs: UInt64, cpuUs: UInt64, mallocs: UInt64) -> String {
        "RESULT pairs=\(pairs) active=\(active) events=\(fired)"
            + " ns_per_event=\(fixed1(Double(elapsedNs) / Double(max(fired, 1))))"
            + " elapsed_ms=\(fixed1(Double(elapsedNs) / 1e6)) cpu_us=\(cpuUs) mallocs=\(mallocs)"
    }
}

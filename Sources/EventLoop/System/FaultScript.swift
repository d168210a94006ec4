import CEventShim
import Synchronization

/// Scripts the results of this package's system calls for a test, and records
/// each call made: fault injection for code built on the package.
///
/// Add rules with `inject(_:into:descriptor:when:)`, then run the code under
/// test inside `run { ... }`. While it runs, every call the package makes (see
/// `SystemCall`) is checked against the rules in the order they were added:
/// every rule naming the call (and, if it names one, the descriptor) counts
/// it, and the first rule whose `When` matches decides what the call returns:
/// an errno, a shortened byte count, or the kernel's own answer. Calls no rule
/// decides go to the kernel. Each call and its result lands in `trace`.
///
/// Scope: the script is active in the task (or thread) running `run`, and in
/// the child tasks it starts, through a task-local value: tests running in
/// parallel never see each other's scripts. An `IOLoop` created inside `run`
/// takes the script along: its `run()` and `runOnce()` apply it on whichever
/// thread drives the loop. Why a task-local: Swift Testing runs tests as
/// parallel tasks that may move between threads at each `await`, so a
/// thread-local scope would leak into other tests and lose its own.
///
/// Cost when unused: every system call first reads a process-wide count of
/// active scripts (one relaxed atomic load) and, while it is 0, goes straight
/// to the kernel. While any script is active anywhere, other tasks' calls also
/// look up their (absent) script, which is slower but changes nothing.
///
/// An injected `EINTR` is retried by the package like a real one, so a rule
/// that fails every call with it makes the call retry forever: use `.nth` or
/// `.first` with `EINTR`. Any thread; the script is `Sendable` and locked.
public final class FaultScript: Sendable {
    /// What a scripted call returns.
    public enum Fault: Sendable, Hashable {
        /// Fail with this errno, without calling the kernel.
        case fail(ErrnoCode)
        /// Call the kernel with at most this many bytes (>= 1): a partial read or write.
        case shortCount(Int)
        /// Call the kernel unchanged (shields the call from later rules).
        case passThrough
    }

    /// Which of the calls a rule counts it applies to.
    public enum When: Sendable, Hashable {
        /// Every call.
        case always
        /// Only the nth call (1-based) the rule counts.
        case nth(Int)
        /// The first n calls the rule counts.
        case first(Int)
        /// Each call with this probability (0...1), drawn from the script's seeded generator.
        case random(probability: Double)
    }

    /// One system call made while the script was active.
    public struct Record: Sendable, Hashable, CustomStringConvertible {
        /// Which call.
        public let call: SystemCall
        /// The descriptor it acted on; nil for calls that make one (`socket`, `pipe2`…).
        public let descriptor: Descriptor?
        /// What it returned: a count or a new descriptor (>= 0), or -errno.
        public let result: Int
        /// Whether a rule changed it (an errno or a short count).
        public let injected: Bool

        /// The errno it failed with, or nil when it succeeded.
        public var errno: ErrnoCode? { result < 0 ? ErrnoCode(rawValue: Int32(truncatingIfNeeded: -result)) : nil }

        /// Reads like `read(fd 7) = 3` or `accept4(fd 5) = EMFILE (injected)`.
        public var description: String {
            let target = descriptor.map { "(\($0))" } ?? "()"
            let value = errno.map(\.name) ?? "\(result)"
            return "\(call)\(target) = \(value)\(injected ? " (injected)" : "")"
        }
    }

    private struct Rule {
        let fault: Fault
        let call: SystemCall
        let descriptor: Int32?
        let when: When
        var seen = 0
    }

    private struct State {
        var rules: [Rule] = []
        var trace: [Record] = []
        var random: UInt64
    }

    private let state: Mutex<State>

    /// A script with no rules. `seed` drives `When.random` (same seed, same
    /// calls, same choices).
    public init(seed: UInt64 = 0x9E37_79B9_7F4A_7C15) {
        state = Mutex(State(random: seed == 0 ? 1 : seed))
    }

    /// Adds a rule: `fault` for calls of `call` (on `descriptor` only, if
    /// given) selected by `when`. Rules added later are consulted after it.
    /// - Throws: `ArgumentError` for a `shortCount` below 1 or on a call that
    ///   moves no bytes, an `nth`/`first` below 1, or a probability outside 0...1.
    public func inject(
        _ fault: Fault, into call: SystemCall, descriptor: Descriptor? = nil, when: When = .always
    ) throws(ArgumentError) {
        let operation = "FaultScript.inject(into: \(call))"
        if case .shortCount(let count) = fault {
            try ArgumentError.checkCount(count, "shortCount", in: operation, minimum: 1)
            guard call.takesByteCount else {
                throw ArgumentError(operation, argument: "shortCount", requirement: "needs a call that moves bytes (read, write, send, recv, sendto, recvfrom)")
            }
        }
        switch when {
        case .nth(let n), .first(let n): try ArgumentError.checkCount(n, "when", in: operation, minimum: 1)
        case .random(let p) where !(0...1).contains(p):
            throw ArgumentError(operation, argument: "probability \(p)", requirement: "must be within 0...1")
        default: break
        }
        state.withLock { $0.rules.append(Rule(fault: fault, call: call, descriptor: descriptor?.rawValue, when: when)) }
    }

    /// Drops every rule; the trace stays.
    public func removeAllRules() { state.withLock { $0.rules.removeAll() } }

    /// Every call made while the script was active, in the order they returned.
    public var trace: [Record] { state.withLock { $0.trace } }

    /// The trace's records of one call.
    public func records(of call: SystemCall) -> [Record] { trace.filter { $0.call == call } }

    /// Empties the trace.
    public func clearTrace() { state.withLock { $0.trace.removeAll() } }

    /// Runs `body` with this script active (see the type's scope rules).
    public func run<R>(_ body: () throws -> R) rethrows -> R {
        cevent_fault_arm(1)
        defer { cevent_fault_arm(-1) }
        return try FaultScript.$active.withValue(self, operation: body)
    }

    /// Runs async `body` with this script active in its task and its child tasks.
    public func run<R>(
        isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> R
    ) async rethrows -> R {
        cevent_fault_arm(1)
        defer { cevent_fault_arm(-1) }
        return try await FaultScript.$active.withValue(self, operation: body, isolation: isolation)
    }

    /// The script active here, if any.
    public static var current: FaultScript? { cevent_fault_armed() == 0 ? nil : effective }

    @TaskLocal private static var active: FaultScript?

    /// Whether any script is active anywhere in the process (one relaxed load).
    /// Code that trusts the kernel's short counts as a sign of a drained
    /// socket checks it: a scripted short count drains nothing.
    static var isArmed: Bool { cevent_fault_armed() != 0 }

    /// Runs `body` with `script` active on this thread, or just runs it when
    /// `script` is nil. Used by a loop to apply the script it was created
    /// under, to its callbacks and to the tasks it runs (a thread-level
    /// setting, which a task's own task-local values cannot hide).
    static func applying<R>(_ script: FaultScript?, _ body: () throws -> R) rethrows -> R {
        guard let script else { return try body() }
        cevent_fault_arm(1)
        let previous = cevent_fault_set_thread_script(Unmanaged.passUnretained(script).toOpaque())
        defer {
            _ = cevent_fault_set_thread_script(previous)
            cevent_fault_arm(-1)
        }
        return try withExtendedLifetime(script, body)
    }

    /// The script that decides this thread's calls: a running loop's, else the task's.
    private static var effective: FaultScript? {
        if let raw = cevent_fault_thread_script() { return Unmanaged<FaultScript>.fromOpaque(raw).takeUnretainedValue() }
        return active
    }

    // MARK: - The seam's slow path

    /// Decides one call: the kernel's answer through `kernel(count)`, or a scripted one.
    @usableFromInline
    static func intercept(_ call: SystemCall, _ fd: Int32, _ count: Int, _ kernel: (Int) -> Int) -> Int {
        guard let script = effective else { return kernel(count) }
        let fault = script.decide(call, fd)
        let result: Int
        switch fault {
        case .fail(let errno): result = -Int(errno.rawValue)
        case .shortCount(let limit): result = kernel(min(count, limit))
        case .passThrough, nil: result = kernel(count)
        }
        let injected = if case .fail = fault { true } else if case .shortCount(let l) = fault { l < count } else { false }
        let record = Record(call: call, descriptor: fd >= 0 ? Descriptor(fd) : nil, result: result, injected: injected)
        script.state.withLock { $0.trace.append(record) }
        return result
    }

    private func decide(_ call: SystemCall, _ fd: Int32) -> Fault? {
        state.withLock { state in
            var decided: Fault?
            for index in state.rules.indices {
                let rule = state.rules[index]
                guard rule.call == call, rule.descriptor == nil || rule.descriptor == fd else { continue }
                state.rules[index].seen += 1
                guard decided == nil else { continue }
                let seen = state.rules[index].seen
                let fires = switch rule.when {
                case .always: true
                case .nth(let n): seen == n
                case .first(let n): seen <= n
                case .random(let p): Self.nextUnit(&state.random) < p
                }
                if fires { decided = rule.fault }
            }
            return decided
        }
    }

    /// xorshift64*: a uniform Double in [0, 1).
    private static func nextUnit(_ x: inout UInt64) -> Double {
        x ^= x >> 12
        x ^= x << 25
        x ^= x >> 27
        return Double((x &* 0x2545_F491_4F6C_DD1D) >> 11) / Double(1 << 53)
    }
}

import CEventShim
import Glibc
import Synchronization

/// A POSIX thread that runs one closure: what `LoopThread` runs its loop on.
///
/// Started through the seam (`SystemCall.threadCreate`, so a `FaultScript`
/// can refuse it as the kernel does when the process may have no more
/// threads), joined exactly once. Any thread; `join()` from any thread but
/// its own (joining itself would never return: refused).
final class OSThread: @unchecked Sendable {
    // `body` is written before the thread starts and read once by it; `thread`
    // is written by pthread_create before `start` returns; `joined` under `lock`.
    private let body: @Sendable () -> Void
    private var thread = pthread_t()
    private let gate = ThreadGate()

    private init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    /// Starts a thread named `name` (at most 15 bytes show, as the kernel
    /// keeps) running `body`.
    /// - Throws: `SystemError` with the errno `pthread_create(3)` returns
    ///   (`EAGAIN`: no more threads for this process or user).
    static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) -> OSThread {
        let made = OSThread {
            name.withCString { _ = cevent_name_thread($0) } // cosmetic: a name the kernel refuses changes nothing
            body()
        }
        let context = Unmanaged.passRetained(made).toOpaque()
        let result = Kernel.seam(.threadCreate, -1) { _ in
            -Int(pthread_create(&made.thread, nil, { context in
                let me = Unmanaged<OSThread>.fromOpaque(context!).takeRetainedValue()
                me.body()
                return nil
            }, context))
        }
        if result < 0 {
            Unmanaged<OSThread>.fromOpaque(context).release() // the thread never started: its reference is ours to drop
            throw SystemError(ErrnoCode(rawValue: Int32(-result)), operation: "pthread_create(\(name))")
        }
        return made
    }

    /// Waits for the body to return. Once; later calls return at once.
    /// Not from the thread itself (it would wait for itself): that is refused
    /// with `false`.
    @discardableResult
    func join() -> Bool {
        if pthread_equal(thread, pthread_self()) != 0 { return false }
        guard gate.take() else { return true } // joined already
        pthread_join(thread, nil)
        return true
    }

    /// Whether the calling thread is this one.
    var isCurrent: Bool { pthread_equal(thread, pthread_self()) != 0 }

    /// How many CPUs this process may run on (`sched_getaffinity(2)`), at least 1.
    /// - Throws: `SystemError` when the kernel refuses.
    static func availableProcessorCount() throws(SystemError) -> Int {
        try Syscall.check(Kernel.seam(.schedGetaffinity, -1) { _ in Int(cevent_cpu_count()) }, "sched_getaffinity")
    }

    /// The CPU numbers this process may run on, in order.
    static func allowedProcessors() throws(SystemError) -> [Int] {
        var cpus = [Int32](repeating: 0, count: 1_024)
        let count = try Syscall.check(Kernel.seam(.schedGetaffinity, -1) { _ in
            Int(cpus.withUnsafeMutableBufferPointer { cevent_allowed_cpus($0.baseAddress, Int32($0.count)) })
        }, "sched_getaffinity")
        return cpus.prefix(count).map(Int.init)
    }

    /// Pins the calling thread to `cpu`.
    /// - Throws: `SystemError` (`EINVAL` for a CPU the process may not use).
    static func pinCurrentThread(to cpu: Int) throws(SystemError) {
        _ = try Syscall.check(Kernel.seam(.threadSetAffinity, -1) { _ in Int(cevent_pin_thread(Int32(clamping: cpu))) },
                              "pthread_setaffinity_np(cpu \(cpu))")
    }
}

/// A once-only flag: the first `take()` gets true. Any thread.
private final class ThreadGate: Sendable {
    private let taken = Atomic<Bool>(false)
    func take() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
}

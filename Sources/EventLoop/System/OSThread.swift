import CEventShim
import Glibc
import Synchronization

/// A POSIX thread that runs one closure: what `LoopThread` runs its loop on.
///
/// Started through the seam (`SystemCall.threadCreate`, so a `FaultScript`
/// can refuse it as the kernel does when the process may have no more
/// threads), and detached at once: nobody joins it, its owner learns of its
/// end some other way (a `LoopThread` opens a latch as its last act), and
/// its resources go back to the system when it returns. Any thread.
final class OSThread: @unchecked Sendable {
    // `body` is written before the thread starts and read once by it; `thread`
    // is written by pthread_create before `start` returns.
    private let body: @Sendable () -> Void
    private var thread = pthread_t()

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
        // Cannot fail for a thread just made and not yet joined or detached.
        _ = pthread_detach(made.thread)
        return made
    }

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

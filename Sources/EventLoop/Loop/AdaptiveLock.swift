import Synchronization

/// A test-and-test-and-set lock for critical sections of a few instructions.
///
/// Why not `Mutex`: on Linux the standard library builds it on
/// priority-inheritance futexes, so every contended lock and unlock enters the
/// kernel; with more submitting threads than cores, cross-thread submission
/// became over 100 times slower in our measurements. Spinning suits a lock held
/// for an array append; a waiter that spins too long yields the core, so a
/// preempted holder gets it back. Its users make no system call while they
/// hold it (the submission queue writes its eventfd after unlocking), so a
/// holder preempted in the kernel is not left holding everyone up: with 8
/// producers on 2 cores, a submission costs about what it does with one.
/// Any thread.
struct SpinLock: ~Copyable {
    private let held = Atomic<Bool>(false)

    init() {}

    @inline(__always)
    borrowing func lock() {
        while held.exchange(true, ordering: .acquiring) {
            var spins = 0
            while held.load(ordering: .relaxed) {
                spins += 1
                if spins == 100 {
                    Kernel.yieldProcessor()
                    spins = 0
                }
            }
        }
    }

    @inline(__always)
    borrowing func unlock() { held.store(false, ordering: .releasing) }
}

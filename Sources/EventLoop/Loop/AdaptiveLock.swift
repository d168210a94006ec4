import Synchronization

/// A lock for critical sections of a few instructions that never leaves a
/// thread spinning on a holder the scheduler has taken off its core: a
/// waiter spins briefly, then sleeps on a futex until the holder wakes it.
/// The loop thread never waits for it at all: it only tries (`tryLock`).
///
/// Why: the spin lock this replaces gave the core away (`sched_yield`) every
/// 100 spins, so that a preempted holder would get it back. It did not:
/// `sched_yield` gives way to no thread of a lower priority. With producers
/// at `SCHED_IDLE` (or nice 19), preempted inside the lock, and CPU-bound
/// threads beside them on 2 cores, the loop spun for up to 1.85 s. A sleeper
/// no longer competes with the holder for a core; but the holder runs only
/// when the scheduler lets it, which for an idle-priority thread can still
/// be seconds, so the loop, which must keep its timers and I/O going, does
/// not sleep on the lock either: it tries, and leaves the work for a retry
/// very soon (`IOLoop.takeSubmissions`).
///
/// Why not `Mutex`: on Linux the standard library builds it on
/// priority-inheritance futexes, where every contended lock and unlock
/// enters the kernel; with 8 producers on 2 cores, cross-thread submission
/// was over 100 times slower. This lock is plain (no priority inheritance)
/// and enters the kernel only once a waiter has given up spinning: while the
/// holder runs, `spinLimit` looks outlast its critical section (an array
/// append), and a submission costs about what it did under the spin lock
/// (`Benchmarks/xthread-ab`: SEE-README). Why not a lock-free queue: the
/// queue's critical section does more than link a node (it counts the
/// wake-up, keeps a run of one handler once, and swaps whole arrays), and a
/// node per submission would allocate where the arrays allocate nothing.
///
/// The word, after Drepper's "Futexes Are Tricky" (its third mutex): 0 free,
/// 1 held, 2 held and a thread may be asleep on it. Taking it is 0 → 1. A
/// waiter that gives up spinning swaps in 2, which takes the lock if it was
/// free and otherwise promises a wake-up before it sleeps while the word is
/// 2; an unlock that finds 2 wakes one sleeper.
///
/// Any thread. Its users make no system call while they hold it.
struct AdaptiveLock: ~Copyable {
    /// The futex word, on the heap: the kernel needs its address, which an
    /// `Atomic` stored inline does not give.
    private let word: UnsafeMutablePointer<Atomic<UInt32>>

    /// How many times a waiter looks at a held lock before it sleeps (or,
    /// in `tryLock`, gives up). SEE-README
    static var spinLimit: Int { 100 }

    init() {
        word = .allocate(capacity: 1)
        word.initialize(to: Atomic(0))
    }

    deinit {
        word.deinitialize(count: 1)
        word.deallocate()
    }

    /// Takes the lock, spinning briefly and then sleeping until it is free.
    @inline(__always)
    borrowing func lock() {
        if !acquire() { lockContended() }
    }

    /// Takes the lock if it is free or comes free within `spinLimit` looks;
    /// never sleeps. Returns whether it took it (then `unlock()` it).
    @inline(__always)
    borrowing func tryLock() -> Bool {
        acquire() || spin()
    }

    /// Releases the lock, waking one sleeper if any may be asleep.
    @inline(__always)
    borrowing func unlock() {
        if word.pointee.exchange(0, ordering: .releasing) == 2 { wakeOne() }
    }

    @inline(__always)
    private borrowing func acquire() -> Bool {
        word.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged
    }

    /// Looks at the word up to `spinLimit` times, taking the lock when it is seen free.
    private borrowing func spin() -> Bool {
        for _ in 0..<Self.spinLimit where word.pointee.load(ordering: .relaxed) == 0 {
            if acquire() { return true }
        }
        return false
    }

    @inline(never)
    private borrowing func lockContended() {
        if spin() { return }
        while word.pointee.exchange(2, ordering: .acquiring) != 0 {
            // Woken, or EAGAIN (the word changed before the kernel looked), or
            // EINTR: all mean "look again", which the loop does.
            _ = Kernel.futexWait(UnsafeMutableRawPointer(word), expected: 2)
        }
    }

    @inline(never)
    private borrowing func wakeOne() {
        // Cannot fail: the address is this lock's own word, aligned and mapped.
        _ = Kernel.futexWake(UnsafeMutableRawPointer(word), count: 1)
    }
}

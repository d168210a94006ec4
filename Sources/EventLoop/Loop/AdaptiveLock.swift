import Synchronization

/// The submission queue's lock: it never leaves the loop waiting for a
/// holder the scheduler has taken off its core. Waiters spin briefly, give
/// their core away a few times, then sleep on a futex until an unlock wakes
/// them; the loop thread never waits at all: it only tries (`tryLock`).
///
/// Why: the spin lock this replaces gave the core away (`sched_yield`) every
/// 100 spins, so that a preempted holder would get it back. That works for a
/// holder of the spinner's own priority, but `sched_yield` gives way to no
/// thread of a lower one: with producers at `SCHED_IDLE` (or nice 19)
/// preempted inside the lock, and CPU-bound threads beside them on 2 cores,
/// the loop spun for up to 1.85 s. Here producers still yield a few times
/// (the common case: more producers than cores, a holder of equal priority
/// preempted), then sleep, so a holder of lower priority only costs them a
/// sleep. The loop does not even sleep: a holder of idle priority may stay
/// off its core for seconds, and the loop must keep its timers and I/O
/// going. It tries for `tryNanoseconds`, and leaves the work for a retry
/// soon after (`IOLoop.takeSubmissions`).
///
/// Why not `Mutex`: on Linux the standard library builds it on
/// priority-inheritance futexes, where every contended lock and unlock
/// enters the kernel; with 8 producers on 2 cores, cross-thread submission
/// was over 100 times slower. This lock is plain (no priority inheritance)
/// and enters the kernel only when a waiter has run out of patience, so
/// cross-thread submission costs what it did under the spin lock
/// (`Benchmarks/xthread-ab`, on 2 cores: new/old 0.91-0.93 with 8 producers,
/// 1.01-1.07 with 1; see Benchmarks/README.md). Why not a lock-free queue: the
/// critical section does more than link a node (it counts the wake-up,
/// keeps a run of one handler once, swaps whole arrays), and a node per
/// submission would allocate where the arrays allocate nothing.
///
/// The word, after Drepper's "Futexes Are Tricky" (its third mutex): 0 free,
/// 1 held, 2 held and a thread may be asleep on it. Taking it is 0 → 1. A
/// waiter that goes to sleep swaps in 2, which takes the lock if it was
/// free and otherwise promises a wake-up before it sleeps while the word is
/// 2; an unlock that finds 2 wakes one sleeper. (So the unlock is an
/// exchange, not the spin lock's plain store: one more atomic
/// read-modify-write per submission, within the measurements above.)
///
/// Any thread. Its users make no system call while they hold it.
struct AdaptiveLock: ~Copyable {
    /// The futex word, on the heap: the kernel needs its address, which an
    /// `Atomic` stored inline does not give.
    private let word: UnsafeMutablePointer<Atomic<UInt32>>

    /// How many looks at a held lock make one round of spinning.
    static var spinLimit: Int { 100 }

    /// How many times a waiter gives its core away (one more round after
    /// each) before it sleeps. Without them, 8 producers on 2 cores were
    /// 1.45 times slower than under the spin lock; with them, 0.94.
    static var yieldLimit: Int { 10 }

    /// How long `tryLock` keeps looking. With one round only (100 looks),
    /// a producer in a tight loop won nearly every race and the loop's takes
    /// were mostly refused: 2.65 times slower with 1 producer, 2.01 with 8;
    /// 5 µs gave 0.94 and 0.99; 20 µs, 0.93 and 0.94.
    static var tryNanoseconds: Int64 { 20_000 }

    init() {
        word = .allocate(capacity: 1)
        word.initialize(to: Atomic(0))
    }

    deinit {
        word.deinitialize(count: 1)
        word.deallocate()
    }

    /// Takes the lock: spinning, then giving the core away a few times, then
    /// asleep until an unlock wakes it.
    @inline(__always)
    borrowing func lock() {
        if !acquire() { lockContended() }
    }

    /// Takes the lock if it is free or comes free within `tryNanoseconds`
    /// (spinning, never yielding or sleeping). Returns whether it took it
    /// (then `unlock()` it). A running holder releases it well within that
    /// time; a refusal means the holder is off its core.
    borrowing func tryLock() -> Bool {
        if acquire() { return true }
        let giveUp = MonotonicInstant.now().nanoseconds + Self.tryNanoseconds
        repeat {
            if spin() { return true }
        } while MonotonicInstant.now().nanoseconds < giveUp
        return false
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
        for _ in 0..<Self.yieldLimit {
            Kernel.yieldProcessor()
            if spin() { return }
        }
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

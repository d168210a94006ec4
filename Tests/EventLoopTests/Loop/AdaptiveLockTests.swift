import CEventShim
@testable import EventLoop
import Glibc
import Synchronization
import Testing

/// The submission queue's lock on its own: exclusion, trying, and the
/// futex sleep and wake-up behind a contended `lock()`.
@Suite("Adaptive lock")
struct AdaptiveLockTests {
    /// What the threads share: the lock, a count it guards, and a check that
    /// nobody else is inside when a thread enters.
    private final class Shared: @unchecked Sendable {
        let lock = AdaptiveLock()
        let inside = Atomic<Int>(0)
        let overlaps = Atomic<Int>(0)
        var count = 0 // under `lock`
    }

    /// More threads than cores, released together: holders are preempted
    /// inside, so waiters spin out and sleep on the futex, and unlocks wake them.
    @Test func onlyOneThreadAtATimeHoldsTheLockUnderContention() {
        let shared = Shared()
        let threads = 8
        let rounds = 50_000
        let ready = Atomic<Int>(0)
        let workers = (0..<threads).map { _ in
            TestThread {
                ready.wrappingAdd(1, ordering: .relaxed)
                while ready.load(ordering: .relaxed) < threads { sched_yield() } // every thread has started
                for _ in 0..<rounds {
                    shared.lock.lock()
                    if shared.inside.wrappingAdd(1, ordering: .relaxed).newValue != 1 {
                        shared.overlaps.wrappingAdd(1, ordering: .relaxed)
                    }
                    shared.count += 1
                    shared.inside.wrappingSubtract(1, ordering: .relaxed)
                    shared.lock.unlock()
                }
            }
        }
        for worker in workers { worker.join() }
        #expect(shared.overlaps.load(ordering: .relaxed) == 0)
        #expect(shared.count == threads * rounds)
    }

    @Test func tryLockTakesAFreeLockAndRefusesAHeldOneWithoutWaiting() {
        let shared = Shared()
        let tookFreeLock = shared.lock.tryLock()
        #expect(tookFreeLock)
        let refused = Atomic<Int>(0)
        let start = MonotonicInstant.now()
        TestThread { if !shared.lock.tryLock() { refused.wrappingAdd(1, ordering: .relaxed) } }.join()
        #expect(refused.load(ordering: .relaxed) == 1)
        #expect(millisecondsSince(start) < 2_500, "a refused try returns at once")
        shared.lock.unlock()
        TestThread {
            if shared.lock.tryLock() { shared.lock.unlock() } else { refused.wrappingAdd(1, ordering: .relaxed) }
        }.join()
        #expect(refused.load(ordering: .relaxed) == 1, "the released lock was taken")
    }

    /// A waiter that has given up spinning sleeps in the kernel; the unlock
    /// that finds it marked asleep must wake it.
    @Test func aThreadAsleepOnTheLockIsWokenByTheUnlock() throws {
        let shared = Shared()
        let threadID = Atomic<Int32>(0)
        let acquired = Atomic<Bool>(false)
        shared.lock.lock()
        let waiter = TestThread {
            threadID.store(cevent_gettid(), ordering: .releasing)
            shared.lock.lock()
            acquired.store(true, ordering: .releasing)
            shared.lock.unlock()
        }
        let deadline = MonotonicInstant.now() + .seconds(5)
        while threadID.load(ordering: .acquiring) == 0 || schedulingState(threadID.load(ordering: .acquiring)) != "S" {
            try #require(MonotonicInstant.now() < deadline, "the waiter went to sleep on the lock")
            usleep(1_000)
        }
        let acquiredEarly = acquired.load(ordering: .acquiring)
        #expect(!acquiredEarly)
        shared.lock.unlock()
        while !acquired.load(ordering: .acquiring) {
            try #require(MonotonicInstant.now() < deadline + .seconds(5), "the unlock woke the sleeper")
            usleep(1_000)
        }
        waiter.join()
    }
}

/// The state letter of thread `id` of this process (`R` running, `S`
/// asleep…), from `/proc/self/task/<id>/stat`; nil if it cannot be read.
private func schedulingState(_ id: Int32) -> Character? {
    let fd = open("/proc/self/task/\(id)/stat", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 512)
    let length = read(fd, &buffer, buffer.count)
    guard length > 0 else { return nil }
    // "<id> (<name>) <state> ...": the name may hold spaces and parentheses, so look after the last ')'.
    let text = String(decoding: buffer[0..<length], as: UTF8.self)
    guard let close = text.lastIndex(of: ")") else { return nil }
    return text[close...].dropFirst(2).first
}

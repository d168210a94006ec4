import EventLoop
import Glibc
import Synchronization
import Testing

/// Counts SIGUSR2 deliveries; the handler may touch nothing but an atomic.
private let interruptions = Atomic<Int>(0)

private func installCountingHandler() {
    // glibc's signal() sets SA_RESTART, but epoll_wait, poll and select are
    // never restarted by the kernel: they fail with EINTR after a handler runs.
    _ = signal(SIGUSR2) { _ in interruptions.add(1, ordering: .relaxed) }
}

@Suite("Selector interrupted by signals")
struct SelectorInterruptionTests {
    @Test(arguments: Backend.allCases)
    func signalsDuringAWaitNeitherCutItShortNorStretchIt(backend: Backend) throws {
        installCountingHandler()
        let selector = try backend.make(Void.self)
        let pipe = try DescriptorPair.pipe()
        try selector.register(pipe.first.descriptor, interest: .readable)
        // Test threads come from a pool that blocks signals; let this one take SIGUSR2.
        let previousMask = try SignalSet([SIGUSR2]).unblockOnThisThread()
        defer { _ = try? previousMask.setAsThreadMask() }
        let waiter = pthread_self()
        let before = interruptions.load(ordering: .relaxed)
        let done = Atomic<Bool>(false)
        let sender = TestThread {
            // Interrupt the waiting thread every 20 ms until it returns.
            var sent = 0
            while !done.load(ordering: .acquiring) && sent < 50 {
                usleep(20_000)
                pthread_kill(waiter, SIGUSR2)
                sent += 1
            }
        }
        let start = MonotonicInstant.now()
        let events = try selector.select(timeout: .milliseconds(300))
        let elapsed = MonotonicInstant.now() - start
        done.store(true, ordering: .releasing)
        sender.join()
        #expect(events.isEmpty)
        #expect(elapsed >= .milliseconds(300), "returned after \(elapsed)")
        #expect(elapsed < .milliseconds(1_500), "took \(elapsed)")
        #expect(interruptions.load(ordering: .relaxed) > before, "no signal reached the waiting thread")
    }
}

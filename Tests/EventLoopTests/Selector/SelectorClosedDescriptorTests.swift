import EventLoop
import Testing

/// A descriptor closed before it was unregistered, while a `dup` keeps its
/// file open: epoll goes on reporting the file under a number it can no
/// longer remove. The wait must not end early with nothing to report, and the
/// loop must not spin.
@Suite("Closed but duplicated descriptors")
struct SelectorClosedDescriptorTests {
    @Test(arguments: Backend.allCases)
    func aWaitDoesNotEndEarlyForAFileClosedBeforeItWasUnregistered(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let pipe = try DescriptorPair.pipe()
        try put(pipe.second.descriptor) // readable from now on: level-triggered reports it every wait
        let reader = try pipe.first.descriptor.duplicate()
        let number = reader.descriptor
        try selector.register(number, interest: .readable, value: 1)
        let keepAlive = try number.duplicate() // the file outlives its first number
        try reader.close()
        try selector.unregister(number)        // EBADF from the kernel, accepted
        let start = MonotonicInstant.now()
        let events = try selector.select(timeout: .milliseconds(200))
        #expect(events.isEmpty)
        #expect(millisecondsSince(start) >= 190, "the wait ended early with nothing to report")
        // And the selector still works for what it holds.
        let other = try DescriptorPair.pipe()
        try selector.register(other.first.descriptor, interest: .readable, value: 2)
        try put(other.second.descriptor)
        #expect(try selector.select(timeout: .seconds(5)).map(\.key.value) == [2])
        _ = keepAlive
    }

    @Test(arguments: LoopBackend.available)
    func theLoopDoesNotSpinOnAFileClosedBeforeItsWatcherWasCancelled(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        let pipe = try DescriptorPair.pipe()
        try put(pipe.second.descriptor)
        let reader = try pipe.first.descriptor.duplicate()
        let number = reader.descriptor
        var calls = 0
        let watcher = try loop.watch(number) { _ in calls += 1 }
        let keepAlive = try number.duplicate()
        try reader.close()
        watcher.cancel()
        let before = loop.metrics.iterations
        let start = MonotonicInstant.now()
        try loop.runOnce(timeout: .milliseconds(300))
        #expect(millisecondsSince(start) >= 290, "runOnce returned early with nothing done")
        #expect(loop.metrics.iterations - before == 1)
        #expect(calls == 0)
        try loop.close()
        _ = keepAlive
    }
}

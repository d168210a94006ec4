import EventLoop
import Glibc
import Testing

/// Loops over each backend, so the watcher semantics hold on all three.
func makeLoop(_ backend: Backend, clock: LoopClock = .monotonic) throws -> IOLoop {
    try IOLoop(backend: LoopBackend(rawValue: backend.rawValue)!, clock: clock)
}

/// Runs iterations until `done()` or the bound, whichever comes first.
func spin(_ loop: IOLoop, iterations: Int = 200, until done: () -> Bool) throws {
    var count = 0
    while !done() && count < iterations {
        try loop.runOnce(timeout: .milliseconds(20))
        count += 1
    }
}

@Suite("Loop I/O watchers")
struct LoopWatcherTests {
    @Test(arguments: Backend.allCases)
    func readableCallbackRunsWithTheEvents(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let pipe = try DescriptorPair.pipe()
        var seen: [ReadyEvents] = []
        let reader = pipe.first.descriptor
        try loop.watch(reader) { events in
            seen.append(events)
            _ = try reader.read(upTo: 64)
        }
        try loop.runOnce(timeout: .zero)
        #expect(seen.isEmpty)
        try put(pipe.second.descriptor, [1, 2])
        try spin(loop) { !seen.isEmpty }
        #expect(seen == [.readable])
        try loop.close()
    }

    @Test(arguments: Backend.allCases)
    func levelTriggeredRepeatsUntilDrained(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let pipe = try DescriptorPair.pipe()
        var calls = 0
        try loop.watch(pipe.first.descriptor) { _ in calls += 1 }
        try put(pipe.second.descriptor)
        for _ in 0..<3 { try loop.runOnce(timeout: .seconds(1)) }
        #expect(calls == 3)
    }

    @Test(arguments: Backend.allCases)
    func cancelStopsCallbacksAndReleasesTheClosure(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let pipe = try DescriptorPair.pipe()
        final class Token {}
        var token: Token? = Token()
        weak let weakToken = token
        var calls = 0
        let watcher = try loop.watch(pipe.first.descriptor) { [token] _ in calls += 1; _ = token }
        token = nil
        #expect(weakToken != nil)
        #expect(watcher.isActive)
        watcher.cancel()
        watcher.cancel() // idempotent
        #expect(weakToken == nil, "the closure is released on cancel")
        #expect(!watcher.isActive)
        try put(pipe.second.descriptor)
        try loop.runOnce(timeout: .milliseconds(10))
        #expect(calls == 0)
        #expect(loop.metrics.activeWatchers == 0)
    }

    @Test(arguments: Backend.allCases)
    func oneWatcherPerDescriptor(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let pipe = try DescriptorPair.pipe()
        let fd = pipe.first.descriptor
        var first = 0
        try loop.watch(fd) { _ in first += 1 }
        #expect(throws: LoopError.alreadyWatched(fd)) { try loop.watch(fd) { _ in } }
        try put(pipe.second.descriptor)
        try loop.runOnce(timeout: .seconds(1))
        #expect(first == 1, "the first watcher was not replaced")
    }

    @Test(arguments: Backend.allCases)
    func setInterestSwitchesDirection(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let pair = try DescriptorPair.socketPair()
        var seen: [ReadyEvents] = []
        let watcher = try loop.watch(pair.first.descriptor) { seen.append($0) }
        try loop.runOnce(timeout: .zero)
        #expect(seen.isEmpty)
        try watcher.setInterest(.writable)
        #expect(watcher.interest == .writable)
        try loop.runOnce(timeout: .seconds(1))
        #expect(seen == [.writable])
    }

    @Test(arguments: Backend.allCases)
    func failedInterestChangeKeepsThePreviousOne(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let pipe = try DescriptorPair.pipe()
        let watcher = try loop.watch(pipe.first.descriptor) { _ in }
        #expect(throws: SelectorError.emptyInterest(pipe.first.descriptor)) { try watcher.setInterest([]) }
        if !backend.supportsEdge {
            #expect(throws: SelectorError.self) { try watcher.setInterest(.readable, trigger: .edge) }
        }
        #expect(watcher.interest == .readable)
        var calls = 0
        watcher.cancel()
        try loop.watch(pipe.first.descriptor) { _ in calls += 1 }
        try put(pipe.second.descriptor)
        try loop.runOnce(timeout: .seconds(1))
        #expect(calls == 1)
    }

    @Test func edgeTriggeredWatcherFiresOncePerArrival() throws {
        let loop = try makeLoop(.epoll)
        let pipe = try DescriptorPair.pipe()
        var calls = 0
        try loop.watch(pipe.first.descriptor, trigger: .edge) { _ in calls += 1 }
        try put(pipe.second.descriptor)
        for _ in 0..<3 { try loop.runOnce(timeout: .milliseconds(5)) }
        #expect(calls == 1)
        try put(pipe.second.descriptor)
        try loop.runOnce(timeout: .seconds(1))
        #expect(calls == 2)
    }

    @Test func oneShotWatcherRearmsThroughSetInterest() throws {
        let loop = try makeLoop(.epoll)
        let pipe = try DescriptorPair.pipe()
        var calls = 0
        let watcher = try loop.watch(pipe.first.descriptor, trigger: .oneShot) { _ in calls += 1 }
        try put(pipe.second.descriptor)
        for _ in 0..<3 { try loop.runOnce(timeout: .milliseconds(5)) }
        #expect(calls == 1)
        try watcher.setInterest(.readable)
        try loop.runOnce(timeout: .seconds(1))
        #expect(calls == 2)
    }

    @Test(arguments: Backend.allCases)
    func hangUpReachesAReadOnlyWatcher(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let pipe = try DescriptorPair.pipe()
        let reader = pipe.first.descriptor
        var sawEOF = false
        try loop.watch(reader) { _ in sawEOF = try reader.read(upTo: 8) == .completed([]) }
        try pipe.second.close()
        try spin(loop) { sawEOF }
        #expect(sawEOF)
    }

    /// Closing a descriptor in a callback and reusing its number for a new watch
    /// must not hand the old descriptor's pending event to the new watcher.
    @Test(arguments: Backend.allCases)
    func staleEventNeverReachesAWatcherOnAReusedNumber(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let a = try DescriptorPair.pipe()
        let b = try DescriptorPair.pipe()
        let fds = [a.first.release(), b.first.release()]
        let writers = [a.second.descriptor, b.second.descriptor]
        var replacement: Descriptor?
        var replacementWriter: Descriptor?
        var staleDeliveries = 0
        var watchers: [IOWatcher] = []
        for (index, fd) in fds.enumerated() {
            watchers.append(try loop.watch(fd) { _ in
                guard replacement == nil else { return }
                // The first to run closes the other and puts a fresh, empty pipe on its
                // number. dup2 does both at once, so no parallel test can take the number between.
                let victim = fds[1 - index]
                watchers[1 - index].cancel()
                let fresh = try DescriptorPair.pipe()
                let moved = dup2(fresh.first.descriptor.rawValue, victim.rawValue)
                try #require(moved == victim.rawValue)
                replacement = victim
                replacementWriter = fresh.second.release()
                try loop.watch(victim) { _ in staleDeliveries += 1 }
            })
        }
        try put(writers[0])
        try put(writers[1])
        try loop.runOnce(timeout: .seconds(1)) // both are ready in this one wait
        try loop.runOnce(timeout: .zero)
        #expect(replacement != nil)
        #expect(staleDeliveries == 0)
        try loop.close()
        for fd in fds { try? OwnedDescriptor(adopting: fd).close() }
        if let replacementWriter { try OwnedDescriptor(adopting: replacementWriter).close() }
    }

    @Test(arguments: Backend.allCases)
    func cancellingALaterWatcherInTheSameIterationPreventsItsCallback(backend: Backend) throws {
        let loop = try makeLoop(backend)
        let a = try DescriptorPair.pipe()
        let b = try DescriptorPair.pipe()
        var ran: [Int] = []
        var watchers: [IOWatcher] = []
        for (index, fd) in [a.first.descriptor, b.first.descriptor].enumerated() {
            watchers.append(try loop.watch(fd) { _ in
                ran.append(index)
                watchers[1 - index].cancel()
            })
        }
        try put(a.second.descriptor)
        try put(b.second.descriptor)
        try loop.runOnce(timeout: .seconds(1))
        #expect(ran.count == 1)
    }
}

import EventLoop
import Testing

/// What only the io_uring backend has: its availability, the kernel refusing
/// it, scripted completions, and more registrations than its submission ring
/// holds. (The shared selector, loop and stream suites run on it too.)
@Suite("io_uring backend")
struct IOUringBackendTests {
    private static var available: Bool { LoopBackend.ioUring.unavailableReason == nil }

    @Test func whichBackendsThisMachineHasIsReported() {
        for backend in [LoopBackend.epoll, .poll, .select] {
            #expect(backend.unavailableReason == nil)
            #expect(LoopBackend.available.contains(backend))
        }
        #expect(LoopBackend.available.first == .epoll)
        #expect(LoopBackend.automatic == .epoll, "io_uring is chosen by name only")
        #expect(LoopBackend(rawValue: "io_uring") == .ioUring)
        if let reason = LoopBackend.ioUring.unavailableReason {
            print("io_uring is unavailable here, its runs of the shared suites are skipped: \(reason)")
            #expect(!LoopBackend.available.contains(.ioUring))
            #expect(throws: SelectorError.self) { try IOLoop(backend: .ioUring) }
        } else {
            print("io_uring is available here: the shared suites run on it too")
            #expect(LoopBackend.available.contains(.ioUring))
        }
    }

    /// ENOSYS (no io_uring), EPERM (seccomp, `kernel.io_uring_disabled`):
    /// a clear `.unavailable` error that names why; other failures stay `.system`.
    @Test(arguments: [ErrnoCode.notImplemented, .notPermitted, .tooManyOpenFiles])
    func aRefusedSetupIsAClearErrorAndLeavesNothingOpen(errno: ErrnoCode) throws {
        let script = FaultScript()
        try script.inject(.fail(errno), into: .ioUringSetup)
        let error = script.run { () -> SelectorError? in
            do { _ = try IOLoop(backend: .ioUring); return nil } catch let error as SelectorError { return error } catch { return nil }
        }
        switch error {
        case .unavailable(let backend, let reason)?:
            #expect(errno != .tooManyOpenFiles)
            #expect(backend == "io_uring")
            #expect(reason.contains(errno.name), "\(reason)")
            #expect(error!.description.hasPrefix("the io_uring backend is unavailable here"))
        case .system(let system)?:
            #expect(errno == .tooManyOpenFiles)
            #expect(system.errno == errno)
        default:
            Issue.record("unexpected: \(String(describing: error))")
        }
        // The same process can still make loops on every backend it has.
        for backend in LoopBackend.available { try IOLoop(backend: backend).close() }
    }

    /// A completion's result comes through the seam: a script can make the
    /// kernel's answer an error, which is reported as `.error` on that
    /// registration alone; the selector goes on.
    @Test func aScriptedCompletionErrorIsReportedAndTheSelectorGoesOn() throws {
        guard Self.available else { return }
        let selector = try IOUringSelector<Int>()
        let failing = try DescriptorPair.pipe()
        let healthy = try DescriptorPair.pipe()
        try selector.register(failing.first.descriptor, interest: .readable, value: 1)
        try selector.register(healthy.first.descriptor, interest: .readable, value: 2)
        let script = FaultScript()
        try script.inject(.fail(.connectionReset), into: .ioUringPoll, descriptor: failing.first.descriptor, when: .first(1))
        try put(failing.second.descriptor)
        try put(healthy.second.descriptor)
        let events = try script.run { try selector.select(timeout: .seconds(2)) }
        let byValue = Dictionary(uniqueKeysWithValues: events.map { ($0.key.value, $0.events) })
        #expect(byValue[1]?.contains(.error) == true, "\(events)")
        #expect(byValue[2] == .readable)
        #expect(script.records(of: .ioUringPoll).contains { $0.injected && $0.errno == .connectionReset })
        // Level-triggered: both are polled again and both still have a byte.
        let again = try selector.select(timeout: .seconds(2))
        #expect(Set(again.map(\.key.value)) == [1, 2])
        #expect(again.allSatisfy { $0.events == .readable })
        try selector.close()
    }

    /// An `unregister` whose cancel the kernel refuses (scripted `ENOMEM`
    /// from `io_uring_register`) throws, and still forgets the registration:
    /// no callback outlives it, and the number can be registered again.
    @Test func anUnregisterTheKernelRefusesStillForgetsTheRegistration() throws {
        guard Self.available else { return }
        let selector = try IOUringSelector<Int>()
        let pipe = try DescriptorPair.pipe()
        let fd = pipe.first.descriptor
        try selector.register(fd, interest: .readable, trigger: .edge, value: 1)
        #expect(try selector.select(timeout: .zero).isEmpty, "submitted: a request is in the kernel")
        let script = FaultScript()
        try script.inject(.fail(.noMemory), into: .ioUringRegister, when: .first(1))
        _ = script.run {
            #expect(throws: SelectorError.self) { try selector.unregister(fd) }
        }
        #expect(selector.count == 0 && selector.key(for: fd) == nil)
        try put(pipe.second.descriptor)
        #expect(try selector.select(timeout: .milliseconds(50)).isEmpty, "the old request's completion is dropped")
        try selector.register(fd, interest: .readable, value: 2)
        #expect(try selector.select(timeout: .seconds(2)).map(\.key.value) == [2])
        try selector.close()
    }

    /// More registrations than the submission ring has entries (256), all
    /// ready at once: one wait reports every one, and unregistering them all
    /// leaves the selector empty and working.
    @Test func moreRegistrationsThanTheSubmissionRingHoldsAreAllReported() throws {
        guard Self.available else { return }
        raiseDescriptorLimit()
        let selector = try IOUringSelector<Int>()
        var ends: [Descriptor] = [] // read, write, read, write…; closed below
        defer { closeAll(ends) }
        for index in 0..<600 {
            // Numbered past FD_SETSIZE (the pipe's own numbers close with it):
            // 1,200 low numbers held at once would push the descriptors of
            // select-backend tests running in parallel past FD_SETSIZE.
            let pipe = try DescriptorPair.pipe()
            let reader = try duplicate(pipe.first.descriptor, atLeast: Int32(FDSet.capacity)).release()
            let writer = try duplicate(pipe.second.descriptor, atLeast: Int32(FDSet.capacity)).release()
            ends += [reader, writer]
            try selector.register(reader, interest: .readable, value: index)
            try put(writer)
        }
        var seen = Set<Int>()
        let deadline = MonotonicInstant.now() + .seconds(5)
        while seen.count < 600 && MonotonicInstant.now() < deadline {
            for event in try selector.select(timeout: .seconds(1)) { seen.insert(event.key.value) }
        }
        #expect(seen.count == 600)
        for reader in stride(from: 0, to: ends.count, by: 2).map({ ends[$0] }) { try selector.unregister(reader) }
        #expect(selector.count == 0)
        #expect(try selector.select(timeout: .zero).isEmpty)
        try selector.close()
    }

    /// An edge-triggered (multishot) registration reports each new arrival
    /// once, and a `modify` replaces its request rather than adding one:
    /// after it, one arrival is still one report.
    @Test func aModifiedEdgeRegistrationReportsEachArrivalOnce() throws {
        guard Self.available else { return }
        let selector = try IOUringSelector<Int>()
        let pipe = try DescriptorPair.pipe()
        try selector.register(pipe.first.descriptor, interest: .readable, trigger: .edge, value: 1)
        try put(pipe.second.descriptor)
        #expect(try selector.select(timeout: .seconds(2)).count == 1)
        #expect(try selector.select(timeout: .milliseconds(20)).isEmpty, "no new arrival, no report")
        // Each change of interest replaces the request (the same interest
        // changes only the value, as with epoll).
        for (value, interest) in [(2, Interest.all), (3, .readable), (4, .all)] {
            try selector.modify(pipe.first.descriptor, interest: interest, trigger: .edge, value: value)
        }
        // The byte is still there: a fresh request sees it once.
        #expect(try selector.select(timeout: .seconds(2)).map(\.key.value) == [4])
        try put(pipe.second.descriptor)
        #expect(try selector.select(timeout: .seconds(2)).map(\.key.value) == [4])
        #expect(try selector.select(timeout: .milliseconds(20)).isEmpty)
        try selector.close()
    }
}

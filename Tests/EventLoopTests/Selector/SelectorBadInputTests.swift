import EventLoop
import Glibc
import Testing

/// Bad input gets a typed error, and the selector stays usable afterwards.
@Suite("Selector bad input")
struct SelectorBadInputTests {
    /// Proves the selector still works: a fresh pipe becomes readable.
    private func assertStillWorks(_ selector: any EventSelector<Int>) throws {
        let pipe = try DescriptorPair.pipe()
        try selector.register(pipe.first.descriptor, interest: .readable, value: -1)
        try put(pipe.second.descriptor)
        #expect(try selector.select(timeout: .seconds(2)).contains { $0.key.value == -1 })
        try selector.unregister(pipe.first.descriptor)
    }

    @Test(arguments: Backend.allCases)
    func registeringTwiceIsRefused(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let pipe = try DescriptorPair.pipe()
        let fd = pipe.first.descriptor
        try selector.register(fd, interest: .readable, value: 1)
        #expect(throws: SelectorError.alreadyRegistered(fd)) { try selector.register(fd, interest: .writable, value: 2) }
        #expect(selector.key(for: fd)?.value == 1)
        #expect(selector.key(for: fd)?.interest == .readable)
        try assertStillWorks(selector)
    }

    @Test(arguments: Backend.allCases)
    func unknownDescriptorsAreRefused(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let fd = Descriptor(999)
        #expect(throws: SelectorError.notRegistered(fd)) { try selector.unregister(fd) }
        #expect(throws: SelectorError.notRegistered(fd)) { try selector.modify(fd, interest: .readable, value: 0) }
        try assertStillWorks(selector)
    }

    @Test(arguments: Backend.allCases)
    func emptyInterestIsRefused(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let pipe = try DescriptorPair.pipe()
        let fd = pipe.first.descriptor
        #expect(throws: SelectorError.emptyInterest(fd)) { try selector.register(fd, interest: [], value: 0) }
        #expect(selector.count == 0)
        try selector.register(fd, interest: .readable, value: 0)
        #expect(throws: SelectorError.emptyInterest(fd)) { try selector.modify(fd, interest: [], value: 1) }
        #expect(selector.key(for: fd)?.interest == .readable)
        try assertStillWorks(selector)
    }

    @Test(arguments: Backend.allCases)
    func negativeDescriptorIsRefused(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        #expect(throws: SelectorError.invalidDescriptor(Descriptor(-1))) {
            try selector.register(Descriptor(-1), interest: .readable, value: 0)
        }
        try assertStillWorks(selector)
    }

    @Test(arguments: Backend.allCases)
    func anOpenDescriptorPastFDSetSizeIsRefusedOnlyBySelect(backend: Backend) throws {
        // An open number at or past FD_SETSIZE, the lowest free one there: a
        // fixed number (1024) may be open in a parallel test, and this test
        // must not depend on whether it is.
        raiseDescriptorLimit()
        let pipe = try DescriptorPair.pipe()
        let high = try duplicate(pipe.first.descriptor, atLeast: Int32(FDSet.capacity))
        let selector = try backend.make(Int.self)
        if backend == .select {
            #expect(throws: SelectorError.descriptorOutOfRange(high.descriptor, limit: FDSet.capacity)) {
                try selector.register(high.descriptor, interest: .readable, value: 0)
            }
            #expect(selector.count == 0)
        } else {
            try selector.register(high.descriptor, interest: .readable, value: 7)
            try put(pipe.second.descriptor)
            let events = try selector.select(timeout: .seconds(5))
            #expect(events.map(\.key.descriptor) == [high.descriptor] && events.first?.key.value == 7)
            try selector.unregister(high.descriptor)
        }
        try assertStillWorks(selector)
    }

    @Test(arguments: Backend.allCases)
    func aDescriptorThatIsNotOpenIsRefusedByEveryBackend(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        for fd in [neverOpenDescriptor, Descriptor(Int32.max)] {
            // select refuses the number for its range before asking whether it is open.
            let expected: SelectorError = backend == .select ? .descriptorOutOfRange(fd, limit: FDSet.capacity) : .invalidDescriptor(fd)
            #expect(throws: expected) { try selector.register(fd, interest: .readable, value: 0) }
            #expect(selector.count == 0)
        }
        try assertStillWorks(selector)
    }

    @Test(arguments: Backend.allCases)
    func triggerModesTheBackendLacksAreRefused(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let pipe = try DescriptorPair.pipe()
        let fd = pipe.first.descriptor
        for trigger in [Trigger.edge, .oneShot, [.edge, .oneShot]] {
            if backend.supportsEdge {
                try selector.register(fd, interest: .readable, trigger: trigger, value: 0)
                try selector.unregister(fd)
            } else {
                #expect(throws: SelectorError.unsupportedTrigger(trigger, backend: backend.rawValue)) {
                    try selector.register(fd, interest: .readable, trigger: trigger, value: 0)
                }
            }
        }
        #expect(selector.count == 0)
        try assertStillWorks(selector)
    }

    @Test(arguments: Backend.allCases)
    func everyCallAfterCloseIsRefused(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let pipe = try DescriptorPair.pipe()
        let fd = pipe.first.descriptor
        try selector.register(fd, interest: .readable, value: 0)
        try selector.close()
        #expect(selector.isClosed)
        #expect(selector.count == 0)
        #expect(throws: SelectorError.closed) { try selector.register(fd, interest: .readable, value: 0) }
        #expect(throws: SelectorError.closed) { try selector.modify(fd, interest: .readable, value: 0) }
        #expect(throws: SelectorError.closed) { try selector.unregister(fd) }
        #expect(throws: SelectorError.closed) { try selector.select(timeout: .zero) }
        try selector.close() // twice is harmless
    }

    @Test func errorDescriptionsNameTheProblem() {
        #expect(SelectorError.notPollable(Descriptor(3)).description.contains("cannot be polled"))
        #expect(SelectorError.descriptorOutOfRange(Descriptor(2000), limit: 1024).description.contains("below 1024"))
        let error = SystemError(.badFileDescriptor, operation: "epoll_ctl(ADD, fd 7)")
        #expect(error.description == "epoll_ctl(ADD, fd 7): Bad file descriptor (EBADF)")
    }

    @Test(arguments: Backend.allCases)
    func anInterestOfOnlyUndefinedBitsIsRefusedLikeAnEmptyOne(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        let pipe = try DescriptorPair.pipe()
        let fd = pipe.first.descriptor
        for bits: UInt8 in [0x80, 0x04, 0xFC] {
            #expect(throws: SelectorError.emptyInterest(fd)) { try selector.register(fd, interest: Interest(rawValue: bits), value: 1) }
        }
        #expect(selector.count == 0)
        try selector.register(fd, interest: .readable, value: 1)
        #expect(throws: SelectorError.emptyInterest(fd)) { try selector.modify(fd, interest: Interest(rawValue: 0x80), value: 2) }
        #expect(selector.key(for: fd)?.interest == .readable)
        try selector.unregister(fd)
        try assertStillWorks(selector)
    }

    @Test(arguments: Backend.allCases)
    func aHugeDescriptorNumberIsRefusedWithoutSizingATableByIt(backend: Backend) throws {
        let selector = try backend.make(Int.self)
        for number in [Int32.max, Int32.max - 1, 1 << 24] {
            let fd = Descriptor(number)
            let error = #expect(throws: SelectorError.self) { try selector.register(fd, interest: .readable, value: 0) }
            #expect(error == .invalidDescriptor(fd) || error == .descriptorOutOfRange(fd, limit: FDSet.capacity))
        }
        #expect(selector.count == 0)
        try assertStillWorks(selector)
    }

    @Test func epollRefusesAnEventsBufferOutOfRange() throws {
        for capacity in [0, -1, 65_537, Int.max] {
            #expect(throws: SelectorError.self) { try EpollSelector<Int>(initialCapacity: capacity) }
        }
        try assertStillWorks(try EpollSelector<Int>(initialCapacity: 1))
    }
}

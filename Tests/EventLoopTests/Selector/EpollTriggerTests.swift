import EventLoop
import Testing

/// Edge-triggered and one-shot behaviour, which only the epoll backend has.
@Suite("Epoll triggering")
struct EpollTriggerTests {
    @Test func levelRepeatsUntilDrained() throws {
        let selector = try EpollSelector<Void>()
        let pipe = try DescriptorPair.pipe()
        try selector.register(pipe.first.descriptor, interest: .readable)
        try put(pipe.second.descriptor, [1, 2, 3])
        #expect(try selector.select(timeout: .seconds(2)).count == 1)
        #expect(try selector.select(timeout: .zero).count == 1)
        #expect(try pipe.first.descriptor.read(upTo: 16) == .completed([1, 2, 3]))
        #expect(try selector.select(timeout: .zero).isEmpty)
    }

    @Test func edgeReportsOncePerNewData() throws {
        let selector = try EpollSelector<Void>()
        let pipe = try DescriptorPair.pipe()
        try selector.register(pipe.first.descriptor, interest: .readable, trigger: .edge)
        try put(pipe.second.descriptor, [1])
        #expect(try selector.select(timeout: .seconds(2)).count == 1)
        #expect(try selector.select(timeout: .zero).isEmpty, "no new data: no new edge")
        try put(pipe.second.descriptor, [2])
        #expect(try selector.select(timeout: .seconds(2)).count == 1)
        // Drain until it would block, as edge triggering demands.
        var drained: [UInt8] = []
        while let chunk = try pipe.first.descriptor.read(upTo: 1).value, !chunk.isEmpty { drained += chunk }
        #expect(drained == [1, 2])
        #expect(try selector.select(timeout: .zero).isEmpty)
    }

    @Test func oneShotIsSilentUntilRearmed() throws {
        let selector = try EpollSelector<Int>()
        let pipe = try DescriptorPair.pipe()
        let fd = pipe.first.descriptor
        try selector.register(fd, interest: .readable, trigger: .oneShot, value: 1)
        try put(pipe.second.descriptor)
        #expect(try selector.select(timeout: .seconds(2)).count == 1)
        #expect(try selector.select(timeout: .zero).isEmpty, "disabled after one report")
        try selector.modify(fd, interest: .readable, value: 2) // same interest: still re-arms
        #expect(try selector.select(timeout: .seconds(2)).map(\.key.value) == [2])
    }

    /// CPython's `test_above_fd_setsize` and the bug behind it: one `select`
    /// reports every ready registration, whatever the buffer held at first.
    @Test func oneSelectReportsEveryReadyRegistrationWhateverTheInitialCapacity() throws {
        let selector = try EpollSelector<Int>(initialCapacity: 2)
        var pipes: [Descriptor] = []
        defer { for fd in pipes { try? OwnedDescriptor(adopting: fd).close() } }
        for i in 0..<10 {
            let pipe = try DescriptorPair.pipe()
            try selector.register(pipe.first.descriptor, interest: .readable, value: i)
            try put(pipe.second.descriptor)
            pipes += [pipe.first.release(), pipe.second.release()]
        }
        var sizes: [Int] = []
        for _ in 0..<4 { sizes.append(try selector.select(timeout: .seconds(2)).count) }
        #expect(sizes == [10, 10, 10, 10])
    }

    @Test func epollDescriptorIsCloseOnExec() throws {
        let selector = try EpollSelector<Void>()
        #expect(try selector.descriptor.isCloseOnExec())
        try selector.close()
        #expect(selector.descriptor.rawValue == -1)
    }
}

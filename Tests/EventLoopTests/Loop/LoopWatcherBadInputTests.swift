import EventLoop
import Testing

/// Watching bad descriptors fails clearly, and the loop goes on working.
@Suite("Loop watcher bad input")
struct LoopWatcherBadInputTests {
    @Test(arguments: LoopBackend.available)
    func watchingAHugeOrClosedDescriptorFailsClearlyAndTheLoopGoesOn(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        for number in [Int32.max, 1 << 24, neverOpenDescriptor.rawValue, -3] {
            #expect(throws: SelectorError.self) { try loop.watch(Descriptor(number)) { _ in } }
        }
        #expect(throws: SelectorError.self) { try loop.watch(neverOpenDescriptor, interest: Interest(rawValue: 0x80)) { _ in } }
        #expect(loop.metrics.activeWatchers == 0)
        let pipe = try DescriptorPair.pipe()
        var reads = 0
        try loop.watch(pipe.first.descriptor) { _ in
            _ = try pipe.first.descriptor.read(upTo: 8)
            reads += 1
        }
        try put(pipe.second.descriptor)
        try loop.runOnce(timeout: .seconds(5))
        #expect(reads == 1)
        try loop.close()
    }

    @Test(arguments: LoopBackend.available)
    func aWatcherOnANumberThatWasClosedAndReusedNeverSeesTheOldFilesEvents(backend: LoopBackend) throws {
        let loop = try IOLoop(backend: backend)
        let first = try DescriptorPair.pipe()
        try put(first.second.descriptor)
        let reader = try first.first.descriptor.duplicate()
        let number = reader.descriptor
        var oldCalls = 0
        let old = try loop.watch(number) { _ in oldCalls += 1 }
        old.cancel()
        try reader.close()
        // The number now names an empty pipe of a new watcher: it must stay silent.
        let second = try DescriptorPair.pipe()
        let newReader = try second.first.descriptor.duplicate()
        var newCalls = 0
        if newReader.descriptor == number {
            try loop.watch(newReader.descriptor) { _ in newCalls += 1 }
        }
        try loop.runOnce(timeout: .milliseconds(50))
        #expect(oldCalls == 0 && newCalls == 0)
        try loop.close()
    }
}

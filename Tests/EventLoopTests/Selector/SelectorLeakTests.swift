import EventLoop
import Testing

/// Creating and closing selectors, with registrations, leaves no descriptor open.
@Suite("Selector descriptor leaks")
struct SelectorLeakTests {
    @Test(arguments: Backend.allCases)
    func createAndCloseManySelectors(backend: Backend) throws {
        let before = openDescriptorCount()
        for _ in 0..<300 {
            let selector = try backend.make(Int.self)
            let pipe = try DescriptorPair.pipe()
            try selector.register(pipe.first.descriptor, interest: .readable, value: 0)
            try put(pipe.second.descriptor)
            _ = try selector.select(timeout: .zero)
            try selector.unregister(pipe.first.descriptor)
            try selector.close()
        }
        for _ in 0..<300 { _ = try backend.make(Int.self) } // closed by deinit
        // Other tests run in parallel and open descriptors of their own; a leak
        // here would be 300 or more.
        #expect(openDescriptorCount() - before < 100)
    }
}

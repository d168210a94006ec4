import EventLoop
import Glibc
import Testing

/// Creating and closing selectors, with registrations, leaves no descriptor
/// open. Counted in a child process of its own: parallel tests open and close
/// descriptors at the same time and would blur the count.
@Suite("Selector descriptor leaks")
struct SelectorLeakTests {
    @Test func createAndCloseManySelectorsOnEveryBackend() async {
        await #expect(processExitsWith: .success) {
            do {
                for backend in Backend.allCases {
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
                    guard openDescriptorCount() - before < 10 else { exit(1) }
                }
                exit(0)
            } catch {
                exit(2)
            }
        }
    }
}

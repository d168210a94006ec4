import EventLoop
import Testing

/// Swift 6 keeps a loop on its thread at compile time (it is not `Sendable`);
/// code that smuggles it across anyway is stopped with a clear message.
@Suite("Loop thread confinement")
struct LoopThreadConfinementTests {
    @Test func usingALoopFromAnotherThreadStopsTheProcess() async {
        await #expect(processExitsWith: .failure) {
            let loop = try IOLoop()
            nonisolated(unsafe) let smuggled = loop // what the compiler would refuse without `unsafe`
            let other = TestThread { try? smuggled.callSoon {} }
            other.join()
        }
    }

    @Test func theHandleWorksFromAnyThread() throws {
        let loop = try IOLoop()
        let handle = loop.handle
        let other = TestThread { try? handle.submit { handle.stop() } }
        other.join()
        try loop.run()
    }
}

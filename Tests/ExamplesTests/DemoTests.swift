import EventLoop
import Testing

extension ExamplesTests {
    @Suite struct DemoTests {
        /// `swift run demo`, the README's first command: about 5 s, checked by the demo itself.
        @Test(arguments: [[], ["--backend", "io_uring"]])
        func theDemoTellsTheSeedsStoryAndChecksEveryStep(_ arguments: [String]) throws {
            if arguments.contains("io_uring"), let reason = LoopBackend.ioUring.unavailableReason {
                print("demo --backend io_uring skipped: \(reason)")
                return
            }
            let demo = try ChildProcess("demo", arguments)
            defer { demo.stop() }
            #expect(try demo.waitForExit(timeout: .seconds(60)) == .exited(0), "\(demo.stdout)\n\(demo.stderr)")
            let output = demo.stdout
            for line in ["  blocking   ", "  loop       ", "  async      "] {
                #expect(output.contains(line) && output.contains("3 of 3 whole and right"), "\(output)")
            }
            #expect(output.contains("100 of 100 clients got every reply right: 1000 replies"))
            #expect(output.contains("left registered: 0 watchers, 0 timers."))
            #expect(output.hasSuffix("demo: every step checked its own result.\n"))
            #expect(demo.stderr.isEmpty)
        }
    }
}

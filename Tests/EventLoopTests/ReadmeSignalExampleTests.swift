import EventLoop
import Glibc
import Testing

extension ReadmeExampleTests {
    /// The README's signals example, verbatim between the markers. In a child
    /// process: SIGINT's default action ends a process whose loop fails to catch it.
    @Test func signalsTour() async {
        await #expect(processExitsWith: .success) {
            alarm(20) // a lost SIGINT ends this child, not the run
            // Ctrl-C, played by another thread once the loop handles SIGINT (a bounded poll).
            let interrupter = TestThread {
                for _ in 0..<5_000 where (try? SignalDisposition.current(of: SIGINT)) != .caughtByLoop {
                    usleep(1_000)
                }
                _ = try? raiseInProcess(SIGINT) // kill(getpid(), SIGINT)
            }
            // README: signals example begins
            let loop = try IOLoop()
            let subscription = try loop.onSignal(SIGINT) { info in
                print("SIGINT from process \(info.senderPID)")   // on the loop's thread
                loop.stop()
            }
            try loop.run()                             // until Ctrl-C
            subscription.cancel()                      // SIGINT does what it did before
            try loop.close()
            // README: signals example ends
            interrupter.join()
        }
    }
}

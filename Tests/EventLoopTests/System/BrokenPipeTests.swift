import EventLoop
import Glibc
import Testing

/// A write to a reader that has gone is an `EPIPE` error value, never a
/// `SIGPIPE` that ends the process. Each test runs in a child process with
/// SIGPIPE at its default disposition (fatal), so a regression fails the
/// test instead of killing the run.
@Suite("Broken pipes")
struct BrokenPipeTests {
    @Test func aWriteToAPipeWhoseReaderHasGoneIsEPIPENotDeath() async {
        await #expect(processExitsWith: .success) {
            signal(SIGPIPE, SIG_DFL)
            do {
                let pipe = try DescriptorPair.pipe()
                let writer = pipe.second
                try pipe.first.close()
                do throws(SystemError) {
                    _ = try writer.descriptor.write([1])
                    exit(1)
                } catch {
                    guard error.errno == .brokenPipe else { exit(2) }
                }
                // Nothing left pending, and the thread's mask is as it was.
                guard try !SignalSet.pending().contains(SIGPIPE) else { exit(3) }
                guard try !SignalSet.threadMask().contains(SIGPIPE) else { exit(4) }
                exit(0)
            } catch {
                exit(5)
            }
        }
    }

    @Test func aWriteToASocketWhosePeerHasGoneIsEPIPENotDeath() async {
        await #expect(processExitsWith: .success) {
            signal(SIGPIPE, SIG_DFL)
            do {
                let pair = try DescriptorPair.socketPair()
                let first = pair.first
                try pair.second.close()
                var sawBrokenPipe = false
                for _ in 0..<4 where !sawBrokenPipe {
                    do throws(SystemError) { _ = try first.descriptor.write([1, 2, 3]) } catch {
                        guard error.errno == .brokenPipe || error.errno == .connectionReset else { exit(2) }
                        sawBrokenPipe = true
                    }
                }
                exit(sawBrokenPipe ? 0 : 1)
            } catch {
                exit(5)
            }
        }
    }

    @Test func aSIGPIPEAlreadyBlockedByTheCallerStaysTheCallers() async {
        await #expect(processExitsWith: .success) {
            do {
                let pipe = try DescriptorPair.pipe()
                let writer = pipe.second
                try pipe.first.close()
                try SignalSet([SIGPIPE]).blockOnThisThread()
                do throws(SystemError) { _ = try writer.descriptor.write([1]); exit(1) } catch {
                    guard error.errno == .brokenPipe else { exit(2) }
                }
                // The caller blocked it: the pending signal is the caller's to take.
                guard try SignalSet.pending().contains(SIGPIPE) else { exit(3) }
                exit(0)
            } catch {
                exit(5)
            }
        }
    }
}

import EventLoop
import Glibc
import Testing

extension LoopSignalTests {
    /// Issue 9, fault 16: as with watchers and timers, a cancelled signal
    /// handler is never called, even when it is cancelled in the middle of a
    /// delivery, by another handler. SIGWINCH and SIGURG do nothing by default.
    @Suite("Signal handlers cancelled during a delivery")
    struct CancelledDuringDelivery {
        @Test func aHandlerCancelledByAnotherInTheSameDeliveryDoesNotRun() throws {
            let loop = try IOLoop()
            var log: [String] = []
            var second: SignalSubscription?
            let first = try loop.onSignal(SIGWINCH) { _ in
                log.append("A")
                second?.cancel()
            }
            second = try loop.onSignal(SIGWINCH) { _ in log.append("B") }
            pthread_kill(pthread_self(), SIGWINCH)
            try spin(loop) { !log.isEmpty }
            #expect(log == ["A"])
            #expect(second?.isActive == false && first.isActive)
            pthread_kill(pthread_self(), SIGWINCH)
            try spin(loop) { log.count == 2 }
            #expect(log == ["A", "A"])
            #expect(loop.metrics.activeSignalHandlers == 1)
            try loop.close()
            #expect(!first.isActive)
        }

        @Test func aHandlerCancelledByAHandlerOfAnotherSignalInTheSameIterationDoesNotRun() throws {
            let loop = try IOLoop()
            var log: [String] = []
            var urgent: SignalSubscription?
            try loop.onSignal(SIGWINCH) { _ in
                log.append("WINCH")
                urgent?.cancel() // the last SIGURG handler: the signal is given back, too
            }
            urgent = try loop.onSignal(SIGURG) { _ in log.append("URG") }
            // Both caught before the loop runs: their records are read in one batch, in this order.
            pthread_kill(pthread_self(), SIGWINCH)
            pthread_kill(pthread_self(), SIGURG)
            try spin(loop) { !log.isEmpty }
            try loop.runOnce(timeout: .zero)
            #expect(log == ["WINCH"])
            #expect(try SignalDisposition.current(of: SIGURG) != .caughtByLoop)
            try loop.close()
        }

        @Test func aHandlerAddedDuringADeliveryFirstSeesTheNextOne() throws {
            let loop = try IOLoop()
            var log: [String] = []
            var added = false
            try loop.onSignal(SIGWINCH) { _ in
                log.append("A")
                if !added {
                    added = true
                    try loop.onSignal(SIGWINCH) { _ in log.append("B") }
                }
            }
            pthread_kill(pthread_self(), SIGWINCH)
            try spin(loop) { !log.isEmpty }
            try loop.runOnce(timeout: .zero)
            #expect(log == ["A"])
            pthread_kill(pthread_self(), SIGWINCH)
            try spin(loop) { log.count == 3 }
            #expect(log == ["A", "A", "B"])
            try loop.close()
        }

        /// A delivery caught while a signal's old subscription was live is not
        /// handed to a subscription made after that one was cancelled, even
        /// when the loop reads it afterwards.
        @Test func aDeliveryBeforeASubscriptionIsNotHandedToIt() throws {
            let loop = try IOLoop()
            try loop.onSignal(SIGWINCH) { _ in } // keeps the loop's pipe open throughout
            var old = 0
            var new = 0
            let first = try loop.onSignal(SIGURG) { _ in old += 1 }
            pthread_kill(pthread_self(), SIGURG) // caught: a record waits in the pipe
            first.cancel()
            try loop.onSignal(SIGURG) { _ in new += 1 }
            for _ in 0..<3 { try loop.runOnce(timeout: .zero) }
            #expect(old == 0 && new == 0)
            pthread_kill(pthread_self(), SIGURG)
            try spin(loop) { new == 1 }
            #expect(old == 0 && new == 1)
            try loop.close()
        }
    }
}

@testable import EventLoop
import Glibc
import Synchronization
import Testing

/// Connecting to a name with several addresses (RFC 8305): the families
/// alternate, IPv6 first; the next attempt starts after the delay or when
/// the last one fails; the first connection wins and the others are closed;
/// the deadline and cancellation end every attempt; the error says what
/// each address answered. First with stand-in attempts (the order and the
/// timing, exactly), then over loopback, where a listener whose queue is full
/// drops SYNs: an address that never answers, without leaving 127.0.0.1 and ::1.
@Suite("Happy Eyeballs")
struct HappyEyeballsTests {
    static func v6(_ last: Int, port: UInt16 = 80) throws -> SocketEndpoint { try SocketEndpoint(ip: "::\(last)", port: port) }
    static func v4(_ last: Int, port: UInt16 = 80) throws -> SocketEndpoint { try SocketEndpoint(ip: "127.0.0.\(last)", port: port) }

    /// What the stand-in attempts saw, in order. Any thread.
    final class Log: Sendable {
        private let entries = Mutex<[String]>([])
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    // MARK: Order and timing, with stand-in attempts

    @Test func addressesAreTriedWithTheFamiliesAlternatingIPv6First() throws {
        let given = [try Self.v4(1), try Self.v4(2), try Self.v6(1), try Self.v6(2), try Self.v4(3)]
        #expect(HappyEyeballs.interleave(given) == [try Self.v6(1), try Self.v4(1), try Self.v6(2), try Self.v4(2), try Self.v4(3)])
        #expect(HappyEyeballs.interleave([try Self.v4(1), try Self.v4(2)]) == [try Self.v4(1), try Self.v4(2)])
    }

    @Test func theNextAttemptStartsAfterTheDelayWhileTheFirstStillWaits() throws {
        let loop = try IOLoop()
        let log = Log()
        let (winner, elapsed) = try loop.run { executor in
            let start = MonotonicInstant.now()
            let winner = try await HappyEyeballs.race(
                [try Self.v6(1), try Self.v4(1)], attemptDelay: .milliseconds(20), on: executor,
                attempt: { address in
                    log.add("start \(address.ip)")
                    if address.isIPv6 {
                        do { try await executor.sleep(for: .seconds(3_600)) } catch { log.add("cancelled \(address.ip)"); throw error }
                    }
                    return address.ip
                },
                discard: { log.add("discarded \($0)") })
            return (winner, MonotonicInstant.now() - start)
        }
        #expect(winner == "127.0.0.1")
        #expect(log.all == ["start ::1", "start 127.0.0.1", "cancelled ::1"], "the loser was cancelled")
        #expect(elapsed >= .milliseconds(20), "not before the delay")
        try loop.close()
    }

    @Test func aFailedAttemptStartsTheNextAtOnceWithoutWaitingForTheDelay() throws {
        let loop = try IOLoop()
        let log = Log()
        let winner = try loop.run { executor in
            try await executor.withDeadline(after: .seconds(5)) { // the delay is an hour: only the failure can start the next
                try await HappyEyeballs.race(
                    [try Self.v6(1), try Self.v4(1), try Self.v6(2)], attemptDelay: .seconds(3_600), on: executor,
                    attempt: { address in
                        log.add("start \(address.ip)")
                        if address.isIPv6 { throw StreamError(.connectionRefused, operation: "connect(\(address))") }
                        return address.ip
                    },
                    discard: { log.add("discarded \($0)") })
            }
        }
        #expect(winner == "127.0.0.1")
        #expect(log.all == ["start ::1", "start 127.0.0.1"], "the third was never needed")
        try loop.close()
    }

    @Test func theFirstToConnectWinsAndOneThatConnectsLaterIsDiscarded() throws {
        let loop = try IOLoop()
        let log = Log()
        let winner = try loop.run { executor in
            try await HappyEyeballs.race(
                [try Self.v6(1), try Self.v4(1)], attemptDelay: .milliseconds(10), on: executor,
                attempt: { address in
                    if address.isIPv6 {
                        // Connects anyway once cancelled: as a socket whose handshake finished meanwhile.
                        try? await executor.sleep(for: .seconds(3_600))
                    }
                    return address.ip
                },
                discard: { log.add("discarded \($0)") })
        }
        #expect(winner == "127.0.0.1")
        #expect(log.all == ["discarded ::1"])
        try loop.close()
    }

    @Test func whenEveryAttemptFailsTheErrorSaysWhatEachAddressAnswered() throws {
        let loop = try IOLoop()
        let failure = try loop.run { executor in
            do {
                _ = try await HappyEyeballs.race(
                    [try Self.v6(1, port: 9), try Self.v4(1, port: 9)], attemptDelay: .seconds(3_600), on: executor,
                    attempt: { address -> String in
                        if address.isIPv6 { throw StreamError(.system, operation: "connect(\(address))", errno: .networkUnreachable) }
                        throw StreamError(.connectionRefused, operation: "connect(\(address))", errno: .connectionRefused)
                    },
                    discard: { _ in })
                return HappyEyeballs.Failure?.none
            } catch let failure as HappyEyeballs.Failure {
                return failure
            }
        }
        let error = try #require(failure).streamError(connecting: "connect(localhost:9)")
        #expect(error.operation == "connect(localhost:9): ::1 ENETUNREACH, 127.0.0.1 refused")
        #expect(error.kind == .connectionRefused && error.errno == .connectionRefused, "the last answer's")
        try loop.close()
    }

    @Test func aTimedOutAttemptEndsTheRaceAndNoMoreStart() throws {
        let loop = try IOLoop()
        let log = Log()
        let failure = try loop.run { executor in
            do {
                _ = try await HappyEyeballs.race(
                    [try Self.v6(1), try Self.v4(1), try Self.v6(2)], attemptDelay: .milliseconds(20), on: executor,
                    attempt: { address -> String in
                        log.add("start \(address.ip)")
                        if address.isIPv4 { throw StreamError(.timedOut, operation: "connect(\(address))") } // the shared deadline has passed
                        do { try await executor.sleep(for: .seconds(3_600)) } catch { log.add("cancelled \(address.ip)"); throw error }
                        return address.ip
                    },
                    discard: { _ in })
                return HappyEyeballs.Failure?.none
            } catch let failure as HappyEyeballs.Failure {
                return failure
            }
        }
        #expect(log.all == ["start ::1", "start 127.0.0.1", "cancelled ::1"], "::2 never started")
        let error = try #require(failure).streamError(connecting: "connect(example:80)")
        #expect(error.kind == .timedOut && error.errno == nil)
        #expect(error.operation == "connect(example:80): ::1 cancelled, 127.0.0.1 timed out, ::2 not tried")
        try loop.close()
    }

    @Test func cancellingTheRaceCancelsEveryAttempt() throws {
        let loop = try IOLoop()
        let log = Log()
        try loop.run { executor in
            let racing = Task(executorPreference: executor) {
                try await HappyEyeballs.race(
                    [try Self.v6(1), try Self.v4(1), try Self.v6(2)], attemptDelay: .milliseconds(1), on: executor,
                    attempt: { address -> String in
                        log.add("start \(address.ip)")
                        do { try await executor.sleep(for: .seconds(3_600)) } catch { log.add("cancelled \(address.ip)"); throw error }
                        return address.ip
                    },
                    discard: { _ in })
            }
            try await executor.withDeadline(after: .seconds(5)) {
                while log.all.count < 3 { try await executor.sleep(for: .milliseconds(1)) }
            }
            racing.cancel()
            await #expect(throws: CancellationError.self) { try await racing.value }
        }
        #expect(Set(log.all.filter { $0.hasPrefix("cancelled") }) == ["cancelled ::1", "cancelled 127.0.0.1", "cancelled ::2"])
        try loop.close()
    }

    // MARK: Over loopback

    /// Listeners on ::1 and 127.0.0.1 at one port; `full` ones (backlog 0,
    /// one connection queued and never accepted) drop every later SYN, so a
    /// connect to them never answers. Returns the listeners and the queued
    /// clients, which the caller closes.
    static func listeners(
        fullOn full: Set<String>, on executor: LoopExecutor
    ) async throws -> (port: UInt16, listeners: [StreamListener], queued: [Descriptor]) {
        for _ in 0..<20 {
            let first = try await StreamListener.bind(host: "::1", port: 0, backlog: full.contains("::1") ? 0 : 511, on: executor)
            let second: StreamListener
            do {
                second = try await StreamListener.bind(
                    host: "127.0.0.1", port: first.port, backlog: full.contains("127.0.0.1") ? 0 : 511, on: executor)
            } catch let error as StreamError where error.kind == .addressInUse {
                await first.close() // the port is taken on 127.0.0.1: another try
                continue
            }
            var queued: [Descriptor] = []
            for listener in [first, second] where full.contains(listener.localAddress.ip) {
                let socket = try Socket.connectTCP(to: listener.localAddress)
                _ = try await executor.withDeadline(after: .seconds(5)) { [number = socket.descriptor] in
                    try await executor.waitForReadiness(of: number, interest: .writable)
                }
                queued.append(socket.release())
            }
            return (first.port, [first, second], queued)
        }
        throw StreamError(.addressInUse, operation: "no port free on both ::1 and 127.0.0.1")
    }

    @Test(arguments: LoopBackend.available)
    func anIPv6AddressThatNeverAnswersCostsTheAttemptDelayNotTheTimeout(backend: LoopBackend) throws {
        let script = FaultScript()
        let loop = try script.run { try IOLoop(backend: backend) }
        try loop.run { executor in
            let (port, listeners, queued) = try await Self.listeners(fullOn: ["::1"], on: executor)
            script.clearTrace()
            let start = MonotonicInstant.now()
            let client = try await StreamConnection.connect(
                host: "localhost", port: port, timeout: .seconds(30), attemptDelay: .milliseconds(50), on: executor)
            let elapsed = MonotonicInstant.now() - start
            #expect(client.peerAddress.ip == "127.0.0.1", "::1 dropped the SYN; 127.0.0.1 answered")
            #expect(elapsed >= .milliseconds(50) && elapsed < .seconds(10), "\(elapsed)")
            #expect(script.records(of: .socket).count == 2, "one attempt per family")
            await client.close()
            for listener in listeners { await listener.close() }
            closeAll(queued)
            #expect(UnixConnectBackoffTests.everySocketWasClosed(script), "the ::1 attempt's socket was closed")
        }
        try loop.close()
    }

    @Test(arguments: LoopBackend.available)
    func whenNoAddressAnswersTheTimeoutEndsEveryAttemptAndSaysSo(backend: LoopBackend) throws {
        let script = FaultScript()
        let loop = try script.run { try IOLoop(backend: backend) }
        try loop.run { executor in
            let (port, listeners, queued) = try await Self.listeners(fullOn: ["::1", "127.0.0.1"], on: executor)
            script.clearTrace()
            let start = MonotonicInstant.now()
            let error = await #expect(throws: StreamError.self) {
                try await StreamConnection.connect(
                    host: "localhost", port: port, timeout: .milliseconds(300), attemptDelay: .milliseconds(50), on: executor)
            }
            let elapsed = MonotonicInstant.now() - start
            #expect(error?.kind == .timedOut)
            #expect(error?.operation == "connect(localhost:\(port)): ::1 timed out, 127.0.0.1 timed out")
            #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(10), "\(elapsed)")
            #expect(UnixConnectBackoffTests.everySocketWasClosed(script))
            for listener in listeners { await listener.close() }
            closeAll(queued)
        }
        try loop.close()
    }

    @Test func cancellingAConnectClosesEveryAttempt() throws {
        let script = FaultScript()
        let loop = try script.run { try IOLoop() }
        try loop.run { executor in
            let (port, listeners, queued) = try await Self.listeners(fullOn: ["::1", "127.0.0.1"], on: executor)
            script.clearTrace()
            let connecting = Task(executorPreference: executor) {
                try await StreamConnection.connect(host: "localhost", port: port, attemptDelay: .milliseconds(10), on: executor)
            }
            try await executor.withDeadline(after: .seconds(5)) {
                while script.records(of: .connect).count < 2 { try await executor.sleep(for: .milliseconds(1)) }
            }
            connecting.cancel()
            await #expect(throws: CancellationError.self) { try await connecting.value }
            #expect(script.records(of: .socket).count == 2 && UnixConnectBackoffTests.everySocketWasClosed(script))
            for listener in listeners { await listener.close() }
            closeAll(queued)
        }
        try loop.close()
    }

    @Test func whenEveryAddressRefusesTheErrorNamesEachAnswer() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let closed = try await StreamListener.bind(host: "::1", port: 0, on: executor)
            let port = closed.port // nobody listens there once it closes (nor, almost surely, on 127.0.0.1)
            await closed.close()
            let error = await #expect(throws: StreamError.self) {
                try await StreamConnection.connect(host: "localhost", port: port, timeout: .seconds(5), on: executor)
            }
            #expect(error?.kind == .connectionRefused && error?.errno == .connectionRefused)
            #expect(error?.operation == "connect(localhost:\(port)): ::1 refused, 127.0.0.1 refused")
        }
        try loop.close()
    }

    @Test func aNegativeAttemptDelayIsRefused() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let error = await #expect(throws: ArgumentError.self) {
                try await StreamConnection.connect(host: "localhost", port: 9, attemptDelay: .milliseconds(-1), on: executor)
            }
            #expect(error?.argument == "attemptDelay -1.0 milliseconds" || error != nil)
        }
        try loop.close()
    }
}

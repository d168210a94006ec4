import EventLoop
import Glibc
import Testing

/// The zero, negative and huge durations (and negative counts) the executor
/// and stream APIs take: each does what its documentation says, or is refused.
@Suite("Durations and counts at the executor and streams")
struct DurationArgumentTests {
    @Test func aHugeSleepSaturatesAndOnlyCancellationEndsIt() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let woke = Flag()
            let sleeping = Task(executorPreference: executor) {
                try await executor.sleep(for: .seconds(Int64.max))
                woke.set()
            }
            for _ in 0..<5 { try await executor.sleep(for: .zero) } // a few loop iterations
            #expect(woke.count == 0, "not wrapped to a deadline in the past")
            sleeping.cancel()
            await #expect(throws: CancellationError.self) { try await sleeping.value }
            #expect(woke.count == 0)
        }
        try loop.close()
    }

    @Test func aDeadlineThatHasPassedCancelsAWaitingBodyAtTheNextTimerPhase() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            for duration in [Duration.zero, .seconds(-1), .seconds(Int64.min)] {
                let start = MonotonicInstant.now()
                await #expect(throws: DeadlineExceeded(duration: duration)) {
                    try await executor.withDeadline(after: duration) { try await executor.sleep(for: .seconds(30)) }
                }
                #expect(millisecondsSince(start) < 10_000, "\(duration)")
            }
            let value = try await executor.withDeadline(after: .seconds(-1)) { 7 }
            #expect(value == 7, "a body that never waits finishes first")
        }
        try loop.close()
    }

    @Test func aHugeDeadlineNeverFires() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            for duration in [Duration.seconds(Int64.max), Duration(attoseconds: .max)] {
                let value = try await executor.withDeadline(after: duration) { () async throws -> Int in
                    try await executor.sleep(for: .milliseconds(2))
                    return 42
                }
                #expect(value == 42)
            }
        }
        try loop.close()
    }

    @Test func aNegativeGracePeriodCancelsTheHandlersAtOnce() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let cancelled = Flag()
            let started = Flag()
            let server = try await StreamServer.listening(port: 0, on: executor, errorHandler: { error in
                if error is CancellationError { cancelled.set() }
            }) { connection in
                started.set()
                _ = try await connection.readExactly(1_000) // never comes
            }
            let running = Task(executorPreference: executor) { try await server.run() }
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: server.port, on: executor)
            try await client.write("x")
            try await executor.withDeadline(after: .seconds(5)) {
                while started.count == 0 { try await executor.sleep(for: .milliseconds(1)) }
            }
            server.shutdown(gracePeriod: .seconds(-10))
            try await executor.withDeadline(after: .seconds(5)) { try await running.value }
            #expect(cancelled.count == 1)
            await client.close()
        }
        try loop.close()
    }

    @Test func aNegativeUnixBacklogIsRefusedLikeATCPOneAndMakesNoFile() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/refused.sock"
            let endpoint = try SocketEndpoint(unixPath: path)
            #expect(throws: ArgumentError.self) { _ = try Socket.listenUnix(on: endpoint, backlog: -1) }
            #expect(throws: ArgumentError.self) {
                _ = try Socket.listenTCP(on: try SocketEndpoint(ip: "127.0.0.1", port: 0), backlog: -1)
            }
            let loop = try IOLoop()
            try loop.run { executor in
                _ = await #expect(throws: ArgumentError.self) {
                    try await StreamListener.bind(unixPath: path, backlog: Int32.min, on: executor)
                }
            }
            try loop.close()
            #expect(access(path, F_OK) != 0, "refused before bind made the socket file")
            try Socket.listenUnix(on: endpoint, backlog: 0).close()
            #expect(access(path, F_OK) == 0, "a backlog of zero is fine")
        }
    }
}

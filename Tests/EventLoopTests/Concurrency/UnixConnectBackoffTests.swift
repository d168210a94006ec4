import EventLoop
import Glibc
import Testing

/// A Unix listener whose queue is full makes a non-blocking connect say
/// `EAGAIN`; `connect(unixPath:timeout:on:)` waits for room within its
/// timeout, as a blocking connect would, instead of failing at once.
@Suite("Unix connect to a full queue")
struct UnixConnectBackoffTests {
    /// Every socket `script` saw made was closed afterwards.
    static func everySocketWasClosed(_ script: FaultScript) -> Bool {
        var open = Set<Int32>()
        for record in script.trace {
            if record.call == .socket, record.result >= 0 { open.insert(Int32(record.result)) }
            if record.call == .close, let fd = record.descriptor { open.remove(fd.rawValue) }
        }
        return open.isEmpty
    }

    @Test func aConnectToAFullQueueWaitsForItsWholeTimeoutThenTimesOutNamingThePath() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/busy.sock"
            let script = FaultScript()
            let loop = try script.run { try IOLoop() } // traces the loop's calls
            try loop.run { executor in
                let listener = try await StreamListener.bind(unixPath: path, backlog: 0, on: executor) // never accepts
                let queued = try fillQueue(of: listener.localAddress)
                script.clearTrace()
                let start = MonotonicInstant.now()
                let error = await #expect(throws: StreamError.self) {
                    try await StreamConnection.connect(unixPath: path, timeout: .milliseconds(200), on: executor)
                }
                let elapsed = millisecondsSince(start)
                #expect(error?.kind == .timedOut && error?.operation.contains(path) == true, "\(String(describing: error))")
                #expect(elapsed >= 200 && elapsed < 5_000, "waited its timeout, not failing at once: \(elapsed) ms")
                let tries = script.records(of: .connect).count
                #expect(tries >= 3 && tries <= 40, "tried again with a growing pause, not in a busy loop: \(tries) tries")
                #expect(script.records(of: .connect).allSatisfy { $0.errno == .wouldBlock })
                #expect(Self.everySocketWasClosed(script), "the socket was closed on the way out")
                closeAll(queued)
                await listener.close()
            }
            try loop.close()
        }
    }

    @Test func aConnectToAFullQueueSucceedsOnceTheListenerAcceptsWithinTheTimeout() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/slow.sock"
            let loop = try IOLoop()
            try loop.run { executor in
                let listener = try await StreamListener.bind(unixPath: path, backlog: 0, on: executor)
                let queued = try fillQueue(of: listener.localAddress)
                try #require(queued.count >= 1)
                let acceptedLater = Task(executorPreference: executor) {
                    try await executor.sleep(for: .milliseconds(50)) // on the loop's timers
                    return try await listener.accept()
                }
                let start = MonotonicInstant.now()
                let client = try await StreamConnection.connect(unixPath: path, timeout: .seconds(10), on: executor)
                #expect(millisecondsSince(start) >= 45, "it waited for the accept that made room")
                let first = try await acceptedLater.value
                // The queue is first in, first out: the filler clients, then ours.
                var accepted = [first]
                for _ in 1..<queued.count { accepted.append(try await listener.accept()) }
                let ours = try await executor.withDeadline(after: .seconds(5)) { try await listener.accept() }
                try await client.write("made it")
                #expect(try await ours.readExactly(7) == Array("made it".utf8))
                for connection in accepted { await connection.close() }
                await ours.close()
                await client.close()
                closeAll(queued)
                await listener.close()
            }
            try loop.close()
        }
    }

    @Test func withoutATimeoutItKeepsTryingUntilCancelledAndClosesItsSocket() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/forever.sock"
            let script = FaultScript()
            let loop = try script.run { try IOLoop() }
            try loop.run { executor in
                let listener = try await StreamListener.bind(unixPath: path, backlog: 0, on: executor)
                let queued = try fillQueue(of: listener.localAddress)
                script.clearTrace()
                let connecting = Task(executorPreference: executor) {
                    try await StreamConnection.connect(unixPath: path, on: executor)
                }
                try await executor.withDeadline(after: .seconds(10)) { // tries 1, 2 and 3 take about 3 ms
                    while script.records(of: .connect).count < 3 { try await executor.sleep(for: .milliseconds(1)) }
                }
                connecting.cancel()
                let result = await connecting.result
                #expect(throws: CancellationError.self) { try result.get() }
                #expect(Self.everySocketWasClosed(script))
                closeAll(queued)
                await listener.close()
            }
            try loop.close()
        }
    }

    @Test func aZeroTimeoutTriesOnceAFullQueueTimesOutAtOnceAndRoomConnects() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/once.sock"
            let loop = try IOLoop()
            try loop.run { executor in
                let listener = try await StreamListener.bind(unixPath: path, backlog: 0, on: executor)
                let client = try await StreamConnection.connect(unixPath: path, timeout: .zero, on: executor)
                await client.close()
                let queued = try fillQueue(of: listener.localAddress)
                for timeout in [Duration.zero, .seconds(-1)] {
                    let error = await #expect(throws: StreamError.self) {
                        try await StreamConnection.connect(unixPath: path, timeout: timeout, on: executor)
                    }
                    #expect(error?.kind == .timedOut)
                }
                closeAll(queued)
                await listener.close()
            }
            try loop.close()
        }
    }

    @Test func aScriptedEagainOnAUnixConnectIsRetriedButOnTCPItFailsAtOnce() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/scripted.sock"
            let script = FaultScript()
            let loop = try script.run { try IOLoop() }
            try loop.run { executor in
                let unix = try await StreamListener.bind(unixPath: path, on: executor)
                let tcp = try await StreamListener.bind(port: 0, on: executor)
                try script.inject(.fail(.wouldBlock), into: .connect, when: .first(3))
                let client = try await StreamConnection.connect(unixPath: path, timeout: .seconds(10), on: executor)
                let tries = script.records(of: .connect)
                #expect(tries.count == 4 && tries.prefix(3).allSatisfy(\.injected) && tries.last?.result == 0)
                await client.close()
                await (try unix.accept()).close()

                // TCP's EAGAIN (no local port free) is no full queue: waiting would not cure it.
                script.removeAllRules()
                try script.inject(.fail(.wouldBlock), into: .connect, when: .first(1))
                script.clearTrace()
                let start = MonotonicInstant.now()
                let error = await #expect(throws: StreamError.self) {
                    try await StreamConnection.connect(host: "127.0.0.1", port: tcp.port, timeout: .seconds(10), on: executor)
                }
                #expect(error?.kind == .system && error?.errno == .wouldBlock)
                #expect(millisecondsSince(start) < 5_000 && script.records(of: .connect).count == 1)
                #expect(Self.everySocketWasClosed(script))
                await unix.close()
                await tcp.close()
            }
            try loop.close()
        }
    }
}

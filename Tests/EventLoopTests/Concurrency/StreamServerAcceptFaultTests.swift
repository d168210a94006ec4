import EventLoop
import Synchronization
import Testing

/// Nothing that goes wrong with one connection, or with the accept of one,
/// ends a `StreamServer` or touches its other connections; however `run()`
/// ends, the listener is closed first. Driven through the public fault seam.
@Suite("StreamServer: one connection's failure is not the server's")
struct StreamServerAcceptFaultTests {
    /// The errors `accept(2)` reports for the connection being taken, and the shortages.
    static let survivable: [ErrnoCode] = [
        .protocolError,
        .noBufferSpace,
        .notPermitted, // EPERM, from a firewall
        .networkDown,
        .hostUnreachable,
        .noMemory,
        .connectionAborted,
        .tooManyOpenFiles,
    ]

    @Test(arguments: survivable)
    func oneFailedAcceptIsReportedAndTheServerGoesOnServingEveryConnection(errno: ErrnoCode) throws {
        let script = FaultScript()
        let loop = try script.run { try IOLoop() }
        let reports = Mutex<[StreamError]>([])
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, acceptBackoff: .milliseconds(2), on: executor)
            let server = StreamServer(listener: listener, errorHandler: { error in
                if let error = error as? StreamError { reports.withLock { $0.append(error) } }
            }) { connection in
                while case let line = try await connection.readLine(), !line.isEmpty { try await connection.write(line) }
            }
            let running = Task(executorPreference: executor) { try await server.run() }
            let port = listener.port
            // The first connection's accept fails once; the second is untouched.
            let early = try await StreamConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), on: executor)
            try await early.write("early\n")
            let replyEarly = try await executor.withDeadline(after: .seconds(5)) { try await early.readLine() }
            #expect(replyEarly == Array("early\n".utf8))
            try script.inject(.fail(errno), into: .accept4, when: .nth(1))
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), on: executor)
            try await client.write("hello\n")
            let reply = try await executor.withDeadline(after: .seconds(5)) { try await client.readLine() }
            #expect(reply == Array("hello\n".utf8))
            // The first connection was not touched: it still answers.
            try await early.write("again\n")
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await early.readLine() } == Array("again\n".utf8))
            #expect(script.trace.contains { $0.call == .accept4 && $0.injected && $0.errno == errno })
            server.shutdown(gracePeriod: .seconds(1))
            await early.close()
            await client.close()
            try await executor.withDeadline(after: .seconds(5)) { try await running.value }
        }
        try loop.close()
        if errno != .connectionAborted {
            let seen = reports.withLock { $0 }
            #expect(seen.contains { $0.errno == errno && $0.operation.hasPrefix("accept(") }, "reported: \(seen)")
        }
    }

    @Test func aFailureOfTheListeningSocketClosesTheListenerBeforeRunThrows() throws {
        let script = FaultScript()
        let loop = try script.run { try IOLoop() }
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, on: executor)
            let port = listener.port
            let server = StreamServer(listener: listener, errorHandler: { _ in }) { _ in }
            try script.inject(.fail(.badFileDescriptor), into: .accept4, when: .nth(1))
            let running = Task(executorPreference: executor) { try await server.run() }
            // Queued when the listener fails: its connection ends (a reset), it is not left waiting.
            let client: StreamConnection?
            do {
                client = try await StreamConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), on: executor)
            } catch let error as StreamError where error.kind == .connectionReset {
                client = nil
            }
            let failure = await #expect(throws: StreamError.self) {
                try await executor.withDeadline(after: .seconds(5)) { try await running.value }
            }
            #expect(failure?.errno == .badFileDescriptor)
            if let client {
                let end = try await executor.withDeadline(after: .seconds(5)) { () async -> Bool in
                    do { return try await client.read(upTo: 4).isEmpty } catch { return true }
                }
                #expect(end)
                await client.close()
            }
            let refused = await #expect(throws: StreamError.self) {
                try await StreamConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), on: executor)
            }
            #expect(refused?.kind == .connectionRefused)
        }
        try loop.close()
    }

    @Test func aConnectionTheLoopCannotRegisterIsSkippedAndTheNextIsServed() throws {
        let script = FaultScript()
        let loop = try script.run { try IOLoop() }
        let reports = Mutex<[StreamError]>([])
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, on: executor)
            let server = StreamServer(listener: listener, errorHandler: { error in
                if let error = error as? StreamError { reports.withLock { $0.append(error) } }
            }) { connection in
                try await connection.write(try await connection.readLine())
            }
            // Queued before the server runs; then the next registration, the accepted
            // socket's, fails with ENOSPC (epoll's watch limit).
            let first = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor)
            try script.inject(.fail(ErrnoCode(rawValue: 28)), into: .epollCtl, when: .nth(1))
            let running = Task(executorPreference: executor) { try await server.run() }
            let end = try await executor.withDeadline(after: .seconds(5)) { () async -> Bool in
                do { return try await first.read(upTo: 4).isEmpty } catch { return true }
            }
            #expect(end, "the skipped connection is closed, not left open")
            #expect(script.trace.contains { $0.call == .epollCtl && $0.injected })
            script.removeAllRules()
            let second = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor)
            try await second.write("ok\n")
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await second.readLine() } == Array("ok\n".utf8))
            server.shutdown(gracePeriod: .seconds(1))
            await first.close()
            await second.close()
            try await executor.withDeadline(after: .seconds(5)) { try await running.value }
        }
        try loop.close()
        #expect(reports.withLock { $0 }.contains { $0.operation.contains("skipped") })
    }
}

@testable import EventLoop
import Synchronization
import Testing

/// Listeners on io_uring take their connections by completion (one
/// multishot accept in the kernel), not by `accept(2)`: what that path must
/// keep. The stream and server suites run on io_uring too; these are the
/// cases only that path has. Skipped where this process may not use io_uring.
@Suite("Listeners accepting by completion (io_uring)")
struct StreamAcceptByCompletionTests {
    private static var available: Bool { LoopBackend.ioUring.unavailableReason == nil }

    /// Connections arrive with every `accept(2)` of the listener failing
    /// (scripted, `EBADF`, which would end it): they came by completion.
    @Test func connectionsArriveWithoutAnAcceptSystemCall() throws {
        guard Self.available else { return }
        let script = FaultScript()
        let loop = try IOLoop(backend: .ioUring)
        try script.run {
            try loop.run { executor in
                let listener = try await StreamListener.bind(port: 0, on: executor)
                try script.inject(.fail(.badFileDescriptor), into: .accept4, descriptor: listener.core.descriptor)
                for word in ["one", "two", "six"] {
                    let client = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor)
                    let server = try await executor.withDeadline(after: .seconds(5)) { try await listener.accept() }
                    try await client.write(word)
                    #expect(try await executor.withDeadline(after: .seconds(5)) { try await server.readExactly(3) } == Array(word.utf8))
                    await client.close()
                    await server.close()
                }
                #expect(script.records(of: .accept4).isEmpty)
                #expect(script.records(of: .ioUringAccept).filter { $0.descriptor == listener.core.descriptor }.count >= 3)
                script.removeAllRules()
                await listener.close()
            }
        }
        try loop.close()
    }

    /// An accept that completes with one connection's error (scripted:
    /// `ECONNABORTED`, `EPROTO`) skips it (the connection the kernel took is
    /// closed, so its client sees the end) and the next one is served; a
    /// shortage (`EMFILE`) pauses, is reported, and accepting goes on.
    @Test(arguments: [ErrnoCode.connectionAborted, .protocolError, .tooManyOpenFiles])
    func oneFailedAcceptCompletionIsSkippedAndTheNextConnectionServed(errno: ErrnoCode) throws {
        guard Self.available else { return }
        let script = FaultScript()
        let loop = try script.run { try IOLoop(backend: .ioUring) }
        let reports = Mutex<[StreamError]>([])
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, acceptBackoff: .milliseconds(2), on: executor)
            let server = StreamServer(listener: listener, errorHandler: { error in
                if let error = error as? StreamError { reports.withLock { $0.append(error) } }
            }) { connection in
                while case let line = try await connection.readLine(), !line.isEmpty { try await connection.write(line) }
            }
            try script.inject(.fail(errno), into: .ioUringAccept, descriptor: listener.core.descriptor, when: .nth(1))
            let running = Task(executorPreference: executor) { try await server.run() }
            let lost = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor)
            // Its connection was closed by the package: the end, or a reset.
            #expect(await seesTheEnd(lost, executor))
            let next = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor)
            try await next.write("next\n")
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await next.readLine() } == Array("next\n".utf8))
            #expect(script.records(of: .ioUringAccept).contains { $0.injected })
            script.removeAllRules()
            server.shutdown(gracePeriod: .seconds(1))
            await lost.close()
            await next.close()
            try await executor.withDeadline(after: .seconds(5)) { try await running.value }
        }
        try loop.close()
        let reported = reports.withLock { $0 }
        if errno == .connectionAborted {
            #expect(reported.isEmpty, "an aborted connection is routine: not reported")
        } else {
            #expect(reported.contains { $0.errno == errno && $0.operation.hasPrefix("accept(") })
        }
    }

    /// An accept whose pause for a shortage (`EMFILE`: the kernel ended the
    /// request) is cancelled leaves the listener whole: the next accept
    /// arms it again and takes the next connection.
    @Test func anAcceptCancelledInItsShortagePauseLeavesTheListenerAccepting() throws {
        guard Self.available else { return }
        let script = FaultScript()
        let loop = try script.run { try IOLoop(backend: .ioUring) }
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, acceptBackoff: .seconds(60), on: executor)
            let first = try await armedByAFirstAccept(listener, executor)
            try script.inject(.fail(.tooManyOpenFiles), into: .ioUringAccept, descriptor: listener.core.descriptor, when: .nth(1))
            let pausing = Task(executorPreference: executor) { try await listener.accept() }
            let lost = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor)
            try await executor.withDeadline(after: .seconds(5)) {
                while !listener.acceptPaused { try await executor.sleep(for: .milliseconds(1)) }
            }
            pausing.cancel()
            await #expect(throws: CancellationError.self) { try await pausing.value }
            script.removeAllRules()
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor)
            let server = try await executor.withDeadline(after: .seconds(5)) { try await listener.accept() }
            try await client.write("x")
            #expect(try await executor.withDeadline(after: .seconds(5)) { try await server.readExactly(1) } == Array("x".utf8))
            for stream in first + [lost, client, server] { await stream.close() }
            await listener.close()
        }
        try loop.close()
    }

    /// The listening socket's own failure (scripted `EBADF` on the accept's
    /// completion) ends the request: that accept and every later one throw
    /// it, none waits for good.
    @Test func aFailureOfTheListeningSocketIsThrownByEveryLaterAccept() throws {
        guard Self.available else { return }
        let script = FaultScript()
        let loop = try script.run { try IOLoop(backend: .ioUring) }
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, on: executor)
            let first = try await armedByAFirstAccept(listener, executor)
            try script.inject(.fail(.badFileDescriptor), into: .ioUringAccept, descriptor: listener.core.descriptor, when: .nth(1))
            let lost = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor)
            for _ in 0..<2 {
                let error = await #expect(throws: StreamError.self) {
                    try await executor.withDeadline(after: .seconds(5)) { try await listener.accept() }
                }
                #expect(error?.errno == .badFileDescriptor)
            }
            script.removeAllRules()
            for stream in first + [lost] { await stream.close() }
            await listener.close()
        }
        try loop.close()
    }

    /// Connections nobody claims stop the accept at `queueLimit`: the rest
    /// wait in the kernel's backlog, and every one is accepted once claimed.
    @Test func unclaimedConnectionsPauseTheAcceptAndNoneIsLost() throws {
        guard Self.available else { return }
        let loop = try IOLoop(backend: .ioUring)
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, backlog: 512, on: executor)
            let first = try await armedByAFirstAccept(listener, executor)
            let total = StreamListener.queueLimit + 8
            var clients: [StreamConnection] = []
            for _ in 0..<total {
                clients.append(try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor))
            }
            try await executor.withDeadline(after: .seconds(10)) {
                while listener.queuedConnections < StreamListener.queueLimit { try await executor.sleep(for: .milliseconds(1)) }
            }
            #expect(listener.acceptPaused)
            // Completions posted before the pause's cancel still arrive: at least the limit, not all.
            #expect(listener.queuedConnections >= StreamListener.queueLimit && listener.queuedConnections < total,
                    "the rest stay in the kernel's backlog")
            var servers: [StreamConnection] = []
            for _ in 0..<total { servers.append(try await executor.withDeadline(after: .seconds(5)) { try await listener.accept() }) }
            #expect(!listener.acceptPaused)
            // Each accepted connection is one of the clients: a byte each way proves the pairing is whole.
            for (index, client) in clients.enumerated() { try await client.write([UInt8(index & 0xFF)]) }
            var seen = Set<UInt8>()
            for server in servers {
                let byte = try await executor.withDeadline(after: .seconds(5)) { try await server.readExactly(1) }
                seen.insert(byte[0])
            }
            #expect(seen.count == min(total, 256))
            for stream in clients + servers + first { await stream.close() }
            await listener.close()
        }
        try loop.close()
    }

    /// A listener nobody accepts on does not take its connections: they stay
    /// in the kernel's backlog (whose size is the backpressure asked for).
    @Test func aListenerNobodyAcceptsOnLeavesItsConnectionsInTheBacklog() throws {
        guard Self.available else { return }
        let loop = try IOLoop(backend: .ioUring)
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, on: executor)
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor)
            try await executor.sleep(for: .milliseconds(20)) // loop iterations in which an armed accept would take it
            #expect(listener.acceptsByCompletion == nil)
            #expect(listener.queuedConnections == 0)
            let server = try await executor.withDeadline(after: .seconds(5)) { try await listener.accept() }
            #expect(listener.acceptsByCompletion == true)
            await server.close()
            await client.close()
            await listener.close()
        }
        try loop.close()
    }

    /// A listener closed with connections taken and not claimed closes them:
    /// their clients see the end, no descriptor is left behind.
    @Test func closingAListenerClosesTheConnectionsNobodyClaimed() throws {
        guard Self.available else { return }
        let loop = try IOLoop(backend: .ioUring)
        try loop.run { executor in
            let listener = try await StreamListener.bind(port: 0, on: executor)
            let first = try await armedByAFirstAccept(listener, executor)
            var clients: [StreamConnection] = []
            for _ in 0..<3 {
                clients.append(try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor))
            }
            try await executor.withDeadline(after: .seconds(10)) {
                while listener.queuedConnections < 3 { try await executor.sleep(for: .milliseconds(1)) }
            }
            await listener.close()
            #expect(listener.queuedConnections == 0)
            for stream in first { await stream.close() }
            for client in clients {
                #expect(await seesTheEnd(client, executor), "the end or a reset, never a hang")
                await client.close()
            }
        }
        try loop.close()
    }
}

/// Whether `stream` reaches its end (or a reset) with nothing more to read,
/// within 5 s.
private func seesTheEnd(_ stream: StreamConnection, _ executor: LoopExecutor) async -> Bool {
    do {
        return try await executor.withDeadline(after: .seconds(5)) { try await stream.readToEnd() }.isEmpty
    } catch let error as StreamError where error.kind == .connectionReset {
        return true
    } catch {
        return false
    }
}

/// Arms `listener`'s accept by completion with a first accept: returns the
/// pair of that connection (client, server), for the caller to close.
private func armedByAFirstAccept(_ listener: StreamListener, _ executor: LoopExecutor) async throws -> [StreamConnection] {
    let client = try await StreamConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(5), on: executor)
    let server = try await executor.withDeadline(after: .seconds(5)) { try await listener.accept() }
    return [client, server]
}

import EventLoop
import Glibc
import Testing

/// UDP sockets, Unix domain streams, and the task-per-connection server.
@Suite("Datagram, Unix and server")
struct StreamKindsTests {
    @Test func datagramsKeepTheirBoundariesAndTheirSenderAndReportTruncation() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let a = try await DatagramSocket.bind(on: executor)
            let b = try await DatagramSocket.bind(on: executor)
            try await a.send(Array("one".utf8), to: b.localAddress)
            try await a.send(Array("two!".utf8), to: b.localAddress)
            try await a.send([UInt8](repeating: 9, count: 100), to: b.localAddress)
            let first = try await b.receive()
            #expect(first.bytes == Array("one".utf8) && first.sender == a.localAddress && !first.truncated)
            #expect(try await b.receive().bytes == Array("two!".utf8), "datagrams are never merged")
            var small = [UInt8](repeating: 0, count: 10)
            let cut = try await b.receive(into: &small)
            #expect(cut.count == 10 && cut.truncated, "a datagram larger than the buffer says so")
            await a.close()
            await b.close()
        }
        try loop.close()
    }

    @Test func aUnixListenerServesItsPathReplacesAStaleFileAndRemovesItsOwn() throws {
        let path = "/tmp/eventloop-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        // A stale socket file, as a crashed process leaves it: bound, then closed without unlinking.
        try Socket.listenUnix(on: try SocketEndpoint(unixPath: path)).close()
        #expect(access(path, F_OK) == 0)
        let loop = try IOLoop()
        try loop.run { executor in
            let refused = await #expect(throws: StreamError.self) { try await StreamListener.bind(unixPath: path, on: executor) }
            #expect(refused?.kind == .addressInUse, "without replacingStale the file stays")
            let listener = try await StreamListener.bind(unixPath: path, replacingStale: true, on: executor)
            async let accepted = listener.accept()
            let client = try await StreamConnection.connect(unixPath: path, on: executor)
            let server = try await accepted
            try await client.write("over unix")
            #expect(try await server.readExactly(9) == Array("over unix".utf8))
            let live = await #expect(throws: StreamError.self) {
                try await StreamListener.bind(unixPath: path, replacingStale: true, on: executor)
            }
            #expect(live?.kind == .addressInUse, "a live listener is never replaced")
            // The liveness probe was a connection that the live listener sees close at once.
            #expect(try await listener.accept().read(upTo: 8) == [])
            await client.close()
            await listener.close()
        }
        #expect(access(path, F_OK) != 0, "the listener removed its own socket file")
        try loop.close()
    }

    @Test func aTaskPerConnectionServerStopsWhenItsTaskIsCancelled() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let handlerCancelled = Flag()
            let server = try await StreamServer.listening(port: 0, on: executor) { connection in
                do {
                    while true {
                        let bytes = try await connection.read(upTo: 1024)
                        if bytes.isEmpty { return }
                        try await connection.write(bytes)
                    }
                } catch is CancellationError {
                    handlerCancelled.set()
                } catch let error as StreamError where error.kind == .closed {
                    handlerCancelled.set()
                }
            }
            let running = Task(executorPreference: executor) { try await server.run() }
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: server.port, on: executor)
            try await client.write("ping")
            #expect(try await client.readExactly(4) == Array("ping".utf8))
            running.cancel()
            try await executor.withDeadline(after: .seconds(5)) { try await running.value }
            #expect(handlerCancelled.count == 1)
            await #expect(throws: StreamError.self) {
                _ = try await StreamConnection.connect(host: "127.0.0.1", port: server.port, on: executor)
            }
        }
        try loop.close()
    }

    @Test func aGracefulShutdownLetsHandlersFinishWithinTheGracePeriod() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let finished = Flag()
            let server = try await StreamServer.listening(port: 0, on: executor) { connection in
                _ = try await connection.readExactly(1)
                try await executor.sleep(for: .milliseconds(20)) // still working when the shutdown comes
                try await connection.write("done")
                finished.set()
            }
            let running = Task(executorPreference: executor) { try await server.run() }
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: server.port, on: executor)
            try await client.write("x")
            try await executor.sleep(for: .milliseconds(5))
            server.shutdown(gracePeriod: .seconds(5))
            try await executor.withDeadline(after: .seconds(5)) { try await running.value }
            #expect(finished.count == 1)
            #expect(try await client.readToEnd() == Array("done".utf8))
        }
        try loop.close()
    }

    @Test func aConnectionKnowsItsOwnLocalAddress() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(on: executor)
            #expect(client.localAddress == (try client.descriptor.localAddress()))
            #expect(client.localAddress == server.peerAddress)
            #expect(server.localAddress == client.peerAddress)
        }
        try loop.close()
    }

    @Test func aGracefulShutdownWhoseHandlersEndEarlyLeavesNoTimerBehind() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let server = try await StreamServer.listening(port: 0, on: executor) { connection in
                _ = try await connection.readToEnd()
            }
            let running = Task(executorPreference: executor) { try await server.run() }
            let client = try await StreamConnection.connect(host: "127.0.0.1", port: server.port, on: executor)
            try await executor.sleep(for: .milliseconds(2))
            server.shutdown(gracePeriod: .seconds(60))
            try await executor.sleep(for: .milliseconds(2))
            await client.close()
            try await executor.withDeadline(after: .seconds(5)) { try await running.value }
        }
        #expect(loop.metrics.activeTimers == 0, "the 60 s grace timer went with the last handler")
        try loop.close()
    }
}

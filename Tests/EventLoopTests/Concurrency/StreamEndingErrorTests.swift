import EventLoop
import Glibc
import Testing

/// An error that ends a stream stays: after a reset, every later read (once
/// the bytes before it are read) and every write reports it, so a reader that
/// retries, or a second reader, never takes a cut-off stream for a whole one.
@Suite("Stream errors: an error that ends a stream stays")
struct StreamEndingErrorTests {
    @Test(arguments: LoopBackend.available)
    func afterAResetEveryLaterReadAndWriteReportsItAndNoneLooksLikeACleanEnd(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            try await client.write("partial")
            #expect(try await server.readExactly(3) == Array("par".utf8))
            resetOnClose(client.descriptor)
            await client.close()
            // The bytes before the reset are delivered first (those the stream buffered, and any the kernel still has).
            let (delivered, first) = try await executor.withDeadline(after: .seconds(5)) { () async throws -> ([UInt8], StreamError?) in
                var delivered: [UInt8] = []
                while true {
                    do {
                        let bytes = try await server.read(upTo: 64)
                        if bytes.isEmpty { return (delivered, nil) } // a clean end: the bug
                        delivered += bytes
                    } catch let error as StreamError { return (delivered, error) }
                }
            }
            #expect(first?.kind == .connectionReset)
            #expect(delivered.isEmpty || delivered == Array("tial".utf8))
            var buffer = [UInt8](repeating: 0, count: 8)
            for _ in 0..<3 {
                await #expect(throws: StreamError.self, "read(upTo:)") { _ = try await server.read(upTo: 8) }
                await #expect(throws: StreamError.self, "read(into:)") { _ = try await server.read(into: &buffer) }
                await #expect(throws: StreamError.self, "readLine") { _ = try await server.readLine() }
                await #expect(throws: StreamError.self, "readExactly") { _ = try await server.readExactly(1) }
                await #expect(throws: StreamError.self, "readToEnd") { _ = try await server.readToEnd() }
                let write = await #expect(throws: StreamError.self, "write") { try await server.write("x") }
                #expect(write?.kind == .connectionReset)
            }
            let again = await #expect(throws: StreamError.self) { _ = try await server.read(upTo: 8) }
            #expect(again?.kind == .connectionReset && again?.errno == first?.errno)
        }
    }

    @Test func aResetReportedToAWriteIsReportedToTheReadsAfterIt() throws {
        let script = FaultScript()
        try withConnectedPair { executor, server, client in
            try script.inject(.fail(.connectionReset), into: .write, descriptor: server.descriptor, when: .nth(1))
            await script.run {
                let write = await #expect(throws: StreamError.self) { try await server.write("x") }
                #expect(write?.kind == .connectionReset)
            }
            await client.close() // a clean end after it must not hide the reset
            let read = await #expect(throws: StreamError.self) {
                try await executor.withDeadline(after: .seconds(5)) { try await server.readToEnd() }
            }
            #expect(read?.kind == .connectionReset)
        }
    }
}

/// Makes closing `descriptor` send a reset (`SO_LINGER` with a zero timeout).
func resetOnClose(_ descriptor: Descriptor) {
    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
    let result = setsockopt(descriptor.rawValue, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    precondition(result == 0, "setsockopt(SO_LINGER) failed")
}

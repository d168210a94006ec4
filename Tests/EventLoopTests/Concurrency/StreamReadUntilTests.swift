import EventLoop
import Testing

/// `readUntil` (asyncio's `readuntil`), the bytes an end of stream cuts off
/// (asyncio's `IncompleteReadError.partial`), and `atEndOfStream` (asyncio's
/// `at_eof`), on every backend and transport.
@Suite("Stream reads: up to a separator, cut off by the end, the end without reading")
struct StreamReadUntilTests {
    static let head = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func aSeparatorSplitAcrossSegmentsIsFound(backend: LoopBackend, transport: StreamTransport) throws {
        let script = FaultScript()
        try withStreamPair(backend, over: transport) { executor, server, client in
            let body = Array("body".utf8)
            // Reads of 1 to 5 bytes: the four-byte separator (and its "\r\n" look-alike
            // before it) is cut at every offset; each head comes whole, nothing more.
            for size in 1...5 {
                if backend == .ioUring {
                    // No read(2) to shorten: the pieces go out one by one, each
                    // received before the next is sent.
                    let bytes = Self.head + body
                    for piece in stride(from: 0, to: bytes.count, by: size) {
                        try await client.write(bytes[piece..<min(piece + size, bytes.count)])
                        try await executor.sleep(for: .milliseconds(1))
                    }
                } else {
                    try script.inject(.shortCount(size), into: .read, descriptor: server.descriptor)
                    try await client.write(Self.head + body)
                }
                let head = try await script.run {
                    try await executor.withDeadline(after: .seconds(5)) { try await server.readUntil(Array("\r\n\r\n".utf8)) }
                }
                #expect(head == Self.head, "reads of \(size) bytes")
                script.removeAllRules()
                #expect(try await server.readExactly(body.count) == body, "the bytes after the separator stay readable")
            }
            let reads = script.records(of: .read).filter { $0.descriptor == server.descriptor && $0.result > 0 }
            #expect(reads.count > 5 || backend == .ioUring, "the separator really arrived in pieces")
        }
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func aSeparatorThatOverlapsItselfIsFoundWhereItFirstEnds(backend: LoopBackend, transport: StreamTransport) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            try await client.write("ab\r\n\r\r\n\r\nrest")
            let head = try await executor.withDeadline(after: .seconds(5)) { try await server.readUntil(Array("\r\n\r\n".utf8)) }
            #expect(head == Array("ab\r\n\r\r\n\r\n".utf8))
            #expect(try await server.readExactly(4) == Array("rest".utf8))
        }
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func overTheLimitItThrowsLimitExceededAndKeepsTheBytesReadable(backend: LoopBackend, transport: StreamTransport) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            let long = [UInt8](repeating: 0x61, count: 60)
            try await client.write(long + Array("\r\n\r\n".utf8))
            // The separator is there, but ends past the limit; then no separator in the first 50.
            for limit in [63, 50] {
                let error = await #expect(throws: StreamError.self) {
                    try await executor.withDeadline(after: .seconds(5)) { try await server.readUntil(Array("\r\n\r\n".utf8), limit: limit) }
                }
                #expect(error?.kind == .limitExceeded, "limit \(limit)")
            }
            let whole = try await server.readUntil(Array("\r\n\r\n".utf8), limit: 64)
            #expect(whole == long + Array("\r\n\r\n".utf8), "nothing was lost")
        }
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func anEndBeforeTheSeparatorThrowsEndOfStreamWithThePartialBytesWhichStayReadable(
        backend: LoopBackend, transport: StreamTransport
    ) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            try await client.write("abc\r\n")
            try await client.shutdownWriting()
            let error = await #expect(throws: StreamError.self) {
                try await executor.withDeadline(after: .seconds(5)) { try await server.readUntil(Array("\r\n\r\n".utf8)) }
            }
            #expect(error?.kind == .endOfStream)
            #expect(error?.partial == Array("abc\r\n".utf8) && error?.expected == nil)
            #expect(error.map { "\($0)".hasSuffix("end of stream: 5 bytes arrived") } == true, "\(String(describing: error))")
            #expect(try await server.read(upTo: 64) == Array("abc\r\n".utf8), "the partial bytes stay readable")
            #expect(try await server.read(upTo: 64) == [])
        }
    }

    @Test func anEmptySeparatorOrALimitShorterThanItIsRefused() throws {
        try withConnectedPair { _, server, _ in
            await #expect(throws: ArgumentError.self) { try await server.readUntil([]) }
            await #expect(throws: ArgumentError.self) { try await server.readUntil(Array("\r\n\r\n".utf8), limit: 3) }
            await #expect(throws: ArgumentError.self) { try await server.readUntil([0x0A], limit: 0) }
        }
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func readExactlyCutOffByTheEndReportsThePartialBytesAndTheCountExpected(backend: LoopBackend, transport: StreamTransport) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            try await client.write("xyz")
            try await client.shutdownWriting()
            let error = await #expect(throws: StreamError.self) {
                try await executor.withDeadline(after: .seconds(5)) { try await server.readExactly(10) }
            }
            #expect(error?.kind == .endOfStream)
            #expect(error?.partial == Array("xyz".utf8) && error?.expected == 10)
            #expect(error.map { "\($0)" } == "readExactly(10): end of stream: 3 of 10 bytes arrived")
            #expect(try await server.readExactly(3) == Array("xyz".utf8), "the partial bytes stay readable")
            let again = await #expect(throws: StreamError.self) { try await server.readExactly(1) }
            #expect(again?.kind == .endOfStream && again?.partial == [] && again?.expected == 1)
        }
    }

    @Test func anErrorOtherThanTheEndCarriesNoPartialBytes() {
        let error = StreamError(.closed, operation: "read")
        #expect(error.partial == [] && error.expected == nil)
        #expect("\(error)" == "read: closed")
        #expect(StreamError(.endOfStream, operation: "r", partial: [1]) != StreamError(.endOfStream, operation: "r", partial: [2]))
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func atEndOfStreamIsTrueOnlyOnceThePeerHasShutDownAndNothingIsLeftAndConsumesNothing(
        backend: LoopBackend, transport: StreamTransport
    ) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            #expect(try await server.atEndOfStream == false, "nothing sent yet: no wait, no end")
            try await client.write("ab\nc")
            try await client.shutdownWriting()
            #expect(try await server.readUntil([0x0A]) == Array("ab\n".utf8))
            // "c" is in the stream's buffer or the kernel's, the peer has shut down: not the end yet.
            #expect(try await server.atEndOfStream == false)
            #expect(try await server.atEndOfStream == false, "asking consumed nothing")
            #expect(try await server.read(upTo: 8) == Array("c".utf8))
            try await executor.withDeadline(after: .seconds(5)) { try await server.waitUntilPeerCloses() }
            #expect(try await server.atEndOfStream == true)
            #expect(try await server.read(upTo: 8) == [])
            #expect(try await server.atEndOfStream == true)
            // The other way: this side's shutdown is not the peer's end.
            #expect(try await client.atEndOfStream == false)
            await server.close()
            let closed = await #expect(throws: StreamError.self) { try await server.atEndOfStream }
            #expect(closed?.kind == .closed)
        }
    }

    /// The peek is the readiness backends' (on io_uring the receive takes
    /// the error: `StreamReceiveByCompletionTests`).
    @Test(arguments: LoopBackend.available.filter { $0 != .ioUring })
    func aResetSeenByAtEndOfStreamIsKeptForTheReadsAndWritesAfterIt(backend: LoopBackend) throws {
        let script = FaultScript()
        try withConnectedPair(backend) { executor, server, client in
            try script.inject(.fail(.connectionReset), into: .recv, descriptor: server.descriptor, when: .nth(1))
            let peeked = await script.run { await #expect(throws: StreamError.self) { try await server.atEndOfStream } }
            #expect(peeked?.kind == .connectionReset)
            await client.close() // a clean end after it must not hide the reset
            let read = await #expect(throws: StreamError.self) {
                try await executor.withDeadline(after: .seconds(5)) { try await server.readToEnd() }
            }
            #expect(read?.kind == .connectionReset)
            let again = await #expect(throws: StreamError.self) { try await server.atEndOfStream }
            #expect(again?.kind == .connectionReset, "never a clean end")
            let write = await #expect(throws: StreamError.self) { try await server.write("x") }
            #expect(write?.kind == .connectionReset)
        }
    }
}

import EventLoop
import Testing

/// `bufferWrite` and `drain` (asyncio's `write` and `drain`, NIO's
/// writability): water marks, call order with `write`, errors, close,
/// shutdown, cancellation and the budget, on every backend and transport.
/// The kernel's buffers are capped (`limitKernelBuffers`), so 4 MiB surely
/// wait in the stream's own buffer while the peer reads nothing.
@Suite("Stream buffered writes: water marks, drain, call order")
struct StreamBufferedWriteTests {
    static let total = 4 << 20

    /// The backends whose flush calls `write(2)`, for the tests that script
    /// it: on io_uring the flush sends by completion, with no system call
    /// to script (its cases: `StreamSendByCompletionTests`).
    static var writingBackends: [LoopBackend] { LoopBackend.available.filter { $0 != .ioUring } }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func bufferingPastTheHighWaterMarkMakesItUnwritableAndDrainWaitsUntilThePeerReads(
        backend: LoopBackend, transport: StreamTransport
    ) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            limitKernelBuffers(sender: client, receiver: server)
            #expect(client.writeBufferWaterMarks.low == 16_384 && client.writeBufferWaterMarks.high == 65_536)
            #expect(client.isWritable && client.bufferedByteCount == 0)
            try await client.drain() // nothing buffered: returns at once
            let bytes = patternBytes(Self.total)
            try client.bufferWrite(bytes) // returns at once, whatever the peer does
            #expect(!client.isWritable)
            #expect(client.bufferedByteCount > 65_536)
            // The peer reads nothing: drain cannot return (the deadline cancels it).
            await #expect(throws: DeadlineExceeded.self) {
                try await executor.withDeadline(after: .milliseconds(20)) { try await client.drain() }
            }
            let reading = Task(executorPreference: executor) { try await server.readExactly(Self.total) }
            try await executor.withDeadline(after: .seconds(120)) { try await client.drain() }
            #expect(client.bufferedByteCount <= 16_384, "drain returns at the low water mark")
            try await executor.withDeadline(after: .seconds(120)) { try await client.drain(untilEmpty: true) }
            #expect(client.bufferedByteCount == 0 && client.isWritable)
            #expect(try await executor.withDeadline(after: .seconds(120)) { try await reading.value } == bytes)
        }
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func writesAndBufferedWritesGoOutInCallOrder(backend: LoopBackend, transport: StreamTransport) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            limitKernelBuffers(sender: client, receiver: server)
            let chunks = (0..<6).map { patternBytes(300_000 + $0 * 1_001, seed: UInt8($0)) }
            let count = chunks.map(\.count).reduce(0, +)
            let reading = Task(executorPreference: executor) { try await server.readExactly(count) }
            try await executor.withDeadline(after: .seconds(120)) {
                try client.bufferWrite(chunks[0])         // most of it stays buffered
                try await client.write(chunks[1])         // behind it: joins the buffer
                try client.bufferWrite(chunks[2])
                try client.bufferWrite(chunks[3])
                try await client.write(chunks[4][...])
                try client.bufferWrite(chunks[5])
                try await client.drain(untilEmpty: true)
            }
            #expect(try await executor.withDeadline(after: .seconds(120)) { try await reading.value } == concatenated(chunks))
        }
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func aBufferedWriteCalledWhileAWriteWaitsGoesOutAfterIt(backend: LoopBackend, transport: StreamTransport) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            limitKernelBuffers(sender: client, receiver: server)
            let first = patternBytes(1 << 20, seed: 1), second = patternBytes(200_000, seed: 2), third = patternBytes(100_000, seed: 3)
            let writing = Task(executorPreference: executor) { try await client.write(first) }
            // A byte of `first` arrived: its write holds the writers' turn, and
            // waits for the peer (1 MiB is more than the kernel holds).
            var received = try await executor.withDeadline(after: .seconds(5)) { try await server.read(upTo: 1_024) }
            #expect(!received.isEmpty)
            try client.bufferWrite(second)
            let writingThird = Task(executorPreference: executor) { try await client.write(third) } // behind `second`
            let count = first.count + second.count + third.count
            let rest = count - received.count
            received += try await executor.withDeadline(after: .seconds(120)) { try await server.readExactly(rest) }
            try await writing.value
            try await writingThird.value
            #expect(received == first + second + third)
        }
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func bufferedWritesFromAnotherThreadKeepTheirOrderWithWrites(backend: LoopBackend, transport: StreamTransport) throws {
        // The connection's loop runs on a thread of its own, and the writer
        // is this test's loop, on this thread: every call below is made off
        // the connection's loop thread (it hops there, or, for bufferWrite,
        // appends under the lock), and none waits for a pool thread, which
        // other tests may hold for seconds (under ThreadSanitizer).
        let home = try LoopThread(name: "buffered-home", backend: backend)
        defer { try? home.shutdownAndWait() }
        let loop = try IOLoop()
        try loop.run { _ in
            let executor = home.executor
            #expect(!executor.isOnLoopThread)
            let (server, client) = try await streamPair(over: transport, on: executor)
            limitKernelBuffers(sender: client, receiver: server)
            // Bounds the writes below: a close makes every waiting call throw.
            let watchdog = Watchdog(after: .seconds(20)) { Task(executorPreference: executor) { await client.close() } }
            defer { watchdog.cancel() }
            let chunks = (0..<30).map { patternBytes(40_000 + $0 * 7, seed: UInt8($0)) }
            let count = chunks.map(\.count).reduce(0, +)
            let reading = Task(executorPreference: executor) { try await server.readExactly(count) }
            for (index, chunk) in chunks.enumerated() {
                if index.isMultiple(of: 4) { try await client.write(chunk) } else { try client.bufferWrite(chunk) }
            }
            try await client.drain(untilEmpty: true)
            #expect(client.bufferedByteCount == 0)
            #expect(try await reading.value == concatenated(chunks))
            await client.close()
            await server.close()
        }
        try loop.close()
    }

    @Test(arguments: LoopBackend.available)
    func aWriteOnTheLoopGoesAfterBytesAnotherThreadBufferedBeforeIt(backend: LoopBackend) throws {
        let home = try LoopThread(name: "buffered-home", backend: backend)
        defer { try? home.shutdownAndWait() }
        let loop = try IOLoop()
        try loop.run { _ in
            let executor = home.executor
            let (server, client) = try await streamPair(over: .tcp4, on: executor)
            let first = patternBytes(1_000, seed: 1), second = patternBytes(1_000, seed: 2)
            try home.perform { _ in
                // On the loop thread: another thread buffers `first`; the
                // closure that starts its flush runs at the loop's next
                // iteration (the test holds the loop meanwhile, on purpose).
                TestThread { try? client.bufferWrite(first) }.join()
                // A write called now, on the loop, finds the writers' turn free
                // and the socket writable, yet must go after `first`.
                Task(executorPreference: executor) { try await client.write(second) }
            }
            let received = try await executor.withDeadline(after: .seconds(10)) { try await server.readExactly(2_000) }
            #expect(received == first + second)
            #expect(client.bufferedByteCount == 0)
            await client.close()
            await server.close()
        }
        try loop.close()
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func aResetDuringAFlushIsReportedByDrainAndEveryCallAfterIt(backend: LoopBackend, transport: StreamTransport) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            limitKernelBuffers(sender: client, receiver: server)
            try client.bufferWrite(patternBytes(Self.total))
            #expect(client.bufferedByteCount > 0)
            let draining = Task(executorPreference: executor) { try await client.drain(untilEmpty: true) }
            await Task.yield() // the loop runs its jobs in order: the drain is waiting now
            resetOnClose(server.descriptor) // TCP sends a reset; a Unix peer's close fails the next write (EPIPE)
            await server.close()
            let drained = await #expect(throws: StreamError.self) {
                try await executor.withDeadline(after: .seconds(10)) { try await draining.value }
            }
            #expect(drained?.kind == .connectionReset)
            #expect(client.bufferedByteCount == 0 && !client.isWritable, "the bytes were dropped")
            let again = await #expect(throws: StreamError.self) { try await client.drain() }
            #expect(again == drained, "the error stays")
            #expect(throws: drained!) { try client.bufferWrite([1]) }
            await #expect(throws: drained!) { try await client.write([1]) }
            let read = await #expect(throws: StreamError.self) {
                try await executor.withDeadline(after: .seconds(5)) { try await client.readToEnd() }
            }
            #expect(read?.kind == .connectionReset, "never a clean end")
        }
    }

    /// (On io_uring: `StreamSendByCompletionTests.aShortageMetByASendEndsTheStream`.)
    @Test(arguments: Self.writingBackends)
    func aPassingShortageMetByTheFlushStillEndsTheStream(backend: LoopBackend) throws {
        let script = FaultScript()
        try withConnectedPair(backend) { executor, server, client in
            try script.inject(.fail(.noBufferSpace), into: .write, descriptor: client.descriptor, when: .nth(1))
            try script.run { try client.bufferWrite(Array("lost".utf8)) } // the flush's first write fails
            let drained = await #expect(throws: StreamError.self) { try await client.drain() }
            #expect(drained?.errno == .noBufferSpace)
            // Bytes were lost: a later write must not go on as if the stream were whole.
            await #expect(throws: drained!) { try await client.write("more") }
            #expect(client.bufferedByteCount == 0)
        }
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func aCancelledDrainKeepsTheBytesBufferedAndTheyStillGoOut(backend: LoopBackend, transport: StreamTransport) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            limitKernelBuffers(sender: client, receiver: server)
            let bytes = patternBytes(Self.total)
            try client.bufferWrite(bytes)
            let draining = Task(executorPreference: executor) { try await client.drain(untilEmpty: true) }
            await Task.yield() // the loop runs its jobs in order: the drain is waiting now
            draining.cancel()
            await #expect(throws: CancellationError.self) { try await draining.value }
            #expect(client.bufferedByteCount > 0)
            let received = try await executor.withDeadline(after: .seconds(120)) { try await server.readExactly(Self.total) }
            #expect(received == bytes)
            try await executor.withDeadline(after: .seconds(5)) { try await client.drain(untilEmpty: true) }
            #expect(client.bufferedByteCount == 0)
        }
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func aWriteCancelledBehindBufferedBytesIsStillSentWhole(backend: LoopBackend, transport: StreamTransport) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            limitKernelBuffers(sender: client, receiver: server)
            let first = patternBytes(1 << 20, seed: 4), second = patternBytes(100_000, seed: 5)
            try client.bufferWrite(first)
            await #expect(throws: DeadlineExceeded.self) {
                try await executor.withDeadline(after: .milliseconds(20)) { try await client.write(second) }
            }
            let count = first.count + second.count
            #expect(try await executor.withDeadline(after: .seconds(120)) { try await server.readExactly(count) } == first + second)
        }
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func closeDropsTheBufferedBytesAndEndsAWaitingDrainWithClosed(backend: LoopBackend, transport: StreamTransport) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            limitKernelBuffers(sender: client, receiver: server)
            try client.bufferWrite(patternBytes(Self.total))
            let draining = Task(executorPreference: executor) { try await client.drain(untilEmpty: true) }
            await Task.yield() // the loop runs its jobs in order: the drain is waiting now
            await client.close()
            let drained = await #expect(throws: StreamError.self) {
                try await executor.withDeadline(after: .seconds(5)) { try await draining.value }
            }
            #expect(drained?.kind == .closed)
            #expect(client.bufferedByteCount == 0 && !client.isWritable)
            let refused = #expect(throws: StreamError.self) { try client.bufferWrite([1]) }
            #expect(refused?.kind == .closed)
            let received = try await executor.withDeadline(after: .seconds(120)) { try await server.readToEnd() }
            #expect(received.count < Self.total, "what the kernel had not taken was dropped")
        }
    }

    @Test(arguments: LoopBackend.available, StreamTransport.allCases)
    func shutdownWritingSendsTheBufferedBytesFirst(backend: LoopBackend, transport: StreamTransport) throws {
        try withStreamPair(backend, over: transport) { executor, server, client in
            limitKernelBuffers(sender: client, receiver: server)
            let bytes = patternBytes(Self.total)
            try client.bufferWrite(bytes)
            let shutting = Task(executorPreference: executor) { try await client.shutdownWriting() }
            let received = try await executor.withDeadline(after: .seconds(120)) { try await server.readToEnd(limit: Self.total) }
            try await executor.withDeadline(after: .seconds(5)) { try await shutting.value }
            #expect(received == bytes)
            let buffered = #expect(throws: StreamError.self) { try client.bufferWrite([1]) }
            #expect(buffered?.kind == .closed && !client.isWritable)
            let written = await #expect(throws: StreamError.self) { try await client.write([1]) }
            #expect(written?.kind == .closed)
            try await client.drain(untilEmpty: true) // nothing left: no error
        }
    }

    @Test(arguments: LoopBackend.available)
    func waterMarksAreCheckedAndApplyToTheBytesBufferedNow(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            #expect(throws: ArgumentError.self) { try client.setWriteBufferWaterMarks(low: -1, high: 10) }
            #expect(throws: ArgumentError.self) { try client.setWriteBufferWaterMarks(low: 11, high: 10) }
            #expect(client.writeBufferWaterMarks.low == 16_384, "a refused setting changes nothing")
            try client.setWriteBufferWaterMarks(low: 0, high: 0)
            #expect(client.writeBufferWaterMarks.low == 0 && client.writeBufferWaterMarks.high == 0)
            limitKernelBuffers(sender: client, receiver: server)
            try client.setWriteBufferWaterMarks(low: 1_024, high: 4_096)
            try client.bufferWrite(patternBytes(Self.total))
            #expect(!client.isWritable)
            let draining = Task(executorPreference: executor) { try await client.drain() }
            await Task.yield() // the loop runs its jobs in order: the drain is waiting now
            // Raising the marks over what is buffered makes it writable, and the drain returns, with no byte read.
            try client.setWriteBufferWaterMarks(low: 2 * Self.total, high: 4 * Self.total)
            #expect(client.isWritable)
            try await executor.withDeadline(after: .seconds(5)) { try await draining.value }
            try client.setWriteBufferWaterMarks(low: 1_024, high: 4_096)
            #expect(!client.isWritable, "lowering them below what is buffered makes it unwritable again")
        }
    }

    @Test(arguments: Self.writingBackends)
    func aFlushTheKernelRefusesWaitsForTheLoopsNextReport(backend: LoopBackend) throws {
        let script = FaultScript()
        let count = 1_000
        try script.run {
            try withConnectedPair(backend) { executor, server, connection in
                // The socket has room, but its first 5 writes say they would block.
                try script.inject(.fail(.wouldBlock), into: .write, descriptor: connection.descriptor, when: .first(5))
                try connection.bufferWrite(patternBytes(count))
                try await executor.withDeadline(after: .seconds(10)) { try await connection.drain(untilEmpty: true) }
                #expect(try await executor.withDeadline(after: .seconds(10)) { try await server.readExactly(count) } == patternBytes(count))
                script.removeAllRules()
            }
        }
        // The flush waits again after each refusal, and the report that
        // resumed it does not resume it a second time: one write per wait.
        let refused = script.trace.filter { $0.call == .write && $0.injected }
        #expect(refused.count == 5)
        let fd = try #require(refused.first?.descriptor)
        var writes = 0, run = 0, longest = 0
        for record in script.trace {
            switch record.call {
            case .epollWait, .poll, .select, .ioUringEnter: run = 0
            case .write where record.descriptor == fd:
                writes += 1
                run += 1
                longest = max(longest, run)
            default: break
            }
        }
        #expect(writes == 6, "5 refused, then one that took every byte")
        #expect(longest == 1, "\(longest) writes between two waits for events")
    }

    @Test(arguments: Self.writingBackends)
    func aFlushYieldsToTheLoopAfterItsBudgetOfWrites(backend: LoopBackend) throws {
        let script = FaultScript()
        let count = 256 * 1_024
        try script.run {
            try withConnectedPair(backend) { executor, server, connection in
                // Writes of 8 bytes: thousands of writes the kernel takes at once.
                try script.inject(.shortCount(8), into: .write, descriptor: connection.descriptor)
                let reading = Task(executorPreference: executor) { try await server.readExactly(count) }
                try connection.bufferWrite(patternBytes(count))
                try await executor.withDeadline(after: .seconds(30)) { try await connection.drain(untilEmpty: true) }
                #expect(try await reading.value == patternBytes(count))
                script.removeAllRules()
            }
        }
        // Between two waits for events, one socket makes at most `budget` writes.
        var writes = 0, longest = 0, run = 0
        for record in script.trace {
            switch record.call {
            case .epollWait, .poll, .select, .ioUringEnter: run = 0
            case .write where record.injected:
                writes += 1
                run += 1
                longest = max(longest, run)
            default: break
            }
        }
        #expect(writes >= count / 8 - 1)
        #expect(longest <= 128, "\(longest) writes in one loop iteration")
    }
}

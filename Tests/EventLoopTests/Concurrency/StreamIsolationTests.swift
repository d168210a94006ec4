import EventLoop
import Testing

/// An actor on another executor (a second loop's) that talks through a
/// stream: its calls start off the stream's loop, the stream's methods hop
/// there and come back.
actor ElsewherePeer {
    nonisolated let executor: LoopExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    let connection: StreamConnection
    init(_ connection: StreamConnection, executor: LoopExecutor) {
        self.connection = connection
        self.executor = executor
    }

    /// Reads one line (waiting for it), writes it back, and says how many
    /// bytes went each way; `received` counts what this actor saw, so the
    /// actor's own state is touched after every await.
    private(set) var received = 0
    /// Also whether the actor ran on its own loop's thread after each await.
    func echoOneLine() async throws -> (count: Int, stayedHome: Bool) {
        let line = try await connection.readLine()
        var stayedHome = executor.isOnLoopThread
        received += line.count
        try await connection.write(line)
        stayedHome = stayedHome && executor.isOnLoopThread
        return (line.count, stayedHome)
    }
}

/// An actor on the loop's serial executor: on the loop thread, but its
/// tasks need not prefer the loop.
actor LoopExecutorPeer {
    nonisolated let executor: LoopExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    let connection: StreamConnection
    private(set) var received = 0
    init(_ connection: StreamConnection, executor: LoopExecutor) {
        self.connection = connection
        self.executor = executor
    }

    func echoOneLine() async throws -> (count: Int, stayedOnLoop: Bool) {
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = try await connection.read(into: &buffer)
        received += count
        try await connection.write(buffer[..<count])
        return (count, executor.isOnLoopThread)
    }
}

/// Runs `body` in `loop.run` on a thread of its own, with a second loop
/// running on another thread for the callers under test ("elsewhere"), and
/// awaits the result without blocking a pool thread. The callers never run
/// on Swift's global pool: a full test suite keeps its two threads (two
/// cores) busy with other tests, and a caller queued there could wait for
/// most of the run.
func runWithElsewhere<T: Sendable>(
    _ loop: IOLoop, _ body: @escaping @Sendable (LoopExecutor, LoopExecutor) async throws -> T
) async throws -> T {
    let other = try IOLoop()
    let elsewhere = other.executor
    let stopOther = other.handle
    nonisolated(unsafe) let (loop, otherLoop) = (loop, other) // each handed to the one thread that runs it
    let otherThread = TestThread { try? otherLoop.run() }
    let (results, delivery) = AsyncStream.makeStream(of: Result<T, any Error>.self)
    let loopThread = TestThread {
        delivery.yield(Result { try loop.run { executor in try await body(executor, elsewhere) } })
        delivery.finish()
    }
    var result: Result<T, any Error>?
    for await delivered in results { result = delivered } // awaited: no pool thread blocks meanwhile
    loopThread.join() // it has finished, or is about to
    stopOther.stop()
    otherThread.join()
    try otherLoop.close()
    return try #require(result).get()
}

/// The streams' methods do their work on the loop whoever calls them: an
/// actor on another executor, an actor on the loop itself called from a task
/// that prefers another executor, such a task itself; the caller's own state
/// is its own again after each await.
/// (Written for an attempt to make the internal steps `nonisolated(nonsending)`,
/// which their first version caught hanging in 3 runs of 10: see Benchmarks/README.md.)
@Suite("Stream calls from other isolations")
struct StreamIsolationTests {
    @Test func anActorOnAnotherExecutorReadsAndWritesThroughTheLoop() async throws {
        let loop = try IOLoop()
        let echoed = try await runWithElsewhere(loop) { executor, elsewhere in
            let (server, client) = try await connectedPair(on: executor)
            let peer = ElsewherePeer(server, executor: elsewhere)
            let serving = Task(executorPreference: elsewhere) { try await peer.echoOneLine() }
            try await client.write("from an actor elsewhere\n")
            let answer = try await executor.withDeadline(after: .seconds(10)) { try await client.readLine() }
            let served = try await serving.value
            #expect(served.count == answer.count)
            #expect(served.stayedHome, "after the stream's awaits the actor runs on its own executor again")
            #expect(await peer.received == answer.count)
            await server.close()
            await client.close()
            return String(decoding: answer, as: UTF8.self)
        }
        #expect(echoed == "from an actor elsewhere\n")
        try loop.close()
    }

    @Test func anActorOnTheLoopsSerialExecutorCalledFromATaskPreferringElsewhereStaysOnTheLoop() async throws {
        let loop = try IOLoop()
        let result = try await runWithElsewhere(loop) { executor, elsewhere in
            let (server, client) = try await connectedPair(on: executor)
            let peer = LoopExecutorPeer(server, executor: executor)
            // The task prefers the other loop; only the actor puts it on this one.
            let serving = Task(executorPreference: elsewhere) { try await peer.echoOneLine() }
            try await client.write("ping")
            let reply = try await executor.withDeadline(after: .seconds(10)) { try await client.readExactly(4) }
            let count = reply.count
            let served = try await serving.value
            #expect(await peer.received == 4)
            await server.close()
            await client.close()
            return (String(decoding: reply[..<count], as: UTF8.self), served)
        }
        #expect(result.0 == "ping")
        #expect(result.1.count == 4)
        #expect(result.1.stayedOnLoop, "after the stream's awaits the actor still runs on the loop thread")
        try loop.close()
    }

    @Test func aTaskPreferringAnotherExecutorWaitsForDataThroughTheLoop() async throws {
        let loop = try IOLoop()
        let received = try await runWithElsewhere(loop) { executor, elsewhere in
            let (server, client) = try await connectedPair(on: executor)
            let reader = Task(executorPreference: elsewhere) { () async throws -> [UInt8] in
                var collected: [UInt8] = []
                while collected.count < 3000 {
                    let chunk = try await server.read(upTo: 1000)
                    if chunk.isEmpty { break }
                    collected += chunk
                }
                return collected
            }
            for part in 0..<3 { try await client.write([UInt8](repeating: UInt8(part), count: 1000)) }
            let bytes = try await executor.withDeadline(after: .seconds(10)) { try await reader.value }
            await server.close()
            await client.close()
            return bytes
        }
        #expect(received.count == 3000)
        #expect(received == [UInt8](repeating: 0, count: 1000) + [UInt8](repeating: 1, count: 1000)
            + [UInt8](repeating: 2, count: 1000))
        try loop.close()
    }
}

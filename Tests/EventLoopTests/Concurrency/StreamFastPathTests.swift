import EventLoop
import Synchronization
import Testing

/// A read that finds bytes already there, and a write the kernel takes whole,
/// do not suspend: the calling task never gives up the loop thread, so a job
/// queued on the loop before the call has not run when the call returns (a
/// suspension, or a hop through the loop's run queue, would let it run
/// first). That the fast path also skips `swift_task_switch` (an executor
/// switch to the same executor runs inline, so no test sees it) is measured,
/// not tested: `callgrind_echo.py` in Benchmarks/README.md.
@Suite("Stream fast paths: no suspension when no wait is needed")
struct StreamFastPathTests {
    @Test(arguments: LoopBackend.available)
    func aReadThatFindsBytesAndAWriteTheKernelTakesDoNotSuspend(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            try await client.write([UInt8](repeating: 7, count: 10))
            var buffer = [UInt8](repeating: 0, count: 5)
            // The first read may wait for the bytes; it leaves 5 in the kernel.
            let first = try await server.read(into: &buffer)
            let ran = Atomic<Bool>(false)
            let other = Task(executorPreference: executor) { ran.store(true, ordering: .relaxed) }
            var got = first
            while got < 10 { got += try await server.read(into: &buffer) }
            let ranDuringReads = ran.load(ordering: .relaxed)
            #expect(!ranDuringReads, "a read that found its bytes suspended")
            try await server.write([1, 2, 3])
            try await server.write([4, 5, 6][...])
            let ranDuringWrites = ran.load(ordering: .relaxed)
            #expect(!ranDuringWrites, "a write the kernel took whole suspended")
            await other.value
            let ranAtLast = ran.load(ordering: .relaxed)
            #expect(ranAtLast)
            #expect(try await client.readExactly(6) == [1, 2, 3, 4, 5, 6])
        }
    }

    @Test(arguments: LoopBackend.available)
    func readLineAndReadExactlyTakeWhatTheStreamBufferedWithoutSuspending(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            try await client.write("one\ntwo\nthree") // one write: one segment on loopback
            // The first line may wait; its read buffers the rest of the segment.
            #expect(try await server.readLine() == Array("one\n".utf8))
            let ran = Atomic<Bool>(false)
            let other = Task(executorPreference: executor) { ran.store(true, ordering: .relaxed) }
            let second = try await server.readLine()
            let exact = try await server.readExactly(3)
            let ranDuringReads = ran.load(ordering: .relaxed)
            #expect(second == Array("two\n".utf8))
            #expect(exact == Array("thr".utf8))
            #expect(!ranDuringReads, "a read served from the stream's buffer suspended")
            await other.value
            #expect(try await server.readExactly(2) == Array("ee".utf8))
        }
    }

    @Test func anActorOnTheLoopsSerialFaceReadsBufferedBytesWithoutSuspending() throws {
        let loop = try IOLoop()
        try loop.run { executor in
            let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
            let peer = LoopExecutorPeer(server, executor: executor)
            try await client.write("ping")
            let served = try await peer.echoOneLine()
            #expect(served.count == 4)
            #expect(served.stayedOnLoop)
            #expect(try await client.readExactly(4) == Array("ping".utf8))
            await server.close()
            await client.close()
        }
        try loop.close()
    }
}

/// A write the kernel takes only part of, from an actor on the loop's serial
/// face whose task prefers another loop: the flush finishes it on the loop
/// (the writers' turn is not held across the actor's hop), whole, and a
/// write started after it goes out after its last byte.
@Suite("Stream writes from an actor on the loop")
struct StreamActorWriteTests {
    @Test func aLargeWriteFromAnActorOnTheLoopGoesOutWholeBeforeALaterWrite() async throws {
        let loop = try IOLoop()
        let (received, expected) = try await runWithElsewhere(loop) { executor, elsewhere in
            let (server, client) = try await connectedPair(on: executor)
            let message = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let peer = ElsewherePeer(server, executor: executor)
            let writing = Task(executorPreference: elsewhere) { try await peer.write(message) }
            // The first bytes prove the actor's write began; then another writer queues.
            var collected = try await executor.withDeadline(after: .seconds(10)) { try await client.readExactly(1) }
            let trailer = Task(executorPreference: executor) { try await server.write(Array("END".utf8)) }
            collected += try await executor.withDeadline(after: .seconds(30)) { try await client.readExactly(message.count + 2) }
            try await writing.value
            try await trailer.value
            await server.close()
            await client.close()
            return (collected, message + Array("END".utf8))
        }
        #expect(received.count == expected.count)
        #expect(received == expected, "the actor's bytes whole and in order, the later write after them")
        try loop.close()
    }
}

extension ElsewherePeer {
    /// Writes `bytes` on the actor's own executor.
    func write(_ bytes: [UInt8]) async throws {
        try await connection.write(bytes)
        executor.checkIsolated()
    }
}

/// Callers of every isolation, at once, each doing many round trips whose
/// reads must wait: every wait ends with its resumption (none lost), on the
/// loop when the caller is resumed there, elsewhere through the hop. A stress
/// test with fixed counts and a bound on time (a lost resumption shows as the
/// deadline passing with the bytes in the socket); CI runs it under
/// ThreadSanitizer too. Each caller alone, then the four at once. (Kind 1,
/// an actor on the loop's serial face in a task that prefers another loop,
/// lost a wait every run when it first waited in place: Swift 6.3's
/// `withTaskCancellationHandler` ran the wait's registration on the task's
/// preferred executor, the other loop; see
/// Benchmarks/repro/cancellation-handler-isolation. The waits now register
/// through `withCancellationHandlerInPlace`; this kind hops all the same,
/// since its resumption goes to the other loop first, and an actor on the
/// serial face waits in place only in a task that prefers the loop:
/// `TaskSwitchCountTests` and kind 4 here.)
@Suite("Stream resumptions under every isolation")
struct StreamResumptionStressTests {
    static let roundTrips = 300

    @Test(arguments: [[0], [1], [2], [3], [4], [0, 1, 2, 3, 4]])
    func everyWaitIsResumedWhateverTheCallersIsolation(kinds: [Int]) async throws {
        let loop = try IOLoop()
        let counts = try await runWithElsewhere(loop) { executor, elsewhere in
            var pairs: [(StreamConnection, StreamConnection)] = []
            for _ in 0..<5 { pairs.append(try await connectedPair(on: executor)) }
            // Each pair's client side echoes on the loop, in a task that prefers it.
            let echoes = pairs.map { echoOnLoop($0.1, on: executor) }
            let onLoopActor = ElsewherePeer(pairs[1].0, executor: executor)
            let elsewhereActor = ElsewherePeer(pairs[2].0, executor: elsewhere)
            let inPlaceActor = ElsewherePeer(pairs[4].0, executor: executor)
            let (trips, server0, server3) = (Self.roundTrips, pairs[0].0, pairs[3].0)
            let done = try await executor.withDeadline(after: .seconds(30)) {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    // A task that prefers the loop: the direct path.
                    if kinds.contains(0) { group.addTask(executorPreference: executor) { try await roundTripsOn(server0, trips) } }
                    // An actor on the loop's serial face, its task preferring elsewhere: the hop.
                    if kinds.contains(1) { group.addTask(executorPreference: elsewhere) { try await onLoopActor.roundTrips(trips) } }
                    // An actor on another loop: the hop.
                    if kinds.contains(2) { group.addTask(executorPreference: elsewhere) { try await elsewhereActor.roundTrips(trips) } }
                    // A task that prefers another loop: the hop.
                    if kinds.contains(3) { group.addTask(executorPreference: elsewhere) { try await roundTripsOn(server3, trips) } }
                    // An actor on the loop's serial face, its task preferring the loop: waits in place.
                    if kinds.contains(4) { group.addTask(executorPreference: executor) { try await inPlaceActor.roundTrips(trips) } }
                    var counts: [Int] = []
                    for try await count in group { counts.append(count) }
                    return counts
                }
            }
            for pair in pairs { await pair.0.close() }
            for echo in echoes { _ = try? await echo.value }
            for pair in pairs { await pair.1.close() }
            return done
        }
        #expect(counts == [Int](repeating: Self.roundTrips, count: kinds.count))
        try loop.close()
    }
}

/// `trips` request/response round trips of 16 bytes on `connection` against
/// an echo; each read waits for its reply. Returns how many completed whole.
private func roundTripsOn(_ connection: StreamConnection, _ trips: Int) async throws -> Int {
    var done = 0
    var buffer = [UInt8](repeating: 0, count: 16)
    for trip in 0..<trips {
        let message = [UInt8](repeating: UInt8(truncatingIfNeeded: trip), count: 16)
        try await connection.write(message)
        var got = 0
        while got < 16 {
            let count = try await connection.read(into: &buffer)
            if count == 0 { return done }
            #expect(buffer[..<count].allSatisfy { $0 == UInt8(truncatingIfNeeded: trip) })
            got += count
        }
        done += 1
    }
    return done
}

/// Round trips from an actor on a chosen loop's serial face (the executor
/// `ElsewherePeer` was given: another loop's, or the stream's own loop's).
extension ElsewherePeer {
    /// `count` round trips of 16 bytes against an echo; checks after every
    /// await that the actor is on its own loop. Returns how many completed.
    func roundTrips(_ count: Int) async throws -> Int {
        var buffer = [UInt8](repeating: 0, count: 16)
        var trips = 0
        for trip in 0..<count {
            try await connection.write([UInt8](repeating: UInt8(truncatingIfNeeded: trip), count: 16))
            executor.checkIsolated()
            var got = 0
            while got < 16 {
                let read = try await connection.read(into: &buffer)
                executor.checkIsolated()
                if read == 0 { return trips }
                got += read
            }
            trips += 1
        }
        return trips
    }
}

import EventLoop
import Synchronization
import Testing

/// What every loop does, checked on each loop of a group, on its own thread:
/// timers in deadline order (equal deadlines in scheduling order), a
/// watcher's readiness, call-soon order, cross-thread submissions in order,
/// and the async waits and streams on its executor.
@Suite("Loop group: each loop behaves as a loop")
struct LoopGroupPerLoopTests {
    @Test func timersWatchersAndCallSoonKeepTheirOrderOnEveryLoopOfAGroup() async throws {
        let group = try LoopGroup(loopCount: 2)
        for thread in group.threads {
            let order = try await onLoop(thread) { loop, done in
                let seen = Box([String]())
                let pipe = try DescriptorPair.pipe()
                let reader = pipe.first.descriptor
                let deadline = loop.now + .milliseconds(5)
                _ = try loop.schedule(at: deadline) { seen.value.append("timer 1") }
                _ = try loop.schedule(at: deadline) { seen.value.append("timer 2") }
                _ = try loop.schedule(at: loop.now + .milliseconds(1)) { seen.value.append("earlier timer") }
                try loop.callSoon { seen.value.append("soon 1") }
                try loop.callSoon { seen.value.append("soon 2") }
                var watcher: IOWatcher?
                watcher = try loop.watch(reader, interest: .readable) { _ in
                    seen.value.append("readable")
                    watcher?.cancel()
                }
                _ = try pipe.second.descriptor.write([1])
                _ = try loop.schedule(after: .milliseconds(20)) {
                    withExtendedLifetime(pipe) {}
                    done(seen.value)
                }
            }
            // One iteration runs its I/O callbacks, then its due timers, then its
            // call-soon batch; which iteration the timers fall in depends on time.
            #expect(order.first == "readable")
            #expect(order.filter { $0.hasPrefix("soon") } == ["soon 1", "soon 2"])
            #expect(order.filter { $0.hasPrefix("earlier") || $0.hasPrefix("timer") } == ["earlier timer", "timer 1", "timer 2"])
        }
        await group.shutdown(gracePeriod: .zero)
    }

    @Test func submissionsFromAnotherThreadRunInOrderOnEveryLoopOfAGroup() async throws {
        let group = try LoopGroup(loopCount: 2)
        for thread in group.threads {
            let received = Mutex<[Int]>([])
            let finished = AsyncGate()
            for index in 0..<1_000 {
                try thread.handle.submit {
                    #expect(thread.executor.isOnLoopThread)
                    received.withLock { $0.append(index) }
                    if index == 999 { finished.open() }
                }
            }
            await finished.wait()
            #expect(received.withLock { $0 } == Array(0..<1_000))
        }
        await group.shutdown(gracePeriod: .zero)
    }

    @Test func asyncWaitsAndStreamsWorkOnEveryLoopOfAGroup() async throws {
        let group = try LoopGroup(loopCount: 2)
        for executor in group.executors {
            let reply = try await Task(executorPreference: executor) { () async throws -> [UInt8] in
                try await executor.sleep(for: .milliseconds(1))
                let (server, client) = try await connectedPair(host: "127.0.0.1", on: executor)
                try await client.write("ping\n")
                #expect(executor.isOnLoopThread)
                let line = try await server.readLine()
                await server.close()
                await client.close()
                return line
            }.value
            #expect(reply == Array("ping\n".utf8))
        }
        await group.shutdown(gracePeriod: .zero)
    }
}

/// Runs `body` with `thread`'s loop on its thread, and waits until it calls `done`.
private func onLoop<T: Sendable>(
    _ thread: LoopThread, _ body: @escaping @Sendable (IOLoop, @escaping @Sendable (T) -> Void) throws -> Void
) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        do {
            try thread.perform { loop in
                do { try body(loop) { continuation.resume(returning: $0) } } catch { continuation.resume(throwing: error) }
            }
        } catch {
            continuation.resume(throwing: error)
        }
    }
}

/// A value only the loop's thread touches, shared by its callbacks.
private final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

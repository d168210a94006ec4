import EventLoop
import Glibc
import Synchronization
import Testing

/// A `StreamServer` over a `LoopGroup`: connections spread over the loops,
/// each handler on its connection's loop, and the shutdown races.
@Suite("StreamServer over a loop group")
struct GroupServerTests {
    @Test(arguments: [ConnectionBalancing.acceptor, .reusePort])
    func everyConnectionIsServedOnOneLoopOfTheGroupForItsWholeLife(balancing: ConnectionBalancing) async throws {
        let group = try LoopGroup(loopCount: 2)
        // An actor, not a Mutex: ThreadSanitizer sees the concurrency
        // runtime's hand-offs, not the futex under Synchronization's Mutex
        // (it reported the two handlers' appends as a race).
        let loopsUsed = LoopsUsed()
        let executors = group.executors
        let server = try await StreamServer.listening(port: 0, on: group, balancing: balancing) { connection in
            let home = executors.firstIndex { $0.isOnLoopThread }
            var lines = 0
            while case let line = try await connection.readLine(), !line.isEmpty {
                // Every read and write of this handler runs on the same loop thread.
                #expect(executors.firstIndex { $0.isOnLoopThread } == home)
                try await connection.write(line)
                lines += 1
            }
            await loopsUsed.add(home ?? -1)
        }
        let running = Task { try await server.run() }
        try await withClients(20, port: server.port) { client, index in
            for round in 0..<3 {
                try await client.write("client \(index) round \(round)\n")
                #expect(try await client.readLine() == Array("client \(index) round \(round)\n".utf8))
            }
        }
        await group.shutdown(gracePeriod: .seconds(5))
        try await running.value
        let used = await loopsUsed.list
        #expect(used.count == 20 && used.allSatisfy { $0 >= 0 })
        if balancing == .acceptor {
            // The least-loaded loop takes each connection: with all 20 open at once, 10 and 10.
            #expect(used.filter { $0 == 0 }.count == 10, "per loop: \(used)")
        }
    }

    @Test func theGroupsMetricsShowTheBalance() async throws {
        let group = try LoopGroup(loopCount: 2)
        let server = try await StreamServer.listening(port: 0, on: group) { connection in
            _ = try await connection.readToEnd()
        }
        let running = Task { try await server.run() }
        var clients: [StreamConnection] = []
        let executor = group.next()
        for _ in 0..<8 {
            clients.append(try await StreamConnection.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5), on: executor))
        }
        // Bounded wait until the server has taken all eight.
        var open: [Int] = []
        for _ in 0..<500 {
            open = await group.metrics().map(\.connections)
            if open.reduce(0, +) == 8 { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(open == [4, 4])
        for client in clients { await client.close() }
        await group.shutdown(gracePeriod: .seconds(5))
        try await running.value
        let served = await group.metrics().map(\.connectionsServed)
        #expect(served == [4, 4])
    }

    @Test(arguments: [ConnectionBalancing.acceptor, .reusePort])
    func aPortTakenBySomethingElseIsAClearErrorAndLeavesNothingListening(balancing: ConnectionBalancing) async throws {
        let group = try LoopGroup(loopCount: 2)
        // Taken by a plain listener without SO_REUSEPORT.
        let other = try await StreamListener.bind(port: 0, on: group.next())
        let failure = await #expect(throws: StreamError.self) {
            _ = try await StreamServer.listening(port: other.port, on: group, balancing: balancing) { _ in }
        }
        #expect(failure?.kind == .addressInUse)
        await other.close()
        // Nothing of the failed server still holds the port: it can be bound again.
        let again = try await StreamListener.bind(port: other.port, on: group.next())
        await again.close()
        await group.shutdown(gracePeriod: .zero)
    }

    @Test(arguments: [ConnectionBalancing.acceptor, .reusePort])
    func shuttingDownWhileConnectionsArriveEndsEveryConnectionAndTask(balancing: ConnectionBalancing) async throws {
        let group = try LoopGroup(loopCount: 2)
        let handled = Atomic<Int>(0)
        let server = try await StreamServer.listening(port: 0, on: group, balancing: balancing, errorHandler: { _ in }) { connection in
            handled.add(1, ordering: .relaxed)
            try await connection.write("hi\n")
            _ = try await connection.readToEnd()
        }
        let running = Task { try await server.run() }
        let port = server.port
        // A thread of its own keeps connecting (plain blocking sockets) until
        // refused, holding its newest 64 connections only: a process holding
        // a thousand low numbers would push the descriptors of select-backend
        // tests running in parallel past FD_SETSIZE.
        let connector = TestThread {
            var opened: [Int32] = []
            for _ in 0..<2_000 {
                if opened.count == 64 { close(opened.removeFirst()) }
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = port.bigEndian
                address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
                let result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                opened.append(fd)
                if result != 0 { break }
            }
            for fd in opened { close(fd) }
        }
        try await Task.sleep(for: .milliseconds(20))
        await group.shutdown(gracePeriod: .milliseconds(100))
        try await running.value
        connector.join()
        #expect(handled.load(ordering: .relaxed) > 0)
        let allFinished = group.threads.allSatisfy { $0.isFinished }
        #expect(allFinished)
    }

    @Test func shuttingDownWhileHandlersWriteToClientsThatDoNotReadEndsAfterTheGracePeriod() async throws {
        let group = try LoopGroup(loopCount: 2)
        let ended = Mutex<[String]>([])
        let server = try await StreamServer.listening(port: 0, on: group, errorHandler: { _ in }) { connection in
            do {
                while true { try await connection.write([UInt8](repeating: 1, count: 1 << 20)) }
            } catch {
                ended.withLock { $0.append("\(type(of: error))") }
                throw error
            }
        }
        let running = Task { try await server.run() }
        let executor = group.next()
        var clients: [StreamConnection] = []
        for _ in 0..<4 {
            clients.append(try await StreamConnection.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5), on: executor))
        }
        for client in clients { _ = try await client.readExactly(1) } // every handler is writing
        let started = MonotonicInstant.now()
        await group.shutdown(gracePeriod: .milliseconds(100))
        try await running.value
        #expect(MonotonicInstant.now() - started < .seconds(5))
        #expect(ended.withLock { $0 }.count == 4)
    }

    @Test func aServerShutDownByItselfLeavesTheGroupRunning() async throws {
        let group = try LoopGroup(loopCount: 2)
        let server = try await StreamServer.listening(port: 0, on: group) { connection in
            try await connection.write(try await connection.readLine())
        }
        let running = Task { try await server.run() }
        server.shutdown(gracePeriod: .zero)
        try await running.value
        // The group still serves a new server.
        let second = try await StreamServer.listening(port: 0, on: group) { connection in
            try await connection.write(try await connection.readLine())
        }
        let secondRunning = Task { try await second.run() }
        try await withClients(1, port: second.port) { client, _ in
            try await client.write("x\n")
            #expect(try await client.readLine() == Array("x\n".utf8))
        }
        await group.shutdown(gracePeriod: .seconds(1))
        try await secondRunning.value
    }
}

/// Connects `count` clients to 127.0.0.1:`port` at once, each on a loop of a
/// group of its own, runs `body` for each, then closes them.
private func withClients(
    _ count: Int, port: UInt16, _ body: @escaping @Sendable (StreamConnection, Int) async throws -> Void
) async throws {
    let clients = try LoopGroup(loopCount: 1)
    let executor = clients.next()
    var connections: [StreamConnection] = []
    for _ in 0..<count {
        connections.append(try await StreamConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(5), on: executor))
    }
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        for (index, connection) in connections.enumerated() {
            tasks.addTask(executorPreference: executor) {
                try await executor.withDeadline(after: .seconds(10)) { try await body(connection, index) }
            }
        }
        try await tasks.waitForAll()
    }
    for connection in connections { await connection.close() }
    await clients.shutdown(gracePeriod: .zero)
}

/// The loops the handlers ran on, one entry per connection.
private actor LoopsUsed {
    var list: [Int] = []
    func add(_ loop: Int) { list.append(loop) }
}

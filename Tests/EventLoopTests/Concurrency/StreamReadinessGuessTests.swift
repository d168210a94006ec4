import EventLoop
import Glibc
import Testing

/// Cached readiness is cleared only on a real "would block": a short read is
/// no proof the socket is drained (TCP's urgent mark cuts a read short with
/// bytes still queued), and on an edge-triggered registration a wrong guess
/// waits for an edge that never comes (tokio#5866's kind).
@Suite("Stream readiness: cleared only on a real would-block")
struct StreamReadinessGuessTests {
    @Test(arguments: LoopBackend.available)
    func bytesAfterUrgentDataAreReadWithoutWaitingForMore(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            let fd = client.descriptor.rawValue
            #expect(send(fd, "AAAA", 4, 0) == 4)
            #expect(send(fd, "B", 1, Int32(MSG_OOB)) == 1)
            #expect(send(fd, "CCCC", 4, 0) == 4)
            // All of it is queued at the server before the first read (loopback
            // delivers within the send), so no later edge can rescue a wrong guess.
            var received: [UInt8] = []
            try await executor.withDeadline(after: .seconds(5)) {
                var all: [UInt8] = []
                while all.count < 8 { all += try await server.read(upTo: 64) }
                return all
            }.forEach { received.append($0) }
            // The urgent byte is out of band (SO_OOBINLINE is off): the stream is the rest.
            #expect(received == Array("AAAACCCC".utf8))
        }
    }

    @Test(arguments: LoopBackend.available)
    func aRequestAfterUrgentDataGetsItsResponse(backend: LoopBackend) throws {
        try withConnectedPair(backend) { executor, server, client in
            let serving = Task(executorPreference: executor) {
                let line = try await server.readLine()
                try await server.write(line.reversed() + [])
            }
            let fd = client.descriptor.rawValue
            #expect(send(fd, "ab", 2, 0) == 2)
            #expect(send(fd, "!", 1, Int32(MSG_OOB)) == 1)
            #expect(send(fd, "c\n", 2, 0) == 2)
            let reply = try await executor.withDeadline(after: .seconds(5)) { try await client.readExactly(3) }
            #expect(reply == Array("\ncba".utf8.prefix(3)))
            try await serving.value
        }
    }
}

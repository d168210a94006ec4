import EventLoop
import Glibc
import Testing

extension ExamplesTests {
    @Suite struct AsyncEchoTests {
        /// What the seed's server sends back to the client on `fd`: its address as Python prints it, then the bytes.
        private func reply(to fd: Descriptor, _ message: String) throws -> String {
            let local = try fd.localAddress()
            return "('\(local.ip)', \(local.port)) Your msg \(message)"
        }

        @Test func echoServerAsyncAnswersWithThePeersAddressAndTheBytesUntilTheClientCloses() throws {
            let server = try ChildProcess("echo-server-async", ["--port", "0"])
            defer { server.stop() }
            let port = try server.listeningPort()
            let peer: String
            do {
                let client = try LoopbackClient(port: port)
                peer = "\(try client.fd.localAddress())"
                for message in ["hello", "again, with \"quotes\""] {
                    try client.send(message)
                    let expected = try reply(to: client.fd, message)
                    #expect(try client.receive(count: expected.utf8.count) == expected)
                }
            }
            let output = try server.waitForOutput(containing: "closed \(peer)")
            #expect(output.contains("connected by \(peer)"))
            #expect(output.contains("received \"hello\" from \(peer)"))
            #expect(output.contains("received \"again, with \\\"quotes\\\"\" from \(peer)"))
            #expect(output.contains("closed \(peer) after 2 replies (the client closed)"))
            #expect(try server.interrupt(with: SIGTERM) == .exited(0))
            #expect(server.stdout.contains("stopped by SIGTERM: 1 connection, 2 replies, 25 bytes received"), "\(server.stdout)")
        }

        @Test func onceAnswersOneReadThenCloses() throws {
            let server = try ChildProcess("echo-server-async", ["--port", "0", "--once"])
            defer { server.stop() }
            let client = try LoopbackClient(port: try server.listeningPort())
            try client.send("only this")
            let expected = try reply(to: client.fd, "only this")
            #expect(try client.receiveAll() == expected, "one reply, then the end of the stream")
            try server.waitForOutput(containing: "after 1 reply (--once: one reply)")
            #expect(try server.interrupt() == .exited(0))
        }

        @Test func ctrlCClosesConnectionsStillOpen() throws {
            let server = try ChildProcess("echo-server-async", ["--port", "0"])
            defer { server.stop() }
            let client = try LoopbackClient(port: try server.listeningPort())
            try client.send("x")
            _ = try client.receive(count: 1)
            #expect(try server.interrupt() == .exited(0))
            #expect(server.stdout.contains("(the server is stopping)"), "\(server.stdout)")
            #expect(server.stdout.contains("stopped by SIGINT: 1 connection, 1 reply, 1 byte received"))
            #expect(try client.receiveAll().hasSuffix("Your msg x"), "the rest, then the end of the stream")
        }
    }
}

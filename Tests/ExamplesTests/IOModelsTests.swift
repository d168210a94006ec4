import EventLoop
import Glibc
import Testing

extension ExamplesTests {
    @Suite struct IOModelsTests {
        static let models = ["blocking", "busy-poll", "select", "poll", "epoll-level", "epoll-edge", "loop", "async"]

        @Test("each model answers a request, then 100 at once, then stops on Ctrl-C", arguments: models)
        func everyModelAnswersHTTP(_ model: String) throws {
            let server = try ChildProcess("io-models", ["--model", model, "--port", "0"])
            defer { server.stop() }
            let port = try server.listeningPort()
            do {
                let client = try LoopbackClient(port: port)
                try client.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8\r\n\r\n")
                let answer = try client.receiveAll()
                #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"))
                #expect(answer.hasSuffix("\r\n\r\n<h1>Web Server Test</h1>"))
            }
            try server.waitForOutput(containing: "[answered 127.0.0.1:")
            // The load from another process, so this test process holds none of its 100 sockets.
            let load = try ChildProcess("io-models", ["load", "--port", "\(port)", "--requests", "100"])
            defer { load.stop() }
            #expect(try load.waitForExit() == .exited(0))
            #expect(load.stdout.hasPrefix("100 of 100 requests answered in "), "\(load.stdout)")
            #expect(try server.interrupt() == .exited(0))
            #expect(server.stdout.contains("stopped by SIGINT: 101 requests answered"))
        }

        @Test func selectRefusesDescriptorsPastFDSetSizeAndKeepsServing() throws {
            let server = try ChildProcess("io-models", ["--model", "select", "--port", "0", "--reserve-descriptors", "1100"])
            defer { server.stop() }
            let port = try server.listeningPort()
            for attempt in 1...2 {
                let client = try LoopbackClient(port: port)
                try client.send("GET / HTTP/1.1\r\n\r\n")
                #expect(try client.receiveAll() == "") // closed unanswered
                let output = try server.waitForOutput("refusal \(attempt)") {
                    $0.components(separatedBy: "select cannot watch fd").count > attempt
                }
                #expect(output.contains("must be within 0..<1024 (FD_SETSIZE)); closed it, still serving]"))
            }
            #expect(try server.interrupt(with: SIGTERM) == .exited(0))
        }

        @Test func pollServesDescriptorsPastFDSetSize() throws {
            let server = try ChildProcess("io-models", ["--model", "poll", "--port", "0", "--reserve-descriptors", "1100"])
            defer { server.stop() }
            let client = try LoopbackClient(port: try server.listeningPort())
            try client.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try client.receiveAll().hasSuffix("<h1>Web Server Test</h1>"))
            #expect(try server.interrupt() == .exited(0))
        }

        @Test func replyServerAnswersOkToEachMessage() throws {
            let server = try ChildProcess("io-models", ["reply-server", "--port", "0"])
            defer { server.stop() }
            do {
                let client = try LoopbackClient(port: try server.listeningPort())
                for message in ["hello", "again"] {
                    try client.send(message)
                    #expect(try client.receive(count: 2) == "ok")
                }
            }
            let output = try server.waitForOutput(containing: "disconnected, 0 open")
            #expect(output.contains("[message from 127.0.0.1:") && output.contains(":] again"))
            #expect(try server.interrupt() == .exited(0))
            #expect(server.stdout.contains("stopped by SIGINT: 2 replies"))
        }

        @Test func triggersShowsLevelThreeTimesAndEdgeOnce() throws {
            let child = try ChildProcess("io-models", ["triggers"])
            defer { child.stop() }
            #expect(try child.waitForExit() == .exited(0))
            let output = child.stdout
            #expect(output.contains("level: reported 3 times, read 3072 of 3072 bytes"), "\(output)")
            #expect(output.contains("edge: reported 1 time, read 1024 of 3072 bytes"))
            #expect(output.contains("edge + drain: reported 1 time, read 3072 of 3072 bytes"))
        }
    }
}

/// A loopback port that nobody listens on (bound, then closed: free again at once).
func unusedPort() throws -> UInt16 {
    let socket = try Socket.listenTCP(on: SocketEndpoint(ip: "127.0.0.1", port: 0))
    let port = try socket.descriptor.localAddress().port
    try socket.close()
    return port
}

import Glibc
import Testing

extension ExamplesTests {
    /// `--loops N`: the serving examples on a loop group, stopped by Ctrl-C.
    @Suite struct LoopsOptionTests {
        @Test func echoServerAsyncServesOnTwoLoopsAndStopsOnCtrlC() throws {
            let server = try ChildProcess("echo-server-async", ["--port", "0", "--loops", "2", "--quiet"])
            defer { server.stop() }
            let port = try server.listeningPort()
            try server.waitForOutput(containing: "(2 loops)")
            for index in 0..<4 {
                let client = try LoopbackClient(port: port)
                try client.send("hi \(index)")
                let reply = try client.receive(count: "('127.0.0.1', 12345) Your msg hi 0".count - 5 + 1)
                #expect(reply.hasPrefix("('127.0.0.1', "))
            }
            #expect(try server.interrupt() == .exited(0))
            #expect(server.stdout.contains("stopped by SIGINT"), "\(server.stdout)")
        }

        @Test func ioModelsAsyncAnswersALoadOnTwoLoops() throws {
            let server = try ChildProcess("io-models", ["--model", "async", "--port", "0", "--loops", "2", "--quiet"])
            defer { server.stop() }
            let port = try server.listeningPort()
            let load = try ChildProcess("io-models", ["load", "--port", "\(port)", "--requests", "50"])
            defer { load.stop() }
            #expect(try load.waitForExit() == .exited(0), "\(load.stdout)\(load.stderr)")
            #expect(try server.interrupt(with: SIGTERM) == .exited(0))
            #expect(server.stdout.contains("50 requests answered"), "\(server.stdout)")
        }

        @Test func httpHelloOnTwoLoopsAnswersAndStops() throws {
            let server = try ChildProcess("http-hello", ["--port", "0", "--loops", "2", "--quiet"])
            defer { server.stop() }
            let port = try server.listeningPort()
            for _ in 0..<3 {
                let client = try LoopbackClient(port: port)
                try client.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let response = try client.receiveResponse()
                #expect(response.statusLine == "HTTP/1.1 201 Created" && response.body == "/")
            }
            #expect(try server.interrupt() == .exited(0))
        }

        @Test func loopsOnlyAppliesToTheAsyncModel() throws {
            let server = try ChildProcess("io-models", ["--model", "epoll-edge", "--loops", "2"])
            defer { server.stop() }
            #expect(try server.waitForExit() != .exited(0))
            #expect(server.stderr.contains("--loops 2"))
        }
    }
}

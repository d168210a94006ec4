import Glibc
import Testing

extension ExamplesTests {
    @Suite struct EchoTests {
        @Test func echoServerEchoesAndPrintsTheSeedsLines() throws {
            let server = try ChildProcess("echo-server", ["--port", "0"])
            defer { server.stop() }
            let port = try server.listeningPort()
            do {
                let client = try LoopbackClient(port: port)
                try client.send("hello")
                #expect(try client.receive(count: 5) == "hello")
                try server.waitForOutput(containing: "echoing \"hello\" to fd")
            }
            let output = try server.waitForOutput(containing: "closing fd")
            #expect(output.contains("accepted fd"))
            #expect(output.contains("from 127.0.0.1:"))
            #expect(try server.interrupt() == .exited(0))
            #expect(server.stdout.contains("stopped by SIGINT"))
        }

        @Test func blockingEchoServerServesOneClientAtATime() throws {
            let server = try ChildProcess("blocking-echo-server", ["--port", "0"])
            defer { server.stop() }
            let port = try server.listeningPort()
            let first = try LoopbackClient(port: port)
            let second = try LoopbackClient(port: port) // queued in the backlog
            try first.send("one")
            try second.send("two")
            #expect(try first.receive(count: 3) == "one")
            _ = consume first // the server moves on to the next client in line
            #expect(try second.receive(count: 3) == "two")
            let output = try server.waitForOutput("two \"connected by\" lines") {
                $0.components(separatedBy: "connected by").count == 3
            }
            // The second client's "connected by" comes only after the first one's "closed".
            let lines = output.split(separator: "\n").map(String.init)
            let connected = lines.indices.filter { lines[$0].hasPrefix("connected by") }
            let closed = lines.indices.filter { lines[$0].hasPrefix("closed") }
            let firstClosed = try #require(closed.first)
            #expect(firstClosed < connected[1], "\(output)")
            _ = consume second
            #expect(try server.interrupt(with: SIGTERM) == .exited(0))
            #expect(server.stdout.contains("stopped by SIGTERM"))
        }

        @Test func echoClientReportsRatesAndPercentilesAgainstEchoServer() throws {
            let server = try ChildProcess("echo-server", ["--port", "0", "--quiet"])
            defer { server.stop() }
            let port = try server.listeningPort()
            let client = try ChildProcess("echo-client", ["--port", "\(port)", "--clients", "4", "--seconds", "0.5"])
            defer { client.stop() }
            #expect(try client.waitForExit() == .exited(0))
            let output = client.stdout
            let roundTrips = output.split(separator: "\n").first { $0.hasPrefix("round trips: ") }
                .flatMap { Int($0.dropFirst("round trips: ".count).prefix { $0.isNumber }) }
            #expect((roundTrips ?? 0) > 0, "\(output)")
            #expect(output.contains("latency: p50 ") && output.contains(", p90 ") && output.contains(", p99 "))
            #expect(output.contains("clients answered: 4 of 4"))
            #expect(try server.interrupt() == .exited(0))
        }

        @Test func echoClientShowsClientsWaitingInLineAtTheBlockingServer() throws {
            let server = try ChildProcess("blocking-echo-server", ["--port", "0", "--quiet"])
            defer { server.stop() }
            let port = try server.listeningPort()
            let client = try ChildProcess("echo-client", ["--port", "\(port)", "--clients", "3", "--seconds", "0.5"])
            defer { client.stop() }
            #expect(try client.waitForExit() == .exited(0))
            #expect(client.stdout.contains("clients answered: 1 of 3"), "\(client.stdout)")
            #expect(client.stdout.contains("2 clients got no answer"))
            #expect(try server.interrupt() == .exited(0))
        }

        @Test func echoClientWithNoServerFailsClearly() throws {
            let port = try unusedPort()
            let client = try ChildProcess("echo-client", ["--port", "\(port)", "--clients", "2", "--seconds", "5"])
            defer { client.stop() }
            #expect(try client.waitForExit() == .exited(1))
            #expect(client.stderr.contains("echo-client: error: no client could connect"))
            #expect(client.stderr.contains("ECONNREFUSED"))
        }
    }
}

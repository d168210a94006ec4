import Glibc
import Testing

extension ExamplesTests {
    @Suite struct PoetryTests {
        /// The seconds in `got 3 poems in 1.234 s`.
        private func totalTime(_ output: String) -> Double? {
            guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("got 3 poems in ") }) else { return nil }
            return Double(line.dropFirst("got 3 poems in ".count).prefix { $0 != " " })
        }

        /// Which tasks the first three chunks came for: lines like `0.151 s  task 2: got 20 bytes of poetry from ...`.
        private func firstChunks(_ output: String) -> [Substring] {
            output.split(separator: "\n").filter { $0.contains("bytes of poetry") }.prefix(3).compactMap { line in
                line.split(separator: "  ").dropFirst().first?.split(separator: ":").first
            }
        }

        @Test func concurrentClientsTakeAboutOneServersTimeAndTheBlockingClientTheSum() throws {
            let server = try ChildProcess("poetry", ["serve", "--ports", "0,0,0", "--delay", "100ms", "--quiet"])
            defer { server.stop() }
            let ports = try server.listeningPorts(count: 3).map(String.init).joined(separator: ",")

            var outputs: [String: String] = [:]
            for mode in ["blocking", "loop", "async"] {
                let client = try ChildProcess("poetry", ["get", "--\(mode)", "--ports", ports])
                defer { client.stop() }
                #expect(try client.waitForExit() == .exited(0))
                outputs[mode] = client.stdout
            }
            let blockingTime = try #require(totalTime(outputs["blocking"]!), "\(outputs["blocking"]!)")
            // About 0.7 s per server with these flags: blocking ~2.1 s, loop and async ~0.7 s.
            #expect(blockingTime > 1.5)
            for mode in ["loop", "async"] {
                let output = outputs[mode]!
                let time = try #require(totalTime(output), "\(output)")
                #expect(time < blockingTime * 0.7, "\(mode) \(time) s, blocking \(blockingTime) s")
                #expect(output.contains("got 3 poems in ") && output.hasSuffix(" (\(mode))\n"))
                // The concurrent clients hear from all three before any has finished; the blocking one does not.
                #expect(Set(firstChunks(output)).count == 3, "\(output)")
            }
            #expect(Set(firstChunks(outputs["blocking"]!)) == ["task 1"], "\(outputs["blocking"]!)")
            for output in outputs.values {
                #expect(output.contains("Tyger Tyger, burning bright,"))
                #expect(output.contains("task 3 finished"))
            }
            #expect(try server.interrupt() == .exited(0))
            #expect(server.stdout.contains("stopped by SIGINT: 9 poems recited"))
        }

        @Test func blockingClientStopsCleanlyOnCtrlC() throws {
            let server = try ChildProcess("poetry", ["serve", "--ports", "0,0,0", "--delay", "1s", "--quiet"])
            defer { server.stop() }
            let ports = try server.listeningPorts(count: 3).map(String.init).joined(separator: ",")
            let client = try ChildProcess("poetry", ["get", "--blocking", "--ports", ports])
            defer { client.stop() }
            try client.waitForOutput(containing: "task 1: got") // now blocked in read, a second from the next chunk
            #expect(try client.interrupt() == .exited(0))
            #expect(client.stdout.contains("stopped by SIGINT"))
            #expect(try server.interrupt(with: SIGTERM) == .exited(0))
        }

        @Test func loopClientStopsCleanlyOnSigterm() throws {
            let server = try ChildProcess("poetry", ["serve", "--ports", "0,0,0", "--delay", "1s", "--quiet"])
            defer { server.stop() }
            let ports = try server.listeningPorts(count: 3).map(String.init).joined(separator: ",")
            let client = try ChildProcess("poetry", ["get", "--loop", "--ports", ports])
            defer { client.stop() }
            try client.waitForOutput(containing: "task 3: got")
            #expect(try client.interrupt(with: SIGTERM) == .exited(0))
            #expect(client.stdout.contains("stopped by SIGTERM"))
            #expect(try server.interrupt() == .exited(0))
        }

        @Test func asyncClientStopsCleanlyOnSigterm() throws {
            let server = try ChildProcess("poetry", ["serve", "--ports", "0,0,0", "--delay", "1s", "--quiet"])
            defer { server.stop() }
            let ports = try server.listeningPorts(count: 3).map(String.init).joined(separator: ",")
            let client = try ChildProcess("poetry", ["get", "--async", "--ports", ports])
            defer { client.stop() }
            _ = try client.waitForOutput("a chunk from each server") { Set(firstChunks($0)).count == 3 }
            #expect(try client.interrupt(with: SIGTERM) == .exited(0))
            #expect(client.stdout.contains("stopped by SIGTERM"))
            #expect(client.stdout.contains("got 0 poems in "))
            #expect(try server.interrupt() == .exited(0))
        }
    }
}

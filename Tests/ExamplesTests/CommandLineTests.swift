import EventLoop
import Glibc
import Testing

extension ExamplesTests {
    @Suite struct CommandLineTests {
        @Test("--help prints the usage and exits 0", arguments: allExamples)
        func helpPrintsUsage(_ example: String) throws {
            let child = try ChildProcess(example, ["--help"])
            defer { child.stop() }
            #expect(try child.waitForExit() == .exited(0))
            #expect(child.stdout.hasPrefix("usage: \(example)"))
            #expect(child.stderr.isEmpty)
        }

        @Test("an unknown flag is one line on stderr, then the usage; exit status 2", arguments: allExamples)
        func unknownFlagExitsTwoWithUsage(_ example: String) throws {
            let arguments = example == "poetry" ? ["serve", "--bogus"] : ["--bogus"]
            let child = try ChildProcess(example, arguments)
            defer { child.stop() }
            #expect(try child.waitForExit() == .exited(2))
            let lines = child.stderr.split(separator: "\n")
            #expect(lines.first == "\(example): error: unknown flag --bogus")
            #expect(lines.dropFirst().first?.hasPrefix("usage: \(example)") == true)
            #expect(child.stdout.isEmpty)
        }

        @Test("a bad value is refused with exit status 2", arguments: [
            ["blocking-echo-server", "--port", "70000"],
            ["echo-server", "--host", "localhost"],
            ["echo-client", "--clients", "0"],
            ["poetry", "get", "--loop", "--ports", "1,x"],
            ["poetry", "get"],
            ["io-models", "--model", "threads"],
            ["io-models", "--model", "loop", "--port"],
            ["io-models", "load", "--requests", "0"],
            ["io-models", "--model", "async", "--interval", "forever"],
            ["echo-server-async", "--port", "x"],
            ["echo-server-async", "--once=yes"],
            ["http-hello", "--max-body", "lots"],
            ["http-hello", "--timeout", "0"],
            ["http-get", "ftp://127.0.0.1/"],
            ["http-get", "https://127.0.0.1/"],
            ["http-get", "http://127.0.0.1:0/"],
            ["http-get", "http://127.0.0.1/", "http://127.0.0.2/"],
            ["poetry", "get", "--async", "--loop"],
            ["demo", "now"],
            ["demo", "--backend", "kqueue"],
            ["echo-server-async", "--backend", "iouring"],
            ["io-models", "--model", "select", "--backend", "io_uring"],
        ])
        func badValueExitsTwo(_ command: [String]) throws {
            let child = try ChildProcess(command[0], Array(command.dropFirst()))
            defer { child.stop() }
            #expect(try child.waitForExit() == .exited(2))
            #expect(child.stderr.hasPrefix("\(command[0]): error: "))
            #expect(child.stderr.contains("usage: "))
        }

        @Test("a port in use is a clear error and a non-zero exit, not a crash", arguments: [
            ["blocking-echo-server"], ["echo-server"], ["io-models", "--model", "epoll-edge"],
            ["io-models", "reply-server"], ["poetry", "serve", "--ports"],
            ["io-models", "--model", "async"], ["echo-server-async"], ["http-hello"],
        ])
        func portInUseIsAClearError(_ command: [String]) throws {
            let taken = try Socket.listenTCP(on: SocketEndpoint(ip: "127.0.0.1", port: 0))
            let port = try taken.descriptor.localAddress().port
            let portArguments = command.last == "--ports" ? ["0,\(port),0"] : ["--port", "\(port)"]
            let child = try ChildProcess(command[0], Array(command.dropFirst()) + portArguments)
            defer { child.stop() }
            #expect(try child.waitForExit() == .exited(1))
            #expect(child.stderr.contains("\(command[0]): error: cannot listen on 127.0.0.1:\(port): the port is in use (EADDRINUSE)"))
            #expect(child.stderr.split(separator: "\n").count == 1)
        }
    }
}

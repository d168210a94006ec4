import EventLoop
import Glibc
import Testing

extension ExamplesTests {
    @Suite struct HTTPTests {
        @Test func bothRoutesAnswerWithTheSeedsStatusAndBodyOnOneKeptAliveConnection() throws {
            let server = try ChildProcess("http-hello", ["--port", "0"])
            defer { server.stop() }
            let client = try LoopbackClient(port: try server.listeningPort())
            try client.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let index = try client.receiveResponse()
            #expect(index.statusLine == "HTTP/1.1 201 Created")
            #expect(index.body == "/")
            #expect(index.head.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"))
            #expect(!index.head.contains("Connection: close"))
            try client.send("GET /42?verbose=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let id = try client.receiveResponse()
            #expect(id.statusLine == "HTTP/1.1 200 OK")
            #expect(id.body == "42")
            try client.send("GET /caf%C3%A9 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(try client.receiveResponse().body == "café")
            try client.send("GET /a/b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            let missing = try client.receiveResponse()
            #expect(missing.statusLine == "HTTP/1.1 404 Not Found")
            #expect(missing.body == "404: Not Found")
            #expect(missing.head.contains("\r\nConnection: close\r\n"))
            #expect(try client.receiveAll() == "", "closed after Connection: close")
            let log = try server.waitForOutput(containing: "\"GET /a/b HTTP/1.1\" 404 14")
            #expect(log.contains("\"GET / HTTP/1.1\" 201 1"))
            #expect(log.contains("\"GET /42?verbose=1 HTTP/1.1\" 200 2"))
            #expect(try server.interrupt() == .exited(0))
            #expect(server.stdout.contains("stopped by SIGINT: 4 requests answered, 0 refused, on 1 connection"), "\(server.stdout)")
        }

        @Test func headAndOtherMethodsFollowAddGet() throws {
            let server = try ChildProcess("http-hello", ["--port", "0", "--quiet"])
            defer { server.stop() }
            let client = try LoopbackClient(port: try server.listeningPort())
            try client.send("HEAD /7 HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try client.receiveResponse(bodyless: true)
            #expect(head.statusLine == "HTTP/1.1 200 OK")
            #expect(head.head.contains("\r\nContent-Length: 1\r\n") && head.body.isEmpty)
            try client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            let post = try client.receiveResponse()
            #expect(post.statusLine == "HTTP/1.1 405 Method Not Allowed")
            #expect(post.head.contains("\r\nAllow: GET, HEAD\r\n"))
            try client.send("GET /still-open HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.receiveResponse().body == "still-open", "the body was read past: the next request is whole")
            #expect(try server.interrupt() == .exited(0))
        }

        @Test("malformed requests get 400, and the server goes on serving", arguments: [
            RawRequest("no version", "garbage\r\n\r\n"),
            RawRequest("control bytes", "\u{01}\u{02}\u{03}\r\n\r\n"),
            RawRequest("no Host", "GET / HTTP/1.1\r\n\r\n"),
            RawRequest("space in a field name", "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"),
            RawRequest("folded field", "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"),
            RawRequest("negative length", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
            RawRequest("lengths disagree", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n"),
            RawRequest("absolute form", "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"),
            RawRequest("bad escape", "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n"),
            RawRequest("bad version", "GET / HTTQ/1.1\r\nHost: x\r\n\r\n"),
        ])
        func malformedRequestsGet400(_ request: RawRequest) throws {
            let server = try ChildProcess("http-hello", ["--port", "0"])
            defer { server.stop() }
            let port = try server.listeningPort()
            do {
                let client = try LoopbackClient(port: port)
                try client.send(request.text)
                let answer = try client.receiveAll()
                #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer)")
                #expect(answer.contains("\r\nConnection: close\r\n"))
                #expect(answer.hasSuffix("\r\n\r\n400: Bad Request"))
            }
            try server.waitForOutput(containing: " 400 16 (")
            let next = try LoopbackClient(port: port)
            try next.send("GET /fine HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try next.receiveResponse().body == "fine")
            #expect(try server.interrupt() == .exited(0))
        }

        @Test("an oversize request line or header is 431, an oversize body 413", arguments: [
            (RawRequest("10 KB request line", "GET /" + String(repeating: "a", count: 10_000) + " HTTP/1.1\r\nHost: x\r\n\r\n"),
             "431 Request Header Fields Too Large"),
            (RawRequest("9 KB field line", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "b", count: 9_000) + "\r\n\r\n"),
             "431 Request Header Fields Too Large"),
            (RawRequest("101 fields", "GET / HTTP/1.1\r\nHost: x\r\n" + String(repeating: "X-Many: y\r\n", count: 101) + "\r\n"),
             "431 Request Header Fields Too Large"),
            (RawRequest("36 KB of fields", "GET / HTTP/1.1\r\nHost: x\r\n"
                        + String(repeating: "X-Wide: \(String(repeating: "w", count: 4_000))\r\n", count: 9) + "\r\n"),
             "431 Request Header Fields Too Large"),
            (RawRequest("2 KB body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n" + String(repeating: "z", count: 2_048)),
             "413 Content Too Large"),
            (RawRequest("a length past Int", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
             "413 Content Too Large"),
        ])
        func oversizeRequestsAreRefused(_ request: RawRequest, _ status: String) throws {
            let server = try ChildProcess("http-hello", ["--port", "0", "--max-body", "1K"])
            defer { server.stop() }
            let port = try server.listeningPort()
            do {
                let client = try LoopbackClient(port: port)
                try client.send(request.text)
                let answer = try client.receiveAll()
                #expect(answer.hasPrefix("HTTP/1.1 \(status)\r\n"), "\(answer.prefix(200))")
                #expect(answer.contains("\r\nConnection: close\r\n"))
            }
            let next = try LoopbackClient(port: port)
            try next.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try next.receiveResponse().statusLine == "HTTP/1.1 201 Created")
            #expect(try server.interrupt() == .exited(0))
            #expect(server.stdout.contains("1 request answered, 1 refused"), "\(server.stdout)")
        }

        @Test func aClientThatStallsOrLeavesMidRequestHoldsUpNobody() throws {
            let server = try ChildProcess("http-hello", ["--port", "0", "--timeout", "2s"])
            defer { server.stop() }
            let port = try server.listeningPort()
            do {
                let stalled = try LoopbackClient(port: port)
                try stalled.send("GET / HTTP/1.1\r\nHo")
                let other = try LoopbackClient(port: port)
                try other.send("GET /meanwhile HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try other.receiveResponse().body == "meanwhile")
            } // the stalled client leaves mid-request
            try server.waitForOutput(containing: "closed in the middle of a request")
            let silent = try LoopbackClient(port: port)
            #expect(try silent.receiveAll(timeout: .seconds(10)) == "", "closed after --timeout with no request")
            try server.waitForOutput(containing: "no whole request within")
            let last = try LoopbackClient(port: port)
            try last.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try last.receiveResponse().body == "after")
            #expect(try server.interrupt(with: SIGTERM) == .exited(0))
        }

        @Test func ctrlCStopsTheServerWithAnIdleConnectionOpen() throws {
            let server = try ChildProcess("http-hello", ["--port", "0"])
            defer { server.stop() }
            let client = try LoopbackClient(port: try server.listeningPort())
            try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try client.receiveResponse() // kept alive, idle
            #expect(try server.interrupt() == .exited(0))
            #expect(server.stdout.contains("stopped by SIGINT: 1 request answered, 0 refused, on 1 connection"), "\(server.stdout)")
        }

        @Test func httpGetPrintsTheStatusAndTheBodyOfEachRoute() throws {
            let server = try ChildProcess("http-hello", ["--port", "0"])
            defer { server.stop() }
            let port = try server.listeningPort()
            for (path, output) in [("", "201\n/\n"), ("/42", "200\n42\n"), ("/no/such", "404\n404: Not Found\n")] {
                let client = try ChildProcess("http-get", ["http://127.0.0.1:\(port)\(path)"])
                defer { client.stop() }
                #expect(try client.waitForExit() == .exited(0))
                #expect(client.stdout == output)
                #expect(client.stderr.isEmpty)
            }
            let log = try server.waitForOutput(containing: "\"GET /no/such HTTP/1.1\" 404")
            #expect(log.contains("\"GET / HTTP/1.1\" 201 1"))
            #expect(try server.interrupt() == .exited(0))
        }

        @Test func httpGetFailsClearlyWhenNobodyListens() throws {
            let port = try unusedPort()
            let client = try ChildProcess("http-get", ["http://127.0.0.1:\(port)/"])
            defer { client.stop() }
            #expect(try client.waitForExit() == .exited(1))
            #expect(client.stderr.hasPrefix("http-get: error: cannot get http://127.0.0.1:\(port)/: connect(127.0.0.1:\(port)): connection refused"))
            #expect(client.stderr.contains("ECONNREFUSED"))
            #expect(client.stdout.isEmpty)
        }

        /// Ctrl-C is `loop.run(cancellingOnInterrupt: true)`'s, SIGTERM the
        /// loop's `onSignal` handler's: either stops a request still waiting.
        @Test(arguments: [SIGINT, SIGTERM])
        func httpGetStopsCleanlyOnCtrlCOrSigtermWhileItWaits(signal: Int32) throws {
            // A listener that answers nothing: once it has taken the client's
            // connection, the client is inside loop.run, waiting for a response.
            let silent = try Socket.listenTCP(on: SocketEndpoint(ip: "127.0.0.1", port: 0))
            let port = try silent.descriptor.localAddress().port
            let client = try ChildProcess("http-get", ["--timeout", "60s", "http://127.0.0.1:\(port)/"])
            defer { client.stop() }
            try LoopbackClient.wait(for: .readable, on: silent.descriptor, timeout: .seconds(20))
            guard let accepted = try silent.descriptor.accept().take() else {
                Issue.record("readable, yet no connection to accept")
                return
            }
            #expect(try client.interrupt(with: signal) == .exited(0))
            #expect(client.stdout == "stopped by \(signal == SIGINT ? "SIGINT" : "SIGTERM")\n", "\(client.stdout)")
            try accepted.close()
            try silent.close()
        }

        @Test func httpGetGivesUpWhenNoResponseComesInTime() throws {
            // A listener that never accepts: the kernel completes the connection, nobody answers.
            let silent = try Socket.listenTCP(on: SocketEndpoint(ip: "127.0.0.1", port: 0))
            let port = try silent.descriptor.localAddress().port
            let client = try ChildProcess("http-get", ["--timeout", "300ms", "http://127.0.0.1:\(port)/"])
            defer { client.stop() }
            #expect(try client.waitForExit() == .exited(1))
            #expect(client.stderr == "http-get: error: no response from http://127.0.0.1:\(port)/ within 0.300 s\n")
            try silent.close()
        }
    }
}

/// A request as bytes on the wire, named for the test's report.
struct RawRequest: Sendable, CustomTestStringConvertible {
    let name: String
    let text: String
    init(_ name: String, _ text: String) {
        self.name = name
        self.text = text
    }
    var testDescription: String { name }
}

/// A response read off a kept-alive connection: its head, then `Content-Length` bytes.
struct ReceivedResponse {
    let head: String
    let body: String
    /// The first line (by bytes: "\r\n" is one `Character`).
    var statusLine: String { String(decoding: head.utf8.prefix { $0 != 13 }, as: UTF8.self) }
}

extension LoopbackClient {
    /// Reads one response: up to the blank line, then `Content-Length` bytes
    /// (none for a response to HEAD, `bodyless`). Every wait is bounded.
    func receiveResponse(bodyless: Bool = false, timeout: Duration = .seconds(10)) throws -> ReceivedResponse {
        var bytes: [UInt8] = []
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while !(bytes.count >= 4 && bytes.suffix(4).elementsEqual(end)) {
            let byte = try receive(count: 1, timeout: timeout) // one at a time: not a byte past the head
            if byte.isEmpty { throw ChildProcessError(description: "the connection ended inside a response head: \(String(decoding: bytes, as: UTF8.self))") }
            bytes += Array(byte.utf8)
        }
        let head = String(decoding: bytes, as: UTF8.self)
        let lengthLine = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
        let length = bodyless ? 0 : lengthLine.flatMap { Int($0.dropFirst("content-length:".count).trimmingPrefix(" ")) } ?? 0
        return ReceivedResponse(head: head, body: try receive(count: length, timeout: timeout))
    }
}

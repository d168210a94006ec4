import EventLoop
import HTTPHead

/// The server's limits: the head's (`HeadLimits`), the body's, and how long a
/// request may take to arrive.
struct RequestLimits: Sendable {
    var head = HeadLimits()
    /// Bytes of a request body (`Content-Length`); more is 413.
    var body: Int
    /// Time for a request to arrive, from the first wait for it to its last
    /// byte; also how long an idle kept-alive connection stays open.
    var timeout: Duration
}

/// A request, as the routes see it.
struct Request: Sendable {
    /// `GET`, `HEAD`, ... (case-sensitive, as RFC 9110 says).
    let method: String
    /// The request target as sent: `/42?x=1`.
    let target: String
    /// The target's path as sent: `/caf%C3%A9`.
    let rawPath: Substring
    /// The target's path, percent-decoded: `/café`.
    let path: String
    /// What followed `?`, as sent (empty without one).
    let query: String
    /// `HTTP/1.1` or `HTTP/1.0`.
    let version: String
    let head: MessageHead
    /// Whether the client lets the connection stay open after the response:
    /// HTTP/1.1 unless it sent `Connection: close`. HTTP/1.0 connections close.
    let keepAlive: Bool

    /// The request line, for the log.
    var line: String { "\(method) \(target) \(version)" }
}

/// What reading a request gave.
enum RequestOutcome: Sendable {
    /// A whole request, its body read (and dropped: no route takes one).
    case request(Request)
    /// A request the server refuses with `status`; the connection closes after
    /// the answer, since the rest of the stream cannot be trusted to be a message.
    case refusal(status: Int, reason: String, line: String)
    /// The client closed before a request began (the usual end of a kept-alive connection).
    case closed
    /// The client left part-way through a request, or let the time run out.
    case abandoned(String)
}

/// Reads one request from `connection`, within `limits`: the request line,
/// the header fields, and a body of `Content-Length` bytes. Never throws:
/// every failure is an outcome. `CancellationError` (the server stopping)
/// comes back as `.abandoned`.
func readRequest(from connection: StreamConnection, limits: RequestLimits, on executor: LoopExecutor) async -> RequestOutcome {
    do {
        return try await executor.withDeadline(after: limits.timeout) {
            try await readRequest(from: connection, limits: limits)
        }
    } catch let error as HeadError {
        switch error {
        case .endedEarly: return .abandoned("closed in the middle of a request")
        case .startLineTooLong, .fieldsTooLarge: return .refusal(status: 431, reason: "\(error)", line: "")
        case .malformed(let what): return .refusal(status: 400, reason: what, line: "")
        }
    } catch is DeadlineExceeded {
        return .abandoned("no whole request within \(limits.timeout)")
    } catch is CancellationError {
        return .abandoned("the server is stopping")
    } catch let error as StreamError where error.kind == .endOfStream {
        return .abandoned("closed in the middle of a request body")
    } catch {
        return .abandoned("\(error)") // a reset, mostly
    }
}

private func readRequest(from connection: StreamConnection, limits: RequestLimits) async throws -> RequestOutcome {
    guard let head = try await MessageHead.read(from: connection, limits: limits.head) else { return .closed }
    let line = head.startLine
    func refuse(_ status: Int, _ reason: String) -> RequestOutcome { .refusal(status: status, reason: reason, line: line) }

    // request-line = method SP request-target SP HTTP-version (RFC 9112, section 3)
    let parts = line.split(separator: " ", omittingEmptySubsequences: false)
    guard parts.count == 3 else { return refuse(400, "the request line is not METHOD TARGET HTTP-VERSION") }
    let method = String(parts[0])
    let target = String(parts[1])
    let version = String(parts[2])
    guard !method.isEmpty, method.utf8.allSatisfy(isTokenCharacter) else { return refuse(400, "the method is not a token") }
    let digits = Array(version.utf8)
    let isDigit: (UInt8) -> Bool = { $0 >= 0x30 && $0 <= 0x39 }
    guard digits.count == 8, version.hasPrefix("HTTP/"), isDigit(digits[5]), digits[6] == UInt8(ascii: "."), isDigit(digits[7]) else {
        return refuse(400, "the version is not HTTP/x.y")
    }
    let major = digits[5] - 0x30
    let minor = digits[7] - 0x30
    guard major == 1 else { return refuse(505, "only HTTP/1.x is spoken here") }
    // Only the origin form, `/path?query` (no `http://host/...`, no `*`).
    guard target.hasPrefix("/"), target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
        return refuse(400, "the target is not an absolute path")
    }
    let pathPart = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
    guard let path = percentDecoded(pathPart[0]) else { return refuse(400, "a bad percent-escape in the path") }

    // HTTP/1.1 requires exactly one Host (RFC 9112, section 3.2).
    if minor >= 1 && head.values("host").count != 1 { return refuse(400, "HTTP/1.1 needs exactly one Host header") }
    // Chunked bodies are left out of this subset.
    if !head.values("transfer-encoding").isEmpty { return refuse(501, "Transfer-Encoding is not supported: send Content-Length") }
    let length: Int
    do { length = try head.contentLength() ?? 0 } catch { return refuse(400, "\(error)") }
    if length > limits.body { return refuse(413, "a body of \(length) bytes is over the limit of \(limits.body)") }
    if length > 0 { _ = try await connection.readExactly(length) } // no route takes a body: read past it

    let connection = head.tokens("connection")
    return .request(Request(
        method: method, target: target, rawPath: pathPart[0], path: path, query: pathPart.count > 1 ? String(pathPart[1]) : "",
        version: version, head: head, keepAlive: minor >= 1 && !connection.contains("close")))
}

/// `%41` as `A`, and so on; nil for a bad escape or bytes that are not UTF-8.
func percentDecoded(_ text: Substring) -> String? {
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
        guard byte == UInt8(ascii: "%") else {
            bytes.append(byte)
            continue
        }
        guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
        bytes.append(high << 4 | low)
    }
    return String(validating: bytes, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

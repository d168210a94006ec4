import EventLoop
import ExampleSupport
import HTTPHead

/// A response: its status and body (the fields are read, and used only for framing).
struct Response: Sendable {
    let status: Int
    let reason: String
    let head: MessageHead
    let body: [UInt8]
}

/// The largest body this client keeps.
let bodyLimit = 64 << 20

/// Reads the response to one GET: the status line and fields (skipping any
/// interim 1xx responses), then the body, framed as RFC 9112, section 6.3
/// says: none for 204 and 304, `Content-Length` bytes, chunked, or
/// everything until the server closes.
/// - Throws: `ExampleFailure` for a response that is not HTTP/1.x or breaks
///   its own framing; `StreamError`, `CancellationError` from the reads.
func readResponse(from connection: StreamConnection) async throws -> Response {
    while true {
        let head: MessageHead
        do {
            guard let read = try await MessageHead.read(from: connection) else {
                throw ExampleFailure("the server closed the connection without a response")
            }
            head = read
        } catch let error as HeadError {
            throw ExampleFailure("a malformed response: \(error)")
        }
        let (status, reason) = try parseStatusLine(head.startLine)
        if (100..<200).contains(status) && status != 101 { continue } // interim: the real one follows
        return Response(status: status, reason: reason, head: head, body: try await readBody(of: head, status: status, from: connection))
    }
}

/// `HTTP/1.1 201 Created`: the status, and the reason phrase (which may be empty).
private func parseStatusLine(_ line: String) throws -> (Int, String) {
    let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
    guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let status = Int(parts[1]), status >= 100 else {
        throw ExampleFailure("not an HTTP/1.x status line: \(quoted(Array(line.utf8.prefix(80))))")
    }
    return (status, parts.count > 2 ? String(parts[2]) : "")
}

private func readBody(of head: MessageHead, status: Int, from connection: StreamConnection) async throws -> [UInt8] {
    if status == 204 || status == 304 { return [] }
    if head.tokens("transfer-encoding").last == "chunked" { return try await readChunked(from: connection) }
    if !head.values("transfer-encoding").isEmpty {
        throw ExampleFailure("the body's Transfer-Encoding (\(head.values("transfer-encoding").joined(separator: ", "))) is not supported")
    }
    let length: Int?
    do { length = try head.contentLength() } catch { throw ExampleFailure("a malformed response: \(error)") }
    guard let length else {
        do { return try await connection.readToEnd(limit: bodyLimit) } catch let error as StreamError where error.kind == .lineTooLong {
            throw ExampleFailure("the body is over \(bodyLimit) bytes")
        }
    }
    if length > bodyLimit { throw ExampleFailure("the body is \(length) bytes, over \(bodyLimit)") }
    do { return try await connection.readExactly(length) } catch let error as StreamError where error.kind == .endOfStream {
        throw ExampleFailure("the server closed the connection before the \(length) bytes of its body")
    }
}

/// A chunked body (RFC 9112, section 7.1): `SIZE[;ext]` CRLF, data CRLF, ... `0` CRLF, trailers, CRLF.
private func readChunked(from connection: StreamConnection) async throws -> [UInt8] {
    var body: [UInt8] = []
    while true {
        let line = try await connection.readLine(limit: 1_024)
        let sizeText = String(decoding: line, as: UTF8.self).prefix { $0.isHexDigit }
        guard !sizeText.isEmpty, sizeText.count <= 8, let size = Int(sizeText, radix: 16) else {
            throw ExampleFailure("a malformed chunk size line: \(quoted(line.prefix(80)))")
        }
        if size == 0 { break }
        if body.count + size > bodyLimit { throw ExampleFailure("the body is over \(bodyLimit) bytes") }
        body += try await connection.readExactly(size)
        _ = try await connection.readLine(limit: 2) // the CRLF after the data
    }
    while try await connection.readLine(limit: 8_192).count > 2 {} // trailer fields, up to the empty line
    return body
}

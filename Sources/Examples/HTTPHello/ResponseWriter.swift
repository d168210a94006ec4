import EventLoop
import Glibc

/// A response: a status, header fields, and a body (always sent with its
/// `Content-Length`, so a kept-alive connection knows where it ends).
struct Response: Sendable {
    var status: Int
    var fields: [(name: String, value: String)] = []
    var body: [UInt8] = []

    /// A `text/plain` response, as aiohttp's `web.Response(text=..., status=...)`.
    static func text(_ text: String, status: Int) -> Response {
        Response(status: status, fields: [("Content-Type", "text/plain; charset=utf-8")], body: Array(text.utf8))
    }

    /// aiohttp's error body: `404: Not Found`.
    static func error(_ status: Int) -> Response { .text("\(status): \(reasonPhrase(status))", status: status) }

    /// The bytes on the wire: status line, fields, `Content-Length`, `Date`,
    /// `Connection: close` unless `keepAlive`, then the body unless `headOnly` (HEAD).
    func encoded(keepAlive: Bool, headOnly: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n"
        for field in fields { head += "\(field.name): \(field.value)\r\n" }
        head += "Content-Length: \(body.count)\r\nDate: \(httpDate())\r\nServer: http-hello\r\n"
        if !keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (headOnly ? [] : body)
    }
}

/// Writes `response` in one write (it returns once the kernel has taken all of it).
func write(_ response: Response, to connection: StreamConnection, keepAlive: Bool, headOnly: Bool = false) async throws {
    try await connection.write(response.encoded(keepAlive: keepAlive, headOnly: headOnly))
}

/// Closes a connection the server is done with, without losing the last
/// response: a `close(2)` with request bytes still unread sends a reset,
/// which may destroy the response before the client has read it. So: send
/// the end of the stream (FIN) after the response, read and drop what the
/// client still sends until it closes (at most 1 MiB, for at most a
/// second), then close. Nginx calls this a lingering close.
func closeGracefully(_ connection: StreamConnection) async {
    if (try? await connection.shutdownWriting()) != nil {
        _ = try? await connection.executor.withDeadline(after: .seconds(1)) {
            var buffer = [UInt8](repeating: 0, count: 16_384)
            var dropped = 0
            while dropped < 1 << 20, case let count = try await connection.read(into: &buffer), count > 0 { dropped += count }
        }
    }
    await connection.close()
}

/// The reason phrases of the statuses this server sends (RFC 9110, section 15).
func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 200: "OK"
    case 201: "Created"
    case 400: "Bad Request"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 413: "Content Too Large"
    case 431: "Request Header Fields Too Large"
    case 501: "Not Implemented"
    case 505: "HTTP Version Not Supported"
    default: "Unknown"
    }
}

/// Now as an HTTP date (IMF-fixdate, RFC 9110, section 5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
func httpDate() -> String {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    var buffer = [CChar](repeating: 0, count: 40)
    // The C locale's names, whatever the environment says: the program never calls setlocale.
    let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

import EventLoop

/// How much of a message head a reader accepts before it gives up: a peer
/// that sends an endless line or endless headers costs bounded memory.
public struct HeadLimits: Sendable {
    /// Bytes in the request line or status line, without its line end
    /// (aiohttp's default, 8190).
    public var startLine: Int
    /// Bytes in one header field line, without its line end.
    public var fieldLine: Int
    /// Bytes in all header field lines together, line ends included.
    public var fieldBytes: Int
    /// Header fields.
    public var fieldCount: Int

    /// The defaults are aiohttp's line limits, and room for 100 ordinary fields.
    public init(startLine: Int = 8_190, fieldLine: Int = 8_190, fieldBytes: Int = 32_768, fieldCount: Int = 100) {
        self.startLine = startLine
        self.fieldLine = fieldLine
        self.fieldBytes = fieldBytes
        self.fieldCount = fieldCount
    }
}

/// One header field; the name in lower case (names are case-insensitive).
public struct HeaderField: Sendable, Equatable {
    /// `content-length`: lower case.
    public let name: String
    /// As sent, without the whitespace around it.
    public let value: String
}

/// Why a message head could not be read.
public enum HeadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stream ended part-way through the head (the peer left mid-message).
    case endedEarly
    /// The start line was longer than the limit.
    case startLineTooLong(limit: Int)
    /// A field line, the fields together, or their count went over a limit.
    case fieldsTooLarge(String)
    /// Not HTTP/1.1 syntax; says what was wrong.
    case malformed(String)

    /// Says what went wrong, for a log or an error line.
    public var description: String {
        switch self {
        case .endedEarly: "the stream ended in the middle of the message head"
        case .startLineTooLong(let limit): "the first line is longer than \(limit) bytes"
        case .fieldsTooLarge(let what): what
        case .malformed(let what): what
        }
    }
}

/// An HTTP/1.1 message head (RFC 9112, section 2.1): the start line, then
/// header field lines, then an empty line. Lines end in CRLF; a bare LF is
/// accepted too (section 2.2). Obsolete line folding and a space before a
/// field's colon are refused, as the RFC asks of a server.
public struct MessageHead: Sendable {
    /// The request line or status line, without its line end.
    public let startLine: String
    /// The header fields, in the order they came.
    public let fields: [HeaderField]

    /// Every value of the field `name` (any case), in order.
    public func values(_ name: String) -> [String] {
        let lowered = name.lowercased()
        return fields.filter { $0.name == lowered }.map(\.value)
    }

    /// The comma-separated elements of every `name` field, trimmed and lower-cased
    /// (for `Connection` and `Transfer-Encoding`).
    public func tokens(_ name: String) -> [String] {
        values(name).flatMap { $0.split(separator: ",") }.map { trimmed($0[...]).lowercased() }.filter { !$0.isEmpty }
    }

    /// The body's length from `Content-Length`, nil without one. Several
    /// values (or a list) must agree; a number too large for memory reads as
    /// `Int.max` (so the caller's size limit refuses it).
    /// - Throws: `HeadError.malformed` for anything but digits, or values that differ.
    public func contentLength() throws(HeadError) -> Int? {
        let elements = values("content-length").flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        guard !elements.isEmpty else { return nil }
        var length: Int?
        for element in elements {
            let digits = trimmed(element)
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw .malformed("Content-Length \(quotedField(String(element))) is not a number")
            }
            let value = digits.count > 18 ? Int.max : Int(digits)!
            if let length, length != value { throw .malformed("Content-Length values disagree") }
            length = value
        }
        return length
    }

    /// Reads a head from `connection`. Returns nil when the stream ends
    /// before its first byte (the peer is done: no message at all). Empty
    /// lines before the start line are skipped (RFC 9112, section 2.2), a few.
    /// - Throws: `HeadError`; `StreamError` and `CancellationError` from the reads.
    public static func read(from connection: StreamConnection, limits: HeadLimits = HeadLimits()) async throws -> MessageHead? {
        var startLine: [UInt8] = []
        for skipped in 0...8 {
            guard let line = try await readLine(connection, limit: limits.startLine, atStart: skipped == 0) else {
                if skipped == 0 { return nil }
                throw HeadError.endedEarly
            }
            startLine = line
            if !line.isEmpty { break }
        }
        if startLine.isEmpty { throw HeadError.malformed("more empty lines than a message head starts with") }
        if let byte = startLine.first(where: isControl) {
            throw HeadError.malformed("a control character (\(byte)) in the first line")
        }
        var fields: [HeaderField] = []
        var fieldBytes = 0
        while true {
            guard let line = try await readLine(connection, limit: limits.fieldLine, atStart: false) else {
                throw HeadError.endedEarly
            }
            if line.isEmpty { break }
            fieldBytes += line.count + 2
            if fieldBytes > limits.fieldBytes { throw HeadError.fieldsTooLarge("the header fields are over \(limits.fieldBytes) bytes") }
            if fields.count == limits.fieldCount { throw HeadError.fieldsTooLarge("more than \(limits.fieldCount) header fields") }
            fields.append(try parseField(line))
        }
        return MessageHead(startLine: String(decoding: startLine, as: UTF8.self), fields: fields)
    }

    /// One line without its CRLF or LF; nil at the end of the stream before
    /// any byte of it (an end part-way through a line is `endedEarly`).
    private static func readLine(_ connection: StreamConnection, limit: Int, atStart: Bool) async throws -> [UInt8]? {
        var line: [UInt8]
        do {
            line = try await connection.readLine(limit: limit + 2) // room for CRLF
        } catch let error as StreamError where error.kind == .lineTooLong {
            throw atStart ? HeadError.startLineTooLong(limit: limit) : HeadError.fieldsTooLarge("a header field line is over \(limit) bytes")
        }
        if line.isEmpty { return nil }
        guard line.last == 0x0A else { throw HeadError.endedEarly } // the rest of a line, at the end
        line.removeLast()
        if line.last == 0x0D { line.removeLast() }
        // `limit + 2` lets an LF-only line of limit + 1 bytes through.
        if line.count > limit {
            throw atStart ? HeadError.startLineTooLong(limit: limit) : HeadError.fieldsTooLarge("a header field line is over \(limit) bytes")
        }
        return line
    }

    /// `name: value` (RFC 9110, section 5.1; RFC 9112, section 5).
    private static func parseField(_ line: [UInt8]) throws(HeadError) -> HeaderField {
        if line.first == 0x20 || line.first == 0x09 { throw .malformed("a folded header line (obsolete line folding)") }
        guard let colon = line.firstIndex(of: 0x3A) else {
            throw .malformed("a header line without a colon: \(quotedField(String(decoding: line.prefix(40), as: UTF8.self)))")
        }
        let name = line[..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenCharacter) else {
            throw .malformed("a header name that is not a token: \(quotedField(String(decoding: name.prefix(40), as: UTF8.self)))")
        }
        let value = line[(colon + 1)...]
        if value.contains(where: { isControl($0) && $0 != 0x09 }) { throw .malformed("a control character in a header value") }
        return HeaderField(name: String(decoding: name, as: UTF8.self).lowercased(),
                           value: trimmed(Substring(decoding: value, as: UTF8.self)))
    }
}

/// RFC 9110's `tchar`: the characters of a method or a header name.
public func isTokenCharacter(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
    default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
    }
}

/// A control character (a bare CR, NUL, DEL...): never part of a head's text.
func isControl(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x7F }

/// `text` without leading and trailing spaces and tabs (HTTP's optional whitespace).
func trimmed(_ text: Substring) -> String {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
    return String(text[first...last])
}

/// A field's text in quotes, for an error.
func quotedField(_ text: String) -> String { "\"\(text)\"" }

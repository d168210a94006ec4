import ExampleSupport

/// An `http://` URL, taken apart for one request: where to connect, what to
/// put in the request line and in `Host`.
struct TargetURL: Sendable, CustomStringConvertible {
    /// A name, an IPv4 address, or an IPv6 address without its brackets.
    let host: String
    let port: UInt16
    /// The request target: the path and the query, `/` when the URL has no
    /// path, bytes outside printable ASCII percent-encoded.
    let target: String
    let text: String

    var description: String { text }

    /// The `Host` field: the host (IPv6 in brackets), and the port unless it is 80.
    var hostField: String {
        (host.contains(":") ? "[\(host)]" : host) + (port == 80 ? "" : ":\(port)")
    }

    /// Parses `http://host[:port][/path][?query][#fragment]`.
    /// - Throws: `UsageError` for another scheme, user info, a bad port, an empty host.
    init(parsing text: String) throws(UsageError) {
        self.text = text
        guard let schemeEnd = text.firstRange(of: "://") else { throw UsageError("\(text): expected a URL such as http://127.0.0.1:9999/42") }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        if scheme == "https" { throw UsageError("\(text): https is not supported; this client speaks plain HTTP/1.1") }
        guard scheme == "http" else { throw UsageError("\(text): only http:// URLs are supported") }
        var rest = text[schemeEnd.upperBound...]
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if authority.contains("@") { throw UsageError("\(text): user names and passwords in URLs are not supported") }
        var hostPart = authority
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw UsageError("\(text): an IPv6 address needs its closing ]") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw UsageError("\(text): expected :PORT after the IPv6 address") }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw UsageError("\(text): the URL has no host") }
        var port: UInt16 = 80
        if let portPart {
            guard let number = UInt16(portPart), number > 0 else { throw UsageError("\(text): the port must be a number in 1...65535") }
            port = number
        }
        if path.isEmpty || path.hasPrefix("?") { path = "/" + path }
        host = String(hostPart)
        self.port = port
        target = percentEncoded(path)
    }
}

/// `text` with spaces, control characters and non-ASCII bytes as `%XX`;
/// what is already escaped stays as it is.
private func percentEncoded(_ text: String) -> String {
    let digits = Array("0123456789ABCDEF".utf8)
    var bytes: [UInt8] = []
    for byte in text.utf8 {
        if byte > 0x20 && byte < 0x7F {
            bytes.append(byte)
        } else {
            bytes += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

import Glibc

/// An IPv4 or IPv6 address and port, over C's `sockaddr_storage`.
public struct SocketEndpoint: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline var storage: sockaddr_storage
    @usableFromInline var length: socklen_t

    /// Parses a numeric address: `"127.0.0.1"` or `"::1"` (no host names: no DNS here).
    /// - Throws: `ArgumentError` when `ip` is neither form.
    public init(ip: String, port: UInt16) throws(ArgumentError) {
        storage = sockaddr_storage()
        if ip.contains(":") {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, ip, &address.sin6_addr) == 1 else {
                throw ArgumentError("inet_pton(AF_INET6)", argument: "\"\(ip)\"", requirement: "must be a numeric IPv6 address such as ::1")
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_in6.self) }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, ip, &address.sin_addr) == 1 else {
                throw ArgumentError("inet_pton(AF_INET)", argument: "\"\(ip)\"", requirement: "must be a numeric IPv4 address such as 127.0.0.1")
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_in.self) }
        }
    }

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// `AF_INET`, `AF_INET6` or `AF_UNIX`.
    public var family: Int32 { Int32(storage.ss_family) }

    /// Whether it is an IPv6 address (`AF_INET6`).
    var isIPv6: Bool { family == AF_INET6 }
    /// Whether it is an IPv4 address (`AF_INET`).
    var isIPv4: Bool { family == AF_INET }

    /// The port, in host byte order (0 for a Unix domain address).
    public var port: UInt16 {
        guard family == AF_INET || family == AF_INET6 else { return 0 }
        return withUnsafeBytes(of: storage) { raw in
            family == AF_INET6 ? UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
                : UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
        }
    }

    /// The numeric address, e.g. `"127.0.0.1"` or `"::1"`; empty for a Unix domain address.
    public var ip: String {
        guard family == AF_INET || family == AF_INET6 else { return "" }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                var address = raw.load(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
            } else {
                var address = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
            }
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reads like `127.0.0.1:8080`, `[::1]:8080`, `unix:/tmp/app.sock`, or
    /// `unix:@app` for a Linux abstract name (as `ss` and systemd print it;
    /// a NUL within the name prints as `\0`); `unix:(unnamed)` for an unnamed
    /// Unix socket.
    public var description: String {
        switch family {
        case AF_INET6: "[\(ip)]:\(port)"
        case AF_INET: "\(ip):\(port)"
        case AF_UNIX:
            if let path = unixPath {
                "unix:\(path)"
            } else if let name = abstractUnixName {
                "unix:@" + name.replacingNULs
            } else {
                "unix:(unnamed)"
            }
        default: "family \(family)"
        }
    }

    @inlinable
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self), length) }
    }

    /// Equal when family, address and port are (for Unix domain addresses:
    /// the path, or the abstract name's bytes).
    public static func == (a: SocketEndpoint, b: SocketEndpoint) -> Bool {
        guard a.family == b.family else { return false }
        if a.family == AF_UNIX {
            if let path = a.unixPath { return path == b.unixPath }
            return a.unixNameBytes == b.unixNameBytes // abstract names byte for byte; unnamed ones alike
        }
        return a.description == b.description
    }
    /// Hashes what `==` compares.
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

extension String {
    /// The text with each NUL shown as `\0`.
    fileprivate var replacingNULs: String {
        contains("\0") ? split(separator: "\0", omittingEmptySubsequences: false).joined(separator: "\\0") : self
    }
}

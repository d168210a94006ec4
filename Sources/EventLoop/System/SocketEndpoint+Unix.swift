import Glibc

extension SocketEndpoint {
    /// A Unix domain socket address for `path` (`sockaddr_un`).
    /// - Throws: `ArgumentError` for an empty path or one of 108 bytes or more.
    public init(unixPath path: String) throws(ArgumentError) {
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw ArgumentError("sockaddr_un", argument: "path \"\(path)\"",
                                requirement: "must be 1 to \(capacity - 1) bytes without NUL")
        }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_un.self) }
        let length = MemoryLayout<sa_family_t>.size + bytes.count + 1
        self.init(storage: storage, length: socklen_t(length))
    }

    /// A Linux abstract-namespace Unix domain socket address for `name`
    /// (`unix(7)`): no file is made, so there is none to clean up or to find
    /// stale; the name lives while a socket is bound to it, in the network
    /// namespace, and anyone who can reach that namespace may use it (no file
    /// permissions apply). `sun_path` holds a NUL, then the name's UTF-8
    /// bytes, and the address length counts only those (`sa_family_t` + 1 +
    /// the name's length): the name is not padded, so `"app"` and `"app\0"`
    /// stay different names, as the kernel sees them. Prints as `unix:@app`.
    /// - Throws: `ArgumentError` for an empty name, one of more than 107
    ///   bytes, or one with a NUL byte.
    public init(abstractUnixName name: String) throws(ArgumentError) {
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw ArgumentError("sockaddr_un", argument: "abstract name \"\(name)\"",
                                requirement: "must be 1 to \(capacity - 1) bytes without NUL")
        }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw[1...].copyBytes(from: bytes) } // raw[0] stays 0
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_un.self) }
        self.init(storage: storage, length: socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count))
    }

    /// The path of a Unix domain socket address; nil for other families,
    /// unnamed sockets and abstract names.
    public var unixPath: String? {
        guard let name = unixNameBytes, let first = name.first, first != 0 else { return nil }
        return String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The name of a Linux abstract-namespace Unix address (without its
    /// leading NUL; see `init(abstractUnixName:)`); nil for other families,
    /// paths and unnamed sockets. A NUL byte within the name (the kernel
    /// allows them) reads as U+0000.
    public var abstractUnixName: String? {
        guard let name = unixNameBytes, name.count > 1, name.first == 0 else { return nil }
        return String(decoding: name.dropFirst(), as: UTF8.self)
    }

    /// The bytes of `sun_path` that the address length counts; nil for other
    /// families and unnamed sockets (the length covers only the family).
    var unixNameBytes: [UInt8]? {
        guard family == AF_UNIX else { return nil }
        let offset = MemoryLayout<sa_family_t>.size
        let count = min(Int(length), MemoryLayout<sockaddr_un>.size) - offset
        guard count > 0 else { return nil }
        return withUnsafeBytes(of: storage) { raw in Array(raw[offset..<offset + count]) }
    }
}

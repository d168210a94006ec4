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

    /// The path of a Unix domain socket address; nil for other families and unnamed sockets.
    public var unixPath: String? {
        guard family == AF_UNIX else { return nil }
        let pathLength = Int(length) - MemoryLayout<sa_family_t>.size
        guard pathLength > 0 else { return nil }
        return withUnsafeBytes(of: storage) { raw in
            let bytes = raw[MemoryLayout<sa_family_t>.size..<MemoryLayout<sa_family_t>.size + pathLength]
            let name = bytes.prefix { $0 != 0 }
            return name.isEmpty ? nil : String(decoding: name, as: UTF8.self)
        }
    }
}

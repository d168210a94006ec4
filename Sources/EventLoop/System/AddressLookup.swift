import Glibc

/// Name resolution with `getaddrinfo(3)`: blocking, so callers run it off
/// any loop thread. Not a system call of its own (it may read files and send
/// DNS queries through several), so it is not scriptable by a `FaultScript`.
enum AddressLookup {
    /// Why a lookup failed: `gai_strerror`'s message.
    struct Failure: Error, Sendable {
        let message: String
    }

    /// The stream-socket addresses of `host`, in the resolver's order.
    static func resolve(host: String, port: UInt16) -> Result<[SocketEndpoint], Failure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else { return .failure(Failure(message: String(cString: gai_strerror(status)))) }
        defer { freeaddrinfo(list) }
        var endpoints: [SocketEndpoint] = []
        var next = list
        while let entry = next {
            if let address = entry.pointee.ai_addr, entry.pointee.ai_family == AF_INET || entry.pointee.ai_family == AF_INET6 {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { target in
                    target.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(entry.pointee.ai_addrlen)))
                }
                endpoints.append(SocketEndpoint(storage: storage, length: entry.pointee.ai_addrlen))
            }
            next = entry.pointee.ai_next
        }
        return .success(endpoints)
    }
}

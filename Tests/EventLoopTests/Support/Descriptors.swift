import CEventShim
import EventLoop
import Glibc
import Testing

/// How many descriptors this process has open, from /proc/self/fd.
func openDescriptorCount() -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    var count = 0
    while readdir(dir) != nil { count += 1 }
    return count - 3 // ".", ".." and the directory's own descriptor
}

/// One entry of /proc/self/fd: a descriptor number and what it names
/// (`pipe:[inode]`, `anon_inode:[eventpoll]`, a path…).
struct DescriptorTarget: Hashable {
    let number: Int32
    let target: String
}

/// What /proc/self/fd lists, except the directory's own descriptor.
func openDescriptorTargets() -> Set<DescriptorTarget> {
    guard let dir = opendir("/proc/self/fd") else { return [] }
    defer { closedir(dir) }
    let own = dirfd(dir)
    var entries = Set<DescriptorTarget>()
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let number = Int32(name), number != own else { continue }
        var buffer = [CChar](repeating: 0, count: 256)
        let length = readlink("/proc/self/fd/\(number)", &buffer, buffer.count - 1)
        guard length > 0 else { continue } // closed meanwhile
        entries.insert(DescriptorTarget(number: number, target: String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)))
    }
    return entries
}

/// How many of this process's open descriptors are sockets (from /proc/self/fd):
/// a count that the runtime's own descriptors (eventfds, epoll) do not blur.
func openSocketCount() -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    var count = 0
    var target = [CChar](repeating: 0, count: 64)
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let length = readlink("/proc/self/fd/" + name, &target, target.count - 1)
        if length > 0 && String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self).hasPrefix("socket:") {
            count += 1
        }
    }
    return count
}

/// Whether `fd` is an open descriptor.
func isOpen(_ fd: Descriptor) -> Bool { cevent_get_cloexec(fd.rawValue) >= 0 }

/// A duplicate of `fd` numbered at least `minimum` (`F_DUPFD_CLOEXEC` takes
/// the lowest free number there, so it never clobbers a parallel test's).
func duplicate(_ fd: Descriptor, atLeast minimum: Int32) throws -> OwnedDescriptor {
    let number = fcntl(fd.rawValue, F_DUPFD_CLOEXEC, minimum)
    try #require(number >= minimum, "F_DUPFD_CLOEXEC failed: errno \(errno)")
    return OwnedDescriptor(adopting: Descriptor(number))
}

/// Raises the soft limit on open descriptors to the hard one, for tests that open thousands.
func raiseDescriptorLimit() {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// Milliseconds elapsed since `start`.
func millisecondsSince(_ start: MonotonicInstant) -> Double {
    Double(MonotonicInstant.now().nanoseconds - start.nanoseconds) / 1e6
}

/// Writes `bytes` to `fd`, which must accept them at once.
func put(_ fd: Descriptor, _ bytes: [UInt8] = [1]) throws {
    let written = try fd.write(bytes)
    precondition(written == .completed(bytes.count))
}

/// A number far above any this suite opens, so it is never open: calls on it
/// fail with EBADF without racing parallel tests that close and reuse numbers.
let neverOpenDescriptor = Descriptor(19_999)

/// Connects to the Unix stream listener at `address` until its queue is full
/// (a non-blocking connect says `EAGAIN`), at most `limit` times; returns
/// the queued clients, which the caller closes with `closeAll`.
func fillQueue(of address: SocketEndpoint, limit: Int = 64) throws -> [Descriptor] {
    var queued: [Descriptor] = []
    while queued.count < limit {
        let socket = try Socket.stream(for: address)
        if try socket.descriptor.startConnecting(to: address).wouldBlock { break } // `socket` closes here
        queued.append(socket.release())
    }
    return queued
}

/// Closes descriptors whose owners were released.
func closeAll(_ descriptors: [Descriptor]) {
    for fd in descriptors { try? OwnedDescriptor(adopting: fd).close() }
}

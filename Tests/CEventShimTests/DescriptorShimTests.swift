import CEventShim
import Glibc
import Testing

@Suite("CEventShim fcntl, pipes and sockets")
struct DescriptorShimTests {
    @Test func fcntlHelpersGetAndSetFlags() throws {
        let pipe = try makePipe(flags: 0)
        #expect(cevent_get_nonblocking(pipe.read) == 0)
        #expect(cevent_set_nonblocking(pipe.read, 1) == 0)
        #expect(cevent_get_nonblocking(pipe.read) == 1)
        #expect(cevent_get_status_flags(pipe.read) & O_NONBLOCK != 0)
        #expect(cevent_set_status_flags(pipe.read, 0) == 0)
        #expect(cevent_get_nonblocking(pipe.read) == 0)
        #expect(cevent_get_cloexec(pipe.read) == 1, "pipe2 always adds O_CLOEXEC")
        #expect(cevent_set_cloexec(pipe.read, 0) == 0)
        #expect(cevent_get_cloexec(pipe.read) == 0)
        let copy = cevent_dup(pipe.read)
        #expect(copy >= 0 && cevent_get_cloexec(copy) == 1)
        closeAll(copy, pipe.read, pipe.write)
        for call in [cevent_get_nonblocking, cevent_get_cloexec, cevent_get_status_flags, cevent_dup] {
            #expect(call(closedFD) == EBADF_)
        }
        #expect(cevent_set_nonblocking(closedFD, 1) == EBADF_)
        #expect(cevent_set_cloexec(closedFD, 1) == EBADF_)
        #expect(cevent_set_status_flags(closedFD, 0) == EBADF_)
    }

    @Test func readWriteAndCloseReportErrors() throws {
        let pipe = try makePipe()
        var bytes: [UInt8] = [1, 2, 3]
        #expect(cevent_read(pipe.read, &bytes, 3) == Int(EAGAIN_), "empty non-blocking pipe")
        #expect(cevent_write(pipe.write, bytes, 3) == 3)
        var back = [UInt8](repeating: 0, count: 8)
        #expect(cevent_read(pipe.read, &back, 8) == 3 && Array(back.prefix(3)) == bytes)
        closeAll(pipe.read, pipe.write)
        #expect(cevent_close(closedFD) == EBADF_)
        #expect(cevent_read(closedFD, &back, 1) == Int(EBADF_))
        #expect(cevent_write(closedFD, &back, 1) == Int(EBADF_))
    }

    @Test func socketpairIsNonBlockingAndCloseOnExec() {
        var fds: [Int32] = [-1, -1]
        #expect(cevent_socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        for fd in fds { #expect(cevent_get_nonblocking(fd) == 1 && cevent_get_cloexec(fd) == 1) }
        var byte: UInt8 = 0
        #expect(cevent_recv(fds[0], &byte, 1, 0) == Int(EAGAIN_))
        closeAll(fds[1])
        #expect(cevent_send(fds[0], &byte, 1, 0) == -Int(EPIPE), "MSG_NOSIGNAL: EPIPE, not SIGPIPE")
        closeAll(fds[0])
        #expect(cevent_socketpair(-1, Int32(SOCK_STREAM.rawValue), 0, &fds) < 0)
    }

    @Test func tcpOverLoopback() throws {
        let listener = cevent_socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0, 1)
        #expect(listener >= 0 && cevent_get_cloexec(listener) == 1)
        #expect(cevent_setsockopt_int(listener, SOL_SOCKET, SO_REUSEADDR, 1) == 0)
        var value: Int32 = 0
        #expect(cevent_getsockopt_int(listener, SOL_SOCKET, SO_REUSEADDR, &value) == 0 && value == 1)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { cevent_bind(listener, $0, length) }
        }
        #expect(bound == 0)
        #expect(cevent_listen(listener, 16) == 0)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { cevent_getsockname(listener, $0, &length) }
        }
        #expect(address.sin_port != 0)
        var accepted = cevent_accept4(listener, nil, nil, 0)
        #expect(accepted == EAGAIN_, "nothing to accept yet")
        let client = cevent_socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0, 0)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { cevent_connect(client, $0, length) }
        }
        #expect(connected == 0)
        #expect(waitReadable(listener))
        accepted = cevent_accept4(listener, nil, nil, Int32(SOCK_NONBLOCK.rawValue))
        #expect(accepted >= 0 && cevent_get_cloexec(accepted) == 1 && cevent_get_nonblocking(accepted) == 1)
        var peer = sockaddr_in()
        var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
        let gotPeer = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { cevent_getpeername(accepted, $0, &peerLength) }
        }
        #expect(gotPeer == 0 && peer.sin_addr.s_addr == address.sin_addr.s_addr)
        let message: [UInt8] = Array("ping".utf8)
        #expect(cevent_send(client, message, 4, 0) == 4)
        #expect(waitReadable(accepted))
        var got = [UInt8](repeating: 0, count: 8)
        #expect(cevent_recv(accepted, &got, 8, 0) == 4)
        #expect(cevent_shutdown(client, Int32(SHUT_WR)) == 0)
        #expect(waitReadable(accepted))
        #expect(cevent_recv(accepted, &got, 8, 0) == 0, "end of file after shutdown")
        #expect(cevent_shutdown(-1, Int32(SHUT_WR)) == EBADF_)
        closeAll(client, accepted, listener)
        #expect(cevent_listen(closedFD, 1) == EBADF_)
        #expect(cevent_connect(closedFD, nil, 0) == EBADF_ || cevent_connect(closedFD, nil, 0) == -EFAULT)
    }

    @Test func udpSendToAndReceiveFrom() {
        let a = cevent_socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0, 1)
        let b = cevent_socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0, 1)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                #expect(cevent_bind(b, $0, length) == 0)
                #expect(cevent_getsockname(b, $0, &length) == 0)
            }
        }
        let sent = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { cevent_sendto(a, "hi", 2, 0, $0, length) }
        }
        #expect(sent == 2)
        #expect(waitReadable(b))
        var from = sockaddr_in()
        var fromLength = socklen_t(MemoryLayout<sockaddr_in>.size)
        var buffer = [UInt8](repeating: 0, count: 8)
        let received = withUnsafeMutablePointer(to: &from) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { cevent_recvfrom(b, &buffer, 8, 0, $0, &fromLength) }
        }
        #expect(received == 2 && from.sin_family == sa_family_t(AF_INET))
        #expect(cevent_recvfrom(b, &buffer, 8, 0, nil, nil) == Int(EAGAIN_))
        closeAll(a, b)
    }

    @Test func openIsCloseOnExecAndReportsErrors() {
        let fd = cevent_open("/dev/null", O_RDONLY, 0)
        #expect(fd >= 0 && cevent_get_cloexec(fd) == 1)
        closeAll(fd)
        #expect(cevent_open("/nonexistent/path", O_RDONLY, 0) == -ENOENT)
    }

    @Test func clockIsMonotonicAndThreadIDIsPositive() {
        var previous = cevent_monotonic_ns()
        for _ in 0..<1_000 {
            let now = cevent_monotonic_ns()
            #expect(now >= previous)
            previous = now
        }
        #expect(cevent_gettid() > 0)
    }
}

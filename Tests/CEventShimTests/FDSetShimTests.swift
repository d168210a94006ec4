import CEventShim
import Glibc
import Testing

@Suite("CEventShim fd_set, select and poll")
struct FDSetShimTests {
    @Test func macrosWorkInRangeAndRefuseOutOfRange() {
        var set = fd_set()
        cevent_FD_ZERO(&set)
        #expect(cevent_FD_SETSIZE == 1024)
        #expect(cevent_FD_ISSET(5, &set) == 0)
        #expect(cevent_FD_SET(5, &set) == 0)
        #expect(cevent_FD_SET(1023, &set) == 0)
        #expect(cevent_FD_ISSET(5, &set) == 1 && cevent_FD_ISSET(1023, &set) == 1)
        #expect(cevent_FD_CLR(5, &set) == 0)
        #expect(cevent_FD_ISSET(5, &set) == 0)
        for bad: Int32 in [-1, 1024, 1 << 20, Int32.max, Int32.min] {
            #expect(cevent_FD_SET(bad, &set) == EINVAL_)
            #expect(cevent_FD_CLR(bad, &set) == EINVAL_)
            #expect(cevent_FD_ISSET(bad, &set) == EINVAL_)
        }
        #expect(cevent_FD_ISSET(1023, &set) == 1, "a refused call changes nothing")
    }

    @Test func selectAndPselectReportAReadablePipe() throws {
        let pipe = try makePipe()
        var readable = fd_set()
        cevent_FD_ZERO(&readable)
        _ = cevent_FD_SET(pipe.read, &readable)
        var copy = readable
        #expect(cevent_select(pipe.read + 1, &copy, nil, nil, 0) == 0)
        var byte: UInt8 = 1
        #expect(cevent_write(pipe.write, &byte, 1) == 1)
        copy = readable
        #expect(cevent_select(pipe.read + 1, &copy, nil, nil, 1_000_000_000) == 1)
        #expect(cevent_FD_ISSET(pipe.read, &copy) == 1)
        copy = readable
        #expect(cevent_pselect(pipe.read + 1, &copy, nil, nil, 1_000_000_000, nil) == 1)
        closeAll(pipe.read, pipe.write)
    }

    /// In a child process of its own: in this one, a parallel test could
    /// reuse the closed number before select sees it.
    @Test func selectReportsAClosedDescriptor() async {
        await #expect(processExitsWith: .success) {
            // A high number: the child has threads of its own that could reuse a low one.
            var fds: [Int32] = [-1, -1]
            guard cevent_pipe2(&fds, 0) == 0, dup2(fds[0], 1_000) == 1_000 else { exit(2) }
            var set = fd_set()
            cevent_FD_ZERO(&set)
            _ = cevent_FD_SET(1_000, &set)
            _ = cevent_close(1_000)
            exit(cevent_select(1_001, &set, nil, nil, 0) == -EBADF ? 0 : 1)
        }
    }

    @Test func selectTimeoutIsNeverShort() {
        var none = fd_set()
        cevent_FD_ZERO(&none)
        var start = cevent_monotonic_ns()
        #expect(cevent_select(0, &none, nil, nil, 15_000_000) == 0)
        #expect(millisecondsSince(start) >= 15)
        start = cevent_monotonic_ns()
        #expect(cevent_pselect(0, &none, nil, nil, 15_000_000, nil) == 0)
        #expect(millisecondsSince(start) >= 15)
        start = cevent_monotonic_ns()
        #expect(cevent_select(0, &none, nil, nil, 1) == 0, "1 ns rounds up to 1 us, not down to a poll")
        #expect(cevent_monotonic_ns() - start >= 1_000)
    }

    @Test func pollReportsDataHangUpAndInvalid() throws {
        let pipe = try makePipe()
        var entry = pollfd(fd: pipe.read, events: cevent_POLLIN, revents: 0)
        #expect(cevent_poll(&entry, 1, 0) == 0)
        let start = cevent_monotonic_ns()
        #expect(cevent_poll(&entry, 1, 10_000_000) == 0)
        #expect(millisecondsSince(start) >= 10)
        var byte: UInt8 = 1
        #expect(cevent_write(pipe.write, &byte, 1) == 1)
        #expect(cevent_poll(&entry, 1, 1_000_000_000) == 1 && entry.revents & cevent_POLLIN != 0)
        closeAll(pipe.write)
        #expect(cevent_read(pipe.read, &byte, 1) == 1)
        #expect(cevent_poll(&entry, 1, 1_000_000_000) == 1 && entry.revents & cevent_POLLHUP != 0)
        closeAll(pipe.read)
        #expect(cevent_poll(&entry, 1, 0) == 1 && entry.revents & cevent_POLLNVAL != 0)
        #expect(cevent_POLLRDHUP == 0x2000 && cevent_POLLERR == 0x008)
    }
}

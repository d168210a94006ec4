import CEventShim
import Glibc
import Testing

@Suite("CEventShim epoll")
struct EpollShimTests {
    @Test func createIsCloseOnExecAndClosesOnce() {
        let ep = cevent_epoll_create()
        #expect(ep >= 0)
        #expect(cevent_get_cloexec(ep) == 1)
        #expect(cevent_close(ep) == 0)
        #expect(cevent_close(closedFD) == EBADF_)
    }

    @Test func userDataRoundTripsSixtyFourBits() throws {
        let ep = cevent_epoll_create()
        let pipe = try makePipe()
        let data: UInt64 = 0xDEAD_BEEF_0000_0000 | UInt64(pipe.read)
        #expect(cevent_epoll_ctl(ep, cevent_EPOLL_CTL_ADD, pipe.read, cevent_EPOLLIN, data) == 0)
        var byte: UInt8 = 7
        #expect(cevent_write(pipe.write, &byte, 1) == 1)
        var events = [epoll_event](repeating: epoll_event(), count: 4)
        #expect(cevent_epoll_wait(ep, &events, 4, 1_000) == 1)
        var flags: UInt32 = 0
        var got: UInt64 = 0
        cevent_epoll_event_get(&events, 0, &flags, &got)
        #expect(got == data)
        #expect(flags & cevent_EPOLLIN != 0)
        #expect(cevent_epoll_pwait2(ep, &events, 4, 0) == 1)
        cevent_epoll_event_get(&events, 0, &flags, &got)
        #expect(got == data)
        closeAll(pipe.read, pipe.write, ep)
    }

    @Test func ctlErrorsComeBackAsNegativeErrno() throws {
        let ep = cevent_epoll_create()
        let pipe = try makePipe()
        #expect(cevent_epoll_ctl(ep, cevent_EPOLL_CTL_ADD, pipe.read, cevent_EPOLLIN, 1) == 0)
        #expect(cevent_epoll_ctl(ep, cevent_EPOLL_CTL_ADD, pipe.read, cevent_EPOLLIN, 1) == -EEXIST)
        #expect(cevent_epoll_ctl(ep, cevent_EPOLL_CTL_MOD, pipe.write, cevent_EPOLLOUT, 1) == -ENOENT)
        #expect(cevent_epoll_ctl(ep, cevent_EPOLL_CTL_DEL, pipe.write, 0, 0) == -ENOENT)
        #expect(cevent_epoll_ctl(ep, cevent_EPOLL_CTL_MOD, pipe.read, cevent_EPOLLIN | cevent_EPOLLET, 2) == 0)
        #expect(cevent_epoll_ctl(ep, cevent_EPOLL_CTL_DEL, pipe.read, 0, 0) == 0)
        #expect(cevent_epoll_ctl(ep, cevent_EPOLL_CTL_ADD, -1, cevent_EPOLLIN, 0) == EBADF_)
        var template = Array("/tmp/cevent-shim-XXXXXX".utf8CString)
        let file = mkstemp(&template)
        unlink(template)
        #expect(cevent_epoll_ctl(ep, cevent_EPOLL_CTL_ADD, file, cevent_EPOLLIN, 0) == -EPERM)
        #expect(cevent_epoll_ctl(ep, cevent_EPOLL_CTL_ADD, closedFD, cevent_EPOLLIN, 0) == EBADF_)
        closeAll(file, pipe.read, pipe.write, ep)
        #expect(cevent_epoll_ctl(closedFD, cevent_EPOLL_CTL_ADD, 0, cevent_EPOLLIN, 0) == EBADF_)
        var events = [epoll_event](repeating: epoll_event(), count: 1)
        #expect(cevent_epoll_wait(closedFD, &events, 1, 0) == EBADF_)
        #expect(cevent_epoll_pwait2(closedFD, &events, 1, 0) == EBADF_)
    }

    @Test func pwait2TimeoutIsNeverShortAndZeroPolls() {
        let ep = cevent_epoll_create()
        var events = [epoll_event](repeating: epoll_event(), count: 1)
        var start = cevent_monotonic_ns()
        #expect(cevent_epoll_pwait2(ep, &events, 1, 0) == 0)
        #expect(millisecondsSince(start) < 100)
        start = cevent_monotonic_ns()
        // Other suites in this process send signals (the selector's EINTR
        // tests): an interrupted wait is waited again, whole, as the shim
        // leaves retries to Swift.
        var result = cevent_epoll_pwait2(ep, &events, 1, 20_000_000)
        while result == -EINTR { result = cevent_epoll_pwait2(ep, &events, 1, 20_000_000) }
        #expect(result == 0)
        #expect(millisecondsSince(start) >= 20)
        #expect([0, 1].contains(cevent_epoll_pwait2_fell_back()))
        closeAll(ep)
    }

    @Test func flagConstantsMatchTheKernel() {
        #expect(cevent_EPOLLIN == 0x001 && cevent_EPOLLOUT == 0x004)
        #expect(cevent_EPOLLERR == 0x008 && cevent_EPOLLHUP == 0x010)
        #expect(cevent_EPOLLRDHUP == 0x2000 && cevent_EPOLLPRI == 0x002)
        #expect(cevent_EPOLLET == 1 << 31 && cevent_EPOLLONESHOT == 1 << 30 && cevent_EPOLLEXCLUSIVE == 1 << 28)
    }
}

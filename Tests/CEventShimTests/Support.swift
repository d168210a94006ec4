import CEventShim
import Glibc
import Testing

/// A pipe from the shim, closed by the caller.
func makePipe(flags: Int32 = Int32(O_NONBLOCK)) throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    try #require(cevent_pipe2(&fds, flags) == 0)
    return (fds[0], fds[1])
}

/// Closes each descriptor, expecting success.
func closeAll(_ fds: Int32...) {
    for fd in fds { #expect(cevent_close(fd) == 0) }
}

/// Milliseconds since `start` (a cevent_monotonic_ns reading).
func millisecondsSince(_ start: Int64) -> Double { Double(cevent_monotonic_ns() - start) / 1e6 }

/// Waits (bounded) until `fd` is readable, with the shim's poll.
func waitReadable(_ fd: Int32, timeoutMilliseconds: Int64 = 2_000) -> Bool {
    var entry = pollfd(fd: fd, events: cevent_POLLIN, revents: 0)
    return cevent_poll(&entry, 1, timeoutMilliseconds * 1_000_000) == 1
}

let EBADF_ = -EBADF
let EINVAL_ = -EINVAL
let EAGAIN_ = -EAGAIN

/// A descriptor number no test opens (far above what the suites use): calls on
/// it report EBADF, with no race against parallel tests reusing a number they closed.
let closedFD: Int32 = 19_999

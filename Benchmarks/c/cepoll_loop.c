// Loop overhead on a hand-written epoll loop: level-triggered EPOLLIN on end
// [0] of every pair, the pair index in epoll_data, raw read/write.
//
//   cepoll-loop PAIRS ACTIVE EVENTS          (see loop.h)
#include "loop.h"

#include <sys/epoll.h>

int main(int argc, char **argv) {
    loop_bench_t b;
    loop_bench_init(&b, argc, argv);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");
    for (long i = 0; i < b.pairs; i++) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
        CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, b.fds[i][0], &ev) == 0, "epoll_ctl");
    }
    loop_bench_start(&b);
    struct epoll_event events[256];
    for (int done = 0; !done;) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            DIE("epoll_wait");
        }
        for (int k = 0; k < n && !done; k++)
            done = loop_bench_on_readable(&b, (long)events[k].data.u64);
    }
    return loop_bench_report(&b);
}

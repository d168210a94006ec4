// Loop overhead on libuv: one uv_poll_t (UV_READABLE) per pair — libuv's
// readiness watcher for descriptors it does not own — and raw read/write,
// so the loop's dispatch is what is measured, as for libev and epoll.
//
//   libuv-loop PAIRS ACTIVE EVENTS          (see loop.h)
#include "loop.h"

#include <uv.h>

static loop_bench_t b;
static uv_poll_t *polls;

static void on_readable(uv_poll_t *p, int status, int events) {
    (void)events;
    CHECK(status == 0, "uv_poll");
    if (loop_bench_on_readable(&b, (long)(p - polls))) uv_stop(p->loop);
}

int main(int argc, char **argv) {
    loop_bench_init(&b, argc, argv);
    uv_loop_t *loop = uv_default_loop();
    polls = calloc((size_t)b.pairs, sizeof *polls);
    CHECK(polls != NULL, "calloc");
    for (long i = 0; i < b.pairs; i++) {
        CHECK(uv_poll_init(loop, &polls[i], b.fds[i][0]) == 0, "uv_poll_init");
        CHECK(uv_poll_start(&polls[i], UV_READABLE, on_readable) == 0, "uv_poll_start");
    }
    uv_run(loop, UV_RUN_NOWAIT); // apply the registrations (libuv batches epoll_ctl)
    loop_bench_start(&b);
    uv_run(loop, UV_RUN_DEFAULT);
    return loop_bench_report(&b);
}

// Loop overhead on libev: one ev_io (EV_READ) per pair, raw read/write.
//
//   libev-loop PAIRS ACTIVE EVENTS          (see loop.h)
#include "loop.h"

#include <ev.h>

static loop_bench_t b;
static ev_io *watchers;

static void on_readable(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    if (loop_bench_on_readable(&b, (long)(w - watchers))) ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv) {
    loop_bench_init(&b, argc, argv);
    struct ev_loop *loop = ev_default_loop(EVBACKEND_EPOLL);
    CHECK(loop != NULL, "ev_default_loop");
    watchers = calloc((size_t)b.pairs, sizeof *watchers);
    CHECK(watchers != NULL, "calloc");
    for (long i = 0; i < b.pairs; i++) {
        ev_io_init(&watchers[i], on_readable, b.fds[i][0], EV_READ);
        ev_io_start(loop, &watchers[i]);
    }
    ev_run(loop, EVRUN_NOWAIT); // apply the registrations (libev batches epoll_ctl)
    loop_bench_start(&b);
    ev_run(loop, 0);
    return loop_bench_report(&b);
}

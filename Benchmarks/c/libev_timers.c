// Timers on libev: one ev_timer per timer (user-owned memory, as libev
// intends), started relative to the loop's cached ev_now, stopped with
// ev_timer_stop. libev keeps them in its 4-ary heap of doubles.
//
//   libev-timers N SEED          (see timers.h)
#include "timers.h"

#include <ev.h>

static timer_bench_t b;
static ev_timer *timers;

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop; (void)revents;
    timer_bench_fired(&b, (long)(w - timers));
}

int main(int argc, char **argv) {
    timer_bench_init(&b, argc, argv, 1);
    struct ev_loop *loop = ev_default_loop(EVBACKEND_EPOLL);
    CHECK(loop != NULL, "ev_default_loop");
    timers = calloc((size_t)b.n, sizeof *timers);
    CHECK(b.n == 0 || timers != NULL, "calloc");

    ev_now_update(loop); // timers count from the loop's monotonic now, read here
    b.base_ns = bench_now_ns();
    timer_bench_mark(&b);
    for (long i = 0; i < b.n; i++) {
        ev_timer_init(&timers[i], on_timer, b.deadline_us[i] * 1e-6, 0.);
        ev_timer_start(loop, &timers[i]);
    }
    timer_bench_mark(&b);
    for (long i = 1; i < b.n; i += 2) ev_timer_stop(loop, &timers[i]);
    timer_bench_mark(&b);
    ev_run(loop, 0); // returns when no watcher is active
    return timer_bench_report(&b);
}

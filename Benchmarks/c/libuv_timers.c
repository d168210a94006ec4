// Timers on libuv: one uv_timer_t per timer (user-owned memory), started
// with a whole-millisecond timeout relative to the loop's cached uv_now
// (libuv's resolution, so order is checked per millisecond: within one
// millisecond libuv fires in start order), stopped with uv_timer_stop.
//
//   libuv-timers N SEED          (see timers.h)
#include "timers.h"

#include <uv.h>

static timer_bench_t b;
static uv_timer_t *timers;

static void on_timer(uv_timer_t *t) {
    timer_bench_fired(&b, (long)(t - timers));
}

int main(int argc, char **argv) {
    timer_bench_init(&b, argc, argv, 1000);
    uv_loop_t *loop = uv_default_loop();
    timers = calloc((size_t)b.n, sizeof *timers);
    CHECK(b.n == 0 || timers != NULL, "calloc");
    // uv_timer_init registers nothing with the kernel; keep it out of the
    // timed section, like ev_timer_init's share in libev is (it is a macro
    // writing the same few fields, so it stays inside there).
    for (long i = 0; i < b.n; i++) uv_timer_init(loop, &timers[i]);

    uv_update_time(loop);
    b.base_ns = uv_now(loop) * 1000000u; // whole ms of uv_hrtime's clock (CLOCK_MONOTONIC)
    timer_bench_mark(&b);
    for (long i = 0; i < b.n; i++)
        uv_timer_start(&timers[i], on_timer, b.deadline_us[i] / 1000u, 0);
    timer_bench_mark(&b);
    for (long i = 1; i < b.n; i += 2) uv_timer_stop(&timers[i]);
    timer_bench_mark(&b);
    uv_run(loop, UV_RUN_DEFAULT); // returns when no handle is active
    return timer_bench_report(&b);
}

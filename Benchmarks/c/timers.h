// The timer workload's shared frame: deadlines, the cancel set, the firing
// check and the result line. A peer supplies schedule / cancel / run.
//
//   <peer>-timers N SEED
//
// Timer i gets a deadline of d[i] microseconds after one common base time,
// d[i] = xorshift64(SEED) % 1,000,000, so every peer does the same work.
// All N are scheduled (timed), then every odd-numbered timer is cancelled
// (timed), then the loop runs until the N/2 others have fired. Each firing
// checks that deadlines come out in non-decreasing order, compared at the
// peer's own timer resolution (`resolution_us`: 1 for ns/us clocks, 1000 for
// libuv, whose timers take whole milliseconds).
//
//   RESULT n=.. schedule_ns=.. cancel_ns=.. fired=.. order_ok=0|1 run_ms=.. late_us=.. fire_cpu_ns=.. cpu_us=.. maxrss_kb=.. mallocs=..
//
// schedule_ns and cancel_ns are per operation; run_ms is the wall time from
// the end of cancelling until the last firing; late_us is how long after its
// deadline the last firing ran (CLOCK_MONOTONIC at the callback minus base +
// deadline); fire_cpu_ns is the process CPU time from the end of cancelling
// to the last firing, per firing; cpu_us (process CPU time) and mallocs (0 unless
// BENCH_COUNT_MALLOCS is set) cover the three phases, from just before the
// first schedule to the last firing.
//
// A peer calls timer_bench_init, sets base_ns (the CLOCK_MONOTONIC time its
// deadlines count from, in ns), then calls timer_bench_mark before
// scheduling, after scheduling and after cancelling, then timer_bench_report
// when the loop has run dry.
#ifndef BENCH_TIMERS_H
#define BENCH_TIMERS_H

#include "common.h"

typedef struct {
    long n;
    uint32_t *deadline_us; // per timer
    uint32_t resolution_us;
    long fired;
    uint32_t last_fired; // deadline / resolution of the previous firing
    int order_ok;
    int cancelled_fired; // a cancelled timer fired: a failure
    int marks;
    uint64_t base_ns;    // CLOCK_MONOTONIC ns that the deadlines count from (set by the peer)
    int64_t late_ns;     // the last firing's lateness
    uint64_t t[3];       // before scheduling, after scheduling, after cancelling
    uint64_t cpu_us[3];  // process CPU at the same marks
    uint64_t mallocs0;
} timer_bench_t;

static inline void timer_bench_init(timer_bench_t *b, int argc, char **argv,
                                    uint32_t resolution_us) {
    b->n = arg_long(argc, argv, 1, "N SEED");
    uint64_t seed = (uint64_t)arg_long(argc, argv, 2, "N SEED");
    b->deadline_us = timer_deadlines_us(b->n, seed);
    b->resolution_us = resolution_us;
    b->fired = 0;
    b->last_fired = 0;
    b->order_ok = 1;
    b->cancelled_fired = 0;
    b->marks = 0;
    b->base_ns = 0;
    b->late_ns = 0;
}

static inline void timer_bench_mark(timer_bench_t *b) {
    if (b->marks == 0) b->mallocs0 = bench_mallocs();
    if (b->marks < 3) {
        b->cpu_us[b->marks] = bench_cpu_us();
        b->t[b->marks++] = bench_now_ns();
    }
}

/// Call from the callback of timer i.
static inline void timer_bench_fired(timer_bench_t *b, long i) {
    if (i & 1) b->cancelled_fired = 1;
    uint32_t d = b->deadline_us[i] / b->resolution_us;
    if (d < b->last_fired) b->order_ok = 0;
    b->last_fired = d;
    b->fired++;
    if (b->fired == b->n - b->n / 2)
        b->late_ns = (int64_t)(bench_now_ns() - b->base_ns) - (int64_t)b->deadline_us[i] * 1000;
}

/// Prints the result line; returns the process exit status.
static inline int timer_bench_report(timer_bench_t *b) {
    uint64_t t3 = bench_now_ns();
    uint64_t cpu_end = bench_cpu_us();
    uint64_t cpu_us = cpu_end - b->cpu_us[0];
    double fire_cpu_ns = (double)(cpu_end - b->cpu_us[2]) * 1e3 / (double)(b->fired ? b->fired : 1);
    uint64_t mallocs = bench_mallocs() - b->mallocs0;
    uint64_t t0 = b->t[0], t1 = b->t[1], t2 = b->t[2];
    long cancelled = b->n / 2;
    emit("RESULT n=%ld schedule_ns=%.1f cancel_ns=%.1f fired=%ld order_ok=%d run_ms=%.1f "
         "late_us=%.1f fire_cpu_ns=%.1f cpu_us=%llu maxrss_kb=%ld mallocs=%llu",
         b->n, (double)(t1 - t0) / (double)(b->n ? b->n : 1),
         (double)(t2 - t1) / (double)(cancelled ? cancelled : 1), b->fired,
         b->order_ok && !b->cancelled_fired, (double)(t3 - t2) / 1e6, (double)b->late_ns / 1e3, fire_cpu_ns,
         (unsigned long long)cpu_us, bench_maxrss_kb(), (unsigned long long)mallocs);
    if (b->fired != b->n - cancelled || !b->order_ok || b->cancelled_fired) {
        fprintf(stderr, "timers: fired %ld of %ld, order_ok %d, cancelled fired %d\n",
                b->fired, b->n - cancelled, b->order_ok, b->cancelled_fired);
        return 1;
    }
    return 0;
}

#endif

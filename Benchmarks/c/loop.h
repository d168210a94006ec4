// The loop-overhead workload's shared frame (the shape of libevent's
// test/bench.c): many descriptors, few active.
//
//   <peer>-loop PAIRS ACTIVE EVENTS
//
// PAIRS non-blocking AF_UNIX stream socketpairs; the loop watches end [0] of
// every pair for reading. ACTIVE one-byte tokens are written, spread evenly
// (pair i * PAIRS/ACTIVE). Each read event reads the byte from its pair and,
// while writes remain, writes one byte into end [1] of the next pair
// (i + 1, wrapping). The run ends when EVENTS read events have been handled.
// Time runs from the first token's write to the last read.
//
//   RESULT pairs=.. active=.. events=.. ns_per_event=.. elapsed_ms=.. cpu_us=.. mallocs=..
//
// cpu_us (process CPU) and mallocs (0 unless BENCH_COUNT_MALLOCS is set)
// cover the same interval as elapsed_ms; setting up the pairs and
// registering them with the loop is outside it.
#ifndef BENCH_LOOP_H
#define BENCH_LOOP_H

#include "common.h"

typedef struct {
    long pairs, active, events;
    int (*fds)[2];
    long fired;  // read events handled
    long writes; // bytes still to write after the initial tokens
    uint64_t t0, t_end, cpu0_us, cpu_us, mallocs0, mallocs;
} loop_bench_t;

static inline void loop_bench_init(loop_bench_t *b, int argc, char **argv) {
    const char *usage = "PAIRS ACTIVE EVENTS";
    memset(b, 0, sizeof *b);
    b->pairs = arg_long(argc, argv, 1, usage);
    b->active = arg_long(argc, argv, 2, usage);
    b->events = arg_long(argc, argv, 3, usage);
    if (b->pairs < 1 || b->active < 1 || b->active > b->pairs || b->events < b->active) {
        fprintf(stderr, "usage: %s %s (1 <= ACTIVE <= PAIRS, ACTIVE <= EVENTS)\n", argv[0], usage);
        exit(64);
    }
    raise_nofile();
    b->fds = calloc((size_t)b->pairs, sizeof *b->fds);
    CHECK(b->fds != NULL, "calloc");
    for (long i = 0; i < b->pairs; i++)
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, b->fds[i]) == 0,
              "socketpair");
}

/// Writes the ACTIVE tokens and starts the clock (call after registering).
static inline void loop_bench_start(loop_bench_t *b) {
    b->writes = b->events - b->active;
    b->cpu0_us = bench_cpu_us();
    b->mallocs0 = bench_mallocs();
    b->t0 = bench_now_ns();
    long space = b->pairs / b->active;
    for (long i = 0; i < b->active; i++)
        CHECK(write(b->fds[i * space][1], "e", 1) == 1, "write");
}

/// The body of the read callback of pair i, for peers that use raw
/// read/write. Returns 1 when the run is over (stop the loop).
static inline int loop_bench_on_readable(loop_bench_t *b, long i) {
    char c;
    ssize_t r = read(b->fds[i][0], &c, 1);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    CHECK(r == 1, "read");
    if (b->writes > 0) {
        b->writes--;
        long next = i + 1 == b->pairs ? 0 : i + 1;
        CHECK(write(b->fds[next][1], "e", 1) == 1, "write");
    }
    if (++b->fired == b->events) {
        b->t_end = bench_now_ns();
        b->cpu_us = bench_cpu_us() - b->cpu0_us;
        b->mallocs = bench_mallocs() - b->mallocs0;
        return 1;
    }
    return 0;
}

static inline int loop_bench_report(loop_bench_t *b) {
    uint64_t elapsed = b->t_end - b->t0;
    emit("RESULT pairs=%ld active=%ld events=%ld ns_per_event=%.1f elapsed_ms=%.1f cpu_us=%llu mallocs=%llu",
         b->pairs, b->active, b->fired, (double)elapsed / (double)b->fired, elapsed / 1e6,
         (unsigned long long)b->cpu_us, (unsigned long long)b->mallocs);
    return b->fired == b->events ? 0 : 1;
}

#endif

// The cross-thread submission workload's shared frame.
//
//   <peer>-xthread THREADS TOTAL [capture]
//
// THREADS producer threads (not the loop thread) each submit TOTAL/THREADS
// callbacks to the loop; each callback adds one to a counter on the loop
// thread, and the one that brings it to TOTAL stops the loop. Time runs from
// the moment the producers are released (a barrier) until that last callback.
//
//   RESULT threads=.. total=.. ran=.. ns_per_op=.. elapsed_ms=.. cpu_us=.. mallocs=..
//
// cpu_us (process CPU, all threads) and mallocs (0 unless
// BENCH_COUNT_MALLOCS is set) cover the same interval.
//
// The C peers share one submission queue, the one a careful C programmer
// writes: a mutex-protected growable array of {function, argument}; a
// producer that finds it empty wakes the loop (the peer's wake-up: eventfd,
// ev_async_send, uv_async_send); the loop swaps the array out under the lock
// and runs the batch outside it. Arrays are reused, so the steady state
// allocates nothing.
#ifndef BENCH_XTHREAD_H
#define BENCH_XTHREAD_H

#include "common.h"

#include <pthread.h>

typedef struct {
    void (*fn)(void *);
    void *arg;
} job_t;

typedef struct {
    job_t *items;
    size_t len, cap;
} jobs_t;

typedef struct {
    pthread_mutex_t lock;
    jobs_t pending; // under lock
    jobs_t running; // loop thread only
    void (*wake)(void *);
    void *wake_ctx;
} job_queue_t;

/// Any thread. Returns after the job is queued (and the loop woken if
/// the queue was empty).
static inline void job_queue_submit(job_queue_t *q, void (*fn)(void *), void *arg) {
    pthread_mutex_lock(&q->lock);
    jobs_t *p = &q->pending;
    if (p->len == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 1024;
        p->items = realloc(p->items, p->cap * sizeof *p->items);
        CHECK(p->items != NULL, "realloc");
    }
    p->items[p->len++] = (job_t){ fn, arg };
    int was_empty = p->len == 1;
    pthread_mutex_unlock(&q->lock);
    if (was_empty) q->wake(q->wake_ctx);
}

/// Loop thread: runs every job queued so far (not those they queue).
static inline void job_queue_drain(job_queue_t *q) {
    pthread_mutex_lock(&q->lock);
    jobs_t batch = q->pending;
    q->pending = q->running; // hand the spare array back, emptied
    q->pending.len = 0;
    pthread_mutex_unlock(&q->lock);
    for (size_t i = 0; i < batch.len; i++) batch.items[i].fn(batch.items[i].arg);
    batch.len = 0;
    q->running = batch;
}

typedef struct {
    long threads, total;
    int capture;  // 1: a malloc'd {reference, index} item per submission
    long ran;     // loop thread only
    long index_sum; // loop thread only: the captured indexes, summed
    void (*stop)(void *);
    void *stop_ctx;
    uint64_t t0, t_end, cpu0_us, mallocs0;
    pthread_barrier_t go;
    pthread_t *tids;
    void (*submit)(void *ctx, void (*fn)(void *), void *arg);
    void *submit_ctx;
} xthread_bench_t;

/// The submitted work: count, and stop the loop after the last one.
static inline void xthread_job(void *arg) {
    xthread_bench_t *b = arg;
    if (++b->ran == b->total) {
        b->t_end = bench_now_ns();
        b->stop(b->stop_ctx);
    }
}

/// A capturing callback's data: a reference and an index.
typedef struct {
    xthread_bench_t *bench;
    long index;
} xthread_item_t;

/// The capturing variant's work: use the item, free it, count.
static inline void xthread_item_job(void *arg) {
    xthread_item_t *item = arg;
    xthread_bench_t *b = item->bench;
    b->index_sum += item->index;
    free(item);
    xthread_job(b);
}

static void *xthread_producer(void *arg) {
    xthread_bench_t *b = arg;
    long share = b->total / b->threads;
    pthread_barrier_wait(&b->go);
    if (b->capture) {
        for (long i = 0; i < share; i++) {
            xthread_item_t *item = malloc(sizeof *item);
            CHECK(item != NULL, "malloc");
            item->bench = b;
            item->index = i;
            b->submit(b->submit_ctx, xthread_item_job, item);
        }
        return NULL;
    }
    for (long i = 0; i < share; i++) b->submit(b->submit_ctx, xthread_job, b);
    return NULL;
}

static inline void xthread_bench_init(xthread_bench_t *b, int argc, char **argv) {
    memset(b, 0, sizeof *b);
    b->threads = arg_long(argc, argv, 1, "THREADS TOTAL [capture]");
    b->total = arg_long(argc, argv, 2, "THREADS TOTAL [capture]");
    b->capture = argc > 3 && strcmp(argv[3], "capture") == 0;
    if (b->threads < 1 || b->total < b->threads || b->total % b->threads != 0
        || (argc > 3 && !b->capture) || argc > 4) {
        fprintf(stderr, "usage: %s THREADS TOTAL [capture] (TOTAL a multiple of THREADS)\n", argv[0]);
        exit(64);
    }
}

/// Starts the producers, held at a barrier; call xthread_bench_go next.
static inline void xthread_bench_spawn(xthread_bench_t *b) {
    CHECK(pthread_barrier_init(&b->go, NULL, (unsigned)b->threads + 1) == 0, "barrier");
    b->tids = calloc((size_t)b->threads, sizeof *b->tids);
    CHECK(b->tids != NULL, "calloc");
    for (long i = 0; i < b->threads; i++)
        CHECK(pthread_create(&b->tids[i], NULL, xthread_producer, b) == 0, "pthread_create");
}

/// Releases the producers and starts the clock; then run the loop.
static inline void xthread_bench_go(xthread_bench_t *b) {
    b->cpu0_us = bench_cpu_us();
    b->mallocs0 = bench_mallocs();
    b->t0 = bench_now_ns();
    pthread_barrier_wait(&b->go);
}

static inline int xthread_bench_report(xthread_bench_t *b) {
    uint64_t cpu = bench_cpu_us() - b->cpu0_us;
    uint64_t mallocs = bench_mallocs() - b->mallocs0;
    for (long i = 0; i < b->threads; i++) pthread_join(b->tids[i], NULL);
    uint64_t elapsed = b->t_end - b->t0;
    emit("RESULT threads=%ld total=%ld ran=%ld ns_per_op=%.1f elapsed_ms=%.1f cpu_us=%llu mallocs=%llu",
         b->threads, b->total, b->ran, (double)elapsed / (double)b->total, elapsed / 1e6,
         (unsigned long long)cpu, (unsigned long long)mallocs);
    long share = b->total / b->threads;
    long expected_sum = b->capture ? b->threads * (share * (share - 1) / 2) : 0;
    if (b->index_sum != expected_sum) {
        fprintf(stderr, "xthread: captured indexes sum to %ld, expected %ld\n", b->index_sum, expected_sum);
        return 1;
    }
    return b->ran == b->total ? 0 : 1;
}

#endif

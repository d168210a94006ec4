// Timers on a hand-written epoll loop: a 4-ary min-heap of deadlines
// (nanoseconds, ties broken by scheduling order) with each timer's heap
// position kept for O(log n) cancel; epoll_wait sleeps until the earliest
// deadline, rounded up to whole milliseconds. Storage for all timers is
// allocated up front, as a hand-written loop would.
//
//   cepoll-timers N SEED          (see timers.h)
#include "timers.h"

#include <sys/epoll.h>

typedef struct {
    uint64_t at;  // absolute deadline, ns
    uint32_t seq; // scheduling order, the tie-break
    int32_t pos;  // index in heap[], or -1 when not scheduled
} timer_t_;

static timer_t_ *timers;
static uint32_t *heap; // timer ids
static long heap_len;

static inline int before(uint32_t a, uint32_t b) {
    return timers[a].at < timers[b].at
        || (timers[a].at == timers[b].at && timers[a].seq < timers[b].seq);
}

static inline void place(long pos, uint32_t id) {
    heap[pos] = id;
    timers[id].pos = (int32_t)pos;
}

static void sift_up(long pos) {
    uint32_t id = heap[pos];
    while (pos > 0) {
        long parent = (pos - 1) / 4;
        if (!before(id, heap[parent])) break;
        place(pos, heap[parent]);
        pos = parent;
    }
    place(pos, id);
}

static void sift_down(long pos) {
    uint32_t id = heap[pos];
    for (;;) {
        long first = pos * 4 + 1;
        if (first >= heap_len) break;
        long best = first;
        long end = first + 4 < heap_len ? first + 4 : heap_len;
        for (long c = first + 1; c < end; c++)
            if (before(heap[c], heap[best])) best = c;
        if (!before(heap[best], id)) break;
        place(pos, heap[best]);
        pos = best;
    }
    place(pos, id);
}

static void timer_start(uint32_t id, uint64_t at, uint32_t seq) {
    timers[id].at = at;
    timers[id].seq = seq;
    heap[heap_len] = id;
    timers[id].pos = (int32_t)heap_len;
    heap_len++;
    sift_up(heap_len - 1);
}

static void timer_stop(uint32_t id) {
    long pos = timers[id].pos;
    if (pos < 0) return;
    timers[id].pos = -1;
    heap_len--;
    if (pos == heap_len) return;
    heap[pos] = heap[heap_len];
    timers[heap[pos]].pos = (int32_t)pos;
    if (pos > 0 && before(heap[pos], heap[(pos - 1) / 4])) sift_up(pos);
    else sift_down(pos);
}

int main(int argc, char **argv) {
    timer_bench_t b;
    timer_bench_init(&b, argc, argv, 1);
    timers = calloc((size_t)b.n, sizeof *timers);
    heap = calloc((size_t)b.n, sizeof *heap);
    CHECK(b.n == 0 || (timers != NULL && heap != NULL), "calloc");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");

    uint64_t base = bench_now_ns(); // the loop's cached "now"
    b.base_ns = base;
    timer_bench_mark(&b);
    for (long i = 0; i < b.n; i++)
        timer_start((uint32_t)i, base + (uint64_t)b.deadline_us[i] * 1000u, (uint32_t)i);
    timer_bench_mark(&b);
    for (long i = 1; i < b.n; i += 2) timer_stop((uint32_t)i);
    timer_bench_mark(&b);

    struct epoll_event ev[8];
    while (heap_len > 0) {
        uint64_t now = bench_now_ns();
        uint64_t at = timers[heap[0]].at;
        if (at > now) {
            uint64_t wait_ms = (at - now + 999999u) / 1000000u; // round up
            if (epoll_wait(ep, ev, 8, (int)wait_ms) < 0 && errno != EINTR) DIE("epoll_wait");
            now = bench_now_ns();
        }
        while (heap_len > 0 && timers[heap[0]].at <= now) {
            uint32_t id = heap[0];
            timer_stop(id);
            timer_bench_fired(&b, id);
        }
    }
    return timer_bench_report(&b);
}

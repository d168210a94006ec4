// See include/BenchSupport.h.
#define _GNU_SOURCE
#include "BenchSupport.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u
         + (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

long bench_maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

uint64_t bench_xorshift64(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

void bench_raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl); // best effort: a lower limit shows up as EMFILE later
    }
}

void bench_emit(const char *line, unsigned long len) {
    while (len > 0) {
        ssize_t n = write(1, line, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return; // stdout is gone; nothing useful left to do
        }
        line += n;
        len -= (unsigned long)n;
    }
}

// ---- malloc counter ------------------------------------------------------
//
// glibc exports its allocator under __libc_* names; forwarding to them avoids
// the dlsym(RTLD_NEXT) bootstrap problem (dlsym itself calls calloc).
// posix_memalign and aligned_alloc have no __libc_ twin: __libc_memalign
// serves both, which glibc's own implementations also do.

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static int counting;                 // written once, before main
static _Atomic uint64_t allocations; // relaxed: only the total matters

__attribute__((constructor)) static void bench_malloc_init(void) {
    counting = getenv("BENCH_COUNT_MALLOCS") != NULL;
}

static inline void count_one(void) {
    if (__builtin_expect(counting, 0))
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

int bench_malloc_counting(void) { return counting; }

uint64_t bench_mallocs(void) {
    return atomic_load_explicit(&allocations, memory_order_relaxed);
}

void *malloc(size_t size) {
    count_one();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    count_one();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    count_one();
    return __libc_realloc(p, size);
}

void *memalign(size_t alignment, size_t size) {
    count_one();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count_one();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    count_one();
    void *p = __libc_memalign(alignment, size);
    if (p == NULL && size != 0) return ENOMEM;
    *out = p;
    return 0;
}

// BenchSupport: the few helpers every benchmark program shares, in C so the
// C peers (Benchmarks/c) and the Swift programs (NIO, ours) use one source.
//
// - clocks: monotonic nanoseconds, process CPU time, peak RSS;
// - a fixed-seed xorshift64 generator, so every peer draws the same numbers;
// - a malloc counter. This file's .c defines malloc, calloc, realloc,
//   posix_memalign, aligned_alloc and memalign, forwarding to glibc's
//   __libc_* entry points. Linked into an executable, those definitions
//   interpose on every shared library (libc, libswiftCore, libuv, ...), so no
//   LD_PRELOAD is needed. Counting is off unless the environment variable
//   BENCH_COUNT_MALLOCS is set when the process starts (read once, by a
//   constructor), so timing runs pay one predictable branch per allocation.
#ifndef BENCH_SUPPORT_H
#define BENCH_SUPPORT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t bench_now_ns(void);

/// User + system CPU time of the whole process, in microseconds (getrusage).
uint64_t bench_cpu_us(void);

/// Peak resident set size of the process, in KiB (getrusage ru_maxrss).
long bench_maxrss_kb(void);

/// 1 when BENCH_COUNT_MALLOCS was set at start-up, else 0.
int bench_malloc_counting(void);

/// Allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc,
/// memalign) made by every thread so far; 0 when counting is off.
uint64_t bench_mallocs(void);

/// One step of Marsaglia's xorshift64; *state must not be 0.
uint64_t bench_xorshift64(uint64_t *state);

/// Raises the soft RLIMIT_NOFILE to the hard limit (best effort).
void bench_raise_nofile(void);

/// Writes all of `len` bytes to stdout with write(2) and no stdio buffering
/// (so a line is out before the process exits or is killed).
void bench_emit(const char *line, unsigned long len);

#ifdef __cplusplus
}
#endif

#endif

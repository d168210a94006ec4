// Helpers shared by the C benchmark programs (header-only, static functions).
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "BenchSupport.h"

/// Prints "prog: what: strerror(errno)" and exits 2 (the harness treats any
/// non-zero exit as a failed run).
#define DIE(what) do { \
        fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, (what), strerror(errno)); \
        exit(2); \
    } while (0)

#define CHECK(cond, what) do { if (!(cond)) DIE(what); } while (0)

/// Parses a non-negative integer argument or exits with a usage error.
static inline long arg_long(int argc, char **argv, int i, const char *usage) {
    char *end = NULL;
    if (i >= argc) { fprintf(stderr, "usage: %s %s\n", argv[0], usage); exit(64); }
    long v = strtol(argv[i], &end, 10);
    if (*argv[i] == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "usage: %s %s\n", argv[0], usage);
        exit(64);
    }
    return v;
}

/// Prints one line to stdout with write(2), unbuffered ("RESULT k=v ...").
__attribute__((format(printf, 1, 2)))
static inline void emit(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    bench_emit(line, (unsigned long)n);
}

/// Raises the soft descriptor limit to the hard one (the loop workload needs
/// 2,000+ descriptors). The echo servers leave the limit alone: the harness
/// raises it for every program it starts, as a user's service manager would.
static inline void raise_nofile(void) { bench_raise_nofile(); }

/// A non-blocking listening socket on 127.0.0.1:port (SO_REUSEADDR).
static inline int listen_loopback(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0, "socket");
    int one = 1;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind");
    CHECK(listen(fd, 1024) == 0, "listen");
    return fd;
}

static inline void set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/// The echo servers' exit line; see README "Program interface".
static inline void echo_server_report(unsigned long conns, unsigned long long bytes) {
    emit("RESULT conns_served=%lu bytes=%llu cpu_us=%llu maxrss_kb=%ld mallocs=%llu",
         conns, bytes, (unsigned long long)bench_cpu_us(), bench_maxrss_kb(),
         (unsigned long long)bench_mallocs());
}

/// Deadline of timer i, in microseconds in [0, 1 s): the same sequence in
/// every peer (xorshift64 from the seed).
static inline uint32_t *timer_deadlines_us(long n, uint64_t seed) {
    uint32_t *d = malloc((size_t)n * sizeof *d);
    CHECK(d != NULL, "malloc");
    uint64_t s = seed ? seed : 1;
    for (long i = 0; i < n; i++) d[i] = (uint32_t)(bench_xorshift64(&s) % 1000000u);
    return d;
}

#endif

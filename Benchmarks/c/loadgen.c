// The echo load generator: a single-threaded epoll client.
//
//   loadgen PORT CONNS SIZE WARMUP_MS DURATION_MS
//   loadgen --hold PORT CONNS SIZE
//   loadgen --profile PORT CONNS SIZE WARMUP_MS DURATION_MS
//
// Opens CONNS TCP connections to 127.0.0.1:PORT. Each connection sends SIZE
// bytes ('x's and a newline), waits until all SIZE bytes came back, records the round trip and
// sends again (closed loop, one message in flight per connection). Round
// trips that complete in the first WARMUP_MS are not counted; those that
// complete in the next DURATION_MS are. Then every connection is closed and
// one line is printed:
//
//   RESULT conns=.. size=.. duration_ms=.. msgs=.. msgs_per_s=.. p50_us=.. p99_us=.. max_us=..
//
// With --hold (the memory measurement), no load: one connection makes one
// round trip, "STEP warm" is printed and a line is awaited on stdin (the
// harness samples the server's RSS); then CONNS more connections are opened
// and make one round trip each (all written, then all echoes awaited),
// "STEP held conns=CONNS" is printed and a line is awaited again (the second
// sample, with CONNS idle connections held); then every connection is closed
// and "RESULT conns=CONNS size=SIZE" is printed.
//
// With --profile (for harness/callgrind_echo.py), the load runs in two
// phases, each ending quiet: no new message is sent after the phase's time
// is up, and the phase ends once every echo in flight is back, so the server
// is idle between phases. After WARMUP_MS, "MARK start" is printed and a
// line awaited on stdin (the profiler zeroes the server's counters); after
// DURATION_MS, "MARK end msgs=N" (N round trips, every one begun and ended
// in the phase) and a line awaited (the profiler dumps the counters); then
// every connection is closed and "RESULT conns=CONNS size=SIZE msgs=N".
//
// Exits 2 on any error (refused connection, early close, reset).
#include "common.h"

#include <fcntl.h>
#include <sys/epoll.h>

typedef struct {
    int fd;
    uint32_t got;        // bytes of the current echo received so far
    uint32_t unsent;     // bytes of the current message not yet written
    uint64_t sent_at_ns; // when the current message was first written
} conn_t;

static char out_buf[65536];
static char in_buf[65536];

static uint32_t *samples; // round trips completed in the measured window, ns
static size_t nsamples, capsamples;

static void record(uint64_t rtt_ns) {
    if (nsamples == capsamples) {
        capsamples = capsamples ? capsamples * 2 : (size_t)1 << 20;
        samples = realloc(samples, capsamples * sizeof *samples);
        CHECK(samples != NULL, "realloc");
    }
    samples[nsamples++] = rtt_ns > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt_ns;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int connect_loopback(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0, "socket");
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // A blocking connect is simplest; the kernel completes it from the
    // listen backlog even before the server's loop accepts.
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect");
    set_nodelay(fd);
    CHECK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0, "fcntl");
    return fd;
}

/// Writes what is left of the current message; returns 0 when it is all
/// out, 1 when the socket is full (the caller waits for EPOLLOUT).
static int flush_message(conn_t *c, uint32_t size) {
    while (c->unsent > 0) {
        ssize_t n = write(c->fd, out_buf + (size - c->unsent), c->unsent);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return 1;
            DIE("write");
        }
        c->unsent -= (uint32_t)n;
    }
    return 0;
}

/// Ping-pong on the connections [conns, conns+n): each sends a message, and
/// again whenever its echo is complete, until `until_ns` (0: one round trip
/// each); then the echoes in flight are awaited, so the server is left idle.
/// Blocking waits with no timeout: the harness bounds the run. Returns the
/// round trips completed.
static long run_phase(int ep, conn_t *conns, long n, uint32_t size, uint64_t until_ns) {
    long done = 0, busy = n;
    for (long i = 0; i < n; i++) {
        conn_t *c = &conns[i];
        c->got = 0;
        c->unsent = size;
        if (flush_message(c, size)) {
            struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
            CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0, "epoll_ctl");
        }
    }
    struct epoll_event events[512];
    while (busy > 0) {
        int k = epoll_wait(ep, events, 512, -1);
        if (k < 0) {
            if (errno == EINTR) continue;
            DIE("epoll_wait");
        }
        uint64_t now = bench_now_ns();
        for (int j = 0; j < k; j++) {
            conn_t *c = events[j].data.ptr;
            if ((events[j].events & EPOLLOUT) && flush_message(c, size) == 0) {
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0, "epoll_ctl");
            }
            if (!(events[j].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            ssize_t r = read(c->fd, in_buf, sizeof in_buf);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) {
                if (r == 0) errno = ECONNRESET;
                DIE("read (server closed the connection)");
            }
            c->got += (uint32_t)r;
            if (c->got < size) continue;
            if (c->got > size) {
                fprintf(stderr, "loadgen: echo longer than the message\n");
                exit(2);
            }
            done++;
            if (now >= until_ns) { // time is up: this connection stays quiet
                busy--;
                continue;
            }
            c->got = 0;
            c->unsent = size;
            if (flush_message(c, size)) {
                struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
                CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0, "epoll_ctl");
            }
        }
    }
    return done;
}

/// Waits for one line on stdin (the harness's go-ahead); exits 2 at end of file.
static void await_line(void) {
    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL) {
        fprintf(stderr, "loadgen: stdin closed while holding\n");
        exit(2);
    }
}

/// --hold: see the comment at the top.
static int hold(int argc, char **argv) {
    const char *usage = "--hold PORT CONNS SIZE";
    int port = (int)arg_long(argc, argv, 2, usage);
    long nconns = arg_long(argc, argv, 3, usage);
    uint32_t size = (uint32_t)arg_long(argc, argv, 4, usage);
    if (nconns < 1 || size < 1 || size > sizeof out_buf) {
        fprintf(stderr, "usage: %s %s\n", argv[0], usage);
        return 64;
    }
    memset(out_buf, 'x', sizeof out_buf);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");
    conn_t *conns = calloc((size_t)nconns + 1, sizeof *conns);
    CHECK(conns != NULL, "calloc");
    for (long i = 0; i <= nconns; i++) {
        if (i == 1) { // the warm-up connection has made its round trip
            emit("STEP warm");
            await_line();
        }
        conns[i].fd = connect_loopback(port);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };
        CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) == 0, "epoll_ctl");
        if (i == 0) run_phase(ep, conns, 1, size, 0);
    }
    run_phase(ep, conns + 1, nconns, size, 0);
    emit("STEP held conns=%ld", nconns);
    await_line();
    for (long i = 0; i <= nconns; i++) close(conns[i].fd);
    close(ep);
    emit("RESULT conns=%ld size=%u", nconns, size);
    return 0;
}

/// The message: SIZE bytes of 'x', the last a newline (so a server may read
/// it by line as well as by count).
static void fill_message(uint32_t size) {
    memset(out_buf, 'x', sizeof out_buf);
    out_buf[size - 1] = '\n';
}

/// The arguments of a ping-pong run, argv[first...]: PORT CONNS SIZE
/// WARMUP_MS DURATION_MS. False (after printing the usage) when out of range.
typedef struct {
    int port;
    long nconns;
    uint32_t size;
    long warmup_ms, duration_ms;
} load_args;

static int parse_load_args(int argc, char **argv, int first, const char *usage, load_args *a) {
    a->port = (int)arg_long(argc, argv, first, usage);
    a->nconns = arg_long(argc, argv, first + 1, usage);
    a->size = (uint32_t)arg_long(argc, argv, first + 2, usage);
    a->warmup_ms = arg_long(argc, argv, first + 3, usage);
    a->duration_ms = arg_long(argc, argv, first + 4, usage);
    if (a->nconns < 1 || a->size < 1 || a->size > sizeof out_buf || a->duration_ms < 1) {
        fprintf(stderr, "usage: %s %s\n", argv[0], usage);
        return 0;
    }
    return 1;
}

/// `n` connections to `port`, each watched for input by the epoll set `ep`.
static conn_t *connect_all(int ep, int port, long n) {
    conn_t *conns = calloc((size_t)n, sizeof *conns);
    CHECK(conns != NULL, "calloc");
    for (long i = 0; i < n; i++) {
        conns[i].fd = connect_loopback(port);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };
        CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) == 0, "epoll_ctl");
    }
    return conns;
}

/// --profile: see the comment at the top.
static int profile(int argc, char **argv) {
    load_args a;
    if (!parse_load_args(argc, argv, 2, "--profile PORT CONNS SIZE WARMUP_MS DURATION_MS", &a)) return 64;
    long nconns = a.nconns, warmup_ms = a.warmup_ms, duration_ms = a.duration_ms;
    uint32_t size = a.size;
    fill_message(size);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");
    conn_t *conns = connect_all(ep, a.port, nconns);
    run_phase(ep, conns, nconns, size, bench_now_ns() + (uint64_t)warmup_ms * 1000000u);
    emit("MARK start");
    await_line();
    long msgs = run_phase(ep, conns, nconns, size, bench_now_ns() + (uint64_t)duration_ms * 1000000u);
    emit("MARK end msgs=%ld", msgs);
    await_line();
    for (long i = 0; i < nconns; i++) close(conns[i].fd);
    close(ep);
    emit("RESULT conns=%ld size=%u msgs=%ld", nconns, size, msgs);
    return 0;
}

int main(int argc, char **argv) {
    raise_nofile(); // the harness raises it too; a loadgen run by hand needs it as well
    if (argc > 1 && strcmp(argv[1], "--hold") == 0) return hold(argc, argv);
    if (argc > 1 && strcmp(argv[1], "--profile") == 0) return profile(argc, argv);
    load_args a;
    if (!parse_load_args(argc, argv, 1, "PORT CONNS SIZE WARMUP_MS DURATION_MS", &a)) return 64;
    long nconns = a.nconns, warmup_ms = a.warmup_ms, duration_ms = a.duration_ms;
    uint32_t size = a.size;
    fill_message(size);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");
    conn_t *conns = connect_all(ep, a.port, nconns);

    uint64_t start = bench_now_ns();
    uint64_t measure_from = start + (uint64_t)warmup_ms * 1000000u;
    uint64_t measure_to = measure_from + (uint64_t)duration_ms * 1000000u;
    for (long i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        c->unsent = size;
        c->sent_at_ns = bench_now_ns();
        if (flush_message(c, size)) {
            struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
            CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0, "epoll_ctl");
        }
    }

    struct epoll_event events[512];
    uint64_t now = start;
    while (now < measure_to) {
        int timeout_ms = (int)((measure_to - now) / 1000000u) + 1;
        int n = epoll_wait(ep, events, 512, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) { now = bench_now_ns(); continue; }
            DIE("epoll_wait");
        }
        for (int k = 0; k < n; k++) {
            conn_t *c = events[k].data.ptr;
            if (events[k].events & EPOLLOUT) {
                if (flush_message(c, size) == 0) {
                    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                    CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0, "epoll_ctl");
                }
            }
            if (!(events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            ssize_t r = read(c->fd, in_buf, sizeof in_buf);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) {
                if (r == 0) errno = ECONNRESET;
                DIE("read (server closed the connection)");
            }
            c->got += (uint32_t)r;
            if (c->got < size) continue;
            if (c->got > size) {
                fprintf(stderr, "loadgen: echo longer than the message\n");
                return 2;
            }
            uint64_t t = bench_now_ns();
            if (t >= measure_from && t < measure_to) record(t - c->sent_at_ns);
            c->got = 0;
            c->unsent = size;
            c->sent_at_ns = t;
            if (flush_message(c, size)) {
                struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
                CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0, "epoll_ctl");
            }
        }
        now = bench_now_ns();
    }
    for (long i = 0; i < nconns; i++) close(conns[i].fd);
    close(ep);

    double p50 = 0, p99 = 0, max = 0;
    if (nsamples > 0) {
        qsort(samples, nsamples, sizeof *samples, cmp_u32);
        p50 = samples[(nsamples - 1) / 2] / 1000.0;
        p99 = samples[(size_t)((nsamples - 1) * 0.99)] / 1000.0;
        max = samples[nsamples - 1] / 1000.0;
    }
    emit("RESULT conns=%ld size=%u duration_ms=%ld msgs=%zu msgs_per_s=%.0f "
         "p50_us=%.1f p99_us=%.1f max_us=%.1f",
         nconns, size, duration_ms, nsamples, nsamples * 1000.0 / (double)duration_ms,
         p50, p99, max);
    return 0;
}

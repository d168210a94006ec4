// Cross-thread submission into a hand-written epoll loop: the shared job
// queue (xthread.h) woken through an eventfd registered with epoll.
//
//   cepoll-xthread THREADS TOTAL          (see xthread.h)
#include "xthread.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

static int efd;
static int running = 1; // loop thread only

static void wake(void *ctx) {
    (void)ctx;
    uint64_t one = 1;
    while (write(efd, &one, sizeof one) < 0 && errno == EINTR) {}
}

static void stop(void *ctx) { (void)ctx; running = 0; }

static void submit(void *ctx, void (*fn)(void *), void *arg) {
    job_queue_submit(ctx, fn, arg);
}

int main(int argc, char **argv) {
    static xthread_bench_t b;
    static job_queue_t q = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = wake };
    xthread_bench_init(&b, argc, argv);
    b.stop = stop;
    b.submit = submit;
    b.submit_ctx = &q;

    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK(efd >= 0, "eventfd");
    struct epoll_event ev = { .events = EPOLLIN };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0, "epoll_ctl");

    xthread_bench_spawn(&b);
    xthread_bench_go(&b);
    struct epoll_event events[8];
    while (running) {
        int n = epoll_wait(ep, events, 8, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            DIE("epoll_wait");
        }
        uint64_t count;
        if (read(efd, &count, sizeof count) < 0 && errno != EAGAIN) DIE("read eventfd");
        job_queue_drain(&q);
    }
    return xthread_bench_report(&b);
}

// Cross-thread submission into libev: the shared job queue (xthread.h)
// woken with ev_async_send, the thread-safe wake-up libev provides.
//
//   libev-xthread THREADS TOTAL          (see xthread.h)
#include "xthread.h"

#include <ev.h>

static struct ev_loop *loop;
static ev_async async;
static job_queue_t q = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void wake(void *ctx) { (void)ctx; ev_async_send(loop, &async); }

static void stop(void *ctx) { (void)ctx; ev_break(loop, EVBREAK_ALL); }

static void submit(void *ctx, void (*fn)(void *), void *arg) {
    job_queue_submit(ctx, fn, arg);
}

static void on_async(struct ev_loop *l, ev_async *w, int revents) {
    (void)l; (void)w; (void)revents;
    job_queue_drain(&q);
}

int main(int argc, char **argv) {
    static xthread_bench_t b;
    xthread_bench_init(&b, argc, argv);
    b.stop = stop;
    b.submit = submit;
    b.submit_ctx = &q;
    q.wake = wake;

    loop = ev_default_loop(EVBACKEND_EPOLL);
    CHECK(loop != NULL, "ev_default_loop");
    ev_async_init(&async, on_async);
    ev_async_start(loop, &async);

    xthread_bench_spawn(&b);
    xthread_bench_go(&b);
    ev_run(loop, 0);
    return xthread_bench_report(&b);
}

// Cross-thread submission into libuv: the shared job queue (xthread.h)
// woken with uv_async_send, libuv's only thread-safe call.
//
//   libuv-xthread THREADS TOTAL          (see xthread.h)
#include "xthread.h"

#include <uv.h>

static uv_loop_t *loop;
static uv_async_t async;
static job_queue_t q = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void wake(void *ctx) { (void)ctx; uv_async_send(&async); }

static void stop(void *ctx) {
    (void)ctx;
    uv_close((uv_handle_t *)&async, NULL); // the last active handle: uv_run returns
}

static void submit(void *ctx, void (*fn)(void *), void *arg) {
    job_queue_submit(ctx, fn, arg);
}

static void on_async(uv_async_t *a) {
    (void)a;
    job_queue_drain(&q);
}

int main(int argc, char **argv) {
    static xthread_bench_t b;
    xthread_bench_init(&b, argc, argv);
    b.stop = stop;
    b.submit = submit;
    b.submit_ctx = &q;
    q.wake = wake;

    loop = uv_default_loop();
    CHECK(uv_async_init(loop, &async, on_async) == 0, "uv_async_init");

    xthread_bench_spawn(&b);
    xthread_bench_go(&b);
    uv_run(loop, UV_RUN_DEFAULT);
    return xthread_bench_report(&b);
}

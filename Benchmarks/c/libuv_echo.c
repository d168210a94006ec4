// TCP echo server on libuv, written the way libuv users write it: uv_tcp_t
// streams, uv_read_start with a reused buffer, uv_try_write first and a
// queued uv_write (with a copy) only when the socket is full.
//
//   libuv-echo PORT
//
// Interface: README "Program interface".
#include "common.h"

#include <uv.h>

typedef struct {
    uv_tcp_t tcp; // first member: the handle pointer is the connection
} conn_t;

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} write_req_t;

static char buf[65536];
static unsigned long open_conns, served;
static unsigned long long echoed;

static void on_closed(uv_handle_t *h) {
    free(h);
    if (--open_conns == 0) {
        echo_server_report(served, echoed);
        exit(0);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
    (void)h; (void)suggested;
    *out = uv_buf_init(buf, sizeof buf); // one loop thread: one shared buffer
}

static void on_written(uv_write_t *req, int status) {
    write_req_t *w = (write_req_t *)req;
    if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle))
        uv_close((uv_handle_t *)req->handle, on_closed);
    free(w->buf.base);
    free(w);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    if (nread == 0) return; // EAGAIN, per libuv's docs
    if (nread < 0) {
        if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    echoed += (unsigned long long)nread;
    uv_buf_t out = uv_buf_init(b->base, (unsigned)nread);
    int n = uv_try_write(s, &out, 1);
    if (n == nread) return;
    if (n < 0 && n != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    write_req_t *w = malloc(sizeof *w);
    CHECK(w != NULL, "malloc");
    w->buf = uv_buf_init(malloc((size_t)nread - done), (unsigned)((size_t)nread - done));
    CHECK(w->buf.base != NULL, "malloc");
    memcpy(w->buf.base, b->base + done, w->buf.len);
    if (uv_write(&w->req, s, &w->buf, 1, on_written) != 0) {
        free(w->buf.base);
        free(w);
        uv_close((uv_handle_t *)s, on_closed);
    }
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) return;
    conn_t *c = calloc(1, sizeof *c);
    CHECK(c != NULL, "calloc");
    uv_tcp_init(server->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    open_conns++;
    served++;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int main(int argc, char **argv) {
    int port = (int)arg_long(argc, argv, 1, "PORT");
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&server, 1024, on_connection);
    if (rc != 0) {
        fprintf(stderr, "libuv-echo: listen on %d: %s\n", port, uv_strerror(rc));
        return 2;
    }
    emit("READY port=%d", port);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}

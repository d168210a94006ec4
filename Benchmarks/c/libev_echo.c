// TCP echo server on libev (ev_io watchers, raw read/write), one loop.
//
//   libev-echo PORT
//
// Interface: README "Program interface".
#include "common.h"

#include <ev.h>

typedef struct {
    ev_io io;      // first member: the watcher pointer is the connection
    char *pending; // unsent echo bytes after a short write
    size_t pending_len;
} conn_t;

static char buf[65536];
static unsigned long open_conns, served;
static unsigned long long echoed;

static void close_conn(struct ev_loop *loop, conn_t *c) {
    ev_io_stop(loop, &c->io);
    close(c->io.fd);
    free(c->pending);
    free(c);
    if (--open_conns == 0) {
        echo_server_report(served, echoed);
        exit(0);
    }
}

static int send_or_keep(struct ev_loop *loop, conn_t *c, const char *data, size_t len) {
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(c->io.fd, data + off, len - off);
        if (n >= 0) { off += (size_t)n; continue; }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return -1;
        size_t rest = len - off;
        c->pending = malloc(rest);
        CHECK(c->pending != NULL, "malloc");
        memcpy(c->pending, data + off, rest);
        c->pending_len = rest;
        ev_io_stop(loop, &c->io);
        ev_io_set(&c->io, c->io.fd, EV_WRITE);
        ev_io_start(loop, &c->io);
        return 0;
    }
    return 0;
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents) {
    conn_t *c = (conn_t *)w;
    if (revents & EV_WRITE) {
        char *p = c->pending;
        size_t len = c->pending_len;
        c->pending = NULL;
        ev_io_stop(loop, &c->io);
        ev_io_set(&c->io, c->io.fd, EV_READ);
        ev_io_start(loop, &c->io);
        int r = send_or_keep(loop, c, p, len);
        free(p);
        if (r < 0) close_conn(loop, c);
        return;
    }
    ssize_t r = read(w->fd, buf, sizeof buf);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (r <= 0) { close_conn(loop, c); return; }
    echoed += (unsigned long long)r;
    if (send_or_keep(loop, c, buf, (size_t)r) < 0) close_conn(loop, c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            if (errno == ECONNABORTED) continue;
            DIE("accept4");
        }
        set_nodelay(fd);
        conn_t *c = calloc(1, sizeof *c);
        CHECK(c != NULL, "calloc");
        ev_io_init(&c->io, conn_cb, fd, EV_READ);
        ev_io_start(loop, &c->io);
        open_conns++;
        served++;
    }
}

int main(int argc, char **argv) {
    int port = (int)arg_long(argc, argv, 1, "PORT");
    struct ev_loop *loop = ev_default_loop(EVBACKEND_EPOLL);
    CHECK(loop != NULL, "ev_default_loop(EVBACKEND_EPOLL)");
    ev_io listener;
    ev_io_init(&listener, accept_cb, listen_loopback(port), EV_READ);
    ev_io_start(loop, &listener);
    emit("READY port=%d", port);
    ev_run(loop, 0);
    return 0;
}

// TCP echo server, hand-written single-threaded epoll loop (the ceiling).
//
//   cepoll-echo PORT
//
// Level-triggered; one read per readiness event into a shared buffer,
// written straight back. A partial write keeps the rest in a per-connection
// buffer and waits for EPOLLOUT (never happens with 64-byte ping-pong, but
// the server stays correct). Interface: README "Program interface".
#include "common.h"

#include <sys/epoll.h>

typedef struct {
    int fd;
    char *pending; // unsent echo bytes (malloc'd only after a short write)
    size_t pending_len;
} conn_t;

static char buf[65536];
static unsigned long open_conns, served;
static unsigned long long echoed;

static void close_conn(int ep, conn_t *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pending);
    free(c);
    if (--open_conns == 0) {
        echo_server_report(served, echoed);
        exit(0);
    }
}

/// Writes [data, data+len); keeps what the socket refused. Returns -1 when
/// the peer is gone.
static int send_or_keep(int ep, conn_t *c, const char *data, size_t len) {
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(c->fd, data + off, len - off);
        if (n >= 0) { off += (size_t)n; continue; }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return -1;
        size_t rest = len - off;
        char *p = malloc(rest);
        CHECK(p != NULL, "malloc");
        memcpy(p, data + off, rest);
        c->pending = p;
        c->pending_len = rest;
        struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
        CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0, "epoll_ctl");
        return 0;
    }
    return 0;
}

int main(int argc, char **argv) {
    int port = (int)arg_long(argc, argv, 1, "PORT");
    int lfd = listen_loopback(port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) == 0, "epoll_ctl");
    emit("READY port=%d", port);

    struct epoll_event events[512];
    for (;;) {
        int n = epoll_wait(ep, events, 512, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            DIE("epoll_wait");
        }
        for (int k = 0; k < n; k++) {
            conn_t *c = events[k].data.ptr;
            if (c == NULL) { // the listener: accept everything queued
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) {
                        if (errno == EAGAIN || errno == EINTR) break;
                        if (errno == ECONNABORTED) continue;
                        DIE("accept4");
                    }
                    set_nodelay(fd);
                    conn_t *nc = calloc(1, sizeof *nc);
                    CHECK(nc != NULL, "calloc");
                    nc->fd = fd;
                    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = nc };
                    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl");
                    open_conns++;
                    served++;
                }
                continue;
            }
            if (c->pending != NULL) { // waiting for EPOLLOUT
                char *p = c->pending;
                size_t len = c->pending_len;
                c->pending = NULL;
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0, "epoll_ctl");
                int r = send_or_keep(ep, c, p, len);
                free(p);
                if (r < 0) close_conn(ep, c);
                continue;
            }
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) { close_conn(ep, c); continue; }
            echoed += (unsigned long long)r;
            if (send_or_keep(ep, c, buf, (size_t)r) < 0) close_conn(ep, c);
        }
    }
}

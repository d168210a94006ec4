// io_uring without liburing: ring setup, the mmaps, and the ring heads'
// barriers. Each function does one thing; the decisions are Swift's.
#define _GNU_SOURCE
#include "CEventShim.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(struct io_uring_sqe) == 64, "64-byte submissions (no IORING_SETUP_SQE128)");
_Static_assert(sizeof(struct io_uring_cqe) == 16, "16-byte completions (no IORING_SETUP_CQE32)");
_Static_assert(IORING_FEAT_NODROP == (1U << 1) && IORING_FEAT_EXT_ARG == (1U << 8), "the header's feature bits");
_Static_assert(IORING_CQE_F_MORE == (1U << 1) && IORING_CQE_F_BUFFER == 1U, "the header's completion flag bits");
_Static_assert(sizeof(struct io_uring_buf) == 16, "16-byte provided-buffer entries");

static void *field(void *base, uint32_t offset) { return (char *)base + offset; }

int cevent_uring_setup(uint32_t entries, uint32_t cq_entries, struct cevent_uring *ring) {
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
    params.cq_entries = cq_entries;
    long fd = syscall(SYS_io_uring_setup, entries, &params);
    if (fd < 0 && errno == EINVAL) { // a kernel before 5.19: no cooperative task running
        memset(&params, 0, sizeof params);
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = cq_entries;
        fd = syscall(SYS_io_uring_setup, entries, &params);
    }
    if (fd < 0) return -errno;

    memset(ring, 0, sizeof *ring);
    ring->fd = (int)fd;
    ring->features = params.features;
    ring->sq_map_size = params.sq_off.array + params.sq_entries * sizeof(uint32_t);
    ring->cq_map_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
    ring->sqes_size = params.sq_entries * sizeof(struct io_uring_sqe);
    int single = (params.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single && ring->cq_map_size > ring->sq_map_size) ring->sq_map_size = ring->cq_map_size;

    int failure = 0;
    void *sq = mmap(NULL, ring->sq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)fd, IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED) { failure = errno; goto close_fd; }
    void *cq = sq;
    if (!single) {
        cq = mmap(NULL, ring->cq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)fd, IORING_OFF_CQ_RING);
        if (cq == MAP_FAILED) { failure = errno; goto unmap_sq; }
    }
    void *sqes = mmap(NULL, ring->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) { failure = errno; goto unmap_cq; }

    ring->sq_map = sq;
    ring->cq_map = single ? NULL : cq;
    ring->sqes = sqes;
    ring->sq_entries = params.sq_entries;
    ring->cq_entries = params.cq_entries;
    ring->sq_head = field(sq, params.sq_off.head);
    ring->sq_tail = field(sq, params.sq_off.tail);
    ring->sq_flags = field(sq, params.sq_off.flags);
    ring->sq_array = field(sq, params.sq_off.array);
    ring->sq_mask = *(uint32_t *)field(sq, params.sq_off.ring_mask);
    ring->cq_head = field(cq, params.cq_off.head);
    ring->cq_tail = field(cq, params.cq_off.tail);
    ring->cq_mask = *(uint32_t *)field(cq, params.cq_off.ring_mask);
    ring->cqes = field(cq, params.cq_off.cqes);
    ring->sq_local_tail = *ring->sq_tail;
    // The submission array maps slot i to entry i once and for all.
    for (uint32_t i = 0; i < params.sq_entries; i++) ring->sq_array[i] = i;
    return (int)fd;

unmap_cq:
    if (!single) munmap(cq, ring->cq_map_size);
unmap_sq:
    munmap(sq, ring->sq_map_size);
close_fd:
    close((int)fd);
    memset(ring, 0, sizeof *ring);
    ring->fd = -1;
    return -failure;
}

void cevent_uring_unmap(struct cevent_uring *ring) {
    if (ring->buf_ring) munmap(ring->buf_ring, ring->buf_entries * sizeof(struct io_uring_buf));
    if (ring->buf_base) munmap(ring->buf_base, (size_t)ring->buf_entries * ring->buf_size);
    ring->buf_ring = NULL;
    ring->buf_base = NULL;
    if (ring->sqes) munmap(ring->sqes, ring->sqes_size);
    if (ring->cq_map) munmap(ring->cq_map, ring->cq_map_size);
    if (ring->sq_map) munmap(ring->sq_map, ring->sq_map_size);
    ring->sqes = ring->cq_map = ring->sq_map = NULL;
}

/// The next free submission, zeroed, or NULL when all are filled and unconsumed.
static struct io_uring_sqe *next_submission(struct cevent_uring *ring) {
    uint32_t head = __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
    if (ring->sq_local_tail - head >= ring->sq_entries) return NULL;
    struct io_uring_sqe *sqe = (struct io_uring_sqe *)ring->sqes + (ring->sq_local_tail & ring->sq_mask);
    ring->sq_local_tail++;
    memset(sqe, 0, sizeof *sqe);
    return sqe;
}

int cevent_uring_prep_poll_add(struct cevent_uring *ring, int fd, uint32_t events, int multishot, uint64_t user_data) {
    struct io_uring_sqe *sqe = next_submission(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = fd;
    sqe->poll32_events = events; // little-endian hosts only, as every Linux Swift targets
    sqe->len = multishot ? IORING_POLL_ADD_MULTI : 0;
    sqe->user_data = user_data;
    return 0;
}

int cevent_uring_cancel(int fd, uint64_t user_data, int every) {
    struct io_uring_sync_cancel_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.addr = user_data;
    reg.fd = -1;
    reg.flags = every ? IORING_ASYNC_CANCEL_ANY : IORING_ASYNC_CANCEL_ALL;
    reg.timeout.tv_sec = -1; // no limit
    reg.timeout.tv_nsec = -1;
    long r = syscall(SYS_io_uring_register, fd, IORING_REGISTER_SYNC_CANCEL, &reg, 1);
    return r < 0 ? -errno : (int)r;
}

int cevent_uring_setup_buffers(struct cevent_uring *ring, uint32_t entries, uint32_t size) {
    if (entries == 0 || entries > 32768 || (entries & (entries - 1)) != 0 || size == 0) return -EINVAL;
    size_t ring_bytes = entries * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED) return -errno;
    unsigned char *base = mmap(NULL, (size_t)entries * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        int failure = errno;
        munmap(br, ring_bytes);
        return -failure;
    }
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)br;
    reg.ring_entries = entries;
    reg.bgid = 0;
    if (syscall(SYS_io_uring_register, ring->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        int failure = errno;
        munmap(base, (size_t)entries * size);
        munmap(br, ring_bytes);
        return -failure;
    }
    ring->buf_ring = br;
    ring->buf_base = base;
    ring->buf_entries = entries;
    ring->buf_size = size;
    ring->buf_tail = 0;
    struct io_uring_buf_ring *r = br;
    for (uint32_t id = 0; id < entries; id++) {
        struct io_uring_buf *buf = &r->bufs[id];
        buf->addr = (uint64_t)(uintptr_t)(base + (size_t)id * size);
        buf->len = size;
        buf->bid = (uint16_t)id;
    }
    ring->buf_tail = (uint16_t)entries;
    __atomic_store_n(&r->tail, ring->buf_tail, __ATOMIC_RELEASE);
    return 0;
}

const void *cevent_uring_buffer(const struct cevent_uring *ring, uint16_t id) {
    return ring->buf_base + (size_t)id * ring->buf_size;
}

void cevent_uring_recycle_buffer(struct cevent_uring *ring, uint16_t id) {
    struct io_uring_buf_ring *r = ring->buf_ring;
    struct io_uring_buf *buf = &r->bufs[ring->buf_tail & (ring->buf_entries - 1)];
    buf->addr = (uint64_t)(uintptr_t)(ring->buf_base + (size_t)id * ring->buf_size);
    buf->len = ring->buf_size;
    buf->bid = id;
    ring->buf_tail++;
    __atomic_store_n(&r->tail, ring->buf_tail, __ATOMIC_RELEASE);
}

int cevent_uring_prep_recv(struct cevent_uring *ring, int fd, uint64_t user_data, int multishot) {
    struct io_uring_sqe *sqe = next_submission(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = fd;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    sqe->ioprio = multishot ? IORING_RECV_MULTISHOT : 0;
    sqe->user_data = user_data;
    return 0;
}

int cevent_uring_prep_send(struct cevent_uring *ring, int fd, const void *bytes, uint32_t count, uint64_t user_data) {
    struct io_uring_sqe *sqe = next_submission(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_SEND;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)bytes;
    sqe->len = count;
    sqe->msg_flags = MSG_NOSIGNAL; // a peer gone is -EPIPE in the completion, never SIGPIPE
    sqe->user_data = user_data;
    return 0;
}

int cevent_uring_prep_accept(struct cevent_uring *ring, int fd, uint64_t user_data, int multishot) {
    struct io_uring_sqe *sqe = next_submission(ring);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_ACCEPT;
    sqe->fd = fd;
    sqe->accept_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    sqe->ioprio = multishot ? IORING_ACCEPT_MULTISHOT : 0;
    sqe->user_data = user_data;
    return 0;
}

uint32_t cevent_uring_publish(struct cevent_uring *ring) {
    __atomic_store_n(ring->sq_tail, ring->sq_local_tail, __ATOMIC_RELEASE);
    return ring->sq_local_tail - __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
}

int cevent_uring_enter(int fd, uint32_t to_submit, uint32_t min_complete, int64_t timeout_ns) {
    struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 0 };
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
    }
    // Zeroed whole: the field after sigmask_sz is `pad` in older headers and
    // `min_wait_usec` in newer ones; 0 means the same to every kernel.
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof arg);
    arg.sigmask_sz = _NSIG / 8;
    arg.ts = (min_complete > 0 && timeout_ns >= 0) ? (uint64_t)(uintptr_t)&ts : 0;
    long r = syscall(SYS_io_uring_enter, fd, to_submit, min_complete,
                     IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
    return r < 0 ? -errno : (int)r;
}

uint32_t cevent_uring_ready(const struct cevent_uring *ring) {
    return __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE) - *ring->cq_head;
}

void cevent_uring_completion(const struct cevent_uring *ring, uint32_t index,
                             uint64_t *user_data, int32_t *result, uint32_t *flags) {
    const struct io_uring_cqe *cqe = (const struct io_uring_cqe *)ring->cqes + ((*ring->cq_head + index) & ring->cq_mask);
    *user_data = cqe->user_data;
    *result = cqe->res;
    *flags = cqe->flags;
}

void cevent_uring_advance(struct cevent_uring *ring, uint32_t count) {
    __atomic_store_n(ring->cq_head, *ring->cq_head + count, __ATOMIC_RELEASE);
}

int cevent_uring_overflowed(const struct cevent_uring *ring) {
    return (__atomic_load_n(ring->sq_flags, __ATOMIC_RELAXED) & IORING_SQ_CQ_OVERFLOW) != 0;
}

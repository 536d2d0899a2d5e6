/*
 * conn.c - listening sockets and connections: frame reading, ordered
 * response writing with writev(2) for memory and sendfile(2) for log bytes.
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/rlog.h"

#define STAGE_BYTES (64 * 1024)   /* one read(2) brings in many small requests */
#define READS_PER_EVENT 16        /* cap per readiness event, so one client cannot starve others */
#define ACCEPTS_PER_EVENT 64
#define IOV_MAX_PIECES 64

struct rn_listener_io {
    rn_io io;
    rn_loop *loop;
    const rn_conn_ops *ops;
    const rn_conn_limits *limits;
};

static atomic_int open_conns;
static atomic_ullong conn_seq;
/* Per network thread: its connections, those closed this round, and
 * those with answers held back (rn_conn_hold_sends). */
static _Thread_local rn_conn *closed_list;
static _Thread_local rn_conn *held_list;
static _Thread_local int hold_depth;
static _Thread_local rn_conn **live;
static _Thread_local int nlive, live_cap;

int rn_conn_count(void) { return atomic_load(&open_conns); }

static void live_add(rn_conn *c)
{
    if (nlive == live_cap) {
        int cap = live_cap ? live_cap * 2 : 64;
        rn_conn **n = realloc(live, (size_t)cap * sizeof *n);
        if (!n)
            abort();
        live = n;
        live_cap = cap;
    }
    live[nlive++] = c;
}

static void live_remove(rn_conn *c)
{
    for (int i = 0; i < nlive; i++)
        if (live[i] == c) {
            live[i] = live[--nlive];
            return;
        }
}

int rn_listen_open(const char *host, int *port_inout)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", *port_inout);
    int rc = getaddrinfo(host && *host ? host : NULL, port, &hints, &res);
    if (rc != 0)
        return -EADDRNOTAVAIL;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto free_res;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        rc = -errno;
        goto close_fd;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *port_inout = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                      : ((struct sockaddr_in *)&ss)->sin_port);
    freeaddrinfo(res);
    return fd;
close_fd:
    close(fd);
free_res:
    freeaddrinfo(res);
    return rc;
}

/* ---- writing ---- */

static void update_interest(rn_conn *c);

static void pop_head(rn_conn *c, int sent)
{
    rn_resp *r = c->head;
    c->head = r->next;
    if (!c->head)
        c->tail = NULL;
    c->npending--;
    if (r->ready)
        c->queued_bytes -= r->w.total;
    r->release(r, sent);
}

/* Accounts n bytes written from the head on: advances pieces and releases
 * the responses that are now fully sent (and silent ones met on the way). */
static void consume_written(rn_conn *c, size_t n)
{
    while (c->head && c->head->ready) {
        rn_resp *r = c->head;
        if (r->silent || r->piece >= r->w.npieces) {
            pop_head(c, 1);
            continue;
        }
        rn_piece *q = &r->w.pieces[r->piece];
        size_t left = (size_t)(q->len - r->piece_done);
        if (n < left) {
            r->piece_done += (int64_t)n;
            return;
        }
        n -= left; /* an empty piece is passed over even when n is 0 */
        r->piece++;
        r->piece_done = 0;
    }
}

/* Sends ready responses from the head until the socket would block.
 * Memory pieces of consecutive ready responses go out together in one
 * writev (a burst of small answers costs one syscall, not one each); file
 * pieces go with sendfile. Returns 0, or -1 when the connection failed (and
 * was closed). */
static int send_ready(rn_conn *c)
{
    for (;;) {
        consume_written(c, 0); /* drop silent and finished heads */
        rn_resp *r = c->head;
        if (!r || !r->ready)
            return 0;
        rn_piece *p = &r->w.pieces[r->piece];
        if (p->kind == RN_PIECE_FILE) {
            off_t pos = (off_t)(p->pos + r->piece_done);
            size_t want = (size_t)(p->len - r->piece_done);
            ssize_t n = sendfile(c->io.fd, p->file->fd, &pos, want);
            if (n < 0) {
                if (errno == EAGAIN)
                    return 0;
                rn_conn_close(c, "sendfile failed");
                return -1;
            }
            if (n == 0) { /* the file is shorter than promised: never send a short frame */
                rn_conn_close(c, "log file shorter than expected");
                return -1;
            }
            consume_written(c, (size_t)n);
            if ((size_t)n < want)
                return 0; /* the socket is full */
            continue;
        }
        /* Gather memory pieces from here on, across ready responses, up to
         * the first file piece, the first response not ready, or a full iov. */
        struct iovec iov[IOV_MAX_PIECES];
        int niov = 0;
        size_t want = 0;
        for (rn_resp *q = r; q && q->ready && niov < IOV_MAX_PIECES; q = q->next) {
            if (q->silent)
                continue;
            int i = q == r ? q->piece : 0;
            for (; i < q->w.npieces && niov < IOV_MAX_PIECES; i++) {
                rn_piece *m = &q->w.pieces[i];
                if (m->kind != RN_PIECE_MEM)
                    break;
                int64_t skip = (q == r && i == r->piece) ? r->piece_done : 0;
                iov[niov].iov_base = q->w.buf + m->pos + skip;
                iov[niov].iov_len = (size_t)(m->len - skip);
                want += iov[niov].iov_len;
                niov++;
            }
            if (i < q->w.npieces)
                break; /* stopped at a file piece or a full iov */
        }
        ssize_t n = writev(c->io.fd, iov, niov);
        if (n < 0) {
            if (errno == EAGAIN)
                return 0;
            rn_conn_close(c, "write failed");
            return -1;
        }
        consume_written(c, (size_t)n);
        if ((size_t)n < want)
            return 0; /* short write: the socket is full */
    }
}

void rn_conn_push_resp(rn_conn *c, rn_resp *resp)
{
    resp->next = NULL;
    resp->ready = 0;
    resp->piece = 0;
    resp->piece_done = 0;
    if (c->tail)
        c->tail->next = resp;
    else
        c->head = resp;
    c->tail = resp;
    c->npending++;
}

void rn_conn_resp_ready(rn_conn *c, rn_resp *resp)
{
    resp->ready = 1;
    rn_writer_seal(&resp->w);
    c->queued_bytes += resp->w.total;
    /* While a read is being framed, answers wait so that all those of one
     * read leave in one writev (read_some sends them after the read). */
    if (c->closed || resp != c->head || c->framing)
        return;
    if (hold_depth > 0) {
        if (!c->held) {
            c->held = 1;
            c->next_held = held_list;
            held_list = c;
        }
        return;
    }
    if (send_ready(c) == 0)
        update_interest(c);
}

void rn_conn_hold_sends(void)
{
    hold_depth++;
}

void rn_conn_send_held(void)
{
    assert(hold_depth > 0);
    if (--hold_depth > 0)
        return;
    while (held_list) {
        rn_conn *c = held_list;
        held_list = c->next_held;
        c->held = 0;
        c->next_held = NULL;
        if (!c->closed && send_ready(c) == 0) /* a closed one is still in memory: freed at the round's end */
            update_interest(c);
    }
}

/* ---- reading ---- */

static void deliver(rn_conn *c, uint8_t *frame, size_t len)
{
    c->ops->on_frame(c, frame, len);
}

static int32_t be32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* Frames every complete request in the staging buffer. Returns 0, or -1
 * when the connection was closed for a bad size. */
static int frame_stage(rn_conn *c)
{
    size_t at = 0;
    while (!c->closed && c->stage_len - at >= 4) {
        int32_t size = be32(c->stage + at);
        if (size <= 0 || size > c->limits->frame_bytes_max) {
            rn_warn("closing %s: request size %d outside 1..%d (socket.request.max.bytes)", c->peer, size,
                    c->limits->frame_bytes_max);
            rn_conn_close(c, NULL);
            return -1;
        }
        size_t have = c->stage_len - at - 4;
        uint8_t *frame = malloc((size_t)size);
        if (!frame) {
            rn_conn_close(c, "out of memory for a request");
            return -1;
        }
        if (have >= (size_t)size) {
            memcpy(frame, c->stage + at + 4, (size_t)size);
            at += 4 + (size_t)size;
            deliver(c, frame, (size_t)size);
            continue;
        }
        /* Partial frame: the rest is read straight into place. */
        memcpy(frame, c->stage + at + 4, have);
        c->frame = frame;
        c->frame_len = (size_t)size;
        c->frame_got = have;
        at = c->stage_len;
    }
    memmove(c->stage, c->stage + at, c->stage_len - at);
    c->stage_len -= at;
    return 0;
}

static int paused(const rn_conn *c)
{
    return c->npending >= c->limits->pending_max || c->queued_bytes >= c->limits->queued_bytes_max;
}

static void read_some(rn_conn *c)
{
    for (int round = 0; round < READS_PER_EVENT && !c->closed && !paused(c); round++) {
        ssize_t n;
        if (c->frame) {
            n = read(c->io.fd, c->frame + c->frame_got, c->frame_len - c->frame_got);
            if (n > 0) {
                c->frame_got += (size_t)n;
                if (c->frame_got == c->frame_len) {
                    uint8_t *f = c->frame;
                    c->frame = NULL;
                    c->framing = 1;
                    deliver(c, f, c->frame_len);
                    c->framing = 0;
                    if (!c->closed && c->head && c->head->ready && send_ready(c) < 0)
                        return;
                }
                continue;
            }
        } else {
            n = read(c->io.fd, c->stage + c->stage_len, STAGE_BYTES - c->stage_len);
            if (n > 0) {
                c->stage_len += (size_t)n;
                c->framing = 1;
                int rc = frame_stage(c);
                c->framing = 0;
                if (rc < 0)
                    return;
                if (!c->closed && c->head && c->head->ready && send_ready(c) < 0)
                    return;
                continue;
            }
        }
        if (n == 0) {
            rn_conn_close(c, NULL); /* peer closed */
            return;
        }
        if (errno == EAGAIN || errno == EINTR)
            return;
        rn_conn_close(c, NULL);
        return;
    }
}

static void update_interest(rn_conn *c)
{
    if (c->closed)
        return;
    uint32_t ev = 0;
    if (!paused(c))
        ev |= EPOLLIN;
    if (c->head && c->head->ready)
        ev |= EPOLLOUT; /* only reached when the socket was full */
    rn_loop_modify(c->loop, &c->io, ev | EPOLLRDHUP);
}

static void on_conn_events(rn_loop *loop, rn_io *io, uint32_t revents)
{
    rn_conn *c = (rn_conn *)io;
    (void)loop;
    if (c->closed)
        return;
    if (revents & EPOLLOUT) {
        if (send_ready(c) < 0)
            return;
    }
    if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        read_some(c);
    if (!c->closed && (revents & (EPOLLHUP | EPOLLERR)))
        rn_conn_close(c, NULL);
    if (!c->closed) {
        /* A round of reading may have made responses ready synchronously. */
        if (send_ready(c) == 0)
            update_interest(c);
    }
}

void rn_conn_close(rn_conn *c, const char *why)
{
    if (c->closed)
        return;
    c->closed = 1;
    if (why)
        rn_warn("closing %s: %s", c->peer, why);
    rn_loop_remove(c->loop, &c->io);
    close(c->io.fd);
    if (c->ops->on_close)
        c->ops->on_close(c);
    while (c->head)
        pop_head(c, 0);
    free(c->frame);
    c->frame = NULL;
    live_remove(c);
    atomic_fetch_sub(&open_conns, 1);
    c->next_closed = closed_list;
    closed_list = c;
}

void rn_conn_reap(rn_loop *loop)
{
    (void)loop;
    assert(hold_depth == 0 && !held_list); /* held connections must outlive the hold */
    while (closed_list) {
        rn_conn *c = closed_list;
        closed_list = c->next_closed;
        free(c->stage);
        free(c);
    }
}

int rn_conn_close_idle(rn_loop *loop)
{
    (void)loop;
    for (int i = nlive - 1; i >= 0; i--) {
        rn_conn *c = live[i];
        if (!c->head && !c->frame)
            rn_conn_close(c, NULL);
    }
    return nlive;
}

void rn_conn_loop_release(rn_loop *loop)
{
    while (nlive > 0)
        rn_conn_close(live[nlive - 1], NULL);
    rn_conn_reap(loop);
    free(live);
    live = NULL;
    nlive = live_cap = 0;
}

/* ---- accepting ---- */

static void on_accept(rn_loop *loop, rn_io *io, uint32_t revents)
{
    rn_listener_io *l = (rn_listener_io *)io;
    (void)revents;
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                rn_warn("accept failed: %s", strerror(errno));
            return;
        }
        if (atomic_load(&open_conns) >= l->limits->conns_max) {
            close(fd);
            rn_warn("refused a connection: max.connections (%d) reached", l->limits->conns_max);
            continue;
        }
        rn_conn *c = calloc(1, sizeof *c);
        uint8_t *stage = malloc(STAGE_BYTES);
        if (!c || !stage) {
            free(c);
            free(stage);
            close(fd);
            rn_warn("out of memory accepting a connection");
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->io.fd = fd;
        c->seq = atomic_fetch_add(&conn_seq, 1) + 1;
        c->io.on_events = on_conn_events;
        c->loop = loop;
        c->ops = l->ops;
        c->limits = l->limits;
        c->stage = stage;
        char host[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
            port = ntohs(sin->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
            port = ntohs(sin6->sin6_port);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
        if (rn_loop_add(loop, &c->io, EPOLLIN | EPOLLRDHUP) < 0) {
            close(fd);
            free(stage);
            free(c);
            continue;
        }
        atomic_fetch_add(&open_conns, 1);
        live_add(c);
    }
}

rn_listener_io *rn_listener_attach(rn_loop *loop, int fd, const rn_conn_ops *ops, const rn_conn_limits *limits)
{
    rn_listener_io *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->io.fd = fd;
    l->io.on_events = on_accept;
    l->loop = loop;
    l->ops = ops;
    l->limits = limits;
    if (rn_loop_add(loop, &l->io, EPOLLIN) < 0) {
        free(l);
        return NULL;
    }
    return l;
}

void rn_listener_close(rn_listener_io *l)
{
    if (!l)
        return;
    rn_loop_remove(l->loop, &l->io);
    close(l->io.fd);
    free(l);
}

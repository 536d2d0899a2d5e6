/*
 * conn.h - client connections: listening, framing, in-order responses.
 *
 * Layer: src/net. Knows Kafka's framing (int32 size + bytes) and nothing of
 * the messages inside. A connection reads whole frames and hands each to
 * the layer above (on_frame); the layer above answers through response
 * slots, taken in request order with rn_conn_push_resp() and completed,
 * possibly later and out of order, with rn_conn_resp_ready(). Responses go
 * out strictly in slot order, as Kafka requires: a slot waiting for a flush
 * or a long-poll holds back the ones behind it.
 *
 * Memory: the frame passed to on_frame is malloc'ed and owned by the callee
 * from then on. A slot belongs to the layer above; the connection calls
 * its release() exactly once, after the response is sent (sent=1) or when
 * the connection dies first (sent=0). After release() the connection does
 * not touch it again.
 *
 * Threads: a connection lives on one loop; every call runs on that loop.
 */
#ifndef RN_NET_CONN_H
#define RN_NET_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "net/loop.h"

typedef struct rn_conn rn_conn;
typedef struct rn_resp rn_resp;

struct rn_resp {
    rn_resp *next;
    rn_writer w;        /* the whole frame, size prefix included */
    int ready;          /* set by rn_conn_resp_ready */
    int silent;         /* ready, and nothing to send (acks=0) */
    int piece;          /* send progress: current piece of w */
    int64_t piece_done; /* bytes of that piece already sent */
    void (*release)(rn_resp *resp, int sent);
};

typedef struct rn_conn_ops {
    /* A complete frame (without its size prefix). Owns `frame` (free()). */
    void (*on_frame)(rn_conn *c, uint8_t *frame, size_t len);
    /* The connection is closing: pending slots are released right after. */
    void (*on_close)(rn_conn *c);
} rn_conn_ops;

typedef struct rn_conn_limits {
    int32_t frame_bytes_max;   /* socket.request.max.bytes */
    int pending_max;           /* responses in flight before reading pauses */
    int64_t queued_bytes_max;  /* response bytes queued before reading pauses */
    int32_t conns_max;         /* max.connections: further accepts are closed at once */
} rn_conn_limits;

struct rn_conn {
    rn_io io;
    rn_loop *loop;
    const rn_conn_ops *ops;
    const rn_conn_limits *limits;
    void *user;                /* the layer above's per-connection state */
    char peer[64];             /* "ip:port", for log lines */
    uint64_t seq;              /* broker-wide, increasing in accept order */
    int closed;
    /* reading */
    uint8_t *stage;            /* staging buffer for small frames */
    size_t stage_len;
    uint8_t *frame;            /* a large frame being read straight into place */
    size_t frame_len, frame_got;
    int framing;               /* handing frames of one read up: answers wait for its end */
    int held;                  /* on this thread's list of sends held back (rn_conn_hold_sends) */
    rn_conn *next_held;
    /* responses, oldest first */
    rn_resp *head, *tail;
    int npending;
    int64_t queued_bytes;
    rn_conn *next_closed;      /* freed at the end of the loop round */
};

/* Opens a listening socket (SO_REUSEPORT, so each network thread can own
 * one on the same port). *port_inout 0 picks a free port and returns it.
 * Returns the fd or -errno. */
int rn_listen_open(const char *host, int *port_inout);

/* Accepts connections on fd within loop. The listener lives until the loop
 * stops; rn_listener_close stops accepting. */
typedef struct rn_listener_io rn_listener_io;
rn_listener_io *rn_listener_attach(rn_loop *loop, int fd, const rn_conn_ops *ops,
                                   const rn_conn_limits *limits);
void rn_listener_close(rn_listener_io *l);

/* Appends a response slot in request order. */
void rn_conn_push_resp(rn_conn *c, rn_resp *resp);
/* Marks a slot complete; sends whatever is now at the head. */
void rn_conn_resp_ready(rn_conn *c, rn_resp *resp);
/* Holds back sends on this thread's loop: until the matching
 * rn_conn_send_held(), rn_conn_resp_ready() only marks responses ready and
 * notes their connection. rn_conn_send_held() then sends to each noted
 * connection once, so that answers completed together (say, every request
 * of one flush round) leave in one writev per connection, not one each.
 * Pairs nest; the outermost rn_conn_send_held() sends. Both run on the
 * loop's thread, within one callback (closed connections are freed only
 * at the end of the loop round). */
void rn_conn_hold_sends(void);
void rn_conn_send_held(void);
/* Closes the connection (idempotent); memory is freed later in the round. */
void rn_conn_close(rn_conn *c, const char *why);

/* Connections currently open, across all loops. */
int rn_conn_count(void);

/* Frees connections closed during this round; call from the loop's tick. */
void rn_conn_reap(rn_loop *loop);

/* Closes every connection of this loop whose responses are all sent, and
 * returns how many connections remain (shutdown drains with this). */
int rn_conn_close_idle(rn_loop *loop);

/* After the loop has stopped, on its thread: closes what is left and frees
 * the thread's connection bookkeeping. */
void rn_conn_loop_release(rn_loop *loop);

#endif

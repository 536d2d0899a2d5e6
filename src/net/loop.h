/*
 * loop.h - an epoll event loop with timers and cross-thread wake-ups.
 *
 * Layer: src/net. One loop per network thread; every connection belongs to
 * exactly one loop for its whole life. Handlers run on the loop's thread.
 *
 * Threads: everything here must be called on the loop's own thread, except
 * rn_loop_wake() and rn_loop_stop(), which any thread may call.
 */
#ifndef RN_NET_LOOP_H
#define RN_NET_LOOP_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct rn_loop rn_loop;
typedef struct rn_io rn_io;
typedef struct rn_timer rn_timer;

/* A file descriptor watched by the loop. The owner embeds it. */
struct rn_io {
    int fd;
    uint32_t events; /* EPOLLIN | EPOLLOUT ... as registered */
    void (*on_events)(rn_loop *loop, rn_io *io, uint32_t revents);
};

/* A one-shot timer. The owner embeds it; heap_index < 0 when not armed. */
struct rn_timer {
    int64_t deadline_ms; /* rn_mono_ms() clock */
    int heap_index;
    void (*on_fire)(rn_loop *loop, rn_timer *t);
};

struct rn_loop {
    int epfd;
    int wakefd;              /* eventfd: rn_loop_wake() writes it */
    rn_io wake_io;
    atomic_int wake_pending; /* coalesces wake-ups: one eventfd write per round */
    atomic_int stopping;
    rn_timer **heap;
    int nheap, heap_cap;
    int id;                  /* index among the network threads */
    void (*on_wake)(rn_loop *loop); /* runs on the loop after any rn_loop_wake() */
    void (*on_tick)(rn_loop *loop); /* runs once per loop iteration (after events) */
    void *owner;             /* the layer above's per-loop state */
};

int rn_loop_init(rn_loop *loop, int id);
void rn_loop_release(rn_loop *loop);

/* Runs until rn_loop_stop(); returns 0. */
int rn_loop_run(rn_loop *loop);
void rn_loop_stop(rn_loop *loop);

/* Registers, changes or removes interest in io->fd. Return 0 or -errno. */
int rn_loop_add(rn_loop *loop, rn_io *io, uint32_t events);
int rn_loop_modify(rn_loop *loop, rn_io *io, uint32_t events);
void rn_loop_remove(rn_loop *loop, rn_io *io);

/* Arms (or re-arms) t to fire at deadline_ms; disarm is a no-op when unarmed. */
void rn_timer_arm(rn_loop *loop, rn_timer *t, int64_t deadline_ms);
void rn_timer_disarm(rn_loop *loop, rn_timer *t);
static inline int rn_timer_armed(const rn_timer *t) { return t->heap_index >= 0; }
static inline void rn_timer_init(rn_timer *t, void (*on_fire)(rn_loop *, rn_timer *))
{
    t->deadline_ms = 0;
    t->heap_index = -1;
    t->on_fire = on_fire;
}

/* Any thread: makes the loop call on_wake soon. Cheap when already pending. */
void rn_loop_wake(rn_loop *loop);

#endif

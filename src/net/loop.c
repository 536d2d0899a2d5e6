/*
 * loop.c - epoll event loop; timers in a binary min-heap; eventfd wake-ups.
 *
 * Work per iteration is capped at 256 events (the epoll_wait batch) so one
 * busy socket cannot starve the timers.
 */
#include "net/loop.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"

#define LOOP_EVENTS_PER_ROUND 256

static void on_wakefd(rn_loop *loop, rn_io *io, uint32_t revents)
{
    (void)revents;
    uint64_t n;
    while (read(io->fd, &n, sizeof n) == (ssize_t)sizeof n)
        ;
    atomic_store(&loop->wake_pending, 0);
    if (loop->on_wake)
        loop->on_wake(loop);
}

int rn_loop_init(rn_loop *loop, int id)
{
    memset(loop, 0, sizeof *loop);
    loop->id = id;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        return -errno;
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wakefd < 0) {
        int e = -errno;
        close(loop->epfd);
        return e;
    }
    loop->wake_io.fd = loop->wakefd;
    loop->wake_io.on_events = on_wakefd;
    return rn_loop_add(loop, &loop->wake_io, EPOLLIN);
}

void rn_loop_release(rn_loop *loop)
{
    close(loop->wakefd);
    close(loop->epfd);
    free(loop->heap);
    loop->heap = NULL;
}

int rn_loop_add(rn_loop *loop, rn_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    io->events = events;
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0 ? -errno : 0;
}

int rn_loop_modify(rn_loop *loop, rn_io *io, uint32_t events)
{
    if (io->events == events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    io->events = events;
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0 ? -errno : 0;
}

void rn_loop_remove(rn_loop *loop, rn_io *io)
{
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

/* ---- timer heap ---- */

static void heap_swap(rn_loop *loop, int a, int b)
{
    rn_timer *t = loop->heap[a];
    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->heap_index = a;
    loop->heap[b]->heap_index = b;
}

static void heap_up(rn_loop *loop, int i)
{
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (loop->heap[parent]->deadline_ms <= loop->heap[i]->deadline_ms)
            break;
        heap_swap(loop, i, parent);
        i = parent;
    }
}

static void heap_down(rn_loop *loop, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop->nheap && loop->heap[l]->deadline_ms < loop->heap[m]->deadline_ms)
            m = l;
        if (r < loop->nheap && loop->heap[r]->deadline_ms < loop->heap[m]->deadline_ms)
            m = r;
        if (m == i)
            return;
        heap_swap(loop, i, m);
        i = m;
    }
}

void rn_timer_disarm(rn_loop *loop, rn_timer *t)
{
    int i = t->heap_index;
    if (i < 0)
        return;
    assert(i < loop->nheap && loop->heap[i] == t);
    int last = --loop->nheap;
    if (i != last) {
        loop->heap[i] = loop->heap[last];
        loop->heap[i]->heap_index = i;
        heap_down(loop, i);
        heap_up(loop, i);
    }
    t->heap_index = -1;
}

void rn_timer_arm(rn_loop *loop, rn_timer *t, int64_t deadline_ms)
{
    rn_timer_disarm(loop, t);
    if (loop->nheap == loop->heap_cap) {
        int cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        rn_timer **h = realloc(loop->heap, (size_t)cap * sizeof *h);
        if (!h)
            abort(); /* a timer we cannot arm would hang a client forever */
        loop->heap = h;
        loop->heap_cap = cap;
    }
    t->deadline_ms = deadline_ms;
    t->heap_index = loop->nheap;
    loop->heap[loop->nheap++] = t;
    heap_up(loop, t->heap_index);
}

static int fire_timers(rn_loop *loop)
{
    int64_t now = rn_mono_ms();
    while (loop->nheap > 0 && loop->heap[0]->deadline_ms <= now) {
        rn_timer *t = loop->heap[0];
        rn_timer_disarm(loop, t);
        t->on_fire(loop, t);
    }
    if (loop->nheap == 0)
        return -1;
    int64_t wait = loop->heap[0]->deadline_ms - now;
    return wait > 1000 ? 1000 : (int)wait;
}

void rn_loop_wake(rn_loop *loop)
{
    if (atomic_exchange(&loop->wake_pending, 1))
        return;
    uint64_t one = 1;
    ssize_t n = write(loop->wakefd, &one, sizeof one);
    (void)n; /* EAGAIN means the counter is already non-zero: the loop wakes anyway */
}

void rn_loop_stop(rn_loop *loop)
{
    atomic_store(&loop->stopping, 1);
    rn_loop_wake(loop);
}

int rn_loop_run(rn_loop *loop)
{
    struct epoll_event events[LOOP_EVENTS_PER_ROUND];
    while (!atomic_load(&loop->stopping)) {
        int timeout_ms = fire_timers(loop);
        if (timeout_ms < 0 || timeout_ms > 1000)
            timeout_ms = 1000;
        int n = epoll_wait(loop->epfd, events, LOOP_EVENTS_PER_ROUND, timeout_ms);
        if (n < 0 && errno != EINTR)
            return -errno;
        for (int i = 0; i < n; i++) {
            rn_io *io = events[i].data.ptr;
            io->on_events(loop, io, events[i].events);
        }
        if (loop->on_tick)
            loop->on_tick(loop);
    }
    return 0;
}

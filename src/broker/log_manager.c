/*
 * log_manager.c - the broker's background work on logs, on its own thread:
 *
 *   every 100 ms      flush.ms: queue partitions whose unsynced data is older
 *                     than their topic's flush.ms for the flusher; write
 *                     recovery-point checkpoints that are due
 *   every log.retention.check.interval.ms
 *                     retention (time and size) and segment purging, then
 *                     compaction of compacted topics
 *
 * It holds the topics read lock while it visits partitions, so no topic is
 * deleted under it; the log functions it calls do their disk work without
 * blocking appends and reads for more than a pointer swap.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/broker.h"
#include "common/clock.h"
#include "common/rlog.h"

#define TICK_MS 100

static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static _Atomic int stopping;
static int running;

/* A partition to work on outside the topics lock, with the topic settings
 * copied while the lock was held. */
typedef struct work_item {
    rn_partition *p;
    rn_housekeeping_cfg cfg;
} work_item;

typedef struct tick_ctx {
    int64_t now_mono_ms;
    int housekeeping;
    work_item *items;
    int nitems, cap;
} tick_ctx;

static int visit_topic(rn_topic *t, void *arg)
{
    tick_ctx *c = arg;
    for (int32_t i = 0; i < t->npartitions; i++) {
        rn_partition *p = t->parts[i];
        if (!p)
            continue;
        /* A recovery-point write that a sync skipped (at most one per 5 s);
         * nothing (no system call) when none is due. */
        rn_log_checkpoint_if_due(p->log, c->now_mono_ms);
        if (t->flush_ms != INT64_MAX && atomic_load(&p->unflushed) > 0 &&
            c->now_mono_ms - atomic_load(&p->last_sync_ms) >= t->flush_ms)
            rn_flusher_enqueue(p);
        if (!c->housekeeping)
            continue;
        if (c->nitems == c->cap) {
            int cap = c->cap ? c->cap * 2 : 256;
            work_item *n = realloc(c->items, (size_t)cap * sizeof *n);
            if (!n)
                return 1; /* try again next round */
            c->items = n;
            c->cap = cap;
        }
        if (!rn_partition_try_hold(p))
            continue;
        c->items[c->nitems].p = p;
        rn_housekeeping_cfg_of(t, &c->items[c->nitems].cfg);
        c->nitems++;
    }
    return 0;
}

static void *manager_main(void *arg)
{
    (void)arg;
    int64_t next_housekeeping = rn_mono_ms() + rn_g.cfg.log_retention_check_interval_ms;
    work_item *items = NULL;
    int items_cap = 0;
    pthread_mutex_lock(&mu);
    while (!stopping) {
        struct timespec ts;
        rn_deadline_after_ms(&ts, TICK_MS);
        pthread_cond_timedwait(&cv, &mu, &ts);
        if (stopping)
            break;
        pthread_mutex_unlock(&mu);
        tick_ctx c = {.now_mono_ms = rn_mono_ms(), .items = items, .cap = items_cap};
        if (c.now_mono_ms >= next_housekeeping) {
            c.housekeeping = 1;
            next_housekeeping = c.now_mono_ms + rn_g.cfg.log_retention_check_interval_ms;
        }
        rn_topics_rdlock();
        rn_topics_each(visit_topic, &c);
        rn_topics_unlock();
        /* The slow part runs without the topics lock; each partition is held. */
        for (int i = 0; i < c.nitems; i++) {
            if (!stopping)
                rn_log_housekeeping(c.items[i].p, &c.items[i].cfg, rn_now_ms());
            rn_partition_unhold(c.items[i].p);
        }
        items = c.items;
        items_cap = c.cap;
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    free(items);
    return NULL;
}

int rn_log_manager_start(void)
{
    stopping = 0;
    if (pthread_create(&thread, NULL, manager_main, NULL) != 0)
        return -EAGAIN;
    running = 1;
    return 0;
}

void rn_log_manager_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    running = 0;
}

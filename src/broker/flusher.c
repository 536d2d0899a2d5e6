/*
 * flusher.c - group commit: one thread fdatasync()s every partition written
 * by acks=all producers, in rounds, so a busy broker pays one flush per
 * round rather than one per request.
 *
 * Generations: a produce that needs durability queues its partition and
 * receives the number of the round that will cover it (`open_gen`). The
 * thread takes the whole queue, bumps open_gen (later appends belong to the
 * next round), syncs every queued partition without the queue's mutex, then
 * publishes done_gen and wakes the workers, which answer the requests whose
 * generation is done (produce.c).
 *
 *   appender (worker)                flusher thread
 *   append; gen = enqueue(p)  --->   take queue, open_gen++
 *   park request (gen)               fdatasync each partition
 *                             <---   done_gen = gen; wake workers
 *   answer requests with gen <= done_gen
 *
 * The round starts as soon as work is queued: while a round's syncs run,
 * new work gathers for the next one, which is what batches under load.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "common/clock.h"
#include "common/rlog.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t round_cv = PTHREAD_COND_INITIALIZER; /* a round ended */
static rn_partition *queue_head;
static uint64_t open_gen = 1;      /* guarded by mu */
static _Atomic uint64_t done_gen;  /* rounds 1..done_gen are complete */
static _Atomic uint64_t failures;  /* fdatasyncs that failed */
static int stopping;
static rn_partition **round_parts; /* the partitions of the round being synced */
static int round_cap;
static pthread_t thread;
static int running;

uint64_t rn_flusher_enqueue(rn_partition *p)
{
    pthread_mutex_lock(&mu);
    if (!p->flush_queued) {
        /* One being synced now may have new data: it is queued again. */
        p->flush_queued = 1;
        p->flush_next = queue_head;
        queue_head = p;
        pthread_cond_signal(&cv);
    }
    uint64_t gen = open_gen;
    pthread_mutex_unlock(&mu);
    return gen;
}

uint64_t rn_flusher_done(void) { return atomic_load(&done_gen); }

uint64_t rn_flusher_failures(void) { return atomic_load(&failures); }

int rn_flusher_wait(uint64_t gen)
{
    pthread_mutex_lock(&mu);
    while (atomic_load(&done_gen) < gen && running)
        pthread_cond_wait(&round_cv, &mu);
    int ok = atomic_load(&done_gen) >= gen;
    pthread_mutex_unlock(&mu);
    return ok ? 0 : -ECANCELED;
}

void rn_flusher_forget(rn_partition *p)
{
    pthread_mutex_lock(&mu);
    if (p->flush_queued) {
        for (rn_partition **pp = &queue_head; *pp; pp = &(*pp)->flush_next)
            if (*pp == p) {
                *pp = p->flush_next;
                break;
            }
        p->flush_queued = 0;
    }
    while (p->flush_in_round) /* the round holding it must finish first */
        pthread_cond_wait(&round_cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (!queue_head && !stopping)
            pthread_cond_wait(&cv, &mu);
        int done = !queue_head && stopping;
        pthread_mutex_unlock(&mu);
        if (done)
            break;

        /* No topics lock here: a round can take long (one fdatasync per
         * partition), and holding it would stall topic creation and, behind
         * the writer-preferring lock, every request. A partition in the
         * round is marked (flush_in_round); deletion waits for the round to end
         * (rn_flusher_forget) before it frees the partition. */
        pthread_mutex_lock(&mu);
        int n = 0;
        for (rn_partition *p = queue_head; p; p = p->flush_next)
            n++;
        if (n > round_cap) {
            rn_partition **r = realloc(round_parts, (size_t)n * sizeof *r);
            if (!r)
                abort(); /* cannot sync: acknowledging would lie */
            round_parts = r;
            round_cap = n;
        }
        n = 0;
        for (rn_partition *p = queue_head; p; p = p->flush_next) {
            round_parts[n++] = p;
            p->flush_queued = 0;
            p->flush_in_round = 1;
        }
        queue_head = NULL;
        uint64_t gen = open_gen++;
        pthread_mutex_unlock(&mu);
        for (int i = 0; i < n; i++) {
            rn_partition *p = round_parts[i];
            atomic_store(&p->unflushed, 0);
            atomic_store(&p->last_sync_ms, rn_mono_ms());
            int64_t rc = rn_log_sync(p->log);
            if (rc < 0) {
                rn_error("fdatasync of %s-%d failed: %s; acks=all produces to it now fail", p->topic->name,
                         p->index, strerror((int)-rc));
                atomic_store(&p->storage_error, 1);
                atomic_fetch_add(&failures, 1);
            }
        }
        pthread_mutex_lock(&mu);
        atomic_store(&done_gen, gen); /* before the broadcast: rn_flusher_wait checks it */
        for (int i = 0; i < n; i++)
            round_parts[i]->flush_in_round = 0;
        pthread_cond_broadcast(&round_cv);
        pthread_mutex_unlock(&mu);

        /* Only workers with a request this round completes: waking the
         * others costs them a loop round for nothing. (A worker publishes
         * flush_wait_gen before it reads done_gen; this reads it after
         * publishing done_gen: see rn_req_wait_flush.) */
        for (int i = 0; i < rn_g.nworkers; i++) {
            uint64_t wait_gen = atomic_load(&rn_g.workers[i]->flush_wait_gen);
            if (wait_gen != 0 && wait_gen <= gen)
                rn_loop_wake(&rn_g.workers[i]->loop);
        }
    }
    return NULL;
}

int rn_flusher_start(void)
{
    stopping = 0;
    if (pthread_create(&thread, NULL, flusher_main, NULL) != 0)
        return -EAGAIN;
    running = 1;
    return 0;
}

void rn_flusher_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    running = 0;
    free(round_parts);
    round_parts = NULL;
    round_cap = 0;
}

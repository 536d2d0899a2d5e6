/*
 * txn_coordinator.c - see txn_coordinator.h for the states and the locking
 * rules.
 *
 * __transaction_state record (ours, big-endian; strings are int16 length + bytes):
 *   key:   int16 version (0) | string transactional id
 *   value: int16 version (1) | int64 producer id | int16 epoch | int32 timeout ms
 *          | int8 state | int64 start ms | int64 last update ms
 *          | int32 P, P x (string topic | int32 partition)
 *          | int32 G, G x (string group)
 *          | int32 O, O x (string group | string topic | int32 partition | int64 offset
 *                          | int32 leader epoch | string metadata)
 * Offsets of TxnOffsetCommit ride in the coordinator's own record, so a
 * transaction in PrepareCommit can be finished after a crash with them.
 *
 * Ending a transaction (rn_txn_end):
 *   1. under the lock: check, state -> Prepare*, copy partitions and offsets
 *   2. without the lock: persist Prepare*, write a marker in each partition
 *      (durable), commit the offsets (durable)
 *   3. under the lock: state -> Complete*, persist
 * A crash between 1 and 3 leaves Prepare* in the log; rn_txn_recover()
 * redoes step 2 and 3 at start-up (markers and offset commits are safe to
 * repeat).
 */
#include "txn/txn_coordinator.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/bin.h"
#include "common/clock.h"
#include "common/rlog.h"

enum {
    E_NONE = 0,
    E_COORDINATOR_NOT_AVAILABLE = 15,
    E_INVALID_PRODUCER_EPOCH = 47,
    E_INVALID_TXN_STATE = 48,
    E_INVALID_PRODUCER_ID_MAPPING = 49,
    E_INVALID_TRANSACTION_TIMEOUT = 50,
    E_CONCURRENT_TRANSACTIONS = 51,
    E_OPERATION_NOT_ATTEMPTED = 55,
    E_UNKNOWN_TOPIC_OR_PARTITION = 3,
    E_PRODUCER_FENCED = 90,
    E_KAFKA_STORAGE_ERROR = 56,
    E_TRANSACTIONAL_ID_NOT_FOUND = 105,
    E_INVALID_REQUEST = 42,
};

typedef enum tstate {
    T_EMPTY, T_ONGOING, T_PREPARE_COMMIT, T_PREPARE_ABORT, T_COMPLETE_COMMIT, T_COMPLETE_ABORT, T_DEAD
} tstate;
static const char *state_names[] = {"Empty",         "Ongoing",        "PrepareCommit", "PrepareAbort",
                                    "CompleteCommit", "CompleteAbort", "Dead"};

#define EPOCH_MAX 32767

typedef struct tpart {
    char *topic;
    int32_t partition;
} tpart;

typedef struct txn {
    char *id;
    int64_t pid;
    int16_t epoch;
    int32_t timeout_ms;
    tstate state;
    int64_t start_ms;       /* wall clock, of the open transaction */
    int64_t update_ms;
    uint64_t begin_conn_seq; /* connection that began the open transaction */
    int busy;               /* an end is in progress (steps 2-3) */
    int nparts, parts_cap;
    tpart *parts;
    int ngroups, groups_cap;
    char **groups;
    int noffsets, offsets_cap;
    char **offset_groups;   /* parallel to offsets */
    rn_txn_offset *offsets;
    struct txn *next;
} txn;

static pthread_mutex_t tmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tcv = PTHREAD_COND_INITIALIZER;
static rn_txn_hooks H;
static txn **buckets;
static size_t nbuckets;
static int ntxns;
static int npending_offsets; /* offsets held by open transactions, in all of them */
static pthread_t timer;
static int running, stopping;

/* ---- helpers ---- */

static char *dup_t(rn_tbytes b)
{
    if (b.len < 0)
        return NULL;
    char *s = malloc((size_t)b.len + 1);
    if (!s)
        abort();
    memcpy(s, b.ptr, (size_t)b.len);
    s[b.len] = 0;
    return s;
}

static char *dup_s(const char *s)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        abort();
    return d;
}

static int teq(rn_tbytes b, const char *s)
{
    return s && b.len >= 0 && (size_t)b.len == strlen(s) && memcmp(b.ptr, s, (size_t)b.len) == 0;
}

int32_t rn_txn_partition_for(rn_tbytes txn_id, int32_t npartitions)
{
    int32_t h = 0; /* Java's String.hashCode, as Kafka places transactional ids */
    for (int32_t i = 0; i < txn_id.len; i++)
        h = (int32_t)((uint32_t)h * 31u + (uint8_t)txn_id.ptr[i]);
    int64_t a = h < 0 ? -(int64_t)h : h;
    return (int32_t)(a % (npartitions > 0 ? npartitions : 1));
}

static txn *find(rn_tbytes id)
{
    if (!nbuckets || id.len < 0)
        return NULL;
    for (txn *t = buckets[rn_hash_bytes(id.ptr, (size_t)id.len) & (nbuckets - 1)]; t; t = t->next)
        if (teq(id, t->id))
            return t;
    return NULL;
}

static void grow(void)
{
    size_t n = nbuckets ? nbuckets * 2 : 256;
    txn **nb = calloc(n, sizeof *nb);
    if (!nb)
        abort();
    for (size_t i = 0; i < nbuckets; i++)
        for (txn *t = buckets[i], *next; t; t = next) {
            next = t->next;
            size_t s = rn_hash_bytes(t->id, strlen(t->id)) & (n - 1);
            t->next = nb[s];
            nb[s] = t;
        }
    free(buckets);
    buckets = nb;
    nbuckets = n;
}

static txn *create(rn_tbytes id)
{
    if ((size_t)ntxns + 1 > nbuckets / 2)
        grow();
    txn *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    t->id = dup_t(id);
    t->pid = -1;
    t->epoch = -1;
    t->state = T_EMPTY;
    size_t s = rn_hash_bytes(id.ptr, (size_t)id.len) & (nbuckets - 1);
    t->next = buckets[s];
    buckets[s] = t;
    ntxns++;
    return t;
}

static void clear_txn_contents(txn *t)
{
    for (int i = 0; i < t->nparts; i++)
        free(t->parts[i].topic);
    t->nparts = 0;
    for (int i = 0; i < t->ngroups; i++)
        free(t->groups[i]);
    t->ngroups = 0;
    for (int i = 0; i < t->noffsets; i++) {
        free(t->offset_groups[i]);
        free(t->offsets[i].topic);
        free(t->offsets[i].metadata);
    }
    npending_offsets -= t->noffsets;
    t->noffsets = 0;
}

static void set_state(txn *t, tstate to)
{
    tstate from = t->state;
    int ok = 0;
    switch (to) {
    case T_EMPTY: ok = from == T_EMPTY || from == T_COMPLETE_COMMIT || from == T_COMPLETE_ABORT; break;
    case T_ONGOING: ok = from == T_EMPTY || from == T_ONGOING || from == T_COMPLETE_COMMIT || from == T_COMPLETE_ABORT; break;
    case T_PREPARE_COMMIT:
    case T_PREPARE_ABORT: ok = from == T_ONGOING; break;
    case T_COMPLETE_COMMIT: ok = from == T_PREPARE_COMMIT; break;
    case T_COMPLETE_ABORT: ok = from == T_PREPARE_ABORT; break;
    case T_DEAD: ok = from == T_EMPTY || from == T_COMPLETE_COMMIT || from == T_COMPLETE_ABORT; break;
    }
    assert(ok && "illegal transaction state transition");
    (void)ok;
    t->state = to;
    t->update_ms = rn_now_ms();
}

/* ---- records ---- */

/* Serialises t's current state (caller holds tmu). */
static void encode(const txn *t, rn_bin_writer *k, rn_bin_writer *v)
{
    rn_bin_put_be(k, 0, 2);
    rn_bin_put_str(k, t->id);
    rn_bin_put_be(v, 1, 2);
    rn_bin_put_be(v, (uint64_t)t->pid, 8);
    rn_bin_put_be(v, (uint16_t)t->epoch, 2);
    rn_bin_put_be(v, (uint32_t)t->timeout_ms, 4);
    rn_bin_put_be(v, (uint8_t)t->state, 1);
    rn_bin_put_be(v, (uint64_t)t->start_ms, 8);
    rn_bin_put_be(v, (uint64_t)t->update_ms, 8);
    rn_bin_put_be(v, (uint32_t)t->nparts, 4);
    for (int i = 0; i < t->nparts; i++) {
        rn_bin_put_str(v, t->parts[i].topic);
        rn_bin_put_be(v, (uint32_t)t->parts[i].partition, 4);
    }
    rn_bin_put_be(v, (uint32_t)t->ngroups, 4);
    for (int i = 0; i < t->ngroups; i++)
        rn_bin_put_str(v, t->groups[i]);
    rn_bin_put_be(v, (uint32_t)t->noffsets, 4);
    for (int i = 0; i < t->noffsets; i++) {
        rn_bin_put_str(v, t->offset_groups[i]);
        rn_bin_put_str(v, t->offsets[i].topic);
        rn_bin_put_be(v, (uint32_t)t->offsets[i].partition, 4);
        rn_bin_put_be(v, (uint64_t)t->offsets[i].offset, 8);
        rn_bin_put_be(v, (uint32_t)t->offsets[i].leader_epoch, 4);
        rn_bin_put_str(v, t->offsets[i].metadata ? t->offsets[i].metadata : "");
    }
}

/* Encodes under the lock; the caller persists the buffers without it. */
typedef struct snapshot {
    int32_t partition;
    rn_bin_writer k, v;
} snapshot;

static void take(const txn *t, snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->partition = rn_txn_partition_for((rn_tbytes){t->id, (int32_t)strlen(t->id)}, H.state_partitions);
    encode(t, &s->k, &s->v);
}

static int put(snapshot *s)
{
    int rc = H.persist ? H.persist(s->partition, s->k.buf, (int32_t)s->k.len, s->v.buf, (int32_t)s->v.len) : 0;
    rn_bin_writer_release(&s->k);
    rn_bin_writer_release(&s->v);
    return rc;
}

static void add_part(txn *t, const char *topic, int32_t partition)
{
    for (int i = 0; i < t->nparts; i++)
        if (t->parts[i].partition == partition && strcmp(t->parts[i].topic, topic) == 0)
            return;
    if (t->nparts == t->parts_cap) {
        t->parts_cap = t->parts_cap ? t->parts_cap * 2 : 8;
        t->parts = realloc(t->parts, (size_t)t->parts_cap * sizeof *t->parts);
        if (!t->parts)
            abort();
    }
    t->parts[t->nparts].topic = dup_s(topic);
    t->parts[t->nparts].partition = partition;
    t->nparts++;
}

static void add_group(txn *t, const char *group)
{
    for (int i = 0; i < t->ngroups; i++)
        if (strcmp(t->groups[i], group) == 0)
            return;
    if (t->ngroups == t->groups_cap) {
        t->groups_cap = t->groups_cap ? t->groups_cap * 2 : 4;
        t->groups = realloc(t->groups, (size_t)t->groups_cap * sizeof *t->groups);
        if (!t->groups)
            abort();
    }
    t->groups[t->ngroups++] = dup_s(group);
}

static void add_offset(txn *t, const char *group, const rn_txn_offset *o)
{
    for (int i = 0; i < t->noffsets; i++)
        if (strcmp(t->offset_groups[i], group) == 0 && t->offsets[i].partition == o->partition &&
            strcmp(t->offsets[i].topic, o->topic) == 0) {
            t->offsets[i].offset = o->offset;
            t->offsets[i].leader_epoch = o->leader_epoch;
            free(t->offsets[i].metadata);
            t->offsets[i].metadata = dup_s(o->metadata ? o->metadata : "");
            return;
        }
    if (t->noffsets == t->offsets_cap) {
        t->offsets_cap = t->offsets_cap ? t->offsets_cap * 2 : 8;
        t->offsets = realloc(t->offsets, (size_t)t->offsets_cap * sizeof *t->offsets);
        t->offset_groups = realloc(t->offset_groups, (size_t)t->offsets_cap * sizeof *t->offset_groups);
        if (!t->offsets || !t->offset_groups)
            abort();
    }
    t->offset_groups[t->noffsets] = dup_s(group);
    t->offsets[t->noffsets] = *o;
    t->offsets[t->noffsets].topic = dup_s(o->topic);
    t->offsets[t->noffsets].metadata = dup_s(o->metadata ? o->metadata : "");
    t->noffsets++;
    npending_offsets++;
}

int rn_txn_offset_pending(rn_tbytes group, rn_tbytes topic, int32_t partition)
{
    int found = 0;
    pthread_mutex_lock(&tmu);
    for (size_t b = 0; npending_offsets > 0 && b < nbuckets && !found; b++)
        for (const txn *t = buckets[b]; t && !found; t = t->next)
            for (int i = 0; i < t->noffsets && !found; i++)
                found = t->offsets[i].partition == partition && teq(topic, t->offsets[i].topic) &&
                        teq(group, t->offset_groups[i]);
    pthread_mutex_unlock(&tmu);
    return found;
}

void rn_txn_load_record(const uint8_t *key, int32_t key_len, const uint8_t *value, int32_t value_len)
{
    rn_bin_reader k;
    rn_bin_reader_init(&k, key, key_len < 0 ? 0 : (size_t)key_len);
    if (rn_bin_get_be(&k, 2) != 0)
        return;
    char *id = rn_bin_get_str_dup(&k);
    if (k.err || !id) {
        free(id);
        return;
    }
    rn_tbytes tid = {id, (int32_t)strlen(id)};
    pthread_mutex_lock(&tmu);
    txn *t = find(tid);
    if (!value) {
        if (t) { /* expired id: forget it */
            clear_txn_contents(t);
            t->state = T_DEAD;
        }
        goto out;
    }
    rn_bin_reader v;
    rn_bin_reader_init(&v, value, value_len < 0 ? 0 : (size_t)value_len);
    if (rn_bin_get_be(&v, 2) != 1)
        goto out;
    if (!t)
        t = create(tid);
    clear_txn_contents(t);
    t->pid = (int64_t)rn_bin_get_be(&v, 8);
    t->epoch = (int16_t)rn_bin_get_be(&v, 2);
    t->timeout_ms = (int32_t)rn_bin_get_be(&v, 4);
    int st = (int)rn_bin_get_be(&v, 1);
    t->state = st >= 0 && st <= T_DEAD ? (tstate)st : T_EMPTY;
    t->start_ms = (int64_t)rn_bin_get_be(&v, 8);
    t->update_ms = (int64_t)rn_bin_get_be(&v, 8);
    uint32_t np = (uint32_t)rn_bin_get_be(&v, 4);
    for (uint32_t i = 0; i < np && !v.err; i++) {
        char *topic = rn_bin_get_str_dup(&v);
        int32_t p = (int32_t)rn_bin_get_be(&v, 4);
        if (topic && !v.err)
            add_part(t, topic, p);
        free(topic);
    }
    uint32_t ng = (uint32_t)rn_bin_get_be(&v, 4);
    for (uint32_t i = 0; i < ng && !v.err; i++) {
        char *g = rn_bin_get_str_dup(&v);
        if (g)
            add_group(t, g);
        free(g);
    }
    uint32_t no = (uint32_t)rn_bin_get_be(&v, 4);
    for (uint32_t i = 0; i < no && !v.err; i++) {
        char *g = rn_bin_get_str_dup(&v);
        rn_txn_offset o = {0};
        o.topic = rn_bin_get_str_dup(&v);
        o.partition = (int32_t)rn_bin_get_be(&v, 4);
        o.offset = (int64_t)rn_bin_get_be(&v, 8);
        o.leader_epoch = (int32_t)rn_bin_get_be(&v, 4);
        o.metadata = rn_bin_get_str_dup(&v);
        if (!v.err && g && o.topic)
            add_offset(t, g, &o);
        free(g);
        free(o.topic);
        free(o.metadata);
    }
out:
    pthread_mutex_unlock(&tmu);
    free(id);
}

/* ---- ending transactions ---- */

/* Steps 2 and 3 of an end (see the top of the file), without the lock. The
 * caller set t->busy and the Prepare state, and passes copies. */
static int16_t finish(txn *t, int commit, tpart *parts, int nparts, char **ogroups, rn_txn_offset *offsets,
                      int noffsets, snapshot *prepare)
{
    int16_t err = E_NONE;
    if (prepare && put(prepare) < 0)
        err = E_KAFKA_STORAGE_ERROR;
    for (int i = 0; i < nparts && err == E_NONE; i++) {
        int rc = H.write_marker(parts[i].topic, parts[i].partition, t->pid, t->epoch, commit);
        if (rc < 0 && rc != -ENOENT) {
            rn_error("transaction %s: cannot write the %s marker to %s-%d: %s", t->id, commit ? "commit" : "abort",
                     parts[i].topic, parts[i].partition, strerror(-rc));
            err = E_KAFKA_STORAGE_ERROR;
        }
    }
    if (H.markers_durable && nparts > 0 && H.markers_durable() < 0 && err == E_NONE)
        err = E_KAFKA_STORAGE_ERROR;
    /* Offsets of a committed transaction, group by group. */
    for (int i = 0; i < noffsets && err == E_NONE && commit; i++) {
        int j = i;
        while (j < noffsets && strcmp(ogroups[j], ogroups[i]) == 0)
            j++;
        if (H.commit_offsets(ogroups[i], &offsets[i], j - i) < 0)
            err = E_KAFKA_STORAGE_ERROR;
        i = j - 1;
    }
    pthread_mutex_lock(&tmu);
    snapshot complete;
    int have_complete = 0;
    if (err == E_NONE) {
        set_state(t, commit ? T_COMPLETE_COMMIT : T_COMPLETE_ABORT);
        clear_txn_contents(t);
        take(t, &complete);
        have_complete = 1;
    }
    t->busy = 0;
    pthread_cond_broadcast(&tcv);
    pthread_mutex_unlock(&tmu);
    if (have_complete && put(&complete) < 0)
        rn_warn("transaction %s: completion not persisted; it is redone at the next start", t->id);
    return err;
}

/* Moves t to Prepare* and copies what finish() needs (caller holds tmu). */
typedef struct end_plan {
    tpart *parts;
    int nparts;
    char **ogroups;
    rn_txn_offset *offsets;
    int noffsets;
    snapshot prepare;
} end_plan;

static void plan_end(txn *t, int commit, end_plan *p)
{
    if (t->state == T_ONGOING)
        set_state(t, commit ? T_PREPARE_COMMIT : T_PREPARE_ABORT);
    t->busy = 1;
    p->nparts = t->nparts;
    p->parts = calloc((size_t)t->nparts + 1, sizeof *p->parts);
    p->noffsets = commit ? t->noffsets : 0;
    p->ogroups = calloc((size_t)p->noffsets + 1, sizeof *p->ogroups);
    p->offsets = calloc((size_t)p->noffsets + 1, sizeof *p->offsets);
    if (!p->parts || !p->ogroups || !p->offsets)
        abort();
    for (int i = 0; i < t->nparts; i++) {
        p->parts[i].topic = dup_s(t->parts[i].topic);
        p->parts[i].partition = t->parts[i].partition;
    }
    /* Offsets sorted by group so finish() commits each group once. */
    int k = 0;
    for (int g = 0; g < t->ngroups + 1 && k < p->noffsets; g++)
        for (int i = 0; i < t->noffsets; i++) {
            const char *grp = g < t->ngroups ? t->groups[g] : NULL;
            int in_known = 0;
            for (int q = 0; q < t->ngroups; q++)
                in_known |= strcmp(t->offset_groups[i], t->groups[q]) == 0;
            if ((grp && strcmp(t->offset_groups[i], grp) == 0) || (!grp && !in_known)) {
                p->ogroups[k] = dup_s(t->offset_groups[i]);
                p->offsets[k] = t->offsets[i];
                p->offsets[k].topic = dup_s(t->offsets[i].topic);
                p->offsets[k].metadata = dup_s(t->offsets[i].metadata);
                k++;
            }
        }
    p->noffsets = k;
    take(t, &p->prepare);
}

static void free_plan(end_plan *p)
{
    for (int i = 0; i < p->nparts; i++)
        free(p->parts[i].topic);
    for (int i = 0; i < p->noffsets; i++) {
        free(p->ogroups[i]);
        free(p->offsets[i].topic);
        free(p->offsets[i].metadata);
    }
    free(p->parts);
    free(p->ogroups);
    free(p->offsets);
}

/* Aborts t's open transaction (timeout or fencing). Called with tmu held;
 * returns with tmu held (released while the markers are written). */
static void abort_locked(txn *t, const char *why)
{
    if (t->state != T_ONGOING || t->busy)
        return;
    rn_info("transaction %s (producer %lld epoch %d): aborting, %s", t->id, (long long)t->pid, t->epoch, why);
    end_plan p;
    plan_end(t, 0, &p);
    pthread_mutex_unlock(&tmu);
    finish(t, 0, p.parts, p.nparts, p.ogroups, p.offsets, p.noffsets, &p.prepare);
    free_plan(&p);
    pthread_mutex_lock(&tmu);
}

/* Waits until no end is in progress for t (caller holds tmu). */
static void wait_idle(txn *t)
{
    while (t->busy)
        pthread_cond_wait(&tcv, &tmu);
}

/* ---- API ---- */

int16_t rn_txn_init_producer(rn_tbytes txn_id, int32_t timeout_ms, int64_t expect_pid, int16_t expect_epoch,
                             int64_t *pid_out, int16_t *epoch_out)
{
    *pid_out = -1;
    *epoch_out = -1;
    if (txn_id.len <= 0)
        return E_INVALID_REQUEST;
    if (timeout_ms <= 0 || timeout_ms > H.max_timeout_ms)
        return E_INVALID_TRANSACTION_TIMEOUT;
    pthread_mutex_lock(&tmu);
    if (!running) {
        pthread_mutex_unlock(&tmu);
        return E_COORDINATOR_NOT_AVAILABLE;
    }
    txn *t = find(txn_id);
    if (!t)
        t = create(txn_id);
    wait_idle(t);
    if (expect_pid >= 0 && t->pid >= 0 && (expect_pid != t->pid || expect_epoch != t->epoch)) {
        pthread_mutex_unlock(&tmu);
        return expect_pid != t->pid ? E_INVALID_PRODUCER_ID_MAPPING : E_PRODUCER_FENCED;
    }
    /* A previous incarnation's open transaction is aborted: it is fenced. */
    if (t->state == T_ONGOING) {
        if (t->epoch < EPOCH_MAX - 1)
            t->epoch++; /* markers carry the new epoch, fencing the old producer's writes */
        abort_locked(t, "a new producer initialised the transactional id");
        wait_idle(t);
    }
    if (t->state == T_DEAD)
        t->state = T_EMPTY;
    if (t->pid < 0 || t->epoch >= EPOCH_MAX - 1) {
        int64_t pid = H.new_producer_id();
        if (pid < 0) {
            pthread_mutex_unlock(&tmu);
            return E_KAFKA_STORAGE_ERROR;
        }
        t->pid = pid;
        t->epoch = 0;
    } else {
        t->epoch++;
    }
    t->timeout_ms = timeout_ms;
    if (t->state != T_EMPTY)
        set_state(t, T_EMPTY);
    t->update_ms = rn_now_ms();
    snapshot s;
    take(t, &s);
    int64_t pid = t->pid;
    int16_t epoch = t->epoch;
    pthread_mutex_unlock(&tmu);
    if (put(&s) < 0)
        return E_KAFKA_STORAGE_ERROR;
    *pid_out = pid;
    *epoch_out = epoch;
    return E_NONE;
}

/* Common checks of the calls made by a producer within a transaction. */
static int16_t check_producer(txn *t, int64_t pid, int16_t epoch)
{
    if (!t || t->state == T_DEAD)
        return E_INVALID_PRODUCER_ID_MAPPING;
    if (t->pid != pid)
        return E_INVALID_PRODUCER_ID_MAPPING;
    if (epoch < t->epoch)
        return E_PRODUCER_FENCED;
    if (epoch != t->epoch)
        return E_INVALID_PRODUCER_EPOCH;
    return E_NONE;
}

static void begin_if_needed(txn *t, uint64_t conn_seq)
{
    if (t->state != T_ONGOING) {
        set_state(t, T_ONGOING);
        t->start_ms = rn_now_ms();
        t->begin_conn_seq = conn_seq;
    }
}

int16_t rn_txn_add_partitions(rn_tbytes txn_id, int64_t pid, int16_t epoch, const rn_tbytes *topics,
                              const int32_t *partitions, int n, int16_t *errors_out, uint64_t conn_seq,
                              int verify_only)
{
    pthread_mutex_lock(&tmu);
    txn *t = find(txn_id);
    int16_t err = check_producer(t, pid, epoch);
    if (err == E_NONE && (t->busy || t->state == T_PREPARE_COMMIT || t->state == T_PREPARE_ABORT))
        err = E_CONCURRENT_TRANSACTIONS;
    int bad = 0;
    for (int i = 0; i < n && err == E_NONE; i++) {
        errors_out[i] = H.partition_exists(topics[i], partitions[i]) ? E_NONE : E_UNKNOWN_TOPIC_OR_PARTITION;
        bad |= errors_out[i] != E_NONE;
    }
    if (err != E_NONE || bad) {
        for (int i = 0; i < n; i++)
            if (err != E_NONE)
                errors_out[i] = err;
            else if (errors_out[i] == E_NONE)
                errors_out[i] = E_OPERATION_NOT_ATTEMPTED;
        pthread_mutex_unlock(&tmu);
        return err;
    }
    if (verify_only) {
        for (int i = 0; i < n; i++) {
            int found = 0;
            for (int j = 0; j < t->nparts && t->state == T_ONGOING; j++)
                found |= t->parts[j].partition == partitions[i] && teq(topics[i], t->parts[j].topic);
            errors_out[i] = found ? E_NONE : E_INVALID_TXN_STATE;
        }
        pthread_mutex_unlock(&tmu);
        return E_NONE;
    }
    begin_if_needed(t, conn_seq);
    for (int i = 0; i < n; i++) {
        char *topic = dup_t(topics[i]);
        add_part(t, topic, partitions[i]);
        free(topic);
        errors_out[i] = E_NONE;
    }
    snapshot s;
    take(t, &s);
    pthread_mutex_unlock(&tmu);
    if (put(&s) < 0) {
        for (int i = 0; i < n; i++)
            errors_out[i] = E_KAFKA_STORAGE_ERROR;
        return E_KAFKA_STORAGE_ERROR;
    }
    return E_NONE;
}

int16_t rn_txn_add_offsets(rn_tbytes txn_id, int64_t pid, int16_t epoch, rn_tbytes group, uint64_t conn_seq)
{
    if (group.len <= 0)
        return 24; /* INVALID_GROUP_ID */
    pthread_mutex_lock(&tmu);
    txn *t = find(txn_id);
    int16_t err = check_producer(t, pid, epoch);
    if (err == E_NONE && (t->busy || t->state == T_PREPARE_COMMIT || t->state == T_PREPARE_ABORT))
        err = E_CONCURRENT_TRANSACTIONS;
    if (err != E_NONE) {
        pthread_mutex_unlock(&tmu);
        return err;
    }
    begin_if_needed(t, conn_seq);
    char *g = dup_t(group);
    add_group(t, g);
    free(g);
    snapshot s;
    take(t, &s);
    pthread_mutex_unlock(&tmu);
    return put(&s) < 0 ? E_KAFKA_STORAGE_ERROR : E_NONE;
}

int16_t rn_txn_offset_commit(rn_tbytes txn_id, rn_tbytes group, int64_t pid, int16_t epoch,
                             const rn_txn_offset *offsets, int n)
{
    pthread_mutex_lock(&tmu);
    txn *t = find(txn_id);
    int16_t err = check_producer(t, pid, epoch);
    char *g = dup_t(group);
    if (err == E_NONE) {
        int known = 0;
        for (int i = 0; i < t->ngroups; i++)
            known |= g && strcmp(t->groups[i], g) == 0;
        if (t->state != T_ONGOING || !known)
            err = E_INVALID_TXN_STATE; /* AddOffsetsToTxn must come first */
    }
    if (err != E_NONE) {
        pthread_mutex_unlock(&tmu);
        free(g);
        return err;
    }
    for (int i = 0; i < n; i++)
        add_offset(t, g, &offsets[i]);
    free(g);
    snapshot s;
    take(t, &s);
    pthread_mutex_unlock(&tmu);
    return put(&s) < 0 ? E_KAFKA_STORAGE_ERROR : E_NONE;
}

int16_t rn_txn_end(rn_tbytes txn_id, int64_t pid, int16_t epoch, int commit, uint64_t conn_seq)
{
    pthread_mutex_lock(&tmu);
    txn *t = find(txn_id);
    int16_t err = check_producer(t, pid, epoch);
    if (err != E_NONE) {
        pthread_mutex_unlock(&tmu);
        return err;
    }
    wait_idle(t);
    switch (t->state) {
    case T_ONGOING:
        if (conn_seq < t->begin_conn_seq) {
            /* Sent before this transaction began: a late retry of the
             * previous EndTxn. Ending this transaction with it would commit
             * or abort work the producer has not finished. */
            rn_warn("transaction %s: EndTxn from an older connection than the transaction's refused", t->id);
            pthread_mutex_unlock(&tmu);
            return E_INVALID_TXN_STATE;
        }
        break;
    case T_COMPLETE_COMMIT:
    case T_COMPLETE_ABORT:
        /* A retry of the end that already happened: same answer. */
        err = (t->state == T_COMPLETE_COMMIT) == (commit != 0) ? E_NONE : E_INVALID_TXN_STATE;
        pthread_mutex_unlock(&tmu);
        return err;
    case T_EMPTY:
        /* Nothing was added: an abort of nothing is fine (librdkafka does it
         * after init), a commit is not. */
        pthread_mutex_unlock(&tmu);
        return commit ? E_INVALID_TXN_STATE : E_NONE;
    default:
        pthread_mutex_unlock(&tmu);
        return E_CONCURRENT_TRANSACTIONS;
    }
    end_plan p;
    plan_end(t, commit, &p);
    pthread_mutex_unlock(&tmu);
    err = finish(t, commit, p.parts, p.nparts, p.ogroups, p.offsets, p.noffsets, &p.prepare);
    free_plan(&p);
    return err;
}

int rn_txn_partition_open(int64_t pid, int16_t epoch, rn_tbytes topic, int32_t partition)
{
    pthread_mutex_lock(&tmu);
    int ok = 0;
    for (size_t i = 0; i < nbuckets && !ok; i++)
        for (txn *t = buckets[i]; t && !ok; t = t->next) {
            if (t->pid != pid)
                continue;
            if (t->epoch == epoch && t->state == T_ONGOING && !t->busy)
                for (int j = 0; j < t->nparts && !ok; j++)
                    ok = t->parts[j].partition == partition && teq(topic, t->parts[j].topic);
            break;
        }
    pthread_mutex_unlock(&tmu);
    return ok;
}

/* ---- describe ---- */

static void describe_one(const txn *t, rn_txn_desc *d)
{
    d->txn_id = dup_s(t->id);
    d->state = state_names[t->state];
    d->producer_id = t->pid;
    d->epoch = t->epoch;
    d->timeout_ms = t->timeout_ms;
    d->start_ms = t->state == T_ONGOING ? t->start_ms : -1;
    d->npartitions = t->nparts;
    d->topics = calloc((size_t)t->nparts + 1, sizeof *d->topics);
    d->partitions = calloc((size_t)t->nparts + 1, sizeof *d->partitions);
    if (!d->topics || !d->partitions)
        abort();
    for (int i = 0; i < t->nparts; i++) {
        d->topics[i] = dup_s(t->parts[i].topic);
        d->partitions[i] = t->parts[i].partition;
    }
}

int rn_txn_list(rn_txn_desc **out, int *n)
{
    pthread_mutex_lock(&tmu);
    rn_txn_desc *d = calloc((size_t)ntxns + 1, sizeof *d);
    if (!d) {
        pthread_mutex_unlock(&tmu);
        return -1;
    }
    int k = 0;
    for (size_t i = 0; i < nbuckets; i++)
        for (txn *t = buckets[i]; t; t = t->next)
            if (t->state != T_DEAD)
                describe_one(t, &d[k++]);
    pthread_mutex_unlock(&tmu);
    *out = d;
    *n = k;
    return 0;
}

int16_t rn_txn_describe(rn_tbytes txn_id, rn_txn_desc *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&tmu);
    txn *t = find(txn_id);
    int16_t err = E_NONE;
    if (!t || t->state == T_DEAD)
        err = E_TRANSACTIONAL_ID_NOT_FOUND;
    else
        describe_one(t, out);
    pthread_mutex_unlock(&tmu);
    if (err)
        out->txn_id = dup_t(txn_id.len >= 0 ? txn_id : (rn_tbytes){"", 0});
    return err;
}

void rn_txn_desc_free(rn_txn_desc *d, int n)
{
    for (int i = 0; i < n; i++) {
        free(d[i].txn_id);
        for (int j = 0; j < d[i].npartitions; j++)
            free(d[i].topics[j]);
        free(d[i].topics);
        free(d[i].partitions);
    }
}

/* ---- recovery and timeouts ---- */

void rn_txn_recover(void)
{
    pthread_mutex_lock(&tmu);
    for (size_t i = 0; i < nbuckets; i++)
        for (txn *t = buckets[i]; t; t = t->next) {
            if (t->state != T_PREPARE_COMMIT && t->state != T_PREPARE_ABORT)
                continue;
            int commit = t->state == T_PREPARE_COMMIT;
            rn_info("transaction %s: finishing its %s after a restart", t->id, commit ? "commit" : "abort");
            end_plan p;
            plan_end(t, commit, &p);
            pthread_mutex_unlock(&tmu);
            finish(t, commit, p.parts, p.nparts, p.ogroups, p.offsets, p.noffsets, NULL);
            rn_bin_writer_release(&p.prepare.k); /* already in the log: not written again */
            rn_bin_writer_release(&p.prepare.v);
            free_plan(&p);
            pthread_mutex_lock(&tmu);
        }
    pthread_mutex_unlock(&tmu);
}

static void *timer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&tmu);
    while (!stopping) {
        struct timespec ts;
        rn_deadline_after_ms(&ts, 1000);
        pthread_cond_timedwait(&tcv, &tmu, &ts);
        if (stopping)
            break;
        int64_t now = rn_now_ms();
        /* Restart the scan after each abort: the lock was released meanwhile. */
        for (int again = 1; again && !stopping;) {
            again = 0;
            for (size_t i = 0; i < nbuckets && !again; i++)
                for (txn *t = buckets[i]; t && !again; t = t->next)
                    if (t->state == T_ONGOING && !t->busy && t->start_ms + t->timeout_ms < now) {
                        /* Kafka bumps the epoch so the timed-out producer is fenced. */
                        if (t->epoch < EPOCH_MAX - 1)
                            t->epoch++;
                        abort_locked(t, "its transaction timed out");
                        again = 1;
                    }
        }
    }
    pthread_mutex_unlock(&tmu);
    return NULL;
}

int rn_txn_start(const rn_txn_hooks *hooks)
{
    pthread_mutex_lock(&tmu);
    H = *hooks;
    if (!nbuckets)
        grow();
    stopping = 0;
    running = 1;
    pthread_mutex_unlock(&tmu);
    if (pthread_create(&timer, NULL, timer_main, NULL) != 0) {
        running = 0;
        return -EAGAIN;
    }
    return 0;
}

void rn_txn_stop(void)
{
    pthread_mutex_lock(&tmu);
    int was = running;
    running = 0;
    stopping = 1;
    pthread_cond_broadcast(&tcv);
    pthread_mutex_unlock(&tmu);
    if (was)
        pthread_join(timer, NULL);
    pthread_mutex_lock(&tmu);
    for (size_t i = 0; i < nbuckets; i++)
        while (buckets[i]) {
            txn *t = buckets[i];
            buckets[i] = t->next;
            clear_txn_contents(t);
            free(t->parts);
            free(t->groups);
            free(t->offsets);
            free(t->offset_groups);
            free(t->id);
            free(t);
        }
    free(buckets);
    buckets = NULL;
    nbuckets = 0;
    ntxns = 0;
    pthread_mutex_unlock(&tmu);
}

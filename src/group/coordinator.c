/*
 * coordinator.c - Kafka's classic group protocol: membership, rebalances,
 * generations, committed offsets.
 *
 * States (one function changes them, set_state(), which asserts legality):
 *
 *            join (first member)            every member rejoined, or the
 *   +-------+ ------------------> +--------------------+ rebalance timeout
 *   | Empty |                     | PreparingRebalance | ------------------+
 *   +-------+ <------------------ +--------------------+                   |
 *     |   ^     all members left        ^          ^                      v
 *     |   |     / expired               |          | join, leave,  +---------------------+
 *     |   |                             |          | expiry        | CompletingRebalance |
 *     |   +-----------------------------|----------|-------------- +---------------------+
 *     |     last member gone            |          |                  | leader's SyncGroup
 *     v                                 |          |                  v
 *   +------+   DeleteGroups             |          +------------ +--------+
 *   | Dead | <-- (Empty only)           +----------------------- | Stable |
 *   +------+                              join (changed), leave   +--------+
 *
 *   Empty -> PreparingRebalance              prepare_rebalance()  (a member joins)
 *   PreparingRebalance -> CompletingRebalance complete_join()     (all rejoined / timeout)
 *   PreparingRebalance -> Empty              complete_join()      (nobody rejoined)
 *   CompletingRebalance -> Stable            rn_group_sync()      (the leader's assignment)
 *   Stable|CompletingRebalance -> PreparingRebalance prepare_rebalance()
 *   any (no members) -> Empty                remove_member()
 *   Empty -> Dead                            rn_group_delete()
 *
 * Invariants:
 *   1. generation increases by one each time a rebalance completes.
 *   2. In CompletingRebalance and Stable, every member joined the current generation.
 *   3. A member has at most one parked JoinGroup and one parked SyncGroup.
 *   4. Empty <=> no members (pending KIP-394 member ids do not count).
 *
 * One mutex guards everything; a timer thread expires sessions and
 * finishes rebalances every TICK_MS.
 *
 * __consumer_offsets records (Kafka's, big-endian; string = int16 length +
 * bytes, -1 = null; bytes = int32 length + bytes; a null value is a
 * tombstone):
 *   offset key:   int16 version (1) | string group | string topic | int32 partition
 *   offset value: int16 version (3) | int64 offset | int32 leader epoch
 *                 | string metadata | int64 commit timestamp ms
 *   group key:    int16 version (2) | string group
 *   group value:  int16 version (3) | string protocol type | int32 generation
 *                 | string protocol | string leader | int64 state timestamp ms
 *                 | int32 M, M x (string member id | string instance id
 *                   | string client id | string client host | int32 rebalance timeout ms
 *                   | int32 session timeout ms | bytes subscription | bytes assignment)
 * Loading takes offset keys of version 0 or 1 and offset values of versions
 * 0-3 (the leader epoch from version 3 on), and reads a group value only up
 * to its protocol: members are not restored (see rn_group_load_record).
 */
#include "group/group.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/bin.h"
#include "common/clock.h"
#include "common/rlog.h"
#include "proto/record_codec.h"

#define TICK_MS 50
#define NEW_MEMBER_JOIN_TIMEOUT_MS 300000 /* Kafka's: how long a new member's parked join keeps it alive */

/* Kafka error codes used here. */
enum {
    E_NONE = 0,
    E_COORDINATOR_NOT_AVAILABLE = 15,
    E_ILLEGAL_GENERATION = 22,
    E_INCONSISTENT_GROUP_PROTOCOL = 23,
    E_INVALID_GROUP_ID = 24,
    E_UNKNOWN_MEMBER_ID = 25,
    E_INVALID_SESSION_TIMEOUT = 26,
    E_REBALANCE_IN_PROGRESS = 27,
    E_NON_EMPTY_GROUP = 68,
    E_GROUP_ID_NOT_FOUND = 69,
    E_MEMBER_ID_REQUIRED = 79,
    E_GROUP_MAX_SIZE_REACHED = 81,
    E_FENCED_INSTANCE_ID = 82,
    E_GROUP_SUBSCRIBED_TO_TOPIC = 86,
    E_KAFKA_STORAGE_ERROR = 56,
    E_UNKNOWN_SERVER_ERROR = -1,
};

typedef enum gstate { S_EMPTY, S_PREPARING, S_COMPLETING, S_STABLE, S_DEAD } gstate;
static const char *state_names[] = {"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"};

typedef struct protocol {
    char *name;
    uint8_t *meta;
    int32_t meta_len;
} protocol;

typedef struct member {
    char *id;
    char *instance_id;
    char *client_id, *client_host;
    int32_t session_timeout_ms, rebalance_timeout_ms;
    int nprotocols;
    protocol *protocols;
    uint8_t *assignment;
    int32_t assignment_len;
    void *join_waiter;
    void *sync_waiter;
    int is_new;
    int64_t last_heartbeat_ms;
    struct member *next;
} member;

typedef struct pending_id {
    char *id;
    int64_t expires_ms;
    struct pending_id *next;
} pending_id;

typedef struct offset {
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;
    int64_t commit_ms;
} offset;

typedef struct group {
    char *id;
    gstate state;
    int32_t generation;
    char *protocol_type;
    char *protocol_name;
    char *leader;
    member *members;
    int nmembers;
    pending_id *pending;
    int64_t rebalance_deadline_ms;
    int64_t initial_delay_deadline_ms;
    offset *offsets;
    int noffsets, offsets_cap;
    struct group *next;
} group;

static pthread_mutex_t gmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gcv = PTHREAD_COND_INITIALIZER;
static rn_group_hooks H;
static group **buckets;
static size_t nbuckets;
static int ngroups;
static pthread_t timer_thread;
static int running, stopping;

/* ---- small helpers ---- */

static char *dup_bytes(rn_gbytes b)
{
    if (b.len < 0)
        return NULL;
    char *s = malloc((size_t)b.len + 1);
    if (!s)
        abort(); /* coordinator state must not be half-built */
    memcpy(s, b.ptr, (size_t)b.len);
    s[b.len] = 0;
    return s;
}

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static uint8_t *dup_mem(const uint8_t *p, int32_t len)
{
    if (len <= 0)
        return NULL;
    uint8_t *d = malloc((size_t)len);
    if (!d)
        abort();
    memcpy(d, p, (size_t)len);
    return d;
}

static int eq(rn_gbytes b, const char *s)
{
    if (!s)
        return b.len < 0;
    return b.len >= 0 && (size_t)b.len == strlen(s) && memcmp(b.ptr, s, (size_t)b.len) == 0;
}

static int is_null_or_empty(rn_gbytes b) { return b.len <= 0; }

/* Kafka places a group on partition abs(groupId.hashCode) % n (Java's String.hashCode). */
int32_t rn_group_partition_for(rn_gbytes group_id, int32_t npartitions)
{
    int32_t h = 0;
    for (int32_t i = 0; i < group_id.len; i++)
        h = (int32_t)((uint32_t)h * 31u + group_id.ptr[i]);
    int64_t a = h < 0 ? -(int64_t)h : h;
    return (int32_t)(a % (npartitions > 0 ? npartitions : 1));
}

/* ---- the group table ---- */

static group *find_group(rn_gbytes id)
{
    if (!nbuckets || id.len < 0)
        return NULL;
    for (group *g = buckets[rn_hash_bytes(id.ptr, (size_t)id.len) & (nbuckets - 1)]; g; g = g->next)
        if (eq(id, g->id))
            return g;
    return NULL;
}

static void table_grow(void)
{
    size_t n = nbuckets ? nbuckets * 2 : 256;
    group **nb = calloc(n, sizeof *nb);
    if (!nb)
        abort();
    for (size_t i = 0; i < nbuckets; i++)
        for (group *g = buckets[i], *next; g; g = next) {
            next = g->next;
            size_t s = rn_hash_bytes(g->id, strlen(g->id)) & (n - 1);
            g->next = nb[s];
            nb[s] = g;
        }
    free(buckets);
    buckets = nb;
    nbuckets = n;
}

static group *create_group(rn_gbytes id)
{
    if ((size_t)ngroups + 1 > nbuckets / 2)
        table_grow();
    group *g = calloc(1, sizeof *g);
    if (!g)
        abort();
    g->id = dup_bytes(id);
    g->state = S_EMPTY;
    size_t s = rn_hash_bytes(id.ptr, (size_t)id.len) & (nbuckets - 1);
    g->next = buckets[s];
    buckets[s] = g;
    ngroups++;
    return g;
}

static void free_member(member *m)
{
    free(m->id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    for (int i = 0; i < m->nprotocols; i++) {
        free(m->protocols[i].name);
        free(m->protocols[i].meta);
    }
    free(m->protocols);
    free(m->assignment);
    free(m);
}

static void destroy_group(group *g)
{
    size_t s = rn_hash_bytes(g->id, strlen(g->id)) & (nbuckets - 1);
    for (group **pp = &buckets[s]; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    ngroups--;
    while (g->members) {
        member *m = g->members;
        g->members = m->next;
        free_member(m);
    }
    while (g->pending) {
        pending_id *p = g->pending;
        g->pending = p->next;
        free(p->id);
        free(p);
    }
    for (int i = 0; i < g->noffsets; i++) {
        free(g->offsets[i].topic);
        free(g->offsets[i].metadata);
    }
    free(g->offsets);
    free(g->id);
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->leader);
    free(g);
}

static member *find_member(group *g, rn_gbytes id)
{
    for (member *m = g->members; m; m = m->next)
        if (eq(id, m->id))
            return m;
    return NULL;
}

static member *find_static(group *g, rn_gbytes instance_id)
{
    if (instance_id.len < 0)
        return NULL;
    for (member *m = g->members; m; m = m->next)
        if (m->instance_id && eq(instance_id, m->instance_id))
            return m;
    return NULL;
}

static char *new_member_id(rn_gbytes client_id, rn_gbytes instance_id)
{
    uint8_t r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        abort();
    rn_gbytes prefix = instance_id.len >= 0 ? instance_id : client_id;
    int plen = prefix.len > 0 ? (prefix.len > 200 ? 200 : prefix.len) : 0;
    char *s = malloc((size_t)plen + 40);
    if (!s)
        abort();
    int n = snprintf(s, (size_t)plen + 40, "%.*s-", plen, plen ? (const char *)prefix.ptr : "");
    for (int i = 0; i < 16; i++) {
        snprintf(s + n, 3, "%02x", r[i]);
        n += 2;
        if (i == 3 || i == 5 || i == 7 || i == 9)
            s[n++] = '-';
    }
    s[n] = 0;
    return s;
}

/* ---- persistence: Kafka's __consumer_offsets key and value formats ---- */

static int64_t write_records(group *g, const rn_kv *kvs, int n)
{
    if (!H.append)
        return 0;
    size_t bound = rn_batch_build_bound(kvs, n);
    uint8_t *buf = malloc(bound);
    if (!buf)
        return -ENOMEM;
    size_t len = rn_batch_build(buf, bound, rn_now_ms(), kvs, n);
    rn_gbytes id = {(const uint8_t *)g->id, (int32_t)strlen(g->id)};
    int64_t ticket = len ? H.append(rn_group_partition_for(id, H.offsets_partitions), buf, len) : -EINVAL;
    free(buf);
    return ticket;
}

static void offset_key(rn_bin_writer *k, const char *group_id, const char *topic, int32_t partition)
{
    rn_bin_put_be(k, 1, 2);
    rn_bin_put_str(k, group_id);
    rn_bin_put_str(k, topic);
    rn_bin_put_be(k, (uint32_t)partition, 4);
}

static void group_key(rn_bin_writer *k, const char *group_id)
{
    rn_bin_put_be(k, 2, 2);
    rn_bin_put_str(k, group_id);
}

/* Group metadata value v3 (generation, protocol, leader, members). */
static void group_value(rn_bin_writer *v, group *g)
{
    rn_bin_put_be(v, 3, 2);
    rn_bin_put_str(v, g->protocol_type ? g->protocol_type : "");
    rn_bin_put_be(v, (uint32_t)g->generation, 4);
    rn_bin_put_str(v, g->protocol_name);
    rn_bin_put_str(v, g->leader);
    rn_bin_put_be(v, (uint64_t)rn_now_ms(), 8);
    rn_bin_put_be(v, (uint32_t)g->nmembers, 4);
    for (member *m = g->members; m; m = m->next) {
        rn_bin_put_str(v, m->id);
        rn_bin_put_str(v, m->instance_id);
        rn_bin_put_str(v, m->client_id);
        rn_bin_put_str(v, m->client_host);
        rn_bin_put_be(v, (uint32_t)m->rebalance_timeout_ms, 4);
        rn_bin_put_be(v, (uint32_t)m->session_timeout_ms, 4);
        const uint8_t *meta = NULL;
        int32_t meta_len = 0;
        for (int i = 0; i < m->nprotocols; i++)
            if (g->protocol_name && strcmp(m->protocols[i].name, g->protocol_name) == 0) {
                meta = m->protocols[i].meta;
                meta_len = m->protocols[i].meta_len;
            }
        rn_bin_put_bytes(v, meta, meta_len);
        rn_bin_put_bytes(v, m->assignment, m->assignment_len);
    }
}

static int64_t persist_group(group *g, int tombstone)
{
    rn_bin_writer k = {0}, v = {0};
    group_key(&k, g->id);
    if (!tombstone)
        group_value(&v, g);
    rn_kv kv = {k.buf, (int32_t)k.len, tombstone ? NULL : v.buf, tombstone ? -1 : (int32_t)v.len};
    int64_t t = write_records(g, &kv, 1);
    rn_bin_writer_release(&k);
    rn_bin_writer_release(&v);
    return t;
}

/* ---- loading ---- */

static offset *find_offset(group *g, const char *topic, int32_t partition)
{
    for (int i = 0; i < g->noffsets; i++)
        if (g->offsets[i].partition == partition && strcmp(g->offsets[i].topic, topic) == 0)
            return &g->offsets[i];
    return NULL;
}

static void remove_offset(group *g, offset *o)
{
    free(o->topic);
    free(o->metadata);
    *o = g->offsets[--g->noffsets];
}

static offset *upsert_offset(group *g, const char *topic, int32_t partition)
{
    offset *o = find_offset(g, topic, partition);
    if (o)
        return o;
    if (g->noffsets == g->offsets_cap) {
        int cap = g->offsets_cap ? g->offsets_cap * 2 : 8;
        offset *n = realloc(g->offsets, (size_t)cap * sizeof *n);
        if (!n)
            abort();
        g->offsets = n;
        g->offsets_cap = cap;
    }
    o = &g->offsets[g->noffsets++];
    memset(o, 0, sizeof *o);
    o->topic = dup_str(topic);
    o->partition = partition;
    return o;
}

void rn_group_load_record(const uint8_t *key, int32_t key_len, const uint8_t *value, int32_t value_len)
{
    if (key_len < 2)
        return;
    rn_bin_reader k;
    rn_bin_reader_init(&k, key, (size_t)key_len);
    int version = (int)rn_bin_get_be(&k, 2);
    char *gid = rn_bin_get_str_dup(&k);
    if (k.err || !gid)
        goto out;
    rn_gbytes id = {(const uint8_t *)gid, (int32_t)strlen(gid)};
    pthread_mutex_lock(&gmu);
    group *g = find_group(id);
    if (version <= 1) {
        char *topic = rn_bin_get_str_dup(&k);
        int32_t partition = (int32_t)rn_bin_get_be(&k, 4);
        if (!k.err && topic) {
            if (!value) {
                offset *o = g ? find_offset(g, topic, partition) : NULL;
                if (o)
                    remove_offset(g, o);
            } else {
                rn_bin_reader v;
                rn_bin_reader_init(&v, value, value_len < 0 ? 0 : (size_t)value_len);
                int vv = (int)rn_bin_get_be(&v, 2);
                int64_t off = (int64_t)rn_bin_get_be(&v, 8);
                int32_t epoch = vv >= 3 ? (int32_t)rn_bin_get_be(&v, 4) : -1;
                char *meta = rn_bin_get_str_dup(&v);
                int64_t ts = (int64_t)rn_bin_get_be(&v, 8);
                if (!v.err) {
                    if (!g)
                        g = create_group(id);
                    offset *o = upsert_offset(g, topic, partition);
                    o->offset = off;
                    o->leader_epoch = epoch;
                    free(o->metadata);
                    o->metadata = meta;
                    meta = NULL;
                    o->commit_ms = ts;
                }
                free(meta);
            }
        }
        free(topic);
    } else if (version == 2) {
        if (!value) {
            if (g && g->state == S_EMPTY)
                destroy_group(g);
        } else {
            rn_bin_reader v;
            rn_bin_reader_init(&v, value, value_len < 0 ? 0 : (size_t)value_len);
            (void)rn_bin_get_be(&v, 2);
            char *ptype = rn_bin_get_str_dup(&v);
            int32_t gen = (int32_t)rn_bin_get_be(&v, 4);
            char *pname = rn_bin_get_str_dup(&v);
            if (!v.err) {
                if (!g)
                    g = create_group(id);
                /* Members are not restored: after a restart they rejoin (or
                 * heartbeat, get UNKNOWN_MEMBER_ID, and rejoin). Generation
                 * and protocol carry on so old generations stay fenced. */
                g->generation = gen;
                free(g->protocol_type);
                g->protocol_type = ptype && *ptype ? ptype : NULL;
                if (g->protocol_type != ptype)
                    free(ptype);
                ptype = NULL;
                free(g->protocol_name);
                g->protocol_name = pname;
                pname = NULL;
            }
            free(ptype);
            free(pname);
        }
    }
    pthread_mutex_unlock(&gmu);
out:
    free(gid);
}

/* ---- state changes ---- */

static void set_state(group *g, gstate to)
{
    gstate from = g->state;
    int ok = 0;
    switch (to) {
    case S_EMPTY: ok = from == S_PREPARING || from == S_COMPLETING || from == S_STABLE || from == S_EMPTY; break;
    case S_PREPARING: ok = from == S_EMPTY || from == S_COMPLETING || from == S_STABLE; break;
    case S_COMPLETING: ok = from == S_PREPARING; break;
    case S_STABLE: ok = from == S_COMPLETING; break;
    case S_DEAD: ok = from == S_EMPTY; break;
    }
    assert(ok && "illegal group state transition");
    (void)ok;
    g->state = to;
}

static int32_t max_rebalance_timeout(group *g)
{
    int32_t t = 0;
    for (member *m = g->members; m; m = m->next)
        if (m->rebalance_timeout_ms > t)
            t = m->rebalance_timeout_ms;
    return t;
}

static rn_sync_result *sync_error(int16_t err)
{
    rn_sync_result *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->error = err;
    return r;
}

static rn_join_result *join_error(int16_t err, const char *member_id)
{
    rn_join_result *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->error = err;
    r->generation_id = -1;
    r->member_id = dup_str(member_id ? member_id : "");
    r->leader_id = dup_str("");
    return r;
}

static void fail_syncs(group *g, int16_t err)
{
    for (member *m = g->members; m; m = m->next)
        if (m->sync_waiter) {
            void *w = m->sync_waiter;
            m->sync_waiter = NULL;
            H.sync_done(w, sync_error(err));
        }
}

static void prepare_rebalance(group *g)
{
    if (g->state == S_PREPARING)
        return;
    if (g->state == S_COMPLETING)
        fail_syncs(g, E_REBALANCE_IN_PROGRESS);
    int64_t now = rn_mono_ms();
    int was_empty = g->state == S_EMPTY;
    set_state(g, S_PREPARING);
    g->rebalance_deadline_ms = now + max_rebalance_timeout(g);
    /* group.initial.rebalance.delay.ms: a new group waits for more members. */
    g->initial_delay_deadline_ms = was_empty ? now + H.initial_rebalance_delay_ms : 0;
}

static void remove_member(group *g, member *m, int16_t join_error_code)
{
    for (member **pp = &g->members; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    g->nmembers--;
    if (m->join_waiter)
        H.join_done(m->join_waiter, join_error(join_error_code, m->id));
    if (m->sync_waiter)
        H.sync_done(m->sync_waiter, sync_error(join_error_code));
    if (g->leader && strcmp(g->leader, m->id) == 0) {
        free(g->leader);
        g->leader = g->members ? dup_str(g->members->id) : NULL;
    }
    free_member(m);
}

/* Picks the protocol every member supports that most members prefer. */
static const char *select_protocol(group *g)
{
    member *first = g->members;
    if (!first)
        return NULL;
    const char *best = NULL;
    int best_votes = -1;
    for (int i = 0; i < first->nprotocols; i++) {
        const char *cand = first->protocols[i].name;
        int all = 1;
        for (member *m = g->members; m && all; m = m->next) {
            int has = 0;
            for (int j = 0; j < m->nprotocols; j++)
                has |= strcmp(m->protocols[j].name, cand) == 0;
            all = has;
        }
        if (!all)
            continue;
        int votes = 0;
        for (member *m = g->members; m; m = m->next) {
            /* each member votes for its most preferred protocol that all support */
            for (int j = 0; j < m->nprotocols; j++) {
                const char *p = m->protocols[j].name;
                int universal = 1;
                for (member *o = g->members; o && universal; o = o->next) {
                    int has = 0;
                    for (int q = 0; q < o->nprotocols; q++)
                        has |= strcmp(o->protocols[q].name, p) == 0;
                    universal = has;
                }
                if (universal) {
                    votes += strcmp(p, cand) == 0;
                    break;
                }
            }
        }
        if (votes > best_votes) {
            best = cand;
            best_votes = votes;
        }
    }
    return best;
}

static const protocol *member_protocol(member *m, const char *name)
{
    for (int i = 0; i < m->nprotocols; i++)
        if (name && strcmp(m->protocols[i].name, name) == 0)
            return &m->protocols[i];
    return NULL;
}

static rn_join_result *join_answer(group *g, member *m)
{
    rn_join_result *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->error = E_NONE;
    r->generation_id = g->generation;
    r->protocol_type = dup_str(g->protocol_type);
    r->protocol_name = dup_str(g->protocol_name);
    r->leader_id = dup_str(g->leader ? g->leader : "");
    r->member_id = dup_str(m->id);
    if (g->leader && strcmp(g->leader, m->id) == 0) {
        r->members = calloc((size_t)g->nmembers + 1, sizeof *r->members);
        if (!r->members)
            abort();
        for (member *o = g->members; o; o = o->next) {
            rn_join_member *jm = &r->members[r->nmembers++];
            jm->member_id = dup_str(o->id);
            jm->group_instance_id = dup_str(o->instance_id);
            const protocol *p = member_protocol(o, g->protocol_name);
            jm->metadata = p ? dup_mem(p->meta, p->meta_len) : NULL;
            jm->metadata_len = p ? p->meta_len : 0;
        }
    }
    return r;
}

static void complete_join(group *g)
{
    assert(g->state == S_PREPARING);
    /* Members that did not rejoin in time are out. */
    for (member *m = g->members, *next; m; m = next) {
        next = m->next;
        if (!m->join_waiter)
            remove_member(g, m, E_UNKNOWN_MEMBER_ID);
    }
    g->generation++;
    free(g->protocol_name);
    g->protocol_name = NULL;
    if (!g->members) {
        set_state(g, S_EMPTY);
        persist_group(g, 0);
        return;
    }
    g->protocol_name = dup_str(select_protocol(g));
    if (!g->leader || !find_member(g, (rn_gbytes){(const uint8_t *)g->leader, (int32_t)strlen(g->leader)})) {
        free(g->leader);
        g->leader = dup_str(g->members->id);
    }
    set_state(g, S_COMPLETING);
    int64_t now = rn_mono_ms();
    for (member *m = g->members; m; m = m->next) {
        free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
        m->is_new = 0;
        m->last_heartbeat_ms = now;
        void *w = m->join_waiter;
        m->join_waiter = NULL;
        H.join_done(w, join_answer(g, m));
    }
    rn_info("group %s: generation %d with %d members, protocol %s", g->id, g->generation, g->nmembers,
            g->protocol_name ? g->protocol_name : "?");
}

static int all_joined(group *g)
{
    if (g->pending)
        return 0;
    for (member *m = g->members; m; m = m->next)
        if (!m->join_waiter)
            return 0;
    return 1;
}

static void maybe_complete_join(group *g, int64_t now)
{
    if (g->state != S_PREPARING)
        return;
    if (now >= g->rebalance_deadline_ms || (all_joined(g) && now >= g->initial_delay_deadline_ms))
        complete_join(g);
}

/* ---- JoinGroup ---- */

static void set_protocols(member *m, const rn_join_params *p)
{
    for (int i = 0; i < m->nprotocols; i++) {
        free(m->protocols[i].name);
        free(m->protocols[i].meta);
    }
    free(m->protocols);
    m->protocols = calloc((size_t)p->nprotocols + 1, sizeof *m->protocols);
    if (!m->protocols)
        abort();
    m->nprotocols = p->nprotocols;
    for (int i = 0; i < p->nprotocols; i++) {
        m->protocols[i].name = dup_bytes(p->protocols[i].name);
        m->protocols[i].meta = dup_mem(p->protocols[i].metadata.ptr, p->protocols[i].metadata.len);
        m->protocols[i].meta_len = p->protocols[i].metadata.len > 0 ? p->protocols[i].metadata.len : 0;
    }
}

static int same_protocols(member *m, const rn_join_params *p)
{
    if (m->nprotocols != p->nprotocols)
        return 0;
    for (int i = 0; i < p->nprotocols; i++) {
        if (!eq(p->protocols[i].name, m->protocols[i].name))
            return 0;
        int32_t l = p->protocols[i].metadata.len > 0 ? p->protocols[i].metadata.len : 0;
        if (l != m->protocols[i].meta_len || (l && memcmp(p->protocols[i].metadata.ptr, m->protocols[i].meta, (size_t)l)))
            return 0;
    }
    return 1;
}

/* Does the group support at least one of the member's protocols? */
static int protocols_compatible(group *g, const rn_join_params *p)
{
    if (g->state == S_EMPTY && !g->members)
        return p->nprotocols > 0;
    if (g->protocol_type && !eq(p->protocol_type, g->protocol_type))
        return 0;
    for (int i = 0; i < p->nprotocols; i++) {
        int supported_by_all = 1;
        char *name = dup_bytes(p->protocols[i].name);
        for (member *m = g->members; m; m = m->next)
            if (!member_protocol(m, name))
                supported_by_all = 0;
        free(name);
        if (supported_by_all)
            return 1;
    }
    return 0;
}

static member *add_member(group *g, char *id, const rn_join_params *p)
{
    member *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    m->id = id;
    m->instance_id = dup_bytes(p->group_instance_id);
    m->client_id = dup_bytes(p->client_id.len >= 0 ? p->client_id : (rn_gbytes){(const uint8_t *)"", 0});
    m->client_host = dup_bytes(p->client_host);
    m->session_timeout_ms = p->session_timeout_ms;
    m->rebalance_timeout_ms = p->rebalance_timeout_ms > 0 ? p->rebalance_timeout_ms : p->session_timeout_ms;
    m->is_new = 1;
    m->last_heartbeat_ms = rn_mono_ms();
    set_protocols(m, p);
    m->next = NULL;
    member **tail = &g->members; /* keep join order: the first member leads */
    while (*tail)
        tail = &(*tail)->next;
    *tail = m;
    g->nmembers++;
    if (!g->protocol_type)
        g->protocol_type = dup_bytes(p->protocol_type);
    return m;
}

/* Parks the member's join and moves the group towards completing it. */
static int park_join(group *g, member *m, void *waiter, rn_join_result *out)
{
    if (m->join_waiter) /* a duplicate join replaces the older one */
        H.join_done(m->join_waiter, join_error(E_REBALANCE_IN_PROGRESS, m->id));
    m->join_waiter = waiter;
    prepare_rebalance(g);
    if (g->initial_delay_deadline_ms) {
        /* Each new member extends the initial delay, up to the rebalance timeout. */
        int64_t d = rn_mono_ms() + H.initial_rebalance_delay_ms;
        g->initial_delay_deadline_ms = d < g->rebalance_deadline_ms ? d : g->rebalance_deadline_ms;
    }
    maybe_complete_join(g, rn_mono_ms()); /* may answer through the hook at once */
    (void)out;
    return 0;
}

int rn_group_join(const rn_join_params *p, void *waiter, rn_join_result *out)
{
    memset(out, 0, sizeof *out);
    out->generation_id = -1;
    int16_t err = E_NONE;
    pthread_mutex_lock(&gmu);
    if (!running) {
        err = E_COORDINATOR_NOT_AVAILABLE;
        goto fail;
    }
    if (is_null_or_empty(p->group_id)) {
        err = E_INVALID_GROUP_ID;
        goto fail;
    }
    if (p->session_timeout_ms < H.min_session_timeout_ms || p->session_timeout_ms > H.max_session_timeout_ms) {
        err = E_INVALID_SESSION_TIMEOUT;
        goto fail;
    }
    group *g = find_group(p->group_id);
    if (!g) {
        if (p->member_id.len > 0) {
            err = E_UNKNOWN_MEMBER_ID;
            goto fail;
        }
        g = create_group(p->group_id);
    }
    if (g->state == S_DEAD) {
        err = E_COORDINATOR_NOT_AVAILABLE;
        goto fail;
    }
    if (!protocols_compatible(g, p)) {
        err = E_INCONSISTENT_GROUP_PROTOCOL;
        goto fail;
    }
    member *m = NULL;
    if (p->member_id.len <= 0) {
        /* A new member, or a static member restarting. */
        member *old = find_static(g, p->group_instance_id);
        if (old) {
            /* KIP-345: the new incarnation takes the old one's place and
             * the old member id is fenced. */
            char *id = new_member_id(p->client_id, p->group_instance_id);
            if (old->join_waiter) {
                H.join_done(old->join_waiter, join_error(E_FENCED_INSTANCE_ID, old->id));
                old->join_waiter = NULL;
            }
            if (old->sync_waiter) {
                H.sync_done(old->sync_waiter, sync_error(E_FENCED_INSTANCE_ID));
                old->sync_waiter = NULL;
            }
            if (g->leader && strcmp(g->leader, old->id) == 0) {
                free(g->leader);
                g->leader = dup_str(id);
            }
            free(old->id);
            old->id = id;
            old->last_heartbeat_ms = rn_mono_ms();
            old->session_timeout_ms = p->session_timeout_ms;
            if (g->state == S_STABLE && same_protocols(old, p)) {
                /* Same subscription: no rebalance; it keeps its assignment. */
                rn_join_result *r = join_answer(g, old);
                *out = *r;
                free(r);
                pthread_mutex_unlock(&gmu);
                return 1;
            }
            set_protocols(old, p);
            m = old;
        } else {
            if (H.max_size > 0 && g->nmembers >= H.max_size) {
                err = E_GROUP_MAX_SIZE_REACHED;
                goto fail;
            }
            char *id = new_member_id(p->client_id, p->group_instance_id);
            if (p->require_known_member_id && p->group_instance_id.len < 0) {
                /* KIP-394: hand out the id first; the member joins with it. */
                pending_id *pi = calloc(1, sizeof *pi);
                if (!pi)
                    abort();
                pi->id = id;
                pi->expires_ms = rn_mono_ms() + p->session_timeout_ms;
                pi->next = g->pending;
                g->pending = pi;
                out->error = E_MEMBER_ID_REQUIRED;
                out->member_id = dup_str(id);
                out->leader_id = dup_str("");
                pthread_mutex_unlock(&gmu);
                return 1;
            }
            m = add_member(g, id, p);
        }
    } else {
        int added = 0;
        m = find_member(g, p->member_id);
        if (!m) {
            /* A KIP-394 member coming back with the id it was given. */
            for (pending_id **pp = &g->pending; *pp; pp = &(*pp)->next)
                if (eq(p->member_id, (*pp)->id)) {
                    pending_id *pi = *pp;
                    *pp = pi->next;
                    if (H.max_size > 0 && g->nmembers >= H.max_size) {
                        free(pi->id);
                        free(pi);
                        err = E_GROUP_MAX_SIZE_REACHED;
                        goto fail;
                    }
                    m = add_member(g, pi->id, p);
                    added = 1;
                    free(pi);
                    break;
                }
        }
        if (!m) {
            err = E_UNKNOWN_MEMBER_ID;
            goto fail;
        }
        if (m->instance_id && p->group_instance_id.len >= 0 && !eq(p->group_instance_id, m->instance_id)) {
            err = E_FENCED_INSTANCE_ID;
            goto fail;
        }
        m->last_heartbeat_ms = rn_mono_ms();
        m->session_timeout_ms = p->session_timeout_ms;
        if (p->rebalance_timeout_ms > 0)
            m->rebalance_timeout_ms = p->rebalance_timeout_ms;
        int same = same_protocols(m, p);
        if (!same)
            set_protocols(m, p);
        if (!added && (g->state == S_STABLE || g->state == S_COMPLETING) && same &&
            !(g->state == S_STABLE && g->leader && strcmp(g->leader, m->id) == 0)) {
            /* Nothing changed: answer with the current generation. */
            rn_join_result *r = join_answer(g, m);
            *out = *r;
            free(r);
            pthread_mutex_unlock(&gmu);
            return 1;
        }
    }
    park_join(g, m, waiter, out);
    pthread_mutex_unlock(&gmu);
    return 0;
fail:
    pthread_mutex_unlock(&gmu);
    out->error = err;
    out->member_id = dup_bytes(p->member_id.len >= 0 ? p->member_id : (rn_gbytes){(const uint8_t *)"", 0});
    out->leader_id = dup_str("");
    return 1;
}

/* ---- SyncGroup ---- */

int rn_group_sync(const rn_sync_params *p, void *waiter, rn_sync_result *out)
{
    memset(out, 0, sizeof *out);
    int16_t err = E_NONE;
    pthread_mutex_lock(&gmu);
    group *g = find_group(p->group_id);
    member *m = g ? find_member(g, p->member_id) : NULL;
    if (!g || !m) {
        err = g && find_static(g, p->group_instance_id) ? E_FENCED_INSTANCE_ID : E_UNKNOWN_MEMBER_ID;
        goto fail;
    }
    if (p->generation_id != g->generation) {
        err = E_ILLEGAL_GENERATION;
        goto fail;
    }
    if ((p->protocol_type.len >= 0 && !eq(p->protocol_type, g->protocol_type)) ||
        (p->protocol_name.len >= 0 && !eq(p->protocol_name, g->protocol_name))) {
        err = E_INCONSISTENT_GROUP_PROTOCOL;
        goto fail;
    }
    m->last_heartbeat_ms = rn_mono_ms();
    if (g->state == S_PREPARING) {
        err = E_REBALANCE_IN_PROGRESS;
        goto fail;
    }
    if (g->state == S_STABLE) {
        out->protocol_type = dup_str(g->protocol_type);
        out->protocol_name = dup_str(g->protocol_name);
        out->assignment = dup_mem(m->assignment, m->assignment_len);
        out->assignment_len = m->assignment_len;
        pthread_mutex_unlock(&gmu);
        return 1;
    }
    if (g->state != S_COMPLETING) {
        err = E_UNKNOWN_MEMBER_ID;
        goto fail;
    }
    if (m->sync_waiter)
        H.sync_done(m->sync_waiter, sync_error(E_REBALANCE_IN_PROGRESS));
    m->sync_waiter = waiter;
    if (g->leader && eq(p->member_id, g->leader)) {
        for (int i = 0; i < p->nassignments; i++) {
            member *t = find_member(g, p->assignment_member_ids[i]);
            if (!t)
                continue;
            free(t->assignment);
            t->assignment = dup_mem(p->assignments[i].ptr, p->assignments[i].len);
            t->assignment_len = p->assignments[i].len > 0 ? p->assignments[i].len : 0;
        }
        set_state(g, S_STABLE);
        persist_group(g, 0);
        for (member *o = g->members; o; o = o->next) {
            if (!o->sync_waiter)
                continue;
            rn_sync_result *r = calloc(1, sizeof *r);
            if (!r)
                abort();
            r->protocol_type = dup_str(g->protocol_type);
            r->protocol_name = dup_str(g->protocol_name);
            r->assignment = dup_mem(o->assignment, o->assignment_len);
            r->assignment_len = o->assignment_len;
            void *w = o->sync_waiter;
            o->sync_waiter = NULL;
            H.sync_done(w, r);
        }
    }
    pthread_mutex_unlock(&gmu);
    return 0;
fail:
    pthread_mutex_unlock(&gmu);
    out->error = err;
    return 1;
}

void rn_group_cancel(void *waiter)
{
    pthread_mutex_lock(&gmu);
    for (size_t i = 0; i < nbuckets; i++)
        for (group *g = buckets[i]; g; g = g->next)
            for (member *m = g->members; m; m = m->next) {
                if (m->join_waiter == waiter)
                    m->join_waiter = NULL;
                if (m->sync_waiter == waiter)
                    m->sync_waiter = NULL;
            }
    pthread_mutex_unlock(&gmu);
}

/* ---- Heartbeat, LeaveGroup ---- */

int16_t rn_group_heartbeat(rn_gbytes group_id, rn_gbytes member_id, rn_gbytes instance_id, int32_t generation)
{
    int16_t err;
    pthread_mutex_lock(&gmu);
    group *g = find_group(group_id);
    member *m = g ? find_member(g, member_id) : NULL;
    if (!g || !m) {
        err = g && find_static(g, instance_id) ? E_FENCED_INSTANCE_ID : E_UNKNOWN_MEMBER_ID;
    } else if (generation != g->generation) {
        err = E_ILLEGAL_GENERATION;
    } else {
        m->last_heartbeat_ms = rn_mono_ms();
        err = g->state == S_PREPARING ? E_REBALANCE_IN_PROGRESS : E_NONE;
    }
    pthread_mutex_unlock(&gmu);
    return err;
}

int16_t rn_group_leave(rn_gbytes group_id, rn_gbytes member_id, rn_gbytes instance_id)
{
    int16_t err = E_NONE;
    pthread_mutex_lock(&gmu);
    group *g = find_group(group_id);
    member *m = NULL;
    if (g && instance_id.len >= 0) {
        m = find_static(g, instance_id);
        if (m && member_id.len > 0 && !eq(member_id, m->id)) {
            err = E_FENCED_INSTANCE_ID;
            goto out;
        }
    } else if (g) {
        m = find_member(g, member_id);
    }
    if (!m) {
        err = E_UNKNOWN_MEMBER_ID;
        goto out;
    }
    rn_info("group %s: member %s left", g->id, m->id);
    remove_member(g, m, E_UNKNOWN_MEMBER_ID);
    if (!g->members && g->state != S_PREPARING) {
        set_state(g, S_EMPTY);
        persist_group(g, 0);
    } else if (g->state == S_STABLE || g->state == S_COMPLETING) {
        prepare_rebalance(g);
    } else {
        maybe_complete_join(g, rn_mono_ms());
    }
out:
    pthread_mutex_unlock(&gmu);
    return err;
}

/* ---- offsets ---- */

static int16_t commit_allowed(group *g, rn_gbytes member_id, rn_gbytes instance_id, int32_t generation)
{
    if (!g)
        return generation < 0 ? E_NONE : E_ILLEGAL_GENERATION;
    if (generation < 0 && g->state == S_EMPTY)
        return E_NONE; /* a consumer that manages its own assignment */
    member *m = find_member(g, member_id);
    if (!m)
        return find_static(g, instance_id) ? E_FENCED_INSTANCE_ID : E_UNKNOWN_MEMBER_ID;
    if (g->state == S_COMPLETING)
        return E_REBALANCE_IN_PROGRESS;
    if (generation != g->generation)
        return E_ILLEGAL_GENERATION;
    m->last_heartbeat_ms = rn_mono_ms();
    return E_NONE;
}

static int16_t commit(rn_gbytes group_id, rn_gbytes member_id, rn_gbytes instance_id, int32_t generation,
                      rn_offset_commit *commits, int n, int64_t *ticket, int from_txn);

int16_t rn_group_commit(rn_gbytes group_id, rn_gbytes member_id, rn_gbytes instance_id, int32_t generation,
                        rn_offset_commit *commits, int n, int64_t *ticket)
{
    return commit(group_id, member_id, instance_id, generation, commits, n, ticket, 0);
}

int16_t rn_group_commit_txn(rn_gbytes group_id, rn_offset_commit *commits, int n, int64_t *ticket)
{
    rn_gbytes none = {NULL, -1};
    return commit(group_id, none, none, -1, commits, n, ticket, 1);
}

static int16_t commit(rn_gbytes group_id, rn_gbytes member_id, rn_gbytes instance_id, int32_t generation,
                      rn_offset_commit *commits, int n, int64_t *ticket, int from_txn)
{
    *ticket = 0;
    if (is_null_or_empty(group_id)) {
        for (int i = 0; i < n; i++)
            commits[i].error = E_INVALID_GROUP_ID;
        return E_INVALID_GROUP_ID;
    }
    pthread_mutex_lock(&gmu);
    group *g = find_group(group_id);
    /* A transaction's offsets were checked when they were sent (TxnOffsetCommit);
     * at commit time the group may have moved on, and they apply anyway. */
    int16_t err = !running ? E_COORDINATOR_NOT_AVAILABLE
                  : from_txn ? E_NONE
                             : commit_allowed(g, member_id, instance_id, generation);
    if (err != E_NONE || n == 0) {
        for (int i = 0; i < n; i++)
            commits[i].error = err;
        pthread_mutex_unlock(&gmu);
        return err;
    }
    if (!g)
        g = create_group(group_id);
    rn_kv *kvs = calloc((size_t)n, sizeof *kvs);
    rn_bin_writer *keys = calloc((size_t)n, sizeof *keys), *vals = calloc((size_t)n, sizeof *vals);
    if (!kvs || !keys || !vals)
        abort();
    int64_t now = rn_now_ms();
    for (int i = 0; i < n; i++) {
        char *topic = dup_bytes(commits[i].topic);
        offset_key(&keys[i], g->id, topic ? topic : "", commits[i].partition);
        rn_bin_put_be(&vals[i], 3, 2);
        rn_bin_put_be(&vals[i], (uint64_t)commits[i].offset, 8);
        rn_bin_put_be(&vals[i], (uint32_t)commits[i].leader_epoch, 4);
        char *meta = dup_bytes(commits[i].metadata);
        rn_bin_put_str(&vals[i], meta ? meta : "");
        rn_bin_put_be(&vals[i], (uint64_t)now, 8);
        kvs[i] = (rn_kv){keys[i].buf, (int32_t)keys[i].len, vals[i].buf, (int32_t)vals[i].len};
        free(topic);
        free(meta);
    }
    int64_t t = write_records(g, kvs, n);
    for (int i = 0; i < n; i++) {
        rn_bin_writer_release(&keys[i]);
        rn_bin_writer_release(&vals[i]);
    }
    free(keys);
    free(vals);
    free(kvs);
    if (t < 0) {
        for (int i = 0; i < n; i++)
            commits[i].error = E_KAFKA_STORAGE_ERROR;
        pthread_mutex_unlock(&gmu);
        return E_NONE;
    }
    for (int i = 0; i < n; i++) {
        char *topic = dup_bytes(commits[i].topic);
        offset *o = upsert_offset(g, topic ? topic : "", commits[i].partition);
        free(topic);
        o->offset = commits[i].offset;
        o->leader_epoch = commits[i].leader_epoch;
        free(o->metadata);
        o->metadata = dup_bytes(commits[i].metadata);
        if (!o->metadata)
            o->metadata = dup_str("");
        o->commit_ms = now;
        commits[i].error = E_NONE;
    }
    *ticket = t;
    pthread_mutex_unlock(&gmu);
    return E_NONE;
}

static void copy_offset(rn_offset_entry *e, const offset *o)
{
    e->topic = dup_str(o->topic);
    e->partition = o->partition;
    e->offset = o->offset;
    e->leader_epoch = o->leader_epoch;
    e->metadata = dup_str(o->metadata ? o->metadata : "");
}

int rn_group_fetch_offsets(rn_gbytes group_id, rn_offset_entry **out, int *n)
{
    pthread_mutex_lock(&gmu);
    group *g = find_group(group_id);
    int count = g ? g->noffsets : 0;
    rn_offset_entry *e = calloc((size_t)count + 1, sizeof *e);
    if (!e) {
        pthread_mutex_unlock(&gmu);
        return -1;
    }
    for (int i = 0; i < count; i++)
        copy_offset(&e[i], &g->offsets[i]);
    pthread_mutex_unlock(&gmu);
    *out = e;
    *n = count;
    return 0;
}

int rn_group_fetch_offset(rn_gbytes group_id, rn_gbytes topic, int32_t partition, rn_offset_entry *out)
{
    memset(out, 0, sizeof *out);
    out->offset = -1;
    out->leader_epoch = -1;
    char *t = dup_bytes(topic);
    pthread_mutex_lock(&gmu);
    group *g = find_group(group_id);
    offset *o = g && t ? find_offset(g, t, partition) : NULL;
    if (o)
        copy_offset(out, o);
    pthread_mutex_unlock(&gmu);
    free(t);
    return o ? 0 : -1;
}

void rn_offset_entries_free(rn_offset_entry *e, int n)
{
    for (int i = 0; i < n; i++) {
        free(e[i].topic);
        free(e[i].metadata);
    }
    free(e);
}

/* Does any member's subscription (consumer protocol metadata) name topic? */
static int subscribed(group *g, const char *topic)
{
    if (!g->protocol_type || strcmp(g->protocol_type, "consumer") != 0)
        return 0;
    for (member *m = g->members; m; m = m->next) {
        const protocol *p = member_protocol(m, g->protocol_name);
        if (!p || p->meta_len < 6)
            continue;
        rn_bin_reader r;
        rn_bin_reader_init(&r, p->meta, (size_t)p->meta_len);
        (void)rn_bin_get_be(&r, 2);               /* version */
        int32_t n = (int32_t)rn_bin_get_be(&r, 4); /* topics */
        for (int32_t i = 0; i < n && !r.err; i++) {
            char *t = rn_bin_get_str_dup(&r);
            int hit = t && strcmp(t, topic) == 0;
            free(t);
            if (hit)
                return 1;
        }
    }
    return 0;
}

int16_t rn_group_offset_delete_check(rn_gbytes group_id)
{
    pthread_mutex_lock(&gmu);
    group *g = find_group(group_id);
    int16_t err = !g ? E_GROUP_ID_NOT_FOUND
                 : (g->protocol_type && strcmp(g->protocol_type, "consumer") != 0 && g->state != S_EMPTY)
                     ? E_NON_EMPTY_GROUP
                     : E_NONE;
    pthread_mutex_unlock(&gmu);
    return err;
}

int16_t rn_group_delete_offset(rn_gbytes group_id, rn_gbytes topic, int32_t partition, int64_t *ticket)
{
    *ticket = 0;
    char *t = dup_bytes(topic);
    pthread_mutex_lock(&gmu);
    group *g = find_group(group_id);
    int16_t err = E_NONE;
    if (!g) {
        err = E_GROUP_ID_NOT_FOUND;
    } else if (t && subscribed(g, t)) {
        err = E_GROUP_SUBSCRIBED_TO_TOPIC;
    } else {
        offset *o = t ? find_offset(g, t, partition) : NULL;
        if (o) {
            rn_bin_writer k = {0};
            offset_key(&k, g->id, t, partition);
            rn_kv kv = {k.buf, (int32_t)k.len, NULL, -1};
            int64_t tk = write_records(g, &kv, 1);
            rn_bin_writer_release(&k);
            if (tk < 0)
                err = E_KAFKA_STORAGE_ERROR;
            else {
                remove_offset(g, o);
                *ticket = tk;
            }
        }
    }
    pthread_mutex_unlock(&gmu);
    free(t);
    return err;
}

/* ---- describe, list, delete ---- */

int rn_group_describe(rn_gbytes group_id, rn_group_desc *out)
{
    memset(out, 0, sizeof *out);
    out->group_id = dup_bytes(group_id.len >= 0 ? group_id : (rn_gbytes){(const uint8_t *)"", 0});
    pthread_mutex_lock(&gmu);
    group *g = find_group(group_id);
    if (!g) {
        out->state = state_names[S_DEAD];
        out->protocol_type = dup_str("");
        out->protocol_name = dup_str("");
        pthread_mutex_unlock(&gmu);
        return 0;
    }
    out->state = state_names[g->state];
    out->protocol_type = dup_str(g->protocol_type ? g->protocol_type : "");
    out->protocol_name = dup_str(g->state == S_STABLE && g->protocol_name ? g->protocol_name : "");
    out->members = calloc((size_t)g->nmembers + 1, sizeof *out->members);
    if (!out->members)
        abort();
    for (member *m = g->members; m; m = m->next) {
        rn_group_member_desc *d = &out->members[out->nmembers++];
        d->member_id = dup_str(m->id);
        d->group_instance_id = dup_str(m->instance_id);
        d->client_id = dup_str(m->client_id ? m->client_id : "");
        d->client_host = dup_str(m->client_host ? m->client_host : "");
        if (g->state == S_STABLE) {
            const protocol *p = member_protocol(m, g->protocol_name);
            d->metadata = p ? dup_mem(p->meta, p->meta_len) : NULL;
            d->metadata_len = p ? p->meta_len : 0;
            d->assignment = dup_mem(m->assignment, m->assignment_len);
            d->assignment_len = m->assignment_len;
        }
    }
    pthread_mutex_unlock(&gmu);
    return 0;
}

void rn_group_desc_free(rn_group_desc *d)
{
    for (int i = 0; i < d->nmembers; i++) {
        rn_group_member_desc *m = &d->members[i];
        free(m->member_id);
        free(m->group_instance_id);
        free(m->client_id);
        free(m->client_host);
        free(m->metadata);
        free(m->assignment);
    }
    free(d->members);
    free(d->group_id);
    free(d->protocol_type);
    free(d->protocol_name);
}

int rn_group_list(const rn_gbytes *states, int nstates, rn_group_listing **out, int *n)
{
    pthread_mutex_lock(&gmu);
    rn_group_listing *l = calloc((size_t)ngroups + 1, sizeof *l);
    if (!l) {
        pthread_mutex_unlock(&gmu);
        return -1;
    }
    int k = 0;
    for (size_t i = 0; i < nbuckets; i++)
        for (group *g = buckets[i]; g; g = g->next) {
            const char *st = state_names[g->state];
            int keep = nstates <= 0;
            for (int s = 0; s < nstates && !keep; s++) {
                /* Kafka matches the filter case-insensitively. */
                keep = states[s].len == (int32_t)strlen(st) && strncasecmp((const char *)states[s].ptr, st, strlen(st)) == 0;
            }
            if (!keep)
                continue;
            l[k].group_id = dup_str(g->id);
            l[k].protocol_type = dup_str(g->protocol_type ? g->protocol_type : "");
            l[k].state = st;
            k++;
        }
    pthread_mutex_unlock(&gmu);
    *out = l;
    *n = k;
    return 0;
}

void rn_group_listing_free(rn_group_listing *l, int n)
{
    for (int i = 0; i < n; i++) {
        free(l[i].group_id);
        free(l[i].protocol_type);
    }
    free(l);
}

int16_t rn_group_delete(rn_gbytes group_id, int64_t *ticket)
{
    *ticket = 0;
    pthread_mutex_lock(&gmu);
    group *g = find_group(group_id);
    int16_t err = E_NONE;
    if (!g) {
        err = E_GROUP_ID_NOT_FOUND;
    } else if (g->state != S_EMPTY) {
        err = E_NON_EMPTY_GROUP;
    } else {
        /* Tombstones for every offset and for the group itself. */
        int n = g->noffsets + 1;
        rn_kv *kvs = calloc((size_t)n, sizeof *kvs);
        rn_bin_writer *keys = calloc((size_t)n, sizeof *keys);
        if (!kvs || !keys)
            abort();
        for (int i = 0; i < g->noffsets; i++) {
            offset_key(&keys[i], g->id, g->offsets[i].topic, g->offsets[i].partition);
            kvs[i] = (rn_kv){keys[i].buf, (int32_t)keys[i].len, NULL, -1};
        }
        group_key(&keys[n - 1], g->id);
        kvs[n - 1] = (rn_kv){keys[n - 1].buf, (int32_t)keys[n - 1].len, NULL, -1};
        int64_t t = write_records(g, kvs, n);
        for (int i = 0; i < n; i++)
            rn_bin_writer_release(&keys[i]);
        free(keys);
        free(kvs);
        if (t < 0) {
            err = E_KAFKA_STORAGE_ERROR;
        } else {
            set_state(g, S_DEAD);
            destroy_group(g);
            *ticket = t;
        }
    }
    pthread_mutex_unlock(&gmu);
    return err;
}

/* ---- results ---- */

void rn_join_result_free(rn_join_result *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nmembers; i++) {
        free(r->members[i].member_id);
        free(r->members[i].group_instance_id);
        free(r->members[i].metadata);
    }
    free(r->members);
    free(r->protocol_type);
    free(r->protocol_name);
    free(r->leader_id);
    free(r->member_id);
}

void rn_sync_result_free(rn_sync_result *r)
{
    if (!r)
        return;
    free(r->protocol_type);
    free(r->protocol_name);
    free(r->assignment);
}

/* ---- timers ---- */

static void expire(group *g, int64_t now, int64_t wall_now)
{
    for (pending_id **pp = &g->pending; *pp;) {
        if ((*pp)->expires_ms <= now) {
            pending_id *pi = *pp;
            *pp = pi->next;
            free(pi->id);
            free(pi);
        } else {
            pp = &(*pp)->next;
        }
    }
    int removed = 0;
    for (member *m = g->members, *next; m; m = next) {
        next = m->next;
        int alive;
        if (m->join_waiter)
            alive = !m->is_new || m->last_heartbeat_ms + NEW_MEMBER_JOIN_TIMEOUT_MS > now;
        else if (m->sync_waiter)
            alive = 1;
        else
            alive = m->last_heartbeat_ms + m->session_timeout_ms > now;
        if (!alive) {
            rn_info("group %s: member %s expired (session timeout %d ms)", g->id, m->id, m->session_timeout_ms);
            remove_member(g, m, E_UNKNOWN_MEMBER_ID);
            removed = 1;
        }
    }
    if (removed) {
        if (!g->members && g->state != S_PREPARING) {
            set_state(g, S_EMPTY);
            persist_group(g, 0);
        } else if (g->state == S_STABLE || g->state == S_COMPLETING) {
            prepare_rebalance(g);
        }
    }
    maybe_complete_join(g, now);
    /* offsets.retention.minutes: an empty group's offsets expire. */
    if (g->state == S_EMPTY && H.offsets_retention_ms > 0) {
        for (int i = 0; i < g->noffsets;) {
            offset *o = &g->offsets[i];
            if (o->commit_ms + H.offsets_retention_ms < wall_now) {
                rn_bin_writer k = {0};
                offset_key(&k, g->id, o->topic, o->partition);
                rn_kv kv = {k.buf, (int32_t)k.len, NULL, -1};
                write_records(g, &kv, 1);
                rn_bin_writer_release(&k);
                remove_offset(g, o);
            } else {
                i++;
            }
        }
    }
}

static void *timer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gmu);
    while (!stopping) {
        struct timespec ts;
        rn_deadline_after_ms(&ts, TICK_MS);
        pthread_cond_timedwait(&gcv, &gmu, &ts);
        if (stopping)
            break;
        int64_t now = rn_mono_ms(), wall = rn_now_ms();
        for (size_t i = 0; i < nbuckets; i++)
            for (group *g = buckets[i]; g; g = g->next)
                expire(g, now, wall);
    }
    pthread_mutex_unlock(&gmu);
    return NULL;
}

int rn_group_start(const rn_group_hooks *hooks)
{
    pthread_mutex_lock(&gmu);
    H = *hooks;
    if (!nbuckets)
        table_grow();
    stopping = 0;
    running = 1;
    pthread_mutex_unlock(&gmu);
    if (pthread_create(&timer_thread, NULL, timer_main, NULL) != 0) {
        running = 0;
        return -EAGAIN;
    }
    return 0;
}

void rn_group_stop(void)
{
    pthread_mutex_lock(&gmu);
    int was = running;
    stopping = 1;
    running = 0;
    pthread_cond_signal(&gcv);
    pthread_mutex_unlock(&gmu);
    if (was)
        pthread_join(timer_thread, NULL);
    pthread_mutex_lock(&gmu);
    for (size_t i = 0; i < nbuckets; i++)
        while (buckets[i])
            destroy_group(buckets[i]);
    free(buckets);
    buckets = NULL;
    nbuckets = 0;
    pthread_mutex_unlock(&gmu);
}

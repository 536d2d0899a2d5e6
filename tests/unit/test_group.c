/*
 * test_group.c - the group coordinator's state machine (src/group), through
 * group.h only, with fake hooks: join_done / sync_done record the answers of
 * parked requests (waiters are the addresses of W[i]), and append keeps the
 * __consumer_offsets batches it is given so that they can be replayed with
 * rn_group_load_record into a fresh coordinator (rn_group_stop, then
 * rn_group_start).
 *
 * Covered: two members joining within the initial delay complete one
 * generation with one leader; the generation increments per rebalance;
 * SyncGroup hands each member the leader's assignment; Heartbeat errors
 * (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS); LeaveGroup
 * starts a rebalance; session expiry on the timer thread; KIP-394
 * MEMBER_ID_REQUIRED; KIP-345 static member replacement fencing the old id;
 * commit validation; INVALID_SESSION_TIMEOUT; describe/list/delete; and the
 * load round trip. Timing-dependent tests use short timeouts and bounded
 * waits (at most a few seconds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rlog.h"
#include "group/group.h"
#include "proto/record_codec.h"

enum {
    E_NONE = 0,
    E_ILLEGAL_GENERATION = 22,
    E_INCONSISTENT_GROUP_PROTOCOL = 23,
    E_UNKNOWN_MEMBER_ID = 25,
    E_INVALID_SESSION_TIMEOUT = 26,
    E_REBALANCE_IN_PROGRESS = 27,
    E_NON_EMPTY_GROUP = 68,
    E_GROUP_ID_NOT_FOUND = 69,
    E_MEMBER_ID_REQUIRED = 79,
    E_GROUP_MAX_SIZE_REACHED = 81,
    E_FENCED_INSTANCE_ID = 82,
};

#define NPARTS 50
#define MAXW 16

/* ---- fake hooks ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int W[MAXW];                 /* waiters: &W[i] */
static rn_join_result *joins[MAXW]; /* answers of parked joins, by waiter */
static rn_sync_result *syncs[MAXW];
static int njoin_done, nsync_done;

typedef struct stored {
    int32_t partition;
    uint8_t *bytes;
    size_t len;
} stored;
static stored batches[1024];
static int nbatches;
static int64_t next_ticket;

static int widx(void *w) { return (int)((int *)w - W); }

static void hook_join_done(void *w, rn_join_result *r)
{
    pthread_mutex_lock(&mu);
    int i = widx(w);
    assert_true(i >= 0 && i < MAXW);
    if (joins[i]) { /* an older answer nobody read: keep the newest */
        rn_join_result_free(joins[i]);
        free(joins[i]);
    }
    joins[i] = r;
    njoin_done++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void hook_sync_done(void *w, rn_sync_result *r)
{
    pthread_mutex_lock(&mu);
    int i = widx(w);
    assert_true(i >= 0 && i < MAXW);
    if (syncs[i]) {
        rn_sync_result_free(syncs[i]);
        free(syncs[i]);
    }
    syncs[i] = r;
    nsync_done++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static int64_t hook_append(int32_t partition, uint8_t *b, size_t len)
{
    pthread_mutex_lock(&mu);
    assert_true(nbatches < (int)(sizeof batches / sizeof batches[0]));
    stored *s = &batches[nbatches++];
    s->partition = partition;
    s->bytes = malloc(len);
    assert_non_null(s->bytes);
    memcpy(s->bytes, b, len);
    s->len = len;
    int64_t t = ++next_ticket;
    pthread_mutex_unlock(&mu);
    return t;
}

static rn_group_hooks hooks(int32_t initial_delay_ms)
{
    rn_group_hooks h = {
        .join_done = hook_join_done,
        .sync_done = hook_sync_done,
        .append = hook_append,
        .offsets_partitions = NPARTS,
        .initial_rebalance_delay_ms = initial_delay_ms,
        .min_session_timeout_ms = 100,
        .max_session_timeout_ms = 60000,
        .max_size = 0,
        .offsets_retention_ms = 0,
    };
    return h;
}

static void clear_answers(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAXW; i++) {
        if (joins[i]) {
            rn_join_result_free(joins[i]);
            free(joins[i]);
            joins[i] = NULL;
        }
        if (syncs[i]) {
            rn_sync_result_free(syncs[i]);
            free(syncs[i]);
            syncs[i] = NULL;
        }
    }
    njoin_done = nsync_done = 0;
    pthread_mutex_unlock(&mu);
}

static void clear_batches(void)
{
    for (int i = 0; i < nbatches; i++)
        free(batches[i].bytes);
    nbatches = 0;
}

static int setup(void **state)
{
    (void)state;
    rn_log_level = RN_LOG_WARN;
    rn_group_hooks h = hooks(0);
    assert_int_equal(rn_group_start(&h), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rn_group_stop();
    clear_answers();
    clear_batches();
    return 0;
}

static void restart(int32_t initial_delay_ms)
{
    rn_group_stop();
    clear_answers();
    rn_group_hooks h = hooks(initial_delay_ms);
    assert_int_equal(rn_group_start(&h), 0);
}

/* ---- helpers ---- */

static rn_gbytes S(const char *s) { return s ? (rn_gbytes){(const uint8_t *)s, (int32_t)strlen(s)} : (rn_gbytes){NULL, -1}; }

static const rn_group_protocol RANGE[] = {{{(const uint8_t *)"range", 5}, {(const uint8_t *)"sub-a", 5}}};
static const rn_group_protocol RR[] = {{{(const uint8_t *)"roundrobin", 10}, {(const uint8_t *)"x", 1}}};

typedef struct jopt {
    const char *member_id;
    const char *instance_id;
    int32_t session_ms, rebalance_ms;
    int require_known;
    const rn_group_protocol *protos;
} jopt;

/* rn_group_join; returns 1 when answered at once (*out filled). */
static int join(const char *group, jopt o, int w, rn_join_result *out)
{
    rn_join_params p = {
        .group_id = S(group),
        .member_id = S(o.member_id ? o.member_id : ""),
        .group_instance_id = S(o.instance_id),
        .protocol_type = S("consumer"),
        .client_id = S("unit"),
        .client_host = S("127.0.0.1"),
        .session_timeout_ms = o.session_ms ? o.session_ms : 10000,
        .rebalance_timeout_ms = o.rebalance_ms ? o.rebalance_ms : 10000,
        .require_known_member_id = o.require_known,
        .nprotocols = 1,
        .protocols = o.protos ? o.protos : RANGE,
    };
    return rn_group_join(&p, &W[w], out);
}

/* Waits (bounded) for the parked join of waiter w; returns its answer, now ours. */
static rn_join_result *wait_join(int w, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while (!joins[w])
        if (pthread_cond_timedwait(&cv, &mu, &dl) != 0)
            break;
    rn_join_result *r = joins[w];
    joins[w] = NULL;
    pthread_mutex_unlock(&mu);
    return r;
}

static rn_sync_result *wait_sync(int w, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while (!syncs[w])
        if (pthread_cond_timedwait(&cv, &mu, &dl) != 0)
            break;
    rn_sync_result *r = syncs[w];
    syncs[w] = NULL;
    pthread_mutex_unlock(&mu);
    return r;
}

static int has_join(int w)
{
    pthread_mutex_lock(&mu);
    int r = joins[w] != NULL;
    pthread_mutex_unlock(&mu);
    return r;
}

static void free_join(rn_join_result *r)
{
    rn_join_result_free(r);
    free(r);
}

static void free_sync(rn_sync_result *r)
{
    rn_sync_result_free(r);
    free(r);
}

/* One rn_offset_entry filled by rn_group_fetch_offset (not an array). */
static void entry_free(rn_offset_entry *e)
{
    free(e->topic);
    free(e->metadata);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *state_of(const char *group)
{
    rn_group_desc d;
    rn_group_describe(S(group), &d);
    const char *st = d.state;
    rn_group_desc_free(&d);
    return st;
}

static int nmembers_of(const char *group)
{
    rn_group_desc d;
    rn_group_describe(S(group), &d);
    int n = d.nmembers;
    rn_group_desc_free(&d);
    return n;
}

typedef struct member_t {
    char id[256];
    int32_t generation;
} member_t;

/* One member joins an empty group (initial delay 0) and syncs alone: Stable. */
static member_t solo(const char *group, int w, jopt o)
{
    member_t m = {{0}, -1};
    rn_join_result r;
    if (join(group, o, w, &r)) {
        assert_int_equal(r.error, E_NONE);
        snprintf(m.id, sizeof m.id, "%s", r.member_id);
        m.generation = r.generation_id;
        rn_join_result_free(&r);
    } else {
        rn_join_result *a = wait_join(w, 2000);
        assert_non_null(a);
        assert_int_equal(a->error, E_NONE);
        snprintf(m.id, sizeof m.id, "%s", a->member_id);
        m.generation = a->generation_id;
        free_join(a);
    }
    rn_gbytes ids[1] = {S(m.id)}, as[1] = {S("assignment-solo")};
    rn_sync_params sp = {.group_id = S(group), .member_id = S(m.id), .group_instance_id = S(o.instance_id),
                         .protocol_type = S(NULL), .protocol_name = S(NULL), .generation_id = m.generation,
                         .nassignments = 1, .assignment_member_ids = ids, .assignments = as};
    rn_sync_result sr;
    if (!rn_group_sync(&sp, &W[w], &sr)) {
        rn_sync_result *s = wait_sync(w, 2000);
        assert_non_null(s);
        assert_int_equal(s->error, E_NONE);
        free_sync(s);
    } else {
        assert_int_equal(sr.error, E_NONE);
        rn_sync_result_free(&sr);
    }
    assert_string_equal(state_of(group), "Stable");
    return m;
}

/* Two members joined within the initial delay and synced: Stable, generation 1. */
static void stable_pair(const char *group, member_t *a, member_t *b)
{
    restart(300);
    rn_join_result r;
    assert_int_equal(join(group, (jopt){0}, 0, &r), 0);
    assert_int_equal(join(group, (jopt){0}, 1, &r), 0);
    rn_join_result *ja = wait_join(0, 3000), *jb = wait_join(1, 3000);
    assert_non_null(ja);
    assert_non_null(jb);
    snprintf(a->id, sizeof a->id, "%s", ja->member_id);
    snprintf(b->id, sizeof b->id, "%s", jb->member_id);
    a->generation = ja->generation_id;
    b->generation = jb->generation_id;
    rn_gbytes ids[2] = {S(a->id), S(b->id)}, as[2] = {S("for-a"), S("for-b")};
    rn_sync_params sp = {.group_id = S(group), .member_id = S(ja->leader_id), .group_instance_id = S(NULL),
                         .protocol_type = S(NULL), .protocol_name = S(NULL), .generation_id = ja->generation_id,
                         .nassignments = 2, .assignment_member_ids = ids, .assignments = as};
    rn_sync_params sf = sp;
    int leader_is_a = strcmp(ja->leader_id, a->id) == 0;
    sf.member_id = S(leader_is_a ? b->id : a->id);
    sf.nassignments = 0;
    rn_sync_result sr;
    assert_int_equal(rn_group_sync(&sf, &W[leader_is_a ? 1 : 0], &sr), 0); /* the follower waits */
    assert_int_equal(rn_group_sync(&sp, &W[leader_is_a ? 0 : 1], &sr), 0);
    rn_sync_result *sa = wait_sync(0, 2000), *sb = wait_sync(1, 2000);
    assert_non_null(sa);
    assert_non_null(sb);
    free_sync(sa);
    free_sync(sb);
    free_join(ja);
    free_join(jb);
    assert_string_equal(state_of(group), "Stable");
}

/* ---- tests ---- */

static void test_two_members_join_one_generation_one_leader(void **state)
{
    (void)state;
    restart(300); /* both join within the initial delay: one rebalance */
    rn_join_result r;
    assert_int_equal(join("g2", (jopt){0}, 0, &r), 0);
    assert_string_equal(state_of("g2"), "PreparingRebalance");
    assert_int_equal(join("g2", (jopt){0}, 1, &r), 0);
    assert_false(has_join(0)); /* still inside the initial delay */
    rn_join_result *a = wait_join(0, 3000), *b = wait_join(1, 3000);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->error, E_NONE);
    assert_int_equal(b->error, E_NONE);
    assert_int_equal(a->generation_id, 1);
    assert_int_equal(b->generation_id, 1);
    assert_string_equal(a->leader_id, b->leader_id);
    assert_string_equal(a->protocol_name, "range");
    assert_string_not_equal(a->member_id, b->member_id);
    /* exactly one of them is the leader, and only the leader gets the member list */
    rn_join_result *leader = strcmp(a->leader_id, a->member_id) == 0 ? a : b;
    rn_join_result *follower = leader == a ? b : a;
    assert_string_equal(leader->leader_id, leader->member_id);
    assert_int_equal(leader->nmembers, 2);
    assert_int_equal(follower->nmembers, 0);
    assert_string_equal(state_of("g2"), "CompletingRebalance");
    free_join(a);
    free_join(b);
}

static void test_generation_increments_per_rebalance(void **state)
{
    (void)state;
    member_t a = solo("gen", 0, (jopt){0});
    assert_int_equal(a.generation, 1);
    rn_join_result r;
    assert_int_equal(join("gen", (jopt){0}, 1, &r), 0); /* a second member: rebalance */
    assert_string_equal(state_of("gen"), "PreparingRebalance");
    assert_int_equal(rn_group_heartbeat(S("gen"), S(a.id), S(NULL), 1), E_REBALANCE_IN_PROGRESS);
    assert_int_equal(join("gen", (jopt){.member_id = a.id}, 0, &r), 0);
    rn_join_result *ja = wait_join(0, 2000), *jb = wait_join(1, 2000);
    assert_non_null(ja);
    assert_non_null(jb);
    assert_int_equal(ja->generation_id, 2);
    assert_int_equal(jb->generation_id, 2);
    assert_string_equal(ja->leader_id, a.id); /* the leader stays */
    free_join(ja);
    free_join(jb);
}

static void test_sync_distributes_the_leaders_assignments(void **state)
{
    (void)state;
    restart(300);
    rn_join_result r;
    join("gs", (jopt){0}, 0, &r);
    join("gs", (jopt){0}, 1, &r);
    rn_join_result *a = wait_join(0, 3000), *b = wait_join(1, 3000);
    assert_non_null(a);
    assert_non_null(b);
    rn_join_result *leader = strcmp(a->leader_id, a->member_id) == 0 ? a : b;
    rn_join_result *follower = leader == a ? b : a;
    int wl = leader == a ? 0 : 1, wf = 1 - wl;
    /* The follower syncs first and waits for the leader. */
    rn_sync_params sf = {.group_id = S("gs"), .member_id = S(follower->member_id), .group_instance_id = S(NULL),
                         .protocol_type = S("consumer"), .protocol_name = S("range"),
                         .generation_id = follower->generation_id};
    rn_sync_result sr;
    assert_int_equal(rn_group_sync(&sf, &W[wf], &sr), 0);
    assert_null(wait_sync(wf, 100));
    rn_gbytes ids[2] = {S(leader->member_id), S(follower->member_id)}, as[2] = {S("L-parts"), S("F-parts")};
    rn_sync_params sl = sf;
    sl.member_id = S(leader->member_id);
    sl.nassignments = 2;
    sl.assignment_member_ids = ids;
    sl.assignments = as;
    rn_sync_result lr;
    if (rn_group_sync(&sl, &W[wl], &lr)) {
        assert_int_equal(lr.error, E_NONE);
        assert_memory_equal(lr.assignment, "L-parts", 7);
        rn_sync_result_free(&lr);
    } else {
        rn_sync_result *ls = wait_sync(wl, 2000);
        assert_non_null(ls);
        assert_int_equal(ls->error, E_NONE);
        assert_int_equal(ls->assignment_len, 7);
        assert_memory_equal(ls->assignment, "L-parts", 7);
        free_sync(ls);
    }
    rn_sync_result *fs = wait_sync(wf, 2000);
    assert_non_null(fs);
    assert_int_equal(fs->error, E_NONE);
    assert_int_equal(fs->assignment_len, 7);
    assert_memory_equal(fs->assignment, "F-parts", 7);
    free_sync(fs);
    assert_string_equal(state_of("gs"), "Stable");
    /* A sync in Stable answers the stored assignment at once. */
    assert_int_equal(rn_group_sync(&sf, &W[wf], &sr), 1);
    assert_int_equal(sr.error, E_NONE);
    assert_memory_equal(sr.assignment, "F-parts", 7);
    rn_sync_result_free(&sr);
    /* DescribeGroups shows both assignments. */
    rn_group_desc d;
    rn_group_describe(S("gs"), &d);
    assert_int_equal(d.nmembers, 2);
    for (int i = 0; i < 2; i++) {
        const char *want = strcmp(d.members[i].member_id, leader->member_id) == 0 ? "L-parts" : "F-parts";
        assert_int_equal(d.members[i].assignment_len, 7);
        assert_memory_equal(d.members[i].assignment, want, 7);
    }
    rn_group_desc_free(&d);
    /* Wrong generation in SyncGroup. */
    sf.generation_id = follower->generation_id + 1;
    assert_int_equal(rn_group_sync(&sf, &W[wf], &sr), 1);
    assert_int_equal(sr.error, E_ILLEGAL_GENERATION);
    rn_sync_result_free(&sr);
    free_join(a);
    free_join(b);
}

static void test_heartbeat_errors(void **state)
{
    (void)state;
    member_t a = solo("hb", 0, (jopt){0});
    assert_int_equal(rn_group_heartbeat(S("hb"), S(a.id), S(NULL), a.generation), E_NONE);
    assert_int_equal(rn_group_heartbeat(S("hb"), S("nobody"), S(NULL), a.generation), E_UNKNOWN_MEMBER_ID);
    assert_int_equal(rn_group_heartbeat(S("no-such-group"), S(a.id), S(NULL), 1), E_UNKNOWN_MEMBER_ID);
    assert_int_equal(rn_group_heartbeat(S("hb"), S(a.id), S(NULL), a.generation + 1), E_ILLEGAL_GENERATION);
    assert_int_equal(rn_group_heartbeat(S("hb"), S(a.id), S(NULL), a.generation - 1), E_ILLEGAL_GENERATION);
    rn_join_result r;
    join("hb", (jopt){0}, 1, &r); /* another member: PreparingRebalance */
    assert_int_equal(rn_group_heartbeat(S("hb"), S(a.id), S(NULL), a.generation), E_REBALANCE_IN_PROGRESS);
}

static void test_invalid_session_timeout_and_protocol(void **state)
{
    (void)state;
    rn_join_result r;
    assert_int_equal(join("st", (jopt){.session_ms = 99}, 0, &r), 1);
    assert_int_equal(r.error, E_INVALID_SESSION_TIMEOUT);
    rn_join_result_free(&r);
    assert_int_equal(join("st", (jopt){.session_ms = 60001}, 0, &r), 1);
    assert_int_equal(r.error, E_INVALID_SESSION_TIMEOUT);
    rn_join_result_free(&r);
    solo("st", 0, (jopt){0});
    assert_int_equal(join("st", (jopt){.protos = RR}, 1, &r), 1);
    assert_int_equal(r.error, E_INCONSISTENT_GROUP_PROTOCOL);
    rn_join_result_free(&r);
}

static void test_leave_triggers_rebalance(void **state)
{
    (void)state;
    member_t a, b;
    stable_pair("lv", &a, &b);
    assert_int_equal(rn_group_leave(S("lv"), S(b.id), S(NULL)), E_NONE);
    assert_string_equal(state_of("lv"), "PreparingRebalance");
    assert_int_equal(rn_group_heartbeat(S("lv"), S(a.id), S(NULL), a.generation), E_REBALANCE_IN_PROGRESS);
    assert_int_equal(rn_group_heartbeat(S("lv"), S(b.id), S(NULL), b.generation), E_UNKNOWN_MEMBER_ID);
    assert_int_equal(rn_group_leave(S("lv"), S(b.id), S(NULL)), E_UNKNOWN_MEMBER_ID);
    rn_join_result r;
    assert_int_equal(join("lv", (jopt){.member_id = a.id}, 0, &r), 0);
    rn_join_result *ja = wait_join(0, 2000);
    assert_non_null(ja);
    assert_int_equal(ja->error, E_NONE);
    assert_int_equal(ja->generation_id, a.generation + 1);
    assert_int_equal(ja->nmembers, 1);
    assert_string_equal(ja->leader_id, a.id);
    free_join(ja);
    /* The last member leaving empties the group. */
    assert_int_equal(rn_group_leave(S("lv"), S(a.id), S(NULL)), E_NONE);
    assert_string_equal(state_of("lv"), "Empty");
    assert_int_equal(nmembers_of("lv"), 0);
}

static void test_session_expiry_removes_member(void **state)
{
    (void)state;
    restart(300);
    rn_join_result r;
    join("ex", (jopt){.session_ms = 300, .rebalance_ms = 2000}, 0, &r);
    join("ex", (jopt){.session_ms = 300, .rebalance_ms = 2000}, 1, &r);
    rn_join_result *a = wait_join(0, 3000), *b = wait_join(1, 3000);
    assert_non_null(a);
    assert_non_null(b);
    char aid[256];
    snprintf(aid, sizeof aid, "%s", a->member_id);
    int32_t gen = a->generation_id;
    /* a heartbeats (answers NONE in CompletingRebalance), b stays silent */
    int16_t err = E_NONE;
    for (int i = 0; i < 60 && err == E_NONE; i++) {
        sleep_ms(50);
        err = rn_group_heartbeat(S("ex"), S(aid), S(NULL), gen);
    }
    assert_int_equal(err, E_REBALANCE_IN_PROGRESS); /* b expired: a rebalance */
    assert_int_equal(nmembers_of("ex"), 1);
    assert_int_equal(rn_group_heartbeat(S("ex"), S(b->member_id), S(NULL), gen), E_UNKNOWN_MEMBER_ID);
    assert_int_equal(join("ex", (jopt){.member_id = aid, .session_ms = 300, .rebalance_ms = 2000}, 0, &r), 0);
    rn_join_result *ja = wait_join(0, 2000);
    assert_non_null(ja);
    assert_int_equal(ja->generation_id, gen + 1);
    assert_int_equal(ja->nmembers, 1);
    free_join(ja);
    /* and then a expires too: the group ends up Empty */
    for (int i = 0; i < 40 && strcmp(state_of("ex"), "Empty") != 0; i++)
        sleep_ms(50);
    assert_string_equal(state_of("ex"), "Empty");
    free_join(a);
    free_join(b);
}

static void test_kip394_member_id_required(void **state)
{
    (void)state;
    rn_join_result r;
    assert_int_equal(join("k394", (jopt){.require_known = 1}, 0, &r), 1);
    assert_int_equal(r.error, E_MEMBER_ID_REQUIRED);
    assert_non_null(r.member_id);
    assert_true(strlen(r.member_id) > 0);
    char id[256];
    snprintf(id, sizeof id, "%s", r.member_id);
    rn_join_result_free(&r);
    assert_int_equal(nmembers_of("k394"), 0); /* a pending id is not a member */
    /* An id the coordinator never gave out is unknown. */
    assert_int_equal(join("k394", (jopt){.member_id = "made-up", .require_known = 1}, 1, &r), 1);
    assert_int_equal(r.error, E_UNKNOWN_MEMBER_ID);
    rn_join_result_free(&r);
    /* Joining with the given id works. */
    assert_int_equal(join("k394", (jopt){.member_id = id, .require_known = 1}, 0, &r), 0);
    rn_join_result *j = wait_join(0, 2000);
    assert_non_null(j);
    assert_int_equal(j->error, E_NONE);
    assert_string_equal(j->member_id, id);
    assert_string_equal(j->leader_id, id);
    assert_int_equal(j->generation_id, 1);
    free_join(j);
}

static void test_static_member_replacement_fences_old_id(void **state)
{
    (void)state;
    member_t old = solo("stat", 0, (jopt){.instance_id = "inst-1", .require_known = 1});
    rn_join_result r;
    /* same instance id, new incarnation, same protocols: no rebalance */
    assert_int_equal(join("stat", (jopt){.instance_id = "inst-1", .require_known = 1}, 1, &r), 1);
    assert_int_equal(r.error, E_NONE);
    assert_string_not_equal(r.member_id, old.id);
    assert_int_equal(r.generation_id, old.generation);
    char nid[256];
    snprintf(nid, sizeof nid, "%s", r.member_id);
    rn_join_result_free(&r);
    assert_string_equal(state_of("stat"), "Stable");
    assert_int_equal(rn_group_heartbeat(S("stat"), S(old.id), S("inst-1"), old.generation), E_FENCED_INSTANCE_ID);
    assert_int_equal(rn_group_heartbeat(S("stat"), S(nid), S("inst-1"), old.generation), E_NONE);
    rn_offset_commit c = {.topic = S("t"), .partition = 0, .offset = 5, .leader_epoch = -1, .metadata = S("")};
    int64_t ticket;
    assert_int_equal(rn_group_commit(S("stat"), S(old.id), S("inst-1"), old.generation, &c, 1, &ticket),
                     E_FENCED_INSTANCE_ID);
    assert_int_equal(rn_group_leave(S("stat"), S(old.id), S("inst-1")), E_FENCED_INSTANCE_ID);
    /* the member keeps its assignment */
    rn_sync_params sp = {.group_id = S("stat"), .member_id = S(nid), .group_instance_id = S("inst-1"),
                         .protocol_type = S(NULL), .protocol_name = S(NULL), .generation_id = old.generation};
    rn_sync_result sr;
    assert_int_equal(rn_group_sync(&sp, &W[1], &sr), 1);
    assert_int_equal(sr.error, E_NONE);
    assert_int_equal(sr.assignment_len, (int32_t)strlen("assignment-solo"));
    rn_sync_result_free(&sr);
    assert_int_equal(rn_group_leave(S("stat"), S(nid), S("inst-1")), E_NONE);
    assert_string_equal(state_of("stat"), "Empty");
}

static void test_commit_validation(void **state)
{
    (void)state;
    rn_offset_commit c = {.topic = S("t"), .partition = 1, .offset = 7, .leader_epoch = 3, .metadata = S("m")};
    int64_t ticket = 0;
    /* no group yet: a stand-alone commit (generation -1) creates it, Empty */
    assert_int_equal(rn_group_commit(S("cv"), S(""), S(NULL), -1, &c, 1, &ticket), E_NONE);
    assert_int_equal(c.error, E_NONE);
    assert_true(ticket > 0);
    assert_string_equal(state_of("cv"), "Empty");
    /* again on the Empty group */
    c.offset = 8;
    assert_int_equal(rn_group_commit(S("cv"), S(""), S(NULL), -1, &c, 1, &ticket), E_NONE);
    /* a generation on a group that has none */
    assert_int_equal(rn_group_commit(S("cv-none"), S("m"), S(NULL), 3, &c, 1, &ticket), E_ILLEGAL_GENERATION);
    rn_offset_entry e;
    assert_int_equal(rn_group_fetch_offset(S("cv"), S("t"), 1, &e), 0);
    assert_int_equal(e.offset, 8);
    assert_int_equal(e.leader_epoch, 3);
    assert_string_equal(e.metadata, "m");
    entry_free(&e);
    assert_int_equal(rn_group_fetch_offset(S("cv"), S("t"), 2, &e), -1);
    assert_int_equal(e.offset, -1);
    /* with a member: generation and member id must match */
    member_t a = solo("cv", 0, (jopt){0});
    c.offset = 9;
    assert_int_equal(rn_group_commit(S("cv"), S(a.id), S(NULL), a.generation + 1, &c, 1, &ticket),
                     E_ILLEGAL_GENERATION);
    assert_int_equal(c.error, E_ILLEGAL_GENERATION);
    assert_int_equal(rn_group_commit(S("cv"), S("stranger"), S(NULL), a.generation, &c, 1, &ticket),
                     E_UNKNOWN_MEMBER_ID);
    assert_int_not_equal(rn_group_commit(S("cv"), S(""), S(NULL), -1, &c, 1, &ticket), E_NONE);
    assert_int_equal(rn_group_fetch_offset(S("cv"), S("t"), 1, &e), 0);
    assert_int_equal(e.offset, 8); /* none of the refused commits landed */
    entry_free(&e);
    assert_int_equal(rn_group_commit(S("cv"), S(a.id), S(NULL), a.generation, &c, 1, &ticket), E_NONE);
    assert_int_equal(rn_group_fetch_offset(S("cv"), S("t"), 1, &e), 0);
    assert_int_equal(e.offset, 9);
    entry_free(&e);
    /* a commit in CompletingRebalance is refused with REBALANCE_IN_PROGRESS (Kafka's rule) */
    rn_join_result r;
    join("cv", (jopt){0}, 1, &r);
    join("cv", (jopt){.member_id = a.id}, 0, &r);
    rn_join_result *ja = wait_join(0, 2000), *jb = wait_join(1, 2000);
    assert_non_null(ja);
    assert_non_null(jb);
    assert_string_equal(state_of("cv"), "CompletingRebalance");
    assert_int_equal(rn_group_commit(S("cv"), S(a.id), S(NULL), ja->generation_id, &c, 1, &ticket),
                     E_REBALANCE_IN_PROGRESS);
    free_join(ja);
    free_join(jb);
    /* an invalid group id */
    assert_int_not_equal(rn_group_commit(S(""), S(""), S(NULL), -1, &c, 1, &ticket), E_NONE);
}

static void test_describe_list_delete(void **state)
{
    (void)state;
    member_t a = solo("dl-stable", 0, (jopt){0});
    (void)a;
    rn_offset_commit c = {.topic = S("t"), .partition = 0, .offset = 1, .leader_epoch = -1, .metadata = S("")};
    int64_t ticket;
    assert_int_equal(rn_group_commit(S("dl-empty"), S(""), S(NULL), -1, &c, 1, &ticket), E_NONE);
    rn_gbytes st[1] = {S("stable")};
    rn_group_listing *l;
    int n;
    assert_int_equal(rn_group_list(st, 1, &l, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(l[0].group_id, "dl-stable");
    assert_string_equal(l[0].state, "Stable");
    rn_group_listing_free(l, n);
    assert_int_equal(rn_group_list(NULL, 0, &l, &n), 0);
    assert_int_equal(n, 2);
    rn_group_listing_free(l, n);
    assert_int_equal(rn_group_delete(S("dl-stable"), &ticket), E_NON_EMPTY_GROUP);
    assert_int_equal(rn_group_delete(S("dl-nosuch"), &ticket), E_GROUP_ID_NOT_FOUND);
    assert_int_equal(rn_group_delete(S("dl-empty"), &ticket), E_NONE);
    assert_true(ticket > 0);
    rn_offset_entry e;
    assert_int_equal(rn_group_fetch_offset(S("dl-empty"), S("t"), 0, &e), -1);
    assert_int_equal(rn_group_delete(S("dl-empty"), &ticket), E_GROUP_ID_NOT_FOUND);
    rn_group_desc d;
    rn_group_describe(S("dl-empty"), &d);
    assert_string_equal(d.state, "Dead");
    rn_group_desc_free(&d);
}

static void test_group_max_size(void **state)
{
    (void)state;
    rn_group_stop();
    rn_group_hooks h = hooks(0);
    h.max_size = 1;
    assert_int_equal(rn_group_start(&h), 0);
    solo("max", 0, (jopt){0});
    rn_join_result r;
    assert_int_equal(join("max", (jopt){0}, 1, &r), 1);
    assert_int_equal(r.error, E_GROUP_MAX_SIZE_REACHED);
    rn_join_result_free(&r);
}

static void test_partition_for_is_javas_hash(void **state)
{
    (void)state;
    /* abs(String.hashCode) % 50, values computed with Java's formula */
    assert_int_equal(rn_group_partition_for(S("my-group"), 50), 12);
    assert_int_equal(rn_group_partition_for(S("console-consumer-12345"), 50), 6);
    assert_int_equal(rn_group_partition_for(S("g"), 50), 3);
}

/* ---- load round trip ---- */

static void replay_one(void *arg, int64_t offset, const rn_kv *kv)
{
    (void)arg;
    (void)offset;
    rn_group_load_record(kv->key, kv->key_len, kv->value, kv->value_len);
}

static void test_load_record_round_trip(void **state)
{
    (void)state;
    /* offsets for two stand-alone groups, one overwritten, one deleted group,
     * plus a group with a completed generation (group metadata record) */
    rn_offset_commit cs[3] = {
        {.topic = S("orders"), .partition = 0, .offset = 10, .leader_epoch = 2, .metadata = S("meta-0")},
        {.topic = S("orders"), .partition = 1, .offset = 11, .leader_epoch = -1, .metadata = S("")},
        {.topic = S("audit"), .partition = 4, .offset = 99, .leader_epoch = -1, .metadata = S("x")},
    };
    int64_t ticket;
    assert_int_equal(rn_group_commit(S("lr-a"), S(""), S(NULL), -1, cs, 3, &ticket), E_NONE);
    cs[0].offset = 20;
    assert_int_equal(rn_group_commit(S("lr-a"), S(""), S(NULL), -1, cs, 1, &ticket), E_NONE);
    assert_int_equal(rn_group_commit(S("lr-b"), S(""), S(NULL), -1, &cs[2], 1, &ticket), E_NONE);
    assert_int_equal(rn_group_commit(S("lr-gone"), S(""), S(NULL), -1, &cs[2], 1, &ticket), E_NONE);
    assert_int_equal(rn_group_delete(S("lr-gone"), &ticket), E_NONE);
    member_t m = solo("lr-gen", 0, (jopt){0});
    assert_int_equal(rn_group_commit(S("lr-gen"), S(m.id), S(NULL), m.generation, &cs[1], 1, &ticket), E_NONE);
    assert_int_equal(rn_group_leave(S("lr-gen"), S(m.id), S(NULL)), E_NONE);
    assert_true(nbatches > 0);
    /* every batch went to the group's own __consumer_offsets partition */
    int32_t parts[4] = {rn_group_partition_for(S("lr-a"), NPARTS), rn_group_partition_for(S("lr-b"), NPARTS),
                        rn_group_partition_for(S("lr-gone"), NPARTS), rn_group_partition_for(S("lr-gen"), NPARTS)};
    for (int i = 0; i < nbatches; i++) {
        int ok = 0;
        for (int j = 0; j < 4; j++)
            ok |= batches[i].partition == parts[j];
        assert_true(ok);
    }

    /* A fresh coordinator loads what was written, in order. */
    rn_group_stop();
    clear_answers();
    for (int i = 0; i < nbatches; i++)
        assert_int_equal(rn_batch_each_record(batches[i].bytes, batches[i].len, replay_one, NULL), 0);
    rn_group_hooks h = hooks(0);
    assert_int_equal(rn_group_start(&h), 0);

    rn_offset_entry e;
    assert_int_equal(rn_group_fetch_offset(S("lr-a"), S("orders"), 0, &e), 0);
    assert_int_equal(e.offset, 20);
    assert_int_equal(e.leader_epoch, 2);
    assert_string_equal(e.metadata, "meta-0");
    entry_free(&e);
    assert_int_equal(rn_group_fetch_offset(S("lr-a"), S("orders"), 1, &e), 0);
    assert_int_equal(e.offset, 11);
    entry_free(&e);
    assert_int_equal(rn_group_fetch_offset(S("lr-a"), S("audit"), 4, &e), 0);
    assert_int_equal(e.offset, 99);
    assert_string_equal(e.metadata, "x");
    entry_free(&e);
    rn_offset_entry *all;
    int n;
    assert_int_equal(rn_group_fetch_offsets(S("lr-a"), &all, &n), 0);
    assert_int_equal(n, 3);
    rn_offset_entries_free(all, n);
    assert_int_equal(rn_group_fetch_offset(S("lr-b"), S("audit"), 4, &e), 0);
    assert_int_equal(e.offset, 99);
    entry_free(&e);
    assert_int_equal(rn_group_fetch_offset(S("lr-gone"), S("audit"), 4, &e), -1);
    assert_int_equal(rn_group_fetch_offset(S("lr-gen"), S("orders"), 1, &e), 0);
    assert_int_equal(e.offset, 11);
    entry_free(&e);
    assert_string_equal(state_of("lr-gen"), "Empty");
    /* the generation carries on after the restart: the next one is m.generation + 1 */
    rn_join_result r;
    assert_int_equal(join("lr-gen", (jopt){0}, 2, &r), 0);
    rn_join_result *j = wait_join(2, 2000);
    assert_non_null(j);
    assert_int_equal(j->error, E_NONE);
    assert_int_equal(j->generation_id, m.generation + 1);
    free_join(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_members_join_one_generation_one_leader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_increments_per_rebalance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_distributes_the_leaders_assignments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_session_timeout_and_protocol, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leave_triggers_rebalance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_expiry_removes_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kip394_member_id_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_member_replacement_fences_old_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_list_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_max_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partition_for_is_javas_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_record_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

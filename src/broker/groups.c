/*
 * groups.c - the group APIs: FindCoordinator, JoinGroup, SyncGroup,
 * Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups,
 * ListGroups, DeleteGroups, OffsetDelete, and OffsetForLeaderEpoch (which
 * consumers use to validate positions).
 *
 * This file translates between Kafka's messages and src/group. Parked
 * JoinGroup/SyncGroup requests are completed by the coordinator's hooks on
 * any thread: the hook stores the result in the request and queues it on
 * its worker (done list, under done_mu), whose loop answers it. Offsets and
 * group metadata are written to __consumer_offsets through the log, and
 * OffsetCommit is answered after the flusher made them durable.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "common/clock.h"
#include "common/rlog.h"
#include "group/group.h"
#include "proto/record_codec.h"
#include "proto/record_batch.h"
#include "proto_gen.h"
#include "txn/txn_coordinator.h"

#define OFFSETS_TOPIC "__consumer_offsets"

enum { COORD_GROUP = 0, COORD_TXN = 1 };

static rn_gbytes gb(rn_str s) { return (rn_gbytes){(const uint8_t *)s.ptr, s.len}; }
static rn_gbytes gbb(rn_bytes s) { return (rn_gbytes){s.ptr, s.len}; }
static rn_str sc(rn_req *req, const char *s) { return s ? rn_arena_str(&req->arena, s) : RN_STR_NULL; }

static rn_bytes bytes_copy(rn_req *req, const uint8_t *p, int32_t len)
{
    rn_bytes b = {NULL, 0};
    if (len > 0) {
        uint8_t *d = rn_arena_alloc(&req->arena, (size_t)len);
        if (d) {
            memcpy(d, p, (size_t)len);
            b.ptr = d;
            b.len = len;
        }
    }
    return b;
}

/* ---- parked join/sync: completion from any thread ---- */

typedef struct group_wait {
    int is_join;
    rn_join_result join;
    rn_sync_result sync;
} group_wait;

static void done_list_remove(rn_worker *w, rn_req *req)
{
    for (rn_req **pp = &w->group_done_head; *pp; pp = &(*pp)->next_waiting)
        if (*pp == req) {
            *pp = req->next_waiting;
            req->next_waiting = NULL;
            return;
        }
}

static void cancel_group_wait(rn_req *req)
{
    rn_group_cancel(req); /* after this the coordinator never touches req */
    pthread_mutex_lock(&req->worker->group_done_mu);
    done_list_remove(req->worker, req);
    pthread_mutex_unlock(&req->worker->group_done_mu);
    group_wait *gw = req->pending;
    rn_join_result_free(&gw->join);
    rn_sync_result_free(&gw->sync);
}

static void queue_done(rn_req *req)
{
    rn_worker *w = req->worker;
    pthread_mutex_lock(&w->group_done_mu);
    req->next_waiting = NULL;
    rn_req **tail = &w->group_done_head;
    while (*tail)
        tail = &(*tail)->next_waiting;
    *tail = req;
    pthread_mutex_unlock(&w->group_done_mu);
    rn_loop_wake(&w->loop);
}

static void hook_join_done(void *waiter, rn_join_result *r)
{
    rn_req *req = waiter;
    group_wait *gw = req->pending;
    gw->join = *r;
    free(r);
    queue_done(req);
}

static void hook_sync_done(void *waiter, rn_sync_result *r)
{
    rn_req *req = waiter;
    group_wait *gw = req->pending;
    gw->sync = *r;
    free(r);
    queue_done(req);
}

static void respond_join(rn_req *req, rn_join_result *r);
static void respond_sync(rn_req *req, rn_sync_result *r);

void rn_groups_answer_done(rn_worker *w)
{
    for (;;) {
        pthread_mutex_lock(&w->group_done_mu);
        rn_req *req = w->group_done_head;
        if (req) {
            w->group_done_head = req->next_waiting;
            req->next_waiting = NULL;
        }
        pthread_mutex_unlock(&w->group_done_mu);
        if (!req)
            return;
        req->cancel = NULL;
        group_wait *gw = req->pending;
        if (gw->is_join)
            respond_join(req, &gw->join);
        else
            respond_sync(req, &gw->sync);
    }
}

/* ---- __consumer_offsets ---- */

static int64_t hook_append(int32_t partition, uint8_t *batches, size_t len)
{
    rn_topics_rdlock();
    rn_topic *t = rn_topic_find(rn_str_c(OFFSETS_TOPIC));
    rn_partition *p = rn_partition_find(t, partition);
    int64_t ticket = -1;
    if (p && !atomic_load(&p->storage_error)) {
        int64_t base, last;
        if (rn_log_append(p->log, batches, len, 1, &base, &last) == 0)
            ticket = (int64_t)rn_flusher_enqueue(p);
    }
    rn_topics_unlock();
    if (ticket > 0)
        rn_notify_append();
    return ticket;
}

static void load_one(void *arg, int64_t offset, const rn_kv *kv)
{
    (void)arg;
    (void)offset;
    rn_group_load_record(kv->key, kv->key_len, kv->value, kv->value_len);
}

static int load_batch(void *arg, const uint8_t *batch, size_t len)
{
    rn_batch_each_record(batch, len, load_one, arg);
    return 0;
}

/* Replays one partition of __consumer_offsets into the coordinator. */
static void load_partition(rn_partition *p)
{
    int rc = rn_partition_scan(p, 0, load_batch, NULL);
    if (rc < 0)
        rn_error("reading %s-%d failed: %s; some committed offsets may be missing", p->topic->name, p->index,
                 strerror(-rc));
}

int rn_groups_start(void)
{
    rn_topics_wrlock();
    rn_topic *t = rn_topic_find(rn_str_c(OFFSETS_TOPIC));
    if (!t) {
        /* As Kafka: compacted, and small segments so compaction can keep up. */
        rn_str offsets_keys[2] = {rn_str_c("cleanup.policy"), rn_str_c("segment.bytes")};
        rn_str offsets_values[2] = {rn_str_c("compact"), rn_str_c("104857600")};
        const char *msg = NULL;
        int err = rn_topic_create(rn_str_c(OFFSETS_TOPIC), rn_g.cfg.offsets_topic_num_partitions, offsets_keys,
                                  offsets_values, 2, &t, &msg);
        if (err != RN_ERR_NONE) {
            rn_topics_unlock();
            rn_error("cannot create %s: %s", OFFSETS_TOPIC, msg ? msg : "?");
            return -1;
        }
    }
    int64_t t0 = rn_mono_ms();
    for (int32_t i = 0; i < t->npartitions; i++)
        load_partition(t->parts[i]);
    int32_t nparts = t->npartitions;
    rn_topics_unlock();
    rn_info("loaded committed offsets and groups from %s (%d partitions) in %lld ms", OFFSETS_TOPIC, nparts,
            (long long)(rn_mono_ms() - t0));
    rn_group_hooks h = {
        .join_done = hook_join_done,
        .sync_done = hook_sync_done,
        .append = hook_append,
        .offsets_partitions = nparts,
        .initial_rebalance_delay_ms = rn_g.cfg.group_initial_rebalance_delay_ms,
        .min_session_timeout_ms = rn_g.cfg.group_min_session_timeout_ms,
        .max_session_timeout_ms = rn_g.cfg.group_max_session_timeout_ms,
        .max_size = rn_g.cfg.group_max_size,
        .offsets_retention_ms = (int64_t)rn_g.cfg.offsets_retention_minutes * 60000,
    };
    return rn_group_start(&h);
}

int rn_topic_is_internal(const char *name) { return strcmp(name, OFFSETS_TOPIC) == 0; }

/* ---- FindCoordinator ---- */

void rn_handle_find_coordinator(rn_req *req)
{
    rn_FindCoordinatorRequest rq;
    if (!RN_DECODE(req, FindCoordinator, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_FindCoordinatorResponse rs;
    rn_FindCoordinatorResponse_init(&rs);
    rn_str host = sc(req, rn_g.advertised_host);
    int16_t err = rq.KeyType == COORD_GROUP || rq.KeyType == COORD_TXN ? RN_ERR_NONE : RN_ERR_INVALID_REQUEST;
    if (req->hdr.api_version < 4) {
        rs.ErrorCode = err;
        rs.NodeId = err ? -1 : rn_g.cfg.node_id;
        rs.Host = err ? rn_str_c("") : host;
        rs.Port = err ? -1 : rn_g.advertised_port;
        if (err)
            rs.ErrorMessage = rn_str_c("unknown coordinator key type");
    } else {
        int32_t n = rq.CoordinatorKeys_count > 0 ? rq.CoordinatorKeys_count : 0;
        rs.Coordinators = RN_ALLOC(req, rn_FindCoordinatorResponse_Coordinator, n);
        if (!rs.Coordinators) {
            rn_req_malformed(req, "request too large to answer");
            return;
        }
        rs.Coordinators_count = n;
        for (int32_t i = 0; i < n; i++) {
            rn_FindCoordinatorResponse_Coordinator *c = &rs.Coordinators[i];
            rn_FindCoordinatorResponse_Coordinator_init(c);
            c->Key = rq.CoordinatorKeys[i];
            c->ErrorCode = err;
            c->NodeId = err ? -1 : rn_g.cfg.node_id;
            c->Host = err ? rn_str_c("") : host;
            c->Port = err ? -1 : rn_g.advertised_port;
            if (err)
                c->ErrorMessage = rn_str_c("unknown coordinator key type");
        }
    }
    RN_RESPOND(req, FindCoordinator, &rs);
}

/* ---- JoinGroup ---- */

static void respond_join(rn_req *req, rn_join_result *r)
{
    rn_JoinGroupResponse rs;
    rn_JoinGroupResponse_init(&rs);
    rs.ErrorCode = r->error;
    rs.GenerationId = r->generation_id;
    rs.ProtocolType = sc(req, r->protocol_type);
    rs.ProtocolName = r->protocol_name ? sc(req, r->protocol_name)
                                       : (req->hdr.api_version >= 7 ? RN_STR_NULL : rn_str_c(""));
    rs.Leader = sc(req, r->leader_id ? r->leader_id : "");
    rs.MemberId = sc(req, r->member_id ? r->member_id : "");
    rs.Members = RN_ALLOC(req, rn_JoinGroupResponse_JoinGroupResponseMember, r->nmembers);
    rs.Members_count = rs.Members ? r->nmembers : 0;
    for (int i = 0; i < rs.Members_count; i++) {
        rn_JoinGroupResponse_JoinGroupResponseMember *m = &rs.Members[i];
        rn_JoinGroupResponse_JoinGroupResponseMember_init(m);
        m->MemberId = sc(req, r->members[i].member_id);
        m->GroupInstanceId = sc(req, r->members[i].group_instance_id);
        m->Metadata = bytes_copy(req, r->members[i].metadata, r->members[i].metadata_len);
    }
    rn_join_result_free(r);
    memset(r, 0, sizeof *r);
    RN_RESPOND(req, JoinGroup, &rs);
}

void rn_handle_join_group(rn_req *req)
{
    rn_JoinGroupRequest rq;
    if (!RN_DECODE(req, JoinGroup, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    group_wait *gw = RN_ALLOC(req, group_wait, 1);
    rn_group_protocol *protos = RN_ALLOC(req, rn_group_protocol, rq.Protocols_count);
    if (!gw || !protos) {
        rn_req_malformed(req, "request too large to decode");
        return;
    }
    for (int32_t i = 0; i < rq.Protocols_count; i++) {
        protos[i].name = gb(rq.Protocols[i].Name);
        protos[i].metadata = gbb(rq.Protocols[i].Metadata);
    }
    rn_join_params p = {
        .group_id = gb(rq.GroupId),
        .member_id = gb(rq.MemberId),
        .group_instance_id = gb(rq.GroupInstanceId),
        .protocol_type = gb(rq.ProtocolType),
        .client_id = gb(req->hdr.client_id),
        .client_host = {(const uint8_t *)req->conn->peer, (int32_t)strcspn(req->conn->peer, ":")},
        .session_timeout_ms = rq.SessionTimeoutMs,
        .rebalance_timeout_ms = req->hdr.api_version >= 1 ? rq.RebalanceTimeoutMs : rq.SessionTimeoutMs,
        .require_known_member_id = req->hdr.api_version >= 4,
        .nprotocols = rq.Protocols_count > 0 ? rq.Protocols_count : 0,
        .protocols = protos,
    };
    gw->is_join = 1;
    req->pending = gw;
    req->cancel = cancel_group_wait; /* before the call: a hook may fire at once */
    rn_join_result r;
    if (rn_group_join(&p, req, &r)) {
        req->cancel = NULL;
        respond_join(req, &r);
    }
}

/* ---- SyncGroup ---- */

static void respond_sync(rn_req *req, rn_sync_result *r)
{
    rn_SyncGroupResponse rs;
    rn_SyncGroupResponse_init(&rs);
    rs.ErrorCode = r->error;
    rs.ProtocolType = sc(req, r->protocol_type);
    rs.ProtocolName = sc(req, r->protocol_name);
    rs.Assignment = bytes_copy(req, r->assignment, r->assignment_len);
    rn_sync_result_free(r);
    memset(r, 0, sizeof *r);
    RN_RESPOND(req, SyncGroup, &rs);
}

void rn_handle_sync_group(rn_req *req)
{
    rn_SyncGroupRequest rq;
    if (!RN_DECODE(req, SyncGroup, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int32_t n = rq.Assignments_count > 0 ? rq.Assignments_count : 0;
    group_wait *gw = RN_ALLOC(req, group_wait, 1);
    rn_gbytes *ids = RN_ALLOC(req, rn_gbytes, n), *as = RN_ALLOC(req, rn_gbytes, n);
    if (!gw || !ids || !as) {
        rn_req_malformed(req, "request too large to decode");
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        ids[i] = gb(rq.Assignments[i].MemberId);
        as[i] = gbb(rq.Assignments[i].Assignment);
    }
    rn_sync_params p = {
        .group_id = gb(rq.GroupId),
        .member_id = gb(rq.MemberId),
        .group_instance_id = gb(rq.GroupInstanceId),
        .protocol_type = gb(rq.ProtocolType),
        .protocol_name = gb(rq.ProtocolName),
        .generation_id = rq.GenerationId,
        .nassignments = n,
        .assignment_member_ids = ids,
        .assignments = as,
    };
    gw->is_join = 0;
    req->pending = gw;
    req->cancel = cancel_group_wait;
    rn_sync_result r;
    if (rn_group_sync(&p, req, &r)) {
        req->cancel = NULL;
        respond_sync(req, &r);
    }
}

/* ---- Heartbeat, LeaveGroup ---- */

void rn_handle_heartbeat(rn_req *req)
{
    rn_HeartbeatRequest rq;
    if (!RN_DECODE(req, Heartbeat, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_HeartbeatResponse rs;
    rn_HeartbeatResponse_init(&rs);
    rs.ErrorCode = rn_group_heartbeat(gb(rq.GroupId), gb(rq.MemberId), gb(rq.GroupInstanceId), rq.GenerationId);
    RN_RESPOND(req, Heartbeat, &rs);
}

void rn_handle_leave_group(rn_req *req)
{
    rn_LeaveGroupRequest rq;
    if (!RN_DECODE(req, LeaveGroup, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_LeaveGroupResponse rs;
    rn_LeaveGroupResponse_init(&rs);
    if (req->hdr.api_version < 3) {
        rs.ErrorCode = rn_group_leave(gb(rq.GroupId), gb(rq.MemberId), (rn_gbytes){NULL, -1});
    } else {
        int32_t n = rq.Members_count > 0 ? rq.Members_count : 0;
        rs.Members = RN_ALLOC(req, rn_LeaveGroupResponse_MemberResponse, n);
        if (!rs.Members) {
            rn_req_malformed(req, "request too large to answer");
            return;
        }
        rs.Members_count = n;
        for (int32_t i = 0; i < n; i++) {
            rn_LeaveGroupResponse_MemberResponse *m = &rs.Members[i];
            rn_LeaveGroupResponse_MemberResponse_init(m);
            m->MemberId = rq.Members[i].MemberId;
            m->GroupInstanceId = rq.Members[i].GroupInstanceId;
            m->ErrorCode = rn_group_leave(gb(rq.GroupId), gb(rq.Members[i].MemberId), gb(rq.Members[i].GroupInstanceId));
        }
    }
    RN_RESPOND(req, LeaveGroup, &rs);
}

/* ---- OffsetCommit ---- */

static void respond_after_flush(rn_req *req)
{
    rn_OffsetCommitResponse *rs = req->pending;
    RN_RESPOND(req, OffsetCommit, rs);
}

void rn_handle_offset_commit(rn_req *req)
{
    rn_OffsetCommitRequest rq;
    if (!RN_DECODE(req, OffsetCommit, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int n = 0;
    for (int32_t i = 0; i < rq.Topics_count; i++)
        n += rq.Topics[i].Partitions_count > 0 ? rq.Topics[i].Partitions_count : 0;
    rn_offset_commit *cs = RN_ALLOC(req, rn_offset_commit, n);
    rn_OffsetCommitResponse *rs = RN_ALLOC(req, rn_OffsetCommitResponse, 1);
    if (!cs || !rs) {
        rn_req_malformed(req, "request too large to decode");
        return;
    }
    int k = 0;
    for (int32_t i = 0; i < rq.Topics_count; i++)
        for (int32_t j = 0; j < rq.Topics[i].Partitions_count; j++, k++) {
            rn_OffsetCommitRequest_OffsetCommitRequestPartition *p = &rq.Topics[i].Partitions[j];
            cs[k].topic = gb(rq.Topics[i].Name);
            cs[k].partition = p->PartitionIndex;
            cs[k].offset = p->CommittedOffset;
            cs[k].leader_epoch = p->CommittedLeaderEpoch;
            cs[k].metadata = gb(p->CommittedMetadata);
            /* Kafka's offset.metadata.max.bytes; also keeps the stored
             * record's int16 string length valid. */
            if (p->CommittedMetadata.len > rn_g.cfg.offset_metadata_max_bytes)
                cs[k].error = RN_ERR_OFFSET_METADATA_TOO_LARGE;
        }
    /* Commits for partitions that do not exist fail alone, as in Kafka. */
    rn_topics_rdlock();
    int nvalid = 0;
    rn_offset_commit *valid = RN_ALLOC(req, rn_offset_commit, n);
    int *map = RN_ALLOC(req, int, n);
    for (int i = 0; valid && map && i < n; i++) {
        rn_str name = {(const char *)cs[i].topic.ptr, cs[i].topic.len};
        if (cs[i].error == RN_ERR_OFFSET_METADATA_TOO_LARGE) {
            map[i] = -1;
        } else if (!rn_partition_find(rn_topic_find(name), cs[i].partition)) {
            cs[i].error = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            map[i] = -1;
        } else {
            map[i] = nvalid;
            valid[nvalid++] = cs[i];
        }
    }
    rn_topics_unlock();
    if (!valid || !map) {
        rn_req_malformed(req, "request too large to decode");
        return;
    }
    int64_t ticket = 0;
    int16_t gerr = rn_group_commit(gb(rq.GroupId), gb(rq.MemberId), gb(rq.GroupInstanceId),
                                   req->hdr.api_version >= 1 ? rq.GenerationIdOrMemberEpoch : -1, valid, nvalid, &ticket);
    for (int i = 0; i < n; i++)
        if (map[i] >= 0)
            cs[i].error = valid[map[i]].error;
        else if (gerr != RN_ERR_NONE && cs[i].error != RN_ERR_OFFSET_METADATA_TOO_LARGE)
            cs[i].error = gerr;
    rn_OffsetCommitResponse_init(rs);
    rs->Topics = RN_ALLOC(req, rn_OffsetCommitResponse_OffsetCommitResponseTopic, rq.Topics_count);
    if (!rs->Topics) {
        rn_req_malformed(req, "request too large to answer");
        return;
    }
    rs->Topics_count = rq.Topics_count > 0 ? rq.Topics_count : 0;
    k = 0;
    for (int32_t i = 0; i < rs->Topics_count; i++) {
        rn_OffsetCommitResponse_OffsetCommitResponseTopic *t = &rs->Topics[i];
        rn_OffsetCommitResponse_OffsetCommitResponseTopic_init(t);
        t->Name = rq.Topics[i].Name;
        int32_t np = rq.Topics[i].Partitions_count > 0 ? rq.Topics[i].Partitions_count : 0;
        t->Partitions = RN_ALLOC(req, rn_OffsetCommitResponse_OffsetCommitResponsePartition, np);
        if (!t->Partitions) {
            rn_req_malformed(req, "request too large to answer");
            return;
        }
        t->Partitions_count = np;
        for (int32_t j = 0; j < np; j++, k++) {
            t->Partitions[j].PartitionIndex = cs[k].partition;
            t->Partitions[j].ErrorCode = cs[k].error;
        }
    }
    req->pending = rs;
    if (ticket > 0)
        rn_req_wait_flush(req, (uint64_t)ticket, respond_after_flush);
    else
        respond_after_flush(req);
}

/* ---- OffsetFetch ---- */

typedef struct fetched_topic {
    rn_str name;
    int32_t nparts;
    int32_t cap;
    rn_offset_entry *parts; /* arena copies; strings in the arena */
} fetched_topic;

/* KIP-447: with RequireStable, an offset that an open transaction holds
 * for the partition is not answered yet: UNSTABLE_OFFSET_COMMIT (88),
 * offset -1, and the consumer retries. */
static int16_t unstable(int require_stable, rn_str group, rn_str topic, int32_t partition)
{
    return require_stable && rn_txn_offset_pending((rn_tbytes){group.ptr, group.len},
                                                   (rn_tbytes){topic.ptr, topic.len}, partition)
               ? RN_ERR_UNSTABLE_OFFSET_COMMIT
               : RN_ERR_NONE;
}

/* Fills topics[] for one group: the requested partitions, or all committed. */
static int collect_offsets(rn_req *req, rn_gbytes group_id, int all, int32_t ntopics_req, const rn_str *names,
                           const int32_t *counts, int32_t *const *indexes, fetched_topic **out, int32_t *nout)
{
    if (!all) {
        fetched_topic *ts = RN_ALLOC(req, fetched_topic, ntopics_req);
        if (!ts)
            return -1;
        for (int32_t i = 0; i < ntopics_req; i++) {
            ts[i].name = names[i];
            ts[i].nparts = counts[i] > 0 ? counts[i] : 0;
            ts[i].parts = RN_ALLOC(req, rn_offset_entry, ts[i].nparts);
            if (!ts[i].parts)
                return -1;
            for (int32_t j = 0; j < ts[i].nparts; j++) {
                rn_offset_entry e;
                rn_group_fetch_offset(group_id, gb(names[i]), indexes[i][j], &e);
                ts[i].parts[j] = e;
                ts[i].parts[j].partition = indexes[i][j];
                ts[i].parts[j].metadata = e.metadata ? rn_arena_strndup(&req->arena, e.metadata, strlen(e.metadata)) : NULL;
                ts[i].parts[j].topic = NULL;
                free(e.topic);
                free(e.metadata);
            }
        }
        *out = ts;
        *nout = ntopics_req;
        return 0;
    }
    rn_offset_entry *es;
    int n;
    if (rn_group_fetch_offsets(group_id, &es, &n) < 0)
        return -1;
    fetched_topic *ts = RN_ALLOC(req, fetched_topic, n);
    int32_t nt = 0;
    for (int i = 0; ts && i < n; i++) {
        fetched_topic *t = NULL;
        for (int32_t j = 0; j < nt; j++)
            if (rn_str_eq_c(ts[j].name, es[i].topic))
                t = &ts[j];
        if (!t) {
            t = &ts[nt++];
            t->name = rn_arena_str(&req->arena, es[i].topic);
            t->cap = n;
            t->parts = RN_ALLOC(req, rn_offset_entry, n);
            if (!t->parts)
                break;
        }
        rn_offset_entry *e = &t->parts[t->nparts++];
        *e = es[i];
        e->topic = NULL;
        e->metadata = rn_arena_strndup(&req->arena, es[i].metadata, strlen(es[i].metadata));
    }
    rn_offset_entries_free(es, n);
    if (!ts)
        return -1;
    *out = ts;
    *nout = nt;
    return 0;
}

void rn_handle_offset_fetch(rn_req *req)
{
    rn_OffsetFetchRequest rq;
    if (!RN_DECODE(req, OffsetFetch, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int16_t version = req->hdr.api_version;
    rn_OffsetFetchResponse rs;
    rn_OffsetFetchResponse_init(&rs);
    /* v8+ asks for several groups; older versions for one. Treat both as a list. */
    int32_t ngroups = version >= 8 ? (rq.Groups_count > 0 ? rq.Groups_count : 0) : 1;
    if (version >= 8) {
        rs.Groups = RN_ALLOC(req, rn_OffsetFetchResponse_OffsetFetchResponseGroup, ngroups);
        if (!rs.Groups)
            goto oom;
        rs.Groups_count = ngroups;
    }
    for (int32_t g = 0; g < ngroups; g++) {
        rn_str gid = version >= 8 ? rq.Groups[g].GroupId : rq.GroupId;
        int32_t nt = version >= 8 ? rq.Groups[g].Topics_count : rq.Topics_count;
        int all = nt < 0;
        rn_str *names = RN_ALLOC(req, rn_str, nt > 0 ? nt : 0);
        int32_t *counts = RN_ALLOC(req, int32_t, nt > 0 ? nt : 0);
        int32_t **idx = RN_ALLOC(req, int32_t *, nt > 0 ? nt : 0);
        if (!names || !counts || !idx)
            goto oom;
        for (int32_t i = 0; i < nt; i++) {
            if (version >= 8) {
                names[i] = rq.Groups[g].Topics[i].Name;
                counts[i] = rq.Groups[g].Topics[i].PartitionIndexes_count;
                idx[i] = rq.Groups[g].Topics[i].PartitionIndexes;
            } else {
                names[i] = rq.Topics[i].Name;
                counts[i] = rq.Topics[i].PartitionIndexes_count;
                idx[i] = rq.Topics[i].PartitionIndexes;
            }
        }
        fetched_topic *ts;
        int32_t nts;
        if (collect_offsets(req, gb(gid), all, nt, names, counts, idx, &ts, &nts) < 0)
            goto oom;
        if (version >= 8) {
            rn_OffsetFetchResponse_OffsetFetchResponseGroup *rg = &rs.Groups[g];
            rn_OffsetFetchResponse_OffsetFetchResponseGroup_init(rg);
            rg->GroupId = gid;
            rg->Topics = RN_ALLOC(req, rn_OffsetFetchResponse_OffsetFetchResponseTopics, nts);
            if (!rg->Topics)
                goto oom;
            rg->Topics_count = nts;
            for (int32_t i = 0; i < nts; i++) {
                rn_OffsetFetchResponse_OffsetFetchResponseTopics *t = &rg->Topics[i];
                rn_OffsetFetchResponse_OffsetFetchResponseTopics_init(t);
                t->Name = ts[i].name;
                t->Partitions = RN_ALLOC(req, rn_OffsetFetchResponse_OffsetFetchResponsePartitions, ts[i].nparts);
                if (!t->Partitions)
                    goto oom;
                t->Partitions_count = ts[i].nparts;
                for (int32_t j = 0; j < ts[i].nparts; j++) {
                    rn_OffsetFetchResponse_OffsetFetchResponsePartitions *p = &t->Partitions[j];
                    rn_OffsetFetchResponse_OffsetFetchResponsePartitions_init(p);
                    p->PartitionIndex = ts[i].parts[j].partition;
                    p->CommittedOffset = ts[i].parts[j].offset;
                    p->CommittedLeaderEpoch = ts[i].parts[j].leader_epoch;
                    p->Metadata = ts[i].parts[j].metadata ? rn_str_c(ts[i].parts[j].metadata) : rn_str_c("");
                    if ((p->ErrorCode = unstable(rq.RequireStable, gid, t->Name, p->PartitionIndex)) != 0)
                        p->CommittedOffset = -1;
                }
            }
        } else {
            rs.Topics = RN_ALLOC(req, rn_OffsetFetchResponse_OffsetFetchResponseTopic, nts);
            if (!rs.Topics)
                goto oom;
            rs.Topics_count = nts;
            for (int32_t i = 0; i < nts; i++) {
                rn_OffsetFetchResponse_OffsetFetchResponseTopic *t = &rs.Topics[i];
                rn_OffsetFetchResponse_OffsetFetchResponseTopic_init(t);
                t->Name = ts[i].name;
                t->Partitions = RN_ALLOC(req, rn_OffsetFetchResponse_OffsetFetchResponsePartition, ts[i].nparts);
                if (!t->Partitions)
                    goto oom;
                t->Partitions_count = ts[i].nparts;
                for (int32_t j = 0; j < ts[i].nparts; j++) {
                    rn_OffsetFetchResponse_OffsetFetchResponsePartition *p = &t->Partitions[j];
                    rn_OffsetFetchResponse_OffsetFetchResponsePartition_init(p);
                    p->PartitionIndex = ts[i].parts[j].partition;
                    p->CommittedOffset = ts[i].parts[j].offset;
                    p->CommittedLeaderEpoch = ts[i].parts[j].leader_epoch;
                    p->Metadata = ts[i].parts[j].metadata ? rn_str_c(ts[i].parts[j].metadata) : rn_str_c("");
                    if ((p->ErrorCode = unstable(rq.RequireStable, gid, t->Name, p->PartitionIndex)) != 0)
                        p->CommittedOffset = -1;
                }
            }
        }
    }
    RN_RESPOND(req, OffsetFetch, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

/* ---- DescribeGroups, ListGroups, DeleteGroups, OffsetDelete ---- */

void rn_handle_describe_groups(rn_req *req)
{
    rn_DescribeGroupsRequest rq;
    if (!RN_DECODE(req, DescribeGroups, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_DescribeGroupsResponse rs;
    rn_DescribeGroupsResponse_init(&rs);
    int32_t n = rq.Groups_count > 0 ? rq.Groups_count : 0;
    rs.Groups = RN_ALLOC(req, rn_DescribeGroupsResponse_DescribedGroup, n);
    if (!rs.Groups)
        goto oom;
    rs.Groups_count = n;
    for (int32_t i = 0; i < n; i++) {
        rn_DescribeGroupsResponse_DescribedGroup *dg = &rs.Groups[i];
        rn_DescribeGroupsResponse_DescribedGroup_init(dg);
        rn_group_desc d;
        rn_group_describe(gb(rq.Groups[i]), &d);
        dg->ErrorCode = RN_ERR_NONE;
        dg->GroupId = rq.Groups[i];
        dg->GroupState = rn_str_c(d.state);
        dg->ProtocolType = sc(req, d.protocol_type);
        dg->ProtocolData = sc(req, d.protocol_name);
        dg->Members = RN_ALLOC(req, rn_DescribeGroupsResponse_DescribedGroupMember, d.nmembers);
        if (!dg->Members) {
            rn_group_desc_free(&d);
            goto oom;
        }
        dg->Members_count = d.nmembers;
        for (int m = 0; m < d.nmembers; m++) {
            rn_DescribeGroupsResponse_DescribedGroupMember *dm = &dg->Members[m];
            rn_DescribeGroupsResponse_DescribedGroupMember_init(dm);
            dm->MemberId = sc(req, d.members[m].member_id);
            dm->GroupInstanceId = sc(req, d.members[m].group_instance_id);
            dm->ClientId = sc(req, d.members[m].client_id);
            dm->ClientHost = sc(req, d.members[m].client_host);
            dm->MemberMetadata = bytes_copy(req, d.members[m].metadata, d.members[m].metadata_len);
            dm->MemberAssignment = bytes_copy(req, d.members[m].assignment, d.members[m].assignment_len);
        }
        rn_group_desc_free(&d);
    }
    RN_RESPOND(req, DescribeGroups, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

void rn_handle_list_groups(rn_req *req)
{
    rn_ListGroupsRequest rq;
    if (!RN_DECODE(req, ListGroups, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int32_t ns = rq.StatesFilter_count > 0 ? rq.StatesFilter_count : 0;
    rn_gbytes *states = RN_ALLOC(req, rn_gbytes, ns);
    if (!states) {
        rn_req_malformed(req, "request too large to decode");
        return;
    }
    for (int32_t i = 0; i < ns; i++)
        states[i] = gb(rq.StatesFilter[i]);
    /* TypesFilter (v5): every group here is a classic group. */
    int classic_ok = rq.TypesFilter_count <= 0;
    for (int32_t i = 0; i < rq.TypesFilter_count; i++)
        classic_ok |= rn_str_eq_c(rq.TypesFilter[i], "classic") || rn_str_eq_c(rq.TypesFilter[i], "Classic");
    rn_group_listing *l = NULL;
    int n = 0;
    if (rn_group_list(states, ns, &l, &n) < 0) {
        rn_req_malformed(req, "out of memory");
        return;
    }
    if (!classic_ok)
        n = 0;
    rn_ListGroupsResponse rs;
    rn_ListGroupsResponse_init(&rs);
    rs.Groups = RN_ALLOC(req, rn_ListGroupsResponse_ListedGroup, n);
    rs.Groups_count = rs.Groups ? n : 0;
    for (int i = 0; i < rs.Groups_count; i++) {
        rn_ListGroupsResponse_ListedGroup *g = &rs.Groups[i];
        rn_ListGroupsResponse_ListedGroup_init(g);
        g->GroupId = sc(req, l[i].group_id);
        g->ProtocolType = sc(req, l[i].protocol_type);
        g->GroupState = rn_str_c(l[i].state);
        g->GroupType = rn_str_c("classic");
    }
    rn_group_listing_free(l, n);
    RN_RESPOND(req, ListGroups, &rs);
}

typedef struct delete_pending {
    rn_DeleteGroupsResponse rs;
} delete_pending;

static void delete_groups_flushed(rn_req *req)
{
    delete_pending *dp = req->pending;
    RN_RESPOND(req, DeleteGroups, &dp->rs);
}

void rn_handle_delete_groups(rn_req *req)
{
    rn_DeleteGroupsRequest rq;
    if (!RN_DECODE(req, DeleteGroups, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int32_t n = rq.GroupsNames_count > 0 ? rq.GroupsNames_count : 0;
    delete_pending *dp = RN_ALLOC(req, delete_pending, 1);
    if (!dp)
        goto oom;
    rn_DeleteGroupsResponse_init(&dp->rs);
    dp->rs.Results = RN_ALLOC(req, rn_DeleteGroupsResponse_DeletableGroupResult, n);
    if (!dp->rs.Results)
        goto oom;
    dp->rs.Results_count = n;
    int64_t ticket = 0;
    for (int32_t i = 0; i < n; i++) {
        rn_DeleteGroupsResponse_DeletableGroupResult_init(&dp->rs.Results[i]);
        dp->rs.Results[i].GroupId = rq.GroupsNames[i];
        int64_t t = 0;
        dp->rs.Results[i].ErrorCode = rn_group_delete(gb(rq.GroupsNames[i]), &t);
        if (t > ticket)
            ticket = t;
    }
    req->pending = dp;
    rn_req_wait_flush(req, ticket > 0 ? (uint64_t)ticket : 0, delete_groups_flushed);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

static void offset_delete_flushed(rn_req *req)
{
    rn_OffsetDeleteResponse *rs = req->pending;
    RN_RESPOND(req, OffsetDelete, rs);
}

void rn_handle_offset_delete(rn_req *req)
{
    rn_OffsetDeleteRequest rq;
    if (!RN_DECODE(req, OffsetDelete, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_OffsetDeleteResponse *rs = RN_ALLOC(req, rn_OffsetDeleteResponse, 1);
    if (!rs)
        goto oom;
    rn_OffsetDeleteResponse_init(rs);
    rs->ErrorCode = rn_group_offset_delete_check(gb(rq.GroupId));
    int64_t ticket = 0;
    int32_t nt = rs->ErrorCode == RN_ERR_NONE && rq.Topics_count > 0 ? rq.Topics_count : 0;
    rs->Topics = RN_ALLOC(req, rn_OffsetDeleteResponse_OffsetDeleteResponseTopic, nt);
    if (!rs->Topics)
        goto oom;
    rs->Topics_count = nt;
    for (int32_t i = 0; i < nt; i++) {
        rn_OffsetDeleteResponse_OffsetDeleteResponseTopic *t = &rs->Topics[i];
        rn_OffsetDeleteResponse_OffsetDeleteResponseTopic_init(t);
        t->Name = rq.Topics[i].Name;
        int32_t np = rq.Topics[i].Partitions_count > 0 ? rq.Topics[i].Partitions_count : 0;
        t->Partitions = RN_ALLOC(req, rn_OffsetDeleteResponse_OffsetDeleteResponsePartition, np);
        if (!t->Partitions)
            goto oom;
        t->Partitions_count = np;
        for (int32_t j = 0; j < np; j++) {
            int64_t tk = 0;
            t->Partitions[j].PartitionIndex = rq.Topics[i].Partitions[j].PartitionIndex;
            t->Partitions[j].ErrorCode =
                rn_group_delete_offset(gb(rq.GroupId), gb(t->Name), t->Partitions[j].PartitionIndex, &tk);
            if (tk > ticket)
                ticket = tk;
        }
    }
    req->pending = rs;
    rn_req_wait_flush(req, ticket > 0 ? (uint64_t)ticket : 0, offset_delete_flushed);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

/* ---- OffsetForLeaderEpoch ---- */

void rn_handle_offset_for_leader_epoch(rn_req *req)
{
    rn_OffsetForLeaderEpochRequest rq;
    if (!RN_DECODE(req, OffsetForLeaderEpoch, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_OffsetForLeaderEpochResponse rs;
    rn_OffsetForLeaderEpochResponse_init(&rs);
    int32_t nt = rq.Topics_count > 0 ? rq.Topics_count : 0;
    rs.Topics = RN_ALLOC(req, rn_OffsetForLeaderEpochResponse_OffsetForLeaderTopicResult, nt);
    if (!rs.Topics)
        goto oom;
    rs.Topics_count = nt;
    rn_topics_rdlock();
    for (int32_t i = 0; i < nt; i++) {
        rn_OffsetForLeaderEpochResponse_OffsetForLeaderTopicResult *tr = &rs.Topics[i];
        rn_OffsetForLeaderEpochResponse_OffsetForLeaderTopicResult_init(tr);
        tr->Topic = rq.Topics[i].Topic;
        rn_topic *t = rn_topic_find(rq.Topics[i].Topic);
        int32_t np = rq.Topics[i].Partitions_count > 0 ? rq.Topics[i].Partitions_count : 0;
        tr->Partitions = RN_ALLOC(req, rn_OffsetForLeaderEpochResponse_EpochEndOffset, np);
        if (!tr->Partitions) {
            rn_topics_unlock();
            goto oom;
        }
        tr->Partitions_count = np;
        for (int32_t j = 0; j < np; j++) {
            rn_OffsetForLeaderEpochRequest_OffsetForLeaderPartition *pq = &rq.Topics[i].Partitions[j];
            rn_OffsetForLeaderEpochResponse_EpochEndOffset *e = &tr->Partitions[j];
            rn_OffsetForLeaderEpochResponse_EpochEndOffset_init(e);
            e->Partition = pq->Partition;
            rn_partition *p = rn_partition_find(t, pq->Partition);
            if (!p) {
                e->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            /* One node, one leader epoch (0) since the partition was created:
             * an epoch at or below it ends at the log end (KIP-101/320). */
            if (pq->CurrentLeaderEpoch > 0) {
                e->ErrorCode = 75; /* UNKNOWN_LEADER_EPOCH: the client knows a newer epoch than ours */
                continue;
            }
            if (pq->LeaderEpoch <= 0) {
                e->LeaderEpoch = 0;
                e->EndOffset = rn_log_end_offset(p->log);
            }
        }
    }
    rn_topics_unlock();
    RN_RESPOND(req, OffsetForLeaderEpoch, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

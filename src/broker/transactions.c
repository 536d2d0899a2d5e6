/*
 * transactions.c - the transaction APIs (InitProducerId with a transactional
 * id, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn,
 * WriteTxnMarkers, ListTransactions, DescribeTransactions) and the hooks
 * that let src/txn write to logs: __transaction_state records, COMMIT/ABORT
 * markers in data partitions, and committed offsets.
 *
 * Markers: a control batch (attributes CONTROL | TRANSACTIONAL, the
 * producer's id and epoch) whose one record has key {int16 version 0,
 * int16 type 0 abort / 1 commit} and value {int16 version 0, int32
 * coordinator epoch} (Kafka's EndTransactionMarker). It is appended under
 * the partition's produce lock, so it lands after every batch of the
 * transaction, and closes the producer's open transaction in the partition
 * state. An abort also goes into the partition's aborted-transaction index
 * (memory, plus the file `aborted-txns`: one "pid first last" line each),
 * which Fetch answers read_committed consumers from.
 *
 * EndTxn and the other calls that persist state wait for durability on the
 * worker thread (rn_flusher_wait): they are rare, and a blocked worker for
 * one group-commit round is simpler than parking them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "common/clock.h"
#include "common/rlog.h"
#include "group/group.h"
#include "proto/record_batch.h"
#include "proto/record_codec.h"
#include "proto_gen.h"
#include "txn/producer_state.h"
#include "txn/txn_coordinator.h"

#define TXN_TOPIC "__transaction_state"

static rn_tbytes tb(rn_str s) { return (rn_tbytes){s.ptr, s.len}; }

/* PRODUCER_FENCED (90, KIP-588) is known to clients only from these API
 * versions on; older ones get INVALID_PRODUCER_EPOCH, as Kafka answers. */
static int16_t fenced_for(const rn_req *req, int16_t err, int16_t first_version)
{
    return err == 90 && req->hdr.api_version < first_version ? RN_ERR_INVALID_PRODUCER_EPOCH : err;
}

/* Appends batches to p and waits until they are on disk. Caller holds a
 * hold on p (not the topics lock), or the read lock. */
static int append_durable(rn_partition *p, uint8_t *batch, size_t len, int64_t *base_out)
{
    int64_t base, last;
    int rc = rn_log_append(p->log, batch, len, 1, &base, &last);
    if (rc < 0)
        return rc;
    if (base_out)
        *base_out = base;
    rn_notify_append();
    if (rn_g.cfg.log_flush_acks_all && rn_flusher_wait(rn_flusher_enqueue(p)) < 0)
        return -ECANCELED;
    return atomic_load(&p->storage_error) ? -EIO : 0;
}

/* Looks a partition up and holds it, so the caller may block without the
 * topics lock. NULL when it does not exist. */
static rn_partition *hold_partition(rn_str topic, int32_t partition)
{
    rn_topics_rdlock();
    rn_partition *p = rn_partition_find(rn_topic_find(topic), partition);
    if (p && !rn_partition_try_hold(p))
        p = NULL;
    rn_topics_unlock();
    return p;
}

/* ---- hooks for src/txn ---- */

static int hook_persist(int32_t partition, const uint8_t *key, int32_t key_len, const uint8_t *value, int32_t value_len)
{
    rn_partition *p = hold_partition(rn_str_c(TXN_TOPIC), partition);
    if (!p)
        return -ENOENT;
    rn_kv kv = {key, key_len, value, value_len};
    size_t cap = rn_batch_build_bound(&kv, 1);
    uint8_t *buf = malloc(cap);
    int rc = -ENOMEM;
    if (buf) {
        size_t len = rn_batch_build(buf, cap, rn_now_ms(), &kv, 1);
        rc = len ? append_durable(p, buf, len, NULL) : -EINVAL;
    }
    free(buf);
    rn_partition_unhold(p);
    return rc;
}

/* Appends the marker; returns the flusher generation that makes it durable
 * (> 0), or -errno. */
static int64_t append_marker(rn_partition *p, int64_t pid, int16_t epoch, int commit)
{
    uint8_t key[4] = {0, 0, 0, (uint8_t)(commit ? 1 : 0)};
    uint8_t value[6] = {0, 0, 0, 0, 0, 0};
    rn_kv kv = {key, 4, value, 6};
    uint8_t buf[256];
    size_t len = rn_batch_build_ex(buf, sizeof buf, rn_now_ms(), &kv, 1, RN_ATTR_CONTROL | RN_ATTR_TRANSACTIONAL, pid,
                                   epoch, -1);
    if (!len)
        return -EINVAL;
    pthread_mutex_lock(&p->produce_mu);
    int64_t base, last;
    int rc = rn_log_append(p->log, buf, len, 1, &base, &last);
    if (rc == 0) {
        int64_t first = rn_pstate_end_txn(p->pstate, pid, epoch, base);
        if (!commit && first >= 0)
            rc = rn_partition_add_aborted(p, pid, first, base);
    }
    pthread_mutex_unlock(&p->produce_mu);
    if (rc < 0)
        return rc;
    rn_notify_append();
    if (atomic_load(&p->storage_error))
        return -EIO;
    return rn_g.cfg.log_flush_acks_all ? (int64_t)rn_flusher_enqueue(p) : 0;
}

int rn_txn_write_marker(rn_partition *p, int64_t pid, int16_t epoch, int commit)
{
    int64_t gen = append_marker(p, pid, epoch, commit);
    if (gen < 0)
        return (int)gen;
    if (gen > 0 && rn_flusher_wait((uint64_t)gen) < 0)
        return -ECANCELED;
    return atomic_load(&p->storage_error) ? -EIO : 0;
}

/* The markers of one transaction end are written by one thread in a row;
 * they share one flush round, waited for by hook_markers_durable. A sync
 * failure seen meanwhile (any partition: the round is shared) fails the
 * end, which the client retries. */
static _Thread_local int64_t markers_gen;
static _Thread_local uint64_t markers_failures;
static _Thread_local int markers_started;

static int hook_write_marker(const char *topic, int32_t partition, int64_t pid, int16_t epoch, int commit)
{
    rn_partition *p = hold_partition(rn_str_c(topic), partition);
    if (!p)
        return -ENOENT;
    if (!markers_started) {
        markers_started = 1;
        markers_failures = rn_flusher_failures();
    }
    int64_t gen = append_marker(p, pid, epoch, commit);
    rn_partition_unhold(p);
    if (gen < 0)
        return (int)gen;
    if (gen > markers_gen)
        markers_gen = gen;
    return 0;
}

static int hook_markers_durable(void)
{
    int64_t gen = markers_gen;
    markers_gen = 0;
    markers_started = 0;
    if (gen > 0 && rn_flusher_wait((uint64_t)gen) < 0)
        return -ECANCELED;
    return gen > 0 && rn_flusher_failures() != markers_failures ? -EIO : 0;
}

static int hook_commit_offsets(const char *group, const rn_txn_offset *offsets, int n)
{
    rn_offset_commit *cs = calloc((size_t)n + 1, sizeof *cs);
    if (!cs)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        cs[i].topic = (rn_gbytes){(const uint8_t *)offsets[i].topic, (int32_t)strlen(offsets[i].topic)};
        cs[i].partition = offsets[i].partition;
        cs[i].offset = offsets[i].offset;
        cs[i].leader_epoch = offsets[i].leader_epoch;
        const char *m = offsets[i].metadata ? offsets[i].metadata : "";
        cs[i].metadata = (rn_gbytes){(const uint8_t *)m, (int32_t)strlen(m)};
    }
    int64_t ticket = 0;
    int16_t err = rn_group_commit_txn((rn_gbytes){(const uint8_t *)group, (int32_t)strlen(group)}, cs, n, &ticket);
    int failed = err != 0;
    for (int i = 0; i < n; i++)
        failed |= cs[i].error != 0;
    free(cs);
    if (failed)
        return -EIO;
    if (ticket > 0 && rn_flusher_wait((uint64_t)ticket) < 0)
        return -ECANCELED;
    return 0;
}

static int hook_partition_exists(rn_tbytes topic, int32_t partition)
{
    rn_topics_rdlock();
    int ok = rn_partition_find(rn_topic_find((rn_str){topic.ptr, topic.len}), partition) != NULL;
    rn_topics_unlock();
    return ok;
}

static void load_record(void *arg, int64_t offset, const rn_kv *kv)
{
    (void)arg;
    (void)offset;
    rn_txn_load_record(kv->key, kv->key_len, kv->value, kv->value_len);
}

static int load_batch(void *arg, const uint8_t *batch, size_t len)
{
    rn_batch_each_record(batch, len, load_record, arg);
    return 0;
}

int rn_transactions_start(void)
{
    rn_topics_wrlock();
    rn_topic *t = rn_topic_find(rn_str_c(TXN_TOPIC));
    if (!t) {
        rn_str keys[2] = {rn_str_c("cleanup.policy"), rn_str_c("segment.bytes")};
        rn_str values[2] = {rn_str_c("compact"), rn_str_c("104857600")};
        const char *msg = NULL;
        int err = rn_topic_create(rn_str_c(TXN_TOPIC), rn_g.cfg.transaction_state_log_num_partitions, keys, values, 2,
                                  &t, &msg);
        if (err != RN_ERR_NONE) {
            rn_topics_unlock();
            rn_error("cannot create %s: %s", TXN_TOPIC, msg ? msg : "?");
            return -1;
        }
    }
    for (int32_t i = 0; i < t->npartitions; i++)
        if (rn_partition_scan(t->parts[i], 0, load_batch, NULL) < 0)
            rn_error("reading %s-%d failed; some transactions may be missing", TXN_TOPIC, i);
    int32_t nparts = t->npartitions;
    rn_topics_unlock();
    rn_txn_hooks h = {
        .persist = hook_persist,
        .write_marker = hook_write_marker,
        .markers_durable = hook_markers_durable,
        .commit_offsets = hook_commit_offsets,
        .partition_exists = hook_partition_exists,
        .new_producer_id = rn_producer_id_next,
        .state_partitions = nparts,
        .max_timeout_ms = rn_g.cfg.transaction_max_timeout_ms,
    };
    int rc = rn_txn_start(&h);
    if (rc == 0)
        rn_txn_recover();
    return rc;
}

/* ---- handlers ---- */

static void handle_add_partitions_to_txn(rn_req *req)
{
    rn_AddPartitionsToTxnRequest rq;
    if (!RN_DECODE(req, AddPartitionsToTxn, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_AddPartitionsToTxnResponse rs;
    rn_AddPartitionsToTxnResponse_init(&rs);
    int v4 = req->hdr.api_version >= 4;
    int32_t ntx = v4 ? (rq.Transactions_count > 0 ? rq.Transactions_count : 0) : 1;
    if (v4) {
        rs.ResultsByTransaction = RN_ALLOC(req, rn_AddPartitionsToTxnResponse_AddPartitionsToTxnResult, ntx);
        if (!rs.ResultsByTransaction)
            goto oom;
        rs.ResultsByTransaction_count = ntx;
    }
    for (int32_t x = 0; x < ntx; x++) {
        rn_str txn_id = v4 ? rq.Transactions[x].TransactionalId : rq.V3AndBelowTransactionalId;
        int64_t pid = v4 ? rq.Transactions[x].ProducerId : rq.V3AndBelowProducerId;
        int16_t epoch = v4 ? rq.Transactions[x].ProducerEpoch : rq.V3AndBelowProducerEpoch;
        int verify = v4 ? rq.Transactions[x].VerifyOnly : 0;
        int32_t ntopics = v4 ? rq.Transactions[x].Topics_count : rq.V3AndBelowTopics_count;
        rn_AddPartitionsToTxn_AddPartitionsToTxnTopic *topics = v4 ? rq.Transactions[x].Topics : rq.V3AndBelowTopics;
        if (ntopics < 0)
            ntopics = 0;
        int n = 0;
        for (int32_t i = 0; i < ntopics; i++)
            n += topics[i].Partitions_count > 0 ? topics[i].Partitions_count : 0;
        rn_tbytes *names = RN_ALLOC(req, rn_tbytes, n);
        int32_t *parts = RN_ALLOC(req, int32_t, n);
        int16_t *errs = RN_ALLOC(req, int16_t, n);
        rn_AddPartitionsToTxn_AddPartitionsToTxnTopicResult *results =
            RN_ALLOC(req, rn_AddPartitionsToTxn_AddPartitionsToTxnTopicResult, ntopics);
        if (!names || !parts || !errs || !results)
            goto oom;
        int k = 0;
        for (int32_t i = 0; i < ntopics; i++)
            for (int32_t j = 0; j < topics[i].Partitions_count; j++, k++) {
                names[k] = tb(topics[i].Name);
                parts[k] = topics[i].Partitions[j];
            }
        rn_txn_add_partitions(tb(txn_id), pid, epoch, names, parts, n, errs, req->conn->seq, verify);
        for (int i = 0; i < n; i++)
            errs[i] = fenced_for(req, errs[i], 2);
        k = 0;
        for (int32_t i = 0; i < ntopics; i++) {
            rn_AddPartitionsToTxn_AddPartitionsToTxnTopicResult_init(&results[i]);
            results[i].Name = topics[i].Name;
            int32_t np = topics[i].Partitions_count > 0 ? topics[i].Partitions_count : 0;
            results[i].ResultsByPartition = RN_ALLOC(req, rn_AddPartitionsToTxn_AddPartitionsToTxnPartitionResult, np);
            if (!results[i].ResultsByPartition)
                goto oom;
            results[i].ResultsByPartition_count = np;
            for (int32_t j = 0; j < np; j++, k++) {
                results[i].ResultsByPartition[j].PartitionIndex = parts[k];
                results[i].ResultsByPartition[j].PartitionErrorCode = errs[k];
            }
        }
        if (v4) {
            rn_AddPartitionsToTxnResponse_AddPartitionsToTxnResult *r = &rs.ResultsByTransaction[x];
            rn_AddPartitionsToTxnResponse_AddPartitionsToTxnResult_init(r);
            r->TransactionalId = txn_id;
            r->TopicResults = results;
            r->TopicResults_count = ntopics;
        } else {
            rs.ResultsByTopicV3AndBelow = results;
            rs.ResultsByTopicV3AndBelow_count = ntopics;
        }
    }
    RN_RESPOND(req, AddPartitionsToTxn, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

static void handle_add_offsets_to_txn(rn_req *req)
{
    rn_AddOffsetsToTxnRequest rq;
    if (!RN_DECODE(req, AddOffsetsToTxn, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_AddOffsetsToTxnResponse rs;
    rn_AddOffsetsToTxnResponse_init(&rs);
    rs.ErrorCode = fenced_for(req,
                              rn_txn_add_offsets(tb(rq.TransactionalId), rq.ProducerId, rq.ProducerEpoch,
                                                 tb(rq.GroupId), req->conn->seq),
                              2);
    RN_RESPOND(req, AddOffsetsToTxn, &rs);
}

static void handle_txn_offset_commit(rn_req *req)
{
    rn_TxnOffsetCommitRequest rq;
    if (!RN_DECODE(req, TxnOffsetCommit, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int n = 0;
    for (int32_t i = 0; i < rq.Topics_count; i++)
        n += rq.Topics[i].Partitions_count > 0 ? rq.Topics[i].Partitions_count : 0;
    rn_txn_offset *offs = RN_ALLOC(req, rn_txn_offset, n);
    rn_TxnOffsetCommitResponse rs;
    rn_TxnOffsetCommitResponse_init(&rs);
    int32_t nt = rq.Topics_count > 0 ? rq.Topics_count : 0;
    rs.Topics = RN_ALLOC(req, rn_TxnOffsetCommitResponse_TxnOffsetCommitResponseTopic, nt);
    if (!offs || !rs.Topics)
        goto oom;
    int k = 0;
    for (int32_t i = 0; i < nt; i++)
        for (int32_t j = 0; j < rq.Topics[i].Partitions_count; j++, k++) {
            rn_TxnOffsetCommitRequest_TxnOffsetCommitRequestPartition *p = &rq.Topics[i].Partitions[j];
            offs[k].topic = rn_arena_strndup(&req->arena, rq.Topics[i].Name.ptr, (size_t)rq.Topics[i].Name.len);
            offs[k].partition = p->PartitionIndex;
            offs[k].offset = p->CommittedOffset;
            offs[k].leader_epoch = p->CommittedLeaderEpoch;
            offs[k].metadata = p->CommittedMetadata.len >= 0
                                   ? rn_arena_strndup(&req->arena, p->CommittedMetadata.ptr, (size_t)p->CommittedMetadata.len)
                                   : NULL;
            if (!offs[k].topic)
                goto oom;
        }
    int16_t err = fenced_for(
        req, rn_txn_offset_commit(tb(rq.TransactionalId), tb(rq.GroupId), rq.ProducerId, rq.ProducerEpoch, offs, n), 3);
    rs.Topics_count = nt;
    for (int32_t i = 0; i < nt; i++) {
        rn_TxnOffsetCommitResponse_TxnOffsetCommitResponseTopic *t = &rs.Topics[i];
        rn_TxnOffsetCommitResponse_TxnOffsetCommitResponseTopic_init(t);
        t->Name = rq.Topics[i].Name;
        int32_t np = rq.Topics[i].Partitions_count > 0 ? rq.Topics[i].Partitions_count : 0;
        t->Partitions = RN_ALLOC(req, rn_TxnOffsetCommitResponse_TxnOffsetCommitResponsePartition, np);
        if (!t->Partitions)
            goto oom;
        t->Partitions_count = np;
        for (int32_t j = 0; j < np; j++) {
            t->Partitions[j].PartitionIndex = rq.Topics[i].Partitions[j].PartitionIndex;
            t->Partitions[j].ErrorCode = err;
        }
    }
    RN_RESPOND(req, TxnOffsetCommit, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

static void handle_end_txn(rn_req *req)
{
    rn_EndTxnRequest rq;
    if (!RN_DECODE(req, EndTxn, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_EndTxnResponse rs;
    rn_EndTxnResponse_init(&rs);
    rs.ErrorCode = fenced_for(
        req, rn_txn_end(tb(rq.TransactionalId), rq.ProducerId, rq.ProducerEpoch, rq.Committed, req->conn->seq), 2);
    RN_RESPOND(req, EndTxn, &rs);
}

static void handle_write_txn_markers(rn_req *req)
{
    rn_WriteTxnMarkersRequest rq;
    if (!RN_DECODE(req, WriteTxnMarkers, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_WriteTxnMarkersResponse rs;
    rn_WriteTxnMarkersResponse_init(&rs);
    int32_t nm = rq.Markers_count > 0 ? rq.Markers_count : 0;
    rs.Markers = RN_ALLOC(req, rn_WriteTxnMarkersResponse_WritableTxnMarkerResult, nm);
    if (!rs.Markers)
        goto oom;
    rs.Markers_count = nm;
    for (int32_t m = 0; m < nm; m++) {
        rn_WriteTxnMarkersRequest_WritableTxnMarker *mk = &rq.Markers[m];
        rn_WriteTxnMarkersResponse_WritableTxnMarkerResult *mr = &rs.Markers[m];
        rn_WriteTxnMarkersResponse_WritableTxnMarkerResult_init(mr);
        mr->ProducerId = mk->ProducerId;
        int32_t nt = mk->Topics_count > 0 ? mk->Topics_count : 0;
        mr->Topics = RN_ALLOC(req, rn_WriteTxnMarkersResponse_WritableTxnMarkerTopicResult, nt);
        if (!mr->Topics)
            goto oom;
        mr->Topics_count = nt;
        for (int32_t i = 0; i < nt; i++) {
            rn_WriteTxnMarkersResponse_WritableTxnMarkerTopicResult *tr = &mr->Topics[i];
            rn_WriteTxnMarkersResponse_WritableTxnMarkerTopicResult_init(tr);
            tr->Name = mk->Topics[i].Name;
            int32_t np = mk->Topics[i].PartitionIndexes_count > 0 ? mk->Topics[i].PartitionIndexes_count : 0;
            tr->Partitions = RN_ALLOC(req, rn_WriteTxnMarkersResponse_WritableTxnMarkerPartitionResult, np);
            if (!tr->Partitions)
                goto oom;
            tr->Partitions_count = np;
            for (int32_t j = 0; j < np; j++) {
                int32_t idx = mk->Topics[i].PartitionIndexes[j];
                tr->Partitions[j].PartitionIndex = idx;
                rn_partition *p = hold_partition(mk->Topics[i].Name, idx);
                if (!p) {
                    tr->Partitions[j].ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                    continue;
                }
                int rc = rn_txn_write_marker(p, mk->ProducerId, mk->ProducerEpoch, mk->TransactionResult);
                rn_partition_unhold(p);
                tr->Partitions[j].ErrorCode = rc < 0 ? RN_ERR_KAFKA_STORAGE_ERROR : RN_ERR_NONE;
            }
        }
    }
    RN_RESPOND(req, WriteTxnMarkers, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

void rn_handle_list_transactions(rn_req *req)
{
    rn_ListTransactionsRequest rq;
    if (!RN_DECODE(req, ListTransactions, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_txn_desc *d = NULL;
    int n = 0;
    if (rn_txn_list(&d, &n) < 0)
        goto oom;
    rn_ListTransactionsResponse rs;
    rn_ListTransactionsResponse_init(&rs);
    rs.TransactionStates = RN_ALLOC(req, rn_ListTransactionsResponse_TransactionState, n);
    int k = 0;
    int64_t now = rn_now_ms();
    for (int i = 0; rs.TransactionStates && i < n; i++) {
        int keep = rq.StateFilters_count <= 0;
        for (int32_t s = 0; s < rq.StateFilters_count && !keep; s++)
            keep = rn_str_eq_c(rq.StateFilters[s], d[i].state);
        int pid_ok = rq.ProducerIdFilters_count <= 0;
        for (int32_t s = 0; s < rq.ProducerIdFilters_count && !pid_ok; s++)
            pid_ok = rq.ProducerIdFilters[s] == d[i].producer_id;
        int dur_ok = rq.DurationFilter < 0 || (d[i].start_ms >= 0 && now - d[i].start_ms >= rq.DurationFilter);
        if (!keep || !pid_ok || !dur_ok)
            continue;
        rn_ListTransactionsResponse_TransactionState *ts = &rs.TransactionStates[k++];
        rn_ListTransactionsResponse_TransactionState_init(ts);
        ts->TransactionalId = rn_arena_str(&req->arena, d[i].txn_id);
        ts->ProducerId = d[i].producer_id;
        ts->TransactionState = rn_str_c(d[i].state);
    }
    rs.TransactionStates_count = k;
    rn_txn_desc_free(d, n);
    free(d);
    RN_RESPOND(req, ListTransactions, &rs);
    return;
oom:
    rn_req_malformed(req, "out of memory");
}

void rn_handle_describe_transactions(rn_req *req)
{
    rn_DescribeTransactionsRequest rq;
    if (!RN_DECODE(req, DescribeTransactions, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_DescribeTransactionsResponse rs;
    rn_DescribeTransactionsResponse_init(&rs);
    int32_t n = rq.TransactionalIds_count > 0 ? rq.TransactionalIds_count : 0;
    rs.TransactionStates = RN_ALLOC(req, rn_DescribeTransactionsResponse_TransactionState, n);
    if (!rs.TransactionStates)
        goto oom;
    rs.TransactionStates_count = n;
    for (int32_t i = 0; i < n; i++) {
        rn_DescribeTransactionsResponse_TransactionState *ts = &rs.TransactionStates[i];
        rn_DescribeTransactionsResponse_TransactionState_init(ts);
        rn_txn_desc d;
        ts->ErrorCode = rn_txn_describe(tb(rq.TransactionalIds[i]), &d);
        ts->TransactionalId = rq.TransactionalIds[i];
        ts->TransactionState = rn_str_c(d.state ? d.state : "");
        ts->TransactionTimeoutMs = d.timeout_ms;
        ts->TransactionStartTimeMs = d.start_ms;
        ts->ProducerId = ts->ErrorCode ? -1 : d.producer_id;
        ts->ProducerEpoch = ts->ErrorCode ? -1 : d.epoch;
        /* Partitions grouped by topic. */
        ts->Topics = RN_ALLOC(req, rn_DescribeTransactionsResponse_TopicData, d.npartitions);
        int nt = 0;
        for (int j = 0; ts->Topics && j < d.npartitions; j++) {
            int t = 0;
            while (t < nt && !rn_str_eq_c(ts->Topics[t].Topic, d.topics[j]))
                t++;
            if (t == nt) {
                rn_DescribeTransactionsResponse_TopicData_init(&ts->Topics[nt]);
                ts->Topics[nt].Topic = rn_arena_str(&req->arena, d.topics[j]);
                ts->Topics[nt].Partitions = RN_ALLOC(req, int32_t, d.npartitions);
                ts->Topics[nt].Partitions_count = 0;
                nt++;
            }
            if (ts->Topics[t].Partitions)
                ts->Topics[t].Partitions[ts->Topics[t].Partitions_count++] = d.partitions[j];
        }
        ts->Topics_count = nt;
        rn_txn_desc_free(&d, 1);
    }
    RN_RESPOND(req, DescribeTransactions, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

/* These wait for fsync rounds of the transaction coordinator: they run
 * off the worker (offload.c). */
void rn_handle_add_partitions_to_txn(rn_req *req) { rn_req_offload(req, handle_add_partitions_to_txn); }
void rn_handle_add_offsets_to_txn(rn_req *req) { rn_req_offload(req, handle_add_offsets_to_txn); }
void rn_handle_txn_offset_commit(rn_req *req) { rn_req_offload(req, handle_txn_offset_commit); }
void rn_handle_end_txn(rn_req *req) { rn_req_offload(req, handle_end_txn); }
void rn_handle_write_txn_markers(rn_req *req) { rn_req_offload(req, handle_write_txn_markers); }

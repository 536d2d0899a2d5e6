/*
 * produce.c - Produce: validate batches, append them, answer by acks.
 *
 *   acks=0   append, answer nothing
 *   acks=1   append (write(2) into the page cache), answer at once
 *   acks=-1  append, answer once the flusher has fdatasync'ed the data
 *            (durable by default; Kafka answers acks=all after replication
 *            and leaves fsync to the OS)
 *
 * Batches are validated (framing, magic 2, CRC32C, sizes) before anything is
 * written; one bad batch fails its partition and touches nothing stored.
 */
#include <string.h>

#include "broker/broker.h"
#include "common/clock.h"
#include "common/rlog.h"
#include "proto/record_batch.h"
#include "proto/record_codec.h"
#include "txn/producer_state.h"
#include "txn/txn_coordinator.h"
#include "proto_gen.h"

typedef struct produce_pending {
    rn_ProduceResponse rs;
    int nparts;
    rn_partition **parts; /* only to check storage_error; valid under the read lock */
} produce_pending;

static int16_t verdict_error(rn_batch_verdict v)
{
    switch (v) {
    case RN_BATCH_OK: return RN_ERR_NONE;
    case RN_BATCH_CORRUPT: return RN_ERR_CORRUPT_MESSAGE;
    case RN_BATCH_BAD_MAGIC: return RN_ERR_INVALID_RECORD; /* Produce v3+ carries magic 2 only */
    case RN_BATCH_TOO_LARGE: return RN_ERR_MESSAGE_TOO_LARGE;
    case RN_BATCH_INVALID: return RN_ERR_INVALID_RECORD;
    }
    return RN_ERR_CORRUPT_MESSAGE;
}

/* Reads each batch's producer fields into pb[]. Returns 1 when the batches
 * are idempotent, 0 when plain, -1 when both kinds are mixed. first/last
 * offsets hold 0 and lastOffsetDelta until the append assigns them. */
static int describe_batches(const uint8_t *p, size_t len, rn_pbatch *pb, int nbatches)
{
    size_t at = 0;
    int idempotent = 0, plain = 0;
    for (int i = 0; i < nbatches; i++) {
        rn_batch_info bi;
        rn_batch_peek(p + at, len - at, &bi); /* validated: every header is whole */
        pb[i].producer_id = bi.producer_id;
        pb[i].epoch = bi.producer_epoch;
        pb[i].first_seq = bi.base_sequence;
        pb[i].last_seq = (int32_t)(((int64_t)bi.base_sequence + bi.last_offset_delta) % ((int64_t)INT32_MAX + 1));
        pb[i].first_offset = 0;
        pb[i].last_offset = bi.last_offset_delta;
        pb[i].max_timestamp = bi.max_timestamp;
        pb[i].transactional = (bi.attributes & RN_ATTR_TRANSACTIONAL) != 0;
        if (bi.producer_id >= 0)
            idempotent = 1;
        else
            plain = 1;
        at += RN_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
    }
    return idempotent && plain ? -1 : idempotent;
}

static int batches_use_zstd(const uint8_t *p, size_t len)
{
    for (size_t at = 0; at + RN_BATCH_HEADER_BYTES <= len;) {
        rn_batch_info bi;
        rn_batch_peek(p + at, len - at, &bi);
        if ((bi.attributes & RN_ATTR_CODEC_MASK) == RN_CODEC_ZSTD)
            return 1;
        at += RN_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
    }
    return 0;
}

static void produce_partition(rn_req *req, rn_topic *t, rn_ProduceRequest_PartitionProduceData *pd,
                              rn_ProduceResponse_PartitionProduceResponse *pr, int acks, int *need_flush)
{
    pr->Index = pd->Index;
    pr->BaseOffset = -1;
    pr->LogAppendTimeMs = -1;
    pr->LogStartOffset = -1;
    rn_partition *p = rn_partition_find(t, pd->Index);
    if (!p) {
        pr->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (atomic_load(&p->storage_error)) {
        pr->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
        return;
    }
    rn_records *rec = &pd->Records;
    if (rec->len <= 0 || rec->file) {
        pr->ErrorCode = RN_ERR_CORRUPT_MESSAGE;
        return;
    }
    int nbatches = 0;
    int64_t nrecords = 0;
    rn_batch_verdict v = rn_batches_validate(rec->mem, (size_t)rec->len, t->max_message_bytes, &nbatches,
                                             &nrecords);
    if (v != RN_BATCH_OK) {
        pr->ErrorCode = verdict_error(v);
        pr->ErrorMessage = rn_arena_str(&req->arena, v == RN_BATCH_CORRUPT     ? "record batch failed validation (length, framing or CRC)"
                                                     : v == RN_BATCH_TOO_LARGE ? "record batch larger than message.max.bytes"
                                                                               : "invalid record batch");
        rn_warn("produce from %s to %s-%d refused: %s", req->conn->peer, t->name, pd->Index,
                v == RN_BATCH_CORRUPT ? "corrupt batch" : v == RN_BATCH_TOO_LARGE ? "batch too large" : "invalid batch");
        return;
    }
    /* The frame is ours: offsets (and LogAppendTime) are written in place. */
    uint8_t *bytes = (uint8_t *)rec->mem;
    /* zstd came with Produce v7 (KIP-110): older requests may not carry it. */
    if (req->hdr.api_version < 7 && batches_use_zstd(bytes, (size_t)rec->len)) {
        pr->ErrorCode = RN_ERR_UNSUPPORTED_COMPRESSION_TYPE;
        return;
    }
    if (t->timestamp_type == 1) {
        int64_t now = rn_now_ms();
        rn_batches_set_log_append_time(bytes, (size_t)rec->len, now);
        pr->LogAppendTimeMs = now;
    } else {
        rn_batches_fix_max_timestamp(bytes, (size_t)rec->len); /* the time index needs a real one */
    }
    rn_pbatch *pb = RN_ALLOC(req, rn_pbatch, nbatches);
    if (!pb) {
        pr->ErrorCode = RN_ERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    int idempotent = describe_batches(bytes, (size_t)rec->len, pb, nbatches);
    if (idempotent < 0) {
        pr->ErrorCode = RN_ERR_INVALID_RECORD;
        pr->ErrorMessage = rn_arena_str(&req->arena, "batches of idempotent and plain producers mixed");
        return;
    }
    int64_t base = 0, last = 0;
    /* Check, append and record under one lock, so that two requests of one
     * producer cannot both pass the sequence check. */
    pthread_mutex_lock(&p->produce_mu);
    if (idempotent) {
        int64_t dup_offset = -1;
        rn_pcheck pc = rn_pstate_check(p->pstate, pb, nbatches, &dup_offset);
        if (pc != RN_PCHECK_OK) {
            pthread_mutex_unlock(&p->produce_mu);
            if (pc == RN_PCHECK_DUPLICATE) { /* a retry: answer with where it was written */
                pr->BaseOffset = dup_offset;
                pr->LogStartOffset = rn_log_start_offset(p->log);
            } else {
                pr->ErrorCode = pc == RN_PCHECK_FENCED_EPOCH ? RN_ERR_INVALID_PRODUCER_EPOCH
                                                             : RN_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
            }
            return;
        }
    }
    /* After the sequence check (a fenced epoch is answered as such): transactional
     * data only into a partition the producer's open
     * transaction holds (AddPartitionsToTxn came first): a late batch of a
     * finished transaction cannot slip in after its marker. */
    if (idempotent && pb[0].transactional &&
        !rn_txn_partition_open(pb[0].producer_id, pb[0].epoch, (rn_tbytes){t->name, (int32_t)strlen(t->name)},
                               pd->Index)) {
        pthread_mutex_unlock(&p->produce_mu);
        pr->ErrorCode = RN_ERR_INVALID_TXN_STATE;
        pr->ErrorMessage = rn_arena_str(&req->arena, "the partition is not part of the producer's open transaction");
        return;
    }
    int rc = rn_log_append(p->log, bytes, (size_t)rec->len, nbatches, &base, &last);
    if (rc == 0 && idempotent) {
        int64_t next = base;
        for (int i = 0; i < nbatches; i++) {
            int64_t count = pb[i].last_offset - pb[i].first_offset + 1; /* lastOffsetDelta + 1 */
            pb[i].first_offset = next;
            pb[i].last_offset = next + count - 1;
            next += count;
            if (rn_pstate_update(p->pstate, &pb[i]) < 0)
                rn_error("out of memory recording producer %lld on %s-%d", (long long)pb[i].producer_id, t->name,
                         pd->Index);
        }
    }
    pthread_mutex_unlock(&p->produce_mu);
    if (rc < 0) {
        rn_error("append to %s-%d failed: %s", t->name, pd->Index, strerror(-rc));
        pr->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
        return;
    }
    pr->BaseOffset = base;
    pr->LogStartOffset = rn_log_start_offset(p->log);
    int64_t unflushed = atomic_fetch_add(&p->unflushed, last - base + 1) + (last - base + 1);
    if (acks != -1 && unflushed >= t->flush_messages)
        rn_flusher_enqueue(p); /* flush.messages: sync now, without holding the answer */
    if (acks == -1 && rn_g.cfg.log_flush_acks_all) {
        uint64_t gen = rn_flusher_enqueue(p);
        if (gen > req->flush_gen)
            req->flush_gen = gen;
        *need_flush = 1;
    }
}

/* The flusher's round covering this request is done. A failed sync turns
 * the partition's answer into a storage error: the data may not be on
 * disk, so it must not be acknowledged. */
static void produce_flushed(rn_req *req)
{
    produce_pending *pp = req->pending;
    rn_topics_rdlock();
    for (int32_t i = 0; i < pp->rs.Responses_count; i++) {
        rn_ProduceResponse_TopicProduceResponse *tr = &pp->rs.Responses[i];
        rn_topic *t = rn_topic_find(tr->Name);
        for (int32_t j = 0; j < tr->PartitionResponses_count; j++) {
            rn_ProduceResponse_PartitionProduceResponse *pr = &tr->PartitionResponses[j];
            rn_partition *p = rn_partition_find(t, pr->Index);
            if (pr->ErrorCode == RN_ERR_NONE && (!p || atomic_load(&p->storage_error))) {
                pr->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
                pr->BaseOffset = -1;
            }
        }
    }
    rn_topics_unlock();
    RN_RESPOND(req, Produce, &pp->rs);
}

void rn_handle_produce(rn_req *req)
{
    rn_ProduceRequest rq;
    if (!RN_DECODE(req, Produce, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    produce_pending *pp = RN_ALLOC(req, produce_pending, 1);
    if (!pp) {
        rn_req_malformed(req, "request too large to decode");
        return;
    }
    rn_ProduceResponse *rs = &pp->rs;
    rn_ProduceResponse_init(rs);
    int acks = rq.Acks;
    int bad_acks = acks != 0 && acks != 1 && acks != -1;
    int need_flush = 0;
    int32_t ntopics = rq.TopicData_count > 0 ? rq.TopicData_count : 0;
    rs->Responses = RN_ALLOC(req, rn_ProduceResponse_TopicProduceResponse, ntopics);
    if (!rs->Responses) {
        rn_req_malformed(req, "request too large to decode");
        return;
    }
    rs->Responses_count = ntopics;
    rn_topics_rdlock();
    for (int32_t i = 0; i < ntopics; i++) {
        rn_ProduceRequest_TopicProduceData *td = &rq.TopicData[i];
        rn_ProduceResponse_TopicProduceResponse *tr = &rs->Responses[i];
        rn_ProduceResponse_TopicProduceResponse_init(tr);
        tr->Name = td->Name;
        int32_t nparts = td->PartitionData_count > 0 ? td->PartitionData_count : 0;
        tr->PartitionResponses = RN_ALLOC(req, rn_ProduceResponse_PartitionProduceResponse, nparts);
        if (!tr->PartitionResponses) {
            rn_topics_unlock();
            rn_req_malformed(req, "request too large to decode");
            return;
        }
        tr->PartitionResponses_count = nparts;
        rn_topic *t = rn_topic_find(td->Name);
        for (int32_t j = 0; j < nparts; j++) {
            rn_ProduceResponse_PartitionProduceResponse *pr = &tr->PartitionResponses[j];
            rn_ProduceResponse_PartitionProduceResponse_init(pr);
            if (bad_acks) {
                pr->Index = td->PartitionData[j].Index;
                pr->ErrorCode = RN_ERR_INVALID_REQUIRED_ACKS;
                pr->BaseOffset = -1;
                continue;
            }
            if (!t) {
                pr->Index = td->PartitionData[j].Index;
                pr->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                pr->BaseOffset = -1;
                continue;
            }
            produce_partition(req, t, &td->PartitionData[j], pr, acks, &need_flush);
        }
    }
    rn_topics_unlock();
    rn_notify_append();

    if (acks == 0) {
        rn_req_no_response(req);
        return;
    }
    if (!need_flush || req->flush_gen <= rn_flusher_done()) {
        RN_RESPOND(req, Produce, rs);
        return;
    }
    req->pending = pp;
    rn_req_wait_flush(req, req->flush_gen, produce_flushed);
}



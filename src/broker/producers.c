/*
 * producers.c - InitProducerId and DescribeProducers.
 *
 * InitProducerId without a transactional id hands out a fresh producer id
 * (never reused: ids come in blocks recorded in producer-id-block before
 * use) with epoch 0, also when the request names its current id and epoch
 * (v3+): a non-transactional producer bumps its epoch itself (KIP-360).
 * With a transactional id, the transaction coordinator answers (fencing
 * the id's previous producer: src/txn/txn_coordinator.c).
 */
#include "broker/broker.h"
#include "common/rlog.h"
#include "proto_gen.h"
#include "txn/producer_state.h"
#include "txn/txn_coordinator.h"

static void handle_init_producer_id(rn_req *req)
{
    rn_InitProducerIdRequest rq;
    if (!RN_DECODE(req, InitProducerId, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_InitProducerIdResponse rs;
    rn_InitProducerIdResponse_init(&rs);
    rs.ProducerId = -1;
    rs.ProducerEpoch = -1;
    if (rq.TransactionalId.len >= 0) {
        int64_t pid;
        int16_t epoch;
        rs.ErrorCode = rn_txn_init_producer((rn_tbytes){rq.TransactionalId.ptr, rq.TransactionalId.len},
                                            rq.TransactionTimeoutMs, req->hdr.api_version >= 3 ? rq.ProducerId : -1,
                                            req->hdr.api_version >= 3 ? rq.ProducerEpoch : -1, &pid, &epoch);
        rs.ProducerId = pid;
        rs.ProducerEpoch = epoch;
        if (rs.ErrorCode == 90 && req->hdr.api_version < 4) /* PRODUCER_FENCED is v4+ (KIP-588) */
            rs.ErrorCode = RN_ERR_INVALID_PRODUCER_EPOCH;
    } else {
        /* As Kafka: an idempotent producer (no transactional id) always gets
         * a fresh id; it bumps epochs itself (KIP-360). */
        int64_t id = rn_producer_id_next();
        if (id < 0) {
            rs.ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
        } else {
            rs.ProducerId = id;
            rs.ProducerEpoch = 0;
        }
    }
    RN_RESPOND(req, InitProducerId, &rs);
}

typedef struct collect {
    rn_req *req;
    rn_DescribeProducersResponse_ProducerState *out;
    int n, cap;
} collect;

static void add_producer(void *arg, const rn_producer_info *pi)
{
    collect *c = arg;
    if (c->n == c->cap)
        return;
    rn_DescribeProducersResponse_ProducerState *s = &c->out[c->n++];
    rn_DescribeProducersResponse_ProducerState_init(s);
    s->ProducerId = pi->producer_id;
    s->ProducerEpoch = pi->epoch;
    s->LastSequence = pi->last_sequence;
    s->LastTimestamp = pi->last_timestamp;
    s->CoordinatorEpoch = -1;
    s->CurrentTxnStartOffset = pi->txn_first_offset;
}

void rn_handle_describe_producers(rn_req *req)
{
    rn_DescribeProducersRequest rq;
    if (!RN_DECODE(req, DescribeProducers, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_DescribeProducersResponse rs;
    rn_DescribeProducersResponse_init(&rs);
    int32_t nt = rq.Topics_count > 0 ? rq.Topics_count : 0;
    rs.Topics = RN_ALLOC(req, rn_DescribeProducersResponse_TopicResponse, nt);
    if (!rs.Topics)
        goto oom;
    rs.Topics_count = nt;
    rn_topics_rdlock();
    for (int32_t i = 0; i < nt; i++) {
        rn_DescribeProducersResponse_TopicResponse *tr = &rs.Topics[i];
        rn_DescribeProducersResponse_TopicResponse_init(tr);
        tr->Name = rq.Topics[i].Name;
        rn_topic *t = rn_topic_find(rq.Topics[i].Name);
        int32_t np = rq.Topics[i].PartitionIndexes_count > 0 ? rq.Topics[i].PartitionIndexes_count : 0;
        tr->Partitions = RN_ALLOC(req, rn_DescribeProducersResponse_PartitionResponse, np);
        if (!tr->Partitions) {
            rn_topics_unlock();
            goto oom;
        }
        tr->Partitions_count = np;
        for (int32_t j = 0; j < np; j++) {
            rn_DescribeProducersResponse_PartitionResponse *pr = &tr->Partitions[j];
            rn_DescribeProducersResponse_PartitionResponse_init(pr);
            pr->PartitionIndex = rq.Topics[i].PartitionIndexes[j];
            rn_partition *p = rn_partition_find(t, pr->PartitionIndex);
            if (!p) {
                pr->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            pthread_mutex_lock(&p->produce_mu);
            int n = rn_pstate_count(p->pstate);
            collect c = {req, RN_ALLOC(req, rn_DescribeProducersResponse_ProducerState, n), 0, n};
            if (c.out)
                rn_pstate_each(p->pstate, add_producer, &c);
            pthread_mutex_unlock(&p->produce_mu);
            pr->ActiveProducers = c.out;
            pr->ActiveProducers_count = c.out ? c.n : 0;
        }
    }
    rn_topics_unlock();
    RN_RESPOND(req, DescribeProducers, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

/* These wait for fsync rounds of the transaction coordinator: they run
 * off the worker (offload.c). */
void rn_handle_init_producer_id(rn_req *req) { rn_req_offload(req, handle_init_producer_id); }

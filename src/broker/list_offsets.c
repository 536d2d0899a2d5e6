/*
 * list_offsets.c - ListOffsets: earliest (-2), latest (-1), max timestamp
 * (-3, KIP-734) and the first offset at or after a timestamp.
 */
#include <errno.h>

#include "broker/broker.h"
#include "proto_gen.h"

enum { TS_LATEST = -1, TS_EARLIEST = -2, TS_MAX_TIMESTAMP = -3 };

static void list_partition(rn_topic *t, const rn_ListOffsetsRequest_ListOffsetsPartition *lp,
                           rn_ListOffsetsResponse_ListOffsetsPartitionResponse *pr, int read_committed)
{
    pr->PartitionIndex = lp->PartitionIndex;
    pr->Timestamp = -1;
    pr->Offset = -1;
    pr->LeaderEpoch = 0;
    rn_partition *p = rn_partition_find(t, lp->PartitionIndex);
    if (!p) {
        pr->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    switch (lp->Timestamp) {
    case TS_LATEST:
        pr->Offset = read_committed ? rn_partition_lso(p) : rn_partition_high_watermark(p);
        return;
    case TS_EARLIEST:
        pr->Offset = rn_log_start_offset(p->log);
        return;
    case TS_MAX_TIMESTAMP: {
        int64_t ts, off;
        rn_log_max_timestamp(p->log, &ts, &off);
        pr->Timestamp = ts;
        pr->Offset = off;
        return;
    }
    default:
        break;
    }
    if (lp->Timestamp < 0) {
        pr->ErrorCode = RN_ERR_INVALID_REQUEST;
        return;
    }
    int64_t off, ts;
    if (rn_log_offset_for_time(p->log, lp->Timestamp, &off, &ts) == 0) {
        pr->Offset = off;
        pr->Timestamp = ts;
    }
    /* No record that late: offset -1, timestamp -1, as Kafka answers. */
}

void rn_handle_list_offsets(rn_req *req)
{
    rn_ListOffsetsRequest rq;
    if (!RN_DECODE(req, ListOffsets, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_ListOffsetsResponse rs;
    rn_ListOffsetsResponse_init(&rs);
    int32_t ntopics = rq.Topics_count > 0 ? rq.Topics_count : 0;
    rs.Topics = RN_ALLOC(req, rn_ListOffsetsResponse_ListOffsetsTopicResponse, ntopics);
    if (!rs.Topics)
        goto oom;
    rs.Topics_count = ntopics;
    rn_topics_rdlock();
    for (int32_t i = 0; i < ntopics; i++) {
        rn_ListOffsetsRequest_ListOffsetsTopic *lt = &rq.Topics[i];
        rn_ListOffsetsResponse_ListOffsetsTopicResponse *tr = &rs.Topics[i];
        rn_ListOffsetsResponse_ListOffsetsTopicResponse_init(tr);
        tr->Name = lt->Name;
        int32_t nparts = lt->Partitions_count > 0 ? lt->Partitions_count : 0;
        tr->Partitions = RN_ALLOC(req, rn_ListOffsetsResponse_ListOffsetsPartitionResponse, nparts);
        if (!tr->Partitions) {
            rn_topics_unlock();
            goto oom;
        }
        tr->Partitions_count = nparts;
        rn_topic *t = rn_topic_find(lt->Name);
        for (int32_t j = 0; j < nparts; j++) {
            rn_ListOffsetsResponse_ListOffsetsPartitionResponse_init(&tr->Partitions[j]);
            list_partition(t, &lt->Partitions[j], &tr->Partitions[j], req->hdr.api_version >= 2 && rq.IsolationLevel == 1);
        }
    }
    rn_topics_unlock();
    RN_RESPOND(req, ListOffsets, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

/* ---- DeleteRecords: moves the log start offset (low watermark) up ---- */

void rn_handle_delete_records(rn_req *req)
{
    rn_DeleteRecordsRequest rq;
    if (!RN_DECODE(req, DeleteRecords, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_DeleteRecordsResponse rs;
    rn_DeleteRecordsResponse_init(&rs);
    int32_t nt = rq.Topics_count > 0 ? rq.Topics_count : 0;
    rs.Topics = RN_ALLOC(req, rn_DeleteRecordsResponse_DeleteRecordsTopicResult, nt);
    if (!rs.Topics)
        goto oom;
    rs.Topics_count = nt;
    rn_topics_rdlock();
    for (int32_t i = 0; i < nt; i++) {
        rn_DeleteRecordsResponse_DeleteRecordsTopicResult *tr = &rs.Topics[i];
        rn_DeleteRecordsResponse_DeleteRecordsTopicResult_init(tr);
        tr->Name = rq.Topics[i].Name;
        rn_topic *t = rn_topic_find(rq.Topics[i].Name);
        int32_t np = rq.Topics[i].Partitions_count > 0 ? rq.Topics[i].Partitions_count : 0;
        tr->Partitions = RN_ALLOC(req, rn_DeleteRecordsResponse_DeleteRecordsPartitionResult, np);
        if (!tr->Partitions) {
            rn_topics_unlock();
            goto oom;
        }
        tr->Partitions_count = np;
        for (int32_t j = 0; j < np; j++) {
            rn_DeleteRecordsRequest_DeleteRecordsPartition *pq = &rq.Topics[i].Partitions[j];
            rn_DeleteRecordsResponse_DeleteRecordsPartitionResult *pr = &tr->Partitions[j];
            rn_DeleteRecordsResponse_DeleteRecordsPartitionResult_init(pr);
            pr->PartitionIndex = pq->PartitionIndex;
            pr->LowWatermark = -1;
            rn_partition *p = rn_partition_find(t, pq->PartitionIndex);
            if (!p) {
                pr->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            int64_t low = -1;
            int rc = rn_log_delete_records(p->log, pq->Offset, &low);
            if (rc == -ERANGE || rc == -EINVAL)
                pr->ErrorCode = RN_ERR_OFFSET_OUT_OF_RANGE;
            else if (rc < 0)
                pr->ErrorCode = RN_ERR_KAFKA_STORAGE_ERROR;
            else
                pr->LowWatermark = low;
        }
    }
    rn_topics_unlock();
    RN_RESPOND(req, DeleteRecords, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

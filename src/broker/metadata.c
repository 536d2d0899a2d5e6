/*
 * metadata.c - Metadata and DescribeCluster: this broker, its cluster id,
 * and its topics. One node: it leads every partition and is the whole ISR.
 * Metadata auto-creates topics (auto.create.topics.enable, and the
 * request's AllowAutoTopicCreation from v4), as Kafka does.
 */
#include <string.h>

#include "broker/broker.h"
#include "proto_gen.h"

static int32_t *one_node(rn_req *req)
{
    int32_t *n = RN_ALLOC(req, int32_t, 1);
    if (n)
        n[0] = rn_g.cfg.node_id;
    return n;
}

static int fill_topic(rn_req *req, rn_MetadataResponse_MetadataResponseTopic *mt, rn_topic *t)
{
    mt->ErrorCode = RN_ERR_NONE;
    mt->Name = rn_arena_str(&req->arena, t->name);
    mt->TopicId = t->id;
    mt->IsInternal = (int8_t)rn_topic_is_internal(t->name);
    mt->Partitions = RN_ALLOC(req, rn_MetadataResponse_MetadataResponsePartition, t->npartitions);
    if (!mt->Partitions)
        return -1;
    mt->Partitions_count = t->npartitions;
    int32_t *node = one_node(req);
    if (!node)
        return -1;
    for (int32_t p = 0; p < t->npartitions; p++) {
        rn_MetadataResponse_MetadataResponsePartition *mp = &mt->Partitions[p];
        rn_MetadataResponse_MetadataResponsePartition_init(mp);
        mp->PartitionIndex = p;
        mp->LeaderId = rn_g.cfg.node_id;
        mp->LeaderEpoch = 0;
        mp->ReplicaNodes = node;
        mp->ReplicaNodes_count = 1;
        mp->IsrNodes = node;
        mp->IsrNodes_count = 1;
        mp->OfflineReplicas_count = 0;
    }
    return 0;
}

typedef struct all_topics {
    rn_req *req;
    rn_MetadataResponse *rs;
    int failed;
} all_topics;

static int add_topic(rn_topic *t, void *arg)
{
    all_topics *at = arg;
    rn_MetadataResponse_MetadataResponseTopic *mt = &at->rs->Topics[at->rs->Topics_count++];
    rn_MetadataResponse_MetadataResponseTopic_init(mt);
    if (fill_topic(at->req, mt, t) < 0) {
        at->failed = 1;
        return 1;
    }
    return 0;
}

static int fill_brokers(rn_req *req, rn_MetadataResponse *rs)
{
    rs->Brokers = RN_ALLOC(req, rn_MetadataResponse_MetadataResponseBroker, 1);
    if (!rs->Brokers)
        return -1;
    rn_MetadataResponse_MetadataResponseBroker_init(&rs->Brokers[0]);
    rs->Brokers[0].NodeId = rn_g.cfg.node_id;
    rs->Brokers[0].Host = rn_arena_str(&req->arena, rn_g.advertised_host);
    rs->Brokers[0].Port = rn_g.advertised_port;
    rs->Brokers_count = 1;
    rs->ClusterId = rn_arena_str(&req->arena, rn_g.cluster_id);
    rs->ControllerId = rn_g.cfg.node_id;
    return 0;
}

void rn_handle_metadata(rn_req *req)
{
    rn_MetadataRequest rq;
    if (!RN_DECODE(req, Metadata, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int16_t version = req->hdr.api_version;
    rn_MetadataResponse rs;
    rn_MetadataResponse_init(&rs);
    if (fill_brokers(req, &rs) < 0)
        goto oom;
    /* v0: an empty list means all topics; v1+: null means all topics. */
    int all = rq.Topics_count < 0 || (version == 0 && rq.Topics_count == 0);
    int auto_create = rn_g.cfg.auto_create_topics_enable && (version < 4 || rq.AllowAutoTopicCreation);
    if (all) {
        rn_topics_rdlock();
        int n = rn_topics_count();
        rs.Topics = RN_ALLOC(req, rn_MetadataResponse_MetadataResponseTopic, n);
        all_topics at = {req, &rs, 0};
        if (rs.Topics) {
            rs.Topics_count = 0;
            rn_topics_each(add_topic, &at);
        }
        rn_topics_unlock();
        if (!rs.Topics || at.failed)
            goto oom;
        RN_RESPOND(req, Metadata, &rs);
        return;
    }
    rs.Topics = RN_ALLOC(req, rn_MetadataResponse_MetadataResponseTopic, rq.Topics_count);
    if (!rs.Topics)
        goto oom;
    rs.Topics_count = rq.Topics_count;
    for (int32_t i = 0; i < rq.Topics_count; i++) {
        rn_MetadataRequest_MetadataRequestTopic *want = &rq.Topics[i];
        rn_MetadataResponse_MetadataResponseTopic *mt = &rs.Topics[i];
        rn_MetadataResponse_MetadataResponseTopic_init(mt);
        mt->Name = want->Name;
        mt->TopicId = want->TopicId;
        rn_topics_rdlock();
        rn_topic *t = want->Name.len >= 0 ? rn_topic_find(want->Name) : rn_topic_find_id(want->TopicId);
        if (t) {
            int rc = fill_topic(req, mt, t);
            rn_topics_unlock();
            if (rc < 0)
                goto oom;
            continue;
        }
        rn_topics_unlock();
        if (want->Name.len < 0) {
            mt->ErrorCode = RN_ERR_UNKNOWN_TOPIC_ID;
            continue;
        }
        if (rn_topic_name_invalid(want->Name)) {
            mt->ErrorCode = RN_ERR_INVALID_TOPIC_EXCEPTION;
            continue;
        }
        if (!auto_create) {
            mt->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            continue;
        }
        rn_topics_wrlock();
        const char *msg = NULL;
        int err = rn_topic_create(want->Name, rn_g.cfg.num_partitions, NULL, NULL, 0, &t, &msg);
        if (err == RN_ERR_TOPIC_ALREADY_EXISTS) { /* another worker won the race */
            t = rn_topic_find(want->Name);
            err = t ? RN_ERR_NONE : err;
        }
        if (err == RN_ERR_NONE) {
            int rc = fill_topic(req, mt, t);
            rn_topics_unlock();
            if (rc < 0)
                goto oom;
            continue;
        }
        rn_topics_unlock();
        mt->ErrorCode = (int16_t)err;
    }
    RN_RESPOND(req, Metadata, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

void rn_handle_describe_cluster(rn_req *req)
{
    rn_DescribeClusterRequest rq;
    if (!RN_DECODE(req, DescribeCluster, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_DescribeClusterResponse rs;
    rn_DescribeClusterResponse_init(&rs);
    rs.ClusterId = rn_arena_str(&req->arena, rn_g.cluster_id);
    rs.ControllerId = rn_g.cfg.node_id;
    rs.EndpointType = rq.EndpointType;
    if (rq.EndpointType != 1) { /* 1 = brokers; controllers (2) are not exposed separately */
        rs.ErrorCode = RN_ERR_UNSUPPORTED_VERSION;
        rs.ErrorMessage = rn_arena_str(&req->arena, "only the broker endpoint type is supported");
        RN_RESPOND(req, DescribeCluster, &rs);
        return;
    }
    rs.Brokers = RN_ALLOC(req, rn_DescribeClusterResponse_DescribeClusterBroker, 1);
    if (!rs.Brokers) {
        rn_req_malformed(req, "out of memory");
        return;
    }
    rn_DescribeClusterResponse_DescribeClusterBroker_init(&rs.Brokers[0]);
    rs.Brokers[0].BrokerId = rn_g.cfg.node_id;
    rs.Brokers[0].Host = rn_arena_str(&req->arena, rn_g.advertised_host);
    rs.Brokers[0].Port = rn_g.advertised_port;
    rs.Brokers_count = 1;
    RN_RESPOND(req, DescribeCluster, &rs);
}

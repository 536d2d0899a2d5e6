/*
 * admin.c - CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs.
 *
 * Topic changes take the topics write lock; they do file-system work (mkdir,
 * opening logs, deleting folders) on the worker's thread, which is brief
 * for the partition counts a request carries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "broker/topic_config.h"
#include "proto_gen.h"

enum { RESOURCE_TOPIC = 2, RESOURCE_BROKER = 4 };
enum { SOURCE_TOPIC_CONFIG = 1, SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG = 3, SOURCE_STATIC_BROKER_CONFIG = 4, SOURCE_DEFAULT_CONFIG = 5 };

/* ---- CreateTopics ---- */

static int16_t check_create(rn_CreateTopicsRequest_CreatableTopic *ct, int32_t *nparts, int16_t *rf, const char **msg)
{
    const char *why = rn_topic_name_invalid(ct->Name);
    if (why) {
        *msg = why;
        return RN_ERR_INVALID_TOPIC_EXCEPTION;
    }
    if (rn_topic_find(ct->Name)) {
        *msg = "topic already exists";
        return RN_ERR_TOPIC_ALREADY_EXISTS;
    }
    int has_assignment = ct->Assignments_count > 0;
    if (has_assignment && (ct->NumPartitions != -1 || ct->ReplicationFactor != -1)) {
        *msg = "both replica assignments and partition count or replication factor were given";
        return RN_ERR_INVALID_REQUEST;
    }
    if (has_assignment) {
        for (int32_t i = 0; i < ct->Assignments_count; i++) {
            rn_CreateTopicsRequest_CreatableReplicaAssignment *a = &ct->Assignments[i];
            if (a->PartitionIndex != i || a->BrokerIds_count != 1 || a->BrokerIds[0] != rn_g.cfg.node_id) {
                *msg = "replica assignments must name this broker once for partitions 0..n-1";
                return RN_ERR_INVALID_REPLICA_ASSIGNMENT;
            }
        }
        *nparts = ct->Assignments_count;
        *rf = 1;
    } else {
        *nparts = ct->NumPartitions == -1 ? rn_g.cfg.num_partitions : ct->NumPartitions;
        *rf = ct->ReplicationFactor == -1 ? rn_g.cfg.default_replication_factor : ct->ReplicationFactor;
    }
    if (*nparts <= 0) {
        *msg = "number of partitions must be larger than 0";
        return RN_ERR_INVALID_PARTITIONS;
    }
    if (*nparts > 100000) {
        *msg = "number of partitions must be at most 100000";
        return RN_ERR_INVALID_PARTITIONS;
    }
    if (*rf <= 0) {
        *msg = "replication factor must be larger than 0";
        return RN_ERR_INVALID_REPLICATION_FACTOR;
    }
    if (*rf > 1) {
        *msg = "replication factor is larger than the 1 available broker";
        return RN_ERR_INVALID_REPLICATION_FACTOR;
    }
    for (int32_t i = 0; i < ct->Configs_count; i++) {
        int16_t err = (int16_t)rn_topic_config_validate(ct->Configs[i].Name, ct->Configs[i].Value, msg);
        if (err != RN_ERR_NONE)
            return err;
    }
    return RN_ERR_NONE;
}

void rn_handle_create_topics(rn_req *req)
{
    rn_CreateTopicsRequest rq;
    if (!RN_DECODE(req, CreateTopics, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_CreateTopicsResponse rs;
    rn_CreateTopicsResponse_init(&rs);
    int32_t n = rq.Topics_count > 0 ? rq.Topics_count : 0;
    rs.Topics = RN_ALLOC(req, rn_CreateTopicsResponse_CreatableTopicResult, n);
    if (!rs.Topics) {
        rn_req_malformed(req, "request too large to answer");
        return;
    }
    rs.Topics_count = n;
    rn_topics_wrlock();
    for (int32_t i = 0; i < n; i++) {
        rn_CreateTopicsRequest_CreatableTopic *ct = &rq.Topics[i];
        rn_CreateTopicsResponse_CreatableTopicResult *r = &rs.Topics[i];
        rn_CreateTopicsResponse_CreatableTopicResult_init(r);
        r->Name = ct->Name;
        r->NumPartitions = -1;
        r->ReplicationFactor = -1;
        r->Configs_count = -1;
        const char *msg = NULL;
        int32_t nparts = 0;
        int16_t rf = 0;
        int16_t err = check_create(ct, &nparts, &rf, &msg);
        /* A name given twice in one request fails both, as in Kafka. */
        for (int32_t j = 0; j < n && err == RN_ERR_NONE; j++)
            if (j != i && rn_str_eq(rq.Topics[j].Name, ct->Name)) {
                err = RN_ERR_INVALID_REQUEST;
                msg = "topic named more than once in the request";
            }
        if (err == RN_ERR_NONE && !rq.validateOnly) {
            rn_topic *t = NULL;
            int32_t nc = ct->Configs_count > 0 ? ct->Configs_count : 0;
            rn_str *ck = RN_ALLOC(req, rn_str, nc), *cv = RN_ALLOC(req, rn_str, nc);
            for (int32_t c = 0; ck && cv && c < nc; c++) {
                ck[c] = ct->Configs[c].Name;
                cv[c] = ct->Configs[c].Value;
            }
            err = ck && cv ? (int16_t)rn_topic_create(ct->Name, nparts, ck, cv, nc, &t, &msg)
                           : (int16_t)RN_ERR_UNKNOWN_SERVER_ERROR;
            if (err == RN_ERR_NONE)
                r->TopicId = t->id;
        }
        r->ErrorCode = err;
        if (err != RN_ERR_NONE) {
            r->ErrorMessage = rn_arena_str(&req->arena, msg ? msg : "failed");
            continue;
        }
        r->NumPartitions = nparts;
        r->ReplicationFactor = rf;
    }
    rn_topics_unlock();
    RN_RESPOND(req, CreateTopics, &rs);
}

/* ---- DeleteTopics ---- */

void rn_handle_delete_topics(rn_req *req)
{
    rn_DeleteTopicsRequest rq;
    if (!RN_DECODE(req, DeleteTopics, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int16_t version = req->hdr.api_version;
    int32_t n = version >= 6 ? rq.Topics_count : rq.TopicNames_count;
    if (n < 0)
        n = 0;
    rn_DeleteTopicsResponse rs;
    rn_DeleteTopicsResponse_init(&rs);
    rs.Responses = RN_ALLOC(req, rn_DeleteTopicsResponse_DeletableTopicResult, n);
    if (!rs.Responses) {
        rn_req_malformed(req, "request too large to answer");
        return;
    }
    rs.Responses_count = n;
    rn_topics_wrlock();
    for (int32_t i = 0; i < n; i++) {
        rn_DeleteTopicsResponse_DeletableTopicResult *r = &rs.Responses[i];
        rn_DeleteTopicsResponse_DeletableTopicResult_init(r);
        rn_topic *t;
        if (version >= 6) {
            r->Name = rq.Topics[i].Name;
            r->TopicId = rq.Topics[i].TopicId;
            t = rq.Topics[i].Name.len >= 0 ? rn_topic_find(rq.Topics[i].Name) : rn_topic_find_id(rq.Topics[i].TopicId);
        } else {
            r->Name = rq.TopicNames[i];
            t = rn_topic_find(rq.TopicNames[i]);
        }
        if (!t) {
            r->ErrorCode = version >= 6 && rq.Topics[i].Name.len < 0 ? RN_ERR_UNKNOWN_TOPIC_ID
                                                                     : RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            continue;
        }
        if (!rn_g.cfg.delete_topic_enable) {
            r->ErrorCode = RN_ERR_TOPIC_DELETION_DISABLED;
            continue;
        }
        r->Name = rn_arena_str(&req->arena, t->name);
        r->TopicId = t->id;
        r->ErrorCode = (int16_t)rn_topic_delete(t);
    }
    rn_topics_unlock();
    RN_RESPOND(req, DeleteTopics, &rs);
}

/* ---- CreatePartitions ---- */

void rn_handle_create_partitions(rn_req *req)
{
    rn_CreatePartitionsRequest rq;
    if (!RN_DECODE(req, CreatePartitions, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int32_t n = rq.Topics_count > 0 ? rq.Topics_count : 0;
    rn_CreatePartitionsResponse rs;
    rn_CreatePartitionsResponse_init(&rs);
    rs.Results = RN_ALLOC(req, rn_CreatePartitionsResponse_CreatePartitionsTopicResult, n);
    if (!rs.Results) {
        rn_req_malformed(req, "request too large to answer");
        return;
    }
    rs.Results_count = n;
    rn_topics_wrlock();
    for (int32_t i = 0; i < n; i++) {
        rn_CreatePartitionsRequest_CreatePartitionsTopic *ct = &rq.Topics[i];
        rn_CreatePartitionsResponse_CreatePartitionsTopicResult *r = &rs.Results[i];
        rn_CreatePartitionsResponse_CreatePartitionsTopicResult_init(r);
        r->Name = ct->Name;
        rn_topic *t = rn_topic_find(ct->Name);
        const char *msg = NULL;
        int err;
        if (!t) {
            err = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            msg = "topic does not exist";
        } else if (ct->Count <= t->npartitions) {
            err = RN_ERR_INVALID_PARTITIONS;
            msg = ct->Count == t->npartitions ? "topic already has that many partitions"
                                              : "the number of partitions can only be increased";
        } else if (ct->Assignments_count > 0 && ct->Assignments_count != ct->Count - t->npartitions) {
            err = RN_ERR_INVALID_REPLICA_ASSIGNMENT;
            msg = "one assignment per new partition is required";
        } else if (rq.ValidateOnly) {
            err = ct->Count > 100000 ? RN_ERR_INVALID_PARTITIONS : RN_ERR_NONE;
            msg = "number of partitions must be at most 100000";
        } else {
            err = rn_topic_add_partitions(t, ct->Count, &msg);
        }
        r->ErrorCode = (int16_t)err;
        if (err != RN_ERR_NONE)
            r->ErrorMessage = rn_arena_str(&req->arena, msg);
    }
    rn_topics_unlock();
    RN_RESPOND(req, CreatePartitions, &rs);
}

/* ---- DescribeConfigs (read-only values at this stage) ---- */

static int wanted(const rn_DescribeConfigsRequest_DescribeConfigsResource *res, const char *name)
{
    if (res->ConfigurationKeys_count < 0)
        return 1;
    for (int32_t i = 0; i < res->ConfigurationKeys_count; i++)
        if (rn_str_eq_c(res->ConfigurationKeys[i], name))
            return 1;
    return 0;
}

static int add_entry(rn_req *req, rn_DescribeConfigsResponse_DescribeConfigsResult *r, const char *name,
                     const char *value, int is_default, int source, int sensitive)
{
    rn_DescribeConfigsResponse_DescribeConfigsResourceResult *e = &r->Configs[r->Configs_count++];
    rn_DescribeConfigsResponse_DescribeConfigsResourceResult_init(e);
    e->Name = rn_arena_str(&req->arena, name);
    e->Value = sensitive ? RN_STR_NULL : rn_arena_str(&req->arena, value);
    e->ReadOnly = 0; /* topic keys change with AlterConfigs; the broker's caller marks its static keys */
    e->IsDefault = (int8_t)is_default;
    e->ConfigSource = (int8_t)source;
    e->IsSensitive = (int8_t)sensitive;
    e->Synonyms_count = 0;
    return e->Name.len < 0 ? -1 : 0;
}

/* The broker's current value of key (buf) and whether it is the default.
 * Returns 0, or -1 when the broker has no such key. */
static int broker_value(const char *key, char *buf, size_t len, int *is_default)
{
    const char *name;
    int sensitive;
    for (int i = 0; rn_config_describe(&rn_g.cfg, i, &name, buf, len, is_default, &sensitive) == 0; i++)
        if (strcmp(name, key) == 0)
            return 0;
    return -1;
}

/* Where the broker's own value of key comes from. */
static int broker_source(const char *key)
{
    if (!key)
        return SOURCE_DEFAULT_CONFIG;
    if (rn_config_key_is_dynamic(key) && rn_dynamic_override(key))
        return SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG;
    char buf[512];
    int is_default;
    if (broker_value(key, buf, sizeof buf, &is_default) < 0)
        return SOURCE_DEFAULT_CONFIG;
    return is_default ? SOURCE_DEFAULT_CONFIG : SOURCE_STATIC_BROKER_CONFIG;
}

static int res_include_synonyms(const rn_DescribeConfigsRequest *rq) { return rq->IncludeSynonyms; }

/* Synonyms, most specific first (Kafka's order): the topic override, then
 * the broker key with its value and source. */
static int add_synonyms(rn_req *req, rn_DescribeConfigsResponse_DescribeConfigsResourceResult *e,
                        const char *override_value, const char *broker_key)
{
    int n = (override_value ? 1 : 0) + (broker_key ? 1 : 0);
    e->Synonyms = RN_ALLOC(req, rn_DescribeConfigsResponse_DescribeConfigsSynonym, n);
    if (!e->Synonyms)
        return -1;
    int k = 0;
    if (override_value) {
        rn_DescribeConfigsResponse_DescribeConfigsSynonym_init(&e->Synonyms[k]);
        e->Synonyms[k].Name = e->Name;
        e->Synonyms[k].Value = rn_arena_str(&req->arena, override_value);
        e->Synonyms[k].Source = SOURCE_TOPIC_CONFIG;
        k++;
    }
    char buf[512];
    int is_default;
    if (broker_key && broker_value(broker_key, buf, sizeof buf, &is_default) == 0) {
        rn_DescribeConfigsResponse_DescribeConfigsSynonym_init(&e->Synonyms[k]);
        e->Synonyms[k].Name = rn_arena_str(&req->arena, broker_key);
        e->Synonyms[k].Value = rn_arena_str(&req->arena, buf);
        e->Synonyms[k].Source = (int8_t)broker_source(broker_key);
        k++;
    }
    e->Synonyms_count = k;
    return 0;
}

void rn_handle_describe_configs(rn_req *req)
{
    rn_DescribeConfigsRequest rq;
    if (!RN_DECODE(req, DescribeConfigs, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int32_t n = rq.Resources_count > 0 ? rq.Resources_count : 0;
    rn_DescribeConfigsResponse rs;
    rn_DescribeConfigsResponse_init(&rs);
    rs.Results = RN_ALLOC(req, rn_DescribeConfigsResponse_DescribeConfigsResult, n);
    if (!rs.Results)
        goto oom;
    rs.Results_count = n;
    char node[16];
    snprintf(node, sizeof node, "%d", rn_g.cfg.node_id);
    for (int32_t i = 0; i < n; i++) {
        rn_DescribeConfigsRequest_DescribeConfigsResource *res = &rq.Resources[i];
        rn_DescribeConfigsResponse_DescribeConfigsResult *r = &rs.Results[i];
        rn_DescribeConfigsResponse_DescribeConfigsResult_init(r);
        r->ResourceType = res->ResourceType;
        r->ResourceName = res->ResourceName;
        char value[4096];
        if (res->ResourceType == RESOURCE_TOPIC) {
            rn_topics_rdlock();
            rn_topic *t = rn_topic_find(res->ResourceName);
            if (!t) {
                rn_topics_unlock();
                r->ErrorCode = RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                r->ErrorMessage = rn_arena_str(&req->arena, "topic does not exist");
                continue;
            }
            int nkeys = rn_topic_config_count();
            r->Configs = RN_ALLOC(req, rn_DescribeConfigsResponse_DescribeConfigsResourceResult, nkeys);
            int failed = !r->Configs;
            for (int k = 0; k < nkeys && !failed; k++) {
                const char *name = rn_topic_config_name(k);
                if (!wanted(res, name))
                    continue;
                int is_override;
                rn_topic_config_value(t, k, value, sizeof value, &is_override);
                /* Without an override the value is the broker's: say where
                 * the broker got it (dynamic, static file, default). */
                const char *syn = rn_topic_config_synonym(k);
                int source = is_override ? SOURCE_TOPIC_CONFIG : broker_source(syn);
                failed = add_entry(req, r, name, value, source == SOURCE_DEFAULT_CONFIG, source, 0) < 0;
                if (!failed && req->hdr.api_version >= 1 && res_include_synonyms(&rq))
                    failed = add_synonyms(req, &r->Configs[r->Configs_count - 1], is_override ? value : NULL, syn) < 0;
            }
            rn_topics_unlock();
            if (failed)
                goto oom;
        } else if (res->ResourceType == RESOURCE_BROKER) {
            if (res->ResourceName.len > 0 && !rn_str_eq_c(res->ResourceName, node)) {
                r->ErrorCode = RN_ERR_INVALID_REQUEST;
                r->ErrorMessage = rn_arena_str(&req->arena, "unknown broker id");
                continue;
            }
            int nkeys = 0;
            const char *name;
            int is_default, sensitive;
            while (rn_config_describe(&rn_g.cfg, nkeys, &name, value, sizeof value, &is_default, &sensitive) == 0)
                nkeys++;
            r->Configs = RN_ALLOC(req, rn_DescribeConfigsResponse_DescribeConfigsResourceResult, nkeys);
            if (!r->Configs)
                goto oom;
            for (int k = 0; k < nkeys; k++) {
                rn_config_describe(&rn_g.cfg, k, &name, value, sizeof value, &is_default, &sensitive);
                if (!wanted(res, name))
                    continue;
                int dynamic = rn_config_key_is_dynamic(name);
                int source = dynamic && rn_dynamic_override(name) ? SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG
                             : is_default                         ? SOURCE_DEFAULT_CONFIG
                                                                  : SOURCE_STATIC_BROKER_CONFIG;
                if (add_entry(req, r, name, value, source == SOURCE_DEFAULT_CONFIG, source, sensitive) < 0)
                    goto oom;
                r->Configs[r->Configs_count - 1].ReadOnly = (int8_t)!dynamic;
            }
        } else {
            r->ErrorCode = RN_ERR_INVALID_REQUEST;
            r->ErrorMessage = rn_arena_str(&req->arena, "unsupported resource type");
        }
    }
    RN_RESPOND(req, DescribeConfigs, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

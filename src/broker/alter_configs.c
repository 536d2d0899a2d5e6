/*
 * alter_configs.c - AlterConfigs and IncrementalAlterConfigs for topics and
 * for the broker's dynamic keys, plus DeleteRecords.
 *
 * Broker keys that may change at run time (Kafka's "cluster-wide dynamic"
 * log defaults) are stored in <log.dir>/dynamic.config, one key=value per
 * line, written atomically, and applied over the static configuration at
 * start-up. A change takes the topics write lock, recomputes the affected
 * rn_config fields from the static configuration plus the dynamic
 * overrides, and re-applies every topic's derived settings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "broker/topic_config.h"
#include "common/rlog.h"
#include "proto_gen.h"

enum { RESOURCE_TOPIC = 2, RESOURCE_BROKER = 4 };
enum { OP_SET = 0, OP_DELETE = 1, OP_APPEND = 2, OP_SUBTRACT = 3 };

#define DYNAMIC_MAX 32

static const char *const dynamic_keys[] = {
    "log.retention.ms", "log.retention.bytes", "log.segment.bytes", "message.max.bytes",
    "log.message.timestamp.type", "log.flush.interval.messages", "log.flush.interval.ms", "log.cleanup.policy",
    "compression.type", "log.index.interval.bytes", NULL,
};

typedef struct dyn_entry {
    char key[64];
    char value[256];
} dyn_entry;
static dyn_entry dyn[DYNAMIC_MAX];
static int ndyn;
static rn_config static_cfg;

int rn_config_key_is_dynamic(const char *key)
{
    for (const char *const *k = dynamic_keys; *k; k++)
        if (strcmp(*k, key) == 0)
            return 1;
    return 0;
}

const char *rn_dynamic_override(const char *key)
{
    for (int i = 0; i < ndyn; i++)
        if (strcmp(dyn[i].key, key) == 0)
            return dyn[i].value;
    return NULL;
}

static void dynamic_path(char *buf, size_t len)
{
    snprintf(buf, len, "%.*s/dynamic.config", (int)strcspn(rn_g.cfg.log_dirs, ","), rn_g.cfg.log_dirs);
}

static int save_dynamic(void)
{
    char path[4200], tmp[4210];
    dynamic_path(path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -errno;
    for (int i = 0; i < ndyn; i++)
        fprintf(f, "%s=%s\n", dyn[i].key, dyn[i].value);
    int rc = (fflush(f) == 0 && fsync(fileno(f)) == 0) ? 0 : -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc == 0) { /* the rename itself must survive a power loss */
        char dir[4200];
        snprintf(dir, sizeof dir, "%.*s", (int)strcspn(rn_g.cfg.log_dirs, ","), rn_g.cfg.log_dirs);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return rc;
}

/* Builds static + dynamic into *out; returns -1 with err when a value is bad. */
static int compose(rn_config *out, char *err, size_t errlen)
{
    *out = static_cfg;
    for (int i = 0; i < ndyn; i++)
        if (rn_config_set(out, dyn[i].key, dyn[i].value, err, errlen) != 0)
            return -1;
    return 0;
}

/* Copies only the dynamic fields (readers of the others never see a write). */
static void install(const rn_config *c)
{
    rn_g.cfg.log_retention_ms = c->log_retention_ms;
    rn_g.cfg.log_retention_bytes = c->log_retention_bytes;
    rn_g.cfg.log_segment_bytes = c->log_segment_bytes;
    rn_g.cfg.message_max_bytes = c->message_max_bytes;
    rn_g.cfg.log_message_timestamp_type = c->log_message_timestamp_type;
    rn_g.cfg.log_flush_interval_messages = c->log_flush_interval_messages;
    rn_g.cfg.log_flush_interval_ms = c->log_flush_interval_ms;
    memcpy(rn_g.cfg.log_cleanup_policy, c->log_cleanup_policy, sizeof c->log_cleanup_policy);
    memcpy(rn_g.cfg.compression_type, c->compression_type, sizeof c->compression_type);
    rn_g.cfg.log_index_interval_bytes = c->log_index_interval_bytes;
}

int rn_dynamic_config_load(void)
{
    static_cfg = rn_g.cfg;
    char path[4200], line[512];
    dynamic_path(path, sizeof path);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f) && ndyn < DYNAMIC_MAX) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        if (!rn_config_key_is_dynamic(line) || strlen(line) >= sizeof dyn[0].key || strlen(eq + 1) >= sizeof dyn[0].value)
            continue;
        snprintf(dyn[ndyn].key, sizeof dyn[ndyn].key, "%s", line);
        snprintf(dyn[ndyn].value, sizeof dyn[ndyn].value, "%s", eq + 1);
        ndyn++;
    }
    fclose(f);
    rn_config c;
    char err[256];
    if (compose(&c, err, sizeof err) < 0) {
        rn_error("%s: %s", path, err);
        return -1;
    }
    install(&c);
    if (ndyn)
        rn_info("applied %d dynamic broker configs from %s", ndyn, path);
    return 0;
}

/* ---- broker resource ---- */

static int16_t check_broker_name(rn_str name, const char **msg)
{
    char node[16];
    snprintf(node, sizeof node, "%d", rn_g.cfg.node_id);
    if (name.len == 0 || rn_str_eq_c(name, node))
        return RN_ERR_NONE;
    *msg = "unknown broker id";
    return RN_ERR_INVALID_REQUEST;
}

/* Applies a list of changes to the dynamic set: (key, value or NULL to delete).
 * replace_all: AlterConfigs semantics (the given set becomes the whole set). */
static int16_t alter_broker(const rn_str *keys, const rn_str *values, const int8_t *ops, int n, int replace_all,
                            int validate_only, const char **msg, char *errbuf, size_t errlen)
{
    dyn_entry saved[DYNAMIC_MAX];
    int saved_n = ndyn;
    memcpy(saved, dyn, sizeof dyn);
    if (replace_all)
        ndyn = 0;
    int16_t err = RN_ERR_NONE;
    for (int i = 0; i < n && err == RN_ERR_NONE; i++) {
        char key[64];
        if (keys[i].len <= 0 || keys[i].len >= (int32_t)sizeof key) {
            err = RN_ERR_INVALID_CONFIG;
            *msg = "bad config key";
            break;
        }
        memcpy(key, keys[i].ptr, (size_t)keys[i].len);
        key[keys[i].len] = 0;
        if (!rn_config_key_is_dynamic(key)) {
            err = RN_ERR_INVALID_CONFIG;
            snprintf(errbuf, errlen, "config '%s' cannot be changed while the broker runs", key);
            *msg = errbuf;
            break;
        }
        int slot = -1;
        for (int j = 0; j < ndyn; j++)
            if (strcmp(dyn[j].key, key) == 0)
                slot = j;
        int op = ops ? ops[i] : OP_SET;
        if (op == OP_DELETE || values[i].len < 0) {
            if (slot >= 0)
                dyn[slot] = dyn[--ndyn];
            continue;
        }
        if (op != OP_SET) {
            err = RN_ERR_INVALID_CONFIG;
            *msg = "APPEND and SUBTRACT apply to list configs only";
            break;
        }
        if (values[i].len >= (int32_t)sizeof dyn[0].value) {
            err = RN_ERR_INVALID_CONFIG;
            *msg = "value too long";
            break;
        }
        if (slot < 0) {
            if (ndyn == DYNAMIC_MAX) {
                err = RN_ERR_INVALID_CONFIG;
                *msg = "too many dynamic configs";
                break;
            }
            slot = ndyn++;
        }
        snprintf(dyn[slot].key, sizeof dyn[slot].key, "%s", key);
        memcpy(dyn[slot].value, values[i].ptr, (size_t)values[i].len);
        dyn[slot].value[values[i].len] = 0;
    }
    rn_config c;
    if (err == RN_ERR_NONE && compose(&c, errbuf, errlen) < 0) {
        err = RN_ERR_INVALID_CONFIG;
        *msg = errbuf;
    }
    if (err != RN_ERR_NONE || validate_only) {
        memcpy(dyn, saved, sizeof dyn);
        ndyn = saved_n;
        return err;
    }
    if (save_dynamic() < 0) {
        memcpy(dyn, saved, sizeof dyn);
        ndyn = saved_n;
        *msg = "cannot write dynamic.config";
        return RN_ERR_KAFKA_STORAGE_ERROR;
    }
    install(&c);
    rn_topics_reapply_configs();
    rn_info("broker dynamic configs changed (%d set)", ndyn);
    return RN_ERR_NONE;
}

/* ---- topic resource ---- */

static int16_t alter_topic(rn_str name, const rn_str *keys, const rn_str *values, const int8_t *ops, int n,
                           int replace_all, int validate_only, const char **msg)
{
    rn_topic *t = rn_topic_find(name);
    if (!t) {
        *msg = "topic does not exist";
        return RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    for (int i = 0; i < n; i++) {
        int op = ops ? ops[i] : OP_SET;
        if (op < OP_SET || op > OP_SUBTRACT) {
            *msg = "unknown config operation";
            return RN_ERR_INVALID_REQUEST;
        }
        if ((op == OP_APPEND || op == OP_SUBTRACT) && !rn_topic_config_is_list(keys[i])) {
            *msg = "APPEND and SUBTRACT apply to list configs only";
            return RN_ERR_INVALID_CONFIG;
        }
        if (op == OP_DELETE || values[i].len < 0) {
            if (!rn_topic_config_known(keys[i])) {
                *msg = "unknown topic config";
                return RN_ERR_INVALID_CONFIG;
            }
            continue;
        }
        int16_t err = (int16_t)rn_topic_config_validate(keys[i], values[i], msg);
        if (err != RN_ERR_NONE)
            return err;
    }
    if (validate_only)
        return RN_ERR_NONE;
    if (replace_all)
        rn_topic_config_clear(t);
    for (int i = 0; i < n; i++) {
        int op = ops ? ops[i] : OP_SET;
        if (op == OP_DELETE || values[i].len < 0) {
            rn_topic_config_remove(t, keys[i]);
        } else if (op == OP_SET || op == OP_APPEND) {
            /* cleanup.policy is the one list: APPEND of a policy already set is a no-op */
            if (op == OP_APPEND) {
                const char *cur = NULL;
                char k[64];
                snprintf(k, sizeof k, "%.*s", keys[i].len, keys[i].ptr);
                cur = rn_topic_config_override(t, k);
                if (cur && strstr(cur, "compact") && strstr(cur, "delete"))
                    continue;
                if (cur && !rn_str_eq_c(values[i], cur)) {
                    rn_topic_config_set(t, keys[i], rn_str_c("compact,delete"));
                    continue;
                }
            }
            if (rn_topic_config_set(t, keys[i], values[i]) < 0) {
                *msg = "too many topic configs";
                return RN_ERR_INVALID_CONFIG;
            }
        } else { /* SUBTRACT on cleanup.policy */
            char k[64];
            snprintf(k, sizeof k, "%.*s", keys[i].len, keys[i].ptr);
            const char *cur = rn_topic_config_override(t, k);
            if (!cur)
                continue;
            if (rn_str_eq_c(values[i], cur))
                rn_topic_config_remove(t, keys[i]);
            else if (strchr(cur, ','))
                rn_topic_config_set(t, keys[i], rn_str_c(rn_str_eq_c(values[i], "compact") ? "delete" : "compact"));
        }
    }
    if (rn_topic_store_config(t) < 0) {
        *msg = "cannot write topic.config";
        return RN_ERR_KAFKA_STORAGE_ERROR;
    }
    rn_info("topic %s: configs changed (%d overrides)", t->name, t->nconfigs);
    return RN_ERR_NONE;
}

/* One resource of either request kind. */
static int16_t alter_resource(rn_req *req, int8_t type, rn_str name, int n, const rn_str *keys, const rn_str *values,
                              const int8_t *ops, int replace_all, int validate_only, rn_str *msg_out)
{
    const char *msg = NULL;
    char errbuf[256];
    int16_t err;
    rn_topics_wrlock();
    if (type == RESOURCE_TOPIC) {
        err = alter_topic(name, keys, values, ops, n, replace_all, validate_only, &msg);
    } else if (type == RESOURCE_BROKER) {
        err = check_broker_name(name, &msg);
        if (err == RN_ERR_NONE)
            err = alter_broker(keys, values, ops, n, replace_all, validate_only, &msg, errbuf, sizeof errbuf);
    } else {
        err = RN_ERR_INVALID_REQUEST;
        msg = "unsupported resource type";
    }
    rn_topics_unlock();
    *msg_out = err != RN_ERR_NONE && msg ? rn_arena_str(&req->arena, msg) : RN_STR_NULL;
    return err;
}

void rn_handle_alter_configs(rn_req *req)
{
    rn_AlterConfigsRequest rq;
    if (!RN_DECODE(req, AlterConfigs, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int32_t n = rq.Resources_count > 0 ? rq.Resources_count : 0;
    rn_AlterConfigsResponse rs;
    rn_AlterConfigsResponse_init(&rs);
    rs.Responses = RN_ALLOC(req, rn_AlterConfigsResponse_AlterConfigsResourceResponse, n);
    if (!rs.Responses)
        goto oom;
    rs.Responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        rn_AlterConfigsRequest_AlterConfigsResource *res = &rq.Resources[i];
        rn_AlterConfigsResponse_AlterConfigsResourceResponse *r = &rs.Responses[i];
        rn_AlterConfigsResponse_AlterConfigsResourceResponse_init(r);
        r->ResourceType = res->ResourceType;
        r->ResourceName = res->ResourceName;
        int32_t nc = res->Configs_count > 0 ? res->Configs_count : 0;
        rn_str *keys = RN_ALLOC(req, rn_str, nc), *values = RN_ALLOC(req, rn_str, nc);
        if (!keys || !values)
            goto oom;
        for (int32_t c = 0; c < nc; c++) {
            keys[c] = res->Configs[c].Name;
            values[c] = res->Configs[c].Value;
        }
        r->ErrorCode = alter_resource(req, res->ResourceType, res->ResourceName, nc, keys, values, NULL, 1,
                                      rq.ValidateOnly, &r->ErrorMessage);
    }
    RN_RESPOND(req, AlterConfigs, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

void rn_handle_incremental_alter_configs(rn_req *req)
{
    rn_IncrementalAlterConfigsRequest rq;
    if (!RN_DECODE(req, IncrementalAlterConfigs, &rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    int32_t n = rq.Resources_count > 0 ? rq.Resources_count : 0;
    rn_IncrementalAlterConfigsResponse rs;
    rn_IncrementalAlterConfigsResponse_init(&rs);
    rs.Responses = RN_ALLOC(req, rn_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse, n);
    if (!rs.Responses)
        goto oom;
    rs.Responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        rn_IncrementalAlterConfigsRequest_AlterConfigsResource *res = &rq.Resources[i];
        rn_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse *r = &rs.Responses[i];
        rn_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse_init(r);
        r->ResourceType = res->ResourceType;
        r->ResourceName = res->ResourceName;
        int32_t nc = res->Configs_count > 0 ? res->Configs_count : 0;
        rn_str *keys = RN_ALLOC(req, rn_str, nc), *values = RN_ALLOC(req, rn_str, nc);
        int8_t *ops = RN_ALLOC(req, int8_t, nc);
        if (!keys || !values || !ops)
            goto oom;
        for (int32_t c = 0; c < nc; c++) {
            keys[c] = res->Configs[c].Name;
            values[c] = res->Configs[c].Value;
            ops[c] = res->Configs[c].ConfigOperation;
        }
        r->ErrorCode = alter_resource(req, res->ResourceType, res->ResourceName, nc, keys, values, ops, 0,
                                      rq.ValidateOnly, &r->ErrorMessage);
    }
    RN_RESPOND(req, IncrementalAlterConfigs, &rs);
    return;
oom:
    rn_req_malformed(req, "request too large to answer");
}

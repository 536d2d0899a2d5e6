/*
 * topic_config.c - per-topic configuration overrides (Kafka's topic-level
 * keys), validated, persisted with the topic, and applied.
 *
 * On disk: `topic.config` in every partition folder of the topic, written
 * atomically (tmp + fsync + rename), one `key=value` per line. Partition 0's
 * copy is read at start-up.
 *
 * Acted on, without a restart: message.timestamp.type, max.message.bytes,
 * segment.bytes, segment.ms, index.interval.bytes (from the next append),
 * segment.index.bytes (segments created after the change), retention.ms,
 * retention.bytes, cleanup.policy, delete.retention.ms,
 * min.compaction.lag.ms, max.compaction.lag.ms, min.cleanable.dirty.ratio,
 * file.delete.delay.ms (log manager), flush.messages, flush.ms.
 * Stored and reported only: compression.type (batches are kept as the
 * producer compressed them), min.insync.replicas (one replica).
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

typedef enum { K_LONG, K_ENUM, K_RATIO } key_kind;

typedef struct topic_key {
    const char *name;
    const char *broker_key; /* the broker default it inherits (DescribeConfigs synonym), or NULL */
    key_kind kind;
    int64_t min;
    const char *const *choices;
    void (*broker_default)(char *buf, size_t len);
} topic_key;

#define LONG_DEFAULT(fn, expr) \
    static void fn(char *b, size_t n) { snprintf(b, n, "%lld", (long long)(expr)); }
LONG_DEFAULT(d_segment_bytes, rn_g.cfg.log_segment_bytes)
LONG_DEFAULT(d_max_message_bytes, rn_g.cfg.message_max_bytes)
LONG_DEFAULT(d_retention_ms, rn_g.cfg.log_retention_ms)
LONG_DEFAULT(d_retention_bytes, rn_g.cfg.log_retention_bytes)
LONG_DEFAULT(d_index_interval, rn_g.cfg.log_index_interval_bytes)
LONG_DEFAULT(d_segment_index_bytes, rn_g.cfg.log_index_size_max_bytes)
LONG_DEFAULT(d_min_isr, rn_g.cfg.min_insync_replicas)
LONG_DEFAULT(d_flush_messages, rn_g.cfg.log_flush_interval_messages)
LONG_DEFAULT(d_flush_ms, rn_g.cfg.log_flush_interval_ms < 0 ? INT64_MAX : rn_g.cfg.log_flush_interval_ms)
LONG_DEFAULT(d_segment_ms, rn_g.cfg.log_roll_ms)
LONG_DEFAULT(d_file_delete_delay, rn_g.cfg.log_segment_delete_delay_ms)
LONG_DEFAULT(d_delete_retention_ms, 86400000LL)
LONG_DEFAULT(d_zero, 0)
LONG_DEFAULT(d_max_compaction_lag, INT64_MAX)
static void d_ts_type(char *b, size_t n)
{
    snprintf(b, n, "%s", rn_g.cfg.log_message_timestamp_type ? "LogAppendTime" : "CreateTime");
}
static void d_cleanup(char *b, size_t n) { snprintf(b, n, "%s", rn_g.cfg.log_cleanup_policy); }
static void d_compression(char *b, size_t n) { snprintf(b, n, "%s", rn_g.cfg.compression_type); }
static void d_dirty_ratio(char *b, size_t n) { snprintf(b, n, "0.5"); }

static const char *const ts_types[] = {"CreateTime", "LogAppendTime", NULL};
static const char *const cleanup_policies[] = {"delete", "compact", "compact,delete", "delete,compact", NULL};
static const char *const codecs[] = {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer", NULL};

static const topic_key keys[] = {
    {"cleanup.policy", "log.cleanup.policy", K_ENUM, 0, cleanup_policies, d_cleanup},
    {"compression.type", "compression.type", K_ENUM, 0, codecs, d_compression},
    {"delete.retention.ms", NULL, K_LONG, 0, NULL, d_delete_retention_ms},
    {"file.delete.delay.ms", "log.segment.delete.delay.ms", K_LONG, 0, NULL, d_file_delete_delay},
    {"flush.messages", "log.flush.interval.messages", K_LONG, 1, NULL, d_flush_messages},
    {"flush.ms", "log.flush.interval.ms", K_LONG, 0, NULL, d_flush_ms},
    {"index.interval.bytes", "log.index.interval.bytes", K_LONG, 0, NULL, d_index_interval},
    {"max.compaction.lag.ms", NULL, K_LONG, 1, NULL, d_max_compaction_lag},
    {"max.message.bytes", "message.max.bytes", K_LONG, 0, NULL, d_max_message_bytes},
    {"message.timestamp.type", "log.message.timestamp.type", K_ENUM, 0, ts_types, d_ts_type},
    {"min.cleanable.dirty.ratio", NULL, K_RATIO, 0, NULL, d_dirty_ratio},
    {"min.compaction.lag.ms", NULL, K_LONG, 0, NULL, d_zero},
    {"min.insync.replicas", "min.insync.replicas", K_LONG, 1, NULL, d_min_isr},
    {"retention.bytes", "log.retention.bytes", K_LONG, -1, NULL, d_retention_bytes},
    {"retention.ms", "log.retention.ms", K_LONG, -1, NULL, d_retention_ms},
    {"segment.bytes", "log.segment.bytes", K_LONG, 14, NULL, d_segment_bytes},
    {"segment.index.bytes", "log.index.size.max.bytes", K_LONG, 4, NULL, d_segment_index_bytes},
    {"segment.ms", "log.roll.ms", K_LONG, 1, NULL, d_segment_ms},
};
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

static const topic_key *find_key(rn_str name)
{
    for (int i = 0; i < NKEYS; i++)
        if (rn_str_eq_c(name, keys[i].name))
            return &keys[i];
    return NULL;
}

int rn_topic_config_count(void) { return NKEYS; }
const char *rn_topic_config_synonym(int i) { return i >= 0 && i < NKEYS ? keys[i].broker_key : NULL; }
int rn_topic_config_known(rn_str name) { return find_key(name) != NULL; }
const char *rn_topic_config_name(int i) { return i >= 0 && i < NKEYS ? keys[i].name : NULL; }

int rn_topic_config_validate(rn_str name, rn_str value, const char **msg)
{
    const topic_key *k = find_key(name);
    if (!k) {
        *msg = "unknown topic config";
        return RN_ERR_INVALID_CONFIG;
    }
    if (value.len < 0 || value.len >= RN_TOPIC_CONFIG_VALUE_MAX) {
        *msg = "missing or overlong config value";
        return RN_ERR_INVALID_CONFIG;
    }
    char v[RN_TOPIC_CONFIG_VALUE_MAX];
    memcpy(v, value.ptr, (size_t)value.len);
    v[value.len] = 0;
    if (k->kind == K_ENUM) {
        for (const char *const *c = k->choices; *c; c++)
            if (strcmp(*c, v) == 0)
                return RN_ERR_NONE;
        *msg = "value is not one of the allowed choices";
        return RN_ERR_INVALID_CONFIG;
    }
    char *end;
    errno = 0;
    if (k->kind == K_RATIO) {
        double d = strtod(v, &end);
        if (errno || end == v || *end || d < 0 || d > 1) {
            *msg = "value must be a number between 0 and 1";
            return RN_ERR_INVALID_CONFIG;
        }
        return RN_ERR_NONE;
    }
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        *msg = "value is not an integer";
        return RN_ERR_INVALID_CONFIG;
    }
    if (n < k->min) {
        *msg = "value is below the key's minimum";
        return RN_ERR_INVALID_CONFIG;
    }
    return RN_ERR_NONE;
}

const char *rn_topic_config_override(const rn_topic *t, const char *name)
{
    for (int i = 0; i < t->nconfigs; i++)
        if (strcmp(t->configs[i].key, name) == 0)
            return t->configs[i].value;
    return NULL;
}

void rn_topic_config_value(const rn_topic *t, int i, char *buf, size_t len, int *is_override)
{
    const char *o = rn_topic_config_override(t, keys[i].name);
    *is_override = o != NULL;
    if (o)
        snprintf(buf, len, "%s", o);
    else
        keys[i].broker_default(buf, len);
}

static int64_t long_of(const rn_topic *t, const char *name, int64_t dflt)
{
    const char *o = rn_topic_config_override(t, name);
    return o ? strtoll(o, NULL, 10) : dflt;
}

void rn_topic_config_apply(rn_topic *t)
{
    const char *ts = rn_topic_config_override(t, "message.timestamp.type");
    t->timestamp_type = ts ? strcmp(ts, "LogAppendTime") == 0 : rn_g.cfg.log_message_timestamp_type;
    int64_t mmb = long_of(t, "max.message.bytes", rn_g.cfg.message_max_bytes);
    t->max_message_bytes = mmb > INT32_MAX ? INT32_MAX : (int32_t)mmb;
    t->log_cfg.segment_bytes = long_of(t, "segment.bytes", rn_g.cfg.log_segment_bytes);
    int64_t iib = long_of(t, "index.interval.bytes", rn_g.cfg.log_index_interval_bytes);
    t->log_cfg.index_interval_bytes = iib > INT32_MAX ? INT32_MAX : (int32_t)iib;
    int64_t sib = long_of(t, "segment.index.bytes", rn_g.cfg.log_index_size_max_bytes);
    t->log_cfg.segment_index_bytes = sib > INT32_MAX ? INT32_MAX : (int32_t)sib;
    t->flush_messages = long_of(t, "flush.messages", rn_g.cfg.log_flush_interval_messages);
    t->flush_ms = long_of(t, "flush.ms", rn_g.cfg.log_flush_interval_ms < 0 ? INT64_MAX : rn_g.cfg.log_flush_interval_ms);
    t->retention_ms = long_of(t, "retention.ms", rn_g.cfg.log_retention_ms);
    t->retention_bytes = long_of(t, "retention.bytes", rn_g.cfg.log_retention_bytes);
    const char *cp = rn_topic_config_override(t, "cleanup.policy");
    if (!cp)
        cp = rn_g.cfg.log_cleanup_policy;
    t->cleanup_delete = strstr(cp, "delete") != NULL;
    t->cleanup_compact = strstr(cp, "compact") != NULL;
    t->delete_retention_ms = long_of(t, "delete.retention.ms", 86400000LL);
    t->min_compaction_lag_ms = long_of(t, "min.compaction.lag.ms", 0);
    t->max_compaction_lag_ms = long_of(t, "max.compaction.lag.ms", INT64_MAX);
    const char *ratio = rn_topic_config_override(t, "min.cleanable.dirty.ratio");
    t->min_cleanable_dirty_ratio = ratio ? strtod(ratio, NULL) : 0.5;
    t->file_delete_delay_ms = long_of(t, "file.delete.delay.ms", rn_g.cfg.log_segment_delete_delay_ms);
    t->log_cfg.segment_ms = long_of(t, "segment.ms", rn_g.cfg.log_roll_ms);
    /* Open logs take the segment settings for their next append and roll
     * (a partition still being created is NULL: it opens with them). */
    for (int32_t i = 0; i < t->npartitions; i++)
        if (t->parts[i])
            rn_log_set_config(t->parts[i]->log, &t->log_cfg);
}

int rn_topic_config_set(rn_topic *t, rn_str name, rn_str value)
{
    char k[RN_TOPIC_CONFIG_KEY_MAX];
    if (name.len <= 0 || name.len >= (int32_t)sizeof k || value.len < 0 || value.len >= RN_TOPIC_CONFIG_VALUE_MAX)
        return -EINVAL;
    memcpy(k, name.ptr, (size_t)name.len);
    k[name.len] = 0;
    int i;
    for (i = 0; i < t->nconfigs; i++)
        if (strcmp(t->configs[i].key, k) == 0)
            break;
    if (i == t->nconfigs) {
        if (t->nconfigs == RN_TOPIC_CONFIGS_MAX)
            return -ENOSPC;
        t->nconfigs++;
    }
    snprintf(t->configs[i].key, sizeof t->configs[i].key, "%s", k);
    memcpy(t->configs[i].value, value.ptr, (size_t)value.len);
    t->configs[i].value[value.len] = 0;
    return 0;
}

int rn_topic_config_save(const rn_topic *t, const char *partition_dir)
{
    char path[4300], tmp[4310];
    snprintf(path, sizeof path, "%s/topic.config", partition_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -errno;
    for (int i = 0; i < t->nconfigs; i++)
        fprintf(f, "%s=%s\n", t->configs[i].key, t->configs[i].value);
    int rc = 0;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc == 0) { /* the rename itself must survive a power loss */
        int dfd = open(partition_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return rc;
}

int rn_topic_config_load(rn_topic *t, const char *partition_dir)
{
    char path[4300], line[512];
    snprintf(path, sizeof path, "%s/topic.config", partition_dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        rn_str k = rn_str_c(line), v = rn_str_c(eq + 1);
        const char *msg;
        if (rn_topic_config_validate(k, v, &msg) != RN_ERR_NONE) {
            rn_warn("%s: ignoring %s=%s: %s", path, line, eq + 1, msg);
            continue;
        }
        rn_topic_config_set(t, k, v);
    }
    fclose(f);
    return 0;
}

void rn_topic_config_clear(rn_topic *t) { t->nconfigs = 0; }

int rn_topic_config_remove(rn_topic *t, rn_str name)
{
    for (int i = 0; i < t->nconfigs; i++)
        if (rn_str_eq_c(name, t->configs[i].key)) {
            t->configs[i] = t->configs[--t->nconfigs];
            return 1;
        }
    return 0;
}

int rn_topic_config_is_list(rn_str name) { return rn_str_eq_c(name, "cleanup.policy"); }

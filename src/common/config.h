/*
 * config.h - broker configuration: Kafka's keys, meanings and defaults.
 *
 * Layer: src/common. Parses a Java-style .properties file plus
 * `--override key=value` pairs into rn_config. Every supported key is in one
 * table in config.c with its type, default, bounds and documentation line;
 * config/server.properties documents the same keys for operators.
 *
 * Unknown keys produce a warning (logged, start-up goes on). A value that
 * does not parse or is out of range stops start-up: rn_config_load returns
 * -1 and writes "invalid value 'X' for key 'K': reason" into err.
 */
#ifndef RN_COMMON_CONFIG_H
#define RN_COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define RN_MAX_LISTENERS 8

typedef struct rn_listener {
    char name[32];  /* listener name, e.g. PLAINTEXT */
    char host[256]; /* "" means all interfaces (0.0.0.0) */
    int port;
} rn_listener;

typedef struct rn_config {
    rn_listener listeners[RN_MAX_LISTENERS];       /* listeners (default PLAINTEXT://127.0.0.1:9092) */
    int nlisteners;
    rn_listener advertised_listeners[RN_MAX_LISTENERS]; /* advertised.listeners (default: listeners) */
    int nadvertised_listeners;
    char log_dirs[4096];                 /* log.dirs (alias log.dir); first dir used; default ./data */
    int32_t node_id;                     /* node.id (alias broker.id), default 1 */
    char cluster_id[64];                 /* cluster.id; default: generated and stored in meta.properties */
    int32_t num_partitions;              /* num.partitions, default 1 */
    int16_t default_replication_factor;  /* default.replication.factor, default 1 */
    int auto_create_topics_enable;       /* auto.create.topics.enable, default true */
    int delete_topic_enable;             /* delete.topic.enable, default true */
    int64_t log_segment_bytes;           /* log.segment.bytes, default 1073741824, min 14 */
    int32_t log_index_interval_bytes;    /* log.index.interval.bytes, default 4096 */
    int32_t log_index_size_max_bytes;    /* log.index.size.max.bytes, default 10485760 */
    int32_t message_max_bytes;           /* message.max.bytes, default 1048588 */
    int32_t socket_request_max_bytes;    /* socket.request.max.bytes, default 104857600 */
    int32_t num_network_threads;         /* num.network.threads, default: number of cores (Kafka: 3) */
    int32_t log_message_timestamp_type;  /* log.message.timestamp.type: 0 CreateTime (default), 1 LogAppendTime */
    int64_t log_flush_interval_messages; /* log.flush.interval.messages, default INT64_MAX */
    int64_t log_flush_interval_ms;       /* log.flush.interval.ms, default: unset (-1) */
    int64_t log_retention_ms;            /* log.retention.ms/minutes/hours, default 168 h */
    int64_t log_retention_bytes;         /* log.retention.bytes, default -1 */
    int32_t max_connections;             /* max.connections, default 2147483647 */
    int32_t min_insync_replicas;         /* min.insync.replicas, default 1 */
    int64_t group_commit_ms_max;         /* runnel.flush.max.delay.ms: longest an acks=all answer waits to share a flush, default 2 */
} rn_config;

/* Fills every field with its default. */
void rn_config_defaults(rn_config *c);

/* Applies the properties file at path (NULL: none), then each override
 * ("key=value") in order. Returns 0, or -1 with a one-line message in err. */
int rn_config_load(rn_config *c, const char *path, char *const *overrides, int noverrides,
                   char *err, size_t errlen);

/* Sets one key from its string form. Returns 0, 1 for an unknown key
 * (warning already logged), or -1 with a message in err. */
int rn_config_set(rn_config *c, const char *key, const char *value, char *err, size_t errlen);

/* Iterates the supported keys (for DescribeConfigs): the i-th key's name and
 * its current value as a string in buf. Returns 0, or -1 past the end. */
int rn_config_describe(const rn_config *c, int i, const char **name, char *buf, size_t buflen,
                       int *is_default, int *is_sensitive);

#endif

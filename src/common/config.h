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
#define RN_CONFIG_KEYS_MAX 64 /* capacity of config.c's key table */

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

    /* Accepted, validated and stored, not acted on yet (Kafka's meanings). */
    int32_t broker_id;                   /* broker.id: alias of node.id; -1 unless set (must equal node.id if both set) */
    char process_roles[32];              /* process.roles, default "broker,controller" (Kafka: none) */
    char controller_quorum_voters[1024]; /* controller.quorum.voters: id@host:port,..., default "" */
    char controller_listener_names[256]; /* controller.listener.names, default "" */
    char inter_broker_listener_name[32]; /* inter.broker.listener.name, default "" (Kafka: null) */
    char listener_security_protocol_map[1024]; /* listener.security.protocol.map: NAME:PROTOCOL,... */
    int64_t log_retention_check_interval_ms; /* log.retention.check.interval.ms, default 300000 */
    char log_cleanup_policy[32];         /* log.cleanup.policy: delete and/or compact, default "delete" */
    int32_t num_io_threads;              /* num.io.threads, default 8 */
    int32_t socket_send_buffer_bytes;    /* socket.send.buffer.bytes, default 102400, -1 = OS default */
    int32_t socket_receive_buffer_bytes; /* socket.receive.buffer.bytes, default 102400, -1 = OS default */
    int16_t offsets_topic_replication_factor;         /* offsets.topic.replication.factor, default 3 */
    int16_t transaction_state_log_replication_factor; /* transaction.state.log.replication.factor, default 3 */
    int32_t transaction_state_log_min_isr; /* transaction.state.log.min.isr, default 2 */
    int32_t group_initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms, default 3000 */
    int log_flush_acks_all;                  /* log.flush.acks.all (Runnel's own), default true */
    int32_t transaction_state_log_num_partitions; /* transaction.state.log.num.partitions, default 50 */
    int32_t transaction_max_timeout_ms;      /* transaction.max.timeout.ms, default 900000 */
    int64_t producer_id_expiration_ms;       /* producer.id.expiration.ms, default 86400000 */
    int64_t log_segment_delete_delay_ms;     /* log.segment.delete.delay.ms, default 60000 */
    int64_t log_roll_ms;                     /* log.roll.ms, default 604800000 (log.roll.hours=168) */
    int32_t group_min_session_timeout_ms;    /* group.min.session.timeout.ms, default 6000 */
    int32_t group_max_session_timeout_ms;    /* group.max.session.timeout.ms, default 1800000 */
    int32_t group_max_size;                  /* group.max.size, default 2147483647 */
    int32_t offset_metadata_max_bytes;       /* offset.metadata.max.bytes, default 4096 (max 32767) */
    int32_t offsets_topic_num_partitions;    /* offsets.topic.num.partitions, default 50 */
    int32_t offsets_retention_minutes;       /* offsets.retention.minutes, default 10080 (7 days) */
    char compression_type[16];           /* compression.type, default "producer" */

    /* Private to config.c: 1 when the i-th key of its table was set by the
     * file or an override (DescribeConfigs' is_default, alias precedence). */
    unsigned char key_set_[RN_CONFIG_KEYS_MAX];
} rn_config;

/* Fills every field with its default. Call before rn_config_load. */
void rn_config_defaults(rn_config *c);

/* Applies the properties file at path (NULL: none), then each override
 * ("key=value") in order, onto c as rn_config_defaults (or an earlier load)
 * left it; then checks what involves several keys (advertised.listeners
 * names must be listeners names). Returns 0, or -1 with a one-line message
 * in err. Aliases follow Kafka whatever the order: log.dirs wins over
 * log.dir, log.retention.ms over .minutes over .hours, and broker.id must
 * equal node.id when both are set. */
int rn_config_load(rn_config *c, const char *path, char *const *overrides, int noverrides,
                   char *err, size_t errlen);

/* Sets one key from its string form. Returns 0, 1 for an unknown key
 * (warning already logged), or -1 with a message in err. */
int rn_config_set(rn_config *c, const char *key, const char *value, char *err, size_t errlen);

/* Iterates the supported keys (for DescribeConfigs): the i-th key's name and
 * its current value as a string in buf. Returns 0, or -1 past the end.
 * Aliases (log.dir, broker.id, log.retention.hours/minutes) are not listed:
 * their effect shows in the keys they stand for. Unset values (Kafka: null)
 * come out as "" (strings) or -1 (log.flush.interval.ms). */
int rn_config_describe(const rn_config *c, int i, const char **name, char *buf, size_t buflen,
                       int *is_default, int *is_sensitive);

#endif

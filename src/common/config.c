/*
 * config.c - broker configuration: one table of Kafka's keys drives the
 * defaults, the parsing and validation of each value, and DescribeConfigs.
 *
 * Layer: src/common. Start-up code only (not on any hot path); functions are
 * not thread-safe against writers, but a loaded rn_config may be read and
 * described from any thread.
 *
 * Each key has a type (how its string form is parsed), a field in
 * rn_config, a default in string form (parsed by the same code as user
 * values, so defaults are validated too), bounds, and a documentation line.
 * Keys are Kafka's with Kafka's meanings and defaults, except where the doc
 * line says otherwise. config/server.properties and docs/configuration.md
 * describe the same keys for operators; tests/unit/test_config.c checks they
 * stay in step with this table.
 */
#include "common/config.h"

#include "common/rlog.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef enum cfg_type {
    T_INT,       /* Kafka INT: 32-bit integer */
    T_LONG,      /* Kafka LONG: 64-bit integer */
    T_BOOL,      /* true or false, any case */
    T_STRING,    /* stored as written; optionally one of choices */
    T_LIST,      /* comma-separated, items trimmed; optionally each one of choices */
    T_LISTENERS, /* NAME://host:port,... */
    T_ENUM,      /* one of choices, stored as its index (int32) */
} cfg_type;

enum {
    K_ALIAS = 1,     /* another spelling of a key: not described, not defaulted */
    K_NOT_ACTED = 2, /* accepted and stored, not acted on yet */
    K_NONEMPTY = 4,  /* strings and lists: must not be empty */
};

#define NO_FIELD ((size_t)-1)
#define FIELD(f) offsetof(rn_config, f), sizeof(((rn_config *)0)->f)
#define NOFIELD NO_FIELD, 0

typedef struct cfg_key cfg_key;

/* Extra validation of a string value: returns 0, or -1 with the reason. */
typedef int (*cfg_check_fn)(const char *value, char *why, size_t whylen);

struct cfg_key {
    const char *name;
    cfg_type type;
    size_t off, size;           /* the field in rn_config, or NO_FIELD */
    const char *def;            /* default in string form; NULL: see config_default_of */
    int64_t min, max;           /* numbers */
    const char *const *choices; /* NULL-terminated allowed values, or NULL */
    cfg_check_fn check;         /* extra validation, or NULL */
    int flags;
    const char *doc;            /* one line: meaning, units, what it does in Runnel */
};

static const char *const timestamp_types[] = {"CreateTime", "LogAppendTime", NULL};
static const char *const roles[] = {"broker", "controller", NULL};
static const char *const cleanup_policies[] = {"delete", "compact", NULL};
static const char *const compression_types[] = {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer", NULL};
static const char *const security_protocols[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL", NULL};

static int check_voters(const char *value, char *why, size_t whylen);
static int check_protocol_map(const char *value, char *why, size_t whylen);

/* Kafka keeps log.segment.bytes above the smallest legacy record. */
#define LEGACY_RECORD_OVERHEAD_V0 14

/* The table. Order is the order of DescribeConfigs and of the docs. */
static const cfg_key keys[] = {
    {"process.roles", T_LIST, FIELD(process_roles), "broker,controller", 0, 0, roles, NULL, K_NOT_ACTED,
     "Roles of this node: broker, controller or both. Runnel always runs both (single node); Kafka has no default"},
    {"node.id", T_INT, FIELD(node_id), "1", 0, INT32_MAX, NULL, NULL, 0,
     "Id of this node in the cluster (alias: broker.id). Kafka has no default; Runnel uses 1"},
    {"broker.id", T_INT, FIELD(broker_id), NULL, -1, INT32_MAX, NULL, NULL, K_ALIAS,
     "Old name of node.id; must equal node.id when both are set; -1 means unset"},
    {"cluster.id", T_STRING, FIELD(cluster_id), "", 0, 0, NULL, NULL, 0,
     "Cluster id; empty: generated at first start and kept in meta.properties"},
    {"controller.quorum.voters", T_LIST, FIELD(controller_quorum_voters), "", 0, 0, NULL, check_voters, K_NOT_ACTED,
     "Controller quorum as id@host:port,..."},
    {"controller.listener.names", T_LIST, FIELD(controller_listener_names), "", 0, 0, NULL, NULL, K_NOT_ACTED,
     "Listener names the controller uses"},
    {"listeners", T_LISTENERS, FIELD(listeners), "PLAINTEXT://127.0.0.1:9092", 0, 0, NULL, NULL, K_NONEMPTY,
     "Addresses to listen on, NAME://host:port,...; empty host or 0.0.0.0: all interfaces; port 0: any free port"},
    {"advertised.listeners", T_LISTENERS, FIELD(advertised_listeners), NULL, 0, 0, NULL, NULL, 0,
     "Addresses given to clients in metadata, NAME://host:port,...; default: listeners; names must be listeners names"},
    {"inter.broker.listener.name", T_STRING, FIELD(inter_broker_listener_name), "", 0, 0, NULL, NULL, K_NOT_ACTED,
     "Listener brokers use to talk to each other; empty: the PLAINTEXT listener (Kafka: null)"},
    {"listener.security.protocol.map", T_LIST, FIELD(listener_security_protocol_map),
     "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", 0, 0, NULL, check_protocol_map,
     K_NOT_ACTED, "Security protocol of each listener, NAME:PROTOCOL,...; Runnel serves PLAINTEXT only so far"},
    {"num.network.threads", T_INT, FIELD(num_network_threads), NULL, 1, 256, NULL, NULL, 0,
     "Event-loop threads serving connections; default: online CPUs (Kafka: 3)"},
    {"num.io.threads", T_INT, FIELD(num_io_threads), "8", 1, INT32_MAX, NULL, NULL, K_NOT_ACTED,
     "Threads processing requests (Runnel handles requests on the network threads)"},
    {"socket.send.buffer.bytes", T_INT, FIELD(socket_send_buffer_bytes), "102400", -1, INT32_MAX, NULL, NULL,
     K_NOT_ACTED, "SO_SNDBUF of client sockets; -1: the OS default"},
    {"socket.receive.buffer.bytes", T_INT, FIELD(socket_receive_buffer_bytes), "102400", -1, INT32_MAX, NULL, NULL,
     K_NOT_ACTED, "SO_RCVBUF of client sockets; -1: the OS default"},
    {"socket.request.max.bytes", T_INT, FIELD(socket_request_max_bytes), "104857600", 1, INT32_MAX, NULL, NULL, 0,
     "Largest request accepted, in bytes; a larger size prefix closes the connection"},
    {"max.connections", T_INT, FIELD(max_connections), "2147483647", 0, INT32_MAX, NULL, NULL, 0,
     "Most client connections open at once; further connections are closed on accept"},
    {"log.dirs", T_LIST, FIELD(log_dirs), "./data", 0, 0, NULL, NULL, K_NONEMPTY,
     "Directories holding partition data, comma-separated (alias: log.dir); Runnel uses the first (Kafka default: /tmp/kafka-logs)"},
    {"log.dir", T_LIST, NOFIELD, NULL, 0, 0, NULL, NULL, K_ALIAS | K_NONEMPTY,
     "Old name of log.dirs, used when log.dirs is not set"},
    {"num.partitions", T_INT, FIELD(num_partitions), "1", 1, INT32_MAX, NULL, NULL, 0,
     "Partitions of an auto-created topic, and of a created topic that does not say"},
    {"default.replication.factor", T_INT, FIELD(default_replication_factor), "1", 1, INT16_MAX, NULL, NULL, 0,
     "Replication factor of an auto-created topic, and of a created topic that does not say"},
    {"auto.create.topics.enable", T_BOOL, FIELD(auto_create_topics_enable), "true", 0, 0, NULL, NULL, 0,
     "Create a topic when a client asks for metadata of, or produces to, a topic that does not exist"},
    {"delete.topic.enable", T_BOOL, FIELD(delete_topic_enable), "true", 0, 0, NULL, NULL, 0,
     "Allow DeleteTopics"},
    {"min.insync.replicas", T_INT, FIELD(min_insync_replicas), "1", 1, INT32_MAX, NULL, NULL, 0,
     "Fewest in-sync replicas an acks=all produce needs, else NOT_ENOUGH_REPLICAS"},
    {"message.max.bytes", T_INT, FIELD(message_max_bytes), "1048588", 0, INT32_MAX, NULL, NULL, 0,
     "Largest record batch accepted, in bytes (12-byte log overhead included); larger: MESSAGE_TOO_LARGE"},
    {"log.segment.bytes", T_INT, FIELD(log_segment_bytes), "1073741824", LEGACY_RECORD_OVERHEAD_V0, INT32_MAX, NULL,
     NULL, 0, "Size in bytes at which the active segment is rolled"},
    {"log.index.interval.bytes", T_INT, FIELD(log_index_interval_bytes), "4096", 0, INT32_MAX, NULL, NULL, 0,
     "Bytes of log between two entries of the offset index"},
    {"log.index.size.max.bytes", T_INT, FIELD(log_index_size_max_bytes), "10485760", 4, INT32_MAX, NULL, NULL, 0,
     "Largest offset or time index file, in bytes; a full index rolls the segment"},
    {"log.message.timestamp.type", T_ENUM, FIELD(log_message_timestamp_type), "CreateTime", 0, 0, timestamp_types,
     NULL, 0, "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's clock"},
    {"log.flush.interval.messages", T_LONG, FIELD(log_flush_interval_messages), "9223372036854775807", 1, INT64_MAX,
     NULL, NULL, 0, "Messages appended to a partition between forced flushes"},
    {"log.flush.interval.ms", T_LONG, FIELD(log_flush_interval_ms), "-1", -1, INT64_MAX, NULL, NULL, 0,
     "Longest a message stays unflushed, in ms; -1: unset (Kafka: null)"},
    {"runnel.flush.max.delay.ms", T_LONG, FIELD(group_commit_ms_max), "2", 0, 60000, NULL, NULL, 0,
     "Runnel only: longest an acks=all answer waits so that several produces share one fdatasync, in ms"},
    {"log.retention.ms", T_LONG, FIELD(log_retention_ms), "604800000", -1, INT64_MAX, NULL, NULL, 0,
     "Age in ms after which a segment is deleted; -1: no limit (wins over log.retention.minutes and .hours)"},
    {"log.retention.minutes", T_INT, NOFIELD, NULL, -1, INT32_MAX, NULL, NULL, K_ALIAS,
     "log.retention.ms in minutes, used when log.retention.ms is not set"},
    {"log.retention.hours", T_INT, NOFIELD, NULL, -1, INT32_MAX, NULL, NULL, K_ALIAS,
     "log.retention.ms in hours, used when neither log.retention.ms nor .minutes is set (Kafka default 168)"},
    {"log.retention.bytes", T_LONG, FIELD(log_retention_bytes), "-1", -1, INT64_MAX, NULL, NULL, 0,
     "Size in bytes a partition may keep before its oldest segments are deleted; -1: no limit"},
    {"log.retention.check.interval.ms", T_LONG, FIELD(log_retention_check_interval_ms), "300000", 1, INT64_MAX, NULL,
     NULL, K_NOT_ACTED, "How often retention is checked, in ms"},
    {"log.cleanup.policy", T_LIST, FIELD(log_cleanup_policy), "delete", 0, 0, cleanup_policies, NULL, K_NOT_ACTED,
     "delete, compact, or both: what happens to old segments"},
    {"compression.type", T_STRING, FIELD(compression_type), "producer", 0, 0, compression_types, NULL, K_NOT_ACTED,
     "Codec of stored batches; producer keeps the producer's"},
    {"offsets.topic.replication.factor", T_INT, FIELD(offsets_topic_replication_factor), "3", 1, INT16_MAX, NULL,
     NULL, K_NOT_ACTED, "Replication factor of __consumer_offsets"},
    {"transaction.state.log.replication.factor", T_INT, FIELD(transaction_state_log_replication_factor), "3", 1,
     INT16_MAX, NULL, NULL, K_NOT_ACTED, "Replication factor of __transaction_state"},
    {"transaction.state.log.min.isr", T_INT, FIELD(transaction_state_log_min_isr), "2", 1, INT32_MAX, NULL, NULL,
     K_NOT_ACTED, "min.insync.replicas of __transaction_state"},
    {"group.initial.rebalance.delay.ms", T_INT, FIELD(group_initial_rebalance_delay_ms), "3000", 0, INT32_MAX, NULL,
     NULL, 0, "How long a new group waits for more members before its first rebalance, in ms"},
    {"log.flush.acks.all", T_BOOL, FIELD(log_flush_acks_all), "true", 0, 0, NULL, NULL, 0,
     "Runnel: answer acks=all only after fdatasync (group-committed); false answers after the write, as Kafka"},
    {"transaction.state.log.num.partitions", T_INT, FIELD(transaction_state_log_num_partitions), "50", 1, 100000, NULL,
     NULL, 0, "Partitions of __transaction_state (fixed once the topic exists)"},
    {"transaction.max.timeout.ms", T_INT, FIELD(transaction_max_timeout_ms), "900000", 1, INT32_MAX, NULL, NULL, 0,
     "Longest transaction timeout a producer may ask for, in ms"},
    {"producer.id.expiration.ms", T_LONG, FIELD(producer_id_expiration_ms), "86400000", 1, INT64_MAX, NULL, NULL, 0,
     "How long a partition remembers an idle idempotent producer's sequences, in ms"},
    {"log.segment.delete.delay.ms", T_LONG, FIELD(log_segment_delete_delay_ms), "60000", 0, INT64_MAX, NULL, NULL, 0,
     "How long a deleted segment's files stay (renamed .deleted) before they are removed, in ms"},
    {"log.roll.ms", T_LONG, FIELD(log_roll_ms), "604800000", 1, INT64_MAX, NULL, NULL, 0,
     "Roll a new segment when the active one's first record is this old, in ms (Kafka: log.roll.hours=168)"},
    {"group.min.session.timeout.ms", T_INT, FIELD(group_min_session_timeout_ms), "6000", 0, INT32_MAX, NULL, NULL, 0,
     "Shortest session timeout a group member may ask for, in ms"},
    {"group.max.session.timeout.ms", T_INT, FIELD(group_max_session_timeout_ms), "1800000", 0, INT32_MAX, NULL, NULL,
     0, "Longest session timeout a group member may ask for, in ms"},
    {"group.max.size", T_INT, FIELD(group_max_size), "2147483647", 1, INT32_MAX, NULL, NULL, 0,
     "Most members one consumer group may have"},
    {"offset.metadata.max.bytes", T_INT, FIELD(offset_metadata_max_bytes), "4096", 0, 32767, NULL, NULL, 0,
     "Longest metadata string a committed offset may carry"},
    {"offsets.topic.num.partitions", T_INT, FIELD(offsets_topic_num_partitions), "50", 1, 100000, NULL, NULL, 0,
     "Partitions of __consumer_offsets (fixed once the topic exists)"},
    {"offsets.retention.minutes", T_INT, FIELD(offsets_retention_minutes), "10080", 1, INT32_MAX, NULL, NULL, 0,
     "How long committed offsets of an empty group are kept, in minutes"},
};

#define NKEYS ((int)(sizeof keys / sizeof keys[0]))
_Static_assert(sizeof keys / sizeof keys[0] <= RN_CONFIG_KEYS_MAX, "raise RN_CONFIG_KEYS_MAX");

static int key_index(const char *name)
{
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].name, name))
            return i;
    return -1;
}

static bool key_is_set(const rn_config *c, const char *name)
{
    int i = key_index(name);
    assert(i >= 0);
    return c->key_set_[i] != 0;
}

/* ---- errors ---- */

/* "invalid value 'V' for key 'K': why" */
static int fail(char *err, size_t errlen, const cfg_key *k, const char *value, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "invalid value '%s' for key '%s': %s", value, k->name, why);
    return -1;
}

static void whyf(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void whyf(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* ---- values ---- */

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\f' || ch == '\r' || ch == '\n';
}

/* Copies [s, s+n) without surrounding whitespace into out (NUL-terminated).
 * Returns -1 if it does not fit. */
static int copy_trimmed(const char *s, size_t n, char *out, size_t outlen)
{
    while (n && is_space(*s)) {
        s++;
        n--;
    }
    while (n && is_space(s[n - 1]))
        n--;
    if (n >= outlen)
        return -1;
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

/* Decimal integer, optional sign, nothing else. 0, -1 not a number, -2 overflow. */
static int parse_i64(const char *s, int64_t *out)
{
    const char *d = s + (*s == '+' || *s == '-');
    if (!isdigit((unsigned char)*d))
        return -1;
    for (const char *q = d; *q; q++)
        if (!isdigit((unsigned char)*q))
            return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -2;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int choice_index(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i]; i++)
        if (!strcmp(choices[i], s))
            return i;
    return -1;
}

static void choices_text(const char *const *choices, char *buf, size_t buflen)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; choices[i] && used < buflen; i++) {
        int n = snprintf(buf + used, buflen - used, "%s%s", i ? (choices[i + 1] ? ", " : " or ") : "", choices[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Normalises a comma-separated list into out: items trimmed, joined with
 * ','. An empty or all-blank value is the empty list. Checks items against
 * choices (and for duplicates) when given. */
static int parse_list(const cfg_key *k, const char *value, char *out, size_t outlen, char *why, size_t whylen)
{
    size_t used = 0;
    out[0] = 0;
    const char *s = value;
    const char *vend = value + strlen(value);
    bool empty_list = true;
    for (const char *q = value; *q; q++)
        if (!is_space(*q))
            empty_list = false;
    if (empty_list)
        return 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : vend;
        char item[1024];
        if (copy_trimmed(s, (size_t)(e - s), item, sizeof item) < 0) {
            whyf(why, whylen, "list item too long");
            return -1;
        }
        if (!item[0]) {
            whyf(why, whylen, "empty list item");
            return -1;
        }
        if (k->choices) {
            if (choice_index(k->choices, item) < 0) {
                char ch[256];
                choices_text(k->choices, ch, sizeof ch);
                whyf(why, whylen, "'%s' is not one of %s", item, ch);
                return -1;
            }
            /* duplicates: is ",item," already in out? */
            const char *o = out;
            size_t il = strlen(item);
            while (*o) {
                const char *oc = strchr(o, ',');
                size_t ol = oc ? (size_t)(oc - o) : strlen(o);
                if (ol == il && !memcmp(o, item, il)) {
                    whyf(why, whylen, "'%s' listed twice", item);
                    return -1;
                }
                o += ol + (oc != NULL);
            }
        }
        size_t il = strlen(item);
        if (used + (used != 0) + il >= outlen) {
            whyf(why, whylen, "too long (at most %zu bytes)", outlen - 1);
            return -1;
        }
        if (used)
            out[used++] = ',';
        memcpy(out + used, item, il + 1);
        used += il;
        if (!comma)
            break;
        s = comma + 1;
    }
    return 0;
}

/* controller.quorum.voters: id@host:port,... */
static int check_voters(const char *value, char *why, size_t whylen)
{
    const char *s = value;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char item[512];
        if (n >= sizeof item) {
            whyf(why, whylen, "voter too long");
            return -1;
        }
        memcpy(item, s, n);
        item[n] = 0;
        char *at = strchr(item, '@');
        char *colon = strrchr(item, ':');
        int64_t id, port;
        if (!at || !colon || colon < at || colon == at + 1)
            goto bad;
        *at = 0;
        *colon = 0;
        if (parse_i64(item, &id) < 0 || id < 0 || id > INT32_MAX || parse_i64(colon + 1, &port) < 0 || port < 0 ||
            port > 65535)
            goto bad;
        s += n + (e != NULL);
        continue;
    bad:
        memcpy(item, s, n);
        item[n] = 0;
        whyf(why, whylen, "voter '%s' is not id@host:port", item);
        return -1;
    }
    return 0;
}

/* listener.security.protocol.map: NAME:PROTOCOL,... */
static int check_protocol_map(const char *value, char *why, size_t whylen)
{
    const char *s = value;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char item[256];
        if (n >= sizeof item) {
            whyf(why, whylen, "entry too long");
            return -1;
        }
        memcpy(item, s, n);
        item[n] = 0;
        char *colon = strchr(item, ':');
        if (!colon || colon == item) {
            whyf(why, whylen, "entry '%s' is not NAME:PROTOCOL", item);
            return -1;
        }
        if (choice_index(security_protocols, colon + 1) < 0) {
            char ch[128];
            choices_text(security_protocols, ch, sizeof ch);
            whyf(why, whylen, "protocol '%s' is not one of %s", colon + 1, ch);
            return -1;
        }
        s += n + (e != NULL);
    }
    return 0;
}

static bool listener_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static bool host_ok(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-%._:", *s))
            return false;
    return true;
}

/* NAME://host:port,... into out[]. Names are upper-cased (Kafka's
 * ListenerName.normalised) and must be unique. For listeners, 0.0.0.0 is
 * stored as "" (all interfaces); advertised listeners may not use it. */
static int parse_listeners(const char *value, bool advertised, rn_listener *out, int *nout, char *why,
                           size_t whylen)
{
    int n = 0;
    const char *s = value;
    bool blank = true;
    for (const char *q = value; *q; q++)
        if (!is_space(*q))
            blank = false;
    if (blank) {
        *nout = 0;
        return 0;
    }
    const char *vend = value + strlen(value);
    for (;;) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : vend;
        char item[512];
        if (copy_trimmed(s, (size_t)(e - s), item, sizeof item) < 0) {
            whyf(why, whylen, "listener too long");
            return -1;
        }
        if (n == RN_MAX_LISTENERS) {
            whyf(why, whylen, "more than %d listeners", RN_MAX_LISTENERS);
            return -1;
        }
        rn_listener *l = &out[n];
        char *sep = strstr(item, "://");
        if (!sep) {
            whyf(why, whylen, "listener '%s' is not NAME://host:port", item);
            return -1;
        }
        *sep = 0;
        if (!listener_name_ok(item) || strlen(item) >= sizeof l->name) {
            whyf(why, whylen, "bad listener name '%s'", item);
            return -1;
        }
        for (size_t i = 0; item[i]; i++)
            l->name[i] = (char)toupper((unsigned char)item[i]);
        l->name[strlen(item)] = 0;

        char *hp = sep + 3, *host, *port_s;
        if (*hp == '[') { /* [v6]:port */
            char *rb = strchr(hp, ']');
            if (!rb || rb[1] != ':') {
                whyf(why, whylen, "listener '%s' has a bad [host]:port", l->name);
                return -1;
            }
            *rb = 0;
            host = hp + 1;
            port_s = rb + 2;
        } else {
            char *colon = strrchr(hp, ':');
            if (!colon) {
                whyf(why, whylen, "listener '%s' has no port", l->name);
                return -1;
            }
            *colon = 0;
            host = hp;
            port_s = colon + 1;
        }
        if (!host_ok(host) || strlen(host) >= sizeof l->host) {
            whyf(why, whylen, "listener '%s' has a bad host '%s'", l->name, host);
            return -1;
        }
        int64_t port;
        if (parse_i64(port_s, &port) < 0 || port < 0 || port > 65535) {
            whyf(why, whylen, "listener '%s' has a bad port '%s' (0-65535)", l->name, port_s);
            return -1;
        }
        if (!strcmp(host, "0.0.0.0")) {
            if (advertised) {
                whyf(why, whylen, "cannot advertise the meta-address 0.0.0.0");
                return -1;
            }
            host = "";
        }
        snprintf(l->host, sizeof l->host, "%s", host);
        l->port = (int)port;
        for (int i = 0; i < n; i++) {
            if (!strcmp(out[i].name, l->name)) {
                whyf(why, whylen, "listener name '%s' used more than once", l->name);
                return -1;
            }
        }
        n++;
        if (!comma)
            break;
        s = comma + 1;
    }
    *nout = n;
    return 0;
}

static void format_listeners(const rn_listener *l, int n, char *buf, size_t buflen)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used < buflen; i++) {
        bool v6 = strchr(l[i].host, ':') != NULL;
        int w = snprintf(buf + used, buflen - used, "%s%s://%s%s%s:%d", i ? "," : "", l[i].name, v6 ? "[" : "",
                         l[i].host, v6 ? "]" : "", l[i].port);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static void store_int(rn_config *c, const cfg_key *k, int64_t v)
{
    void *f = (char *)c + k->off;
    switch (k->size) {
    case 2: { int16_t x = (int16_t)v; memcpy(f, &x, 2); break; }
    case 4: { int32_t x = (int32_t)v; memcpy(f, &x, 4); break; }
    case 8: memcpy(f, &v, 8); break;
    default: assert(!"bad integer field size");
    }
}

static int64_t load_int(const rn_config *c, const cfg_key *k)
{
    const void *f = (const char *)c + k->off;
    switch (k->size) {
    case 2: { int16_t x; memcpy(&x, f, 2); return x; }
    case 4: { int32_t x; memcpy(&x, f, 4); return x; }
    case 8: { int64_t x; memcpy(&x, f, 8); return x; }
    default: assert(!"bad integer field size"); return 0;
    }
}

/* Side effects of keys that stand for or follow others (Kafka's precedence,
 * independent of the order keys are set in). Runs after the value is stored;
 * c->key_set_ does not yet include k when user is true. */
static int apply_links(rn_config *c, const cfg_key *k, int64_t num, const char *str, bool user, char *why,
                       size_t whylen)
{
    if (!strcmp(k->name, "log.dir")) {
        if (!key_is_set(c, "log.dirs"))
            snprintf(c->log_dirs, sizeof c->log_dirs, "%s", str);
    } else if (!strcmp(k->name, "log.retention.minutes")) {
        if (!key_is_set(c, "log.retention.ms"))
            c->log_retention_ms = num < 0 ? -1 : num * 60000;
    } else if (!strcmp(k->name, "log.retention.hours")) {
        if (!key_is_set(c, "log.retention.ms") && !key_is_set(c, "log.retention.minutes"))
            c->log_retention_ms = num < 0 ? -1 : num * 3600000;
    } else if (!strcmp(k->name, "broker.id") && user && num >= 0) {
        if (key_is_set(c, "node.id") && c->node_id != num) {
            whyf(why, whylen, "node.id is %" PRId32 "; broker.id and node.id must match when both are set",
                 c->node_id);
            return -1;
        }
        c->node_id = (int32_t)num;
    } else if (!strcmp(k->name, "node.id") && user) {
        if (key_is_set(c, "broker.id") && c->broker_id >= 0 && c->broker_id != num) {
            whyf(why, whylen, "broker.id is %" PRId32 "; broker.id and node.id must match when both are set",
                 c->broker_id);
            return -1;
        }
    } else if (!strcmp(k->name, "listeners")) {
        if (!key_is_set(c, "advertised.listeners")) {
            memcpy(c->advertised_listeners, c->listeners, sizeof c->listeners);
            c->nadvertised_listeners = c->nlisteners;
        }
    }
    return 0;
}

/* Parses value for key k into c. user: set by the operator (not a default). */
static int set_key(rn_config *c, int ki, const char *value, bool user, char *err, size_t errlen)
{
    const cfg_key *k = &keys[ki];
    char why[256] = "";
    char list[4096];
    const char *str = value; /* the value as stored, for apply_links */
    int64_t num = 0;

    switch (k->type) {
    case T_INT:
    case T_LONG: {
        int r = parse_i64(value, &num);
        if (r == -1)
            return fail(err, errlen, k, value, "not an integer");
        int64_t lo = k->type == T_INT ? INT32_MIN : INT64_MIN;
        int64_t hi = k->type == T_INT ? INT32_MAX : INT64_MAX;
        if (r == -2 || num < lo || num > hi)
            return fail(err, errlen, k, value,
                        k->type == T_INT ? "out of range for a 32-bit integer" : "out of range for a 64-bit integer");
        if (num < k->min || num > k->max) {
            if (k->max == hi)
                whyf(why, sizeof why, "must be at least %" PRId64, k->min);
            else
                whyf(why, sizeof why, "must be between %" PRId64 " and %" PRId64, k->min, k->max);
            return fail(err, errlen, k, value, why);
        }
        if (k->off != NO_FIELD)
            store_int(c, k, num);
        break;
    }
    case T_BOOL: {
        if (!strcasecmp(value, "true"))
            num = 1;
        else if (!strcasecmp(value, "false"))
            num = 0;
        else
            return fail(err, errlen, k, value, "not a boolean (true or false)");
        int b = (int)num;
        assert(k->size == sizeof b);
        memcpy((char *)c + k->off, &b, sizeof b);
        break;
    }
    case T_ENUM: {
        int i = choice_index(k->choices, value);
        if (i < 0) {
            char ch[256];
            choices_text(k->choices, ch, sizeof ch);
            whyf(why, sizeof why, "must be %s", ch);
            return fail(err, errlen, k, value, why);
        }
        num = i;
        store_int(c, k, num);
        break;
    }
    case T_STRING: {
        if (k->choices && choice_index(k->choices, value) < 0) {
            char ch[256];
            choices_text(k->choices, ch, sizeof ch);
            whyf(why, sizeof why, "must be one of %s", ch);
            return fail(err, errlen, k, value, why);
        }
        if (k->check && k->check(value, why, sizeof why) < 0)
            return fail(err, errlen, k, value, why);
        if (strlen(value) >= k->size) {
            whyf(why, sizeof why, "too long (at most %zu bytes)", k->size - 1);
            return fail(err, errlen, k, value, why);
        }
        memcpy((char *)c + k->off, value, strlen(value) + 1);
        break;
    }
    case T_LIST: {
        size_t cap = k->off != NO_FIELD ? k->size : sizeof c->log_dirs;
        assert(cap <= sizeof list);
        if (parse_list(k, value, list, cap, why, sizeof why) < 0)
            return fail(err, errlen, k, value, why);
        if ((k->flags & K_NONEMPTY) && !list[0])
            return fail(err, errlen, k, value, "must not be empty");
        if (k->check && k->check(list, why, sizeof why) < 0)
            return fail(err, errlen, k, value, why);
        if (k->off != NO_FIELD)
            memcpy((char *)c + k->off, list, strlen(list) + 1);
        str = list;
        break;
    }
    case T_LISTENERS: {
        rn_listener ls[RN_MAX_LISTENERS];
        int n = 0;
        bool adv = k->off == offsetof(rn_config, advertised_listeners);
        if (parse_listeners(value, adv, ls, &n, why, sizeof why) < 0)
            return fail(err, errlen, k, value, why);
        if ((k->flags & K_NONEMPTY) && n == 0)
            return fail(err, errlen, k, value, "must name at least one listener");
        if (adv) {
            memcpy(c->advertised_listeners, ls, sizeof ls);
            c->nadvertised_listeners = n;
        } else {
            memcpy(c->listeners, ls, sizeof ls);
            c->nlisteners = n;
        }
        break;
    }
    }
    if (apply_links(c, k, num, str, user, why, sizeof why) < 0)
        return fail(err, errlen, k, value, why);
    if (user)
        c->key_set_[ki] = 1;
    return 0;
}

/* Defaults that are not constants. */
static void config_default_of(rn_config *c, const cfg_key *k)
{
    if (!strcmp(k->name, "num.network.threads")) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->num_network_threads = n < 1 ? 1 : n > 256 ? 256 : (int32_t)n;
    } else if (!strcmp(k->name, "broker.id")) {
        c->broker_id = -1;
    }
    /* advertised.listeners follows listeners (apply_links); other aliases
     * have no storage of their own. */
}

void rn_config_defaults(rn_config *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < NKEYS; i++) {
        if (keys[i].def) {
            char err[512];
            int r = set_key(c, i, keys[i].def, false, err, sizeof err);
            assert(r == 0 && "bad default in config table");
            (void)r;
        } else {
            config_default_of(c, &keys[i]);
        }
    }
}

int rn_config_set(rn_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    int i = key_index(key);
    if (i < 0) {
        rn_warn("unknown config key '%s' ignored", key);
        return 1;
    }
    return set_key(c, i, value, true, err, errlen);
}

/* ---- .properties files ---- */

#define PROPS_LINE_BYTES_MAX 65536

/* Appends the UTF-8 form of code point cp. */
static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    o[0] = (char)(0xE0 | cp >> 12);
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* Splits one logical line (continuations already joined, raw escapes kept)
 * into key and value, unescaping both, as java.util.Properties does: the
 * key ends at the first unescaped '=', ':' or whitespace; then whitespace,
 * at most one '=' or ':', whitespace. Value whitespace is trimmed at both
 * ends (Kafka trims values before parsing them). */
static void props_split(const char *line, char *key, char *value)
{
    const char *p = line;
    char *o = key;
    bool in_key = true;
    while (*p) {
        if (in_key && (*p == '=' || *p == ':' || is_space(*p))) {
            *o = 0;
            while (is_space(*p))
                p++;
            if (*p == '=' || *p == ':')
                p++;
            while (is_space(*p))
                p++;
            in_key = false;
            o = value;
            continue;
        }
        if (*p == '\\' && p[1]) {
            p++;
            switch (*p) {
            case 't': *o++ = '\t'; p++; break;
            case 'n': *o++ = '\n'; p++; break;
            case 'r': *o++ = '\r'; p++; break;
            case 'f': *o++ = '\f'; p++; break;
            case 'u': {
                unsigned cp = 0;
                int i;
                for (i = 1; i <= 4 && isxdigit((unsigned char)p[i]); i++)
                    cp = cp * 16 + (unsigned)(isdigit((unsigned char)p[i]) ? p[i] - '0' : (tolower((unsigned char)p[i]) - 'a' + 10));
                if (i == 5) {
                    o += put_utf8(o, cp);
                    p += 5;
                } else {
                    *o++ = 'u'; /* malformed: keep the letter */
                    p++;
                }
                break;
            }
            default: *o++ = *p++; break;
            }
            continue;
        }
        *o++ = *p++;
    }
    *o = 0;
    if (in_key)
        value[0] = 0;
    /* trim value's trailing whitespace */
    size_t n = strlen(value);
    while (n && is_space(value[n - 1]))
        value[--n] = 0;
}

/* True when the line ends in an odd number of backslashes. */
static bool continues(const char *s, size_t n)
{
    size_t b = 0;
    while (b < n && s[n - 1 - b] == '\\')
        b++;
    return b % 2 == 1;
}

/* Sets the key of one logical line; key and value are scratch buffers at
 * least as long as the line. Errors end in " (path line N)". */
static int apply_line(rn_config *c, const char *line, char *key, char *value, const char *path, int lineno,
                      char *err, size_t errlen)
{
    props_split(line, key, value);
    if (rn_config_set(c, key, value, err, errlen) >= 0)
        return 0;
    size_t el = strlen(err);
    if (el < errlen)
        snprintf(err + el, errlen - el, " (%s line %d)", path, lineno);
    return -1;
}

static int load_file(rn_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open config file '%s': %s", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    char *raw = NULL;
    size_t rawcap = 0;
    char *logical = malloc(PROPS_LINE_BYTES_MAX);
    char *key = malloc(PROPS_LINE_BYTES_MAX);
    char *value = malloc(PROPS_LINE_BYTES_MAX);
    if (!logical || !key || !value) {
        snprintf(err, errlen, "out of memory reading config file '%s'", path);
        goto out;
    }
    size_t used = 0;
    bool joining = false;
    int lineno = 0, start_line = 0;
    ssize_t got;
    while ((got = getline(&raw, &rawcap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        while (n && (raw[n - 1] == '\n' || raw[n - 1] == '\r'))
            n--;
        const char *s = raw;
        while (n && is_space(*s)) { /* leading whitespace, also of continuation lines */
            s++;
            n--;
        }
        if (!joining) {
            if (n == 0 || *s == '#' || *s == '!')
                continue;
            used = 0;
            start_line = lineno;
        }
        joining = continues(s, n);
        if (joining)
            n--; /* drop the continuation backslash */
        if (used + n >= PROPS_LINE_BYTES_MAX) {
            snprintf(err, errlen, "config file '%s' line %d: line too long", path, start_line);
            goto out;
        }
        memcpy(logical + used, s, n);
        used += n;
        if (joining)
            continue;
        logical[used] = 0;
        if (apply_line(c, logical, key, value, path, start_line, err, errlen) < 0)
            goto out;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read config file '%s': %s", path, strerror(errno));
        goto out;
    }
    if (joining) { /* a final line ending in a backslash */
        logical[used] = 0;
        if (apply_line(c, logical, key, value, path, start_line, err, errlen) < 0)
            goto out;
    }
    rc = 0;
out:
    free(raw);
    free(logical);
    free(key);
    free(value);
    fclose(f);
    return rc;
}

/* Checks that involve several keys, once everything is applied. */
static int check_across(const rn_config *c, char *err, size_t errlen)
{
    for (int i = 0; i < c->nadvertised_listeners; i++) {
        bool found = false;
        for (int j = 0; j < c->nlisteners; j++)
            if (!strcmp(c->advertised_listeners[i].name, c->listeners[j].name))
                found = true;
        if (!found) {
            char v[1024], why[128];
            format_listeners(c->advertised_listeners, c->nadvertised_listeners, v, sizeof v);
            whyf(why, sizeof why, "listener '%s' is not in listeners", c->advertised_listeners[i].name);
            return fail(err, errlen, &keys[key_index("advertised.listeners")], v, why);
        }
    }
    return 0;
}

int rn_config_load(rn_config *c, const char *path, char *const *overrides, int noverrides, char *err,
                   size_t errlen)
{
    if (errlen)
        err[0] = 0;
    if (path && load_file(c, path, err, errlen) < 0)
        return -1;
    for (int i = 0; i < noverrides; i++) {
        const char *o = overrides[i];
        const char *eq = strchr(o, '=');
        char key[256], value[8192];
        if (!eq || copy_trimmed(o, (size_t)(eq - o), key, sizeof key) < 0 || !key[0]) {
            snprintf(err, errlen, "override '%s' is not key=value", o);
            return -1;
        }
        if (copy_trimmed(eq + 1, strlen(eq + 1), value, sizeof value) < 0) {
            snprintf(err, errlen, "override for key '%s' is too long", key);
            return -1;
        }
        if (rn_config_set(c, key, value, err, errlen) < 0)
            return -1;
    }
    return check_across(c, err, errlen);
}

/* ---- DescribeConfigs ---- */

int rn_config_describe(const rn_config *c, int i, const char **name, char *buf, size_t buflen, int *is_default,
                       int *is_sensitive)
{
    int ki = -1;
    for (int j = 0, seen = 0; j < NKEYS; j++) {
        if (keys[j].flags & K_ALIAS)
            continue;
        if (seen++ == i) {
            ki = j;
            break;
        }
    }
    if (i < 0 || ki < 0)
        return -1;
    const cfg_key *k = &keys[ki];
    if (name)
        *name = k->name;
    if (is_sensitive)
        *is_sensitive = 0;
    if (is_default) {
        /* A key follows an alias the operator set: not a default either. */
        int d = !c->key_set_[ki];
        if (!strcmp(k->name, "log.dirs"))
            d = d && !key_is_set(c, "log.dir");
        else if (!strcmp(k->name, "node.id"))
            d = d && !key_is_set(c, "broker.id");
        else if (!strcmp(k->name, "log.retention.ms"))
            d = d && !key_is_set(c, "log.retention.minutes") && !key_is_set(c, "log.retention.hours");
        else if (!strcmp(k->name, "advertised.listeners"))
            d = d && !key_is_set(c, "listeners");
        *is_default = d;
    }
    if (!buf || !buflen)
        return 0;
    switch (k->type) {
    case T_INT:
    case T_LONG:
        snprintf(buf, buflen, "%" PRId64, load_int(c, k));
        break;
    case T_BOOL: {
        int b;
        memcpy(&b, (const char *)c + k->off, sizeof b);
        snprintf(buf, buflen, "%s", b ? "true" : "false");
        break;
    }
    case T_ENUM: {
        int64_t v = load_int(c, k), nchoices = 0;
        while (k->choices[nchoices])
            nchoices++;
        assert(v >= 0 && v < nchoices);
        snprintf(buf, buflen, "%s", v >= 0 && v < nchoices ? k->choices[v] : "");
        break;
    }
    case T_STRING:
    case T_LIST:
        snprintf(buf, buflen, "%s", (const char *)c + k->off);
        break;
    case T_LISTENERS:
        if (k->off == offsetof(rn_config, listeners))
            format_listeners(c->listeners, c->nlisteners, buf, buflen);
        else
            format_listeners(c->advertised_listeners, c->nadvertised_listeners, buf, buflen);
        break;
    }
    return 0;
}

/*
 * test_config.c - broker configuration: defaults, parsing and validation of
 * each type, error messages that name key and value, aliases, listeners,
 * the .properties format, overrides, DescribeConfigs, and the shipped
 * config/server.properties and docs/configuration.md staying in step with
 * the key table. Run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHIPPED_PROPERTIES "config/server.properties"
#define CONFIGURATION_DOC "docs/configuration.md"

static rn_config cfg;
static char err[1024];

static int setup(void **state)
{
    (void)state;
    rn_config_defaults(&cfg);
    err[0] = 0;
    return 0;
}

static int set(const char *key, const char *value)
{
    err[0] = 0;
    return rn_config_set(&cfg, key, value, err, sizeof err);
}

/* Writes text to a fresh temporary file; returns its path (static). */
static const char *temp_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/rn_test_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static int load_text(const char *text, char *const *overrides, int n)
{
    const char *path = temp_file(text);
    err[0] = 0;
    int r = rn_config_load(&cfg, path, overrides, n, err, sizeof err);
    unlink(path);
    return r;
}

/* Runs fn with stderr captured; returns what was written (static). */
static const char *capture_stderr(void (*fn)(void *), void *arg)
{
    static char out[4096];
    char path[] = "/tmp/rn_test_stderr_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    fn(arg);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, sizeof out - 1);
    out[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    return out;
}

static const char *describe(const char *key, int *is_default)
{
    static char buf[8192];
    const char *name;
    for (int i = 0; rn_config_describe(&cfg, i, &name, buf, sizeof buf, is_default, NULL) == 0; i++)
        if (!strcmp(name, key))
            return buf;
    fail_msg("key %s not described", key);
    return NULL;
}

/* ---- defaults ---- */

static void defaults_are_kafkas(void **state)
{
    (void)state;
    assert_int_equal(cfg.nlisteners, 1);
    assert_string_equal(cfg.listeners[0].name, "PLAINTEXT");
    assert_string_equal(cfg.listeners[0].host, "127.0.0.1");
    assert_int_equal(cfg.listeners[0].port, 9092);
    assert_int_equal(cfg.nadvertised_listeners, 1);
    assert_string_equal(cfg.advertised_listeners[0].host, "127.0.0.1");
    assert_string_equal(cfg.log_dirs, "./data");
    assert_int_equal(cfg.node_id, 1);
    assert_int_equal(cfg.broker_id, -1);
    assert_string_equal(cfg.cluster_id, "");
    assert_int_equal(cfg.num_partitions, 1);
    assert_int_equal(cfg.default_replication_factor, 1);
    assert_int_equal(cfg.auto_create_topics_enable, 1);
    assert_int_equal(cfg.delete_topic_enable, 1);
    assert_int_equal(cfg.log_segment_bytes, 1073741824);
    assert_int_equal(cfg.log_index_interval_bytes, 4096);
    assert_int_equal(cfg.log_index_size_max_bytes, 10485760);
    assert_int_equal(cfg.message_max_bytes, 1048588);
    assert_int_equal(cfg.socket_request_max_bytes, 104857600);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(cfg.num_network_threads, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus);
    assert_int_equal(cfg.log_message_timestamp_type, 0);
    assert_true(cfg.log_flush_interval_messages == INT64_MAX);
    assert_int_equal(cfg.log_flush_interval_ms, -1);
    assert_int_equal(cfg.log_retention_ms, 168ll * 3600 * 1000);
    assert_int_equal(cfg.log_retention_bytes, -1);
    assert_int_equal(cfg.max_connections, 2147483647);
    assert_int_equal(cfg.min_insync_replicas, 1);
    assert_int_equal(cfg.group_commit_ms_max, 2);
    assert_string_equal(cfg.process_roles, "broker,controller");
    assert_string_equal(cfg.controller_quorum_voters, "");
    assert_string_equal(cfg.listener_security_protocol_map,
                        "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL");
    assert_int_equal(cfg.log_retention_check_interval_ms, 300000);
    assert_string_equal(cfg.log_cleanup_policy, "delete");
    assert_int_equal(cfg.num_io_threads, 8);
    assert_int_equal(cfg.socket_send_buffer_bytes, 102400);
    assert_int_equal(cfg.socket_receive_buffer_bytes, 102400);
    assert_int_equal(cfg.offsets_topic_replication_factor, 3);
    assert_int_equal(cfg.transaction_state_log_replication_factor, 3);
    assert_int_equal(cfg.transaction_state_log_min_isr, 2);
    assert_int_equal(cfg.group_initial_rebalance_delay_ms, 3000);
    assert_string_equal(cfg.compression_type, "producer");
}

/* ---- values ---- */

static void values_of_each_type_are_stored(void **state)
{
    (void)state;
    assert_int_equal(set("num.partitions", "12"), 0);
    assert_int_equal(cfg.num_partitions, 12);
    assert_int_equal(set("num.partitions", "+7"), 0);
    assert_int_equal(cfg.num_partitions, 7);
    assert_int_equal(set("log.retention.bytes", "9223372036854775807"), 0);
    assert_true(cfg.log_retention_bytes == INT64_MAX);
    assert_int_equal(set("default.replication.factor", "3"), 0);
    assert_int_equal(cfg.default_replication_factor, 3);
    assert_int_equal(set("auto.create.topics.enable", "FALSE"), 0);
    assert_int_equal(cfg.auto_create_topics_enable, 0);
    assert_int_equal(set("auto.create.topics.enable", "True"), 0);
    assert_int_equal(cfg.auto_create_topics_enable, 1);
    assert_int_equal(set("log.message.timestamp.type", "LogAppendTime"), 0);
    assert_int_equal(cfg.log_message_timestamp_type, 1);
    assert_int_equal(set("cluster.id", "MkU3OEVBNTcwNTJENDM2Qk"), 0);
    assert_string_equal(cfg.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
    assert_int_equal(set("log.dirs", " /a , /b,/c "), 0);
    assert_string_equal(cfg.log_dirs, "/a,/b,/c");
    assert_int_equal(set("log.cleanup.policy", "compact, delete"), 0);
    assert_string_equal(cfg.log_cleanup_policy, "compact,delete");
    assert_int_equal(set("process.roles", "broker"), 0);
    assert_string_equal(cfg.process_roles, "broker");
    assert_int_equal(set("controller.quorum.voters", "1@localhost:9093,2@[::1]:9093"), 0);
    assert_string_equal(cfg.controller_quorum_voters, "1@localhost:9093,2@[::1]:9093");
    assert_int_equal(set("listener.security.protocol.map", "CONTROLLER:PLAINTEXT,EXTERNAL:SSL"), 0);
    assert_int_equal(set("compression.type", "zstd"), 0);
    assert_string_equal(cfg.compression_type, "zstd");
    assert_int_equal(set("socket.send.buffer.bytes", "-1"), 0);
    assert_int_equal(cfg.socket_send_buffer_bytes, -1);
    assert_int_equal(set("runnel.flush.max.delay.ms", "0"), 0);
    assert_int_equal(cfg.group_commit_ms_max, 0);
}

static void bounds_are_inclusive(void **state)
{
    (void)state;
    assert_int_equal(set("num.network.threads", "1"), 0);
    assert_int_equal(set("num.network.threads", "256"), 0);
    assert_int_equal(cfg.num_network_threads, 256);
    assert_int_equal(set("log.segment.bytes", "14"), 0);
    assert_int_equal(cfg.log_segment_bytes, 14);
    assert_int_equal(set("message.max.bytes", "0"), 0);
    assert_int_equal(set("socket.request.max.bytes", "1"), 0);
    assert_int_equal(set("log.index.interval.bytes", "0"), 0);
    assert_int_equal(set("num.partitions", "2147483647"), 0);
}

typedef struct bad_case {
    const char *key, *value, *reason;
} bad_case;

static void bad_values_are_refused_naming_key_and_value(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"num.partitions", "abc", "not an integer"},
        {"num.partitions", "12abc", "not an integer"},
        {"num.partitions", "1.5", "not an integer"},
        {"num.partitions", "", "not an integer"},
        {"num.partitions", "0x10", "not an integer"},
        {"num.partitions", " 3", "not an integer"},
        {"num.partitions", "0", "must be at least 1"},
        {"num.partitions", "-1", "must be at least 1"},
        {"num.partitions", "2147483648", "out of range for a 32-bit integer"},
        {"num.partitions", "99999999999999999999", "out of range"},
        {"log.retention.bytes", "9223372036854775808", "out of range for a 64-bit integer"},
        {"log.retention.bytes", "-2", "must be at least -1"},
        {"message.max.bytes", "-1", "must be at least 0"},
        {"socket.request.max.bytes", "0", "must be at least 1"},
        {"log.segment.bytes", "13", "must be at least 14"},
        {"log.segment.bytes", "4294967296", "32-bit"},
        {"num.network.threads", "0", "between 1 and 256"},
        {"num.network.threads", "257", "between 1 and 256"},
        {"log.index.interval.bytes", "-1", "at least 0"},
        {"log.index.size.max.bytes", "3", "at least 4"},
        {"default.replication.factor", "32768", "between 1 and 32767"},
        {"node.id", "-1", "at least 0"},
        {"log.flush.interval.messages", "0", "at least 1"},
        {"max.connections", "-5", "at least 0"},
        {"min.insync.replicas", "0", "at least 1"},
        {"runnel.flush.max.delay.ms", "60001", "between 0 and 60000"},
        {"auto.create.topics.enable", "yes", "not a boolean"},
        {"delete.topic.enable", "1", "not a boolean"},
        {"log.message.timestamp.type", "createtime", "CreateTime or LogAppendTime"},
        {"compression.type", "brotli", "must be one of"},
        {"log.cleanup.policy", "delete,shred", "'shred' is not one of"},
        {"log.cleanup.policy", "delete,delete", "listed twice"},
        {"log.cleanup.policy", "delete,,compact", "empty list item"},
        {"process.roles", "observer", "is not one of"},
        {"controller.quorum.voters", "1@host", "not id@host:port"},
        {"controller.quorum.voters", "x@host:9093", "not id@host:port"},
        {"listener.security.protocol.map", "PLAINTEXT:TLS", "protocol 'TLS'"},
        {"listener.security.protocol.map", "PLAINTEXT", "not NAME:PROTOCOL"},
        {"log.dirs", "", "must not be empty"},
        {"log.dirs", "  ", "must not be empty"},
        {"listeners", "", "at least one listener"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        setup(NULL);
        if (set(c->key, c->value) != -1)
            fail_msg("'%s' = '%s' accepted", c->key, c->value);
        char want[512];
        snprintf(want, sizeof want, "invalid value '%s' for key '%s': ", c->value, c->key);
        if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, c->reason))
            fail_msg("'%s' = '%s': message \"%s\" lacks \"%s\" or \"%s\"", c->key, c->value, err, want, c->reason);
    }
}

static void not_an_integer_message_is_exact(void **state)
{
    (void)state;
    assert_int_equal(set("num.partitions", "abc"), -1);
    assert_string_equal(err, "invalid value 'abc' for key 'num.partitions': not an integer");
}

static void refused_value_leaves_the_old_one(void **state)
{
    (void)state;
    assert_int_equal(set("num.partitions", "4"), 0);
    assert_int_equal(set("num.partitions", "4x"), -1);
    assert_int_equal(cfg.num_partitions, 4);
    assert_int_equal(set("listeners", "A://:1,A://:2"), -1);
    assert_int_equal(cfg.nlisteners, 1);
    assert_int_equal(cfg.listeners[0].port, 9092);
}

static void set_unknown_key(void *arg)
{
    *(int *)arg = set("no.such.key", "1");
}

static void unknown_key_warns_and_is_ignored(void **state)
{
    (void)state;
    int r = -2;
    const char *out = capture_stderr(set_unknown_key, &r);
    assert_int_equal(r, 1);
    assert_non_null(strstr(out, "WARN"));
    assert_non_null(strstr(out, "unknown config key 'no.such.key' ignored"));
}

static void load_unknown_key_file(void *arg)
{
    *(int *)arg = load_text("bogus.key=1\nnum.partitions=5\n", NULL, 0);
}

static void unknown_key_in_a_file_does_not_stop_loading(void **state)
{
    (void)state;
    int r = -2;
    const char *out = capture_stderr(load_unknown_key_file, &r);
    assert_int_equal(r, 0);
    assert_non_null(strstr(out, "unknown config key 'bogus.key' ignored"));
    assert_int_equal(cfg.num_partitions, 5);
}

/* ---- aliases ---- */

static void log_dir_is_used_when_log_dirs_is_not_set(void **state)
{
    (void)state;
    assert_int_equal(set("log.dir", "/var/lib/runnel"), 0);
    assert_string_equal(cfg.log_dirs, "/var/lib/runnel");
    int d;
    describe("log.dirs", &d);
    assert_int_equal(d, 0);
}

static void log_dirs_wins_over_log_dir_in_either_order(void **state)
{
    (void)state;
    assert_int_equal(load_text("log.dirs=/a\nlog.dir=/b\n", NULL, 0), 0);
    assert_string_equal(cfg.log_dirs, "/a");
    setup(NULL);
    assert_int_equal(load_text("log.dir=/b\nlog.dirs=/a\n", NULL, 0), 0);
    assert_string_equal(cfg.log_dirs, "/a");
}

static void broker_id_sets_node_id(void **state)
{
    (void)state;
    assert_int_equal(set("broker.id", "7"), 0);
    assert_int_equal(cfg.node_id, 7);
    assert_int_equal(cfg.broker_id, 7);
    assert_int_equal(set("node.id", "7"), 0);
}

static void broker_id_and_node_id_must_match(void **state)
{
    (void)state;
    assert_int_equal(set("node.id", "3"), 0);
    assert_int_equal(set("broker.id", "4"), -1);
    assert_non_null(strstr(err, "invalid value '4' for key 'broker.id'"));
    setup(NULL);
    assert_int_equal(set("broker.id", "4"), 0);
    assert_int_equal(set("node.id", "3"), -1);
    assert_non_null(strstr(err, "invalid value '3' for key 'node.id'"));
}

static void retention_hours_and_minutes_convert_to_ms(void **state)
{
    (void)state;
    assert_int_equal(set("log.retention.hours", "24"), 0);
    assert_int_equal(cfg.log_retention_ms, 24ll * 3600000);
    assert_int_equal(set("log.retention.minutes", "30"), 0);
    assert_int_equal(cfg.log_retention_ms, 30ll * 60000);
    assert_int_equal(set("log.retention.hours", "48"), 0); /* minutes still win */
    assert_int_equal(cfg.log_retention_ms, 30ll * 60000);
    setup(NULL);
    assert_int_equal(set("log.retention.hours", "-1"), 0);
    assert_int_equal(cfg.log_retention_ms, -1);
    assert_int_equal(set("log.retention.hours", "2147483647"), 0);
    assert_int_equal(cfg.log_retention_ms, 2147483647ll * 3600000);
}

static void retention_ms_wins_whatever_the_order(void **state)
{
    (void)state;
    assert_int_equal(load_text("log.retention.ms=1000\nlog.retention.hours=5\nlog.retention.minutes=6\n", NULL, 0),
                     0);
    assert_int_equal(cfg.log_retention_ms, 1000);
    setup(NULL);
    assert_int_equal(load_text("log.retention.hours=5\nlog.retention.minutes=6\nlog.retention.ms=1000\n", NULL, 0),
                     0);
    assert_int_equal(cfg.log_retention_ms, 1000);
    setup(NULL);
    char *ov[] = {"log.retention.hours=1"};
    assert_int_equal(load_text("log.retention.ms=2000\n", ov, 1), 0);
    assert_int_equal(cfg.log_retention_ms, 2000);
}

/* ---- listeners ---- */

static void listeners_are_parsed(void **state)
{
    (void)state;
    assert_int_equal(set("listeners", "plaintext://:9092, INTERNAL://0.0.0.0:0,v6://[::1]:19092,EXT://broker-1.example.com:65535"),
                     0);
    assert_int_equal(cfg.nlisteners, 4);
    assert_string_equal(cfg.listeners[0].name, "PLAINTEXT");
    assert_string_equal(cfg.listeners[0].host, "");
    assert_int_equal(cfg.listeners[0].port, 9092);
    assert_string_equal(cfg.listeners[1].name, "INTERNAL");
    assert_string_equal(cfg.listeners[1].host, "");
    assert_int_equal(cfg.listeners[1].port, 0);
    assert_string_equal(cfg.listeners[2].name, "V6");
    assert_string_equal(cfg.listeners[2].host, "::1");
    assert_int_equal(cfg.listeners[2].port, 19092);
    assert_string_equal(cfg.listeners[3].host, "broker-1.example.com");
    assert_int_equal(cfg.listeners[3].port, 65535);
    /* advertised.listeners follows, and describe prints them back. */
    assert_int_equal(cfg.nadvertised_listeners, 4);
    assert_string_equal(describe("listeners", NULL),
                        "PLAINTEXT://:9092,INTERNAL://:0,V6://[::1]:19092,EXT://broker-1.example.com:65535");
}

static void bad_listeners_are_refused(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"listeners", "PLAINTEXT://127.0.0.1:65536", "bad port '65536'"},
        {"listeners", "PLAINTEXT://127.0.0.1:-1", "bad port"},
        {"listeners", "PLAINTEXT://127.0.0.1:90x", "bad port"},
        {"listeners", "PLAINTEXT://127.0.0.1:", "bad port"},
        {"listeners", "PLAINTEXT://127.0.0.1", "has no port"},
        {"listeners", "PLAINTEXT://[::1:9092", "bad [host]:port"},
        {"listeners", "127.0.0.1:9092", "not NAME://host:port"},
        {"listeners", "://127.0.0.1:9092", "bad listener name"},
        {"listeners", "PLAIN TEXT://127.0.0.1:9092", "bad listener name"},
        {"listeners", "A://bad host:1", "bad host"},
        {"listeners", "A://:1,a://:2", "used more than once"},
        {"listeners", "A://:1,,B://:2", "not NAME://host:port"},
        {"listeners", "A://:1,B://:2,C://:3,D://:4,E://:5,F://:6,G://:7,H://:8,I://:9", "more than 8"},
        {"advertised.listeners", "PLAINTEXT://0.0.0.0:9092", "0.0.0.0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        setup(NULL);
        if (set(c->key, c->value) != -1)
            fail_msg("'%s' = '%s' accepted", c->key, c->value);
        char want[512];
        snprintf(want, sizeof want, "invalid value '%s' for key '%s': ", c->value, c->key);
        if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, c->reason))
            fail_msg("'%s' = '%s': message \"%s\" lacks \"%s\"", c->key, c->value, err, c->reason);
    }
}

static void advertised_listeners_set_explicitly_stay(void **state)
{
    (void)state;
    char *ov[] = {"advertised.listeners=PLAINTEXT://broker.example.com:9092", "listeners=PLAINTEXT://:9092"};
    assert_int_equal(rn_config_load(&cfg, NULL, ov, 2, err, sizeof err), 0);
    assert_int_equal(cfg.nadvertised_listeners, 1);
    assert_string_equal(cfg.advertised_listeners[0].host, "broker.example.com");
    assert_string_equal(cfg.listeners[0].host, "");
}

static void advertised_listener_names_must_be_listeners(void **state)
{
    (void)state;
    char *ov[] = {"advertised.listeners=EXTERNAL://broker.example.com:9092"};
    assert_int_equal(rn_config_load(&cfg, NULL, ov, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "for key 'advertised.listeners'"));
    assert_non_null(strstr(err, "'EXTERNAL' is not in listeners"));
}

/* ---- files and overrides ---- */

static void properties_format_subset(void **state)
{
    (void)state;
    const char *text = "# comment\n"
                       "! another comment\n"
                       "\n"
                       "   num.partitions = 3   \n"
                       "default.replication.factor: 2\n"
                       "min.insync.replicas 2\n"
                       "log.dirs=/one,\\\n"
                       "         /two,\\\n"
                       "   /three\n"
                       "cluster.id=ab\\u0063d\\:e\\\\f\n"
                       "log.retention.bytes=1000\r\n"
                       "\tauto.create.topics.enable=false\n"
                       "delete.topic.enable=false";
    assert_int_equal(load_text(text, NULL, 0), 0);
    assert_int_equal(cfg.num_partitions, 3);
    assert_int_equal(cfg.default_replication_factor, 2);
    assert_int_equal(cfg.min_insync_replicas, 2);
    assert_string_equal(cfg.log_dirs, "/one,/two,/three");
    assert_string_equal(cfg.cluster_id, "abcd:e\\f");
    assert_int_equal(cfg.log_retention_bytes, 1000);
    assert_int_equal(cfg.auto_create_topics_enable, 0);
    assert_int_equal(cfg.delete_topic_enable, 0);
}

static void comment_marks_only_start_a_line(void **state)
{
    (void)state;
    /* A continuation line that starts with '#' is part of the value. */
    assert_int_equal(load_text("cluster.id=a\\\n#b\n", NULL, 0), 0);
    assert_string_equal(cfg.cluster_id, "a#b");
}

static void bad_value_in_a_file_names_file_and_line(void **state)
{
    (void)state;
    assert_int_equal(load_text("# x\nnum.partitions=1\nnum.partitions=abc\n", NULL, 0), -1);
    assert_non_null(strstr(err, "invalid value 'abc' for key 'num.partitions': not an integer"));
    assert_non_null(strstr(err, "line 3)"));
}

static void missing_file_is_an_error(void **state)
{
    (void)state;
    assert_int_equal(rn_config_load(&cfg, "/nonexistent/runnel.properties", NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/runnel.properties"));
}

static void overrides_apply_after_the_file_in_order(void **state)
{
    (void)state;
    char *ov[] = {"num.partitions=5", " log.dirs = /x ", "num.partitions=6"};
    assert_int_equal(load_text("num.partitions=3\nlog.dirs=/file\n", ov, 3), 0);
    assert_int_equal(cfg.num_partitions, 6);
    assert_string_equal(cfg.log_dirs, "/x");
}

static void malformed_or_bad_override_is_an_error(void **state)
{
    (void)state;
    char *ov1[] = {"num.partitions"};
    assert_int_equal(rn_config_load(&cfg, NULL, ov1, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "num.partitions"));
    char *ov2[] = {"num.partitions=zero"};
    assert_int_equal(rn_config_load(&cfg, NULL, ov2, 1, err, sizeof err), -1);
    assert_string_equal(err, "invalid value 'zero' for key 'num.partitions': not an integer");
}

/* ---- DescribeConfigs ---- */

static void describe_lists_every_key_with_current_values(void **state)
{
    (void)state;
    assert_int_equal(set("num.partitions", "9"), 0);
    const char *name;
    char buf[8192];
    int is_default = -1, is_sensitive = -1, n = 0, seen_partitions = 0;
    for (int i = 0; rn_config_describe(&cfg, i, &name, buf, sizeof buf, &is_default, &is_sensitive) == 0; i++) {
        n++;
        assert_int_equal(is_sensitive, 0);
        if (!strcmp(name, "num.partitions")) {
            seen_partitions = 1;
            assert_string_equal(buf, "9");
            assert_int_equal(is_default, 0);
        } else if (!strcmp(name, "message.max.bytes")) {
            assert_string_equal(buf, "1048588");
            assert_int_equal(is_default, 1);
        }
    }
    assert_true(seen_partitions);
    assert_true(n >= 38);
    assert_int_equal(rn_config_describe(&cfg, n, &name, buf, sizeof buf, NULL, NULL), -1);
    assert_int_equal(rn_config_describe(&cfg, -1, &name, buf, sizeof buf, NULL, NULL), -1);
    assert_string_equal(describe("auto.create.topics.enable", NULL), "true");
    assert_string_equal(describe("log.message.timestamp.type", NULL), "CreateTime");
    assert_string_equal(describe("listeners", NULL), "PLAINTEXT://127.0.0.1:9092");
    assert_string_equal(describe("log.retention.ms", NULL), "604800000");
}

static void describe_marks_a_key_set_to_its_default_value_as_set(void **state)
{
    (void)state;
    int d;
    describe("num.partitions", &d);
    assert_int_equal(d, 1);
    assert_int_equal(set("num.partitions", "1"), 0);
    describe("num.partitions", &d);
    assert_int_equal(d, 0); /* Kafka: STATIC_BROKER_CONFIG, not DEFAULT_CONFIG */
}

/* ---- shipped files ---- */

static void shipped_server_properties_loads_and_changes_nothing(void **state)
{
    (void)state;
    rn_config defaults;
    rn_config_defaults(&defaults);
    assert_int_equal(rn_config_load(&cfg, SHIPPED_PROPERTIES, NULL, 0, err, sizeof err), 0);
    const char *name;
    char a[8192], b[8192];
    for (int i = 0; rn_config_describe(&cfg, i, &name, a, sizeof a, NULL, NULL) == 0; i++) {
        assert_int_equal(rn_config_describe(&defaults, i, NULL, b, sizeof b, NULL, NULL), 0);
        if (strcmp(a, b))
            fail_msg("%s: shipped file gives '%s', default is '%s'", name, a, b);
    }
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s (tests run from the repository root)", path);
    static char text[1 << 17];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    return text;
}

static const char *const alias_keys[] = {"broker.id", "log.dir", "log.retention.minutes", "log.retention.hours"};

static void shipped_files_name_every_key(void **state)
{
    (void)state;
    char *props = strdup(read_all(SHIPPED_PROPERTIES));
    char *doc = strdup(read_all(CONFIGURATION_DOC));
    assert_non_null(props);
    assert_non_null(doc);
    const char *name;
    int nkeys = 0;
    for (int i = 0; rn_config_describe(&cfg, i, &name, NULL, 0, NULL, NULL) == 0; i++) {
        char line[256], cell[256];
        snprintf(line, sizeof line, "\n#%s=", name);
        snprintf(cell, sizeof cell, "| `%s` |", name);
        if (!strstr(props, line))
            fail_msg("%s does not document %s", SHIPPED_PROPERTIES, name);
        if (!strstr(doc, cell))
            fail_msg("%s does not document %s", CONFIGURATION_DOC, name);
        nkeys++;
    }
    for (size_t i = 0; i < sizeof alias_keys / sizeof alias_keys[0]; i++) {
        char line[256], cell[256];
        snprintf(line, sizeof line, "\n#%s=", alias_keys[i]);
        snprintf(cell, sizeof cell, "| `%s` |", alias_keys[i]);
        assert_non_null(strstr(props, line));
        assert_non_null(strstr(doc, cell));
    }
    free(props);
    free(doc);
    assert_true(nkeys > 0);
}

/* Each "#key=value" line of the shipped file, uncommented, is accepted. */
static void shipped_commented_values_are_valid(void **state)
{
    (void)state;
    char *props = strdup(read_all(SHIPPED_PROPERTIES));
    assert_non_null(props);
    int checked = 0;
    for (char *line = strtok(props, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != '#' || line[1] < 'a' || line[1] > 'z')
            continue;
        char *eq = strchr(line, '=');
        if (!eq || strchr(line, ' '))
            continue;
        *eq = 0;
        setup(NULL);
        if (set(line + 1, eq + 1) != 0)
            fail_msg("shipped '%s=%s' refused: %s", line + 1, eq + 1, err);
        checked++;
    }
    free(props);
    assert_true(checked >= 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults_are_kafkas, setup),
        cmocka_unit_test_setup(values_of_each_type_are_stored, setup),
        cmocka_unit_test_setup(bounds_are_inclusive, setup),
        cmocka_unit_test_setup(bad_values_are_refused_naming_key_and_value, setup),
        cmocka_unit_test_setup(not_an_integer_message_is_exact, setup),
        cmocka_unit_test_setup(refused_value_leaves_the_old_one, setup),
        cmocka_unit_test_setup(unknown_key_warns_and_is_ignored, setup),
        cmocka_unit_test_setup(unknown_key_in_a_file_does_not_stop_loading, setup),
        cmocka_unit_test_setup(log_dir_is_used_when_log_dirs_is_not_set, setup),
        cmocka_unit_test_setup(log_dirs_wins_over_log_dir_in_either_order, setup),
        cmocka_unit_test_setup(broker_id_sets_node_id, setup),
        cmocka_unit_test_setup(broker_id_and_node_id_must_match, setup),
        cmocka_unit_test_setup(retention_hours_and_minutes_convert_to_ms, setup),
        cmocka_unit_test_setup(retention_ms_wins_whatever_the_order, setup),
        cmocka_unit_test_setup(listeners_are_parsed, setup),
        cmocka_unit_test_setup(bad_listeners_are_refused, setup),
        cmocka_unit_test_setup(advertised_listeners_set_explicitly_stay, setup),
        cmocka_unit_test_setup(advertised_listener_names_must_be_listeners, setup),
        cmocka_unit_test_setup(properties_format_subset, setup),
        cmocka_unit_test_setup(comment_marks_only_start_a_line, setup),
        cmocka_unit_test_setup(bad_value_in_a_file_names_file_and_line, setup),
        cmocka_unit_test_setup(missing_file_is_an_error, setup),
        cmocka_unit_test_setup(overrides_apply_after_the_file_in_order, setup),
        cmocka_unit_test_setup(malformed_or_bad_override_is_an_error, setup),
        cmocka_unit_test_setup(describe_lists_every_key_with_current_values, setup),
        cmocka_unit_test_setup(describe_marks_a_key_set_to_its_default_value_as_set, setup),
        cmocka_unit_test_setup(shipped_server_properties_loads_and_changes_nothing, setup),
        cmocka_unit_test_setup(shipped_files_name_every_key, setup),
        cmocka_unit_test_setup(shipped_commented_values_are_valid, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * cli.h - what the subcommand files of `runnel` share: global options,
 * argument parsing, errors and exit codes, librdkafka handles, admin calls,
 * tables and JSON.
 *
 * Layer: src/cli, the command-line tool. It talks to brokers only through
 * librdkafka's public C API (so it works against any Kafka-compatible
 * broker) and may use src/common; nothing from proto/net/log/broker.
 *
 * Errors: a subcommand that cannot go on calls rn_cli_die() (one line on
 * stderr naming what failed and why, exit 1) or rn_cli_usage() (exit 2).
 * Handles are not freed on those paths: the process is ending.
 *
 * Threads: everything here runs on the main thread, except rn_cli_log_cb,
 * which librdkafka calls from its own threads (it only takes a mutex).
 */
#ifndef RN_CLI_CLI_H
#define RN_CLI_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

enum { RN_EXIT_OK = 0, RN_EXIT_ERROR = 1, RN_EXIT_USAGE = 2 };

#define RN_CLI_XPROPS_MAX 64
#define RN_CLI_TIMEOUT_MS_DEFAULT 10000

/* Global options; set by main and by rn_args_next, read by everyone. */
typedef struct rn_cli {
    const char *brokers;                    /* --brokers, RUNNEL_BROKERS, localhost:9092 */
    const char *xprops[RN_CLI_XPROPS_MAX];  /* -X key=value, checked when given */
    int nxprops;
    int json;                               /* --output json */
    int timeout_ms;                         /* --timeout SECONDS: every broker round trip */
    int verbose;                            /* -v: librdkafka logs to stderr */
} rn_cli;

extern rn_cli rn_cli_g;

/* Set by SIGINT/SIGTERM once rn_cli_catch_signals() ran. */
extern volatile sig_atomic_t rn_cli_stop;
void rn_cli_catch_signals(void);

/* ---- errors ---- */

/* Prints "runnel: <message>" on stderr and exits 1. */
_Noreturn void rn_cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "runnel <cmd>: <message>" and a hint to --help; exits 2. */
_Noreturn void rn_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text for a Kafka or librdkafka error; errstr (may be NULL) wins when set. */
const char *rn_cli_errtext(rd_kafka_resp_err_t err, const char *errstr);
/* Dies with a message for a failed broker round trip: "cannot reach brokers
 * ..." with librdkafka's last connection failure when it was a timeout or a
 * transport error, else "<what>: <error>". */
_Noreturn void rn_cli_die_rpc(const char *what, rd_kafka_resp_err_t err, const char *errstr);

/* ---- arguments ----
 * rn_args walks one subcommand's argv. Global options (--brokers, -X,
 * --output, --timeout, -v) are accepted anywhere and applied on the spot;
 * -h/--help prints `help` and exits 0. "--name=value" works for every option
 * that takes a value. */
typedef struct rn_args {
    int argc;
    char **argv;
    int i;
    const char *cmd;  /* "topic create", for messages */
    const char *help; /* full help text */
    const char *opt;  /* the current option ("-p", "--partitions") */
    const char *inl;  /* value given inline after '=' */
    const char *pos;  /* the current positional argument */
} rn_args;

enum { RN_ARG_END = 0, RN_ARG_OPT = 1, RN_ARG_POS = 2 };

void rn_args_init(rn_args *a, int argc, char **argv, const char *cmd, const char *help);
/* Next item: RN_ARG_OPT (a->opt), RN_ARG_POS (a->pos) or RN_ARG_END. */
int rn_args_next(rn_args *a);
/* 1 when the current option is long or short (either may be NULL). */
int rn_args_is(const rn_args *a, const char *long_name, const char *short_name);
/* The current option's value; usage error when there is none. */
const char *rn_args_value(rn_args *a);
/* Usage error for an option no branch matched. */
_Noreturn void rn_args_unknown(const rn_args *a);
/* Parses s as an integer in [min, max]; usage error naming `what` if not. */
long long rn_parse_ll(const rn_args *a, const char *what, const char *s, long long min, long long max);
/* Applies a global option at argv[*i] if it is one (advancing *i past its
 * value) and returns 1; returns 0 otherwise. Usage errors exit 2. */
int rn_cli_global_opt(int argc, char **argv, int *i, const char *cmd);

/* The index of a family's verb in argv (argv[0] is the family), after any
 * global options; prints help and exits 0 on -h/--help or "help", and is a
 * usage error when the verb is missing. */
int rn_cli_verb(int argc, char **argv, const char *cmd, const char *help);

/* ---- librdkafka ---- */

/* A configuration with bootstrap.servers, client.id, the log callback and
 * every -X property. */
rd_kafka_conf_t *rn_cli_conf(void);
/* Sets a property; a bad one is a usage error (exit 2). */
void rn_cli_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value);
/* Sets a property unless -X gave it: our defaults yield to the user's. */
void rn_cli_conf_default(rd_kafka_conf_t *conf, const char *key, const char *value);
/* rd_kafka_new or die. Takes ownership of conf. */
rd_kafka_t *rn_cli_new(rd_kafka_type_t type, rd_kafka_conf_t *conf);
/* Metadata for all topics, or die ("cannot reach brokers ..."). */
const struct rd_kafka_metadata *rn_cli_metadata(rd_kafka_t *rk);
/* The topic in md, or NULL. */
const struct rd_kafka_metadata_topic *rn_cli_find_topic(const struct rd_kafka_metadata *md, const char *name);
/* The topic in md, or die "topic 'x' does not exist". */
const struct rd_kafka_metadata_topic *rn_cli_require_topic(const struct rd_kafka_metadata *md, const char *name);
/* librdkafka's log callback: to stderr with -v; the last connection failure
 * is kept for rn_cli_die_rpc. Any thread. */
void rn_cli_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* Admin options for op with the global timeout as request and operation timeout. */
rd_kafka_AdminOptions_t *rn_cli_admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op);
/* Waits for the result of an admin call on q (timeout + 5 s); dies on a
 * request-level error. The caller destroys the event. */
rd_kafka_event_t *rn_cli_admin_wait(rd_kafka_queue_t *q, const char *what);

/* Watermarks of one partition, or die. */
void rn_cli_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *low, int64_t *high);

/* ---- key=value ---- */

/* Splits "k=v" into key (copied into key_out) and value (pointer into s);
 * returns 0, or -1 when there is no '=' or the key is empty. */
int rn_split_kv(const char *s, char *key_out, size_t key_size, const char **value);

/* Decodes C escapes (\n \t \r \0 \\ \xHH) of s into out; returns the
 * length, or -1 on a bad escape or when out is too small. */
long rn_unescape(const char *s, char *out, size_t out_size);

/* ---- output ---- */

/* Writes s (len bytes; len < 0: NUL-terminated; NULL: null) as a JSON string. */
void rn_json_str(FILE *f, const char *s, long len);

/* A text table: columns sized to their widest cell, two spaces apart. */
typedef struct rn_table {
    int ncols;
    char **cells; /* row-major, headers first */
    size_t ncells;
    size_t cap;
} rn_table;

void rn_table_init(rn_table *t, int ncols, const char *const *headers);
void rn_table_add(rn_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rn_table_print(const rn_table *t, FILE *f);
void rn_table_release(rn_table *t);

/* ---- time ---- */

uint64_t rn_cli_mono_ns(void);
int64_t rn_cli_wall_ms(void);

/* ---- subcommands (one file each) ---- */

int rn_cmd_topic(int argc, char **argv);
int rn_cmd_config(int argc, char **argv);
int rn_cmd_produce(int argc, char **argv);
int rn_cmd_consume(int argc, char **argv);
int rn_cmd_group(int argc, char **argv);
int rn_cmd_cluster(int argc, char **argv);
int rn_cmd_bench(int argc, char **argv);

/* Config helpers shared by `topic alter-config` and `config set` (config.c).
 * Describes resource (type, name) and returns its configs, or dies. */
const rd_kafka_ConfigResource_t *rn_config_describe(rd_kafka_t *rk, rd_kafka_ResourceType_t type,
                                                    const char *name, rd_kafka_event_t **ev_out);
/* Prints configs as a table (or JSON object); all=0 hides defaults. */
void rn_config_print(const rd_kafka_ConfigResource_t *res, int all, FILE *f);
/* Sets and deletes configs on (type, name) with AlterConfigs, keeping the
 * resource's other dynamic configs (librdkafka 2.0 has no
 * IncrementalAlterConfigs). sets are "k=v", dels are keys. Dies on error. */
void rn_config_alter(rd_kafka_t *rk, rd_kafka_ResourceType_t type, const char *name, const char *const *sets,
                     int nsets, const char *const *dels, int ndels);

#endif

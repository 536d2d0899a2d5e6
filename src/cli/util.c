/*
 * util.c - the shared pieces of `runnel` declared in cli.h: options,
 * errors, librdkafka handles, admin round trips, tables, JSON.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

rn_cli rn_cli_g = {.timeout_ms = RN_CLI_TIMEOUT_MS_DEFAULT};
volatile sig_atomic_t rn_cli_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    rn_cli_stop = 1;
}

void rn_cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---------------------------------------------------------------- errors */

void rn_cli_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fputs("runnel: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(RN_EXIT_ERROR);
}

void rn_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fprintf(stderr, "runnel%s%s: ", cmd && *cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'runnel%s%s --help' for usage.\n", cmd && *cmd ? " " : "", cmd ? cmd : "");
    va_end(ap);
    exit(RN_EXIT_USAGE);
}

const char *rn_cli_errtext(rd_kafka_resp_err_t err, const char *errstr)
{
    if (errstr && *errstr)
        return errstr;
    return rd_kafka_err2str(err);
}

/* The last connection failure librdkafka logged ("Connect to ... failed:
 * Connection refused"), kept for the "cannot reach" message. */
static pthread_mutex_t last_fail_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_fail[512];

void rn_cli_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (rn_cli_g.verbose)
        fprintf(stderr, "runnel: rdkafka %d %s: %s\n", level, fac, buf);
    if (level > 4 || (strcmp(fac, "FAIL") && strcmp(fac, "ERROR")))
        return;
    /* Drop librdkafka's "host:port/id: " prefix; the message names the host. */
    const char *msg = buf, *sep;
    while ((sep = strstr(msg, ": ")) && memchr(msg, '/', (size_t)(sep - msg)))
        msg = sep + 2;
    /* ... and its " (after 0ms in state CONNECT, ...)" tail. */
    const char *tail = strstr(msg, " (after ");
    int len = tail ? (int)(tail - msg) : (int)strlen(msg);
    pthread_mutex_lock(&last_fail_mu);
    snprintf(last_fail, sizeof(last_fail), "%.*s", len, msg);
    pthread_mutex_unlock(&last_fail_mu);
}

void rn_cli_die_rpc(const char *what, rd_kafka_resp_err_t err, const char *errstr)
{
    char fail[sizeof(last_fail)];
    pthread_mutex_lock(&last_fail_mu);
    snprintf(fail, sizeof(fail), "%s", last_fail);
    pthread_mutex_unlock(&last_fail_mu);
    int no_answer = err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                    err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__RESOLVE;
    if (no_answer && fail[0])
        rn_cli_die("cannot reach brokers %s: %s (gave up after %d s)", rn_cli_g.brokers, fail,
                   (rn_cli_g.timeout_ms + 999) / 1000);
    if (no_answer)
        rn_cli_die("%s: no answer from brokers %s within %d s (%s)", what, rn_cli_g.brokers,
                   (rn_cli_g.timeout_ms + 999) / 1000, rn_cli_errtext(err, errstr));
    if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE)
        rn_cli_die("%s: the broker does not support this request (%s)", what, rn_cli_errtext(err, errstr));
    rn_cli_die("%s: %s", what, rn_cli_errtext(err, errstr));
}

/* ---------------------------------------------------------------- arguments */

void rn_args_init(rn_args *a, int argc, char **argv, const char *cmd, const char *help)
{
    memset(a, 0, sizeof(*a));
    a->argc = argc;
    a->argv = argv;
    a->i = 0;
    a->cmd = cmd;
    a->help = help;
}

/* Checks one -X property against librdkafka now, so a bad one is a usage
 * error before anything connects. */
static void check_xprop(const char *cmd, const char *kv)
{
    char key[256], err[512];
    const char *value;
    if (rn_split_kv(kv, key, sizeof(key), &value) < 0)
        rn_cli_usage(cmd, "-X needs key=value, got '%s'", kv);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_res_t r = rd_kafka_conf_set(conf, key, value, err, sizeof(err));
    rd_kafka_conf_destroy(conf);
    if (r != RD_KAFKA_CONF_OK)
        rn_cli_usage(cmd, "-X %s: %s", kv, err);
}

int rn_cli_global_opt(int argc, char **argv, int *i, const char *cmd)
{
    const char *a = argv[*i];
    const char *eq = NULL;
    size_t n = strlen(a);
    if (!strncmp(a, "--", 2) && (eq = strchr(a, '=')))
        n = (size_t)(eq - a);
#define IS(name) (n == strlen(name) && !strncmp(a, name, n))
    int takes_value = IS("--brokers") || IS("-b") || IS("-X") || IS("--output") || IS("--timeout");
    const char *v = NULL;
    if (takes_value) {
        if (eq) {
            v = eq + 1;
        } else if (!strcmp(a, "-X") || !strcmp(a, "-b") || !strncmp(a, "--", 2)) {
            if (*i + 1 >= argc)
                rn_cli_usage(cmd, "%s needs a value", a);
            v = argv[++*i];
        }
    }
    if (IS("--brokers") || IS("-b")) {
        if (!*v)
            rn_cli_usage(cmd, "--brokers needs a host:port list");
        rn_cli_g.brokers = v;
    } else if (IS("-X")) {
        if (rn_cli_g.nxprops == RN_CLI_XPROPS_MAX)
            rn_cli_usage(cmd, "at most %d -X options", RN_CLI_XPROPS_MAX);
        check_xprop(cmd, v);
        rn_cli_g.xprops[rn_cli_g.nxprops++] = v;
    } else if (IS("--output")) {
        if (!strcmp(v, "json"))
            rn_cli_g.json = 1;
        else if (!strcmp(v, "text"))
            rn_cli_g.json = 0;
        else
            rn_cli_usage(cmd, "--output must be text or json, got '%s'", v);
    } else if (IS("--timeout")) {
        char *end;
        errno = 0;
        double s = strtod(v, &end);
        if (errno || end == v || *end || s <= 0 || s > 86400)
            rn_cli_usage(cmd, "--timeout must be a number of seconds in (0, 86400], got '%s'", v);
        rn_cli_g.timeout_ms = (int)(s * 1000 + 0.5);
        if (rn_cli_g.timeout_ms < 1)
            rn_cli_g.timeout_ms = 1;
    } else if (IS("-v") || IS("--verbose")) {
        rn_cli_g.verbose = 1;
    } else {
        return 0;
    }
#undef IS
    return 1;
}

int rn_args_next(rn_args *a)
{
    for (;;) {
        a->i++;
        a->opt = a->inl = a->pos = NULL;
        if (a->i >= a->argc)
            return RN_ARG_END;
        const char *s = a->argv[a->i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            fputs(a->help, stdout);
            exit(RN_EXIT_OK);
        }
        if (s[0] != '-' || !strcmp(s, "-") || (s[1] >= '0' && s[1] <= '9')) {
            a->pos = s;
            return RN_ARG_POS;
        }
        if (rn_cli_global_opt(a->argc, a->argv, &a->i, a->cmd))
            continue;
        a->opt = s;
        const char *eq = !strncmp(s, "--", 2) ? strchr(s, '=') : NULL;
        if (eq) {
            static char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)(eq - s), s);
            a->opt = name;
            a->inl = eq + 1;
        }
        return RN_ARG_OPT;
    }
}

int rn_args_is(const rn_args *a, const char *long_name, const char *short_name)
{
    return (long_name && !strcmp(a->opt, long_name)) || (short_name && !strcmp(a->opt, short_name));
}

const char *rn_args_value(rn_args *a)
{
    if (a->inl)
        return a->inl;
    if (a->i + 1 >= a->argc)
        rn_cli_usage(a->cmd, "%s needs a value", a->opt);
    return a->argv[++a->i];
}

void rn_args_unknown(const rn_args *a)
{
    rn_cli_usage(a->cmd, "unknown option '%s'", a->opt);
}

long long rn_parse_ll(const rn_args *a, const char *what, const char *s, long long min, long long max)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        rn_cli_usage(a ? a->cmd : NULL, "%s must be an integer in [%lld, %lld], got '%s'", what, min, max, s);
    return v;
}

int rn_split_kv(const char *s, char *key_out, size_t key_size, const char **value)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || (size_t)(eq - s) >= key_size)
        return -1;
    memcpy(key_out, s, (size_t)(eq - s));
    key_out[eq - s] = '\0';
    *value = eq + 1;
    return 0;
}

int rn_cli_verb(int argc, char **argv, const char *cmd, const char *help)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "help")) {
            fputs(help, stdout);
            exit(RN_EXIT_OK);
        }
        if (argv[i][0] != '-')
            return i;
        if (!rn_cli_global_opt(argc, argv, &i, cmd))
            rn_cli_usage(cmd, "unknown option '%s' (a subcommand comes first)", argv[i]);
    }
    fputs(help, stderr);
    exit(RN_EXIT_USAGE);
}

/* ---------------------------------------------------------------- librdkafka */

void rn_cli_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        rn_cli_usage(NULL, "%s=%s: %s", key, value, err);
}

rd_kafka_conf_t *rn_cli_conf(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rn_cli_conf_set(conf, "bootstrap.servers", rn_cli_g.brokers);
    rn_cli_conf_set(conf, "client.id", "runnel");
    /* Connection failures surface as our own one-line error, not as logs. */
    rd_kafka_conf_set_log_cb(conf, rn_cli_log_cb);
    for (int i = 0; i < rn_cli_g.nxprops; i++) {
        char key[256];
        const char *value;
        if (rn_split_kv(rn_cli_g.xprops[i], key, sizeof(key), &value) == 0)
            rn_cli_conf_set(conf, key, value);
    }
    return conf;
}

void rn_cli_conf_default(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    size_t n = strlen(key);
    for (int i = 0; i < rn_cli_g.nxprops; i++)
        if (!strncmp(rn_cli_g.xprops[i], key, n) && rn_cli_g.xprops[i][n] == '=')
            return;
    rn_cli_conf_set(conf, key, value);
}

rd_kafka_t *rn_cli_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk)
        rn_cli_die("cannot create the client: %s", err);
    return rk;
}

const struct rd_kafka_metadata *rn_cli_metadata(rd_kafka_t *rk)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, rn_cli_g.timeout_ms);
    if (err)
        rn_cli_die_rpc("metadata", err, NULL);
    return md;
}

const struct rd_kafka_metadata_topic *rn_cli_find_topic(const struct rd_kafka_metadata *md, const char *name)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, name) && md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            return &md->topics[i];
    return NULL;
}

const struct rd_kafka_metadata_topic *rn_cli_require_topic(const struct rd_kafka_metadata *md, const char *name)
{
    const struct rd_kafka_metadata_topic *t = rn_cli_find_topic(md, name);
    if (!t)
        rn_cli_die("topic '%s' does not exist", name);
    if (t->err)
        rn_cli_die("topic '%s': %s", name, rd_kafka_err2str(t->err));
    return t;
}

rd_kafka_AdminOptions_t *rn_cli_admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op)
{
    char err[512];
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, op);
    if (rd_kafka_AdminOptions_set_request_timeout(ao, rn_cli_g.timeout_ms, err, sizeof(err)))
        rn_cli_die("admin options: %s", err);
    /* Only CreateTopics, DeleteTopics and CreatePartitions have one. */
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS)
        rd_kafka_AdminOptions_set_operation_timeout(ao, rn_cli_g.timeout_ms, err, sizeof(err));
    return ao;
}

rd_kafka_event_t *rn_cli_admin_wait(rd_kafka_queue_t *q, const char *what)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, rn_cli_g.timeout_ms + 5000);
    if (!ev)
        rn_cli_die_rpc(what, RD_KAFKA_RESP_ERR__TIMED_OUT, NULL);
    if (rd_kafka_event_error(ev))
        rn_cli_die_rpc(what, rd_kafka_event_error(ev), rd_kafka_event_error_string(ev));
    return ev;
}

void rn_cli_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *low, int64_t *high)
{
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, partition, low, high, rn_cli_g.timeout_ms);
    if (err) {
        char what[300];
        snprintf(what, sizeof(what), "watermarks of %s/%d", topic, (int)partition);
        rn_cli_die_rpc(what, err, NULL);
    }
}

long rn_unescape(const char *s, char *out, size_t out_size)
{
    size_t n = 0;
    for (; *s; s++) {
        char c = *s;
        if (c == '\\') {
            switch (*++s) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '0': c = '\0'; break;
            case '\\': c = '\\'; break;
            case 'x': {
                char hex[3] = {s[1], s[1] ? s[2] : 0, 0};
                char *end;
                long v = strtol(hex, &end, 16);
                if (end != hex + 2)
                    return -1;
                c = (char)v;
                s += 2;
                break;
            }
            default: return -1;
            }
        }
        if (n + 1 >= out_size)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return (long)n;
}

/* ---------------------------------------------------------------- output */

void rn_json_str(FILE *f, const char *s, long len)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    size_t n = len < 0 ? strlen(s) : (size_t)len;
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

void rn_table_init(rn_table *t, int ncols, const char *const *headers)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    for (int i = 0; i < ncols; i++)
        rn_table_add(t, "%s", headers[i]);
}

void rn_table_add(rn_table *t, const char *fmt, ...)
{
    if (t->ncells == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->cells = realloc(t->cells, t->cap * sizeof(*t->cells));
        if (!t->cells)
            rn_cli_die("out of memory");
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&t->cells[t->ncells], fmt, ap) < 0)
        rn_cli_die("out of memory");
    va_end(ap);
    t->ncells++;
}

void rn_table_print(const rn_table *t, FILE *f)
{
    size_t width[32] = {0};
    int ncols = t->ncols < 32 ? t->ncols : 32;
    for (size_t i = 0; i < t->ncells; i++) {
        size_t c = i % (size_t)t->ncols, w = strlen(t->cells[i]);
        if ((int)c < ncols && w > width[c])
            width[c] = w;
    }
    for (size_t row = 0; row < t->ncells; row += (size_t)t->ncols) {
        /* Pad every cell but the row's last non-empty one: no trailing blanks. */
        size_t end = row + (size_t)t->ncols < t->ncells ? row + (size_t)t->ncols : t->ncells;
        while (end > row + 1 && !t->cells[end - 1][0])
            end--;
        for (size_t i = row; i < end; i++) {
            int c = (int)(i - row);
            if (i + 1 == end)
                fprintf(f, "%s\n", t->cells[i]);
            else
                fprintf(f, "%-*s  ", (int)(c < ncols ? width[c] : 0), t->cells[i]);
        }
    }
}

void rn_table_release(rn_table *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

/* ---------------------------------------------------------------- time */

uint64_t rn_cli_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t rn_cli_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

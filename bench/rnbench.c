/*
 * rnbench - a small librdkafka throughput/latency benchmark for Runnel,
 * in the spirit of kafka-producer-perf-test / kafka-consumer-perf-test.
 *
 *   rnbench produce --bootstrap HOST:PORT|mock --topic T --records N
 *                   --record-size B [--acks 1|all|0] [--linger-ms 5]
 *                   [--batch-size 1000000] [--batch-num-messages 10000]
 *                   [--compression none] [--partitions P]
 *                   [--timeout-s 300] [--json] [--quiet] [-X key=value ...]
 *   rnbench consume --bootstrap HOST:PORT|mock --topic T --records N
 *                   [--record-size B] [--partitions P] [--timeout-s 300]
 *                   [--json] [--quiet] [-X key=value ...]
 *   rnbench delete  --bootstrap HOST:PORT --topic T
 *
 * "mock" runs the broker side in-process as a librdkafka mock cluster (one
 * broker, its own rd_kafka_t); that is the baseline Runnel is compared
 * against.  A real broker gets the topic created with CreateTopics (an
 * existing one is reused).
 *
 * produce: one producer, one preallocated payload passed without
 * RD_KAFKA_MSG_F_COPY, partition i % P; wall time runs from the first
 * produce() to the last delivery report; per-message latency is produce()
 * to delivery report (msg_opaque indexes a preallocated timestamp array).
 *
 * consume: assign() at the beginning of every partition, no group
 * coordination, no commits; the rate runs from the first record to the Nth
 * (startup_ms, assign to first record, is reported apart).  The mock keeps
 * only ~5 MB per partition (hard-coded in librdkafka), so with mock rnbench
 * first produces what fits (untimed) and then reads that range repeatedly,
 * seeking back when it reaches the end ("wraps").
 *
 * -X sets any librdkafka property after rnbench's own settings.
 *
 * Output: one human-readable line on stdout, and with --json one JSON line
 * after it.  CPU seconds are this process's getrusage() over the timed phase;
 * with mock they include the in-process mock broker's thread ("rdk:mock"),
 * which is also reported on its own (mock_cpu_s).
 *
 * Exit status: 0 when every record was delivered/received, 1 on a benchmark
 * failure (delivery errors, timeout, broker error), 2 on bad usage.
 */
#include <errno.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* ---------------------------------------------------------------- options */

typedef struct {
    const char *mode;       /* "produce" | "consume" */
    const char *bootstrap;  /* "host:port,..." or "mock" */
    const char *topic;
    long long records;
    int record_size;
    const char *acks;
    const char *linger_ms;
    const char *batch_size;
    const char *batch_num_messages;
    const char *compression;
    int partitions;
    int timeout_s;
    int json;
    int quiet;
    int nprops; /* -X key=value: extra librdkafka client properties */
    const char *props[64];
} opts_t;

static void usage(void) {
    fprintf(stderr,
            "usage:\n"
            "  rnbench produce --bootstrap HOST:PORT|mock --topic T --records N --record-size B\n"
            "                  [--acks 1|all|0] [--linger-ms 5] [--batch-size 1000000]\n"
            "                  [--batch-num-messages 10000] [--compression none] [--partitions P]\n"
            "                  [--timeout-s 300] [--json] [--quiet] [-X librdkafka.key=value ...]\n"
            "  rnbench consume --bootstrap HOST:PORT|mock --topic T --records N\n"
            "                  [--record-size B] [--partitions P] [--timeout-s 300] [--json] [--quiet]\n"
            "                  [-X librdkafka.key=value ...]\n"
            "  rnbench delete --bootstrap HOST:PORT --topic T     (DeleteTopics; a missing topic is fine)\n"
            "  -X sets any librdkafka client property (after rnbench's own), e.g. -X fetch.wait.max.ms=100\n");
    exit(2);
}

static long long parse_ll(const char *name, const char *s, long long min) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < min) {
        fprintf(stderr, "rnbench: bad value for %s: '%s'\n", name, s);
        exit(2);
    }
    return v;
}

static void parse_opts(int argc, char **argv, opts_t *o) {
    memset(o, 0, sizeof(*o));
    o->records = -1;
    o->record_size = 100;
    o->acks = "1";
    o->linger_ms = "5";
    o->batch_size = "1000000";
    o->batch_num_messages = "10000";
    o->compression = "none";
    o->partitions = 1;
    o->timeout_s = 300;
    if (argc < 2)
        usage();
    o->mode = argv[1];
    if (strcmp(o->mode, "produce") && strcmp(o->mode, "consume") && strcmp(o->mode, "delete"))
        usage();
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            usage();
        if (i + 1 >= argc) {
            fprintf(stderr, "rnbench: %s needs a value\n", a);
            usage();
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--bootstrap"))
            o->bootstrap = v;
        else if (!strcmp(a, "--topic"))
            o->topic = v;
        else if (!strcmp(a, "--records"))
            o->records = parse_ll(a, v, 1);
        else if (!strcmp(a, "--record-size"))
            o->record_size = (int)parse_ll(a, v, 0);
        else if (!strcmp(a, "--acks"))
            o->acks = v;
        else if (!strcmp(a, "--linger-ms"))
            o->linger_ms = v;
        else if (!strcmp(a, "--batch-size"))
            o->batch_size = v;
        else if (!strcmp(a, "--batch-num-messages"))
            o->batch_num_messages = v;
        else if (!strcmp(a, "--compression"))
            o->compression = v;
        else if (!strcmp(a, "--partitions"))
            o->partitions = (int)parse_ll(a, v, 1);
        else if (!strcmp(a, "--timeout-s"))
            o->timeout_s = (int)parse_ll(a, v, 1);
        else if (!strcmp(a, "-X")) {
            if (!strchr(v, '=') || o->nprops >= (int)(sizeof(o->props) / sizeof(o->props[0]))) {
                fprintf(stderr, "rnbench: -X wants key=value (at most 64)\n");
                exit(2);
            }
            o->props[o->nprops++] = v;
        }
        else {
            fprintf(stderr, "rnbench: unknown option %s\n", a);
            usage();
        }
    }
    if (!o->bootstrap || !o->topic || (o->records < 1 && strcmp(o->mode, "delete")))
        usage();
    if (strcmp(o->acks, "0") && strcmp(o->acks, "1") && strcmp(o->acks, "all") &&
        strcmp(o->acks, "-1")) {
        fprintf(stderr, "rnbench: --acks must be 0, 1 or all\n");
        exit(2);
    }
    if (o->record_size > 100 * 1024 * 1024) {
        fprintf(stderr, "rnbench: --record-size too large\n");
        exit(2);
    }
}

/* ---------------------------------------------------------------- helpers */

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(double *user, double *sys) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double u = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
    double s = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    if (user)
        *user = u;
    if (sys)
        *sys = s;
    return u + s;
}

/* CPU seconds of this process's threads whose name starts with "rdk:mock"
 * (the librdkafka mock cluster's broker thread).  Linux only; 0 if none. */
static double mock_thread_cpu_seconds(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    long tck = sysconf(_SC_CLK_TCK);
    double total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int is_mock = fgets(buf, sizeof(buf), f) && !strncmp(buf, "rdk:mock", 8);
        fclose(f);
        if (!is_mock)
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        /* fields after the ")" that ends comm: state(3) ... utime(14) stime(15) */
        char *p = strrchr(buf, ')');
        if (!p)
            continue;
        p += 2;
        unsigned long long ut = 0, st = 0;
        int field = 3;
        char *save = NULL;
        for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
            if (field == 14)
                ut = strtoull(tok, NULL, 10);
            else if (field == 15) {
                st = strtoull(tok, NULL, 10);
                break;
            }
        }
        total += (double)(ut + st) / (double)tck;
    }
    closedir(d);
    return total;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rnbench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        die("config %s=%s: %s", k, v, err);
}

/* librdkafka log lines go to stderr, prefixed, so they never mix with the
 * result lines on stdout. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    fprintf(stderr, "rnbench: %.6f rdkafka %d %s: %s\n", now_ns() / 1e9, level, fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)rk;
    (void)opaque;
    /* Transient connection errors are retried by librdkafka; only report. */
    fprintf(stderr, "rnbench: error: %s: %s\n", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        g_stop = 1;
}

/* Apply the -X key=value properties, which override rnbench's settings. */
static void conf_apply_props(rd_kafka_conf_t *conf, const opts_t *o) {
    for (int i = 0; i < o->nprops; i++) {
        char kv[512];
        snprintf(kv, sizeof(kv), "%s", o->props[i]);
        char *eq = strchr(kv, '=');
        *eq = 0;
        conf_set(conf, kv, eq + 1);
    }
}

static rd_kafka_conf_t *base_conf(const char *bootstrap) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", bootstrap);
    conf_set(conf, "client.id", "rnbench");
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
}

/* ---------------------------------------------------------------- mock */

typedef struct {
    rd_kafka_t *rk;  /* dedicated handle that owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
} mock_t;

static void mock_start(mock_t *m, const opts_t *o) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "client.id", "rnbench-mock");
    conf_set(conf, "log_level", "3"); /* no "no bootstrap.servers" warning */
    rd_kafka_conf_set_log_cb(conf, log_cb);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!m->rk)
        die("mock handle: %s", err);
    m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
    if (!m->mc)
        die("rd_kafka_mock_cluster_new failed");
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m->mc, o->topic, o->partitions, 1);
    if (e)
        die("mock topic create %s: %s", o->topic, rd_kafka_err2str(e));
}

static void mock_stop(mock_t *m) {
    if (m->mc)
        rd_kafka_mock_cluster_destroy(m->mc);
    if (m->rk)
        rd_kafka_destroy(m->rk);
    m->mc = NULL;
    m->rk = NULL;
}

/* ---------------------------------------------------------------- topic */

/* Partition count of topic from broker metadata, waiting until every
 * partition has a leader; -1 on timeout.  err_out gets the last error. */
static int wait_topic(rd_kafka_t *rk, const char *topic, int timeout_ms, char *err_out, size_t errlen) {
    uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    snprintf(err_out, errlen, "no metadata");
    int cnt = -1;
    while (now_ns() < deadline && !g_stop) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        if (e) {
            snprintf(err_out, errlen, "metadata: %s", rd_kafka_err2str(e));
        } else {
            if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
                int ok = 1;
                for (int i = 0; i < md->topics[0].partition_cnt; i++)
                    if (md->topics[0].partitions[i].err || md->topics[0].partitions[i].leader < 0)
                        ok = 0;
                if (ok)
                    cnt = md->topics[0].partition_cnt;
                else
                    snprintf(err_out, errlen, "partition without leader");
            } else if (md->topic_cnt == 1) {
                snprintf(err_out, errlen, "topic error: %s", rd_kafka_err2str(md->topics[0].err));
            }
            rd_kafka_metadata_destroy(md);
            if (cnt > 0)
                break;
        }
        usleep(100 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    return cnt;
}

/* Create the topic on a real broker with the admin API; an existing topic is
 * fine.  Returns its partition count (which may differ from the request if it
 * already existed). */
static int ensure_topic(rd_kafka_t *rk, const opts_t *o) {
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, o->partitions, 1, err, sizeof(err));
    if (!nt)
        die("NewTopic: %s", err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 10000, err, sizeof(err));
    rd_kafka_AdminOptions_set_request_timeout(ao, 15000, err, sizeof(err));
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    if (!ev)
        die("CreateTopics %s: no reply within 20 s", o->topic);
    if (rd_kafka_event_error(ev))
        die("CreateTopics %s: %s", o->topic, rd_kafka_event_error_string(ev));
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            die("CreateTopics %s: %s: %s", o->topic, rd_kafka_err2name(e),
                rd_kafka_topic_result_error_string(tr[i]) ? rd_kafka_topic_result_error_string(tr[i]) : "");
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    int cnt = wait_topic(rk, o->topic, 20000, err, sizeof(err));
    if (cnt < 0)
        die("topic %s not ready after create: %s", o->topic, err);
    return cnt;
}

/* Delete the topic with the admin API (the bench script drops each round's
 * topics so the data set, and the page cache it occupies, stays bounded). */
static int delete_topic(const opts_t *o) {
    char err[512];
    rd_kafka_conf_t *conf = base_conf(o->bootstrap);
    conf_apply_props(conf, o);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk)
        die("admin client: %s", err);
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(o->topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 10000, err, sizeof(err));
    rd_kafka_AdminOptions_set_request_timeout(ao, 15000, err, sizeof(err));
    rd_kafka_DeleteTopics(rk, &dt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    if (!ev)
        die("DeleteTopics %s: no reply within 20 s", o->topic);
    if (rd_kafka_event_error(ev))
        die("DeleteTopics %s: %s", o->topic, rd_kafka_event_error_string(ev));
    size_t n = 0;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e && e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            fprintf(stderr, "rnbench: DeleteTopics %s: %s\n", o->topic, rd_kafka_err2name(e));
            rc = 1;
        }
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---------------------------------------------------------------- produce */

typedef struct {
    long long records;
    uint64_t *sent_ns;   /* per message: produce() time, indexed by msg_opaque */
    uint64_t *lat_ns;    /* delivery latencies in arrival order */
    long long delivered; /* reports received (ok + failed) */
    long long ok;
    long long failed;
    uint64_t last_dr_ns;
    char first_err[256];
} prod_state_t;

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    prod_state_t *st = opaque;
    uint64_t t = now_ns();
    long long idx = (long long)(uintptr_t)m->_private;
    if (st->delivered < st->records && idx >= 0 && idx < st->records)
        st->lat_ns[st->delivered] = t - st->sent_ns[idx];
    st->delivered++;
    st->last_dr_ns = t;
    if (m->err) {
        if (!st->failed)
            snprintf(st->first_err, sizeof(st->first_err), "%s: %s", rd_kafka_err2name(m->err),
                     rd_kafka_err2str(m->err));
        st->failed++;
    } else {
        st->ok++;
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *sorted, long long n, double p) {
    if (n <= 0)
        return 0;
    long long i = (long long)(p * (double)n + 0.999999) - 1; /* nearest-rank */
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return sorted[i] / 1e6;
}

typedef struct {
    long long ok, failed, records;
    double elapsed_s, rps, mbps, p50, p99, max, cpu, cpu_user, cpu_sys, mock_cpu;
    char first_err[256];
    int timed_out;
} prod_result_t;

static void run_produce(const opts_t *o, const char *bootstrap, int is_mock, prod_result_t *r) {
    char err[512];
    prod_state_t st;
    memset(&st, 0, sizeof(st));
    memset(r, 0, sizeof(*r));
    st.records = o->records;
    st.sent_ns = malloc(sizeof(uint64_t) * (size_t)o->records);
    st.lat_ns = malloc(sizeof(uint64_t) * (size_t)o->records);
    if (!st.sent_ns || !st.lat_ns)
        die("out of memory for %lld records", o->records);
    /* Touch the arrays now so page faults do not land in the timed loop. */
    memset(st.sent_ns, 0, sizeof(uint64_t) * (size_t)o->records);
    memset(st.lat_ns, 0, sizeof(uint64_t) * (size_t)o->records);

    /* One preallocated payload, sent without RD_KAFKA_MSG_F_COPY: librdkafka
     * references it and never frees it (no F_FREE), and it outlives the run. */
    char *payload = malloc((size_t)o->record_size + 1);
    if (!payload)
        die("out of memory");
    uint32_t seed = 12345;
    for (int i = 0; i < o->record_size; i++) {
        seed = seed * 1103515245u + 12345u;
        payload[i] = (char)('A' + (seed >> 16) % 26);
    }

    rd_kafka_conf_t *conf = base_conf(bootstrap);
    conf_set(conf, "acks", o->acks);
    conf_set(conf, "linger.ms", o->linger_ms);
    conf_set(conf, "batch.size", o->batch_size);
    conf_set(conf, "batch.num.messages", o->batch_num_messages);
    conf_set(conf, "compression.codec", o->compression);
    conf_set(conf, "enable.idempotence", "false");
    /* Bounded in-flight queue like perf-test's buffer.memory; we back off on
     * QUEUE_FULL by serving delivery reports. */
    conf_set(conf, "queue.buffering.max.messages", "500000");
    conf_set(conf, "queue.buffering.max.kbytes", "1048576");
    char tmo[32];
    snprintf(tmo, sizeof(tmo), "%d", o->timeout_s * 1000);
    conf_set(conf, "message.timeout.ms", tmo);
    conf_apply_props(conf, o);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk)
        die("producer: %s", err);

    int nparts;
    if (is_mock) {
        nparts = wait_topic(rk, o->topic, 20000, err, sizeof(err));
        if (nparts < 0)
            die("mock topic %s not ready: %s", o->topic, err);
    } else {
        nparts = ensure_topic(rk, o);
    }
    if (!o->quiet && nparts != o->partitions)
        fprintf(stderr, "rnbench: note: topic %s has %d partitions (asked for %d)\n", o->topic, nparts,
                o->partitions);

    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (!rkt)
        die("topic_new: %s", rd_kafka_err2str(rd_kafka_last_error()));

    uint64_t deadline = now_ns() + (uint64_t)o->timeout_s * 1000000000ull;
    double cpu0 = cpu_seconds(NULL, NULL), u0, s0;
    cpu_seconds(&u0, &s0);
    double mock0 = is_mock ? mock_thread_cpu_seconds() : 0;
    uint64_t t0 = now_ns();

    for (long long i = 0; i < o->records && !g_stop; i++) {
        int32_t part = (int32_t)(i % nparts);
        for (;;) {
            st.sent_ns[i] = now_ns();
            if (rd_kafka_produce(rkt, part, 0, payload, (size_t)o->record_size, NULL, 0,
                                 (void *)(uintptr_t)i) == 0)
                break;
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("produce #%lld: %s", i, rd_kafka_err2str(e));
            rd_kafka_poll(rk, 1);
            if (now_ns() > deadline) {
                r->timed_out = 1;
                break;
            }
        }
        if (r->timed_out)
            break;
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    /* Wait for the remaining delivery reports. */
    while (st.delivered < o->records && !g_stop) {
        rd_kafka_poll(rk, 50);
        if (now_ns() > deadline) {
            r->timed_out = 1;
            break;
        }
    }
    uint64_t t1 = st.last_dr_ns ? st.last_dr_ns : now_ns();
    double u1, s1;
    double cpu1 = cpu_seconds(&u1, &s1);
    double mock1 = is_mock ? mock_thread_cpu_seconds() : 0;

    long long n = st.delivered < o->records ? st.delivered : o->records;
    qsort(st.lat_ns, (size_t)n, sizeof(uint64_t), cmp_u64);

    r->records = o->records;
    r->ok = st.ok;
    r->failed = st.failed + (o->records - st.delivered); /* never reported = failed */
    r->elapsed_s = (double)(t1 - t0) / 1e9;
    r->rps = r->elapsed_s > 0 ? (double)st.ok / r->elapsed_s : 0;
    r->mbps = r->elapsed_s > 0 ? (double)st.ok * o->record_size / 1048576.0 / r->elapsed_s : 0;
    r->p50 = pct_ms(st.lat_ns, n, 0.50);
    r->p99 = pct_ms(st.lat_ns, n, 0.99);
    r->max = n ? st.lat_ns[n - 1] / 1e6 : 0;
    r->cpu = cpu1 - cpu0;
    r->cpu_user = u1 - u0;
    r->cpu_sys = s1 - s0;
    r->mock_cpu = mock1 - mock0;
    snprintf(r->first_err, sizeof(r->first_err), "%s", st.first_err);
    if (r->timed_out && !r->first_err[0])
        snprintf(r->first_err, sizeof(r->first_err), "timeout after %d s: %lld of %lld delivery reports",
                 o->timeout_s, st.delivered, o->records);

    /* Purge whatever is left (timeout/signal) so destroy does not block. */
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk, 0);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(payload);
    free(st.sent_ns);
    free(st.lat_ns);
}

/* ---------------------------------------------------------------- consume */

typedef struct {
    long long received, bytes, records, wraps;
    double startup_ms; /* assign() to first record */
    double elapsed_s, rps, mbps, cpu, cpu_user, cpu_sys, mock_cpu;
    char first_err[256];
    int timed_out;
} cons_result_t;

static void run_consume(const opts_t *o, const char *bootstrap, int is_mock, cons_result_t *r) {
    char err[512];
    memset(r, 0, sizeof(*r));
    rd_kafka_conf_t *conf = base_conf(bootstrap);
    conf_set(conf, "group.id", "rnbench");
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "enable.auto.offset.store", "false");
    conf_set(conf, "auto.offset.reset", "earliest");
    conf_set(conf, "fetch.wait.max.ms", "10");
    /* librdkafka 2.0 stops fetching when its queue passes queued.min.messages
     * (100000) or queued.max.messages.kbytes (64 MB) and then only resumes
     * after a ~0.5-1 s backoff, not as soon as the application drains it.
     * A broker that serves fetches faster than the application polls hits
     * that stall (seen against runneld: 1 M records in 0.4 s or 1.1-2 s at
     * random), which would measure librdkafka, not the broker.  Let the
     * queue grow instead. */
    conf_set(conf, "queued.min.messages", "10000000");
    conf_set(conf, "queued.max.messages.kbytes", "1048576");
    conf_apply_props(conf, o);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk)
        die("consumer: %s", err);
    rd_kafka_poll_set_consumer(rk);

    int nparts = wait_topic(rk, o->topic, 20000, err, sizeof(err));
    if (nparts < 0)
        die("topic %s not ready: %s", o->topic, err);
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(tpl, o->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;

    /* The mock keeps only the newest ~5 MB of each partition (librdkafka's
     * hard-coded mock log limit), so it cannot hold N records.  There we read
     * the retained range [lo, hi) over and over, seeking back to lo as soon
     * as the last retained record of a partition has been consumed. */
    int64_t *lo = calloc((size_t)nparts, sizeof(int64_t));
    int64_t *hi = calloc((size_t)nparts, sizeof(int64_t));
    if (!lo || !hi)
        die("out of memory");
    if (is_mock) {
        for (int p = 0; p < nparts; p++) {
            rd_kafka_resp_err_t qe = rd_kafka_query_watermark_offsets(rk, o->topic, p, &lo[p], &hi[p], 10000);
            if (qe)
                die("watermarks %s [%d]: %s", o->topic, p, rd_kafka_err2str(qe));
            if (hi[p] <= lo[p])
                die("mock partition %s [%d] is empty", o->topic, p);
        }
    }
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(seek, o->topic, 0);

    uint64_t deadline = now_ns() + (uint64_t)o->timeout_s * 1000000000ull;
    double u0, s0, cpu0 = cpu_seconds(&u0, &s0);
    double mock0 = is_mock ? mock_thread_cpu_seconds() : 0;
    uint64_t t0 = now_ns(), t1 = t0, tfirst = 0;
    long long first_len = 0;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, tpl);
    if (e)
        die("assign: %s", rd_kafka_err2str(e));

    while (r->received < o->records && !g_stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m) {
            if (!m->err) {
                if (!r->received) {
                    tfirst = now_ns();
                    first_len = (long long)m->len;
                }
                r->received++;
                r->bytes += (long long)m->len;
                if (r->received == o->records)
                    t1 = now_ns();
                else if (is_mock && m->partition >= 0 && m->partition < nparts &&
                         m->offset == hi[m->partition] - 1) {
                    seek->elems[0].partition = m->partition;
                    seek->elems[0].offset = lo[m->partition];
                    seek->elems[0].err = 0;
                    rd_kafka_error_t *se = rd_kafka_seek_partitions(rk, seek, 10000);
                    if (se)
                        die("seek: %s", rd_kafka_error_string(se));
                    if (seek->elems[0].err)
                        die("seek: %s", rd_kafka_err2str(seek->elems[0].err));
                    r->wraps++;
                }
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (!r->first_err[0])
                    snprintf(r->first_err, sizeof(r->first_err), "%s: %s", rd_kafka_err2name(m->err),
                             rd_kafka_message_errstr(m));
                fprintf(stderr, "rnbench: consume error: %s: %s\n", rd_kafka_err2name(m->err),
                        rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
        if (now_ns() > deadline) {
            r->timed_out = 1;
            break;
        }
    }
    if (r->received < o->records)
        t1 = now_ns();
    double u1, s1, cpu1 = cpu_seconds(&u1, &s1);
    double mock1 = is_mock ? mock_thread_cpu_seconds() : 0;

    /* Rates run from the first record to the last, so that start-up (offset
     * lookup, first fetch; reported as startup_ms) does not count: librdkafka
     * sometimes delays the first ListOffsets by its 500 ms retry backoff when
     * assign() races the partition joining its broker thread. */
    r->records = o->records;
    r->startup_ms = tfirst ? (double)(tfirst - t0) / 1e6 : (double)(t1 - t0) / 1e6;
    r->elapsed_s = tfirst ? (double)(t1 - tfirst) / 1e9 : 0;
    r->rps = r->elapsed_s > 0 ? (double)(r->received - 1) / r->elapsed_s : 0;
    r->mbps = r->elapsed_s > 0 ? (double)(r->bytes - first_len) / 1048576.0 / r->elapsed_s : 0;
    r->cpu = cpu1 - cpu0;
    r->cpu_user = u1 - u0;
    r->cpu_sys = s1 - s0;
    r->mock_cpu = mock1 - mock0;
    if (r->timed_out)
        snprintf(r->first_err + strlen(r->first_err), sizeof(r->first_err) - strlen(r->first_err),
                 "%stimeout after %d s: %lld of %lld records", r->first_err[0] ? "; " : "", o->timeout_s,
                 r->received, o->records);

    rd_kafka_topic_partition_list_destroy(tpl);
    rd_kafka_topic_partition_list_destroy(seek);
    free(lo);
    free(hi);
    rd_kafka_assign(rk, NULL);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* ---------------------------------------------------------------- output */

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

int main(int argc, char **argv) {
    opts_t o;
    parse_opts(argc, argv, &o);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    if (!strcmp(o.mode, "delete")) {
        if (!strcmp(o.bootstrap, "mock"))
            return 0;
        return delete_topic(&o);
    }
    int is_mock = !strcmp(o.bootstrap, "mock");
    mock_t mock = {0};
    const char *bootstrap = o.bootstrap;
    if (is_mock) {
        mock_start(&mock, &o);
        bootstrap = rd_kafka_mock_cluster_bootstraps(mock.mc);
    }
    const char *target = is_mock ? "mock" : o.bootstrap;
    int rc = 0;

    if (!strcmp(o.mode, "produce")) {
        prod_result_t r;
        run_produce(&o, bootstrap, is_mock, &r);
        rc = (r.failed || r.timed_out || g_stop) ? 1 : 0;
        printf("produce target=%s topic=%s acks=%s records=%lld size=%d ok=%lld failed=%lld "
               "time=%.3fs %.0f rec/s %.2f MB/s latency p50=%.2fms p99=%.2fms max=%.2fms "
               "cpu=%.2fs (user %.2f sys %.2f%s",
               target, o.topic, o.acks, r.records, o.record_size, r.ok, r.failed, r.elapsed_s, r.rps,
               r.mbps, r.p50, r.p99, r.max, r.cpu, r.cpu_user, r.cpu_sys, is_mock ? ", mock broker " : "");
        if (is_mock)
            printf("%.2f", r.mock_cpu);
        printf(")%s%s\n", r.first_err[0] ? " error=" : "", r.first_err);
        if (o.json) {
            printf("{\"mode\":\"produce\",\"target\":");
            json_str(stdout, target);
            printf(",\"topic\":");
            json_str(stdout, o.topic);
            printf(",\"acks\":");
            json_str(stdout, o.acks);
            printf(",\"records\":%lld,\"record_size\":%d,\"ok\":%lld,\"failed\":%lld,\"elapsed_s\":%.6f,"
                   "\"records_per_s\":%.1f,\"mb_per_s\":%.3f,\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,"
                   "\"lat_max_ms\":%.3f,\"cpu_s\":%.3f,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,"
                   "\"mock_cpu_s\":%.3f,\"timed_out\":%s,\"error\":",
                   r.records, o.record_size, r.ok, r.failed, r.elapsed_s, r.rps, r.mbps, r.p50, r.p99, r.max,
                   r.cpu, r.cpu_user, r.cpu_sys, r.mock_cpu, r.timed_out ? "true" : "false");
            json_str(stdout, r.first_err);
            printf("}\n");
        }
    } else {
        if (is_mock) {
            /* Fill the mock topic first (untimed, not reported). */
            prod_result_t pr;
            opts_t po = o;
            po.acks = "1";
            po.quiet = 1;
            /* The mock retains ~5 MB per partition: write a bit more than
             * that (or N if fewer), then consume wraps over what is kept. */
            long long fit = (long long)o.partitions * (6LL * 1024 * 1024 / (o.record_size + 16) + 1);
            if (po.records > fit)
                po.records = fit;
            run_produce(&po, bootstrap, 1, &pr);
            if (pr.failed || pr.timed_out)
                die("prefill of mock topic failed: %lld failed: %s", pr.failed, pr.first_err);
        }
        cons_result_t r;
        run_consume(&o, bootstrap, is_mock, &r);
        rc = (r.received < o.records || g_stop) ? 1 : 0;
        printf("consume target=%s topic=%s records=%lld received=%lld startup=%.1fms time=%.3fs %.0f rec/s "
               "%.2f MB/s cpu=%.2fs (user %.2f sys %.2f%s",
               target, o.topic, r.records, r.received, r.startup_ms, r.elapsed_s, r.rps, r.mbps, r.cpu,
               r.cpu_user, r.cpu_sys, is_mock ? ", mock broker " : "");
        if (is_mock)
            printf("%.2f; %lld wraps", r.mock_cpu, r.wraps);
        printf(")%s%s\n", r.first_err[0] ? " error=" : "", r.first_err);
        if (o.json) {
            printf("{\"mode\":\"consume\",\"target\":");
            json_str(stdout, target);
            printf(",\"topic\":");
            json_str(stdout, o.topic);
            printf(",\"records\":%lld,\"received\":%lld,\"bytes\":%lld,\"startup_ms\":%.3f,\"elapsed_s\":%.6f,"
                   "\"records_per_s\":%.1f,\"mb_per_s\":%.3f,\"cpu_s\":%.3f,\"cpu_user_s\":%.3f,"
                   "\"cpu_sys_s\":%.3f,\"mock_cpu_s\":%.3f,\"mock_wraps\":%lld,\"timed_out\":%s,\"error\":",
                   r.records, r.received, r.bytes, r.startup_ms, r.elapsed_s, r.rps, r.mbps, r.cpu, r.cpu_user, r.cpu_sys,
                   r.mock_cpu, r.wraps, r.timed_out ? "true" : "false");
            json_str(stdout, r.first_err);
            printf("}\n");
        }
    }
    fflush(stdout);
    if (is_mock)
        mock_stop(&mock);
    return rc;
}

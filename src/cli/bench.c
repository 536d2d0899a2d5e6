/*
 * bench.c - `runnel bench produce|consume|e2e`: throughput and latency in the
 * spirit of kafka-producer-perf-test and the OpenMessaging Benchmark, on
 * librdkafka, against any broker or against librdkafka's in-process mock
 * cluster (`--brokers mock`), the baseline Runnel is compared with.
 *
 *   produce  N producer threads send --records records of --record-size
 *            bytes, paced to --rate (or unlimited); latency is the time from
 *            produce() to the delivery report (the producer's ack latency).
 *   consume  one consumer reads --records records from the start of every
 *            partition (default: all there are). With mock the topic is
 *            filled first, untimed; the mock keeps only ~5 MB per partition,
 *            so the consumer seeks back to its start at its end.
 *   e2e      producers and a consumer at once; each record carries its
 *            send time (CLOCK_REALTIME ns, first 8 bytes), and end-to-end
 *            latency is receive time minus send time.
 *
 * A live line goes to stderr each second; the summary goes to stdout (one
 * JSON line with --output json). Latencies are kept in a log-linear
 * histogram (1 us resolution below 2 ms, then 1/1024 relative), so memory
 * does not grow with the record count.
 *
 * Threads: each producer thread owns its rd_kafka_t and its histogram (its
 * delivery reports run in its own rd_kafka_poll); the consumer thread owns
 * its histogram; the main thread reads only the atomic counters until the
 * workers are joined. CPU seconds are this process's (getrusage); with mock
 * the mock broker's threads are also reported on their own (mock_cpu_s).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h, which cli.h includes */

#define BENCH_PRODUCERS_MAX 64
#define BENCH_RECORD_BYTES_MAX (16 << 20)
#define E2E_STAMP_BYTES 8

static const char bench_help[] =
    "usage: runnel bench produce|consume|e2e [options]\n"
    "\n"
    "  produce   producer throughput and ack latency\n"
    "  consume   consumer throughput (reads what `bench produce` wrote)\n"
    "  e2e       end-to-end latency: producers and a consumer at once\n"
    "\n"
    "Options:\n"
    "  --topic NAME           topic (default runnel-bench; created if missing)\n"
    "  --records N            records to send or read (produce: 1000000, e2e: 50000,\n"
    "                         consume: all in the topic)\n"
    "  --record-size BYTES    value size (default 100; e2e at least 8)\n"
    "  --rate N               records/s over all producers, 0 = unlimited\n"
    "                         (default 0; e2e 10000)\n"
    "  --acks 0|1|all         (default 1)\n"
    "  --compression CODEC    none, gzip, snappy, lz4, zstd (default none)\n"
    "  --batch-size BYTES     librdkafka batch.size (default 1000000)\n"
    "  --linger-ms MS         librdkafka linger.ms (default 5)\n"
    "  --producers N          producer threads, each with its own connection (default 1)\n"
    "  --partitions N         partitions when the topic is created (default 1)\n"
    "  --time-limit SECONDS   give up after this long (default 300)\n"
    "  --quiet                no live line\n"
    "\n"
    "--brokers mock runs against librdkafka's in-process mock cluster (one broker)\n"
    "as a baseline. --output json prints the summary as one JSON line.\n"
    "\n"
    "Examples:\n"
    "  runnel bench produce --records 1000000 --record-size 100 --acks all\n"
    "  runnel bench consume\n"
    "  runnel --brokers mock bench produce --records 1000000\n"
    "  runnel bench e2e --rate 20000 --records 200000 --output json\n";

/* ---------------------------------------------------------------- histogram */

#define HIST_LINEAR_US 2048
#define HIST_SUB 1024
#define HIST_MSB_MAX 36 /* 2^36 us is 19 hours: larger values are clamped */
#define HIST_BUCKETS (HIST_LINEAR_US + (HIST_MSB_MAX - 10) * HIST_SUB)

typedef struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t n;
    uint64_t max_us;
} hist;

static void hist_add(hist *h, uint64_t ns)
{
    uint64_t us = ns / 1000;
    if (us >= (1ull << HIST_MSB_MAX))
        us = (1ull << HIST_MSB_MAX) - 1;
    size_t idx;
    if (us < HIST_LINEAR_US) {
        idx = (size_t)us;
    } else {
        int msb = 63 - __builtin_clzll(us);
        int shift = msb - 10;
        idx = HIST_LINEAR_US + (size_t)(msb - 11) * HIST_SUB + (size_t)((us >> shift) - HIST_SUB);
    }
    h->counts[idx]++;
    h->n++;
    if (us > h->max_us)
        h->max_us = us;
}

static void hist_merge(hist *into, const hist *h)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        into->counts[i] += h->counts[i];
    into->n += h->n;
    if (h->max_us > into->max_us)
        into->max_us = h->max_us;
}

/* The value (ms) at quantile q by nearest rank: a bucket's upper edge. */
static double hist_ms(const hist *h, double q)
{
    if (!h->n)
        return 0;
    double want = q * (double)h->n;
    uint64_t rank = (uint64_t)want, seen = 0;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen < rank)
            continue;
        uint64_t us;
        if (i < HIST_LINEAR_US) {
            us = i;
        } else {
            size_t k = i - HIST_LINEAR_US;
            int shift = (int)(k / HIST_SUB) + 1;
            us = ((k % HIST_SUB + HIST_SUB + 1) << shift) - 1;
        }
        return (double)(us < h->max_us ? us : h->max_us) / 1000.0;
    }
    return (double)h->max_us / 1000.0;
}

/* ---------------------------------------------------------------- options */

typedef enum { MODE_PRODUCE, MODE_CONSUME, MODE_E2E } bench_mode;

typedef struct bench_opts {
    bench_mode mode;
    const char *topic;
    long long records; /* -1: the mode's default */
    int record_size;
    double rate;
    const char *acks, *compression, *batch_size, *linger_ms;
    int producers, partitions, time_limit_s, quiet;
    const char *bootstrap; /* the real bootstrap (mock's own when mock) */
    int is_mock;
} bench_opts;

/* ---------------------------------------------------------------- helpers */

static double wall_seconds_cpu(double *mock)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *mock = 0;
    DIR *d = opendir("/proc/self/task");
    long tck = sysconf(_SC_CLK_TCK);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], buf[1024];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* "pid (comm) state ..." : utime and stime are fields 14 and 15. */
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        if (!open || !close || strncmp(open + 1, "rdk:mock", 8))
            continue;
        unsigned long long ut = 0, st = 0;
        if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            *mock += (double)(ut + st) / (double)tck;
    }
    if (d)
        closedir(d);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static rd_kafka_conf_t *bench_conf(const bench_opts *o)
{
    rd_kafka_conf_t *conf = rn_cli_conf();
    rn_cli_conf_set(conf, "bootstrap.servers", o->bootstrap);
    rn_cli_conf_set(conf, "client.id", "runnel-bench");
    return conf;
}

/* Partition count once every partition has a leader, or die. */
static int wait_topic(rd_kafka_t *rk, const char *topic, uint64_t deadline_ns)
{
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, rn_cli_g.timeout_ms);
        if (err)
            rn_cli_die_rpc("metadata", err, NULL);
        const struct rd_kafka_metadata_topic *t = rn_cli_find_topic(md, topic);
        int n = t && !t->err ? t->partition_cnt : -1;
        for (int i = 0; n > 0 && i < t->partition_cnt; i++)
            if (t->partitions[i].err || t->partitions[i].leader < 0)
                n = -1;
        rd_kafka_metadata_destroy(md);
        if (n > 0)
            return n;
        if (rn_cli_mono_ns() > deadline_ns || rn_cli_stop)
            rn_cli_die("topic '%s' is not ready", topic);
        usleep(100 * 1000);
    }
}

/* Creates the topic on a real broker unless it exists; returns its
 * partition count. */
static int ensure_topic(const bench_opts *o)
{
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, bench_conf(o));
    const struct rd_kafka_metadata *md = rn_cli_metadata(rk);
    int exists = rn_cli_find_topic(md, o->topic) != NULL;
    rd_kafka_metadata_destroy(md);
    if (!exists) {
        char err[512];
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, o->partitions, -1, err, sizeof(err));
        if (!nt)
            rn_cli_die("topic '%s': %s", o->topic, err);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *ao = rn_cli_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
        rd_kafka_event_t *ev = rn_cli_admin_wait(q, "create topic");
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                rn_cli_die("create topic '%s': %s", o->topic,
                           rn_cli_errtext(e, rd_kafka_topic_result_error_string(res[i])));
        }
        rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_queue_destroy(q);
    }
    int n = wait_topic(rk, o->topic, rn_cli_mono_ns() + 20000000000ull);
    rd_kafka_destroy(rk);
    return n;
}

/* ---------------------------------------------------------------- producers */

typedef struct producer {
    pthread_t tid;
    const bench_opts *o;
    int index, nparts;
    long long records;
    double rate;
    uint64_t t0_ns, deadline_ns;
    atomic_llong sent, acked, failed;
    uint64_t last_dr_ns;
    hist *lat;
    char first_err[256];
} producer;

static void producer_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    producer *p = opaque;
    uint64_t now = rn_cli_mono_ns();
    hist_add(p->lat, now - (uint64_t)(uintptr_t)m->_private);
    p->last_dr_ns = now;
    if (m->err) {
        if (!atomic_load(&p->failed))
            snprintf(p->first_err, sizeof(p->first_err), "%s", rd_kafka_err2str(m->err));
        atomic_fetch_add(&p->failed, 1);
    } else {
        atomic_fetch_add(&p->acked, 1);
    }
}

static void *producer_run(void *arg)
{
    producer *p = arg;
    const bench_opts *o = p->o;
    rd_kafka_conf_t *conf = bench_conf(o);
    rn_cli_conf_set(conf, "acks", o->acks);
    rn_cli_conf_set(conf, "compression.codec", o->compression);
    rn_cli_conf_default(conf, "linger.ms", o->linger_ms);
    rn_cli_conf_default(conf, "batch.size", o->batch_size);
    rn_cli_conf_default(conf, "batch.num.messages", "10000");
    rn_cli_conf_default(conf, "enable.idempotence", "false");
    rn_cli_conf_default(conf, "queue.buffering.max.messages", "500000");
    rn_cli_conf_default(conf, "queue.buffering.max.kbytes", "1048576");
    char tmo[32];
    snprintf(tmo, sizeof(tmo), "%d", o->time_limit_s * 1000);
    rn_cli_conf_default(conf, "message.timeout.ms", tmo);
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr);
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, conf);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);

    /* One payload, sent without a copy for produce; e2e stamps each record,
     * so librdkafka copies it. Filled with letters so compression has work. */
    char *payload = malloc((size_t)o->record_size + 1);
    if (!payload)
        rn_cli_die("out of memory");
    uint32_t seed = 12345u + (uint32_t)p->index;
    for (int i = 0; i < o->record_size; i++) {
        seed = seed * 1103515245u + 12345u;
        payload[i] = (char)('A' + (seed >> 16) % 26);
    }
    int stamp = o->mode == MODE_E2E;
    for (long long i = 0; i < p->records && !rn_cli_stop; i++) {
        if (p->rate > 0) {
            uint64_t due = p->t0_ns + (uint64_t)((double)i * 1e9 / p->rate);
            for (uint64_t now; (now = rn_cli_mono_ns()) < due;) {
                rd_kafka_poll(rk, 0);
                uint64_t wait = due - now;
                struct timespec ts = {0, (long)(wait < 1000000 ? wait : 1000000)};
                nanosleep(&ts, NULL);
            }
        }
        int32_t part = (int32_t)((i * o->producers + p->index) % p->nparts);
        for (;;) {
            uint64_t now = rn_cli_mono_ns();
            if (stamp) {
                uint64_t w = wall_ns();
                memcpy(payload, &w, E2E_STAMP_BYTES);
            }
            if (rd_kafka_produce(rkt, part, stamp ? RD_KAFKA_MSG_F_COPY : 0, payload, (size_t)o->record_size, NULL,
                                 0, (void *)(uintptr_t)now) == 0)
                break;
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rn_cli_die("produce: %s", rd_kafka_err2str(e));
            rd_kafka_poll(rk, 1);
            if (now > p->deadline_ns || rn_cli_stop)
                goto drain;
        }
        atomic_fetch_add(&p->sent, 1);
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
drain:
    while (atomic_load(&p->acked) + atomic_load(&p->failed) < atomic_load(&p->sent) && !rn_cli_stop &&
           rn_cli_mono_ns() < p->deadline_ns)
        rd_kafka_poll(rk, 50);
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk, 0);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(payload);
    return NULL;
}

/* ---------------------------------------------------------------- consumer */

typedef struct consumer {
    pthread_t tid;
    const bench_opts *o;
    rd_kafka_t *rk;
    long long records;
    uint64_t deadline_ns, first_ns, end_ns;
    atomic_llong received, bytes;
    hist *lat; /* e2e only */
    int64_t *lo, *hi; /* mock only: watermarks, to wrap around */
    int nparts;
    char first_err[256];
} consumer;

static void *consumer_run(void *arg)
{
    consumer *c = arg;
    int e2e = c->o->mode == MODE_E2E;
    while (atomic_load(&c->received) < c->records && !rn_cli_stop && rn_cli_mono_ns() < c->deadline_ns) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            if (e2e && m->len >= E2E_STAMP_BYTES) {
                uint64_t sent;
                memcpy(&sent, m->payload, E2E_STAMP_BYTES);
                uint64_t now = wall_ns();
                hist_add(c->lat, now > sent ? now - sent : 0);
            }
            if (!c->first_ns)
                c->first_ns = rn_cli_mono_ns();
            /* The mock keeps only the newest ~5 MB of a partition, so a long
             * consume run reads it round and round: back to the start at its end. */
            if (c->lo && m->partition >= 0 && m->partition < c->nparts && m->offset == c->hi[m->partition] - 1) {
                rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(seek, c->o->topic, m->partition)->offset = c->lo[m->partition];
                rd_kafka_error_t *se = rd_kafka_seek_partitions(c->rk, seek, rn_cli_g.timeout_ms);
                if (se)
                    rn_cli_die("seek: %s", rd_kafka_error_string(se));
                rd_kafka_topic_partition_list_destroy(seek);
            }
            atomic_fetch_add(&c->bytes, (long long)m->len);
            atomic_fetch_add(&c->received, 1);
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && !c->first_err[0]) {
            snprintf(c->first_err, sizeof(c->first_err), "%s", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    c->end_ns = rn_cli_mono_ns();
    return NULL;
}

/* A consumer assigned to every partition of the topic from `from`
 * (RD_KAFKA_OFFSET_BEGINNING, or the current end when from_end). */
static rd_kafka_t *consumer_new(const bench_opts *o, int from_end, long long *available, consumer *c)
{
    rd_kafka_conf_t *conf = bench_conf(o);
    rn_cli_conf_set(conf, "group.id", "runnel-bench");
    rn_cli_conf_set(conf, "enable.auto.commit", "false");
    rn_cli_conf_set(conf, "enable.auto.offset.store", "false");
    rn_cli_conf_default(conf, "fetch.wait.max.ms", "10");
    /* librdkafka 2.0 stops fetching once its queue passes queued.min.messages. */
    rn_cli_conf_default(conf, "queued.min.messages", "10000000");
    rn_cli_conf_default(conf, "queued.max.messages.kbytes", "1048576");
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_CONSUMER, conf);
    rd_kafka_poll_set_consumer(rk);
    int nparts = wait_topic(rk, o->topic, rn_cli_mono_ns() + 20000000000ull);
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(nparts);
    *available = 0;
    c->nparts = nparts;
    c->lo = calloc((size_t)nparts, sizeof(int64_t));
    c->hi = calloc((size_t)nparts, sizeof(int64_t));
    if (!c->lo || !c->hi)
        rn_cli_die("out of memory");
    for (int p = 0; p < nparts; p++) {
        int64_t low, high;
        rn_cli_watermarks(rk, o->topic, p, &low, &high);
        c->lo[p] = low;
        c->hi[p] = high;
        *available += high - low;
        /* An explicit end offset, not OFFSET_END: records produced before
         * the consumer's first fetch must not be skipped. */
        rd_kafka_topic_partition_list_add(tpl, o->topic, p)->offset = from_end ? high : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, tpl);
    if (err)
        rn_cli_die("assign: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(tpl);
    return rk;
}

/* ---------------------------------------------------------------- run */

typedef struct result {
    long long records, ok, failed, bytes;
    double elapsed_s, startup_s, cpu_s, mock_cpu_s;
    double start_unix_s, end_unix_s; /* wall clock of the measured span, to merge processes */
    hist *ack, *e2e;
    char error[256];
} result;

static void live_line(const bench_opts *o, double t_s, long long n, long long prev, long long bytes,
                      long long prev_bytes, long long inflight)
{
    if (o->quiet)
        return;
    fprintf(stderr, "%6.1fs  %10.0f rec/s  %8.2f MB/s  total %lld", t_s, (double)(n - prev),
            (double)(bytes - prev_bytes) / 1048576.0, n);
    if (inflight >= 0)
        fprintf(stderr, "  in flight %lld", inflight);
    fputc('\n', stderr);
}

static void run(const bench_opts *o, int nparts, result *r)
{
    producer *ps = calloc((size_t)o->producers, sizeof(*ps));
    consumer c;
    memset(&c, 0, sizeof(c));
    memset(r, 0, sizeof(*r));
    r->ack = calloc(1, sizeof(hist));
    r->e2e = calloc(1, sizeof(hist));
    if (!ps || !r->ack || !r->e2e)
        rn_cli_die("out of memory");
    int produce = o->mode != MODE_CONSUME, consume = o->mode != MODE_PRODUCE;
    long long available = 0;
    if (consume) {
        c.o = o;
        c.rk = consumer_new(o, o->mode == MODE_E2E, &available, &c);
        if (!(o->is_mock && o->mode == MODE_CONSUME)) {
            free(c.lo);
            free(c.hi);
            c.lo = c.hi = NULL;
        }
        c.lat = r->e2e;
        c.records = o->records;
        if (o->mode == MODE_CONSUME) {
            if (c.records < 0)
                c.records = o->is_mock ? 1000000 : available;
            if (c.records > available && !o->is_mock)
                rn_cli_die("topic '%s' has %lld records, fewer than --records %lld (run `runnel bench produce` first)",
                           o->topic, available, c.records);
            if (c.records == 0)
                rn_cli_die("topic '%s' is empty (run `runnel bench produce` first)", o->topic);
        }
    }
    r->records = consume ? c.records : o->records;

    double mock0, cpu0 = wall_seconds_cpu(&mock0);
    uint64_t wall0 = wall_ns();
    uint64_t t0 = rn_cli_mono_ns(), deadline = t0 + (uint64_t)o->time_limit_s * 1000000000ull;
    c.deadline_ns = deadline;
    if (consume && pthread_create(&c.tid, NULL, consumer_run, &c))
        rn_cli_die("thread: %s", strerror(errno));
    for (int i = 0; produce && i < o->producers; i++) {
        producer *p = &ps[i];
        p->o = o;
        p->index = i;
        p->nparts = nparts;
        p->records = o->records / o->producers + (i < o->records % o->producers);
        p->rate = o->rate / o->producers;
        p->t0_ns = t0;
        p->deadline_ns = deadline;
        p->lat = calloc(1, sizeof(hist));
        if (!p->lat || pthread_create(&p->tid, NULL, producer_run, p))
            rn_cli_die("producer thread: %s", strerror(errno));
    }

    /* Live line each second until every worker is done. */
    long long prev = 0, prev_bytes = 0;
    for (int tick = 1;; tick++) {
        uint64_t next = t0 + (uint64_t)tick * 1000000000ull;
        int done = 0;
        while (!done && rn_cli_mono_ns() < next) {
            long long sent = 0, reported = 0;
            for (int i = 0; produce && i < o->producers; i++) {
                sent += atomic_load(&ps[i].sent);
                reported += atomic_load(&ps[i].acked) + atomic_load(&ps[i].failed);
            }
            int producers_done = !produce || (reported >= o->records) || rn_cli_stop || rn_cli_mono_ns() > deadline;
            int consumer_done = !consume || atomic_load(&c.received) >= c.records || rn_cli_stop ||
                                rn_cli_mono_ns() > deadline;
            done = producers_done && consumer_done;
            if (!done)
                usleep(10000);
        }
        if (done)
            break;
        long long n = 0, bytes = 0, inflight = -1;
        if (consume) {
            n = atomic_load(&c.received);
            bytes = atomic_load(&c.bytes);
        } else {
            inflight = 0;
            for (int i = 0; i < o->producers; i++) {
                long long acked = atomic_load(&ps[i].acked);
                n += acked;
                inflight += atomic_load(&ps[i].sent) - acked - atomic_load(&ps[i].failed);
            }
            bytes = n * o->record_size;
        }
        live_line(o, (double)tick, n, prev, bytes, prev_bytes, inflight);
        prev = n;
        prev_bytes = bytes;
    }

    uint64_t end = t0;
    for (int i = 0; produce && i < o->producers; i++) {
        pthread_join(ps[i].tid, NULL);
        r->ok += atomic_load(&ps[i].acked);
        r->failed += ps[i].records - atomic_load(&ps[i].acked);
        hist_merge(r->ack, ps[i].lat);
        if (ps[i].last_dr_ns > end)
            end = ps[i].last_dr_ns;
        if (!r->error[0] && ps[i].first_err[0])
            snprintf(r->error, sizeof(r->error), "%s", ps[i].first_err);
        free(ps[i].lat);
    }
    if (consume) {
        pthread_join(c.tid, NULL);
        end = c.end_ns;
        /* consume is timed from its first record: connecting and the first
         * fetch are reported apart (startup_s), so short runs compare. */
        if (o->mode == MODE_CONSUME && c.first_ns) {
            r->startup_s = (double)(c.first_ns - t0) / 1e9;
            t0 = c.first_ns;
        }
        r->ok = atomic_load(&c.received);
        r->bytes = atomic_load(&c.bytes);
        if (o->mode == MODE_CONSUME)
            r->failed = c.records - r->ok;
        else if (r->ok < c.records && !r->error[0])
            snprintf(r->error, sizeof(r->error), "received %lld of %lld records", r->ok, c.records);
        if (!r->error[0] && c.first_err[0])
            snprintf(r->error, sizeof(r->error), "%s", c.first_err);
        rd_kafka_consumer_close(c.rk);
        rd_kafka_destroy(c.rk);
        free(c.lo);
        free(c.hi);
    } else {
        r->bytes = r->ok * o->record_size;
    }
    double mock1, cpu1 = wall_seconds_cpu(&mock1);
    r->cpu_s = cpu1 - cpu0;
    r->mock_cpu_s = mock1 - mock0;
    r->elapsed_s = (double)(end > t0 ? end - t0 : 0) / 1e9;
    /* Wall clock of the measured span: wall0 was taken with the first t0. */
    r->start_unix_s = (double)wall0 / 1e9 + r->startup_s;
    r->end_unix_s = r->start_unix_s + r->elapsed_s;
    if (rn_cli_mono_ns() > deadline && !r->error[0])
        snprintf(r->error, sizeof(r->error), "time limit of %d s reached", o->time_limit_s);
    if (rn_cli_stop && !r->error[0])
        snprintf(r->error, sizeof(r->error), "interrupted");
    free(ps);
}

static void print_lat_text(const char *what, const hist *h)
{
    printf("%s latency ms: p50 %.2f  p95 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", what, hist_ms(h, 0.50),
           hist_ms(h, 0.95), hist_ms(h, 0.99), hist_ms(h, 0.999), (double)h->max_us / 1000.0);
}

static void print_lat_json(const char *name, const hist *h)
{
    printf(",\"%s\":{\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f,\"p99_9\":%.3f,\"max\":%.3f}", name, hist_ms(h, 0.50),
           hist_ms(h, 0.95), hist_ms(h, 0.99), hist_ms(h, 0.999), (double)h->max_us / 1000.0);
}

static void report(const bench_opts *o, int nparts, const result *r)
{
    static const char *const modes[] = {"produce", "consume", "e2e"};
    const char *target = o->is_mock ? "mock" : rn_cli_g.brokers;
    double rps = r->elapsed_s > 0 ? (double)r->ok / r->elapsed_s : 0;
    double mbps = r->elapsed_s > 0 ? (double)r->bytes / 1048576.0 / r->elapsed_s : 0;
    if (rn_cli_g.json) {
        printf("{\"mode\":\"%s\",\"target\":", modes[o->mode]);
        rn_json_str(stdout, target, -1);
        printf(",\"topic\":");
        rn_json_str(stdout, o->topic, -1);
        printf(",\"records\":%lld,\"record_size\":%d,\"ok\":%lld,\"failed\":%lld,\"elapsed_s\":%.6f,"
               "\"records_per_s\":%.1f,\"mb_per_s\":%.3f,\"acks\":\"%s\",\"compression\":\"%s\",\"producers\":%d,"
               "\"partitions\":%d,\"rate\":%.0f,\"cpu_s\":%.3f,\"mock_cpu_s\":%.3f",
               r->records, o->record_size, r->ok, r->failed, r->elapsed_s, rps, mbps, o->acks, o->compression,
               o->producers, nparts, o->rate, r->cpu_s, r->mock_cpu_s);
        printf(",\"start_unix_s\":%.6f,\"end_unix_s\":%.6f", r->start_unix_s, r->end_unix_s);
        if (o->mode == MODE_CONSUME)
            printf(",\"startup_s\":%.3f", r->startup_s);
        if (o->mode != MODE_CONSUME)
            print_lat_json("ack_latency_ms", r->ack);
        if (o->mode == MODE_E2E)
            print_lat_json("e2e_latency_ms", r->e2e);
        printf(",\"error\":");
        rn_json_str(stdout, r->error[0] ? r->error : NULL, -1);
        printf("}\n");
        return;
    }
    printf("%s %s: %lld records of %d B in %.3f s: %.0f records/s, %.2f MB/s", modes[o->mode], target, r->ok,
           o->record_size, r->elapsed_s, rps, mbps);
    if (r->failed)
        printf(", %lld failed", r->failed);
    printf("\n  topic %s, %d partition%s", o->topic, nparts, nparts == 1 ? "" : "s");
    if (o->mode != MODE_CONSUME)
        printf(", %d producer%s, acks=%s, compression=%s, %s", o->producers, o->producers == 1 ? "" : "s", o->acks,
               o->compression, o->rate > 0 ? "paced" : "unlimited rate");
    if (o->mode == MODE_CONSUME)
        printf(", first record after %.3f s", r->startup_s);
    printf("; cpu %.2f s", r->cpu_s);
    if (o->is_mock)
        printf(" (mock broker %.2f s)", r->mock_cpu_s);
    printf("\n");
    if (o->mode != MODE_CONSUME)
        print_lat_text("  ack", r->ack);
    if (o->mode == MODE_E2E)
        print_lat_text("  end-to-end", r->e2e);
    if (r->error[0])
        printf("  error: %s\n", r->error);
}

int rn_cmd_bench(int argc, char **argv)
{
    bench_opts o;
    memset(&o, 0, sizeof(o));
    o.topic = "runnel-bench";
    o.records = -1;
    o.record_size = 100;
    o.rate = -1;
    o.acks = "1";
    o.compression = "none";
    o.batch_size = "1000000";
    o.linger_ms = "5";
    o.producers = 1;
    o.partitions = 1;
    o.time_limit_s = 300;

    int v = rn_cli_verb(argc, argv, "bench", bench_help);
    if (!strcmp(argv[v], "produce"))
        o.mode = MODE_PRODUCE;
    else if (!strcmp(argv[v], "consume"))
        o.mode = MODE_CONSUME;
    else if (!strcmp(argv[v], "e2e"))
        o.mode = MODE_E2E;
    else
        rn_cli_usage("bench", "unknown command '%s' (produce, consume or e2e)", argv[v]);
    static char cmd[32];
    snprintf(cmd, sizeof(cmd), "bench %s", argv[v]);

    rn_args a;
    rn_args_init(&a, argc - v, argv + v, cmd, bench_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS)
            rn_cli_usage(a.cmd, "unexpected argument '%s'", a.pos);
        else if (rn_args_is(&a, "--topic", "-t"))
            o.topic = rn_args_value(&a);
        else if (rn_args_is(&a, "--records", NULL))
            o.records = rn_parse_ll(&a, "--records", rn_args_value(&a), 1, 1000000000000ll);
        else if (rn_args_is(&a, "--record-size", NULL))
            o.record_size = (int)rn_parse_ll(&a, "--record-size", rn_args_value(&a), 0, BENCH_RECORD_BYTES_MAX);
        else if (rn_args_is(&a, "--rate", NULL))
            o.rate = (double)rn_parse_ll(&a, "--rate", rn_args_value(&a), 0, 1000000000);
        else if (rn_args_is(&a, "--acks", NULL)) {
            o.acks = rn_args_value(&a);
            if (strcmp(o.acks, "0") && strcmp(o.acks, "1") && strcmp(o.acks, "all") && strcmp(o.acks, "-1"))
                rn_cli_usage(a.cmd, "--acks must be 0, 1 or all, got '%s'", o.acks);
        } else if (rn_args_is(&a, "--compression", NULL))
            o.compression = rn_args_value(&a);
        else if (rn_args_is(&a, "--batch-size", NULL)) {
            o.batch_size = rn_args_value(&a);
            rn_parse_ll(&a, "--batch-size", o.batch_size, 1, 2147483647);
        } else if (rn_args_is(&a, "--linger-ms", NULL)) {
            o.linger_ms = rn_args_value(&a);
            rn_parse_ll(&a, "--linger-ms", o.linger_ms, 0, 900000);
        } else if (rn_args_is(&a, "--producers", NULL))
            o.producers = (int)rn_parse_ll(&a, "--producers", rn_args_value(&a), 1, BENCH_PRODUCERS_MAX);
        else if (rn_args_is(&a, "--partitions", NULL))
            o.partitions = (int)rn_parse_ll(&a, "--partitions", rn_args_value(&a), 1, 100000);
        else if (rn_args_is(&a, "--time-limit", NULL))
            o.time_limit_s = (int)rn_parse_ll(&a, "--time-limit", rn_args_value(&a), 1, 86400);
        else if (rn_args_is(&a, "--quiet", "-q"))
            o.quiet = 1;
        else
            rn_args_unknown(&a);
    }
    if (o.records < 0 && o.mode != MODE_CONSUME)
        o.records = o.mode == MODE_E2E ? 50000 : 1000000;
    if (o.rate < 0)
        o.rate = o.mode == MODE_E2E ? 10000 : 0;
    if (o.mode == MODE_E2E && o.record_size < E2E_STAMP_BYTES)
        rn_cli_usage(a.cmd, "--record-size must be at least %d for e2e (the send time is in the record)",
                     E2E_STAMP_BYTES);
    /* Checked here, so a bad codec is a usage error, not a thread's death. */
    rd_kafka_conf_t *check = rd_kafka_conf_new();
    char err[512];
    if (rd_kafka_conf_set(check, "compression.codec", o.compression, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        rn_cli_usage(a.cmd, "--compression: %s", err);
    rd_kafka_conf_destroy(check);

    o.is_mock = !strcmp(rn_cli_g.brokers, "mock");
    o.bootstrap = rn_cli_g.brokers;
    rd_kafka_t *mock_rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    if (o.is_mock) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, rn_cli_log_cb);
        mock_rk = rn_cli_new(RD_KAFKA_PRODUCER, conf);
        mc = rd_kafka_mock_cluster_new(mock_rk, 1);
        if (!mc)
            rn_cli_die("cannot start librdkafka's mock cluster");
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, o.topic, o.partitions, 1);
        if (e)
            rn_cli_die("mock topic '%s': %s", o.topic, rd_kafka_err2str(e));
        o.bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    }
    rn_cli_catch_signals();
    int nparts = o.is_mock ? o.partitions : ensure_topic(&o);

    if (o.is_mock && o.mode == MODE_CONSUME) {
        /* Fill the in-process topic first, untimed and unreported. */
        bench_opts fill = o;
        result fr;
        fill.mode = MODE_PRODUCE;
        /* The mock keeps ~5 MB per partition; reads wrap around it. */
        fill.records = 100000;
        fill.rate = 0;
        fill.quiet = 1;
        run(&fill, nparts, &fr);
        if (fr.failed)
            rn_cli_die("filling the mock topic: %lld records failed: %s", fr.failed, fr.error);
        free(fr.ack);
        free(fr.e2e);
    }

    result r;
    run(&o, nparts, &r);
    report(&o, nparts, &r);
    fflush(stdout);
    free(r.ack);
    free(r.e2e);
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (mock_rk)
        rd_kafka_destroy(mock_rk);
    return r.failed || r.error[0] ? RN_EXIT_ERROR : RN_EXIT_OK;
}

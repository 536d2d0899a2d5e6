/*
 * produce.c - `runnel produce TOPIC`: records from stdin, one per line (or
 * per --delimiter), to a topic through a librdkafka producer.
 *
 * Each record is split into key/value by --key-separator, or parsed by a
 * --format template (%k key, %v value, %p partition, %T timestamp in ms,
 * %h headers as k=v,k=v, %% a percent sign; text between them must match).
 * Delivery failures are reported per record (the first ones) and counted;
 * any failure makes the exit status 1.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define PRODUCE_HEADERS_MAX 64
#define PRODUCE_RECORD_BYTES_MAX (64 << 20)
#define PRODUCE_READ_BYTES 65536
#define PRODUCE_FORMAT_PIECES_MAX 32
#define PRODUCE_ERRORS_SHOWN 10

static const char produce_help[] =
    "usage: runnel produce TOPIC [options] < records\n"
    "\n"
    "Reads records from stdin, one per line, and produces them to TOPIC.\n"
    "  --delimiter STR         record separator instead of a newline (escapes: \\n \\t \\0 \\xHH)\n"
    "  --key-separator STR     split each record into key and value at the first STR\n"
    "  --format TEMPLATE       parse each record by a template: %k key, %v value, %p partition,\n"
    "                          %T timestamp (ms), %h headers (k=v,k=v), %% percent;\n"
    "                          other text must match literally\n"
    "  --header KEY=VALUE      add a header to every record (repeatable)\n"
    "  --partition N           produce to partition N (default: hash of the key, or sticky)\n"
    "  --acks 0|1|all          acknowledgements to wait for (default all)\n"
    "  --compression CODEC     none, gzip, snappy, lz4 or zstd (default none)\n"
    "  --idempotent            enable the idempotent producer\n"
    "\n"
    "Prints a summary (--output json: one JSON object); on a terminal, a progress line.\n"
    "Exit status 1 if any record was not delivered; the first failures are named.\n"
    "\n"
    "Examples:\n"
    "  printf 'one\\ntwo\\n' | runnel produce orders\n"
    "  printf 'k1:v1\\n' | runnel produce orders --key-separator : --header source=cli\n"
    "  printf '0 1700000000000 k1=v1\\n' | runnel produce orders --format '%p %T %k=%v'\n";

enum piece_kind { P_LIT, P_KEY, P_VALUE, P_PARTITION, P_TIMESTAMP, P_HEADERS };

typedef struct piece {
    enum piece_kind kind;
    const char *lit; /* P_LIT: into the format copy */
    size_t len;
} piece;

typedef struct produce_opts {
    const char *topic;
    char delim[64];
    long delim_len;
    const char *key_sep;
    piece fmt[PRODUCE_FORMAT_PIECES_MAX];
    int nfmt;
    char *fmt_text; /* the template's copy that P_LIT pieces point into */
    const char *headers[PRODUCE_HEADERS_MAX];
    int nheaders;
    int32_t partition;
    const char *acks;
    const char *compression;
    int idempotent;
} produce_opts;

typedef struct produce_state {
    long long sent, delivered, failed;
    int tty;
} produce_state;

/* One parsed record; pointers into the input buffer. */
typedef struct record {
    const char *key, *value, *headers;
    size_t key_len, value_len, headers_len;
    int32_t partition;
    int64_t timestamp_ms;
} record;

static void parse_format(rn_args *a, const char *tmpl, produce_opts *o)
{
    char *copy = strdup(tmpl);
    char *p = copy, *lit = copy;
    size_t litlen = 0;
    if (!copy)
        rn_cli_die("out of memory");
    free(o->fmt_text);
    o->fmt_text = copy;
    o->nfmt = 0;
    for (; *p; p++) {
        if (*p != '%') {
            lit[litlen++] = *p;
            continue;
        }
        enum piece_kind kind;
        switch (p[1]) {
        case 'k': kind = P_KEY; break;
        case 'v': kind = P_VALUE; break;
        case 'p': kind = P_PARTITION; break;
        case 'T': kind = P_TIMESTAMP; break;
        case 'h': kind = P_HEADERS; break;
        case '%': lit[litlen++] = '%'; p++; continue;
        default: rn_cli_usage(a->cmd, "--format: unknown conversion '%%%c' (use %%k %%v %%p %%T %%h %%%%)", p[1] ? p[1] : ' ');
        }
        if (o->nfmt + 2 > PRODUCE_FORMAT_PIECES_MAX)
            rn_cli_usage(a->cmd, "--format: too many pieces");
        if (litlen) {
            o->fmt[o->nfmt++] = (piece){P_LIT, lit, litlen};
            lit += litlen;
            litlen = 0;
        } else if (o->nfmt && o->fmt[o->nfmt - 1].kind != P_LIT) {
            rn_cli_usage(a->cmd, "--format: two conversions need text between them");
        }
        o->fmt[o->nfmt++] = (piece){kind, NULL, 0};
        lit = p + 2;
        p++;
    }
    if (litlen && o->nfmt < PRODUCE_FORMAT_PIECES_MAX)
        o->fmt[o->nfmt++] = (piece){P_LIT, lit, litlen};
    int has_value = 0;
    for (int i = 0; i < o->nfmt; i++)
        has_value |= o->fmt[i].kind == P_VALUE;
    if (!has_value)
        rn_cli_usage(a->cmd, "--format needs %%v");
}

static int parse_i64(const char *s, size_t n, int64_t min, int64_t *out)
{
    char buf[32];
    char *end;
    if (!n || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    long long v = strtoll(buf, &end, 10);
    if (*end || v < min)
        return -1;
    *out = v;
    return 0;
}

/* Splits data[0, n) into a record by the format or the key separator;
 * returns 0, or -1 with why set. */
static int parse_record(const produce_opts *o, const char *data, size_t n, record *r, const char **why)
{
    memset(r, 0, sizeof(*r));
    r->partition = o->partition;
    if (!o->nfmt) {
        const char *sep = o->key_sep ? memmem(data, n, o->key_sep, strlen(o->key_sep)) : NULL;
        if (o->key_sep && !sep) {
            *why = "no key separator";
            return -1;
        }
        if (sep) {
            r->key = data;
            r->key_len = (size_t)(sep - data);
            data = sep + strlen(o->key_sep);
            n -= r->key_len + strlen(o->key_sep);
        }
        r->value = data;
        r->value_len = n;
        return 0;
    }
    const char *p = data, *end = data + n;
    for (int i = 0; i < o->nfmt; i++) {
        const piece *pc = &o->fmt[i];
        if (pc->kind == P_LIT) {
            if ((size_t)(end - p) < pc->len || memcmp(p, pc->lit, pc->len)) {
                *why = "does not match --format";
                return -1;
            }
            p += pc->len;
            continue;
        }
        const char *stop = end;
        if (i + 1 < o->nfmt) {
            stop = memmem(p, (size_t)(end - p), o->fmt[i + 1].lit, o->fmt[i + 1].len);
            if (!stop) {
                *why = "does not match --format";
                return -1;
            }
        }
        size_t len = (size_t)(stop - p);
        int64_t v;
        switch (pc->kind) {
        case P_KEY: r->key = p; r->key_len = len; break;
        case P_VALUE: r->value = p; r->value_len = len; break;
        case P_HEADERS: r->headers = p; r->headers_len = len; break;
        case P_PARTITION:
            if (parse_i64(p, len, 0, &v) || v > INT32_MAX) {
                *why = "bad partition for %p";
                return -1;
            }
            r->partition = (int32_t)v;
            break;
        case P_TIMESTAMP:
            if (parse_i64(p, len, 0, &v)) {
                *why = "bad timestamp for %T";
                return -1;
            }
            r->timestamp_ms = v;
            break;
        case P_LIT: break;
        }
        p = stop;
    }
    if (p != end) {
        *why = "does not match --format (text left over)";
        return -1;
    }
    return 0;
}

/* Adds "k=v,k=v" headers; returns 0 or -1 when one has no '='. */
static int add_header_list(rd_kafka_headers_t *hdrs, const char *s, size_t n)
{
    const char *end = s + n;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        const char *eq = memchr(s, '=', (size_t)(stop - s));
        if (!eq || eq == s)
            return -1;
        rd_kafka_header_add(hdrs, s, eq - s, eq + 1, stop - eq - 1);
        s = comma ? comma + 1 : end;
    }
    return 0;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    produce_state *st = opaque;
    st->delivered++;
    if (!m->err)
        return;
    if (st->failed++ < PRODUCE_ERRORS_SHOWN)
        fprintf(stderr, "%srunnel: record %lld: not delivered to %s/%d: %s\n", st->tty ? "\r\033[K" : "",
                (long long)(intptr_t)m->_private, rd_kafka_topic_name(m->rkt), (int)m->partition,
                rd_kafka_err2str(m->err));
}

static void progress(produce_state *st, uint64_t *next_ns, int final)
{
    uint64_t now = rn_cli_mono_ns();
    if (!st->tty || (!final && now < *next_ns))
        return;
    *next_ns = now + 1000000000ull;
    fprintf(stderr, "\r\033[K%lld records sent, %lld delivered, %lld failed%s", st->sent, st->delivered - st->failed,
            st->failed, final ? "\r\033[K" : "");
}

static void produce_one(rd_kafka_t *rk, const produce_opts *o, const record *r, long long recno, produce_state *st)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (o->nheaders || r->headers_len) {
        hdrs = rd_kafka_headers_new((size_t)o->nheaders + 4);
        for (int i = 0; i < o->nheaders; i++) {
            const char *eq = strchr(o->headers[i], '=');
            rd_kafka_header_add(hdrs, o->headers[i], eq - o->headers[i], eq + 1, -1);
        }
        if (r->headers_len && add_header_list(hdrs, r->headers, r->headers_len)) {
            fprintf(stderr, "runnel: record %lld: bad headers for %%h (want k=v,k=v)\n", recno);
            st->failed++;
            st->sent++;
            st->delivered++;
            rd_kafka_headers_destroy(hdrs);
            return;
        }
    }
    rd_kafka_vu_t vu[8];
    size_t n = 0;
    memset(vu, 0, sizeof(vu));
    vu[n].vtype = RD_KAFKA_VTYPE_TOPIC, vu[n++].u.cstr = o->topic;
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION, vu[n++].u.i32 = r->partition;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS, vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE, vu[n].u.mem.ptr = (void *)r->value, vu[n++].u.mem.size = r->value_len;
    vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP, vu[n++].u.i64 = r->timestamp_ms;
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE, vu[n++].u.ptr = (void *)(intptr_t)recno;
    if (r->key)
        vu[n].vtype = RD_KAFKA_VTYPE_KEY, vu[n].u.mem.ptr = (void *)r->key, vu[n++].u.mem.size = r->key_len;
    if (hdrs)
        vu[n].vtype = RD_KAFKA_VTYPE_HEADERS, vu[n++].u.headers = hdrs;
    for (;;) {
        rd_kafka_error_t *error = rd_kafka_produceva(rk, vu, n);
        if (!error)
            break;
        if (rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_error_destroy(error);
            rd_kafka_poll(rk, 10);
            continue;
        }
        rn_cli_die("record %lld: %s", recno, rd_kafka_error_string(error));
    }
    st->sent++;
    rd_kafka_poll(rk, 0);
}

int rn_cmd_produce(int argc, char **argv)
{
    rn_args a;
    produce_opts o;
    memset(&o, 0, sizeof(o));
    o.delim[0] = '\n';
    o.delim_len = 1;
    o.partition = RD_KAFKA_PARTITION_UA;
    o.acks = "all";
    o.compression = "none";
    rn_args_init(&a, argc, argv, "produce", produce_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS) {
            if (o.topic)
                rn_cli_usage(a.cmd, "one topic at a time");
            o.topic = a.pos;
        } else if (rn_args_is(&a, "--delimiter", "-D")) {
            const char *v = rn_args_value(&a);
            o.delim_len = rn_unescape(v, o.delim, sizeof(o.delim));
            if (o.delim_len <= 0)
                rn_cli_usage(a.cmd, "bad --delimiter '%s'", v);
        } else if (rn_args_is(&a, "--key-separator", "-K")) {
            o.key_sep = rn_args_value(&a);
            if (!*o.key_sep)
                rn_cli_usage(a.cmd, "--key-separator must not be empty");
        } else if (rn_args_is(&a, "--format", "-f")) {
            parse_format(&a, rn_args_value(&a), &o);
        } else if (rn_args_is(&a, "--header", "-H")) {
            const char *v = rn_args_value(&a);
            if (!strchr(v, '=') || v[0] == '=')
                rn_cli_usage(a.cmd, "--header needs KEY=VALUE, got '%s'", v);
            if (o.nheaders == PRODUCE_HEADERS_MAX)
                rn_cli_usage(a.cmd, "at most %d headers", PRODUCE_HEADERS_MAX);
            o.headers[o.nheaders++] = v;
        } else if (rn_args_is(&a, "--partition", "-p")) {
            o.partition = (int32_t)rn_parse_ll(&a, "--partition", rn_args_value(&a), 0, INT32_MAX);
        } else if (rn_args_is(&a, "--acks", NULL)) {
            o.acks = rn_args_value(&a);
            if (strcmp(o.acks, "0") && strcmp(o.acks, "1") && strcmp(o.acks, "all") && strcmp(o.acks, "-1"))
                rn_cli_usage(a.cmd, "--acks must be 0, 1 or all, got '%s'", o.acks);
        } else if (rn_args_is(&a, "--compression", "-z")) {
            o.compression = rn_args_value(&a);
        } else if (rn_args_is(&a, "--idempotent", NULL)) {
            o.idempotent = 1;
        } else {
            rn_args_unknown(&a);
        }
    }
    if (!o.topic)
        rn_cli_usage(a.cmd, "a topic is required");
    if (o.nfmt && o.key_sep)
        rn_cli_usage(a.cmd, "--format and --key-separator do not go together (use %%k in the format)");

    produce_state st;
    memset(&st, 0, sizeof(st));
    st.tty = isatty(STDERR_FILENO);
    rd_kafka_conf_t *conf = rn_cli_conf();
    rn_cli_conf_set(conf, "acks", o.acks);
    rn_cli_conf_set(conf, "compression.codec", o.compression);
    rn_cli_conf_set(conf, "enable.idempotence", o.idempotent ? "true" : "false");
    rn_cli_conf_default(conf, "linger.ms", "5");
    char tmo[32];
    snprintf(tmo, sizeof(tmo), "%d", rn_cli_g.timeout_ms < 30000 ? 30000 : rn_cli_g.timeout_ms);
    rn_cli_conf_default(conf, "message.timeout.ms", tmo);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, conf);

    const struct rd_kafka_metadata *md = rn_cli_metadata(rk);
    int nparts = rn_cli_require_topic(md, o.topic)->partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (o.partition != RD_KAFKA_PARTITION_UA && o.partition >= nparts)
        rn_cli_die("topic '%s' has %d partitions; partition %d does not exist", o.topic, nparts, (int)o.partition);

    rn_cli_catch_signals();
    /* buf holds [0, len): bytes read but not yet cut into records. */
    size_t cap = PRODUCE_READ_BYTES * 2, len = 0, scan = 0;
    char *buf = malloc(cap);
    if (!buf)
        rn_cli_die("out of memory");
    long long recno = 0, bad = 0;
    uint64_t next_progress = rn_cli_mono_ns() + 1000000000ull;
    int eof = 0;
    while (!rn_cli_stop) {
        char *hit = len > scan ? memmem(buf + scan, len - scan, o.delim, (size_t)o.delim_len) : NULL;
        if (!hit && !eof) {
            scan = len >= (size_t)o.delim_len ? len - (size_t)o.delim_len + 1 : 0;
            if (cap - len < PRODUCE_READ_BYTES) {
                if (cap >= PRODUCE_RECORD_BYTES_MAX)
                    rn_cli_die("record %lld: longer than %d bytes (is --delimiter right?)", recno + 1,
                               PRODUCE_RECORD_BYTES_MAX);
                cap *= 2;
                buf = realloc(buf, cap);
                if (!buf)
                    rn_cli_die("out of memory");
            }
            ssize_t r = read(STDIN_FILENO, buf + len, cap - len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                rn_cli_die("reading stdin: %s", strerror(errno));
            if (r == 0)
                eof = 1;
            len += (size_t)r;
            rd_kafka_poll(rk, 0);
            progress(&st, &next_progress, 0);
            continue;
        }
        size_t rec_len = hit ? (size_t)(hit - buf) : len;
        if (!hit && rec_len == 0)
            break; /* end of input; a trailing delimiter makes no empty record */
        recno++;
        record r;
        const char *why = NULL;
        if (parse_record(&o, buf, rec_len, &r, &why) < 0) {
            fprintf(stderr, "%srunnel: record %lld: %s; skipped\n", st.tty ? "\r\033[K" : "", recno, why);
            bad++;
        } else if (r.partition != RD_KAFKA_PARTITION_UA && r.partition >= nparts) {
            fprintf(stderr, "runnel: record %lld: partition %d does not exist (topic '%s' has %d); skipped\n",
                    recno, (int)r.partition, o.topic, nparts);
            bad++;
        } else {
            produce_one(rk, &o, &r, recno, &st);
        }
        size_t used = hit ? rec_len + (size_t)o.delim_len : len;
        memmove(buf, buf + used, len - used);
        len -= used;
        scan = 0;
        progress(&st, &next_progress, 0);
    }
    free(buf);
    uint64_t deadline = rn_cli_mono_ns() + (uint64_t)(rn_cli_g.timeout_ms < 30000 ? 30000 : rn_cli_g.timeout_ms) *
                                               1000000ull + 5000000000ull;
    while (rd_kafka_outq_len(rk) > 0 && rn_cli_mono_ns() < deadline) {
        rd_kafka_poll(rk, 100);
        progress(&st, &next_progress, 0);
    }
    progress(&st, &next_progress, 1);
    long long undelivered = st.sent - st.delivered;
    long long ok = st.delivered - st.failed;
    long long failed = st.failed + undelivered + bad;
    if (st.failed > PRODUCE_ERRORS_SHOWN)
        fprintf(stderr, "runnel: ... and %lld more delivery failures\n", st.failed - PRODUCE_ERRORS_SHOWN);
    if (rn_cli_g.json) {
        printf("{\"topic\":");
        rn_json_str(stdout, o.topic, -1);
        printf(",\"records\":%lld,\"produced\":%lld,\"failed\":%lld}\n", recno, ok, failed);
    } else {
        printf("produced %lld record%s to '%s'", ok, ok == 1 ? "" : "s", o.topic);
        if (failed)
            printf(", %lld failed", failed);
        printf("\n");
    }
    if (undelivered) {
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        fprintf(stderr, "runnel: %lld records not acknowledged within the timeout\n", undelivered);
    }
    rd_kafka_destroy(rk);
    free(o.fmt_text);
    return failed ? RN_EXIT_ERROR : RN_EXIT_OK;
}

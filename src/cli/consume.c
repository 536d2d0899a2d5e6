/*
 * consume.c - `runnel consume TOPIC...`: reads records and prints them with
 * a kcat-style --format template or as JSON lines.
 *
 * Without --group the partitions are assigned by hand (no coordinator, no
 * commits) and --offset says where each one starts. With --group the topics
 * are subscribed to, the group's committed offsets are used, offsets are
 * committed as records are printed, and --offset beginning|end only says
 * where to start when the group has no committed offset.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define CONSUME_TOPICS_MAX 64
#define CONSUME_PARTITIONS_MAX 1024

static const char consume_help[] =
    "usage: runnel consume TOPIC... [options]\n"
    "\n"
    "  --offset WHERE        beginning (default), end, N (absolute), -N (N before the end),\n"
    "                        or @TIMESTAMP_MS (the first record at or after it)\n"
    "  -g, --group GROUP     consume as a member of GROUP: its committed offsets are used\n"
    "                        and advanced; --offset then applies only where none is committed\n"
    "  -n, --count N         exit after N records\n"
    "  -e, --exit-at-end     exit once every partition is read to its end\n"
    "  -p, --partition N     only partition N (repeatable; without --group)\n"
    "  -f, --format TEMPLATE output template (default '%v\\n'): %v or %s value, %k key,\n"
    "                        %h headers (k=v,k=v), %t topic, %p partition, %o offset,\n"
    "                        %T timestamp (ms), %S value size, %K key size, %% percent;\n"
    "                        escapes \\n \\t \\\\\n"
    "  --isolation LEVEL     read_uncommitted (default) or read_committed\n"
    "  --output json         one JSON object per record instead of the template\n"
    "\n"
    "Ctrl-C stops cleanly (exit 0).\n"
    "\n"
    "Examples:\n"
    "  runnel consume orders --exit-at-end\n"
    "  runnel consume orders --offset -10 --format '%p/%o %k=%v\\n' -n 10\n"
    "  runnel consume orders --offset @1700000000000 --output json -e\n"
    "  runnel consume orders --group billing\n";

typedef struct consume_opts {
    const char *topics[CONSUME_TOPICS_MAX];
    int ntopics;
    const char *offset;
    const char *group;
    long long count;
    int exit_at_end;
    int32_t partitions[CONSUME_PARTITIONS_MAX];
    int npartitions;
    const char *format;
    const char *isolation;
} consume_opts;

/* Partitions read to their end (for --exit-at-end): one flag per partition
 * per topic; a record clears its partition's flag. */
typedef struct eof_map {
    unsigned char *flags[CONSUME_TOPICS_MAX];
    int counts[CONSUME_TOPICS_MAX];
} eof_map;

static int topic_index(const consume_opts *o, const char *topic)
{
    for (int i = 0; i < o->ntopics; i++)
        if (!strcmp(o->topics[i], topic))
            return i;
    return -1;
}

static void eof_set(eof_map *m, const consume_opts *o, const char *topic, int32_t partition, int v)
{
    int t = topic_index(o, topic);
    if (t >= 0 && partition >= 0 && partition < m->counts[t])
        m->flags[t][partition] = (unsigned char)v;
}

/* 1 when every partition in the consumer's current assignment is at its end. */
static int all_at_end(rd_kafka_t *rk, const eof_map *m, const consume_opts *o)
{
    rd_kafka_topic_partition_list_t *as = NULL;
    if (rd_kafka_assignment(rk, &as) || !as)
        return 0;
    int done = as->cnt > 0;
    for (int i = 0; i < as->cnt && done; i++) {
        int t = topic_index(o, as->elems[i].topic);
        int32_t p = as->elems[i].partition;
        done = t >= 0 && p >= 0 && p < m->counts[t] && m->flags[t][p];
    }
    rd_kafka_topic_partition_list_destroy(as);
    return done;
}

static void put_headers(const rd_kafka_message_t *msg, FILE *f, int json)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (json)
        fputc('{', f);
    if (!rd_kafka_message_headers(msg, &hdrs)) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
            if (json) {
                fputs(i ? "," : "", f);
                rn_json_str(f, name, -1);
                fputc(':', f);
                rn_json_str(f, val, val ? (long)size : -1);
            } else {
                fprintf(f, "%s%s=", i ? "," : "", name);
                if (val)
                    fwrite(val, 1, size, f);
            }
        }
    }
    if (json)
        fputc('}', f);
}

static void print_json(const rd_kafka_message_t *m, FILE *f)
{
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    fputs("{\"topic\":", f);
    rn_json_str(f, rd_kafka_topic_name(m->rkt), -1);
    fprintf(f, ",\"partition\":%d,\"offset\":%lld,\"timestamp\":%lld,\"key\":", (int)m->partition,
            (long long)m->offset, (long long)ts);
    rn_json_str(f, m->key, m->key ? (long)m->key_len : -1);
    fputs(",\"value\":", f);
    rn_json_str(f, m->payload, m->payload ? (long)m->len : -1);
    fputs(",\"headers\":", f);
    put_headers(m, f, 1);
    fputs("}\n", f);
}

static void print_format(const char *fmt, const rd_kafka_message_t *m, FILE *f)
{
    for (const char *p = fmt; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            fputc(*p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p == '0' ? '\0' : *p, f);
            continue;
        }
        if (*p != '%' || !p[1]) {
            fputc(*p, f);
            continue;
        }
        switch (*++p) {
        case 'v':
        case 's':
            if (m->payload)
                fwrite(m->payload, 1, m->len, f);
            break;
        case 'k':
            if (m->key)
                fwrite(m->key, 1, m->key_len, f);
            break;
        case 'S': fprintf(f, "%zu", m->payload ? m->len : 0); break;
        case 'K': fprintf(f, "%zu", m->key ? m->key_len : 0); break;
        case 't': fputs(rd_kafka_topic_name(m->rkt), f); break;
        case 'p': fprintf(f, "%d", (int)m->partition); break;
        case 'o': fprintf(f, "%lld", (long long)m->offset); break;
        case 'T': fprintf(f, "%lld", (long long)rd_kafka_message_timestamp(m, NULL)); break;
        case 'h': put_headers(m, f, 0); break;
        case '%': fputc('%', f); break;
        default: fputc('%', f); fputc(*p, f); break;
        }
    }
}

static void check_format(const rn_args *a, const char *fmt)
{
    for (const char *p = fmt; *p; p++)
        if (*p == '%') {
            if (!p[1] || !strchr("vskSKtpoTh%", p[1]))
                rn_cli_usage(a->cmd, "--format: unknown conversion '%%%c'", p[1] ? p[1] : ' ');
            p++;
        }
}

/* The start offset for every partition of the list, by --offset (manual
 * assignment only). */
static void set_start_offsets(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *tpl, const char *spec)
{
    int64_t off;
    if (!strcmp(spec, "beginning")) {
        off = RD_KAFKA_OFFSET_BEGINNING;
    } else if (!strcmp(spec, "end")) {
        off = RD_KAFKA_OFFSET_END;
    } else if (spec[0] == '@') {
        int64_t ts = rn_parse_ll(NULL, "--offset @TIMESTAMP", spec + 1, 0, INT64_MAX);
        for (int i = 0; i < tpl->cnt; i++)
            tpl->elems[i].offset = ts;
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, tpl, rn_cli_g.timeout_ms);
        if (err)
            rn_cli_die_rpc("offsets for timestamp", err, NULL);
        for (int i = 0; i < tpl->cnt; i++) {
            if (tpl->elems[i].err)
                rn_cli_die("offset for timestamp in %s/%d: %s", tpl->elems[i].topic, (int)tpl->elems[i].partition,
                           rd_kafka_err2str(tpl->elems[i].err));
            /* No record at or after the timestamp: start at the end. */
            if (tpl->elems[i].offset < 0)
                tpl->elems[i].offset = RD_KAFKA_OFFSET_END;
        }
        return;
    } else if (spec[0] == '-') {
        off = RD_KAFKA_OFFSET_TAIL(rn_parse_ll(NULL, "--offset -N", spec + 1, 0, INT64_MAX / 2));
    } else {
        off = rn_parse_ll(NULL, "--offset", spec, 0, INT64_MAX);
    }
    for (int i = 0; i < tpl->cnt; i++)
        tpl->elems[i].offset = off;
}

static int valid_offset_spec(const char *s)
{
    if (!strcmp(s, "beginning") || !strcmp(s, "end"))
        return 1;
    if (*s == '@' || *s == '-')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

int rn_cmd_consume(int argc, char **argv)
{
    rn_args a;
    consume_opts o;
    memset(&o, 0, sizeof(o));
    o.offset = NULL;
    o.count = -1;
    o.format = "%v\\n";
    o.isolation = "read_uncommitted";
    rn_args_init(&a, argc, argv, "consume", consume_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS) {
            if (o.ntopics == CONSUME_TOPICS_MAX)
                rn_cli_usage(a.cmd, "at most %d topics", CONSUME_TOPICS_MAX);
            o.topics[o.ntopics++] = a.pos;
        } else if (rn_args_is(&a, "--offset", NULL)) {
            o.offset = rn_args_value(&a);
            if (!valid_offset_spec(o.offset))
                rn_cli_usage(a.cmd, "--offset must be beginning, end, N, -N or @TIMESTAMP_MS, got '%s'", o.offset);
        } else if (rn_args_is(&a, "--group", "-g")) {
            o.group = rn_args_value(&a);
        } else if (rn_args_is(&a, "--count", "-n")) {
            o.count = rn_parse_ll(&a, "--count", rn_args_value(&a), 1, INT64_MAX);
        } else if (rn_args_is(&a, "--exit-at-end", "-e")) {
            o.exit_at_end = 1;
        } else if (rn_args_is(&a, "--partition", "-p")) {
            if (o.npartitions == CONSUME_PARTITIONS_MAX)
                rn_cli_usage(a.cmd, "at most %d --partition options", CONSUME_PARTITIONS_MAX);
            o.partitions[o.npartitions++] = (int32_t)rn_parse_ll(&a, "--partition", rn_args_value(&a), 0, INT32_MAX);
        } else if (rn_args_is(&a, "--format", "-f")) {
            o.format = rn_args_value(&a);
            check_format(&a, o.format);
        } else if (rn_args_is(&a, "--isolation", NULL)) {
            o.isolation = rn_args_value(&a);
            if (strcmp(o.isolation, "read_committed") && strcmp(o.isolation, "read_uncommitted"))
                rn_cli_usage(a.cmd, "--isolation must be read_committed or read_uncommitted");
        } else {
            rn_args_unknown(&a);
        }
    }
    if (!o.ntopics)
        rn_cli_usage(a.cmd, "a topic is required");
    if (o.group && o.npartitions)
        rn_cli_usage(a.cmd, "--partition does not go with --group (the group assigns partitions)");
    if (o.group && o.offset && strcmp(o.offset, "beginning") && strcmp(o.offset, "end"))
        rn_cli_usage(a.cmd, "with --group, --offset must be beginning or end "
                            "(to move a group's offsets: runnel group reset-offsets)");

    rd_kafka_conf_t *conf = rn_cli_conf();
    rn_cli_conf_set(conf, "group.id", o.group ? o.group : "runnel-cli");
    rn_cli_conf_set(conf, "isolation.level", o.isolation);
    rn_cli_conf_set(conf, "enable.partition.eof", o.exit_at_end ? "true" : "false");
    rn_cli_conf_default(conf, "auto.offset.reset", o.offset && !strcmp(o.offset, "end") ? "latest" : "earliest");
    /* A group commits what was printed: offsets are stored by hand below. */
    rn_cli_conf_set(conf, "enable.auto.offset.store", "false");
    if (!o.group)
        rn_cli_conf_set(conf, "enable.auto.commit", "false");
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_CONSUMER, conf);
    rd_kafka_poll_set_consumer(rk);

    const struct rd_kafka_metadata *md = rn_cli_metadata(rk);
    eof_map eof;
    memset(&eof, 0, sizeof(eof));
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < o.ntopics; t++) {
        const struct rd_kafka_metadata_topic *mt = rn_cli_require_topic(md, o.topics[t]);
        eof.counts[t] = mt->partition_cnt;
        eof.flags[t] = calloc((size_t)mt->partition_cnt + 1, 1);
        if (o.group) {
            rd_kafka_topic_partition_list_add(tpl, o.topics[t], RD_KAFKA_PARTITION_UA);
            continue;
        }
        for (int p = 0; p < mt->partition_cnt; p++) {
            int want = !o.npartitions;
            for (int i = 0; i < o.npartitions; i++)
                want |= o.partitions[i] == mt->partitions[p].id;
            if (want)
                rd_kafka_topic_partition_list_add(tpl, o.topics[t], mt->partitions[p].id);
        }
        for (int i = 0; i < o.npartitions; i++)
            if (o.partitions[i] >= mt->partition_cnt)
                rn_cli_die("topic '%s' has %d partitions; partition %d does not exist", o.topics[t],
                           mt->partition_cnt, (int)o.partitions[i]);
    }
    rd_kafka_metadata_destroy(md);

    rd_kafka_resp_err_t err;
    if (o.group) {
        err = rd_kafka_subscribe(rk, tpl);
    } else {
        set_start_offsets(rk, tpl, o.offset ? o.offset : "beginning");
        err = rd_kafka_assign(rk, tpl);
    }
    if (err)
        rn_cli_die("%s: %s", o.group ? "subscribe" : "assign", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(tpl);

    rn_cli_catch_signals();
    long long seen = 0;
    int rc = RN_EXIT_OK;
    while (!rn_cli_stop && (o.count < 0 || seen < o.count)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            fflush(stdout);
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eof_set(&eof, &o, rd_kafka_topic_name(m->rkt), m->partition, 1);
            rd_kafka_message_destroy(m);
            if (o.exit_at_end && all_at_end(rk, &eof, &o))
                break;
            continue;
        }
        if (m->err) {
            const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
            if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && topic)
                rn_cli_die("topic '%s' does not exist", topic);
            char fatal[512];
            if (rd_kafka_fatal_error(rk, fatal, sizeof(fatal)))
                rn_cli_die("consume: %s", fatal);
            fprintf(stderr, "runnel: consume: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        eof_set(&eof, &o, rd_kafka_topic_name(m->rkt), m->partition, 0);
        if (rn_cli_g.json)
            print_json(m, stdout);
        else
            print_format(o.format, m, stdout);
        if (ferror(stdout)) {
            rc = RN_EXIT_ERROR;
            rn_cli_stop = 1;
        }
        seen++;
        if (o.group)
            rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        rd_kafka_message_destroy(m);
    }
    fflush(stdout);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    for (int t = 0; t < o.ntopics; t++)
        free(eof.flags[t]);
    if (rc)
        fprintf(stderr, "runnel: writing stdout: %s\n", strerror(errno));
    return rc;
}

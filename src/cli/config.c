/*
 * config.c - `runnel config get|set` for broker configs, and the
 * DescribeConfigs/AlterConfigs helpers that `topic describe` and
 * `topic alter-config` share.
 *
 * librdkafka 2.0 (Debian 12) has no IncrementalAlterConfigs (it arrived in
 * 2.2), so a change is sent as a classic AlterConfigs: the resource's whole
 * set of dynamic configs, read first with DescribeConfigs, with the change
 * applied. Two writers racing can lose one's change, as with Kafka's
 * pre-KIP-339 kafka-configs.sh.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define CONFIG_KEYS_MAX 64

static const char config_help[] =
    "usage: runnel config COMMAND [ARGS]\n"
    "\n"
    "  get [KEY...] [--broker ID]             show a broker's configs (all, or the KEYs)\n"
    "  set KEY=VALUE... [--delete KEY]... [--broker ID]\n"
    "                                         change a broker's dynamic configs\n"
    "\n"
    "Topic configs: `runnel topic describe` and `runnel topic alter-config`.\n"
    "\n"
    "Examples:\n"
    "  runnel config get log.retention.hours num.partitions\n"
    "  runnel config set log.cleaner.threads=2 --broker 1\n";

static const char get_help[] =
    "usage: runnel config get [KEY...] [--broker ID]\n"
    "\n"
    "Shows a broker's configs with their sources (--output json: {\"key\": \"value\"}).\n"
    "  --broker ID   the broker to ask (default: the one that answers first)\n"
    "\n"
    "Example:\n"
    "  runnel config get num.partitions\n";

static const char set_help[] =
    "usage: runnel config set KEY=VALUE... [--delete KEY]... [--broker ID]\n"
    "\n"
    "Sets (or deletes) a broker's dynamic configs; its other dynamic configs are kept.\n"
    "  --delete KEY   delete a dynamic config: the broker falls back to its static one\n"
    "  --broker ID    the broker to change (default: the one that answers first)\n"
    "\n"
    "Example:\n"
    "  runnel config set log.retention.ms=3600000\n";

static const char *resource_label(rd_kafka_ResourceType_t type, const char *name)
{
    static char buf[300];
    snprintf(buf, sizeof(buf), "%s '%s'", type == RD_KAFKA_RESOURCE_TOPIC ? "topic" : "broker", name);
    return buf;
}

const rd_kafka_ConfigResource_t *rn_config_describe(rd_kafka_t *rk, rd_kafka_ResourceType_t type, const char *name,
                                                    rd_kafka_event_t **ev_out)
{
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(type, name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rn_cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(rk, &cr, 1, ao, q);
    rd_kafka_event_t *ev = rn_cli_admin_wait(q, "describe configs");
    size_t n = 0;
    const rd_kafka_ConfigResource_t **res =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    if (n != 1)
        rn_cli_die("describe configs of %s: %zu resources in the answer", resource_label(type, name), n);
    rd_kafka_resp_err_t e = rd_kafka_ConfigResource_error(res[0]);
    if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && type == RD_KAFKA_RESOURCE_TOPIC)
        rn_cli_die("topic '%s' does not exist", name);
    if (e)
        rn_cli_die("describe configs of %s: %s", resource_label(type, name),
                   rn_cli_errtext(e, rd_kafka_ConfigResource_error_string(res[0])));
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_ConfigResource_destroy(cr);
    rd_kafka_queue_destroy(q);
    *ev_out = ev;
    return res[0];
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(rd_kafka_ConfigEntry_name(*(const rd_kafka_ConfigEntry_t *const *)a),
                  rd_kafka_ConfigEntry_name(*(const rd_kafka_ConfigEntry_t *const *)b));
}

/* Entries of res sorted by name, filtered by keys (when nkeys > 0) or by
 * all (defaults hidden unless all). Returns the count; *out is malloc'ed. */
static size_t select_entries(const rd_kafka_ConfigResource_t *res, int all, const char *const *keys, int nkeys,
                             const rd_kafka_ConfigEntry_t ***out)
{
    size_t n = 0, m = 0;
    const rd_kafka_ConfigEntry_t **es = rd_kafka_ConfigResource_configs(res, &n);
    const rd_kafka_ConfigEntry_t **sel = calloc(n + 1, sizeof(*sel));
    if (!sel)
        rn_cli_die("out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *name = rd_kafka_ConfigEntry_name(es[i]);
        int keep = all || !rd_kafka_ConfigEntry_is_default(es[i]);
        if (nkeys) {
            keep = 0;
            for (int k = 0; k < nkeys; k++)
                keep |= !strcmp(keys[k], name);
        }
        if (keep)
            sel[m++] = es[i];
    }
    qsort(sel, m, sizeof(*sel), cmp_entry);
    *out = sel;
    return m;
}

static void print_entries(const rd_kafka_ConfigEntry_t **es, size_t n, FILE *f)
{
    if (rn_cli_g.json) {
        fputc('{', f);
        for (size_t i = 0; i < n; i++) {
            fputs(i ? "," : "", f);
            rn_json_str(f, rd_kafka_ConfigEntry_name(es[i]), -1);
            fputc(':', f);
            rn_json_str(f, rd_kafka_ConfigEntry_value(es[i]), -1);
        }
        fputc('}', f);
        return;
    }
    if (!n) {
        fputs("(none)\n", f);
        return;
    }
    static const char *const headers[] = {"NAME", "VALUE", "SOURCE"};
    rn_table t;
    rn_table_init(&t, 3, headers);
    for (size_t i = 0; i < n; i++) {
        const char *v = rd_kafka_ConfigEntry_value(es[i]);
        rn_table_add(&t, "%s", rd_kafka_ConfigEntry_name(es[i]));
        rn_table_add(&t, "%s", rd_kafka_ConfigEntry_is_sensitive(es[i]) ? "(sensitive)" : v ? v : "(null)");
        rn_table_add(&t, "%s", rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(es[i])));
    }
    rn_table_print(&t, f);
    rn_table_release(&t);
}

void rn_config_print(const rd_kafka_ConfigResource_t *res, int all, FILE *f)
{
    const rd_kafka_ConfigEntry_t **es;
    size_t n = select_entries(res, all, NULL, 0, &es);
    print_entries(es, n, f);
    free(es);
}

/* 1 when entry e of a resource of this type is a dynamic config that an
 * AlterConfigs must send again so that it is kept. */
static int is_dynamic(rd_kafka_ResourceType_t type, const rd_kafka_ConfigEntry_t *e)
{
    rd_kafka_ConfigSource_t src = rd_kafka_ConfigEntry_source(e);
    if (rd_kafka_ConfigEntry_is_default(e) || rd_kafka_ConfigEntry_is_read_only(e))
        return 0;
    if (type == RD_KAFKA_RESOURCE_TOPIC)
        return src == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG || src == RD_KAFKA_CONFIG_SOURCE_UNKNOWN_CONFIG;
    /* runneld keeps one dynamic set for the whole broker and reports it as
     * DYNAMIC_DEFAULT_BROKER_CONFIG, so that is kept too. On Kafka this pins
     * a cluster default as a per-broker value (the same value). */
    return src == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG ||
           src == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG;
}

void rn_config_alter(rd_kafka_t *rk, rd_kafka_ResourceType_t type, const char *name, const char *const *sets,
                     int nsets, const char *const *dels, int ndels)
{
    rd_kafka_event_t *dev = NULL;
    const rd_kafka_ConfigResource_t *cur = rn_config_describe(rk, type, name, &dev);
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(type, name);
    size_t n = 0;
    const rd_kafka_ConfigEntry_t **es = rd_kafka_ConfigResource_configs(cur, &n);
    for (size_t i = 0; i < n; i++) {
        const char *key = rd_kafka_ConfigEntry_name(es[i]);
        int changed = 0;
        for (int k = 0; k < nsets; k++)
            changed |= !strncmp(sets[k], key, strlen(key)) && sets[k][strlen(key)] == '=';
        for (int k = 0; k < ndels; k++)
            changed |= !strcmp(dels[k], key);
        if (changed || !is_dynamic(type, es[i]))
            continue;
        if (rd_kafka_ConfigEntry_is_sensitive(es[i]) || !rd_kafka_ConfigEntry_value(es[i]))
            rn_cli_die("%s has the sensitive config %s, whose value the broker hides; without "
                       "IncrementalAlterConfigs it would be lost: give it again with --set",
                       resource_label(type, name), key);
        rd_kafka_ConfigResource_set_config(cr, key, rd_kafka_ConfigEntry_value(es[i]));
    }
    for (int k = 0; k < nsets; k++) {
        char key[256];
        const char *value;
        if (rn_split_kv(sets[k], key, sizeof(key), &value) < 0)
            rn_cli_usage(NULL, "expected KEY=VALUE, got '%s'", sets[k]);
        rd_kafka_ConfigResource_set_config(cr, key, value);
    }
    rd_kafka_event_destroy(dev);

    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rn_cli_admin_options(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    rd_kafka_AlterConfigs(rk, &cr, 1, ao, q);
    rd_kafka_event_t *ev = rn_cli_admin_wait(q, "alter configs");
    size_t nres = 0;
    const rd_kafka_ConfigResource_t **res =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &nres);
    for (size_t i = 0; i < nres; i++) {
        rd_kafka_resp_err_t e = rd_kafka_ConfigResource_error(res[i]);
        if (e)
            rn_cli_die("alter configs of %s: %s", resource_label(type, name),
                       rn_cli_errtext(e, rd_kafka_ConfigResource_error_string(res[i])));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_ConfigResource_destroy(cr);
    rd_kafka_queue_destroy(q);
}

/* The id of the broker to talk to: --broker, else the one that answered. */
static void broker_id(rd_kafka_t *rk, const char *given, char *out, size_t size)
{
    if (given) {
        snprintf(out, size, "%s", given);
        return;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, rn_cli_g.timeout_ms);
    if (err)
        rn_cli_die_rpc("metadata", err, NULL);
    /* orig_broker_id is -1 when the answer came over the bootstrap connection. */
    int id = md->orig_broker_id >= 0 ? md->orig_broker_id : md->broker_cnt > 0 ? md->brokers[0].id : -1;
    if (id < 0)
        rn_cli_die("metadata names no broker");
    snprintf(out, size, "%d", id);
    rd_kafka_metadata_destroy(md);
}

static int config_get(int argc, char **argv)
{
    rn_args a;
    const char *keys[CONFIG_KEYS_MAX];
    const char *broker = NULL;
    int nkeys = 0;
    rn_args_init(&a, argc, argv, "config get", get_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS) {
            if (nkeys == CONFIG_KEYS_MAX)
                rn_cli_usage(a.cmd, "at most %d keys", CONFIG_KEYS_MAX);
            keys[nkeys++] = a.pos;
        } else if (rn_args_is(&a, "--broker", NULL)) {
            broker = rn_args_value(&a);
            rn_parse_ll(&a, "--broker", broker, 0, 2147483647);
        } else {
            rn_args_unknown(&a);
        }
    }
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    char id[32];
    broker_id(rk, broker, id, sizeof(id));
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_ConfigResource_t *res = rn_config_describe(rk, RD_KAFKA_RESOURCE_BROKER, id, &ev);
    const rd_kafka_ConfigEntry_t **es;
    size_t n = select_entries(res, 1, keys, nkeys, &es);
    print_entries(es, n, stdout);
    if (rn_cli_g.json)
        fputc('\n', stdout);
    for (int k = 0; k < nkeys; k++) {
        int found = 0;
        for (size_t i = 0; i < n; i++)
            found |= !strcmp(keys[k], rd_kafka_ConfigEntry_name(es[i]));
        if (!found)
            rn_cli_die("broker %s has no config '%s'", id, keys[k]);
    }
    free(es);
    rd_kafka_event_destroy(ev);
    rd_kafka_destroy(rk);
    return RN_EXIT_OK;
}

static int config_set(int argc, char **argv)
{
    rn_args a;
    const char *sets[CONFIG_KEYS_MAX], *dels[CONFIG_KEYS_MAX];
    const char *broker = NULL;
    int nsets = 0, ndels = 0;
    rn_args_init(&a, argc, argv, "config set", set_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS) {
            char key[256];
            const char *value;
            if (rn_split_kv(a.pos, key, sizeof(key), &value) < 0)
                rn_cli_usage(a.cmd, "expected KEY=VALUE, got '%s'", a.pos);
            if (nsets == CONFIG_KEYS_MAX)
                rn_cli_usage(a.cmd, "at most %d settings", CONFIG_KEYS_MAX);
            sets[nsets++] = a.pos;
        } else if (rn_args_is(&a, "--delete", NULL)) {
            if (ndels == CONFIG_KEYS_MAX)
                rn_cli_usage(a.cmd, "at most %d --delete options", CONFIG_KEYS_MAX);
            dels[ndels++] = rn_args_value(&a);
        } else if (rn_args_is(&a, "--broker", NULL)) {
            broker = rn_args_value(&a);
            rn_parse_ll(&a, "--broker", broker, 0, 2147483647);
        } else {
            rn_args_unknown(&a);
        }
    }
    if (!nsets && !ndels)
        rn_cli_usage(a.cmd, "nothing to do: give KEY=VALUE or --delete KEY");
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    char id[32];
    broker_id(rk, broker, id, sizeof(id));
    rn_config_alter(rk, RD_KAFKA_RESOURCE_BROKER, id, sets, nsets, dels, ndels);
    for (int i = 0; i < nsets; i++)
        printf("broker %s: set %s\n", id, sets[i]);
    for (int i = 0; i < ndels; i++)
        printf("broker %s: deleted %s\n", id, dels[i]);
    rd_kafka_destroy(rk);
    return RN_EXIT_OK;
}

int rn_cmd_config(int argc, char **argv)
{
    int v = rn_cli_verb(argc, argv, "config", config_help);
    if (!strcmp(argv[v], "get"))
        return config_get(argc - v, argv + v);
    if (!strcmp(argv[v], "set"))
        return config_set(argc - v, argv + v);
    rn_cli_usage("config", "unknown command '%s'", argv[v]);
}

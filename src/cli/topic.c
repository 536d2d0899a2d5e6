/*
 * topic.c - `runnel topic create|list|describe|delete|add-partitions|alter-config`,
 * on librdkafka's admin API (CreateTopics, DeleteTopics, CreatePartitions,
 * DescribeConfigs, AlterConfigs) and metadata.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define TOPIC_NAMES_MAX 256
#define TOPIC_CONFIGS_MAX 64

static const char topic_help[] =
    "usage: runnel topic COMMAND [ARGS]\n"
    "\n"
    "  create NAME... [-p N] [-r N] [-c KEY=VALUE]... [--if-not-exists]\n"
    "  list [--internal]\n"
    "  describe NAME... [--all-configs]\n"
    "  delete NAME...\n"
    "  add-partitions NAME -p TOTAL\n"
    "  alter-config NAME [--set KEY=VALUE]... [--delete KEY]...\n"
    "\n"
    "`runnel topic COMMAND --help` shows a command's options and examples.\n";

static const char create_help[] =
    "usage: runnel topic create NAME... [options]\n"
    "\n"
    "  -p, --partitions N          partitions (default: the broker's num.partitions)\n"
    "  -r, --replication-factor N  replicas (default: the broker's default.replication.factor)\n"
    "  -c, --config KEY=VALUE      topic config (repeatable)\n"
    "  --if-not-exists             an existing topic is not an error\n"
    "\n"
    "Examples:\n"
    "  runnel topic create orders -p 3\n"
    "  runnel topic create audit -c retention.ms=86400000 -c cleanup.policy=compact\n";

static const char list_help[] =
    "usage: runnel topic list [--internal]\n"
    "\n"
    "Lists topics with their partition and replica counts (--output json for scripts).\n"
    "  --internal   include internal topics (names starting with __)\n";

static const char describe_help[] =
    "usage: runnel topic describe NAME... [--all-configs]\n"
    "\n"
    "Partitions with leader, replicas, in-sync replicas and low/high watermarks,\n"
    "then the topic's configs that differ from the defaults.\n"
    "  --all-configs   show every config, defaults included\n"
    "\n"
    "Example:\n"
    "  runnel topic describe orders --output json\n";

static const char delete_help[] =
    "usage: runnel topic delete NAME...\n"
    "\n"
    "Deletes topics and all their records.\n";

static const char add_partitions_help[] =
    "usage: runnel topic add-partitions NAME -p TOTAL\n"
    "\n"
    "Grows a topic to TOTAL partitions (Kafka cannot shrink a topic).\n"
    "  -p, --partitions TOTAL   the new partition count\n"
    "\n"
    "Example:\n"
    "  runnel topic add-partitions orders -p 6\n";

static const char alter_config_help[] =
    "usage: runnel topic alter-config NAME [--set KEY=VALUE]... [--delete KEY]...\n"
    "\n"
    "Sets or deletes topic configs; the topic's other configs are kept.\n"
    "  --set KEY=VALUE   set a config (repeatable)\n"
    "  --delete KEY      delete a config: the topic falls back to the broker default\n"
    "\n"
    "Example:\n"
    "  runnel topic alter-config orders --set retention.ms=3600000 --delete cleanup.policy\n";

/* A topic-level error as one line naming the topic. */
static const char *topic_error(const char *topic, rd_kafka_resp_err_t err, const char *errstr)
{
    static char buf[512];
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        snprintf(buf, sizeof(buf), "topic '%s' does not exist", topic);
    else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        snprintf(buf, sizeof(buf), "topic '%s' already exists", topic);
    else
        snprintf(buf, sizeof(buf), "topic '%s': %s", topic, rn_cli_errtext(err, errstr));
    return buf;
}

static int cmp_topic(const void *a, const void *b)
{
    const struct rd_kafka_metadata_topic *x = *(const struct rd_kafka_metadata_topic *const *)a;
    const struct rd_kafka_metadata_topic *y = *(const struct rd_kafka_metadata_topic *const *)b;
    return strcmp(x->topic, y->topic);
}

/* ---------------------------------------------------------------- create */

static int topic_create(int argc, char **argv)
{
    rn_args a;
    const char *names[TOPIC_NAMES_MAX];
    const char *configs[TOPIC_CONFIGS_MAX];
    int nnames = 0, nconfigs = 0, partitions = -1, replication = -1, if_not_exists = 0;
    rn_args_init(&a, argc, argv, "topic create", create_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS) {
            if (nnames == TOPIC_NAMES_MAX)
                rn_cli_usage(a.cmd, "at most %d topics at once", TOPIC_NAMES_MAX);
            names[nnames++] = a.pos;
        } else if (rn_args_is(&a, "--partitions", "-p")) {
            partitions = (int)rn_parse_ll(&a, "--partitions", rn_args_value(&a), 1, 1000000);
        } else if (rn_args_is(&a, "--replication-factor", "-r")) {
            replication = (int)rn_parse_ll(&a, "--replication-factor", rn_args_value(&a), 1, 32767);
        } else if (rn_args_is(&a, "--config", "-c")) {
            char key[256];
            const char *v = rn_args_value(&a), *value;
            if (rn_split_kv(v, key, sizeof(key), &value) < 0)
                rn_cli_usage(a.cmd, "--config needs KEY=VALUE, got '%s'", v);
            if (nconfigs == TOPIC_CONFIGS_MAX)
                rn_cli_usage(a.cmd, "at most %d --config options", TOPIC_CONFIGS_MAX);
            configs[nconfigs++] = v;
        } else if (rn_args_is(&a, "--if-not-exists", NULL)) {
            if_not_exists = 1;
        } else {
            rn_args_unknown(&a);
        }
    }
    if (!nnames)
        rn_cli_usage(a.cmd, "a topic name is required");

    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    rd_kafka_NewTopic_t *nt[TOPIC_NAMES_MAX];
    char err[512];
    for (int i = 0; i < nnames; i++) {
        nt[i] = rd_kafka_NewTopic_new(names[i], partitions, replication, err, sizeof(err));
        if (!nt[i])
            rn_cli_usage(a.cmd, "topic '%s': %s", names[i], err);
        for (int c = 0; c < nconfigs; c++) {
            char key[256];
            const char *value;
            rn_split_kv(configs[c], key, sizeof(key), &value);
            if (rd_kafka_NewTopic_set_config(nt[i], key, value))
                rn_cli_usage(a.cmd, "config %s: not accepted", configs[c]);
        }
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rn_cli_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(rk, nt, (size_t)nnames, ao, q);
    rd_kafka_event_t *ev = rn_cli_admin_wait(q, "create topics");
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = rd_kafka_topic_result_name(res[i]);
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && if_not_exists)
            e = RD_KAFKA_RESP_ERR_NO_ERROR;
        const char *why = e ? topic_error(name, e, rd_kafka_topic_result_error_string(res[i])) : NULL;
        if (rn_cli_g.json) {
            printf("{\"topic\":");
            rn_json_str(stdout, name, -1);
            printf(",\"created\":%s,\"error\":", e ? "false" : "true");
            rn_json_str(stdout, why, -1);
            printf("}\n");
        } else if (!e) {
            printf("created topic '%s'\n", name);
        }
        if (e) {
            fprintf(stderr, "runnel: %s\n", why);
            failed++;
        }
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy_array(nt, (size_t)nnames);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return failed ? RN_EXIT_ERROR : RN_EXIT_OK;
}

/* ---------------------------------------------------------------- list */

static int topic_list(int argc, char **argv)
{
    rn_args a;
    int internal = 0;
    rn_args_init(&a, argc, argv, "topic list", list_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS)
            rn_cli_usage(a.cmd, "unexpected argument '%s'", a.pos);
        else if (rn_args_is(&a, "--internal", NULL))
            internal = 1;
        else
            rn_args_unknown(&a);
    }
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    const struct rd_kafka_metadata *md = rn_cli_metadata(rk);
    const struct rd_kafka_metadata_topic **ts = calloc((size_t)md->topic_cnt + 1, sizeof(*ts));
    int nts = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (internal || strncmp(md->topics[i].topic, "__", 2))
            ts[nts++] = &md->topics[i];
    qsort(ts, (size_t)nts, sizeof(*ts), cmp_topic);

    static const char *const headers[] = {"TOPIC", "PARTITIONS", "REPLICAS"};
    rn_table t;
    rn_table_init(&t, 3, headers);
    if (rn_cli_g.json)
        printf("[");
    for (int i = 0; i < nts; i++) {
        int rf = ts[i]->partition_cnt ? ts[i]->partitions[0].replica_cnt : 0;
        if (rn_cli_g.json) {
            printf("%s{\"topic\":", i ? "," : "");
            rn_json_str(stdout, ts[i]->topic, -1);
            printf(",\"partitions\":%d,\"replicas\":%d}", ts[i]->partition_cnt, rf);
        } else {
            rn_table_add(&t, "%s", ts[i]->topic);
            rn_table_add(&t, "%d", ts[i]->partition_cnt);
            rn_table_add(&t, "%d", rf);
        }
    }
    if (rn_cli_g.json)
        printf("]\n");
    else
        rn_table_print(&t, stdout);
    rn_table_release(&t);
    free(ts);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return RN_EXIT_OK;
}

/* ---------------------------------------------------------------- describe */

static void print_ids(rn_table *t, const int32_t *ids, int n)
{
    char buf[256];
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && off < sizeof(buf) - 16; i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%d", i ? "," : "", (int)ids[i]);
    rn_table_add(t, "%s", buf);
}

static void json_ids(const int32_t *ids, int n)
{
    printf("[");
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", (int)ids[i]);
    printf("]");
}

static void describe_one(rd_kafka_t *rk, const struct rd_kafka_metadata_topic *mt, int all_configs, int first)
{
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_ConfigResource_t *res = rn_config_describe(rk, RD_KAFKA_RESOURCE_TOPIC, mt->topic, &ev);
    int rf = mt->partition_cnt ? mt->partitions[0].replica_cnt : 0;
    if (rn_cli_g.json) {
        printf("{\"topic\":");
        rn_json_str(stdout, mt->topic, -1);
        printf(",\"replicas\":%d,\"partitions\":[", rf);
    } else {
        printf("%sTopic: %s  Partitions: %d  Replicas: %d\n\n", first ? "" : "\n", mt->topic, mt->partition_cnt, rf);
    }
    static const char *const headers[] = {"PARTITION", "LEADER", "REPLICAS", "ISR", "LOW", "HIGH"};
    rn_table t;
    rn_table_init(&t, 6, headers);
    for (int p = 0; p < mt->partition_cnt; p++) {
        const struct rd_kafka_metadata_partition *mp = &mt->partitions[p];
        int64_t low = -1, high = -1;
        rn_cli_watermarks(rk, mt->topic, mp->id, &low, &high);
        if (rn_cli_g.json) {
            printf("%s{\"partition\":%d,\"leader\":%d,\"replicas\":", p ? "," : "", (int)mp->id, (int)mp->leader);
            json_ids(mp->replicas, mp->replica_cnt);
            printf(",\"isr\":");
            json_ids(mp->isrs, mp->isr_cnt);
            printf(",\"low\":%lld,\"high\":%lld}", (long long)low, (long long)high);
        } else {
            rn_table_add(&t, "%d", (int)mp->id);
            rn_table_add(&t, "%d", (int)mp->leader);
            print_ids(&t, mp->replicas, mp->replica_cnt);
            print_ids(&t, mp->isrs, mp->isr_cnt);
            rn_table_add(&t, "%lld", (long long)low);
            rn_table_add(&t, "%lld", (long long)high);
        }
    }
    if (rn_cli_g.json) {
        printf("],\"configs\":");
        rn_config_print(res, all_configs, stdout);
        printf("}\n");
    } else {
        rn_table_print(&t, stdout);
        printf("\nConfigs%s:\n", all_configs ? "" : " (not default)");
        rn_config_print(res, all_configs, stdout);
    }
    rn_table_release(&t);
    rd_kafka_event_destroy(ev);
}

static int topic_describe(int argc, char **argv)
{
    rn_args a;
    const char *names[TOPIC_NAMES_MAX];
    int nnames = 0, all_configs = 0;
    rn_args_init(&a, argc, argv, "topic describe", describe_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS) {
            if (nnames == TOPIC_NAMES_MAX)
                rn_cli_usage(a.cmd, "at most %d topics at once", TOPIC_NAMES_MAX);
            names[nnames++] = a.pos;
        } else if (rn_args_is(&a, "--all-configs", NULL)) {
            all_configs = 1;
        } else {
            rn_args_unknown(&a);
        }
    }
    if (!nnames)
        rn_cli_usage(a.cmd, "a topic name is required");
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    const struct rd_kafka_metadata *md = rn_cli_metadata(rk);
    for (int i = 0; i < nnames; i++)
        rn_cli_require_topic(md, names[i]);
    for (int i = 0; i < nnames; i++)
        describe_one(rk, rn_cli_require_topic(md, names[i]), all_configs, i == 0);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return RN_EXIT_OK;
}

/* ---------------------------------------------------------------- delete */

static int topic_delete(int argc, char **argv)
{
    rn_args a;
    const char *names[TOPIC_NAMES_MAX];
    int nnames = 0;
    rn_args_init(&a, argc, argv, "topic delete", delete_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS) {
            if (nnames == TOPIC_NAMES_MAX)
                rn_cli_usage(a.cmd, "at most %d topics at once", TOPIC_NAMES_MAX);
            names[nnames++] = a.pos;
        } else {
            rn_args_unknown(&a);
        }
    }
    if (!nnames)
        rn_cli_usage(a.cmd, "a topic name is required");
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    rd_kafka_DeleteTopic_t *dt[TOPIC_NAMES_MAX];
    for (int i = 0; i < nnames; i++)
        dt[i] = rd_kafka_DeleteTopic_new(names[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rn_cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_DeleteTopics(rk, dt, (size_t)nnames, ao, q);
    rd_kafka_event_t *ev = rn_cli_admin_wait(q, "delete topics");
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = rd_kafka_topic_result_name(res[i]);
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        const char *why = e ? topic_error(name, e, rd_kafka_topic_result_error_string(res[i])) : NULL;
        if (rn_cli_g.json) {
            printf("{\"topic\":");
            rn_json_str(stdout, name, -1);
            printf(",\"deleted\":%s,\"error\":", e ? "false" : "true");
            rn_json_str(stdout, why, -1);
            printf("}\n");
        } else if (!e) {
            printf("deleted topic '%s'\n", name);
        }
        if (e) {
            fprintf(stderr, "runnel: %s\n", why);
            failed++;
        }
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_DeleteTopic_destroy_array(dt, (size_t)nnames);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return failed ? RN_EXIT_ERROR : RN_EXIT_OK;
}

/* ---------------------------------------------------------------- add-partitions */

static int topic_add_partitions(int argc, char **argv)
{
    rn_args a;
    const char *name = NULL;
    int total = -1;
    rn_args_init(&a, argc, argv, "topic add-partitions", add_partitions_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS) {
            if (name)
                rn_cli_usage(a.cmd, "one topic at a time");
            name = a.pos;
        } else if (rn_args_is(&a, "--partitions", "-p")) {
            total = (int)rn_parse_ll(&a, "--partitions", rn_args_value(&a), 1, 1000000);
        } else {
            rn_args_unknown(&a);
        }
    }
    if (!name)
        rn_cli_usage(a.cmd, "a topic name is required");
    if (total < 0)
        rn_cli_usage(a.cmd, "--partitions TOTAL is required");
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    const struct rd_kafka_metadata *md = rn_cli_metadata(rk);
    int before = rn_cli_require_topic(md, name)->partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (total <= before)
        rn_cli_die("topic '%s' has %d partitions; --partitions must be more than that", name, before);

    char err[512];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(name, (size_t)total, err, sizeof(err));
    if (!np)
        rn_cli_usage(a.cmd, "%s", err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rn_cli_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_CreatePartitions(rk, &np, 1, ao, q);
    rd_kafka_event_t *ev = rn_cli_admin_wait(q, "add partitions");
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e)
            rn_cli_die("%s", topic_error(name, e, rd_kafka_topic_result_error_string(res[i])));
    }
    if (rn_cli_g.json) {
        printf("{\"topic\":");
        rn_json_str(stdout, name, -1);
        printf(",\"partitions_before\":%d,\"partitions\":%d}\n", before, total);
    } else {
        printf("topic '%s' now has %d partitions (was %d)\n", name, total, before);
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewPartitions_destroy(np);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return RN_EXIT_OK;
}

/* ---------------------------------------------------------------- alter-config */

static int topic_alter_config(int argc, char **argv)
{
    rn_args a;
    const char *name = NULL;
    const char *sets[TOPIC_CONFIGS_MAX], *dels[TOPIC_CONFIGS_MAX];
    int nsets = 0, ndels = 0;
    rn_args_init(&a, argc, argv, "topic alter-config", alter_config_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS) {
            if (name)
                rn_cli_usage(a.cmd, "one topic at a time");
            name = a.pos;
        } else if (rn_args_is(&a, "--set", NULL)) {
            char key[256];
            const char *v = rn_args_value(&a), *value;
            if (rn_split_kv(v, key, sizeof(key), &value) < 0)
                rn_cli_usage(a.cmd, "--set needs KEY=VALUE, got '%s'", v);
            if (nsets == TOPIC_CONFIGS_MAX)
                rn_cli_usage(a.cmd, "at most %d --set options", TOPIC_CONFIGS_MAX);
            sets[nsets++] = v;
        } else if (rn_args_is(&a, "--delete", NULL)) {
            if (ndels == TOPIC_CONFIGS_MAX)
                rn_cli_usage(a.cmd, "at most %d --delete options", TOPIC_CONFIGS_MAX);
            dels[ndels++] = rn_args_value(&a);
        } else {
            rn_args_unknown(&a);
        }
    }
    if (!name)
        rn_cli_usage(a.cmd, "a topic name is required");
    if (!nsets && !ndels)
        rn_cli_usage(a.cmd, "nothing to do: give --set KEY=VALUE or --delete KEY");
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    const struct rd_kafka_metadata *md = rn_cli_metadata(rk);
    rn_cli_require_topic(md, name);
    rd_kafka_metadata_destroy(md);
    rn_config_alter(rk, RD_KAFKA_RESOURCE_TOPIC, name, sets, nsets, dels, ndels);
    for (int i = 0; i < nsets; i++)
        printf("topic '%s': set %s\n", name, sets[i]);
    for (int i = 0; i < ndels; i++)
        printf("topic '%s': deleted %s\n", name, dels[i]);
    rd_kafka_destroy(rk);
    return RN_EXIT_OK;
}

int rn_cmd_topic(int argc, char **argv)
{
    static const struct {
        const char *verb;
        int (*run)(int, char **);
    } verbs[] = {
        {"create", topic_create},       {"list", topic_list},
        {"describe", topic_describe},   {"delete", topic_delete},
        {"add-partitions", topic_add_partitions}, {"alter-config", topic_alter_config},
    };
    int v = rn_cli_verb(argc, argv, "topic", topic_help);
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (!strcmp(argv[v], verbs[i].verb))
            return verbs[i].run(argc - v, argv + v);
    rn_cli_usage("topic", "unknown command '%s'", argv[v]);
}

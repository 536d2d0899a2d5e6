/*
 * group.c - `runnel group list|describe|delete|reset-offsets`, on
 * librdkafka's ListConsumerGroups, DescribeConsumerGroups,
 * ListConsumerGroupOffsets, AlterConsumerGroupOffsets and DeleteGroups
 * (all in librdkafka 2.0), with watermarks for the log end and the lag.
 *
 * reset-offsets shows its plan first and changes nothing without
 * --execute; it refuses a group that has members, as Kafka's
 * kafka-consumer-groups.sh does (their commits would undo the reset).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define GROUP_NAMES_MAX 256
#define GROUP_TOPICS_MAX 64

static const char group_help[] =
    "usage: runnel group COMMAND [ARGS]\n"
    "\n"
    "  list                         consumer groups and their states\n"
    "  describe GROUP               members, assignments, committed offsets, log end and lag\n"
    "  delete GROUP...              delete groups that have no members\n"
    "  reset-offsets GROUP --topic T --to earliest|latest|offset N|timestamp MS|shift N [--execute]\n"
    "\n"
    "Examples:\n"
    "  runnel group describe billing\n"
    "  runnel group reset-offsets billing --topic orders --to earliest\n"
    "  runnel group reset-offsets billing --topic orders --to shift -100 --execute\n";

static const char list_help[] =
    "usage: runnel group list\n"
    "\n"
    "Lists consumer groups with their state (--output json for scripts).\n"
    "\n"
    "Example:\n"
    "  runnel group list --output json\n";

static const char describe_help[] =
    "usage: runnel group describe GROUP\n"
    "\n"
    "Shows the group's state and members, then for each partition with a committed\n"
    "offset or an owner: the committed offset, the log end offset, the lag and the\n"
    "member that owns it, and the total lag.\n"
    "\n"
    "Example:\n"
    "  runnel group describe billing --output json\n";

static const char delete_help[] =
    "usage: runnel group delete GROUP...\n"
    "\n"
    "Deletes groups and their committed offsets. A group with members is refused.\n"
    "\n"
    "Example:\n"
    "  runnel group delete billing\n";

static const char reset_help[] =
    "usage: runnel group reset-offsets GROUP --topic TOPIC[:P,P...] --to WHERE [--execute]\n"
    "\n"
    "  --topic TOPIC[:P,P]  topic whose offsets to reset, optionally only some partitions\n"
    "                       (repeatable)\n"
    "  --to WHERE           earliest | latest | offset N | timestamp MS | shift N\n"
    "                       (shift moves the committed offset by N, negative goes back)\n"
    "  --execute            apply; without it only the plan is shown\n"
    "\n"
    "The group must have no members (stop its consumers first).\n"
    "\n"
    "Examples:\n"
    "  runnel group reset-offsets billing --topic orders --to earliest\n"
    "  runnel group reset-offsets billing --topic orders:0,1 --to offset 42 --execute\n";

static void check_brokers(rd_kafka_t *rk)
{
    rd_kafka_metadata_destroy(rn_cli_metadata(rk));
}

static int state_is_active(rd_kafka_consumer_group_state_t s)
{
    return s == RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE ||
           s == RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE || s == RD_KAFKA_CONSUMER_GROUP_STATE_STABLE;
}

/* ---------------------------------------------------------------- list */

static int cmp_listing(const void *a, const void *b)
{
    return strcmp(rd_kafka_ConsumerGroupListing_group_id(*(const rd_kafka_ConsumerGroupListing_t *const *)a),
                  rd_kafka_ConsumerGroupListing_group_id(*(const rd_kafka_ConsumerGroupListing_t *const *)b));
}

static int group_list(int argc, char **argv)
{
    rn_args a;
    rn_args_init(&a, argc, argv, "group list", list_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS)
            rn_cli_usage(a.cmd, "unexpected argument '%s'", a.pos);
        rn_args_unknown(&a);
    }
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    check_brokers(rk);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rn_cli_admin_options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
    rd_kafka_ListConsumerGroups(rk, ao, q);
    rd_kafka_event_t *ev = rn_cli_admin_wait(q, "list groups");
    const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
    size_t n = 0, nerr = 0;
    const rd_kafka_ConsumerGroupListing_t **gs = rd_kafka_ListConsumerGroups_result_valid(res, &n);
    const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
    for (size_t i = 0; i < nerr; i++)
        fprintf(stderr, "runnel: list groups: %s\n", rd_kafka_error_string(errs[i]));
    const rd_kafka_ConsumerGroupListing_t **sorted = calloc(n + 1, sizeof(*sorted));
    if (!sorted)
        rn_cli_die("out of memory");
    if (n) /* gs may be NULL when there are no groups */
        memcpy(sorted, gs, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_listing);
    static const char *const headers[] = {"GROUP", "STATE", "TYPE"};
    rn_table t;
    rn_table_init(&t, 3, headers);
    if (rn_cli_g.json)
        printf("[");
    for (size_t i = 0; i < n; i++) {
        const char *state = rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(sorted[i]));
        const char *type = rd_kafka_ConsumerGroupListing_is_simple_consumer_group(sorted[i]) ? "simple" : "consumer";
        if (rn_cli_g.json) {
            printf("%s{\"group\":", i ? "," : "");
            rn_json_str(stdout, rd_kafka_ConsumerGroupListing_group_id(sorted[i]), -1);
            printf(",\"state\":\"%s\",\"type\":\"%s\"}", state, type);
        } else {
            rn_table_add(&t, "%s", rd_kafka_ConsumerGroupListing_group_id(sorted[i]));
            rn_table_add(&t, "%s", state);
            rn_table_add(&t, "%s", type);
        }
    }
    if (rn_cli_g.json)
        printf("]\n");
    else
        rn_table_print(&t, stdout);
    rn_table_release(&t);
    free(sorted);
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return nerr ? RN_EXIT_ERROR : RN_EXIT_OK;
}

/* ---------------------------------------------------------------- shared */

/* The group's description (owned by *ev), or die. */
static const rd_kafka_ConsumerGroupDescription_t *describe_group(rd_kafka_t *rk, const char *group,
                                                                 rd_kafka_event_t **ev)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rn_cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_DescribeConsumerGroups(rk, &group, 1, ao, q);
    *ev = rn_cli_admin_wait(q, "describe group");
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **ds =
        rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(*ev), &n);
    if (n != 1)
        rn_cli_die("describe group '%s': %zu groups in the answer", group, n);
    const rd_kafka_error_t *err = rd_kafka_ConsumerGroupDescription_error(ds[0]);
    if (err && rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
        rn_cli_die("group '%s' does not exist", group);
    if (err)
        rn_cli_die("describe group '%s': %s", group, rd_kafka_error_string(err));
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    return ds[0];
}

/* The group's committed offsets (a copy the caller destroys), or die. */
static rd_kafka_topic_partition_list_t *committed_offsets(rd_kafka_t *rk, const char *group)
{
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rn_cli_admin_options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, ao, q);
    rd_kafka_event_t *ev = rn_cli_admin_wait(q, "list group offsets");
    size_t n = 0;
    const rd_kafka_group_result_t **gr =
        rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    if (n != 1)
        rn_cli_die("list offsets of group '%s': %zu groups in the answer", group, n);
    const rd_kafka_error_t *err = rd_kafka_group_result_error(gr[0]);
    if (err)
        rn_cli_die("list offsets of group '%s': %s", group, rd_kafka_error_string(err));
    const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(gr[0]);
    rd_kafka_topic_partition_list_t *copy =
        parts ? rd_kafka_topic_partition_list_copy(parts) : rd_kafka_topic_partition_list_new(0);
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_queue_destroy(q);
    return copy;
}

static int64_t committed_of(const rd_kafka_topic_partition_list_t *c, const char *topic, int32_t partition)
{
    const rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(c, topic, partition);
    return p && !p->err ? p->offset : -1;
}

/* An offset or lag cell: "-" when there is none (negative). */
static void add_offset(rn_table *t, long long v)
{
    if (v >= 0)
        rn_table_add(t, "%lld", v);
    else
        rn_table_add(t, "-");
}

static int cmp_tp(const void *a, const void *b)
{
    const rd_kafka_topic_partition_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* ---------------------------------------------------------------- describe */

static int group_describe(int argc, char **argv)
{
    rn_args a;
    const char *group = NULL;
    rn_args_init(&a, argc, argv, "group describe", describe_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k != RN_ARG_POS)
            rn_args_unknown(&a);
        if (group)
            rn_cli_usage(a.cmd, "one group at a time");
        group = a.pos;
    }
    if (!group)
        rn_cli_usage(a.cmd, "a group is required");
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    check_brokers(rk);
    rd_kafka_event_t *dev;
    const rd_kafka_ConsumerGroupDescription_t *d = describe_group(rk, group, &dev);
    rd_kafka_topic_partition_list_t *committed = committed_offsets(rk, group);
    rd_kafka_consumer_group_state_t state = rd_kafka_ConsumerGroupDescription_state(d);
    size_t nmembers = rd_kafka_ConsumerGroupDescription_member_count(d);
    if (state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD && !nmembers && !committed->cnt)
        rn_cli_die("group '%s' does not exist", group);

    /* Every partition that has a committed offset or an owner; opaque
     * holds the owning member's index + 1. */
    rd_kafka_topic_partition_list_t *rows = rd_kafka_topic_partition_list_copy(committed);
    for (int i = 0; i < rows->cnt; i++)
        rows->elems[i].opaque = NULL;
    for (size_t m = 0; m < nmembers; m++) {
        const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(d, m);
        const rd_kafka_topic_partition_list_t *as =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
        for (int i = 0; as && i < as->cnt; i++) {
            rd_kafka_topic_partition_t *row =
                rd_kafka_topic_partition_list_find(rows, as->elems[i].topic, as->elems[i].partition);
            if (!row)
                row = rd_kafka_topic_partition_list_add(rows, as->elems[i].topic, as->elems[i].partition);
            row->opaque = (void *)(uintptr_t)(m + 1);
        }
    }
    qsort(rows->elems, (size_t)rows->cnt, sizeof(rows->elems[0]), cmp_tp);

    const rd_kafka_Node_t *coord = rd_kafka_ConsumerGroupDescription_coordinator(d);
    const char *state_name = rd_kafka_consumer_group_state_name(state);
    if (rn_cli_g.json) {
        printf("{\"group\":");
        rn_json_str(stdout, group, -1);
        printf(",\"state\":\"%s\",\"coordinator\":%d,\"assignor\":", state_name, coord ? rd_kafka_Node_id(coord) : -1);
        rn_json_str(stdout, rd_kafka_ConsumerGroupDescription_partition_assignor(d), -1);
        printf(",\"members\":[");
    } else {
        printf("Group: %s  State: %s  Coordinator: %d  Members: %zu\n", group, state_name,
               coord ? rd_kafka_Node_id(coord) : -1, nmembers);
    }
    static const char *const mheaders[] = {"MEMBER", "CLIENT-ID", "HOST", "PARTITIONS"};
    rn_table mt;
    rn_table_init(&mt, 4, mheaders);
    for (size_t m = 0; m < nmembers; m++) {
        const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(d, m);
        const rd_kafka_topic_partition_list_t *as =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
        if (rn_cli_g.json) {
            printf("%s{\"member\":", m ? "," : "");
            rn_json_str(stdout, rd_kafka_MemberDescription_consumer_id(md), -1);
            printf(",\"client_id\":");
            rn_json_str(stdout, rd_kafka_MemberDescription_client_id(md), -1);
            printf(",\"host\":");
            rn_json_str(stdout, rd_kafka_MemberDescription_host(md), -1);
            printf(",\"assignment\":[");
            for (int i = 0; as && i < as->cnt; i++) {
                printf("%s{\"topic\":", i ? "," : "");
                rn_json_str(stdout, as->elems[i].topic, -1);
                printf(",\"partition\":%d}", (int)as->elems[i].partition);
            }
            printf("]}");
        } else {
            char buf[1024];
            size_t off = 0;
            buf[0] = '\0';
            for (int i = 0; as && i < as->cnt && off < sizeof(buf) - 300; i++)
                off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s/%d", i ? "," : "", as->elems[i].topic,
                                        (int)as->elems[i].partition);
            rn_table_add(&mt, "%s", rd_kafka_MemberDescription_consumer_id(md));
            rn_table_add(&mt, "%s", rd_kafka_MemberDescription_client_id(md));
            rn_table_add(&mt, "%s", rd_kafka_MemberDescription_host(md));
            rn_table_add(&mt, "%s", off ? buf : "-");
        }
    }
    if (!rn_cli_g.json && nmembers) {
        printf("\n");
        rn_table_print(&mt, stdout);
    }
    rn_table_release(&mt);

    static const char *const oheaders[] = {"TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER"};
    rn_table ot;
    rn_table_init(&ot, 6, oheaders);
    long long total_lag = 0;
    if (rn_cli_g.json)
        printf("],\"offsets\":[");
    for (int i = 0; i < rows->cnt; i++) {
        rd_kafka_topic_partition_t *row = &rows->elems[i];
        int64_t low = -1, high = -1;
        if (rd_kafka_query_watermark_offsets(rk, row->topic, row->partition, &low, &high, rn_cli_g.timeout_ms))
            low = high = -1;
        int64_t c = committed_of(committed, row->topic, row->partition);
        long long lag = c >= 0 && high >= 0 ? (long long)(high - c) : -1;
        if (lag > 0)
            total_lag += lag;
        size_t owner = (size_t)(uintptr_t)row->opaque;
        const char *member =
            owner ? rd_kafka_MemberDescription_consumer_id(rd_kafka_ConsumerGroupDescription_member(d, owner - 1)) : NULL;
        if (rn_cli_g.json) {
            printf("%s{\"topic\":", i ? "," : "");
            rn_json_str(stdout, row->topic, -1);
            printf(",\"partition\":%d,\"committed\":%lld,\"log_end\":%lld,\"lag\":%lld,\"member\":", (int)row->partition,
                   (long long)c, (long long)high, lag);
            rn_json_str(stdout, member, -1);
            printf("}");
        } else {
            rn_table_add(&ot, "%s", row->topic);
            rn_table_add(&ot, "%d", (int)row->partition);
            add_offset(&ot, c);
            add_offset(&ot, high);
            add_offset(&ot, lag);
            rn_table_add(&ot, "%s", member ? member : "-");
        }
    }
    if (rn_cli_g.json) {
        printf("],\"total_lag\":%lld}\n", total_lag);
    } else {
        printf("\n");
        if (rows->cnt)
            rn_table_print(&ot, stdout);
        else
            printf("(no committed offsets and no assigned partitions)\n");
        printf("\nTotal lag: %lld\n", total_lag);
    }
    rn_table_release(&ot);
    rd_kafka_topic_partition_list_destroy(rows);
    rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_event_destroy(dev);
    rd_kafka_destroy(rk);
    return RN_EXIT_OK;
}

/* ---------------------------------------------------------------- delete */

static int group_delete(int argc, char **argv)
{
    rn_args a;
    const char *groups[GROUP_NAMES_MAX];
    int ngroups = 0;
    rn_args_init(&a, argc, argv, "group delete", delete_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k != RN_ARG_POS)
            rn_args_unknown(&a);
        if (ngroups == GROUP_NAMES_MAX)
            rn_cli_usage(a.cmd, "at most %d groups at once", GROUP_NAMES_MAX);
        groups[ngroups++] = a.pos;
    }
    if (!ngroups)
        rn_cli_usage(a.cmd, "a group is required");
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    check_brokers(rk);
    rd_kafka_DeleteGroup_t *dg[GROUP_NAMES_MAX];
    for (int i = 0; i < ngroups; i++)
        dg[i] = rd_kafka_DeleteGroup_new(groups[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rn_cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_DeleteGroups(rk, dg, (size_t)ngroups, ao, q);
    rd_kafka_event_t *ev = rn_cli_admin_wait(q, "delete groups");
    size_t n = 0;
    const rd_kafka_group_result_t **res =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = rd_kafka_group_result_name(res[i]);
        const rd_kafka_error_t *err = rd_kafka_group_result_error(res[i]);
        rd_kafka_resp_err_t code = err ? rd_kafka_error_code(err) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (code == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
            fprintf(stderr, "runnel: group '%s' does not exist\n", name);
        else if (code == RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP)
            fprintf(stderr, "runnel: group '%s' has members; stop its consumers first\n", name);
        else if (code)
            fprintf(stderr, "runnel: group '%s': %s\n", name, rd_kafka_error_string(err));
        else if (rn_cli_g.json)
            printf("{\"group\":\"%s\",\"deleted\":true}\n", name);
        else
            printf("deleted group '%s'\n", name);
        failed += code != 0;
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_DeleteGroup_destroy_array(dg, (size_t)ngroups);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return failed ? RN_EXIT_ERROR : RN_EXIT_OK;
}

/* ---------------------------------------------------------------- reset-offsets */

typedef enum { TO_NONE, TO_EARLIEST, TO_LATEST, TO_OFFSET, TO_TIMESTAMP, TO_SHIFT } reset_to;

static int group_reset_offsets(int argc, char **argv)
{
    rn_args a;
    const char *group = NULL;
    const char *topics[GROUP_TOPICS_MAX];
    int ntopics = 0, execute = 0;
    reset_to to = TO_NONE;
    long long arg = 0;
    rn_args_init(&a, argc, argv, "group reset-offsets", reset_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS) {
            if (group)
                rn_cli_usage(a.cmd, "one group at a time (unexpected '%s')", a.pos);
            group = a.pos;
        } else if (rn_args_is(&a, "--topic", "-t")) {
            if (ntopics == GROUP_TOPICS_MAX)
                rn_cli_usage(a.cmd, "at most %d --topic options", GROUP_TOPICS_MAX);
            topics[ntopics++] = rn_args_value(&a);
        } else if (rn_args_is(&a, "--to", NULL)) {
            const char *v = rn_args_value(&a);
            if (!strcmp(v, "earliest"))
                to = TO_EARLIEST;
            else if (!strcmp(v, "latest"))
                to = TO_LATEST;
            else if (!strcmp(v, "offset"))
                to = TO_OFFSET, arg = rn_parse_ll(&a, "--to offset", rn_args_value(&a), 0, INT64_MAX);
            else if (!strcmp(v, "timestamp"))
                to = TO_TIMESTAMP, arg = rn_parse_ll(&a, "--to timestamp", rn_args_value(&a), 0, INT64_MAX);
            else if (!strcmp(v, "shift"))
                to = TO_SHIFT, arg = rn_parse_ll(&a, "--to shift", rn_args_value(&a), -INT64_MAX / 2, INT64_MAX / 2);
            else
                rn_cli_usage(a.cmd, "--to must be earliest, latest, offset N, timestamp MS or shift N, got '%s'", v);
        } else if (rn_args_is(&a, "--execute", NULL)) {
            execute = 1;
        } else {
            rn_args_unknown(&a);
        }
    }
    if (!group)
        rn_cli_usage(a.cmd, "a group is required");
    if (!ntopics)
        rn_cli_usage(a.cmd, "--topic is required");
    if (to == TO_NONE)
        rn_cli_usage(a.cmd, "--to is required");

    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    const struct rd_kafka_metadata *md = rn_cli_metadata(rk);
    rd_kafka_topic_partition_list_t *plan = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < ntopics; t++) {
        char name[256];
        const char *colon = strchr(topics[t], ':');
        snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - topics[t]) : (int)strlen(topics[t]), topics[t]);
        const struct rd_kafka_metadata_topic *mt = rn_cli_require_topic(md, name);
        if (!colon) {
            for (int p = 0; p < mt->partition_cnt; p++)
                rd_kafka_topic_partition_list_add(plan, name, mt->partitions[p].id);
            continue;
        }
        for (const char *s = colon + 1; *s;) {
            char *end;
            long p = strtol(s, &end, 10);
            if (end == s || (*end && *end != ','))
                rn_cli_usage(a.cmd, "--topic %s: partitions must be numbers separated by commas", topics[t]);
            if (p < 0 || p >= mt->partition_cnt)
                rn_cli_die("topic '%s' has %d partitions; partition %ld does not exist", name, mt->partition_cnt, p);
            rd_kafka_topic_partition_list_add(plan, name, (int32_t)p);
            s = *end ? end + 1 : end;
        }
    }
    rd_kafka_metadata_destroy(md);

    rd_kafka_event_t *dev;
    const rd_kafka_ConsumerGroupDescription_t *d = describe_group(rk, group, &dev);
    rd_kafka_consumer_group_state_t state = rd_kafka_ConsumerGroupDescription_state(d);
    size_t nmembers = rd_kafka_ConsumerGroupDescription_member_count(d);
    if (state_is_active(state) || nmembers)
        rn_cli_die("group '%s' is active (state %s, %zu member%s): stop its consumers before resetting its offsets",
                   group, rd_kafka_consumer_group_state_name(state), nmembers, nmembers == 1 ? "" : "s");
    rd_kafka_event_destroy(dev);
    rd_kafka_topic_partition_list_t *committed = committed_offsets(rk, group);

    /* Target offsets; for timestamps ask the broker for all at once. */
    rd_kafka_topic_partition_list_t *by_time = NULL;
    if (to == TO_TIMESTAMP) {
        by_time = rd_kafka_topic_partition_list_copy(plan);
        for (int i = 0; i < by_time->cnt; i++)
            by_time->elems[i].offset = arg;
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, by_time, rn_cli_g.timeout_ms);
        if (err)
            rn_cli_die_rpc("offsets for timestamp", err, NULL);
    }
    static const char *const headers[] = {"TOPIC", "PARTITION", "CURRENT", "NEW"};
    rn_table t;
    rn_table_init(&t, 4, headers);
    if (rn_cli_g.json)
        printf("{\"group\":\"%s\",\"executed\":%s,\"offsets\":[", group, execute ? "true" : "false");
    for (int i = 0; i < plan->cnt; i++) {
        rd_kafka_topic_partition_t *p = &plan->elems[i];
        int64_t low, high, cur = committed_of(committed, p->topic, p->partition), target = 0;
        rn_cli_watermarks(rk, p->topic, p->partition, &low, &high);
        switch (to) {
        case TO_EARLIEST: target = low; break;
        case TO_LATEST: target = high; break;
        case TO_OFFSET: target = arg; break;
        case TO_SHIFT: target = (cur >= 0 ? cur : low) + arg; break;
        case TO_TIMESTAMP: {
            const rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(by_time, p->topic, p->partition);
            target = tp && !tp->err && tp->offset >= 0 ? tp->offset : high;
            break;
        }
        case TO_NONE: break;
        }
        if (target < low)
            target = low;
        if (target > high)
            target = high;
        p->offset = target;
        if (rn_cli_g.json) {
            printf("%s{\"topic\":", i ? "," : "");
            rn_json_str(stdout, p->topic, -1);
            printf(",\"partition\":%d,\"current\":%lld,\"new\":%lld}", (int)p->partition, (long long)cur,
                   (long long)target);
        } else {
            rn_table_add(&t, "%s", p->topic);
            rn_table_add(&t, "%d", (int)p->partition);
            add_offset(&t, cur);
            add_offset(&t, target);
        }
    }
    if (rn_cli_g.json)
        printf("]}\n");
    else
        rn_table_print(&t, stdout);
    rn_table_release(&t);

    if (!execute) {
        if (!rn_cli_g.json)
            printf("\ndry run: nothing changed; add --execute to apply\n");
    } else {
        rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, plan);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *ao = rn_cli_admin_options(rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
        rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, ao, q);
        rd_kafka_event_t *ev = rn_cli_admin_wait(q, "alter group offsets");
        size_t n = 0;
        const rd_kafka_group_result_t **gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
            rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
            const rd_kafka_error_t *err = rd_kafka_group_result_error(gr[i]);
            if (err && rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID)
                rn_cli_die("group '%s' became active: stop its consumers before resetting its offsets", group);
            if (err)
                rn_cli_die("reset offsets of group '%s': %s", group, rd_kafka_error_string(err));
            const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(gr[i]);
            for (int k = 0; parts && k < parts->cnt; k++)
                if (parts->elems[k].err)
                    rn_cli_die("reset offset of %s/%d in group '%s': %s", parts->elems[k].topic,
                               (int)parts->elems[k].partition, group, rd_kafka_err2str(parts->elems[k].err));
        }
        if (!rn_cli_g.json)
            printf("\nreset %d offset%s of group '%s'\n", plan->cnt, plan->cnt == 1 ? "" : "s", group);
        rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_AlterConsumerGroupOffsets_destroy(req);
        rd_kafka_queue_destroy(q);
    }
    if (by_time)
        rd_kafka_topic_partition_list_destroy(by_time);
    rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_topic_partition_list_destroy(plan);
    rd_kafka_destroy(rk);
    return RN_EXIT_OK;
}

int rn_cmd_group(int argc, char **argv)
{
    int v = rn_cli_verb(argc, argv, "group", group_help);
    if (!strcmp(argv[v], "list"))
        return group_list(argc - v, argv + v);
    if (!strcmp(argv[v], "describe"))
        return group_describe(argc - v, argv + v);
    if (!strcmp(argv[v], "delete"))
        return group_delete(argc - v, argv + v);
    if (!strcmp(argv[v], "reset-offsets"))
        return group_reset_offsets(argc - v, argv + v);
    rn_cli_usage("group", "unknown command '%s'", argv[v]);
}

/*
 * cluster.c - `runnel cluster info`: brokers, controller and cluster id from
 * metadata, and the API versions each broker supports.
 *
 * librdkafka keeps the brokers' ApiVersions answers to itself, so the API
 * versions come from our own ApiVersionsRequest v0 on a plain TCP
 * connection (parsed with src/common's bounded reader). That works for
 * PLAINTEXT listeners only; with another security.protocol the table is
 * left out and the output says so.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"

#define APIVERSIONS_RESPONSE_BYTES_MAX (1 << 20)
#define APIVERSIONS_KEYS_MAX 1024

static const char cluster_help[] =
    "usage: runnel cluster info\n"
    "\n"
    "Shows the brokers, the controller, the cluster id and, for each broker, the\n"
    "API versions it supports (--output json for scripts).\n"
    "\n"
    "Example:\n"
    "  runnel --brokers 127.0.0.1:9092 cluster info --output json\n";

/* Kafka's ApiKey names, indexed by key. */
static const char *const api_names[] = {
    "Produce", "Fetch", "ListOffsets", "Metadata", "LeaderAndIsr", "StopReplica", "UpdateMetadata",
    "ControlledShutdown", "OffsetCommit", "OffsetFetch", "FindCoordinator", "JoinGroup", "Heartbeat",
    "LeaveGroup", "SyncGroup", "DescribeGroups", "ListGroups", "SaslHandshake", "ApiVersions", "CreateTopics",
    "DeleteTopics", "DeleteRecords", "InitProducerId", "OffsetForLeaderEpoch", "AddPartitionsToTxn",
    "AddOffsetsToTxn", "EndTxn", "WriteTxnMarkers", "TxnOffsetCommit", "DescribeAcls", "CreateAcls",
    "DeleteAcls", "DescribeConfigs", "AlterConfigs", "AlterReplicaLogDirs", "DescribeLogDirs",
    "SaslAuthenticate", "CreatePartitions", "CreateDelegationToken", "RenewDelegationToken",
    "ExpireDelegationToken", "DescribeDelegationToken", "DeleteGroups", "ElectLeaders",
    "IncrementalAlterConfigs", "AlterPartitionReassignments", "ListPartitionReassignments", "OffsetDelete",
    "DescribeClientQuotas", "AlterClientQuotas", "DescribeUserScramCredentials", "AlterUserScramCredentials",
    "Vote", "BeginQuorumEpoch", "EndQuorumEpoch", "DescribeQuorum", "AlterPartition", "UpdateFeatures",
    "Envelope", "FetchSnapshot", "DescribeCluster", "DescribeProducers", "BrokerRegistration",
    "BrokerHeartbeat", "UnregisterBroker", "DescribeTransactions", "ListTransactions", "AllocateProducerIds",
    "ConsumerGroupHeartbeat",
};

typedef struct api_range {
    int16_t key, min, max;
} api_range;

static const char *api_name(int16_t key)
{
    if (key >= 0 && (size_t)key < sizeof(api_names) / sizeof(api_names[0]))
        return api_names[key];
    return "?";
}

/* Connects to host:port within timeout_ms; returns the socket or -1 with
 * why filled in. */
static int connect_timeout(const char *host, int port, int timeout_ms, char *why, size_t why_size)
{
    char portstr[16];
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc) {
        snprintf(why, why_size, "resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
        goto fail_close;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    if (poll(&pfd, 1, timeout_ms) != 1) {
        errno = ETIMEDOUT;
        goto fail_close;
    }
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr) {
        errno = soerr;
        goto fail_close;
    }
    freeaddrinfo(ai);
    return fd;
fail_close:
    close(fd);
fail:
    snprintf(why, why_size, "connect to %s:%d: %s", host, port, strerror(errno));
    freeaddrinfo(ai);
    return -1;
}

/* Reads or writes exactly n bytes before the deadline; 0 or -1. */
static int io_full(int fd, void *buf, size_t n, int writing, uint64_t deadline_ns)
{
    size_t done = 0;
    while (done < n) {
        uint64_t now = rn_cli_mono_ns();
        if (now >= deadline_ns) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = writing ? POLLOUT : POLLIN};
        if (poll(&pfd, 1, (int)((deadline_ns - now) / 1000000) + 1) < 0 && errno != EINTR)
            return -1;
        ssize_t r = writing ? write(fd, (char *)buf + done, n - done) : read(fd, (char *)buf + done, n - done);
        if (r == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (r < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (r > 0)
            done += (size_t)r;
    }
    return 0;
}

/* Asks one broker for its API versions (ApiVersionsRequest v0). Returns the
 * number of ranges in out (at most max), or -1 with why filled in. */
static int api_versions(const char *host, int port, api_range *out, int max, char *why, size_t why_size)
{
    static const uint8_t req[] = {
        0, 0, 0, 16,     /* size */
        0, 18, 0, 0,     /* ApiKey ApiVersions, version 0 */
        0, 0, 0, 1,      /* correlation id */
        0, 6, 'r', 'u', 'n', 'n', 'e', 'l',
    };
    uint64_t deadline = rn_cli_mono_ns() + (uint64_t)rn_cli_g.timeout_ms * 1000000u;
    int fd = connect_timeout(host, port, rn_cli_g.timeout_ms, why, why_size);
    if (fd < 0)
        return -1;
    uint8_t sizebuf[4];
    uint8_t *body = NULL;
    int n = -1;
    if (io_full(fd, (void *)req, sizeof(req), 1, deadline) || io_full(fd, sizebuf, 4, 0, deadline)) {
        snprintf(why, why_size, "ApiVersions to %s:%d: %s", host, port, strerror(errno));
        goto out;
    }
    rn_reader r;
    rn_reader_init(&r, sizebuf, 4);
    int32_t size = rn_get_i32(&r);
    if (size < 10 || size > APIVERSIONS_RESPONSE_BYTES_MAX) {
        snprintf(why, why_size, "ApiVersions from %s:%d: bad response size %d", host, port, (int)size);
        goto out;
    }
    body = malloc((size_t)size);
    if (!body || io_full(fd, body, (size_t)size, 0, deadline)) {
        snprintf(why, why_size, "ApiVersions from %s:%d: %s", host, port, strerror(errno));
        goto out;
    }
    rn_reader_init(&r, body, (size_t)size);
    int32_t corr = rn_get_i32(&r);
    int16_t ec = rn_get_i16(&r);
    int32_t cnt = rn_get_array_len(&r, 0, 0, 6);
    if (r.err || corr != 1 || ec) {
        snprintf(why, why_size, "ApiVersions from %s:%d: %s", host, port,
                 ec ? rd_kafka_err2str((rd_kafka_resp_err_t)ec) : "malformed response");
        goto out;
    }
    n = 0;
    for (int32_t i = 0; i < cnt && n < max; i++) {
        out[n].key = rn_get_i16(&r);
        out[n].min = rn_get_i16(&r);
        out[n].max = rn_get_i16(&r);
        n++;
    }
    if (r.err) {
        snprintf(why, why_size, "ApiVersions from %s:%d: truncated response", host, port);
        n = -1;
    }
out:
    free(body);
    close(fd);
    return n;
}

static int plaintext(void)
{
    for (int i = 0; i < rn_cli_g.nxprops; i++)
        if (!strncmp(rn_cli_g.xprops[i], "security.protocol=", 18))
            return !strcasecmp(rn_cli_g.xprops[i] + 18, "plaintext");
    return 1;
}

static int cluster_info(int argc, char **argv)
{
    rn_args a;
    rn_args_init(&a, argc, argv, "cluster info", cluster_help);
    for (int k; (k = rn_args_next(&a));) {
        if (k == RN_ARG_POS)
            rn_cli_usage(a.cmd, "unexpected argument '%s'", a.pos);
        rn_args_unknown(&a);
    }
    rd_kafka_t *rk = rn_cli_new(RD_KAFKA_PRODUCER, rn_cli_conf());
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, rn_cli_g.timeout_ms);
    if (err)
        rn_cli_die_rpc("metadata", err, NULL);
    char *cluster_id = rd_kafka_clusterid(rk, rn_cli_g.timeout_ms);
    int32_t controller = rd_kafka_controllerid(rk, rn_cli_g.timeout_ms);

    if (rn_cli_g.json) {
        printf("{\"cluster_id\":");
        rn_json_str(stdout, cluster_id, -1);
        printf(",\"controller\":%d,\"brokers\":[", (int)controller);
    } else {
        printf("Cluster ID:  %s\nController:  %d\n\n", cluster_id ? cluster_id : "(unknown)", (int)controller);
    }
    static const char *const bheaders[] = {"BROKER", "HOST", "PORT", ""};
    rn_table bt;
    rn_table_init(&bt, 4, bheaders);
    for (int i = 0; i < md->broker_cnt; i++) {
        const struct rd_kafka_metadata_broker *b = &md->brokers[i];
        if (rn_cli_g.json) {
            printf("%s{\"id\":%d,\"host\":", i ? "," : "", (int)b->id);
            rn_json_str(stdout, b->host, -1);
            printf(",\"port\":%d}", b->port);
        } else {
            rn_table_add(&bt, "%d", (int)b->id);
            rn_table_add(&bt, "%s", b->host);
            rn_table_add(&bt, "%d", b->port);
            rn_table_add(&bt, "%s", b->id == controller ? "(controller)" : "");
        }
    }
    if (rn_cli_g.json)
        printf("],\"api_versions\":{");
    else
        rn_table_print(&bt, stdout);
    rn_table_release(&bt);

    int failed = 0, shown = 0;
    for (int i = 0; i < md->broker_cnt && plaintext(); i++) {
        const struct rd_kafka_metadata_broker *b = &md->brokers[i];
        api_range ranges[APIVERSIONS_KEYS_MAX];
        char why[512];
        int n = api_versions(b->host, b->port, ranges, APIVERSIONS_KEYS_MAX, why, sizeof(why));
        if (n < 0) {
            fprintf(stderr, "runnel: broker %d: %s\n", (int)b->id, why);
            failed = 1;
            continue;
        }
        if (rn_cli_g.json) {
            printf("%s\"%d\":[", shown++ ? "," : "", (int)b->id);
            for (int k = 0; k < n; k++)
                printf("%s{\"api\":\"%s\",\"key\":%d,\"min\":%d,\"max\":%d}", k ? "," : "", api_name(ranges[k].key),
                       ranges[k].key, ranges[k].min, ranges[k].max);
            printf("]");
            continue;
        }
        static const char *const aheaders[] = {"API", "KEY", "MIN", "MAX"};
        rn_table at;
        rn_table_init(&at, 4, aheaders);
        for (int k = 0; k < n; k++) {
            rn_table_add(&at, "%s", api_name(ranges[k].key));
            rn_table_add(&at, "%d", ranges[k].key);
            rn_table_add(&at, "%d", ranges[k].min);
            rn_table_add(&at, "%d", ranges[k].max);
        }
        printf("\nAPI versions of broker %d:\n", (int)b->id);
        rn_table_print(&at, stdout);
        rn_table_release(&at);
    }
    if (rn_cli_g.json)
        printf("}}\n");
    else if (!plaintext())
        printf("\nAPI versions: not shown (runnel asks for them over PLAINTEXT only)\n");
    rd_kafka_mem_free(rk, cluster_id);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return failed ? RN_EXIT_ERROR : RN_EXIT_OK;
}

int rn_cmd_cluster(int argc, char **argv)
{
    int v = rn_cli_verb(argc, argv, "cluster", cluster_help);
    if (!strcmp(argv[v], "info"))
        return cluster_info(argc - v, argv + v);
    rn_cli_usage("cluster", "unknown command '%s'", argv[v]);
}

/*
 * main.c - runneld: parse the configuration, recover the logs, serve, and
 * shut down cleanly on SIGTERM/SIGINT.
 *
 *   runneld [server.properties] [--override key=value ...]
 *
 * Start-up order: config -> log dir lock and meta.properties -> clean
 * shutdown marker consumed -> logs opened (recovered when the marker was
 * missing) -> flusher -> network. Shutdown runs it backwards and writes
 * the marker last, only after every log is synced and closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/broker.h"
#include "broker/server.h"
#include "common/clock.h"
#include "common/rlog.h"
#include "group/group.h"
#include "txn/producer_state.h"
#include "txn/txn_coordinator.h"

#define CLEAN_SHUTDOWN_FILE ".runnel_cleanshutdown"

static void usage(FILE *out)
{
    fprintf(out, "usage: runneld [server.properties] [--override key=value ...]\n"
                 "Starts a Runnel broker. With no arguments: a single node on 127.0.0.1:9092,\n"
                 "data in ./data. Keys and defaults are Kafka's; see config/server.properties.\n"
                 "  --api-versions   print the Kafka APIs and versions served, and exit\n");
}

static int mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* meta.properties holds the cluster id and node id (as in KRaft mode). A
 * node id that differs from the configuration's refuses to start: the data
 * belongs to another broker. */
static int load_meta(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.properties", dir);
    FILE *f = fopen(path, "re");
    if (f) {
        char line[512];
        int node = -1;
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = 0;
            if (strncmp(line, "cluster.id=", 11) == 0)
                snprintf(rn_g.cluster_id, sizeof rn_g.cluster_id, "%s", line + 11);
            else if (strncmp(line, "node.id=", 8) == 0)
                node = atoi(line + 8);
        }
        fclose(f);
        if (node != -1 && node != rn_g.cfg.node_id) {
            rn_error("%s belongs to node.id %d but this broker is node.id %d", path, node, rn_g.cfg.node_id);
            return -1;
        }
        if (rn_g.cluster_id[0])
            return 0;
    }
    if (rn_g.cfg.cluster_id[0]) {
        snprintf(rn_g.cluster_id, sizeof rn_g.cluster_id, "%s", rn_g.cfg.cluster_id);
    } else {
        /* Kafka's cluster ids are 16 random bytes in URL-safe base64 (22 chars). */
        static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint8_t rnd[22];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
            return -1;
        for (int i = 0; i < 22; i++)
            rn_g.cluster_id[i] = b64[rnd[i] & 63];
        rn_g.cluster_id[22] = 0;
    }
    char tmp[4300], text[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(text, sizeof text, "version=1\ncluster.id=%s\nnode.id=%d\n", rn_g.cluster_id, rn_g.cfg.node_id);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) < 0)
        return -1;
    fsync_dir(dir);
    return 0;
}

int main(int argc, char **argv)
{
    const char *props = NULL;
    char **overrides = calloc((size_t)argc, sizeof *overrides);
    int noverrides = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--override") == 0 && i + 1 < argc) {
            overrides[noverrides++] = argv[++i];
        } else if (strncmp(argv[i], "--override=", 11) == 0) {
            overrides[noverrides++] = argv[i] + 11;
        } else if (strcmp(argv[i], "--api-versions") == 0) {
            /* The table docs/compatibility.md is made from. */
            printf("| ApiKey | API | versions served | flexible from |\n|---:|---|---|---|\n");
            for (int k = 0; k < rn_api_table_len; k++) {
                const rn_api_desc *d = &rn_api_table[k];
                if (!rn_handler_for(d->api_key))
                    continue;
                char flex[16] = "never";
                if (d->flexible_min >= 0)
                    snprintf(flex, sizeof flex, "v%d", d->flexible_min);
                printf("| %d | %s | %d-%d | %s |\n", d->api_key, d->name, d->min_version, d->max_version, flex);
            }
            free(overrides);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            free(overrides);
            return 0;
        } else if (argv[i][0] != '-' && !props) {
            props = argv[i];
        } else {
            usage(stderr);
            free(overrides);
            return 2;
        }
    }
    char err[512];
    rn_config_defaults(&rn_g.cfg);
    if (rn_config_load(&rn_g.cfg, props, overrides, noverrides, err, sizeof err) < 0) {
        fprintf(stderr, "runneld: %s\n", err);
        return 1;
    }
    free(overrides);
    if (rn_g.cfg.num_network_threads < 1) { /* the config layer defaults it to the core count */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        rn_g.cfg.num_network_threads = cores < 1 ? 1 : cores > 256 ? 256 : (int32_t)cores;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Every segment holds an open file and every client a socket: take all
     * the descriptors the hard limit allows, as Kafka's packaging does. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }

    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)strcspn(rn_g.cfg.log_dirs, ","), rn_g.cfg.log_dirs);
    if (mkdirs(dir) < 0) {
        rn_error("cannot create log dir %s: %s", dir, strerror(errno));
        return 1;
    }
    /* One broker per data folder: a second one would corrupt the logs. */
    char lock_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s/.lock", dir);
    int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rn_error("log dir %s is in use by another broker (cannot lock %s)", dir, lock_path);
        return 1;
    }
    if (load_meta(dir) < 0) {
        rn_error("cannot read or write meta.properties in %s", dir);
        return 1;
    }
    if (rn_dynamic_config_load() < 0 || rn_producer_ids_open(dir) < 0)
        return 1;
    char marker[4200];
    snprintf(marker, sizeof marker, "%s/" CLEAN_SHUTDOWN_FILE, dir);
    int clean = access(marker, F_OK) == 0;
    int64_t t0 = rn_mono_ms();
    int rc = rn_topics_load(clean);
    if (rc < 0) {
        rn_error("cannot load logs from %s: %s", dir, strerror(-rc));
        return 1;
    }
    /* The marker is consumed only after the logs opened: from here on, a
     * crash must make the next start check the tails again. */
    if (clean) {
        unlink(marker);
        fsync_dir(dir);
    }
    rn_info("logs loaded in %lld ms (%s shutdown before)", (long long)(rn_mono_ms() - t0),
            clean ? "clean" : "unclean or first");

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread inherits this; main waits below */

    if (rn_flusher_start() < 0 || rn_groups_start() < 0 || rn_transactions_start() < 0 || rn_log_manager_start() < 0 ||
        rn_offload_start() < 0 || rn_server_start() < 0) {
        rn_error("start-up failed");
        return 1;
    }
    rn_info("runneld started: node.id=%d cluster.id=%s", rn_g.cfg.node_id, rn_g.cluster_id);

    int sig = 0;
    sigwait(&sigs, &sig);
    rn_info("received %s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rn_server_stop();
    rn_offload_stop();
    rn_txn_stop();
    rn_log_manager_stop();
    rn_group_stop();
    rn_flusher_stop();
    rn_topics_close_all();
    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
        fsync_dir(dir);
    }
    rn_info("shutdown complete");
    return 0;
}

/*
 * topics.c - the topic table: topics, their ids and partitions, on disk and
 * in memory.
 *
 * On disk each partition is a folder <log.dir>/<topic>-<partition>/ (Kafka's
 * layout) holding its log and a `partition.metadata` file:
 *
 *   version: 0
 *   topic_id: <22 chars, Kafka's URL-safe base64 of the 16-byte id>
 *
 * A topic is the set of folders that share the name; its partition count is
 * the number of folders. This file will give way to the replicated metadata
 * log (cluster issue); until then the folders are the source of truth.
 *
 * Locking: one process-wide rwlock, writer-preferring so that topic creation
 * is not starved by a stream of produce requests.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/broker.h"
#include "broker/topic_config.h"
#include "common/bin.h"
#include "proto/record_batch.h"
#include "txn/producer_state.h"
#include "common/clock.h"
#include "common/rlog.h"

#define TOPIC_NAME_MAX 249

static pthread_rwlock_t topics_lock;
static pthread_once_t topics_once = PTHREAD_ONCE_INIT;
static rn_topic **by_name, **by_id;
static size_t nbuckets;
static int ntopics;

static void topics_lock_init(void)
{
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&topics_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

void rn_topics_rdlock(void)
{
    pthread_once(&topics_once, topics_lock_init);
    pthread_rwlock_rdlock(&topics_lock);
}

void rn_topics_wrlock(void)
{
    pthread_once(&topics_once, topics_lock_init);
    pthread_rwlock_wrlock(&topics_lock);
}

void rn_topics_unlock(void) { pthread_rwlock_unlock(&topics_lock); }

/* ---- hashing ---- */

static size_t name_slot(const char *name, size_t len) { return rn_hash_bytes(name, len) & (nbuckets - 1); }
static size_t id_slot(rn_uuid id) { return rn_hash_bytes(id.b, 16) & (nbuckets - 1); }

static int table_grow(void)
{
    size_t n = nbuckets ? nbuckets * 2 : 1024;
    rn_topic **nn = calloc(n, sizeof *nn), **ni = calloc(n, sizeof *ni);
    if (!nn || !ni) {
        free(nn);
        free(ni);
        return -ENOMEM;
    }
    size_t old = nbuckets;
    rn_topic **on = by_name;
    by_name = nn;
    by_id = ni;
    nbuckets = n;
    for (size_t i = 0; i < old; i++) {
        for (rn_topic *t = on[i], *next; t; t = next) {
            next = t->next_by_name;
            size_t s = name_slot(t->name, strlen(t->name));
            t->next_by_name = by_name[s];
            by_name[s] = t;
            size_t si = id_slot(t->id);
            t->next_by_id = by_id[si];
            by_id[si] = t;
        }
    }
    free(on);
    return 0;
}

static int table_insert(rn_topic *t)
{
    if ((size_t)ntopics + 1 > nbuckets / 2 && table_grow() < 0)
        return -ENOMEM;
    size_t s = name_slot(t->name, strlen(t->name));
    t->next_by_name = by_name[s];
    by_name[s] = t;
    size_t si = id_slot(t->id);
    t->next_by_id = by_id[si];
    by_id[si] = t;
    ntopics++;
    return 0;
}

static void table_remove(rn_topic *t)
{
    rn_topic **pp = &by_name[name_slot(t->name, strlen(t->name))];
    while (*pp && *pp != t)
        pp = &(*pp)->next_by_name;
    if (*pp)
        *pp = t->next_by_name;
    pp = &by_id[id_slot(t->id)];
    while (*pp && *pp != t)
        pp = &(*pp)->next_by_id;
    if (*pp)
        *pp = t->next_by_id;
    ntopics--;
}

rn_topic *rn_topic_find(rn_str name)
{
    if (!nbuckets || name.len <= 0 || name.len > TOPIC_NAME_MAX)
        return NULL;
    for (rn_topic *t = by_name[name_slot(name.ptr, (size_t)name.len)]; t; t = t->next_by_name)
        if (rn_str_eq_c(name, t->name))
            return t;
    return NULL;
}

rn_topic *rn_topic_find_id(rn_uuid id)
{
    if (!nbuckets)
        return NULL;
    for (rn_topic *t = by_id[id_slot(id)]; t; t = t->next_by_id)
        if (memcmp(t->id.b, id.b, 16) == 0)
            return t;
    return NULL;
}

rn_partition *rn_partition_find(rn_topic *t, int32_t index)
{
    if (!t || index < 0 || index >= t->npartitions)
        return NULL;
    return t->parts[index];
}

void rn_topics_each(int (*fn)(rn_topic *t, void *arg), void *arg)
{
    for (size_t i = 0; i < nbuckets; i++)
        for (rn_topic *t = by_name[i]; t; t = t->next_by_name)
            if (fn(t, arg))
                return;
}

int rn_topics_count(void) { return ntopics; }

const char *rn_topic_name_invalid(rn_str name)
{
    if (name.len <= 0)
        return "topic name is empty";
    if (name.len > TOPIC_NAME_MAX)
        return "topic name is longer than 249 characters";
    if ((name.len == 1 && name.ptr[0] == '.') || (name.len == 2 && name.ptr[0] == '.' && name.ptr[1] == '.'))
        return "topic name cannot be '.' or '..'";
    for (int32_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return "topic name contains a character other than ASCII alphanumerics, '.', '_' and '-'";
    }
    return NULL;
}

/* ---- topic ids (Kafka prints them as URL-safe base64 without padding) ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void uuid_to_text(rn_uuid id, char out[23])
{
    int o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (int i = 0; i < 16; i++) {
        acc = (acc << 8) | id.b[i];
        bits += 8;
        while (bits >= 6) {
            out[o++] = b64[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0)
        out[o++] = b64[(acc << (6 - bits)) & 63];
    out[o] = 0;
}

static int uuid_from_text(const char *s, rn_uuid *id)
{
    uint32_t acc = 0;
    int bits = 0, o = 0;
    for (; *s && *s != '\n' && *s != '\r'; s++) {
        const char *p = strchr(b64, *s);
        if (!p || !*s)
            return -1;
        acc = (acc << 6) | (uint32_t)(p - b64);
        bits += 6;
        if (bits >= 8) {
            if (o == 16)
                return -1;
            id->b[o++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    return o == 16 ? 0 : -1;
}

static rn_uuid uuid_random(void)
{
    rn_uuid id;
    do {
        if (getrandom(id.b, 16, 0) != 16)
            abort();
        id.b[6] = (uint8_t)((id.b[6] & 0x0f) | 0x40); /* version 4 */
        id.b[8] = (uint8_t)((id.b[8] & 0x3f) | 0x80);
    } while (rn_topic_find_id(id)); /* Kafka never hands out the zero id or a duplicate */
    return id;
}

/* ---- files ---- */

static const char *log_dir(void)
{
    /* log.dirs may list several; one broker uses the first for now. */
    static _Thread_local char first[4096];
    const char *dirs = rn_g.cfg.log_dirs;
    size_t n = strcspn(dirs, ",");
    if (n >= sizeof first)
        n = sizeof first - 1;
    memcpy(first, dirs, n);
    first[n] = 0;
    return first;
}

static void partition_path(char *buf, size_t len, const char *topic, int32_t index)
{
    snprintf(buf, len, "%s/%s-%d", log_dir(), topic, index);
}

static int write_file_atomic(const char *path, const char *text)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text);
    int rc = 0;
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
        rc = errno ? -errno : -EIO;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    return rc;
}

static void load_aborted(rn_partition *p, const char *dir);

static int replay_batch(void *arg, const uint8_t *batch, size_t len)
{
    rn_pstate *ps = arg;
    rn_batch_info bi;
    if (rn_batch_peek(batch, len, &bi) < 0 || bi.producer_id < 0)
        return 0;
    if (bi.attributes & RN_ATTR_CONTROL) { /* a transaction marker closes the producer's transaction */
        rn_pstate_end_txn(ps, bi.producer_id, bi.producer_epoch, bi.base_offset);
        return 0;
    }
    rn_pbatch pb = {
        .producer_id = bi.producer_id,
        .epoch = bi.producer_epoch,
        .first_seq = bi.base_sequence,
        .last_seq = (int32_t)(((int64_t)bi.base_sequence + bi.last_offset_delta) % ((int64_t)INT32_MAX + 1)),
        .first_offset = bi.base_offset,
        .last_offset = bi.base_offset + bi.last_offset_delta,
        .max_timestamp = bi.max_timestamp,
        .transactional = (bi.attributes & RN_ATTR_TRANSACTIONAL) != 0,
    };
    return rn_pstate_update(ps, &pb) < 0;
}

/* Producer state = the newest snapshot at or below the log end, plus the
 * batches after it (all of them when there is no usable snapshot). */
static int load_producer_state(rn_partition *p, const char *dir)
{
    int64_t end = rn_log_end_offset(p->log);
    int64_t from = rn_pstate_load(p->pstate, dir, end);
    if (from < 0)
        from = 0;
    int rc = rn_partition_scan(p, from, replay_batch, p->pstate);
    load_aborted(p, dir);
    return rc;
}

/* Saves the producer state as of the log end (clean shutdown, housekeeping). */
void rn_partition_snapshot_producers(rn_partition *p)
{
    char dir[4200];
    partition_path(dir, sizeof dir, p->topic->name, p->index);
    pthread_mutex_lock(&p->produce_mu);
    int64_t end = rn_log_end_offset(p->log);
    int rc = rn_pstate_count(p->pstate) ? rn_pstate_save(p->pstate, dir, end) : 0;
    pthread_mutex_unlock(&p->produce_mu);
    if (rc < 0)
        rn_warn("cannot write the producer snapshot of %s: %s", dir, strerror(-rc));
}

static rn_partition *partition_open(rn_topic *t, int32_t index, int clean_shutdown, int create)
{
    char dir[4200];
    partition_path(dir, sizeof dir, t->name, index);
    if (create) {
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            rn_error("cannot create %s: %s", dir, strerror(errno));
            return NULL;
        }
        char meta[4300], text[128], idtext[23];
        snprintf(meta, sizeof meta, "%s/partition.metadata", dir);
        uuid_to_text(t->id, idtext);
        snprintf(text, sizeof text, "version: 0\ntopic_id: %s\n", idtext);
        if (write_file_atomic(meta, text) < 0 || rn_topic_config_save(t, dir) < 0) {
            rn_error("cannot write the metadata of %s: %s", dir, strerror(errno));
            return NULL;
        }
    }
    rn_partition *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->topic = t;
    p->index = index;
    pthread_mutex_init(&p->hold_mu, NULL);
    pthread_cond_init(&p->hold_cv, NULL);
    atomic_store(&p->last_sync_ms, rn_mono_ms());
    int rc = rn_log_open(dir, &t->log_cfg, clean_shutdown, &p->log);
    if (rc < 0) {
        rn_error("cannot open log %s: %s", dir, strerror(-rc));
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->produce_mu, NULL);
    p->pstate = rn_pstate_new();
    if (!p->pstate || load_producer_state(p, dir) < 0) {
        rn_error("cannot rebuild the producer state of %s", dir);
        rn_pstate_free(p->pstate);
        rn_log_close(p->log);
        free(p);
        return NULL;
    }
    return p;
}

int rn_partition_try_hold(rn_partition *p)
{
    pthread_mutex_lock(&p->hold_mu);
    int ok = !p->dying;
    if (ok)
        p->holds++;
    pthread_mutex_unlock(&p->hold_mu);
    return ok;
}

void rn_partition_unhold(rn_partition *p)
{
    pthread_mutex_lock(&p->hold_mu);
    if (--p->holds == 0)
        pthread_cond_broadcast(&p->hold_cv);
    pthread_mutex_unlock(&p->hold_mu);
}

static void partition_free(rn_partition *p, int delete_data)
{
    if (!p)
        return;
    /* Background work that holds it without the topics lock finishes first. */
    pthread_mutex_lock(&p->hold_mu);
    p->dying = 1;
    while (p->holds > 0)
        pthread_cond_wait(&p->hold_cv, &p->hold_mu);
    pthread_mutex_unlock(&p->hold_mu);
    rn_flusher_forget(p);
    if (delete_data) {
        rn_log_delete(p->log);
    } else {
        rn_partition_snapshot_producers(p);
        rn_log_close(p->log);
    }
    rn_pstate_free(p->pstate);
    free(p->aborted);
    pthread_mutex_destroy(&p->produce_mu);
    pthread_mutex_destroy(&p->hold_mu);
    pthread_cond_destroy(&p->hold_cv);
    free(p);
}

static void topic_free(rn_topic *t)
{
    free(t->parts);
    free(t);
}

static int topic_grow_array(rn_topic *t, int32_t n)
{
    rn_partition **parts = realloc(t->parts, (size_t)n * sizeof *parts);
    if (!parts)
        return -ENOMEM;
    for (int32_t i = t->npartitions; i < n; i++)
        parts[i] = NULL;
    t->parts = parts;
    return 0;
}

int rn_topic_create(rn_str name, int32_t npartitions, const rn_str *config_keys, const rn_str *config_values,
                    int nconfigs, rn_topic **out, const char **msg)
{
    const char *why = rn_topic_name_invalid(name);
    if (why) {
        *msg = why;
        return RN_ERR_INVALID_TOPIC_EXCEPTION;
    }
    if (rn_topic_find(name)) {
        *msg = "topic already exists";
        return RN_ERR_TOPIC_ALREADY_EXISTS;
    }
    if (npartitions <= 0 || npartitions > 100000) {
        *msg = "number of partitions must be between 1 and 100000";
        return RN_ERR_INVALID_PARTITIONS;
    }
    rn_topic *t = calloc(1, sizeof *t);
    if (!t || topic_grow_array(t, npartitions) < 0) {
        free(t);
        *msg = "out of memory";
        return RN_ERR_UNKNOWN_SERVER_ERROR;
    }
    memcpy(t->name, name.ptr, (size_t)name.len);
    t->id = uuid_random();
    for (int i = 0; i < nconfigs; i++)
        if (rn_topic_config_set(t, config_keys[i], config_values[i]) < 0) {
            topic_free(t);
            *msg = "too many or too long topic configs";
            return RN_ERR_INVALID_CONFIG;
        }
    rn_topic_config_apply(t);
    for (int32_t i = 0; i < npartitions; i++) {
        t->parts[i] = partition_open(t, i, 1, 1);
        if (!t->parts[i]) {
            for (int32_t j = 0; j < i; j++)
                partition_free(t->parts[j], 1);
            topic_free(t);
            *msg = "cannot create the partition's log on disk";
            return RN_ERR_KAFKA_STORAGE_ERROR;
        }
        t->npartitions = i + 1;
    }
    if (table_insert(t) < 0) {
        for (int32_t j = 0; j < t->npartitions; j++)
            partition_free(t->parts[j], 1);
        topic_free(t);
        *msg = "out of memory";
        return RN_ERR_UNKNOWN_SERVER_ERROR;
    }
    rn_info("created topic %s with %d partitions", t->name, npartitions);
    *out = t;
    return RN_ERR_NONE;
}

int rn_topic_store_config(rn_topic *t)
{
    rn_topic_config_apply(t);
    for (int32_t i = 0; i < t->npartitions; i++) {
        char dir[4200];
        partition_path(dir, sizeof dir, t->name, i);
        int rc = rn_topic_config_save(t, dir);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void rn_topics_reapply_configs(void)
{
    for (size_t i = 0; i < nbuckets; i++)
        for (rn_topic *t = by_name[i]; t; t = t->next_by_name)
            rn_topic_config_apply(t);
}

int rn_topic_add_partitions(rn_topic *t, int32_t npartitions, const char **msg)
{
    if (npartitions <= t->npartitions) {
        *msg = "the number of partitions can only be increased";
        return RN_ERR_INVALID_PARTITIONS;
    }
    if (npartitions > 100000) {
        *msg = "number of partitions must be at most 100000";
        return RN_ERR_INVALID_PARTITIONS;
    }
    if (topic_grow_array(t, npartitions) < 0) {
        *msg = "out of memory";
        return RN_ERR_UNKNOWN_SERVER_ERROR;
    }
    for (int32_t i = t->npartitions; i < npartitions; i++) {
        t->parts[i] = partition_open(t, i, 1, 1);
        if (!t->parts[i]) {
            *msg = "cannot create the partition's log on disk";
            return RN_ERR_KAFKA_STORAGE_ERROR;
        }
        t->npartitions = i + 1;
    }
    rn_info("topic %s now has %d partitions", t->name, npartitions);
    return RN_ERR_NONE;
}

int rn_topic_delete(rn_topic *t)
{
    table_remove(t);
    rn_info("deleting topic %s", t->name);
    for (int32_t i = 0; i < t->npartitions; i++)
        partition_free(t->parts[i], 1);
    topic_free(t);
    return RN_ERR_NONE;
}

/* ---- start-up and shutdown ---- */

static int read_topic_id(const char *dir, rn_uuid *id)
{
    char path[4300], buf[256];
    snprintf(path, sizeof path, "%s/partition.metadata", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int rc = -1;
    while (fgets(buf, sizeof buf, f))
        if (strncmp(buf, "topic_id: ", 10) == 0)
            rc = uuid_from_text(buf + 10, id);
    fclose(f);
    return rc;
}

/* Splits "<topic>-<n>" at the last '-'. Returns the partition or -1. */
static int32_t parse_partition_dir(const char *name, char *topic, size_t topic_len)
{
    const char *dash = strrchr(name, '-');
    if (!dash || dash == name || !dash[1])
        return -1;
    char *end;
    long n = strtol(dash + 1, &end, 10);
    if (*end || n < 0 || n > 100000)
        return -1;
    size_t tl = (size_t)(dash - name);
    if (tl >= topic_len)
        return -1;
    memcpy(topic, name, tl);
    topic[tl] = 0;
    if (rn_topic_name_invalid(rn_str_c(topic)))
        return -1;
    return (int32_t)n;
}

int rn_topics_load(int clean_shutdown)
{
    const char *dir = log_dir();
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *de;
    int rc = 0, nparts = 0;
    while ((de = readdir(d))) {
        char topic[256];
        int32_t index = parse_partition_dir(de->d_name, topic, sizeof topic);
        if (index < 0)
            continue;
        char pdir[4200];
        partition_path(pdir, sizeof pdir, topic, index);
        rn_uuid id;
        if (read_topic_id(pdir, &id) < 0) {
            rn_warn("skipping %s: no valid partition.metadata", pdir);
            continue;
        }
        rn_topic *t = rn_topic_find(rn_str_c(topic));
        if (!t) {
            t = calloc(1, sizeof *t);
            if (!t) {
                rc = -ENOMEM;
                break;
            }
            strcpy(t->name, topic); /* length checked by parse_partition_dir */
            t->id = id;
            if (rn_topic_config_load(t, pdir) < 0)
                rn_warn("%s: cannot read topic.config; using broker defaults", pdir);
            rn_topic_config_apply(t);
            if (table_insert(t) < 0) {
                free(t);
                rc = -ENOMEM;
                break;
            }
        } else if (memcmp(t->id.b, id.b, 16) != 0) {
            rn_warn("skipping %s: its topic id differs from the topic's other partitions", pdir);
            continue;
        }
        if (index >= t->npartitions) {
            if (topic_grow_array(t, index + 1) < 0) {
                rc = -ENOMEM;
                break;
            }
            t->npartitions = index + 1;
        }
        t->parts[index] = partition_open(t, index, clean_shutdown, 0);
        if (!t->parts[index]) {
            rc = -EIO;
            break;
        }
        nparts++;
    }
    closedir(d);
    if (rc < 0)
        return rc;
    /* A gap (a partition folder missing) makes the topic unusable: report it. */
    for (size_t i = 0; i < nbuckets; i++)
        for (rn_topic *t = by_name[i]; t; t = t->next_by_name)
            for (int32_t p = 0; p < t->npartitions; p++)
                if (!t->parts[p]) {
                    rn_warn("topic %s: partition %d folder is missing; recreating it empty", t->name, p);
                    t->parts[p] = partition_open(t, p, 1, 1);
                    if (!t->parts[p])
                        return -EIO;
                }
    rn_info("loaded %d topics, %d partitions from %s", ntopics, nparts, dir);
    return 0;
}

void rn_topics_close_all(void)
{
    for (size_t i = 0; i < nbuckets; i++) {
        for (rn_topic *t = by_name[i], *next; t; t = next) {
            next = t->next_by_name;
            for (int32_t p = 0; p < t->npartitions; p++)
                partition_free(t->parts[p], 0);
            topic_free(t);
        }
        by_name[i] = NULL;
    }
    free(by_name);
    free(by_id);
    by_name = by_id = NULL;
    nbuckets = 0;
    ntopics = 0;
}

int64_t rn_partition_high_watermark(rn_partition *p)
{
    /* One replica: everything appended is committed (Kafka's behaviour with RF=1). */
    return rn_log_end_offset(p->log);
}

rn_str rn_arena_str(rn_arena *a, const char *s)
{
    size_t n = strlen(s);
    char *c = rn_arena_strndup(a, s, n);
    rn_str r = {c, c ? (int32_t)n : -1};
    return r;
}

int rn_partition_scan(rn_partition *p, int64_t from, int (*fn)(void *arg, const uint8_t *batch, size_t len), void *arg)
{
    int64_t start = rn_log_start_offset(p->log), end = rn_log_end_offset(p->log);
    int64_t off = from < start ? start : from;
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    while (off < end && rc == 0) {
        rn_log_slice s;
        int r = rn_log_read(p->log, off, (int32_t)cap, end, &s);
        if (r < 0) {
            rc = r;
            break;
        }
        if (s.len <= 0 || !s.file)
            break;
        if ((size_t)s.len > cap) { /* one batch larger than the buffer (KIP-74 answers it whole) */
            uint8_t *nb = realloc(buf, (size_t)s.len);
            if (!nb) {
                rn_fileref_drop(s.file);
                rc = -ENOMEM;
                break;
            }
            buf = nb;
            cap = (size_t)s.len;
        }
        ssize_t n = pread(s.file->fd, buf, (size_t)s.len, s.pos);
        rn_fileref_drop(s.file);
        if (n != s.len) {
            rc = -EIO;
            break;
        }
        size_t at = 0;
        int64_t next = off;
        while (at + RN_BATCH_HEADER_BYTES <= (size_t)n) {
            rn_batch_info bi;
            rn_batch_peek(buf + at, (size_t)n - at, &bi);
            size_t blen = RN_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
            if (bi.batch_length < RN_BATCH_HEADER_BYTES - RN_BATCH_LOG_OVERHEAD || at + blen > (size_t)n)
                break; /* the slice's cut-off tail */
            if (bi.base_offset + bi.last_offset_delta >= off && fn(arg, buf + at, blen)) {
                rc = 1;
                break;
            }
            next = bi.base_offset + bi.last_offset_delta + 1;
            at += blen;
        }
        if (next <= off)
            break; /* no whole batch fitted: give up rather than spin */
        off = next;
    }
    free(buf);
    return rc < 0 ? rc : 0;
}

/* ---- transactions in a partition ---- */

static int push_aborted(rn_partition *p, int64_t pid, int64_t first, int64_t last)
{
    if (p->naborted == p->aborted_cap) {
        int cap = p->aborted_cap ? p->aborted_cap * 2 : 16;
        rn_log_aborted_txn *a = realloc(p->aborted, (size_t)cap * sizeof *a);
        if (!a)
            return -ENOMEM;
        p->aborted = a;
        p->aborted_cap = cap;
    }
    p->aborted[p->naborted++] = (rn_log_aborted_txn){pid, first, last};
    return 0;
}

#define ABORTED_FILE "aborted-txns" /* one "pid first last" line per aborted transaction */

/* Writes a[0..n) to the partition's ABORTED_FILE, fdatasync'ed: appended,
 * or replacing the file (tmp, then rename; on failure the old file stays,
 * and extra lines in it are harmless). 0 or -errno. */
static int write_aborted(rn_partition *p, const rn_log_aborted_txn *a, int n, int replace)
{
    char path[4300], tmp[4320];
    partition_path(path, sizeof path - 16, p->topic->name, p->index);
    strcat(path, "/" ABORTED_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(replace ? tmp : path, replace ? "we" : "ae");
    if (!f)
        return -errno;
    for (int i = 0; i < n; i++)
        fprintf(f, "%lld %lld %lld\n", (long long)a[i].producer_id, (long long)a[i].first_offset,
                (long long)a[i].last_offset);
    int rc = (fflush(f) == 0 && fdatasync(fileno(f)) == 0) ? 0 : -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (replace && rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (replace && rc < 0)
        unlink(tmp);
    return rc;
}

int rn_partition_add_aborted(rn_partition *p, int64_t pid, int64_t first, int64_t last)
{
    if (push_aborted(p, pid, first, last) < 0)
        return -ENOMEM;
    /* Appended with the same durability as the marker: the marker's flush
     * round follows, and this file is synced here since it is tiny and rare. */
    return write_aborted(p, &p->aborted[p->naborted - 1], 1, 0);
}

int rn_partition_copy_aborted(rn_partition *p, rn_log_aborted_txn **out, int32_t *n)
{
    int rc = 0;
    pthread_mutex_lock(&p->produce_mu);
    rn_log_aborted_txn *a = p->naborted ? malloc((size_t)p->naborted * sizeof *a) : NULL;
    if (a)
        memcpy(a, p->aborted, (size_t)p->naborted * sizeof *a);
    else if (p->naborted)
        rc = -ENOMEM;
    *out = a;
    *n = a ? p->naborted : 0;
    pthread_mutex_unlock(&p->produce_mu);
    return rc;
}

int rn_partition_trim_aborted(rn_partition *p, int64_t below)
{
    pthread_mutex_lock(&p->produce_mu);
    int keep = 0;
    for (int i = 0; i < p->naborted; i++)
        if (p->aborted[i].last_offset >= below)
            p->aborted[keep++] = p->aborted[i];
    if (keep == p->naborted) {
        pthread_mutex_unlock(&p->produce_mu);
        return 0;
    }
    p->naborted = keep;
    /* Rewritten under produce_mu so that no marker's line is appended to
     * the file being replaced; this runs rarely (housekeeping, when an
     * entry goes). */
    int rc = write_aborted(p, p->aborted, keep, 1);
    pthread_mutex_unlock(&p->produce_mu);
    return rc;
}

static void load_aborted(rn_partition *p, const char *dir)
{
    char path[4300], line[128];
    snprintf(path, sizeof path, "%s/" ABORTED_FILE, dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    int64_t start = rn_log_start_offset(p->log), end = rn_log_end_offset(p->log);
    while (fgets(line, sizeof line, f)) {
        long long pid, first, last;
        /* Entries wholly below the log start are gone; past the end, torn away. */
        if (sscanf(line, "%lld %lld %lld", &pid, &first, &last) == 3 && last >= start && last < end &&
            p->naborted < 1 << 24 && push_aborted(p, pid, first, last) < 0)
            break;
    }
    fclose(f);
}

int64_t rn_partition_lso(rn_partition *p)
{
    int64_t hw = rn_partition_high_watermark(p);
    pthread_mutex_lock(&p->produce_mu);
    int64_t first = rn_pstate_first_open_txn(p->pstate);
    pthread_mutex_unlock(&p->produce_mu);
    if (first < 0 || first >= hw)
        return hw;
    /* Retention may have deleted the open transaction's first batches (as
     * in Kafka, the first unstable offset is then the log start). */
    int64_t start = rn_log_start_offset(p->log);
    return first > start ? first : start;
}

/*
 * producer_state.c - see producer_state.h.
 *
 * Snapshot file format (<20-digit offset>.snapshot, big-endian):
 *
 *   offset  size  field
 *   0       4     magic "RNPS"
 *   4       2     version (1)
 *   6       4     producer count N
 *   10      ...   N entries:
 *                 8 producer id | 2 epoch | 8 last timestamp | 8 txn first offset
 *                 | 1 batch count B | B x (4 first seq | 4 last seq | 8 first offset | 8 last offset)
 *   end-4   4     CRC32C of every byte before it
 *
 * A snapshot that fails its CRC or length checks is ignored (the log tail
 * is replayed from an older one, or from the start).
 */
#include "txn/producer_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bin.h"
#include "common/crc32c.h"
#include "common/rlog.h"

typedef struct cached_batch {
    int32_t first_seq, last_seq;
    int64_t first_offset, last_offset;
} cached_batch;

typedef struct pentry {
    int64_t producer_id;
    int16_t epoch;
    int64_t last_timestamp;
    int64_t txn_first_offset;
    int nbatches; /* newest last */
    cached_batch batches[RN_PSTATE_BATCHES];
    struct pentry *next;
} pentry;

struct rn_pstate {
    pentry **buckets;
    size_t nbuckets;
    int count;
    int open_txns; /* entries with txn_first_offset >= 0: Fetch asks on every request */
};

rn_pstate *rn_pstate_new(void) { return calloc(1, sizeof(rn_pstate)); }

static void clear(rn_pstate *s)
{
    for (size_t i = 0; i < s->nbuckets; i++)
        while (s->buckets[i]) {
            pentry *e = s->buckets[i];
            s->buckets[i] = e->next;
            free(e);
        }
    s->count = 0;
    s->open_txns = 0;
}

void rn_pstate_free(rn_pstate *s)
{
    if (!s)
        return;
    clear(s);
    free(s->buckets);
    free(s);
}

int rn_pstate_count(const rn_pstate *s) { return s->count; }

static size_t slot(const rn_pstate *s, int64_t pid)
{
    uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 20) & (s->nbuckets - 1);
}

static pentry *find(const rn_pstate *s, int64_t pid)
{
    if (!s->nbuckets)
        return NULL;
    for (pentry *e = s->buckets[slot(s, pid)]; e; e = e->next)
        if (e->producer_id == pid)
            return e;
    return NULL;
}

static int grow(rn_pstate *s)
{
    size_t n = s->nbuckets ? s->nbuckets * 2 : 64;
    pentry **nb = calloc(n, sizeof *nb);
    if (!nb)
        return -1;
    pentry **old = s->buckets;
    size_t oldn = s->nbuckets;
    s->buckets = nb;
    s->nbuckets = n;
    for (size_t i = 0; i < oldn; i++)
        for (pentry *e = old[i], *next; e; e = next) {
            next = e->next;
            size_t k = slot(s, e->producer_id);
            e->next = nb[k];
            nb[k] = e;
        }
    free(old);
    return 0;
}

static pentry *find_or_add(rn_pstate *s, int64_t pid)
{
    pentry *e = find(s, pid);
    if (e)
        return e;
    if ((size_t)s->count + 1 > s->nbuckets && grow(s) < 0)
        return NULL;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->producer_id = pid;
    e->epoch = -1;
    e->txn_first_offset = -1;
    size_t k = slot(s, pid);
    e->next = s->buckets[k];
    s->buckets[k] = e;
    s->count++;
    return e;
}

static int32_t next_seq(int32_t seq) { return seq == INT32_MAX ? 0 : seq + 1; }

rn_pcheck rn_pstate_check(const rn_pstate *s, const rn_pbatch *b, int n, int64_t *dup_first_offset)
{
    if (n <= 0 || b[0].producer_id < 0)
        return RN_PCHECK_OK;
    const pentry *e = find(s, b[0].producer_id);
    /* A retry of a cached batch (same epoch and sequences): answer it again. */
    if (e && e->epoch == b[0].epoch)
        for (int i = 0; i < e->nbatches; i++)
            if (e->batches[i].first_seq == b[0].first_seq && e->batches[i].last_seq == b[0].last_seq) {
                *dup_first_offset = e->batches[i].first_offset;
                return RN_PCHECK_DUPLICATE;
            }
    int16_t epoch = e ? e->epoch : -1;
    int32_t last = e && e->nbatches ? e->batches[e->nbatches - 1].last_seq : -1;
    for (int i = 0; i < n; i++) {
        if (b[i].producer_id != b[0].producer_id)
            return RN_PCHECK_OUT_OF_ORDER; /* several producers in one partition's records */
        if (epoch >= 0 && b[i].epoch < epoch)
            return RN_PCHECK_FENCED_EPOCH;
        if (b[i].epoch != epoch) {
            /* A new epoch of a known producer restarts at 0. A producer this
             * partition knows nothing of (expired, or its batches deleted by
             * retention) is taken at its word, as Kafka does since 2.5. */
            if (b[i].first_seq != 0 && epoch >= 0)
                return RN_PCHECK_OUT_OF_ORDER;
        } else if (last < 0 ? b[i].first_seq != 0 : b[i].first_seq != next_seq(last)) {
            return RN_PCHECK_OUT_OF_ORDER;
        }
        epoch = b[i].epoch;
        last = b[i].last_seq;
    }
    return RN_PCHECK_OK;
}

int rn_pstate_update(rn_pstate *s, const rn_pbatch *b)
{
    if (b->producer_id < 0)
        return 0;
    pentry *e = find_or_add(s, b->producer_id);
    if (!e)
        return -1;
    if (b->epoch != e->epoch) {
        e->epoch = b->epoch;
        e->nbatches = 0;
    }
    if (e->nbatches == RN_PSTATE_BATCHES) {
        memmove(&e->batches[0], &e->batches[1], (RN_PSTATE_BATCHES - 1) * sizeof e->batches[0]);
        e->nbatches--;
    }
    cached_batch *c = &e->batches[e->nbatches++];
    c->first_seq = b->first_seq;
    c->last_seq = b->last_seq;
    c->first_offset = b->first_offset;
    c->last_offset = b->last_offset;
    if (b->max_timestamp > e->last_timestamp)
        e->last_timestamp = b->max_timestamp;
    if (b->transactional && e->txn_first_offset < 0) {
        e->txn_first_offset = b->first_offset;
        s->open_txns++;
    }
    return 0;
}

void rn_pstate_expire(rn_pstate *s, int64_t now_ms, int64_t expiration_ms)
{
    for (size_t i = 0; i < s->nbuckets; i++)
        for (pentry **pp = &s->buckets[i]; *pp;) {
            pentry *e = *pp;
            if (e->txn_first_offset < 0 && e->last_timestamp + expiration_ms < now_ms) {
                *pp = e->next;
                free(e);
                s->count--;
            } else {
                pp = &e->next;
            }
        }
}

void rn_pstate_each(const rn_pstate *s, void (*fn)(void *arg, const rn_producer_info *p), void *arg)
{
    for (size_t i = 0; i < s->nbuckets; i++)
        for (const pentry *e = s->buckets[i]; e; e = e->next) {
            rn_producer_info pi = {
                .producer_id = e->producer_id,
                .epoch = e->epoch,
                .last_sequence = e->nbatches ? e->batches[e->nbatches - 1].last_seq : -1,
                .last_timestamp = e->last_timestamp,
                .txn_first_offset = e->txn_first_offset,
            };
            fn(arg, &pi);
        }
}

/* ---- snapshots ---- */

#define ENTRY_FIXED 27
#define BATCH_BYTES 24

int rn_pstate_save(const rn_pstate *s, const char *dir, int64_t offset)
{
    size_t len = 10 + 4;
    for (size_t i = 0; i < s->nbuckets; i++)
        for (const pentry *e = s->buckets[i]; e; e = e->next)
            len += ENTRY_FIXED + (size_t)e->nbatches * BATCH_BYTES;
    uint8_t *buf = malloc(len);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, "RNPS", 4);
    rn_bin_store_be(buf + 4, 1, 2);
    rn_bin_store_be(buf + 6, (uint32_t)s->count, 4);
    size_t at = 10;
    for (size_t i = 0; i < s->nbuckets; i++)
        for (const pentry *e = s->buckets[i]; e; e = e->next) {
            rn_bin_store_be(buf + at, (uint64_t)e->producer_id, 8);
            rn_bin_store_be(buf + at + 8, (uint16_t)e->epoch, 2);
            rn_bin_store_be(buf + at + 10, (uint64_t)e->last_timestamp, 8);
            rn_bin_store_be(buf + at + 18, (uint64_t)e->txn_first_offset, 8);
            buf[at + 26] = (uint8_t)e->nbatches;
            at += ENTRY_FIXED;
            for (int b = 0; b < e->nbatches; b++) {
                rn_bin_store_be(buf + at, (uint32_t)e->batches[b].first_seq, 4);
                rn_bin_store_be(buf + at + 4, (uint32_t)e->batches[b].last_seq, 4);
                rn_bin_store_be(buf + at + 8, (uint64_t)e->batches[b].first_offset, 8);
                rn_bin_store_be(buf + at + 16, (uint64_t)e->batches[b].last_offset, 8);
                at += BATCH_BYTES;
            }
        }
    rn_bin_store_be(buf + at, rn_crc32c(0, buf, at), 4);
    char path[4200], tmp[4210];
    snprintf(path, sizeof path, "%s/%020lld.snapshot", dir, (long long)offset);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    if (write(fd, buf, len) != (ssize_t)len || fdatasync(fd) < 0)
        rc = errno ? -errno : -EIO;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    /* Older snapshots are no longer needed. */
    DIR *d = rc == 0 ? opendir(dir) : NULL;
    for (struct dirent *de; d && (de = readdir(d));) {
        long long o;
        char rest[16];
        if (sscanf(de->d_name, "%20lld.%15s", &o, rest) == 2 && strcmp(rest, "snapshot") == 0 && o != offset) {
            char old[4400];
            snprintf(old, sizeof old, "%s/%s", dir, de->d_name);
            unlink(old);
        }
    }
    if (d)
        closedir(d);
out:
    free(buf);
    return rc;
}

static int parse(rn_pstate *s, const uint8_t *buf, size_t len)
{
    if (len < 14 || memcmp(buf, "RNPS", 4) != 0 || rn_bin_load_be(buf + 4, 2) != 1)
        return -1;
    if ((uint32_t)rn_bin_load_be(buf + len - 4, 4) != rn_crc32c(0, buf, len - 4))
        return -1;
    uint32_t n = (uint32_t)rn_bin_load_be(buf + 6, 4);
    size_t at = 10, end = len - 4;
    for (uint32_t i = 0; i < n; i++) {
        if (end - at < ENTRY_FIXED)
            return -1;
        int nb = buf[at + 26];
        if (nb > RN_PSTATE_BATCHES || end - at - ENTRY_FIXED < (size_t)nb * BATCH_BYTES)
            return -1;
        pentry *e = find_or_add(s, (int64_t)rn_bin_load_be(buf + at, 8));
        if (!e)
            return -1;
        e->epoch = (int16_t)rn_bin_load_be(buf + at + 8, 2);
        e->last_timestamp = (int64_t)rn_bin_load_be(buf + at + 10, 8);
        if (e->txn_first_offset >= 0) /* a producer listed twice: counted once */
            s->open_txns--;
        e->txn_first_offset = (int64_t)rn_bin_load_be(buf + at + 18, 8);
        if (e->txn_first_offset >= 0)
            s->open_txns++;
        e->nbatches = nb;
        at += ENTRY_FIXED;
        for (int b = 0; b < nb; b++) {
            e->batches[b].first_seq = (int32_t)rn_bin_load_be(buf + at, 4);
            e->batches[b].last_seq = (int32_t)rn_bin_load_be(buf + at + 4, 4);
            e->batches[b].first_offset = (int64_t)rn_bin_load_be(buf + at + 8, 8);
            e->batches[b].last_offset = (int64_t)rn_bin_load_be(buf + at + 16, 8);
            at += BATCH_BYTES;
        }
    }
    return at == end ? 0 : -1;
}

int64_t rn_pstate_load(rn_pstate *s, const char *dir, int64_t max_offset)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    long long best = -1;
    for (struct dirent *de; (de = readdir(d));) {
        long long o;
        char rest[16];
        if (sscanf(de->d_name, "%20lld.%15s", &o, rest) == 2 && strcmp(rest, "snapshot") == 0 && o <= max_offset &&
            o > best)
            best = o;
    }
    closedir(d);
    if (best < 0)
        return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/%020lld.snapshot", dir, best);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > (64u << 20)) /* a snapshot this large is not ours */
                break;
            uint8_t *nb = realloc(buf, cap);
            if (!nb)
                break;
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    int rc = buf ? parse(s, buf, len) : -1;
    free(buf);
    if (rc < 0) {
        rn_warn("%s: damaged producer snapshot ignored", path);
        clear(s);
        return -1;
    }
    return best;
}

/* ---- producer ids ---- */

#define PID_BLOCK 1000

static pthread_mutex_t pid_mu = PTHREAD_MUTEX_INITIALIZER;
static char pid_path[4200];
static int64_t pid_next, pid_block_end;

static int write_block_end(int64_t end)
{
    char tmp[4210], text[64];
    snprintf(tmp, sizeof tmp, "%s.tmp", pid_path);
    snprintf(text, sizeof text, "%lld\n", (long long)end);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) < 0)
        rc = errno ? -errno : -EIO;
    close(fd);
    if (rc == 0 && rename(tmp, pid_path) < 0)
        rc = -errno;
    return rc;
}

int rn_producer_ids_open(const char *dir)
{
    snprintf(pid_path, sizeof pid_path, "%s/producer-id-block", dir);
    FILE *f = fopen(pid_path, "re");
    long long end = 0;
    if (f) {
        /* A damaged file must stop start-up: guessing could hand out an id
         * that a live producer already has. */
        int ok = fscanf(f, "%lld", &end) == 1 && end >= 0;
        fclose(f);
        if (!ok) {
            rn_error("%s is damaged: cannot tell which producer ids were handed out", pid_path);
            return -EINVAL;
        }
    } else if (errno != ENOENT) {
        return -errno;
    }
    /* Everything below the recorded end may have been handed out. */
    pid_next = pid_block_end = end;
    return 0;
}

int64_t rn_producer_id_next(void)
{
    pthread_mutex_lock(&pid_mu);
    if (pid_next >= pid_block_end) {
        if (write_block_end(pid_block_end + PID_BLOCK) < 0) {
            pthread_mutex_unlock(&pid_mu);
            return -1;
        }
        pid_block_end += PID_BLOCK;
    }
    int64_t id = pid_next++;
    pthread_mutex_unlock(&pid_mu);
    return id;
}

int64_t rn_pstate_end_txn(rn_pstate *s, int64_t producer_id, int16_t epoch, int64_t marker_offset)
{
    (void)marker_offset;
    pentry *e = find_or_add(s, producer_id);
    if (!e)
        return -1;
    int64_t first = e->txn_first_offset;
    if (first >= 0)
        s->open_txns--;
    e->txn_first_offset = -1;
    if (epoch > e->epoch) { /* sequences restart with the new epoch */
        e->epoch = epoch;
        e->nbatches = 0;
    }
    return first;
}

int64_t rn_pstate_first_open_txn(const rn_pstate *s)
{
    int64_t first = -1;
    for (size_t i = 0; i < s->nbuckets && s->open_txns > 0; i++)
        for (const pentry *e = s->buckets[i]; e; e = e->next)
            if (e->txn_first_offset >= 0 && (first < 0 || e->txn_first_offset < first))
                first = e->txn_first_offset;
    return first;
}

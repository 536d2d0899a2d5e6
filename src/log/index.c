/*
 * index.c - a segment's sparse offset index and its time index, kept in
 * memory as arrays (the only copy lookups use) and written whole to their
 * files, which are open only while being read or written.
 *
 * Layer: src/log. Called by segment.c and log.c with the log's mutex held,
 * by the single appender before it publishes, or (rn_*index_store) by the
 * flusher on a sealed segment whose entries no longer change.
 *
 * When the files are written (log.c decides; no fd stays open):
 *   - a rolled segment's, by the next rn_log_sync() (the flusher), with
 *     fdatasync, before the recovery point may pass the segment;
 *   - the active segment's, at rn_log_close(), with fdatasync, unless the
 *     files already hold exactly what memory holds (rn_segment.stored_on);
 *   - a rebuilt segment's: by recovery at open, with fdatasync, unless
 *     the files already hold exactly the rebuilt entries; after a bad
 *     entry found by a read, by that read, with fdatasync.
 * Every write is of a sealed index (its time index ends with the segment's
 * max timestamp at that moment), .timeindex before .index. While a segment
 * is active its files are stale or missing; rn_log_open() rebuilds an index
 * file that is missing, inconsistent, or does not cover the log's end.
 *
 * <base>.index: 8-byte entries, big-endian, Kafka's OffsetIndex format
 *
 *   offset  size  field
 *   0       4     int32 relativeOffset   last offset of the batch - segment base
 *   4       4     int32 position         file position of that batch's start
 *
 * An entry is added for a batch when >= index.interval.bytes were appended
 * to the segment since the last entry (Kafka keys an entry by the batch's
 * last offset and points at its start). Entries strictly increase in both
 * fields. A lookup for offset O takes the last entry with relativeOffset
 * <= O - base: the batch it points at ends at or before O, so the batch
 * holding O starts at or after that position (never before it is needed).
 * Only the last entry is checked against the .log at open; any other is
 * checked when a read uses it (the header read there must be a batch
 * ending at base + relativeOffset; log.c falls back to a scan from 0).
 *
 * <base>.timeindex: 12-byte entries, big-endian, Kafka's TimeIndex format
 *
 *   offset  size  field
 *   0       8     int64 timestamp        the segment's max timestamp so far
 *   8       4     int32 relativeOffset   last offset of the first batch that carried it - base
 *
 * Appended alongside an offset index entry when the segment's max
 * timestamp exceeds the last entry's, and once more when the segment is
 * rolled or closed (that entry may use the one slot kept free for it).
 * Timestamps strictly increase. Every record at or before an entry's
 * offset has a timestamp <= the entry's, so a search for the first record
 * with timestamp >= ts can start at the last entry whose timestamp < ts.
 */
#include "log/logInt.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OENTRY_BYTES 8
#define TENTRY_BYTES 12
#define ENTRIES_MIN 4 /* an index smaller than this is not worth a segment */
#define ENTRIES_GROW_MIN 64
#define STORE_CHUNK_ENTRIES 512 /* entries encoded per pwrite when storing */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static int32_t entries_max(int32_t index_bytes, int entry_bytes)
{
    int32_t m = index_bytes / entry_bytes;
    return m < ENTRIES_MIN ? ENTRIES_MIN : m;
}

/* Grows *e (of *cap elements of size sz) to hold need elements. */
static int grow(void **e, int32_t *cap, int32_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    int64_t c = *cap < ENTRIES_GROW_MIN ? ENTRIES_GROW_MIN : (int64_t)*cap * 2;
    while (c < need)
        c *= 2;
    if (c > INT32_MAX)
        c = INT32_MAX;
    void *p = realloc(*e, (size_t)c * sz);
    if (!p)
        return -ENOMEM;
    *e = p;
    *cap = (int32_t)c;
    return 0;
}

/* Reads a whole index file; *buf_out is malloc'ed (NULL when empty).
 * -ENOENT when there is no file. */
static int read_file(const char *path, int entry_bytes, uint8_t **buf_out, int32_t *n_out)
{
    struct stat st;
    *buf_out = NULL;
    *n_out = 0;
    int fd = rn_log_io_ops.open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = 0;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (st.st_size % entry_bytes != 0 || st.st_size / entry_bytes > INT32_MAX) {
        rc = -EINVAL;
        goto out;
    }
    if (st.st_size == 0)
        goto out;
    if (!(buf = malloc((size_t)st.st_size))) {
        rc = -ENOMEM;
        goto out;
    }
    ssize_t got = rn_logio_pread_all(fd, buf, (size_t)st.st_size, 0);
    if (got < 0 || got != st.st_size) {
        free(buf);
        rc = got < 0 ? (int)got : -EINVAL;
        goto out;
    }
    *buf_out = buf;
    *n_out = (int32_t)(st.st_size / entry_bytes);
out:
    close(fd);
    return rc;
}

/* Writes n entries of entry_bytes, encoded by enc in chunks, as the whole
 * file at path. */
static int store_file(const char *path, const void *ents, int32_t n, int entry_bytes,
                      void (*enc)(uint8_t *out, const void *ents, int32_t i), int sync)
{
    uint8_t *chunk = NULL;
    int fd = rn_log_io_ops.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (n > 0 && !(chunk = malloc((size_t)STORE_CHUNK_ENTRIES * (size_t)entry_bytes)))
        rc = -ENOMEM;
    for (int32_t i = 0; i < n && rc == 0; i += STORE_CHUNK_ENTRIES) {
        int32_t k = n - i < STORE_CHUNK_ENTRIES ? n - i : STORE_CHUNK_ENTRIES;
        for (int32_t j = 0; j < k; j++)
            enc(chunk + (size_t)j * (size_t)entry_bytes, ents, i + j);
        rc = rn_logio_pwrite_all(fd, chunk, (size_t)k * (size_t)entry_bytes, (int64_t)i * entry_bytes);
    }
    if (rc == 0)
        rc = rn_logio_ftruncate(fd, (int64_t)n * entry_bytes); /* a longer old file */
    if (rc == 0 && sync)
        rc = rn_logio_fdatasync(fd);
    free(chunk);
    close(fd);
    return rc;
}

/* 1 when the file at path holds exactly the n entries (as store_file would
 * write them), 0 when it differs or is missing, a negative errno when it
 * cannot be read. */
static int file_matches(const char *path, const void *ents, int32_t n, int entry_bytes,
                        void (*enc)(uint8_t *out, const void *ents, int32_t i))
{
    uint8_t *buf, e[TENTRY_BYTES];
    int32_t fn;
    int rc = read_file(path, entry_bytes, &buf, &fn);
    if (rc == -ENOENT || rc == -EINVAL)
        return 0;
    if (rc < 0)
        return rc;
    int same = fn == n;
    for (int32_t i = 0; same && i < n; i++) {
        enc(e, ents, i);
        same = memcmp(e, buf + (size_t)i * (size_t)entry_bytes, (size_t)entry_bytes) == 0;
    }
    free(buf);
    return same;
}

static void enc_oentry(uint8_t *out, const void *ents, int32_t i);
static void enc_tentry(uint8_t *out, const void *ents, int32_t i);

/* ---- offset index ---- */

void rn_oindex_init(rn_oindex *ix, int32_t index_bytes)
{
    memset(ix, 0, sizeof(*ix));
    ix->max = entries_max(index_bytes, OENTRY_BYTES);
}

void rn_oindex_release(rn_oindex *ix)
{
    free(ix->e);
    ix->e = NULL;
    ix->n = ix->cap = 0;
}

int rn_oindex_load(rn_oindex *ix, const char *path, int64_t log_size_bytes, int64_t rel_offset_end)
{
    uint8_t *buf;
    int32_t n;
    ix->n = 0;
    int rc = read_file(path, OENTRY_BYTES, &buf, &n);
    if (rc < 0)
        return rc;
    if (grow((void **)&ix->e, &ix->cap, n, sizeof(rn_oindex_entry)) < 0) {
        free(buf);
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        rn_oindex_entry en = {(int32_t)get_be32(buf + (size_t)i * OENTRY_BYTES),
                              (int32_t)get_be32(buf + (size_t)i * OENTRY_BYTES + 4)};
        int bad = en.rel_offset < 0 || en.rel_offset >= rel_offset_end || en.pos < 0 ||
                  en.pos >= log_size_bytes;
        if (i > 0)
            bad |= en.rel_offset <= ix->e[i - 1].rel_offset || en.pos <= ix->e[i - 1].pos;
        if (bad) {
            free(buf);
            return -EINVAL;
        }
        ix->e[i] = en;
    }
    ix->n = n;
    free(buf);
    return 0;
}

int32_t rn_oindex_find(const rn_oindex *ix, int64_t rel_offset)
{
    int32_t lo = 0, hi = ix->n; /* answer: last i in [0, n) with e[i].rel <= rel_offset */
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (ix->e[mid].rel_offset <= rel_offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

int32_t rn_oindex_lookup(const rn_oindex *ix, int64_t rel_offset)
{
    int32_t i = rn_oindex_find(ix, rel_offset);
    return i < 0 ? 0 : ix->e[i].pos;
}

int rn_oindex_reserve(rn_oindex *ix, int32_t k)
{
    int64_t need = (int64_t)ix->n + k;
    if (need > ix->max)
        need = ix->max;
    return grow((void **)&ix->e, &ix->cap, (int32_t)need, sizeof(rn_oindex_entry));
}

static void enc_oentry(uint8_t *out, const void *ents, int32_t i)
{
    const rn_oindex_entry *en = (const rn_oindex_entry *)ents + i;
    put_be32(out, (uint32_t)en->rel_offset);
    put_be32(out + 4, (uint32_t)en->pos);
}

int rn_oindex_store(const rn_oindex *ix, const char *path, int sync)
{
    return store_file(path, ix->e, ix->n, OENTRY_BYTES, enc_oentry, sync);
}

int rn_oindex_file_matches(const rn_oindex *ix, const char *path)
{
    return file_matches(path, ix->e, ix->n, OENTRY_BYTES, enc_oentry);
}

void rn_oindex_commit(rn_oindex *ix, const rn_oindex_entry *ents, int32_t k)
{
    for (int32_t i = 0; i < k; i++) {
        /* Invariant: entries strictly increase. */
        assert(ix->n == 0 || (ents[i].rel_offset > ix->e[ix->n - 1].rel_offset &&
                              ents[i].pos > ix->e[ix->n - 1].pos));
        assert(ix->n < ix->cap); /* rn_oindex_reserve() made room */
        ix->e[ix->n++] = ents[i];
    }
}

void rn_oindex_clear(rn_oindex *ix)
{
    ix->n = 0;
}

/* ---- time index ---- */

void rn_tindex_init(rn_tindex *ix, int32_t index_bytes)
{
    memset(ix, 0, sizeof(*ix));
    ix->max = entries_max(index_bytes, TENTRY_BYTES);
}

void rn_tindex_release(rn_tindex *ix)
{
    free(ix->e);
    ix->e = NULL;
    ix->n = ix->cap = 0;
}

int rn_tindex_load(rn_tindex *ix, const char *path, int64_t rel_offset_end)
{
    uint8_t *buf;
    int32_t n;
    ix->n = 0;
    int rc = read_file(path, TENTRY_BYTES, &buf, &n);
    if (rc < 0)
        return rc;
    if (grow((void **)&ix->e, &ix->cap, n, sizeof(rn_tindex_entry)) < 0) {
        free(buf);
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        rn_tindex_entry en = {(int64_t)get_be64(buf + (size_t)i * TENTRY_BYTES),
                              (int32_t)get_be32(buf + (size_t)i * TENTRY_BYTES + 8)};
        int bad = en.rel_offset < 0 || en.rel_offset >= rel_offset_end;
        if (i > 0)
            bad |= en.timestamp <= ix->e[i - 1].timestamp || en.rel_offset < ix->e[i - 1].rel_offset;
        if (bad) {
            free(buf);
            return -EINVAL;
        }
        ix->e[i] = en;
    }
    ix->n = n;
    free(buf);
    return 0;
}

const rn_tindex_entry *rn_tindex_lookup(const rn_tindex *ix, int64_t ts)
{
    int32_t lo = 0, hi = ix->n; /* answer: last i with e[i].timestamp < ts */
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (ix->e[mid].timestamp < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? NULL : &ix->e[lo - 1];
}

int rn_tindex_reserve(rn_tindex *ix, int32_t k)
{
    int64_t need = (int64_t)ix->n + k;
    if (need > ix->max)
        need = ix->max;
    return grow((void **)&ix->e, &ix->cap, (int32_t)need, sizeof(rn_tindex_entry));
}

static void enc_tentry(uint8_t *out, const void *ents, int32_t i)
{
    const rn_tindex_entry *en = (const rn_tindex_entry *)ents + i;
    put_be64(out, (uint64_t)en->timestamp);
    put_be32(out + 8, (uint32_t)en->rel_offset);
}

int rn_tindex_store(const rn_tindex *ix, const char *path, int sync)
{
    return store_file(path, ix->e, ix->n, TENTRY_BYTES, enc_tentry, sync);
}

int rn_tindex_file_matches(const rn_tindex *ix, const char *path)
{
    return file_matches(path, ix->e, ix->n, TENTRY_BYTES, enc_tentry);
}

void rn_tindex_commit(rn_tindex *ix, const rn_tindex_entry *ents, int32_t k)
{
    for (int32_t i = 0; i < k; i++) {
        assert(ix->n == 0 || (ents[i].timestamp > ix->e[ix->n - 1].timestamp &&
                              ents[i].rel_offset >= ix->e[ix->n - 1].rel_offset));
        assert(ix->n < ix->cap);
        ix->e[ix->n++] = ents[i];
    }
}

void rn_tindex_clear(rn_tindex *ix)
{
    ix->n = 0;
}

/*
 * index.c - a segment's sparse offset index and its time index, kept in
 * memory as arrays and appended to their files with pwrite(2).
 *
 * Layer: src/log. Called by segment.c and log.c with the log's mutex held
 * (or, for writes, by the single appender before it publishes).
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
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OENTRY_BYTES 8
#define TENTRY_BYTES 12
#define ENTRIES_MIN 4 /* an index smaller than this is not worth a segment */
#define ENTRIES_GROW_MIN 64

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

/* Reads a whole index file; *buf_out is malloc'ed (NULL when empty). */
static int read_file(int fd, int entry_bytes, uint8_t **buf_out, int32_t *n_out)
{
    struct stat st;
    *buf_out = NULL;
    *n_out = 0;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size % entry_bytes != 0 || st.st_size / entry_bytes > INT32_MAX)
        return -EINVAL;
    if (st.st_size == 0)
        return 0;
    uint8_t *buf = malloc((size_t)st.st_size);
    if (!buf)
        return -ENOMEM;
    ssize_t got = rn_logio_pread_all(fd, buf, (size_t)st.st_size, 0);
    if (got < 0 || got != st.st_size) {
        free(buf);
        return got < 0 ? (int)got : -EINVAL;
    }
    *buf_out = buf;
    *n_out = (int32_t)(st.st_size / entry_bytes);
    return 0;
}

/* ---- offset index ---- */

void rn_oindex_init(rn_oindex *ix, int fd, int32_t index_bytes)
{
    memset(ix, 0, sizeof(*ix));
    ix->fd = fd;
    ix->max = entries_max(index_bytes, OENTRY_BYTES);
}

void rn_oindex_release(rn_oindex *ix)
{
    free(ix->e);
    ix->e = NULL;
    ix->n = ix->cap = 0;
    if (ix->fd >= 0)
        close(ix->fd);
    ix->fd = -1;
}

int rn_oindex_load(rn_oindex *ix, int64_t log_size_bytes, int64_t rel_offset_end)
{
    uint8_t *buf;
    int32_t n;
    int rc = read_file(ix->fd, OENTRY_BYTES, &buf, &n);
    if (rc < 0)
        return rc;
    ix->n = 0;
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

int32_t rn_oindex_lookup(const rn_oindex *ix, int64_t rel_offset)
{
    int32_t lo = 0, hi = ix->n; /* answer: last i in [0, n) with e[i].rel <= rel_offset */
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (ix->e[mid].rel_offset <= rel_offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? 0 : ix->e[lo - 1].pos;
}

int rn_oindex_reserve(rn_oindex *ix, int32_t k)
{
    int64_t need = (int64_t)ix->n + k;
    if (need > ix->max)
        need = ix->max;
    return grow((void **)&ix->e, &ix->cap, (int32_t)need, sizeof(rn_oindex_entry));
}

int rn_oindex_write(rn_oindex *ix, const rn_oindex_entry *ents, int32_t k)
{
    uint8_t stackbuf[64 * OENTRY_BYTES];
    uint8_t *buf = stackbuf;
    if (k <= 0)
        return 0;
    if ((size_t)k * OENTRY_BYTES > sizeof(stackbuf) && !(buf = malloc((size_t)k * OENTRY_BYTES)))
        return -ENOMEM;
    for (int32_t i = 0; i < k; i++) {
        put_be32(buf + (size_t)i * OENTRY_BYTES, (uint32_t)ents[i].rel_offset);
        put_be32(buf + (size_t)i * OENTRY_BYTES + 4, (uint32_t)ents[i].pos);
    }
    int64_t at = (int64_t)ix->n * OENTRY_BYTES;
    int rc = rn_logio_pwrite_all(ix->fd, buf, (size_t)k * OENTRY_BYTES, at);
    if (rc < 0)
        (void)rn_logio_ftruncate(ix->fd, at);
    if (buf != stackbuf)
        free(buf);
    return rc;
}

void rn_oindex_commit(rn_oindex *ix, const rn_oindex_entry *ents, int32_t k)
{
    for (int32_t i = 0; i < k; i++) {
        /* Invariant: the file and memory hold the same strictly increasing entries. */
        assert(ix->n == 0 || (ents[i].rel_offset > ix->e[ix->n - 1].rel_offset &&
                              ents[i].pos > ix->e[ix->n - 1].pos));
        assert(ix->n < ix->cap); /* rn_oindex_reserve() made room */
        ix->e[ix->n++] = ents[i];
    }
}

int rn_oindex_clear(rn_oindex *ix)
{
    ix->n = 0;
    return rn_logio_ftruncate(ix->fd, 0);
}

/* ---- time index ---- */

void rn_tindex_init(rn_tindex *ix, int fd, int32_t index_bytes)
{
    memset(ix, 0, sizeof(*ix));
    ix->fd = fd;
    ix->max = entries_max(index_bytes, TENTRY_BYTES);
}

void rn_tindex_release(rn_tindex *ix)
{
    free(ix->e);
    ix->e = NULL;
    ix->n = ix->cap = 0;
    if (ix->fd >= 0)
        close(ix->fd);
    ix->fd = -1;
}

int rn_tindex_load(rn_tindex *ix, int64_t rel_offset_end)
{
    uint8_t *buf;
    int32_t n;
    int rc = read_file(ix->fd, TENTRY_BYTES, &buf, &n);
    if (rc < 0)
        return rc;
    ix->n = 0;
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

int rn_tindex_write(rn_tindex *ix, const rn_tindex_entry *ents, int32_t k)
{
    uint8_t stackbuf[64 * TENTRY_BYTES];
    uint8_t *buf = stackbuf;
    if (k <= 0)
        return 0;
    if ((size_t)k * TENTRY_BYTES > sizeof(stackbuf) && !(buf = malloc((size_t)k * TENTRY_BYTES)))
        return -ENOMEM;
    for (int32_t i = 0; i < k; i++) {
        put_be64(buf + (size_t)i * TENTRY_BYTES, (uint64_t)ents[i].timestamp);
        put_be32(buf + (size_t)i * TENTRY_BYTES + 8, (uint32_t)ents[i].rel_offset);
    }
    int64_t at = (int64_t)ix->n * TENTRY_BYTES;
    int rc = rn_logio_pwrite_all(ix->fd, buf, (size_t)k * TENTRY_BYTES, at);
    if (rc < 0)
        (void)rn_logio_ftruncate(ix->fd, at);
    if (buf != stackbuf)
        free(buf);
    return rc;
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

int rn_tindex_clear(rn_tindex *ix)
{
    ix->n = 0;
    return rn_logio_ftruncate(ix->fd, 0);
}

/*
 * segment.c - one segment of a partition log: the .log file of record
 * batches, its two indexes (index.c), recovery of a torn or corrupt tail,
 * and the scans that find a batch by offset or by time.
 *
 * Layer: src/log. Called by log.c, which holds the log's mutex around
 * anything that changes a segment; the scans here only pread(2) below a
 * size the caller captured, so they run without the lock.
 *
 * <base>.log: record batches back to back, exactly as on the wire (v2,
 * proto/record_batch.h), baseOffset assigned by the log:
 *
 *   offset  size  field
 *   0       8     int64  baseOffset       absolute; not covered by the CRC
 *   8       4     int32  batchLength      bytes after this field (>= 49)
 *   12      4     int32  partitionLeaderEpoch
 *   16      1     int8   magic            2
 *   17      4     uint32 crc              CRC32C of [21, 12 + batchLength)
 *   21      2     int16  attributes       bits 0-2 codec, bit 3 LogAppendTime
 *   23      4     int32  lastOffsetDelta
 *   27      8     int64  baseTimestamp
 *   35      8     int64  maxTimestamp
 *   43      18    producerId, producerEpoch, baseSequence
 *   57      4     int32  recordsCount
 *   61      ...   records (uncompressed: varint length, int8 attributes,
 *                 varlong timestampDelta, varint offsetDelta, ...)
 *   12 + batchLength: the next batch
 *
 * Invariants (checked by rn_segment_recover after an unclean shutdown):
 *   1. every batch lies whole in [0, size) and the file ends at a batch end;
 *   2. batch k+1's baseOffset == batch k's last offset + 1, and the first
 *      batch's baseOffset == the segment's base offset (the file name);
 *      except below the cleaner checkpoint (log.c: contiguous_from), where
 *      compaction dropped whole batches: there a batch may start later
 *      (a gap), never earlier. A baseOffset is not covered by the CRC, so
 *      this is what catches a damaged one (rn_seg_offset_follows);
 *   3. last offset - base offset fits in int32 (the indexes' relative offsets).
 *
 * Files: only the .log stays open (one fd per segment, so that a broker's
 * thousands of partitions fit its fd limit). The .index and .timeindex are
 * read at open and written whole when the segment is sealed (index.c says
 * when); meanwhile the indexes live in memory.
 *
 * Lifetime: a segment embeds an rn_fileref; the log holds one reference
 * while the segment is live, each read slice another. The last drop closes
 * the .log and frees the segment.
 */
#include "log/logInt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/rlog.h"

#define CRC_CHUNK_BYTES (64 * 1024)
#define RESERVE_BYTES_MIN (64 * 1024)        /* rn_segment_reserve: the least reserved ahead */
#define RESERVE_BYTES_MAX (16 * 1024 * 1024) /* and the most */
#define WALK_WINDOW_BYTES (16 * 1024)
#define RECORD_PREFIX_BYTES_MAX (5 + 1 + 10 + 5) /* length, attributes, timestampDelta, offsetDelta */

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

void rn_seg_batch_decode(const uint8_t *p, rn_seg_batch *out)
{
    out->base_offset = (int64_t)get_be64(p);
    out->batch_length = (int32_t)get_be32(p + 8);
    out->magic = (int8_t)p[16];
    out->crc = get_be32(p + 17);
    out->attributes = (int16_t)((uint16_t)p[21] << 8 | p[22]);
    out->last_offset_delta = (int32_t)get_be32(p + 23);
    out->base_timestamp = (int64_t)get_be64(p + 27);
    out->max_timestamp = (int64_t)get_be64(p + 35);
}

/* ---- lifetime ---- */

static void segment_release(rn_fileref *ref)
{
    rn_segment *seg = (rn_segment *)ref; /* ref is the first member */
    if (ref->fd >= 0)
        close(ref->fd);
    rn_oindex_release(&seg->oidx);
    rn_tindex_release(&seg->tidx);
    free(seg->path);
    free(seg);
}

static char *path_with(const rn_segment *seg, const char *ext, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s", seg->path, ext);
    return buf;
}

/* <path><ext><suffix>, e.g. ".index" + ".cleaned". */
static char *path_with2(const rn_segment *seg, const char *ext, const char *suffix, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s", seg->path, ext, suffix);
    return buf;
}

static void unlink_indexes_as(const rn_segment *seg, const char *suffix)
{
    char p[4096];
    if (unlink(path_with2(seg, ".timeindex", suffix, p, sizeof(p))) < 0 && errno != ENOENT)
        rn_warn("log: cannot remove %s: %s", p, strerror(errno));
    if (unlink(path_with2(seg, ".index", suffix, p, sizeof(p))) < 0 && errno != ENOENT)
        rn_warn("log: cannot remove %s: %s", p, strerror(errno));
}

static void unlink_indexes(const rn_segment *seg)
{
    unlink_indexes_as(seg, "");
}

enum { SEG_OPEN = 0, SEG_CREATE = 1, SEG_CREATE_CLEANED = 2 };

static int segment_new(const char *dir, int64_t base_offset, const rn_log_config *cfg, int create,
                       rn_segment **out)
{
    char p[4096];
    int rc, fd;
    rn_segment *seg = calloc(1, sizeof(*seg));
    if (!seg)
        return -ENOMEM;
    if (snprintf(p, sizeof(p), "%s/%020" PRId64, dir, base_offset) >= (int)sizeof(p) - 16) {
        rc = -ENAMETOOLONG;
        goto free_seg;
    }
    if (!(seg->path = strdup(p))) {
        rc = -ENOMEM;
        goto free_seg;
    }
    seg->base_offset = base_offset;
    seg->next_offset = base_offset;
    seg->max_ts = -1;
    seg->max_ts_offset = -1;
    seg->first_ts = -1;
    seg->first_ts_known = create; /* an existing file's is read at the first append */
    seg->created_ms = rn_now_ms();
    seg->ref.fd = -1;
    seg->stored_on = seg->stored_tn = -1;
    rn_oindex_init(&seg->oidx, cfg->segment_index_bytes);
    rn_tindex_init(&seg->tidx, cfg->segment_index_bytes);

    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
    const char *ext = create == SEG_CREATE_CLEANED ? ".log" RN_SEG_CLEANED_SUFFIX : ".log";
    if ((fd = rn_log_io_ops.open(path_with(seg, ext, p, sizeof(p)), flags, 0644)) < 0) {
        rc = -errno;
        goto free_path;
    }
    seg->ref.fd = fd;
    if (create == SEG_CREATE) {
        /* Left by an earlier segment at this base (say, one removed by
         * recovery): they would describe other bytes. */
        unlink_indexes(seg);
    } else if (create == SEG_OPEN) {
        struct stat st;
        if (fstat(fd, &st) < 0) {
            rc = -errno;
            goto close_log;
        }
        seg->size = st.st_size;
        /* Blocks reserved past the end before a crash (rn_segment_reserve):
         * counted as reserved, so that the next roll or close gives them back. */
        if ((int64_t)st.st_blocks * 512 > st.st_size + RESERVE_BYTES_MIN)
            seg->reserved_end = (int64_t)st.st_blocks * 512;
    }
    atomic_init(&seg->ref.refs, 1);
    seg->ref.release = segment_release;
    *out = seg;
    return 0;

close_log:
    close(fd);
free_path:
    free(seg->path);
free_seg:
    free(seg);
    return rc;
}

int rn_segment_create(const char *dir, int64_t base_offset, const rn_log_config *cfg, rn_segment **out)
{
    return segment_new(dir, base_offset, cfg, SEG_CREATE, out);
}

int rn_segment_create_cleaned(const char *dir, int64_t base_offset, const rn_log_config *cfg, rn_segment **out)
{
    return segment_new(dir, base_offset, cfg, SEG_CREATE_CLEANED, out);
}

int rn_segment_open(const char *dir, int64_t base_offset, const rn_log_config *cfg, rn_segment **out)
{
    return segment_new(dir, base_offset, cfg, SEG_OPEN, out);
}

void rn_segment_unlink(rn_segment *seg)
{
    static const char *const exts[] = {".log", ".index", ".timeindex"};
    char p[4096];
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        if (unlink(path_with(seg, exts[i], p, sizeof(p))) < 0 && errno != ENOENT)
            rn_warn("log: cannot remove %s: %s", p, strerror(errno));
    }
}

int rn_segment_sync(rn_segment *seg)
{
    return rn_logio_fdatasync(seg->ref.fd);
}

void rn_segment_reserve(rn_segment *seg, int64_t start, int64_t end, int64_t limit)
{
    if (end <= seg->reserved_end || seg->reserve_failed)
        return;
    /* Ahead by what the segment will hold: a small partition reserves little. */
    int64_t ahead = end < RESERVE_BYTES_MIN ? RESERVE_BYTES_MIN : end > RESERVE_BYTES_MAX ? RESERVE_BYTES_MAX : end;
    int64_t to = end + ahead;
    if (to > limit)
        to = limit > end ? limit : end;
    int64_t from = seg->reserved_end > start ? seg->reserved_end : start;
    int rc = rn_logio_reserve(seg->ref.fd, from, to - from);
    if (rc < 0) {
        rn_debug("log: %s.log: appending without reserving blocks: %s", seg->path, strerror(-rc));
        seg->reserve_failed = 1; /* (say the disk is full: not again for this segment) */
    }
    seg->reserved_end = to; /* a failed fallocate may have reserved some: the release takes them */
}

void rn_segment_release_reserve(rn_segment *seg)
{
    struct stat st;
    if (seg->reserved_end <= seg->size)
        return;
    seg->reserved_end = 0;
    /* ftruncate to the size it has frees the blocks past it; it also sets
     * the mtime, which retention reads (segments without timestamps): put
     * the last write's back. */
    int have_st = fstat(seg->ref.fd, &st) == 0;
    int rc = rn_logio_ftruncate(seg->ref.fd, seg->size);
    if (rc < 0) {
        rn_warn("log: %s.log: cannot give reserved blocks back: %s", seg->path, strerror(-rc));
        return;
    }
    if (have_st) {
        struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, st.st_mtim};
        futimens(seg->ref.fd, ts);
    }
}

int rn_segment_store_indexes_as(rn_segment *seg, const char *suffix, int sync)
{
    char p[4096];
    /* The time index first: a crash between the two leaves a .index no
     * newer than the .timeindex, which rn_segment_load_indexes relies on. */
    int rc = rn_tindex_store(&seg->tidx, path_with2(seg, ".timeindex", suffix, p, sizeof(p)), sync);
    if (rc == 0)
        rc = rn_oindex_store(&seg->oidx, path_with2(seg, ".index", suffix, p, sizeof(p)), sync);
    if (rc < 0) {
        rn_warn("log: %s: cannot write indexes: %s", seg->path, strerror(-rc));
        unlink_indexes_as(seg, suffix); /* missing is rebuilt at open; half-written might not be */
        seg->stored_on = seg->stored_tn = -1;
    } else {
        /* (.cleaned files become this segment's own when swapped in) */
        seg->stored_on = seg->oidx.n;
        seg->stored_tn = seg->tidx.n;
    }
    return rc;
}

int rn_segment_store_indexes(rn_segment *seg, int sync)
{
    return rn_segment_store_indexes_as(seg, "", sync);
}

/* ---- the index rule, shared by append and recovery ---- */

void rn_seg_cursor_init(rn_seg_cursor *c, const rn_segment *seg)
{
    c->size = seg->size;
    c->next_offset = seg->next_offset;
    c->max_ts = seg->max_ts;
    c->max_ts_offset = seg->max_ts_offset;
    c->bytes_since_index = seg->bytes_since_index;
    c->tindex_last_ts = seg->tidx.n > 0 ? seg->tidx.e[seg->tidx.n - 1].timestamp : -1;
    c->oindex_n = seg->oidx.n;
    c->tindex_n = seg->tidx.n;
}

int rn_seg_cursor_add(rn_seg_cursor *c, const rn_segment *seg, const rn_seg_batch *b,
                      int32_t index_interval_bytes, rn_oindex_entry *oe, rn_tindex_entry *te)
{
    int out = 0;
    int64_t last = rn_seg_batch_last(b);
    /* Kafka's LogSegment.append: max timestamp first, then the index check. */
    if (b->max_timestamp > c->max_ts) {
        c->max_ts = b->max_timestamp;
        c->max_ts_offset = last;
    }
    if (c->bytes_since_index >= index_interval_bytes) {
        if (c->oindex_n < seg->oidx.max) {
            oe->rel_offset = (int32_t)(last - seg->base_offset);
            oe->pos = (int32_t)c->size;
            c->oindex_n++;
            out |= RN_SEG_NEW_OENTRY;
        }
        if (c->max_ts > c->tindex_last_ts && c->tindex_n < seg->tidx.max - 1) {
            te->timestamp = c->max_ts;
            te->rel_offset = (int32_t)(c->max_ts_offset - seg->base_offset);
            c->tindex_last_ts = c->max_ts;
            c->tindex_n++;
            out |= RN_SEG_NEW_TENTRY;
        }
        c->bytes_since_index = 0;
    }
    c->size += rn_seg_batch_size(b);
    c->bytes_since_index += rn_seg_batch_size(b);
    c->next_offset = last + 1;
    return out;
}

void rn_seg_cursor_commit(rn_segment *seg, const rn_seg_cursor *c)
{
    seg->size = c->size;
    seg->next_offset = c->next_offset;
    seg->max_ts = c->max_ts;
    seg->max_ts_offset = c->max_ts_offset;
    seg->bytes_since_index = c->bytes_since_index;
}

int rn_segment_indexes_full(const rn_segment *seg)
{
    return seg->oidx.n >= seg->oidx.max || seg->tidx.n >= seg->tidx.max - 1;
}

int rn_segment_seal_time_index(rn_segment *seg)
{
    int64_t last_ts = seg->tidx.n > 0 ? seg->tidx.e[seg->tidx.n - 1].timestamp : -1;
    if (seg->max_ts <= last_ts || seg->tidx.n >= seg->tidx.max)
        return 0;
    rn_tindex_entry te = {seg->max_ts, (int32_t)(seg->max_ts_offset - seg->base_offset)};
    int rc = rn_tindex_reserve(&seg->tidx, 1);
    if (rc == 0)
        rn_tindex_commit(&seg->tidx, &te, 1);
    return rc;
}

/* ---- opening an existing segment ---- */

int rn_segment_read_header(int fd, int64_t pos, int64_t limit, rn_seg_batch *out)
{
    uint8_t h[RN_SEG_BATCH_HEADER_BYTES];
    if (pos == limit)
        return 0;
    if (limit - pos < RN_SEG_BATCH_HEADER_BYTES)
        return -EINVAL;
    ssize_t got = rn_logio_pread_all(fd, h, sizeof(h), pos);
    if (got < 0)
        return (int)got;
    if (got != (ssize_t)sizeof(h))
        return -EINVAL;
    rn_seg_batch_decode(h, out);
    if (out->batch_length < RN_SEG_BATCH_LENGTH_MIN || rn_seg_batch_size(out) > limit - pos)
        return -EINVAL;
    return 1;
}

/* Reads the batch headers from the last offset index entry's batch to the
 * end of the file: sets next_offset and max_ts/max_ts_offset; -EINVAL
 * when the tail is not whole batches or the indexes do not cover it.
 *
 * Why the tail from the last .index entry suffices: index files are only
 * ever written sealed (the time index's last entry holds the max timestamp
 * of every batch in the file then), the .timeindex no older than the
 * .index, and the .index's last entry points below the file's size then.
 * So every batch before that entry's is covered by the time index, and
 * any batch appended after the files were written lies in the tail. A
 * tail timestamp above the time index's last entry means the files were
 * written before the segment's end: rebuild.
 *
 * The tail must also be what appends leave (invariant 2): the batch at the
 * entry's position ends at the entry's offset (without entries, the first
 * batch starts at the segment's base), and each next batch starts right
 * after the previous one's last offset, or later only below
 * contiguous_from (say, a copy of the last batch appended again would
 * serve its offsets twice; a flipped bit in a baseOffset would skip
 * offsets). Otherwise -EINVAL: the
 * caller rebuilds with rn_segment_recover, which cuts the file off at the
 * first such batch (and logs it). The other entries are checked when
 * used: see seek_batch in log.c. */
static int scan_tail(rn_segment *seg, int64_t contiguous_from)
{
    const rn_oindex_entry *last_entry = seg->oidx.n > 0 ? &seg->oidx.e[seg->oidx.n - 1] : NULL;
    int64_t pos = last_entry ? last_entry->pos : 0;
    int64_t tindex_last_ts = seg->tidx.n > 0 ? seg->tidx.e[seg->tidx.n - 1].timestamp : -1;
    int64_t prev_last = -1; /* last offset of the previous batch, -1 before the first */
    seg->next_offset = seg->base_offset;
    for (;;) {
        rn_seg_batch b;
        int rc = rn_segment_read_header(seg->ref.fd, pos, seg->size, &b);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        if (b.magic != 2 || b.last_offset_delta < 0 || b.base_offset < seg->base_offset ||
            rn_seg_batch_last(&b) - seg->base_offset > INT32_MAX || b.max_timestamp > tindex_last_ts)
            return -EINVAL;
        int entry = prev_last < 0 && last_entry;
        if (entry ? rn_seg_batch_last(&b) != seg->base_offset + last_entry->rel_offset
                  : !rn_seg_offset_follows(b.base_offset, prev_last < 0 ? seg->base_offset : prev_last + 1,
                                           contiguous_from)) {
            rn_warn("log: %s.log: batch at position %lld (offsets %lld..%lld) %s, checking the segment",
                    seg->path, (long long)pos, (long long)b.base_offset, (long long)rn_seg_batch_last(&b),
                    entry ? "does not match the last index entry"
                          : prev_last < 0 ? "does not start the segment" : "does not follow the previous batch");
            return -EINVAL;
        }
        prev_last = rn_seg_batch_last(&b);
        seg->next_offset = prev_last + 1;
        pos += rn_seg_batch_size(&b);
    }
    seg->bytes_since_index = seg->oidx.n > 0 ? seg->size - seg->oidx.e[seg->oidx.n - 1].pos : seg->size;
    /* The indexes must not point past what the file holds. */
    int64_t rel_end = seg->next_offset - seg->base_offset;
    if ((seg->oidx.n > 0 && seg->oidx.e[seg->oidx.n - 1].rel_offset >= rel_end) ||
        (seg->tidx.n > 0 && seg->tidx.e[seg->tidx.n - 1].rel_offset >= rel_end))
        return -EINVAL;
    return 0;
}

int rn_segment_load_indexes(rn_segment *seg, int64_t next_offset_bound, int64_t contiguous_from)
{
    char p[4096];
    int64_t rel_end = next_offset_bound == INT64_MAX ? INT64_MAX : next_offset_bound - seg->base_offset;
    int rc = rn_tindex_load(&seg->tidx, path_with(seg, ".timeindex", p, sizeof(p)), rel_end);
    if (rc == 0)
        rc = rn_oindex_load(&seg->oidx, path_with(seg, ".index", p, sizeof(p)), seg->size, rel_end);
    if (rc == 0)
        rc = scan_tail(seg, contiguous_from);
    if (rc == 0 && seg->next_offset > next_offset_bound)
        rc = -EINVAL; /* overlaps the next segment */
    if (rc < 0) {
        rn_oindex_clear(&seg->oidx);
        rn_tindex_clear(&seg->tidx);
        seg->next_offset = seg->base_offset;
        return rc;
    }
    if (seg->tidx.n > 0) {
        const rn_tindex_entry *te = &seg->tidx.e[seg->tidx.n - 1];
        seg->max_ts = te->timestamp;
        seg->max_ts_offset = seg->base_offset + te->rel_offset;
    }
    if (next_offset_bound != INT64_MAX)
        seg->next_offset = next_offset_bound;
    seg->stored_on = seg->oidx.n; /* memory holds what the files hold */
    seg->stored_tn = seg->tidx.n;
    return 0;
}

/* ---- recovery ---- */

/* CRC32C of [pos + 21, pos + size) read in chunks. */
static int batch_crc(int fd, int64_t pos, int64_t size, uint8_t *chunk, uint32_t *crc_out)
{
    uint32_t crc = 0;
    int64_t at = pos + 21, end = pos + size;
    while (at < end) {
        size_t n = (size_t)(end - at < CRC_CHUNK_BYTES ? end - at : CRC_CHUNK_BYTES);
        ssize_t got = rn_logio_pread_all(fd, chunk, n, at);
        if (got < 0)
            return (int)got;
        if ((size_t)got != n)
            return -EINVAL;
        crc = rn_crc32c(crc, chunk, n);
        at += (int64_t)n;
    }
    *crc_out = crc;
    return 0;
}

/* 1: the batch at pos is whole and valid; 0: it is not (truncate here); <0: I/O error.
 * expected: the offset it must start at (invariant 2). */
static int check_batch(int fd, int64_t pos, int64_t file_size, int64_t seg_base, int64_t expected,
                       int64_t contiguous_from, uint8_t *chunk, rn_seg_batch *b, const char **why)
{
    int rc = rn_segment_read_header(fd, pos, file_size, b);
    if (rc == -EINVAL) {
        *why = "short or bad length";
        return 0;
    }
    if (rc <= 0)
        return rc;
    if (b->magic != 2) {
        *why = "magic";
        return 0;
    }
    if (b->last_offset_delta < 0 || rn_seg_batch_last(b) - seg_base > INT32_MAX) {
        *why = "lastOffsetDelta";
        return 0;
    }
    /* Contiguous; gaps only where compaction dropped whole batches (invariant 2). */
    if (!rn_seg_offset_follows(b->base_offset, expected, contiguous_from)) {
        *why = b->base_offset < expected ? "baseOffset going backwards" : "baseOffset skipping offsets";
        return 0;
    }
    uint32_t crc = 0;
    if ((rc = batch_crc(fd, pos, rn_seg_batch_size(b), chunk, &crc)) < 0)
        return rc == -EINVAL ? (*why = "short read", 0) : rc;
    if (crc != b->crc) {
        *why = "crc";
        return 0;
    }
    return 1;
}

int rn_segment_recover(rn_segment *seg, int32_t index_interval_bytes, int64_t contiguous_from,
                       int64_t *truncated_bytes_out)
{
    int fd = seg->ref.fd;
    struct stat st;
    int rc;
    const char *why = NULL;
    *truncated_bytes_out = 0;
    if (fstat(fd, &st) < 0)
        return -errno;
    uint8_t *chunk = malloc(CRC_CHUNK_BYTES);
    if (!chunk)
        return -ENOMEM;
    rn_oindex_clear(&seg->oidx);
    rn_tindex_clear(&seg->tidx);
    seg->size = 0;
    seg->next_offset = seg->base_offset;
    seg->max_ts = seg->max_ts_offset = -1;
    seg->bytes_since_index = 0;

    rn_seg_cursor c;
    rn_seg_cursor_init(&c, seg);
    int64_t expected = seg->base_offset;
    for (;;) {
        rn_seg_batch b;
        rn_oindex_entry oe;
        rn_tindex_entry te;
        if (c.size == st.st_size)
            break;
        rc = check_batch(fd, c.size, st.st_size, seg->base_offset, expected, contiguous_from, chunk, &b, &why);
        if (rc < 0)
            goto out;
        if (rc == 0)
            break;
        if ((rc = rn_oindex_reserve(&seg->oidx, 1)) < 0 || (rc = rn_tindex_reserve(&seg->tidx, 1)) < 0)
            goto out;
        int added = rn_seg_cursor_add(&c, seg, &b, index_interval_bytes, &oe, &te);
        if (added & RN_SEG_NEW_OENTRY)
            rn_oindex_commit(&seg->oidx, &oe, 1); /* in memory; the files are written below */
        if (added & RN_SEG_NEW_TENTRY)
            rn_tindex_commit(&seg->tidx, &te, 1);
        expected = rn_seg_batch_last(&b) + 1;
    }
    rn_seg_cursor_commit(seg, &c);

    if (c.size < st.st_size) {
        *truncated_bytes_out = st.st_size - c.size;
        rn_warn("log: %s.log: truncating %lld of %lld bytes at position %lld (%s)", seg->path,
                (long long)(st.st_size - c.size), (long long)st.st_size, (long long)c.size,
                why ? why : "?");
        if ((rc = rn_logio_ftruncate(fd, c.size)) < 0 || (rc = rn_logio_fdatasync(fd)) < 0)
            goto out;
    }
    /* The time index's last entry must carry the segment's max timestamp
     * (rn_segment_load_indexes reads it from there), as after a roll. The
     * files are left alone: when they already hold exactly this (the usual
     * case after a crash that followed a clean close) nothing is written;
     * otherwise the caller has a sync write them. */
    seg->stored_on = seg->stored_tn = -1;
    if ((rc = rn_segment_seal_time_index(seg)) == 0) {
        char p[4096];
        int tm = rn_tindex_file_matches(&seg->tidx, path_with(seg, ".timeindex", p, sizeof(p)));
        int om = tm == 1 ? rn_oindex_file_matches(&seg->oidx, path_with(seg, ".index", p, sizeof(p))) : 0;
        if (tm == 1 && om == 1) {
            seg->stored_on = seg->oidx.n;
            seg->stored_tn = seg->tidx.n;
        }
    }
out:
    free(chunk);
    return rc;
}

/* ---- finding by time ---- */

/* Varint readers over [*p, end); -1 when malformed or cut off. */
static int get_uvarint64(const uint8_t **p, const uint8_t *end, int maxbytes, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < maxbytes && *p < end; i++) {
        uint8_t byte = *(*p)++;
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int get_zigzag(const uint8_t **p, const uint8_t *end, int maxbytes, int64_t *out)
{
    uint64_t u;
    if (get_uvarint64(p, end, maxbytes, &u) < 0)
        return -1;
    *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
}

/* Walks the records of the uncompressed batch at pos: 1 with the first
 * record whose timestamp >= ts, 0 when none, -EINVAL when malformed. */
static int walk_records(int fd, int64_t pos, const rn_seg_batch *b, int64_t ts, int64_t min_offset,
                        int64_t *offset_out, int64_t *ts_out)
{
    uint8_t win[WALK_WINDOW_BYTES];
    int64_t win_at = 0, win_len = 0;
    int64_t at = pos + RN_SEG_BATCH_HEADER_BYTES, end = pos + rn_seg_batch_size(b);
    while (at < end) {
        int64_t need = end - at < RECORD_PREFIX_BYTES_MAX ? end - at : RECORD_PREFIX_BYTES_MAX;
        if (at < win_at || at + need > win_at + win_len) {
            size_t n = (size_t)(end - at < (int64_t)sizeof(win) ? end - at : (int64_t)sizeof(win));
            ssize_t got = rn_logio_pread_all(fd, win, n, at);
            if (got < 0)
                return (int)got;
            if ((size_t)got != n)
                return -EINVAL;
            win_at = at;
            win_len = (int64_t)n;
        }
        const uint8_t *p = win + (at - win_at), *pend = p + need, *start = p;
        int64_t len, ts_delta, off_delta;
        if (get_zigzag(&p, pend, 5, &len) < 0 || len < 1)
            return -EINVAL;
        int64_t len_bytes = p - start;
        if (len > end - at - len_bytes || p >= pend)
            return -EINVAL;
        p++; /* attributes */
        if (get_zigzag(&p, pend, 10, &ts_delta) < 0 || get_zigzag(&p, pend, 5, &off_delta) < 0)
            return -EINVAL;
        if (off_delta < 0 || off_delta > b->last_offset_delta)
            return -EINVAL;
        if (b->base_timestamp + ts_delta >= ts && b->base_offset + off_delta >= min_offset) {
            *offset_out = b->base_offset + off_delta;
            *ts_out = b->base_timestamp + ts_delta;
            return 1;
        }
        at += len_bytes + len;
    }
    return 0;
}

int rn_segment_find_time(int fd, int64_t pos, int64_t limit, int64_t expect_last, int64_t ts, int64_t min_offset,
                         int64_t *offset_out, int64_t *ts_out, int *exact_out)
{
    for (;;) {
        rn_seg_batch b;
        int rc = rn_segment_read_header(fd, pos, limit, &b);
        if (expect_last >= 0) { /* the index entry that gave pos: checked by this read */
            if ((rc == 1 && (b.magic != 2 || rn_seg_batch_last(&b) != expect_last)) || rc == 0 || rc == -EINVAL)
                return -ESTALE;
            expect_last = -1;
        }
        if (rc <= 0)
            return rc;
        if (b.max_timestamp >= ts && rn_seg_batch_last(&b) >= min_offset) {
            *exact_out = 1;
            if ((b.attributes & 0x07) == 0 && !(b.attributes & 0x08)) {
                rc = walk_records(fd, pos, &b, ts, min_offset, offset_out, ts_out);
                if (rc == 1)
                    return 1;
                if (rc < 0 && rc != -EINVAL)
                    return rc;
                if (rc == 0) {
                    pos += rn_seg_batch_size(&b); /* maxTimestamp overstated; go on */
                    continue;
                }
            }
            /* Compressed, LogAppendTime (every record carries maxTimestamp)
             * or unreadable records: the batch stands for its records. */
            *exact_out = (b.attributes & 0x08) != 0;
            *offset_out = b.base_offset > min_offset ? b.base_offset : min_offset;
            *ts_out = b.max_timestamp;
            return 1;
        }
        pos += rn_seg_batch_size(&b);
    }
}

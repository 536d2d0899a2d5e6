/*
 * logInt.h - private to src/log: the disk I/O seam, the segment and index
 * structures shared by segment.c, index.c and log.c.
 *
 * Nothing outside src/log (and tests/unit/test_log.c) includes this file.
 *
 * Locking: every field of a segment and of its indexes that can change is
 * guarded by the owning rn_log's mutex (log.c), except where noted. The
 * functions here take no locks; log.c calls them with the right lock held.
 */
#ifndef RN_LOG_LOGINT_H
#define RN_LOG_LOGINT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "log/log.h"

/* ---- the disk I/O seam ----
 * Every open/pread/pwrite/fdatasync/ftruncate of the log goes through
 * rn_log_io. The members behave like the libc calls (-1 and errno on error),
 * so a test can replace one of them to inject ENOSPC, EIO or a torn
 * (short) write, and call rn_log_io_reset() to restore the real calls.
 * Not thread-safe to change while logs are in use. */
typedef struct rn_log_io {
    int (*open)(const char *path, int flags, mode_t mode);
    ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    int (*fdatasync)(int fd);
    int (*ftruncate)(int fd, off_t len);
    int (*fallocate)(int fd, int mode, off_t off, off_t len);
} rn_log_io;

extern rn_log_io rn_log_io_ops;
void rn_log_io_reset(void);

/* Writes all n bytes at off (retrying short writes while they make
 * progress). 0, or a negative errno (-EIO for a write that stops without
 * an errno). */
int rn_logio_pwrite_all(int fd, const void *buf, size_t n, int64_t off);
/* Reads up to n bytes at off, stopping early only at end of file. Returns
 * the bytes read, or a negative errno. */
ssize_t rn_logio_pread_all(int fd, void *buf, size_t n, int64_t off);
/* 0 or negative errno. */
int rn_logio_fdatasync(int fd);
int rn_logio_ftruncate(int fd, int64_t len);
/* Reserves disk blocks for [off, off + len) without changing the file's
 * size (fallocate FALLOC_FL_KEEP_SIZE). 0 or a negative errno. */
int rn_logio_reserve(int fd, int64_t off, int64_t len);

/* ---- batch headers (v2; layout in proto/record_batch.h) ---- */

#define RN_SEG_BATCH_HEADER_BYTES 61
#define RN_SEG_LOG_OVERHEAD 12
#define RN_SEG_BATCH_LENGTH_MIN 49 /* batchLength of a batch with no records */

typedef struct rn_seg_batch {
    int64_t base_offset;
    int32_t batch_length; /* bytes after the batchLength field */
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
} rn_seg_batch;

/* Decodes the 61-byte header at p (no validation). */
void rn_seg_batch_decode(const uint8_t *p, rn_seg_batch *out);

static inline int64_t rn_seg_batch_size(const rn_seg_batch *b)
{
    return RN_SEG_LOG_OVERHEAD + (int64_t)b->batch_length;
}

static inline int64_t rn_seg_batch_last(const rn_seg_batch *b)
{
    return b->base_offset + b->last_offset_delta;
}

/* ---- indexes (index.c; formats drawn there) ---- */

typedef struct rn_oindex_entry {
    int32_t rel_offset; /* last offset of the batch - segment base */
    int32_t pos;        /* file position of the batch start */
} rn_oindex_entry;

typedef struct rn_tindex_entry {
    int64_t timestamp;  /* the segment's max timestamp so far */
    int32_t rel_offset; /* last offset of the first batch that carried it - base */
} rn_tindex_entry;

/* The in-memory index is the index: lookups never read the files. A file
 * holds a copy written whole by rn_*index_store() (see index.c for when). */
typedef struct rn_oindex {
    rn_oindex_entry *e;
    int32_t n;   /* entries */
    int32_t cap; /* allocated */
    int32_t max; /* segment_index_bytes / 8: full at max */
} rn_oindex;

typedef struct rn_tindex {
    rn_tindex_entry *e;
    int32_t n;
    int32_t cap;
    int32_t max; /* segment_index_bytes / 12; the last slot is kept for the roll entry */
} rn_tindex;

void rn_oindex_init(rn_oindex *ix, int32_t index_bytes);
void rn_tindex_init(rn_tindex *ix, int32_t index_bytes);
void rn_oindex_release(rn_oindex *ix); /* frees memory */
void rn_tindex_release(rn_tindex *ix);

/* Reads the index file at path (opened and closed here) into memory and
 * checks it against the segment: whole entries, increasing
 * offsets/positions/timestamps, offsets below rel_offset_end, positions
 * below log_size_bytes. 0, -ENOENT when the file does not exist, -EINVAL
 * when it is inconsistent (the caller rebuilds it), or another negative
 * errno. On error the index is left empty. */
int rn_oindex_load(rn_oindex *ix, const char *path, int64_t log_size_bytes, int64_t rel_offset_end);
int rn_tindex_load(rn_tindex *ix, const char *path, int64_t rel_offset_end);

/* Writes the whole index to path: open (creating), pwrite every entry,
 * ftruncate to exactly n entries, fdatasync when sync, close. 0 or a
 * negative errno (the file may then hold anything; see
 * rn_segment_store_indexes). Reads the entries without locking: the caller
 * makes sure nobody changes them meanwhile. */
int rn_oindex_store(const rn_oindex *ix, const char *path, int sync);
int rn_tindex_store(const rn_tindex *ix, const char *path, int sync);
/* 1 when the file at path holds exactly these entries (what
 * rn_*index_store would write), 0 when it differs or is missing, or a
 * negative errno. Reads the file; writes nothing. */
int rn_oindex_file_matches(const rn_oindex *ix, const char *path);
int rn_tindex_file_matches(const rn_tindex *ix, const char *path);

/* Position of a batch at or before the batch holding rel_offset (0 when no
 * entry is small enough). */
int32_t rn_oindex_lookup(const rn_oindex *ix, int64_t rel_offset);
/* The same lookup, giving the entry: its index (e[i].pos is the position),
 * or -1 when none is small enough (position 0). A caller reading the
 * batch header at e[i].pos checks that it is a batch ending at base +
 * e[i].rel_offset before trusting the entry (see rn_log_read). */
int32_t rn_oindex_find(const rn_oindex *ix, int64_t rel_offset);
/* The largest entry whose timestamp < ts, or NULL. */
const rn_tindex_entry *rn_tindex_lookup(const rn_tindex *ix, int64_t ts);

/* Grows memory so that k more entries fit (never past max). 0 or -ENOMEM. */
int rn_oindex_reserve(rn_oindex *ix, int32_t k);
int rn_tindex_reserve(rn_tindex *ix, int32_t k);
/* Appends k entries after the n present (room made by rn_*index_reserve). */
void rn_oindex_commit(rn_oindex *ix, const rn_oindex_entry *ents, int32_t k);
void rn_tindex_commit(rn_tindex *ix, const rn_tindex_entry *ents, int32_t k);
/* Drops every entry (memory only). */
void rn_oindex_clear(rn_oindex *ix);
void rn_tindex_clear(rn_tindex *ix);

/* ---- segments (segment.c) ---- */

typedef struct rn_segment {
    rn_fileref ref;            /* .log fd, the segment's only open file; the last drop closes it and frees */
    int64_t base_offset;
    int64_t size;              /* committed bytes of .log: readers never go past it */
    int64_t next_offset;       /* one past the last offset in it (base when empty) */
    int64_t max_ts;            /* largest batch maxTimestamp, -1 when none */
    int64_t max_ts_offset;     /* last offset of the first batch that carried max_ts */
    int64_t bytes_since_index; /* bytes appended since the last offset index entry */
    rn_oindex oidx;
    rn_tindex tidx;
    int dirty;                 /* on the log's dirty list (written since the last sync) */
    int index_pending;         /* sealed (rolled, or closing) and its index files not yet
                                * written and synced: the next sync does it */
    int storing;               /* a sync is writing its index files now (set and cleared
                                * under mu): deletion and compaction leave it alone, since
                                * the sync writes to <path>.index whatever the array holds */
    int32_t stored_on;         /* entries in <path>.index and <path>.timeindex when they are */
    int32_t stored_tn;         /* known to hold oidx/tidx's first stored_on/stored_tn entries
                                * exactly (loaded, written, or found equal after a rebuild);
                                * -1 when missing, stale or unknown. Entries are only
                                * appended, so equal counts mean equal files: rn_log_close
                                * skips writing them then. Guarded as oidx/tidx. */
    int64_t first_ts;          /* maxTimestamp of the first batch (segment.ms), -1 none;
                                * for the active segment guarded by append_mu and mu */
    int first_ts_known;        /* first_ts is loaded (0 after opening a non-empty file) */
    int64_t created_ms;        /* wall clock at create/open: segment.ms without timestamps */
    int64_t reserved_end;      /* disk blocks are reserved up to here for the appends to come
                                * (rn_segment_reserve); the file's size stays `size`. 0: none.
                                * The active segment's; under append_mu (and mu at a roll) */
    int reserve_failed;        /* fallocate refused (say EOPNOTSUPP): appends go without */
    char *path;                /* "<dir>/<20-digit base>" without extension */
} rn_segment;

/* What appending batches to a segment changes, computed on a copy so that a
 * failed write leaves the segment as it was; rn_seg_cursor_commit()
 * publishes it. Used by appends and by recovery, so both follow one rule
 * for index entries. */
typedef struct rn_seg_cursor {
    int64_t size;
    int64_t next_offset;
    int64_t max_ts;
    int64_t max_ts_offset;
    int64_t bytes_since_index;
    int64_t tindex_last_ts; /* -1 when the time index is empty (Kafka's convention) */
    int32_t oindex_n;
    int32_t tindex_n;
} rn_seg_cursor;

enum { RN_SEG_NEW_OENTRY = 1, RN_SEG_NEW_TENTRY = 2 };

void rn_seg_cursor_init(rn_seg_cursor *c, const rn_segment *seg);
/* Accounts for batch b, written at c->size: returns RN_SEG_NEW_* bits for
 * the index entries it earns (stored in *oe and *te). */
int rn_seg_cursor_add(rn_seg_cursor *c, const rn_segment *seg, const rn_seg_batch *b,
                      int32_t index_interval_bytes, rn_oindex_entry *oe, rn_tindex_entry *te);
void rn_seg_cursor_commit(rn_segment *seg, const rn_seg_cursor *c);

/* True when the segment cannot take another index entry (time for a roll). */
int rn_segment_indexes_full(const rn_segment *seg);

/* Creates a new, empty segment: .log truncated, index files of an earlier
 * segment at that base removed (they are written when it is sealed). */
int rn_segment_create(const char *dir, int64_t base_offset, const rn_log_config *cfg, rn_segment **out);
/* Opens the .log of an existing segment. Indexes are not loaded. */
int rn_segment_open(const char *dir, int64_t base_offset, const rn_log_config *cfg, rn_segment **out);

/* The cleaner's output: a new, empty segment whose file is
 * <dir>/<base>.log.cleaned (truncated); its path is the final one, so that
 * once renamed into place it is an ordinary segment. Leaves the live
 * segment's files at that base alone. */
#define RN_SEG_CLEANED_SUFFIX ".cleaned"
#define RN_SEG_SWAP_SUFFIX ".swap"
int rn_segment_create_cleaned(const char *dir, int64_t base_offset, const rn_log_config *cfg, rn_segment **out);

static inline void rn_segment_hold(rn_segment *seg)
{
    rn_fileref_hold(&seg->ref);
}
static inline void rn_segment_drop(rn_segment *seg)
{
    rn_fileref_drop(&seg->ref);
}

/* Offset continuity (segment.c, invariant 2): a batch must start at
 * `expect` (the previous batch's last offset + 1, or the segment's base
 * for its first batch); it may start later (a gap) only below
 * contiguous_from, the first offset the cleaner never compacted (0 when
 * it never ran: no gaps anywhere). */
static inline int rn_seg_offset_follows(int64_t base_offset, int64_t expect, int64_t contiguous_from)
{
    return base_offset == expect || (base_offset > expect && base_offset < contiguous_from);
}

/* Loads both index files and checks that they cover the log: reads the
 * batch headers from the last offset index entry's batch to the end of
 * the file (whole batches, the first ending at that entry's offset, or
 * without entries starting at the segment's base; each next one
 * following the previous one as rn_seg_offset_follows says, ending at or
 * below next_offset_bound, no timestamp above the time index's last entry).
 * The other entries are checked when a read uses them (rn_log_read). Sets next_offset,
 * max_ts/max_ts_offset and bytes_since_index. next_offset_bound is the
 * next segment's base (or INT64_MAX for the last). 0, -ENOENT when an
 * index file is missing, -EINVAL when an index is inconsistent with the
 * log or does not cover its end (the caller rebuilds with
 * rn_segment_recover), or another negative errno. */
int rn_segment_load_indexes(rn_segment *seg, int64_t next_offset_bound, int64_t contiguous_from);

/* Validates every batch (length, magic, CRC32C, offset continuity as
 * rn_seg_offset_follows says), truncates the file at the first bad byte
 * (ftruncate + fdatasync), and
 * rebuilds both indexes, sealed, in memory only. Then compares them with
 * the index files: stored_on/stored_tn say whether those already hold
 * exactly that (nothing to write) or not (-1: the caller writes them).
 * Neither writes the index files nor syncs the .log (the log keeps its
 * recovery point below data it has not synced: see log.c).
 * *truncated_bytes_out = bytes cut off. */
int rn_segment_recover(rn_segment *seg, int32_t index_interval_bytes, int64_t contiguous_from,
                       int64_t *truncated_bytes_out);

/* Reads the header of the batch at pos, which must lie whole below limit.
 * 1 with *out, 0 when pos == limit, negative errno on I/O errors, -EINVAL
 * for a header that is not sane (short, batchLength < 49 or past limit). */
int rn_segment_read_header(int fd, int64_t pos, int64_t limit, rn_seg_batch *out);

/* Scans the batches in [pos, limit) for the first one whose maxTimestamp
 * >= ts and inside it (uncompressed, CreateTime) the first record with
 * timestamp >= ts, skipping records below min_offset (the log start
 * offset). 1 with *offset_out, *ts_out (*exact_out = 0 when the batch's
 * base offset, raised to min_offset, and maxTimestamp stand in for a
 * compressed batch), 0 when none, negative errno. expect_last >= 0: pos
 * came from an offset index entry whose batch ends there; -ESTALE when
 * the header at pos is not such a batch (the entry is bad). */
int rn_segment_find_time(int fd, int64_t pos, int64_t limit, int64_t expect_last, int64_t ts, int64_t min_offset,
                         int64_t *offset_out, int64_t *ts_out, int *exact_out);

/* Adds one time index entry (in memory) with the segment's max timestamp
 * if it is above the last entry (on roll and on close; may use the
 * reserved slot). 0 or -ENOMEM. */
int rn_segment_seal_time_index(rn_segment *seg);

/* Removes the segment's three files (the .log fd stays open for readers). */
void rn_segment_unlink(rn_segment *seg);

/* fdatasync of the .log. */
int rn_segment_sync(rn_segment *seg);

/* Before an append that will end at `end`: makes sure disk blocks are
 * reserved up to there, reserving ahead (as much again as the segment will
 * hold, 64 KiB to 16 MiB, never past max(limit, end)) when they are not.
 * Buffered writes into reserved blocks skip ext4's per-page delayed
 * allocation work. The file's size (st_size) does not change, so recovery
 * and size accounting see only appended bytes. A refusal (EOPNOTSUPP,
 * ENOSPC) is not an error: the segment goes on without reserving. */
void rn_segment_reserve(rn_segment *seg, int64_t start, int64_t end, int64_t limit);
/* Gives the blocks reserved past `size` back (ftruncate to `size`, which
 * leaves the bytes and the mtime as they are). For a segment that takes no
 * more appends: at a roll and at close. */
void rn_segment_release_reserve(rn_segment *seg);

/* Writes both index files whole from memory (.timeindex first, then
 * .index), fdatasync'ing each when sync. On failure removes both files, so
 * that a later open finds them missing and rebuilds rather than trusting a
 * half-written one; returns the negative errno. The indexes must not change
 * meanwhile (a sealed segment's never do). */
int rn_segment_store_indexes(rn_segment *seg, int sync);
/* The same to <path>.timeindex<suffix> and <path>.index<suffix> (the
 * cleaner writes ".cleaned" files). */
int rn_segment_store_indexes_as(rn_segment *seg, const char *suffix, int sync);

/* ---- codecs (codec.c; formats drawn there) ---- */

enum { RN_CODEC_NONE = 0, RN_CODEC_GZIP = 1, RN_CODEC_SNAPPY = 2, RN_CODEC_LZ4 = 3, RN_CODEC_ZSTD = 4 };

/* A growable byte buffer; the caller owns it (rn_codec_buf_release). */
typedef struct rn_codec_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
} rn_codec_buf;

void rn_codec_buf_release(rn_codec_buf *b);
/* Capacity for at least need bytes (content kept). 0 or -ENOMEM. */
int rn_codec_buf_reserve(rn_codec_buf *b, size_t need);

/* Reusable decoder and encoder state, created on first use; one per
 * thread. Zero-initialise; release with rn_codec_ctx_release. */
typedef struct rn_codec_ctx {
    struct LZ4F_dctx_s *lz4_dctx;
    struct ZSTD_DCtx_s *zstd_dctx;
    struct ZSTD_CCtx_s *zstd_cctx;
} rn_codec_ctx;
void rn_codec_ctx_release(rn_codec_ctx *ctx);

/* Decompresses in[0, n) written with codec into out (its content
 * replaced), never past max_out bytes. *framing_out: for snappy, 1 when the
 * input had xerial framing (pass it back to rn_codec_compress), else 0.
 * 0; -EINVAL when the input is malformed or cut off; -EFBIG past max_out;
 * -ENOTSUP for an unknown codec; -ENOMEM. */
int rn_codec_decompress(rn_codec_ctx *ctx, int codec, const uint8_t *in, size_t n, size_t max_out,
                        rn_codec_buf *out, int *framing_out);
/* Compresses in[0, n) with codec into out (its content replaced). 0 or a
 * negative errno. */
int rn_codec_compress(rn_codec_ctx *ctx, int codec, const uint8_t *in, size_t n, int framing, rn_codec_buf *out);

/* ---- log.c ---- */

/* Segments whose indexes rn_log_open() rebuilt with rn_segment_recover
 * (unclean shutdown past the recovery point, or an index missing,
 * inconsistent or not covering the log). For tests and diagnostics. */
int32_t rn_log_index_rebuilds(rn_log *log);

/* Reads the small file dir/name whole into buf (NUL-terminated, at most
 * cap - 1 bytes). The bytes read, or a negative errno (-ENOENT). */
int rn_log_file_read_small(const char *dir, const char *name, char *buf, size_t cap);
/* Replaces dir/name atomically: dir/name.tmp written, fdatasync'ed,
 * renamed over it, the folder fsync'ed. 0 or a negative errno. */
int rn_log_file_write_atomic(const char *dir, const char *name, const char *buf, size_t n);

/* Renames a segment that left the array to <path>.{log,index,timeindex}.deleted,
 * queues it for rn_log_purge_deleted, drops the reference that the array
 * held. del_mu held. */
void rn_log_retire_segment(rn_log *log, rn_segment *seg, int64_t now_ms);

/* What the cleaner needs from the log (log.c). */
const char *rn_log_dir(const rn_log *log);
void rn_log_cfg(rn_log *log, rn_log_config *out); /* a copy, taken under mu (rn_log_set_config) */
void rn_log_clean_lock(rn_log *log); /* clean_mu: one compaction pass at a time */
void rn_log_clean_unlock(rn_log *log);
void rn_log_deletes_lock(rn_log *log); /* del_mu: no retention, DeleteRecords or purge meanwhile */
void rn_log_deletes_unlock(rn_log *log);

/* A non-active segment as the cleaner saw it (its reference held). */
typedef struct rn_seg_snap {
    rn_segment *seg;
    int64_t base_offset;
    int64_t size;
    int64_t next_offset;
    int64_t max_ts;
    int32_t oindex_n;
    int32_t tindex_n;
    int busy; /* index files not written yet (index_pending) or being written (storing) */
} rn_seg_snap;

/* Holds and describes every non-active segment (*out malloc'ed, in
 * order), plus the active segment's base and the log start offset. Takes
 * mu. 0 or -ENOMEM. Release with rn_log_snapshot_release. */
int rn_log_snapshot(rn_log *log, rn_seg_snap **out, int32_t *n_out, int64_t *active_base_out,
                    int64_t *start_offset_out);
void rn_log_snapshot_release(rn_seg_snap *snap, int32_t n);

/* del_mu held. 0 when old[0, k) are consecutive in the array, not the
 * active segment, and neither index_pending nor storing (so no sync will
 * write their index files); -EAGAIN otherwise (say retention deleted one). */
int rn_log_segments_swappable(rn_log *log, rn_segment *const *old, int32_t k);
/* del_mu held, after rn_log_segments_swappable: puts `cleaned` (whose
 * reference moves to the array) in place of old[0, k) (whose array
 * references move to the caller, who retires them), under mu for a moment.
 * -EAGAIN as above. */
int rn_log_replace_segments(rn_log *log, rn_segment *const *old, int32_t k, rn_segment *cleaned);

/* fsync of a folder (after creating, renaming or removing files in it). 0 or a negative errno. */
int rn_log_fsync_dir(const char *dir);

/* ---- cleaner_ckpt.c: the cleaner's checkpoint (format drawn there) ---- */

#define RN_CLEANER_CHECKPOINT_NAME "cleaner-offset"
#define RN_CLEANER_HORIZONS_MAX 64

typedef struct rn_cleaner_horizon {
    int64_t end; /* tombstones below it (and at or above the previous end) ... */
    int64_t ms;  /* ... were first passed by a pass at this now_ms */
} rn_cleaner_horizon;

typedef struct rn_cleaner_ckpt {
    int64_t offset; /* first dirty offset; 0 without a checkpoint */
    int32_t nh;
    rn_cleaner_horizon h[RN_CLEANER_HORIZONS_MAX + 1]; /* one spare while merging */
    int has_swap;   /* a swap in flight: <swap_base>.log.swap replaces [swap_base, swap_end) */
    int64_t swap_base;
    int64_t swap_end;
    int64_t rewritten_end; /* no segment at or above it was ever rewritten by the cleaner (so
                            * its offsets have no gaps: log.c's contiguous_from); INT64_MAX
                            * when unknown (an unreadable checkpoint) */
} rn_cleaner_ckpt;

/* Reads dir's checkpoint: 0 (an empty one when the file is missing),
 * -EINVAL when unreadable (*ck then empty but for rewritten_end =
 * INT64_MAX, a warning logged), or another negative errno (*ck as for
 * -EINVAL). */
int rn_cleaner_ckpt_read(const char *dir, rn_cleaner_ckpt *ck);
/* Writes it atomically (rn_log_file_write_atomic). 0 or a negative errno. */
int rn_cleaner_ckpt_write(const char *dir, const rn_cleaner_ckpt *ck);
/* rename(<path><ext><from_suffix>, <path><ext><to_suffix>); a missing
 * source is an error only when must. 0 or a negative errno. */
int rn_cleaner_rename(const char *path, const char *ext, const char *from_suffix, const char *to_suffix, int must);

/* At open, before the segments are listed: completes every swap a crash
 * interrupted (<base>.log.swap present: the old segments it replaces are
 * removed, the .swap files renamed to their final names). When a swapped
 * range ends past what the checkpoint says was rewritten (say, the file
 * is missing), raises its rewritten_end (written back; a failure is only
 * logged). *rewritten_end_out: the largest end of the swaps completed
 * (0 when none). 0 or a negative errno. */
int rn_cleaner_recover_swaps(const char *dir, int64_t *rewritten_end_out);

#endif

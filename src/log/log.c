/*
 * log.c - one partition's log: the array of segments, appends, reads by
 * offset and by time, group flushes and the recovery-point checkpoint,
 * opening with recovery after an unclean shutdown; the log start offset
 * and its checkpoint, DeleteRecords, retention (whole segments renamed to
 * .deleted, unlinked later by rn_log_purge_deleted), time-based rolls, and
 * the swap of segments cleaned by cleaner.c.
 *
 * Layer: src/log (see log.h for the contract; segment.c and index.c for
 * the segment and index formats, cleaner.c for compaction).
 *
 * <dir>/recovery-point: the checkpoint, text, written atomically (write
 * recovery-point.tmp, fdatasync, rename, fsync the folder):
 *
 *   line  content
 *   1     "0"         version
 *   2     "<offset>"  decimal: every offset below it is on stable storage
 *
 * Written by a sync that moved the recovery point, at most every 5 s
 * (CHECKPOINT_INTERVAL_MS) unless never written since open; a write so
 * skipped is made by rn_log_checkpoint_if_due (the log manager's tick)
 * once 5 s have passed, or at close.
 *
 * <dir>/log-start-offset: the same format and the same atomic write
 * (log-start-offset.tmp):
 *
 *   line  content
 *   1     "0"         version
 *   2     "<offset>"  decimal: offsets below it are deleted (DeleteRecords,
 *                     retention); the log start offset is
 *                     max(this, the first segment's base offset)
 *
 * Written by rn_log_delete_records before it deletes any segment, and by
 * retention after it renamed segments away (the first segment's base then
 * already vouches for the new start). A missing file means 0.
 *
 * Deleted segments (retention, DeleteRecords, compaction's swap): their
 * three files are renamed <name>.deleted, the segment leaves the array
 * (readers holding a reference keep the open .log), and the names wait on
 * a pending list until rn_log_purge_deleted() unlinks them after
 * file.delete.delay.ms. Opening removes any *.deleted and *.cleaned file,
 * completes any *.swap (cleaner.c: rn_cleaner_recover_swaps), and removes
 * index files that have no .log.
 *
 * Index files (formats in index.c): each segment keeps only its .log open.
 * The indexes live in memory; their files are written whole, never by the
 * appender:
 *   - roll() seals the old segment's time index in memory and sets
 *     index_pending; the next rn_log_sync() (the flusher) writes both files
 *     and fdatasyncs them, and fsyncs the folder, before it advances the
 *     recovery point. If that fails (say EMFILE or ENOSPC) the segment
 *     stays pending (and dirty) for the next sync, and the recovery point
 *     stays where it was; the sync still reports the data durable, which
 *     it is (a .log fdatasync failure is another matter: invariant 5).
 *   - rn_log_close() seals the active segment and does the same for it,
 *     unless its files already hold exactly its indexes (stored_on /
 *     stored_tn: nothing appended since they were loaded or written).
 *   - recovery at open writes and syncs the rebuilt files itself, unless
 *     they already hold exactly the rebuilt indexes (then nothing); if
 *     that write fails, a sealed segment gets index_pending (the next
 *     sync writes them), the active one's are written at close.
 *   - a read that finds an index entry not pointing at its batch (see
 *     "An offset index entry is checked" below) rebuilds the segment's
 *     indexes and rewrites the files itself (storing set, as a sync).
 * The active segment's files are therefore stale or missing until close;
 * after a crash it is always recovered, and at any open a missing,
 * inconsistent or short index is rebuilt (rn_segment_load_indexes).
 *
 * Recovery (unclean open) checks but does not sync: the recovery point
 * stays at the checkpoint (Kafka's LogLoader does the same), the recovered
 * segments holding offsets past it go on the dirty list, and the next
 * sync fdatasyncs them and moves the recovery point. A crash before that
 * checks them again. A close with nothing dirty, no index file to write
 * and the checkpoint equal to the recovery point does no I/O at all.
 * After an unclean shutdown, segment i is trusted (not recovered) only if
 * the next one's base < the checkpointed recovery point: the recovery
 * point passed a record of segment i+1, so a sync ran after i was rolled
 * and wrote its index files. (A sync that ran just before the roll can
 * leave the recovery point equal to the next base, with i's files unwritten.)
 *
 * Offset continuity at open (segment.c, invariant 2): batches must be
 * contiguous, except below contiguous_from, where the cleaner may have
 * dropped whole batches. contiguous_from is the rewritten end in
 * cleaner-offset (cleaner_ckpt.c: no segment at or above it was ever
 * rewritten; at least the first dirty offset and the end of a swap
 * recorded there), or the end of a swap this open completed when later;
 * 0 without the file (the cleaner never rewrote a segment: no gaps
 * anywhere); INT64_MAX when the file cannot be read (gaps allowed
 * everywhere: better than cutting compacted data off). A baseOffset is
 * not covered by the CRC: this check is what catches a damaged one.
 *
 * Reads at the tail: a consumer that is caught up asks for the offset the
 * last append started at (or a few appends back). The log remembers where
 * each of the last TAIL_MARKS appends started in the active segment
 * (offset, position, size of its first batch), so such a read finds its
 * slice without an index lookup or a header pread. The marks describe the
 * active segment's bytes only: a roll, and any change of the segment array
 * (retention, DeleteRecords, the cleaner's swap, an index rebuild), forget
 * them all; a failed append adds none. Anything that would cut the active
 * segment short must forget them too.
 *
 * Locks, always taken in this order:
 *   clean_mu   one compaction pass at a time (cleaner.c); held across the
 *              whole pass, which reads and writes files without mu
 *   del_mu     removes segments from the array (retention, DeleteRecords,
 *              the cleaner's swap), the pending deletions, the
 *              log-start-offset checkpoint; held across renames and that
 *              checkpoint's fsync (so a DeleteRecords may wait that long)
 *   sync_mu    one rn_log_sync() at a time; held across fdatasync and the
 *              index file writes of sealed segments
 *   append_mu  one appender at a time; held across the write(2); with mu,
 *              guards the settings (cfg: rn_log_set_config takes both)
 *   mu         the segment array and everything readers look at: sizes,
 *              offsets, index arrays, the dirty list, index_pending. Never
 *              held across fdatasync or pwrite; a roll creates the new
 *              segment's .log under it.
 *
 * A segment leaves the array only while no sync is writing its index
 * files (seg->storing, under mu); a deleted segment's index_pending is
 * cleared, so the flusher only fdatasyncs its .log. Otherwise a sync could
 * write <base>.index after the rename, over a cleaned segment's name.
 *
 * Invariants:
 *   1. nsegs >= 1; segs[] is sorted by base offset; segs[nsegs-1] is active.
 *   2. Readers never look past a segment's `size`; bytes past it in the
 *      file are an append in progress (or one that failed and is cut off).
 *   3. Every segment written since the last sync, and every segment with
 *      index_pending, is on dirty[] (with a ref).
 *   6. A segment with index_pending is sealed: its index arrays no longer
 *      change, so the flusher reads them without mu.
 *   4. segs[0]->base_offset <= start_offset <= next_offset, and
 *      recovery_point <= next_offset (DeleteRecords may move the start
 *      past the recovery point: to the high watermark, which is the end).
 *   5. After an fdatasync error `failed` is set for good: the page cache may
 *      have dropped the dirty pages, so a later fdatasync proving nothing,
 *      appends and syncs return the error until the log is reopened.
 */
#include "log/log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/rlog.h"
#include "log/logInt.h"

#define CHECKPOINT_NAME "recovery-point"
#define CHECKPOINT_TMP_NAME "recovery-point.tmp"
#define START_CHECKPOINT_NAME "log-start-offset"
#define CHECKPOINT_INTERVAL_MS 5000 /* sync writes the checkpoint at most this often */
#define CHECKPOINT_BYTES_MAX 64
#define CKPT_NEVER (INT64_MIN / 2) /* ckpt_mono_ms before any write: long ago, without overflow */
#define TAIL_MARKS 16 /* a consumer a few appends behind still reads without I/O */

/* Where an append started (see "Reads at the tail"). */
typedef struct tail_mark {
    int64_t offset;      /* base offset of the append's first batch */
    int64_t pos;         /* its position in the active segment */
    int64_t first_bytes; /* its size (KIP-74: a read returns it whole) */
} tail_mark;

typedef struct pending_delete {
    char *path;         /* "<dir>/<base>": the files are <path>.{log,index,timeindex}.deleted */
    int64_t deleted_ms; /* the now_ms of the deletion */
} pending_delete;

struct rn_log {
    pthread_mutex_t clean_mu;
    pthread_mutex_t del_mu;
    pthread_mutex_t sync_mu;
    pthread_mutex_t append_mu;
    pthread_mutex_t mu;
    char *dir;
    rn_log_config cfg; /* written holding append_mu and mu (rn_log_set_config), read holding
                        * either: appends and rebuild_indexes under append_mu, rolls under
                        * both, the cleaner a copy (rn_log_cfg) */
    int64_t contiguous_from; /* set at open, before segments load (see "Offset continuity") */

    /* guarded by mu */
    rn_segment **segs;
    int32_t nsegs;
    int32_t segs_cap;
    int64_t start_offset; /* max(segs[0]->base_offset, log-start-offset checkpoint) */
    int64_t next_offset;
    int64_t max_ts;
    int64_t max_ts_offset;
    int64_t recovery_point;
    int64_t size_bytes;
    rn_segment **dirty;
    int32_t ndirty;
    int32_t dirty_cap;
    int dir_dirty; /* files were created or removed since the last sync */
    int failed;    /* negative errno of a failed fdatasync, or 0 */
    int32_t index_rebuilds; /* segments recovered at open (set before it returns) */
    tail_mark tail[TAIL_MARKS]; /* ring of the last appends' starts, all in the active segment */
    int32_t ntail;              /* marks held (<= TAIL_MARKS) */
    int32_t tail_next;          /* slot the next mark goes to */

    /* guarded by del_mu */
    int64_t start_ckpt; /* value in log-start-offset; -1 when there is no file */
    pending_delete *pending;
    int32_t npending;
    int32_t pending_cap;

    /* guarded by sync_mu */
    int64_t ckpt_offset; /* recovery point in the file; -1 before the first write */
    int64_t ckpt_mono_ms; /* rn_mono_ms of its last write (or, by rn_log_checkpoint_if_due, of a
                           * failed try); CKPT_NEVER before any */

    /* guarded by append_mu: staged index entries of one append */
    rn_oindex_entry *oscratch;
    rn_tindex_entry *tscratch;
    int32_t scratch_cap;
};

/* ---- small helpers ---- */

static int grow_ptrs(rn_segment ***arr, int32_t *cap, int32_t need)
{
    if (need <= *cap)
        return 0;
    int32_t c = *cap < 8 ? 8 : *cap;
    while (c < need)
        c *= 2;
    rn_segment **p = realloc(*arr, (size_t)c * sizeof(*p));
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

/* Index of the last segment whose base <= offset (0 when none). mu held. */
static int32_t find_segment(const rn_log *log, int64_t offset)
{
    int32_t lo = 0, hi = log->nsegs;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base_offset <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? 0 : lo - 1;
}

/* Index of the first segment whose base > base, or nsegs. mu held. */
static int32_t segment_after(const rn_log *log, int64_t base)
{
    int32_t i = find_segment(log, base);
    while (i < log->nsegs && log->segs[i]->base_offset <= base)
        i++;
    return i;
}

static rn_segment *active(const rn_log *log)
{
    return log->segs[log->nsegs - 1];
}

/* ---- reads at the tail (see above) ---- */

/* Forgets every tail mark. mu held. */
static void tail_forget(rn_log *log)
{
    log->ntail = 0;
    log->tail_next = 0;
}

/* Remembers that an append to the active segment started at pos with a
 * first batch of first_bytes holding offset. mu held. */
static void tail_add(rn_log *log, int64_t offset, int64_t pos, int64_t first_bytes)
{
    log->tail[log->tail_next] = (tail_mark){offset, pos, first_bytes};
    log->tail_next = (log->tail_next + 1) % TAIL_MARKS;
    if (log->ntail < TAIL_MARKS)
        log->ntail++;
}

/* The mark of an append that started at offset, or NULL. mu held. */
static const tail_mark *tail_find(const rn_log *log, int64_t offset)
{
    for (int32_t k = 1; k <= log->ntail; k++) { /* newest first: a tailing reader asks for recent ones */
        const tail_mark *m = &log->tail[(log->tail_next - k + TAIL_MARKS) % TAIL_MARKS];
        if (m->offset == offset)
            return m;
        if (m->offset < offset)
            return NULL; /* marks only go back from here */
    }
    return NULL;
}

/* Puts seg on the dirty list (capacity reserved by the caller). mu held. */
static void mark_dirty(rn_log *log, rn_segment *seg)
{
    if (seg->dirty)
        return;
    assert(log->ndirty < log->dirty_cap);
    rn_segment_hold(seg);
    seg->dirty = 1;
    log->dirty[log->ndirty++] = seg;
}

int rn_log_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* ---- checkpoint files ---- */

int rn_log_file_read_small(const char *dir, const char *name, char *buf, size_t cap)
{
    char path[4096];
    assert(cap > 1);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = rn_log_io_ops.open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    ssize_t n = rn_logio_pread_all(fd, buf, cap - 1, 0);
    close(fd);
    if (n < 0)
        return (int)n;
    buf[n] = '\0';
    return (int)n;
}

int rn_log_file_write_atomic(const char *dir, const char *name, const char *buf, size_t n)
{
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = rn_log_io_ops.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = rn_logio_pwrite_all(fd, buf, n, 0);
    if (rc == 0)
        rc = rn_logio_fdatasync(fd);
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc == 0)
        rc = rn_log_fsync_dir(dir);
    if (rc < 0) {
        unlink(tmp);
        rn_warn("log: %s: cannot write checkpoint: %s", path, strerror(-rc));
    }
    return rc;
}

/* An offset checkpoint (recovery-point, log-start-offset): the offset, or
 * -1 when the file is missing or unreadable. */
static int64_t offset_checkpoint_read(const char *dir, const char *name)
{
    char buf[CHECKPOINT_BYTES_MAX + 1];
    int n = rn_log_file_read_small(dir, name, buf, sizeof(buf));
    long long version, offset;
    char nl;
    if (n <= 0)
        return -1;
    if (sscanf(buf, "%lld\n%lld%c", &version, &offset, &nl) != 3 || version != 0 || offset < 0 ||
        nl != '\n') {
        rn_warn("log: %s/%s: unreadable checkpoint, ignored", dir, name);
        return -1;
    }
    return offset;
}

static int offset_checkpoint_write(const char *dir, const char *name, int64_t offset)
{
    char buf[CHECKPOINT_BYTES_MAX];
    int n = snprintf(buf, sizeof(buf), "0\n%" PRId64 "\n", offset);
    return rn_log_file_write_atomic(dir, name, buf, (size_t)n);
}

static int checkpoint_write(const char *dir, int64_t offset)
{
    return offset_checkpoint_write(dir, CHECKPOINT_NAME, offset);
}

/* ---- open ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int push_i64(int64_t **arr, int32_t *n, int32_t *cap, int64_t v)
{
    if (*n == *cap) {
        int32_t c = *cap ? *cap * 2 : 16;
        int64_t *p = realloc(*arr, (size_t)c * sizeof(*p));
        if (!p)
            return -ENOMEM;
        *arr = p;
        *cap = c;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

/* What one pass over the folder found. */
typedef struct dir_listing {
    int64_t *bases;  /* of the "<20 digits>.log" files, sorted */
    int32_t n;
    int sweep;       /* something for sweep_dir: *.deleted, *.cleaned, *.swap, a
                      * checkpoint's .tmp, or index files without a .log */
    int has_start;   /* log-start-offset exists */
    int has_rp;      /* recovery-point exists */
    int has_cleaner; /* cleaner-offset exists */
} dir_listing;

static int is_20_digits(const char *s)
{
    return strspn(s, "0123456789") == 20;
}

/* Lists dir once (opening a log reads the folder once when there is
 * nothing to clean up, as after any clean shutdown). */
static int list_dir(const char *dir, dir_listing *out)
{
    memset(out, 0, sizeof(*out));
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int64_t *bases = NULL, *ibases = NULL;
    int32_t n = 0, cap = 0, ni = 0, icap = 0;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        size_t l = strlen(s);
        if (strcmp(s, CHECKPOINT_NAME) == 0) {
            out->has_rp = 1;
        } else if (strcmp(s, START_CHECKPOINT_NAME) == 0) {
            out->has_start = 1;
        } else if (strcmp(s, RN_CLEANER_CHECKPOINT_NAME) == 0) {
            out->has_cleaner = 1;
        } else if ((l > 8 && strcmp(s + l - 8, ".deleted") == 0) || (l > 8 && strcmp(s + l - 8, ".cleaned") == 0) ||
                   (l > 5 && strcmp(s + l - 5, ".swap") == 0) || strcmp(s, CHECKPOINT_TMP_NAME) == 0 ||
                   strcmp(s, START_CHECKPOINT_NAME ".tmp") == 0 || strcmp(s, RN_CLEANER_CHECKPOINT_NAME ".tmp") == 0) {
            out->sweep = 1;
        } else if (l >= 24 && is_20_digits(s)) {
            int is_log = strcmp(s + 20, ".log") == 0;
            if (!is_log && strcmp(s + 20, ".index") != 0 && strcmp(s + 20, ".timeindex") != 0)
                continue;
            errno = 0;
            long long v = strtoll(s, NULL, 10);
            if (errno != 0) { /* 20 digits may overflow int64 */
                out->sweep |= !is_log; /* as sweep_dir would see it: no .log */
                continue;
            }
            rc = is_log ? push_i64(&bases, &n, &cap, v) : push_i64(&ibases, &ni, &icap, v);
        }
    }
    closedir(d);
    if (rc < 0) {
        free(bases);
        free(ibases);
        return rc;
    }
    if (n > 0)
        qsort(bases, (size_t)n, sizeof(*bases), cmp_i64);
    for (int32_t i = 0; i < ni && !out->sweep; i++)
        out->sweep = !bsearch(&ibases[i], bases, (size_t)n, sizeof(*bases), cmp_i64);
    free(ibases);
    out->bases = bases;
    out->n = n;
    return 0;
}

/* Opens segment i of bases[], loading or recovering it. *truncated set
 * when recovery cut the segment short (later segments must go). rp: the
 * checkpointed recovery point (unclean open; INT64_MAX when clean). */
static int open_one(rn_log *log, const int64_t *bases, int32_t n, int32_t i, int recover, int64_t rp, int *truncated)
{
    rn_segment *seg;
    int rc = rn_segment_open(log->dir, bases[i], &log->cfg, &seg);
    if (rc < 0) {
        rn_error("log: %s: cannot open segment %020" PRId64 ": %s", log->dir, bases[i], strerror(-rc));
        return rc;
    }
    log->segs[log->nsegs++] = seg;
    int64_t bound = i + 1 < n ? bases[i + 1] : INT64_MAX;
    if (!recover) {
        rc = rn_segment_load_indexes(seg, bound, log->contiguous_from);
        if (rc == -ENOENT) {
            rn_warn("log: %s: index missing, rebuilding", seg->path);
            recover = 1;
        } else if (rc == -EINVAL) {
            rn_warn("log: %s: index inconsistent with the log, rebuilding", seg->path);
            recover = 1;
        } else if (rc < 0) {
            return rc;
        }
    }
    if (recover) {
        int64_t cut = 0;
        if ((rc = rn_segment_recover(seg, log->cfg.index_interval_bytes, log->contiguous_from, &cut)) < 0) {
            rn_error("log: %s: recovery failed: %s", seg->path, strerror(-rc));
            return rc;
        }
        log->index_rebuilds++;
        *truncated = cut > 0;
        /* Nothing is synced here (see "Recovery" above): data past the
         * recovery point waits for the next sync. Index files are written
         * (a repair) only when they differ from the rebuilt indexes; when
         * that fails, a sealed segment's wait for the next sync, the
         * active one's (the last one, or one cut short: the later ones
         * go) for close. */
        if (seg->stored_on < 0 || seg->stored_tn < 0) {
            rn_segment_store_indexes(seg, 1);
            log->dir_dirty = 1; /* the index files may be new */
        }
        int sealed = i + 1 < n && cut == 0;
        int pending = sealed && (seg->stored_on < 0 || seg->stored_tn < 0);
        if (pending || cut > 0 || seg->next_offset > rp) {
            if ((rc = grow_ptrs(&log->dirty, &log->dirty_cap, log->ndirty + 1)) < 0)
                return rc;
            mark_dirty(log, seg);
            seg->index_pending = pending;
        }
    }
    return 0;
}

/* Removes the segment files with base offsets bases[from..n). */
static void remove_later(rn_log *log, const int64_t *bases, int32_t from, int32_t n)
{
    for (int32_t j = from; j < n; j++) {
        char p[4096];
        static const char *const exts[] = {".log", ".index", ".timeindex"};
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof(p), "%s/%020" PRId64 "%s", log->dir, bases[j], exts[k]);
            unlink(p);
        }
        rn_warn("log: %s: deleted segment %020" PRId64 " after a truncated one", log->dir, bases[j]);
    }
    log->dir_dirty = 1;
}

/* rp: the checkpointed recovery point (used when !clean_shutdown). */
static int load_segments(rn_log *log, const int64_t *bases, int32_t n, int clean_shutdown, int64_t rp)
{
    int rc;
    if ((rc = grow_ptrs(&log->segs, &log->segs_cap, n + 1)) < 0)
        return rc;
    if (clean_shutdown)
        rp = INT64_MAX;
    for (int32_t i = 0; i < n; i++) {
        /* Unclean: trust only segments the recovery point has passed
         * (see "Index files" above); recover the rest. */
        int recover = !clean_shutdown && (i + 1 == n || bases[i + 1] >= rp);
        int truncated = 0;
        if ((rc = open_one(log, bases, n, i, recover, rp, &truncated)) < 0)
            return rc;
        if (truncated && i + 1 < n) {
            remove_later(log, bases, i + 1, n);
            break;
        }
    }
    if (log->nsegs == 0) {
        rn_segment *seg;
        if ((rc = rn_segment_create(log->dir, 0, &log->cfg, &seg)) < 0)
            return rc;
        log->segs[log->nsegs++] = seg;
        log->dir_dirty = 1;
    }
    return 0;
}

/* Empties the dirty list (only at open, for segments that are going). */
static void forget_dirty(rn_log *log)
{
    for (int32_t i = 0; i < log->ndirty; i++) {
        log->dirty[i]->dirty = 0;
        log->dirty[i]->index_pending = 0;
        rn_segment_drop(log->dirty[i]);
    }
    log->ndirty = 0;
}

/* Replaces every segment by one empty segment at offset: the start offset
 * checkpoint is past the recovered end (DeleteRecords up to data that a
 * crash then lost), so offsets below it must never be handed out again
 * (Kafka's LogLoader does the same). Only at open. */
static int restart_at(rn_log *log, int64_t offset)
{
    rn_segment *seg;
    rn_warn("log: %s: log start offset %" PRId64 " is past the end %" PRId64 ", starting empty there", log->dir,
            offset, log->segs[log->nsegs - 1]->next_offset);
    int rc = rn_segment_create(log->dir, offset, &log->cfg, &seg);
    if (rc < 0)
        return rc;
    forget_dirty(log); /* no sync may write index files of the segments going */
    for (int32_t i = 0; i < log->nsegs; i++) {
        rn_segment_unlink(log->segs[i]);
        rn_segment_drop(log->segs[i]);
    }
    log->segs[0] = seg;
    log->nsegs = 1;
    log->dir_dirty = 1;
    return 0;
}

/* Completes interrupted swaps (cleaner.c), then removes what a crash can
 * leave behind: the checkpoints' .tmp files, *.deleted (retired segments),
 * *.cleaned (a compaction in progress), any other *.swap (index files whose
 * .log was not yet renamed), and index files without a .log. Only at open,
 * and only when list_dir saw any of these. */
static int sweep_dir(const char *dir, int64_t *swapped_end_out)
{
    static const char *const tmps[] = {CHECKPOINT_TMP_NAME, START_CHECKPOINT_NAME ".tmp",
                                       RN_CLEANER_CHECKPOINT_NAME ".tmp"};
    char p[4096];
    for (size_t i = 0; i < sizeof(tmps) / sizeof(tmps[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, tmps[i]);
        unlink(p);
    }
    int rc = rn_cleaner_recover_swaps(dir, swapped_end_out);
    if (rc < 0)
        return rc;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        size_t l = strlen(s);
        int stray = (l > 8 && strcmp(s + l - 8, ".deleted") == 0) || (l > 8 && strcmp(s + l - 8, ".cleaned") == 0) ||
                    (l > 5 && strcmp(s + l - 5, ".swap") == 0);
        if (!stray && is_20_digits(s) && (strcmp(s + 20, ".index") == 0 || strcmp(s + 20, ".timeindex") == 0)) {
            snprintf(p, sizeof(p), "%s/%.20s.log", dir, s);
            stray = access(p, F_OK) < 0 && errno == ENOENT;
        }
        if (!stray)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, s);
        if (unlink(p) < 0 && errno != ENOENT)
            rn_warn("log: cannot remove %s: %s", p, strerror(errno));
        else
            rn_debug("log: removed leftover %s", p);
    }
    closedir(d);
    return 0;
}

/* Checks cfg and clamps it into *out (rn_log_open, rn_log_set_config). 0 or -EINVAL. */
static int config_check(const rn_log_config *cfg, rn_log_config *out)
{
    if (cfg->segment_bytes <= 0 || cfg->index_interval_bytes < 0 || cfg->segment_index_bytes <= 0 ||
        cfg->segment_ms < 0)
        return -EINVAL;
    *out = *cfg;
    if (out->segment_bytes > INT32_MAX) /* index positions are int32 */
        out->segment_bytes = INT32_MAX;
    return 0;
}

/* See "Offset continuity" above. Only at open, after sweep_dir, which
 * completed interrupted swaps up to swapped_end (0: none). */
static int64_t contiguous_from(const char *dir, const dir_listing *ls, int64_t swapped_end)
{
    rn_cleaner_ckpt ck;
    if (!ls->has_cleaner)
        return swapped_end;
    rn_cleaner_ckpt_read(dir, &ck); /* (rewritten_end INT64_MAX when unreadable) */
    return ck.rewritten_end > swapped_end ? ck.rewritten_end : swapped_end;
}

int rn_log_open(const char *dir, const rn_log_config *cfg, int clean_shutdown, rn_log **out)
{
    int rc;
    dir_listing ls = {0};
    rn_log_config checked;
    int64_t swapped_end = 0; /* interrupted compaction swaps completed up to here */
    if ((rc = config_check(cfg, &checked)) < 0)
        return rc;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    rn_log *log = calloc(1, sizeof(*log));
    if (!log)
        return -ENOMEM;
    if (!(log->dir = strdup(dir))) {
        free(log);
        return -ENOMEM;
    }
    log->cfg = checked;
    log->ckpt_mono_ms = CKPT_NEVER;
    pthread_mutex_init(&log->clean_mu, NULL);
    pthread_mutex_init(&log->del_mu, NULL);
    pthread_mutex_init(&log->sync_mu, NULL);
    pthread_mutex_init(&log->append_mu, NULL);
    pthread_mutex_init(&log->mu, NULL);
    log->max_ts = log->max_ts_offset = -1;

    if ((rc = list_dir(dir, &ls)) < 0)
        goto fail;
    if (ls.sweep) {
        free(ls.bases);
        if ((rc = sweep_dir(dir, &swapped_end)) < 0 || (rc = list_dir(dir, &ls)) < 0)
            goto fail;
    }
    /* The checkpoint as it is in the file (-1: none): a close that finds
     * the recovery point equal to it does not write it again. */
    log->ckpt_offset = ls.has_rp ? offset_checkpoint_read(dir, CHECKPOINT_NAME) : -1;
    log->contiguous_from = contiguous_from(dir, &ls, swapped_end);
    int64_t rp_ckpt = log->ckpt_offset < 0 ? 0 : log->ckpt_offset; /* none: recover everything */
    if ((rc = load_segments(log, ls.bases, ls.n, clean_shutdown, rp_ckpt)) < 0)
        goto fail;
    log->start_ckpt = ls.has_start ? offset_checkpoint_read(dir, START_CHECKPOINT_NAME) : -1;
    if (log->start_ckpt > active(log)->next_offset && (rc = restart_at(log, log->start_ckpt)) < 0)
        goto fail;
    if ((rc = grow_ptrs(&log->dirty, &log->dirty_cap, log->ndirty + 4)) < 0)
        goto fail;
    for (int32_t i = 0; i < log->nsegs; i++) {
        rn_segment *seg = log->segs[i];
        log->size_bytes += seg->size;
        if (seg->max_ts > log->max_ts) {
            log->max_ts = seg->max_ts;
            log->max_ts_offset = seg->max_ts_offset;
        }
    }
    log->start_offset = log->segs[0]->base_offset;
    if (log->start_ckpt > log->start_offset)
        log->start_offset = log->start_ckpt;
    log->next_offset = active(log)->next_offset;
    /* Clean: everything was synced at close. Unclean: what lies past the
     * checkpoint was checked but not synced; the segments holding it are
     * on the dirty list, and the next sync moves the recovery point. */
    log->recovery_point = clean_shutdown || rp_ckpt > log->next_offset ? log->next_offset : rp_ckpt;
    if (log->dir_dirty)
        mark_dirty(log, active(log));
    rn_debug("log: opened %s: %d segments, offsets [%" PRId64 ", %" PRId64 ")", dir, log->nsegs,
             log->start_offset, log->next_offset);
    free(ls.bases);
    *out = log;
    return 0;
fail:
    free(ls.bases);
    forget_dirty(log);
    for (int32_t i = 0; i < log->nsegs; i++)
        rn_segment_drop(log->segs[i]);
    free(log->segs);
    free(log->dirty);
    pthread_mutex_destroy(&log->clean_mu);
    pthread_mutex_destroy(&log->del_mu);
    pthread_mutex_destroy(&log->sync_mu);
    pthread_mutex_destroy(&log->append_mu);
    pthread_mutex_destroy(&log->mu);
    free(log->dir);
    free(log);
    return rc;
}

void rn_log_set_config(rn_log *log, const rn_log_config *cfg)
{
    rn_log_config c;
    if (config_check(cfg, &c) < 0) {
        rn_warn("log: %s: invalid settings ignored (segment.bytes %" PRId64 ", index.interval.bytes %d, "
                "segment.index.bytes %d, segment.ms %" PRId64 ")",
                log->dir, cfg->segment_bytes, (int)cfg->index_interval_bytes, (int)cfg->segment_index_bytes,
                cfg->segment_ms);
        return;
    }
    /* append_mu: an append in progress reads index_interval_bytes without mu. */
    pthread_mutex_lock(&log->append_mu);
    pthread_mutex_lock(&log->mu);
    int changed = memcmp(&log->cfg, &c, sizeof(c)) != 0;
    log->cfg = c;
    pthread_mutex_unlock(&log->mu);
    pthread_mutex_unlock(&log->append_mu);
    if (changed)
        rn_debug("log: %s: segment.bytes %" PRId64 ", index.interval.bytes %d, segment.index.bytes %d, "
                 "segment.ms %" PRId64,
                 log->dir, c.segment_bytes, (int)c.index_interval_bytes, (int)c.segment_index_bytes, c.segment_ms);
}

/* ---- append ---- */

/* Rolls to a new active segment at next_offset. mu held (rare, so the
 * roll's small writes under the lock are acceptable). */
static int roll(rn_log *log)
{
    rn_segment *old = active(log), *seg;
    int rc;
    if ((rc = grow_ptrs(&log->segs, &log->segs_cap, log->nsegs + 1)) < 0 ||
        (rc = grow_ptrs(&log->dirty, &log->dirty_cap, log->ndirty + 2)) < 0)
        return rc;
    /* Kafka writes the segment's final max timestamp into its time index on
     * roll; the flusher writes the sealed index files (no I/O here). */
    if ((rc = rn_segment_seal_time_index(old)) < 0)
        return rc;
    rn_segment_release_reserve(old); /* takes no more appends */
    mark_dirty(log, old);
    old->index_pending = 1;
    if ((rc = rn_segment_create(log->dir, log->next_offset, &log->cfg, &seg)) < 0)
        return rc;
    log->segs[log->nsegs++] = seg;
    log->dir_dirty = 1;
    tail_forget(log); /* they point into the old segment */
    rn_debug("log: %s: rolled to segment %020" PRId64, log->dir, seg->base_offset);
    return 0;
}

/* Checks that [batches, batches+len) is nbatches whole batches; sums the
 * records. Programmer errors (the broker validated them) but cheap. */
static int frame_batches(const uint8_t *batches, size_t len, int nbatches, int64_t *records_out,
                         int64_t *max_ts_out)
{
    size_t pos = 0;
    int64_t records = 0, max_ts = -1;
    int k = 0;
    while (pos < len) {
        rn_seg_batch b;
        if (len - pos < RN_SEG_BATCH_HEADER_BYTES)
            return -EINVAL;
        rn_seg_batch_decode(batches + pos, &b);
        if (b.batch_length < RN_SEG_BATCH_LENGTH_MIN || (uint64_t)rn_seg_batch_size(&b) > len - pos ||
            b.last_offset_delta < 0)
            return -EINVAL;
        records += (int64_t)b.last_offset_delta + 1;
        if (b.max_timestamp > max_ts)
            max_ts = b.max_timestamp;
        pos += (size_t)rn_seg_batch_size(&b);
        k++;
    }
    if (k != nbatches)
        return -EINVAL;
    *records_out = records;
    *max_ts_out = max_ts;
    return 0;
}

static void put_be64(uint8_t *p, int64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v = (int64_t)((uint64_t)v >> 8);
    }
}

/* Reads the first batch's maxTimestamp of a segment opened with data
 * (segment.ms): one header pread, once per segment and open. mu held. */
static void load_first_ts(rn_segment *seg)
{
    rn_seg_batch b;
    seg->first_ts = rn_segment_read_header(seg->ref.fd, 0, seg->size, &b) == 1 ? b.max_timestamp : -1;
    seg->first_ts_known = 1;
}

/* segment.ms, as Kafka's LogSegment.shouldRoll: the incoming batches' max
 * timestamp minus the first batch's max timestamp, or the segment's age
 * when its first batch carries no timestamp. mu held. */
static int time_roll_due(const rn_log *log, const rn_segment *seg, int64_t incoming_max_ts)
{
    int64_t ms = log->cfg.segment_ms;
    if (ms <= 0 || seg->size == 0)
        return 0;
    if (seg->first_ts >= 0)
        return incoming_max_ts - seg->first_ts > ms;
    return rn_now_ms() - seg->created_ms > ms;
}

int rn_log_append(rn_log *log, uint8_t *batches, size_t len, int nbatches, int64_t *base_offset_out,
                  int64_t *last_offset_out)
{
    int64_t records, incoming_max_ts;
    int rc;
    if (len == 0 || nbatches <= 0 || len > INT32_MAX)
        return -EINVAL;
    if ((rc = frame_batches(batches, len, nbatches, &records, &incoming_max_ts)) < 0)
        return rc;

    pthread_mutex_lock(&log->append_mu);
    if (nbatches > log->scratch_cap) {
        rn_oindex_entry *o = realloc(log->oscratch, (size_t)nbatches * sizeof(*o));
        if (o)
            log->oscratch = o;
        rn_tindex_entry *t = o ? realloc(log->tscratch, (size_t)nbatches * sizeof(*t)) : NULL;
        if (!o || !t) {
            pthread_mutex_unlock(&log->append_mu);
            return -ENOMEM;
        }
        log->tscratch = t;
        log->scratch_cap = nbatches;
    }

    /* Under mu: roll if needed, reserve memory, snapshot the active segment. */
    pthread_mutex_lock(&log->mu);
    if (log->failed) {
        rc = log->failed;
        pthread_mutex_unlock(&log->mu);
        goto unlock_append;
    }
    rn_segment *seg = active(log);
    int64_t base = log->next_offset;
    if (seg->size > 0 && !seg->first_ts_known)
        load_first_ts(seg);
    if (seg->size > 0 && ((int64_t)len > log->cfg.segment_bytes - seg->size || rn_segment_indexes_full(seg) ||
                          base + records - 1 - seg->base_offset > INT32_MAX ||
                          time_roll_due(log, seg, incoming_max_ts))) {
        if ((rc = roll(log)) < 0) {
            pthread_mutex_unlock(&log->mu);
            rn_warn("log: %s: cannot roll: %s", log->dir, strerror(-rc));
            goto unlock_append;
        }
        seg = active(log);
    }
    if ((int64_t)len > INT32_MAX - seg->size || base + records - 1 - seg->base_offset > INT32_MAX) {
        pthread_mutex_unlock(&log->mu); /* beyond what int32 index fields can express */
        rc = -EFBIG;
        goto unlock_append;
    }
    if ((rc = rn_oindex_reserve(&seg->oidx, nbatches)) < 0 || (rc = rn_tindex_reserve(&seg->tidx, nbatches)) < 0 ||
        (rc = grow_ptrs(&log->dirty, &log->dirty_cap, log->ndirty + 1)) < 0) {
        pthread_mutex_unlock(&log->mu);
        goto unlock_append;
    }
    rn_seg_cursor c;
    rn_seg_cursor_init(&c, seg);
    pthread_mutex_unlock(&log->mu);

    /* Without mu: assign offsets, stage index entries, write. Only this
     * thread changes the active segment's files and counts now. */
    int64_t start_size = c.size, next = base, first_batch_ts = -1, first_batch_bytes = 0;
    int32_t no = 0, nt = 0;
    size_t pos = 0;
    while (pos < len) {
        rn_seg_batch b;
        put_be64(batches + pos, next);
        rn_seg_batch_decode(batches + pos, &b);
        if (pos == 0) {
            first_batch_ts = b.max_timestamp;
            first_batch_bytes = rn_seg_batch_size(&b);
        }
        int added = rn_seg_cursor_add(&c, seg, &b, log->cfg.index_interval_bytes, &log->oscratch[no],
                                      &log->tscratch[nt]);
        no += (added & RN_SEG_NEW_OENTRY) != 0;
        nt += (added & RN_SEG_NEW_TENTRY) != 0;
        next = rn_seg_batch_last(&b) + 1;
        pos += (size_t)rn_seg_batch_size(&b);
    }
    assert(next == base + records && c.size == start_size + (int64_t)len);

    /* Only the .log is written: the index entries go to memory below. */
    rn_segment_reserve(seg, start_size, start_size + (int64_t)len, log->cfg.segment_bytes);
    rc = rn_logio_pwrite_all(seg->ref.fd, batches, len, start_size);
    if (rc < 0) {
        int trc = rn_logio_ftruncate(seg->ref.fd, start_size);
        seg->reserved_end = 0; /* the truncation gave the reserved blocks back */
        rn_warn("log: %s: append of %zu bytes failed: %s", log->dir, len, strerror(-rc));
        if (trc < 0) {
            /* Bytes past `size` stay in the file; refuse appends until reopened. */
            rn_error("log: %s: cannot cut off a failed append: %s", log->dir, strerror(-trc));
            pthread_mutex_lock(&log->mu);
            log->failed = trc;
            pthread_mutex_unlock(&log->mu);
        }
        goto unlock_append;
    }

    pthread_mutex_lock(&log->mu);
    rn_oindex_commit(&seg->oidx, log->oscratch, no);
    rn_tindex_commit(&seg->tidx, log->tscratch, nt);
    rn_seg_cursor_commit(seg, &c);
    if (start_size == 0) {
        seg->first_ts = first_batch_ts;
        seg->first_ts_known = 1;
    }
    log->next_offset = next;
    log->size_bytes += (int64_t)len;
    tail_add(log, base, start_size, first_batch_bytes);
    if (c.max_ts > log->max_ts) {
        log->max_ts = c.max_ts;
        log->max_ts_offset = c.max_ts_offset;
    }
    mark_dirty(log, seg);
    pthread_mutex_unlock(&log->mu);
    *base_offset_out = base;
    *last_offset_out = next - 1;
unlock_append:
    pthread_mutex_unlock(&log->append_mu);
    return rc;
}

/* ---- read ---- */

static void segments_changed(rn_log *log);

/* An offset index entry is checked when a read uses it, by the header read
 * that the read does anyway: the batch at e.pos must be a batch (magic 2,
 * a length within the segment) whose last offset is base + e.rel_offset.
 * At open only the last entry is checked (scan_tail), so a damaged .index
 * shows here. The read then scans from position 0 (and is served right),
 * and index_entry_bad rebuilds the segment's indexes from its batch
 * headers and rewrites its index files (rebuild_indexes). */

/* Rebuilds seg's indexes from the headers in [0, size), as appends would
 * have built them, and rewrites its index files (fdatasync'ed), as
 * recovery at open does. Holds append_mu throughout (the active segment
 * stays still; appends wait for this rare repair, fdatasyncs included)
 * and mu only to read and to swap in the result; the scan and the writes
 * run without mu, the writes with seg->storing set (deletion and
 * compaction leave it alone). A segment already index_pending is left to
 * the sync; a failed write is retried by the next sync (sealed) or at
 * close (active). Gives up (the old index stays, each read falling back
 * again) when the headers are not whole increasing batches, or seg left
 * the array, or a sync is storing its files. */
static void rebuild_indexes(rn_log *log, rn_segment *seg)
{
    pthread_mutex_lock(&log->append_mu);
    pthread_mutex_lock(&log->mu);
    int32_t i = find_segment(log, seg->base_offset);
    int live = log->segs[i] == seg, is_active = live && i == log->nsegs - 1;
    int64_t limit = seg->size;
    pthread_mutex_unlock(&log->mu);
    if (!live) {
        pthread_mutex_unlock(&log->append_mu);
        return;
    }

    rn_segment tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.base_offset = tmp.next_offset = seg->base_offset;
    tmp.max_ts = tmp.max_ts_offset = -1;
    tmp.oidx.max = seg->oidx.max;
    tmp.tidx.max = seg->tidx.max;
    rn_seg_cursor c;
    rn_seg_cursor_init(&c, &tmp);
    int64_t pos = 0, prev_last = -1;
    int rc = 0;
    while (rc == 0) {
        rn_seg_batch b;
        rn_oindex_entry oe;
        rn_tindex_entry te;
        rc = rn_segment_read_header(seg->ref.fd, pos, limit, &b);
        if (rc == 0)
            break;
        if (rc == 1 && (b.magic != 2 || b.last_offset_delta < 0 || b.base_offset <= prev_last ||
                        b.base_offset < seg->base_offset || rn_seg_batch_last(&b) - seg->base_offset > INT32_MAX))
            rc = -EINVAL;
        if (rc < 0)
            break;
        if ((rc = rn_oindex_reserve(&tmp.oidx, 1)) < 0 || (rc = rn_tindex_reserve(&tmp.tidx, 1)) < 0)
            break;
        int added = rn_seg_cursor_add(&c, &tmp, &b, log->cfg.index_interval_bytes, &oe, &te);
        if (added & RN_SEG_NEW_OENTRY)
            rn_oindex_commit(&tmp.oidx, &oe, 1);
        if (added & RN_SEG_NEW_TENTRY)
            rn_tindex_commit(&tmp.tidx, &te, 1);
        prev_last = rn_seg_batch_last(&b);
        pos += rn_seg_batch_size(&b);
    }
    rn_seg_cursor_commit(&tmp, &c);
    if (rc == 0 && !is_active)
        rc = rn_segment_seal_time_index(&tmp); /* sealed, as after its roll */

    pthread_mutex_lock(&log->mu);
    i = find_segment(log, seg->base_offset);
    if (rc == 0 && (log->segs[i] != seg || seg->storing || seg->size != limit))
        rc = -EAGAIN;
    if (rc == 0)
        rc = grow_ptrs(&log->dirty, &log->dirty_cap, log->ndirty + 1);
    int store = 0;
    if (rc == 0) {
        rn_oindex o = seg->oidx;
        rn_tindex t = seg->tidx;
        seg->oidx = tmp.oidx;
        seg->tidx = tmp.tidx;
        tmp.oidx = o; /* freed below */
        tmp.tidx = t;
        seg->max_ts = tmp.max_ts;
        seg->max_ts_offset = tmp.max_ts_offset;
        seg->bytes_since_index = tmp.bytes_since_index;
        seg->stored_on = seg->stored_tn = -1;
        store = !seg->index_pending; /* else the next sync writes them */
        seg->storing = store;
        segments_changed(log);
    }
    pthread_mutex_unlock(&log->mu);
    if (store) {
        int src = rn_segment_store_indexes(seg, 1);
        pthread_mutex_lock(&log->mu);
        seg->storing = 0;
        if (src < 0 && !is_active) { /* the next sync tries again (room made above) */
            mark_dirty(log, seg);
            seg->index_pending = 1;
        }                            /* (the active one's: at close) */
        pthread_mutex_unlock(&log->mu);
    }
    pthread_mutex_unlock(&log->append_mu);
    if (rc < 0)
        rn_warn("log: %s: cannot rebuild the index: %s", seg->path, strerror(-rc));
    else
        rn_info("log: %s: index rebuilt from the log (%d entries)", seg->path, (int)seg->oidx.n);
    rn_oindex_release(&tmp.oidx);
    rn_tindex_release(&tmp.tidx);
}

static void index_entry_bad(rn_log *log, rn_segment *seg, int64_t pos, int64_t expect_last)
{
    rn_warn("log: %s.index: the entry for offset %" PRId64 " at position %" PRId64
            " does not point at its batch; scanning the segment and rebuilding its index",
            seg->path, expect_last, pos);
    rebuild_indexes(log, seg);
}

/* Scans headers from pos for the first batch whose last offset >= offset.
 * 1 with *pos_out and *b, 0 when the segment ends first, negative errno.
 * expect_last >= 0: pos came from an index entry, whose batch ends there;
 * -ESTALE when the first header read is not that batch. */
static int seek_batch(int fd, int64_t pos, int64_t limit, int64_t offset, int64_t expect_last, int64_t *pos_out,
                      rn_seg_batch *b)
{
    for (;;) {
        int rc = rn_segment_read_header(fd, pos, limit, b);
        if (expect_last >= 0) {
            if ((rc == 1 && (b->magic != 2 || rn_seg_batch_last(b) != expect_last)) || rc == 0 || rc == -EINVAL)
                return -ESTALE;
            expect_last = -1;
        }
        if (rc <= 0)
            return rc == -EINVAL ? -EIO : rc;
        if (rn_seg_batch_last(b) >= offset) {
            *pos_out = pos;
            return 1;
        }
        pos += rn_seg_batch_size(b);
    }
}

/* rn_log_read for an offset where a remembered append started (see
 * "Reads at the tail"), when the read ends at the log end or at another
 * mark: the slice comes from the marks, without I/O. Returns 1 with *out
 * filled and mu released, or 0 (mu still held) when the marks cannot
 * answer. offset < next_offset and offset < max_offset. mu held. */
static int read_at_tail(rn_log *log, int64_t offset, int32_t max_bytes, int64_t max_offset, rn_log_slice *out)
{
    const tail_mark *m = tail_find(log, offset);
    if (!m)
        return 0;
    rn_segment *seg = active(log);
    int64_t stop = seg->size; /* the first batch at or past max_offset starts here */
    if (max_offset < log->next_offset) {
        const tail_mark *sm = tail_find(log, max_offset);
        if (!sm)
            return 0;
        stop = sm->pos;
    }
    assert(m->pos + m->first_bytes <= stop && seg->base_offset <= offset);
    /* KIP-74: the first batch whole, then up to max_bytes. */
    int64_t at = m->pos;
    int64_t want = max_bytes > m->first_bytes ? max_bytes : m->first_bytes;
    int64_t end = stop - at < want ? stop : at + want;
    rn_segment_hold(seg);
    pthread_mutex_unlock(&log->mu); /* (m may be overwritten from here on) */
    out->file = &seg->ref;
    out->pos = at;
    out->len = (int32_t)(end - at > INT32_MAX ? INT32_MAX : end - at);
    return 1;
}

int rn_log_read(rn_log *log, int64_t offset, int32_t max_bytes, int64_t max_offset, rn_log_slice *out)
{
    out->file = NULL;
    out->pos = 0;
    out->len = 0;
    pthread_mutex_lock(&log->mu);
    if (offset < log->start_offset || offset > log->next_offset) {
        pthread_mutex_unlock(&log->mu);
        return -ERANGE;
    }
    if (offset < log->next_offset && offset < max_offset && read_at_tail(log, offset, max_bytes, max_offset, out))
        return 0; /* (read_at_tail released mu) */
    int32_t i = find_segment(log, offset);
    for (;;) {
        if (offset >= log->next_offset || offset >= max_offset || i >= log->nsegs) {
            pthread_mutex_unlock(&log->mu);
            return 0;
        }
        rn_segment *seg = log->segs[i];
        int32_t ei = offset > seg->base_offset ? rn_oindex_find(&seg->oidx, offset - seg->base_offset) : -1;
        int64_t pos = ei >= 0 ? seg->oidx.e[ei].pos : 0;
        int64_t expect_last = ei >= 0 ? seg->base_offset + seg->oidx.e[ei].rel_offset : -1;
        int64_t limit = seg->size, stop = limit, stop_last = -1;
        int bounded = max_offset < seg->next_offset;
        if (bounded) {
            int32_t si = rn_oindex_find(&seg->oidx, max_offset - seg->base_offset);
            stop = si >= 0 ? seg->oidx.e[si].pos : 0;
            stop_last = si >= 0 ? seg->base_offset + seg->oidx.e[si].rel_offset : -1;
        }
        rn_segment_hold(seg);
        pthread_mutex_unlock(&log->mu);

        int fd = seg->ref.fd;
        int64_t at = 0;
        rn_seg_batch b;
        int rc = seek_batch(fd, pos, limit, offset, expect_last, &at, &b);
        if (rc == -ESTALE) {
            index_entry_bad(log, seg, pos, expect_last);
            rc = seek_batch(fd, 0, limit, offset, -1, &at, &b);
        }
        if (rc == 0) { /* offset lies past this segment's batches: the next one */
            pthread_mutex_lock(&log->mu);
            i = segment_after(log, seg->base_offset);
            rn_segment_drop(seg);
            continue;
        }
        if (rc < 0 || b.base_offset >= max_offset) {
            rn_segment_drop(seg);
            return rc < 0 ? rc : 0;
        }
        /* KIP-74: the first batch whole, then up to max_bytes. */
        int64_t first = rn_seg_batch_size(&b);
        int64_t want = max_bytes > first ? max_bytes : first;
        int64_t end = limit - at < want ? limit : at + want;
        if (bounded) { /* stop at the first batch with baseOffset >= max_offset */
            int64_t p = at + first, p_last = -1;
            if (stop > p) {
                p = stop;
                p_last = stop_last; /* an index entry's: checked by the first read */
            }
            while (p < end) {
                rn_seg_batch nb;
                rc = rn_segment_read_header(fd, p, limit, &nb);
                if (p_last >= 0) {
                    int bad = (rc == 1 && (nb.magic != 2 || rn_seg_batch_last(&nb) != p_last)) || rc == 0 ||
                              rc == -EINVAL;
                    p_last = -1;
                    if (bad) {
                        index_entry_bad(log, seg, p, stop_last);
                        p = at + first;
                        continue;
                    }
                }
                if (rc < 0) {
                    rn_segment_drop(seg);
                    return rc == -EINVAL ? -EIO : rc;
                }
                if (rc == 0 || nb.base_offset >= max_offset)
                    break;
                p += rn_seg_batch_size(&nb);
            }
            if (p < end)
                end = p;
        }
        out->file = &seg->ref;
        out->pos = at;
        out->len = (int32_t)(end - at > INT32_MAX ? INT32_MAX : end - at);
        return 0;
    }
}

/* ---- offsets and time ---- */

int64_t rn_log_start_offset(rn_log *log)
{
    pthread_mutex_lock(&log->mu);
    int64_t v = log->start_offset;
    pthread_mutex_unlock(&log->mu);
    return v;
}

int64_t rn_log_end_offset(rn_log *log)
{
    pthread_mutex_lock(&log->mu);
    int64_t v = log->next_offset;
    pthread_mutex_unlock(&log->mu);
    return v;
}

int64_t rn_log_recovery_point(rn_log *log)
{
    pthread_mutex_lock(&log->mu);
    int64_t v = log->recovery_point;
    pthread_mutex_unlock(&log->mu);
    return v;
}

int32_t rn_log_index_rebuilds(rn_log *log)
{
    pthread_mutex_lock(&log->mu);
    int32_t v = log->index_rebuilds;
    pthread_mutex_unlock(&log->mu);
    return v;
}

int64_t rn_log_size_bytes(rn_log *log)
{
    pthread_mutex_lock(&log->mu);
    int64_t v = log->size_bytes;
    pthread_mutex_unlock(&log->mu);
    return v;
}

static int offset_for_time(rn_log *log, int64_t ts, int64_t *offset_out, int64_t *ts_out, int *exact_out)
{
    pthread_mutex_lock(&log->mu);
    int64_t start = log->start_offset; /* records below it are gone (Kafka searches from it) */
    int32_t i = find_segment(log, start);
    for (;;) {
        while (i < log->nsegs && log->segs[i]->max_ts < ts)
            i++;
        if (i >= log->nsegs) {
            pthread_mutex_unlock(&log->mu);
            return -ENOENT;
        }
        rn_segment *seg = log->segs[i];
        const rn_tindex_entry *te = rn_tindex_lookup(&seg->tidx, ts);
        int32_t ei = te ? rn_oindex_find(&seg->oidx, te->rel_offset) : -1;
        if (start > seg->base_offset) { /* both lower bounds: the larger one is too */
            int32_t si = rn_oindex_find(&seg->oidx, start - seg->base_offset);
            if (si > ei)
                ei = si;
        }
        int64_t pos = ei >= 0 ? seg->oidx.e[ei].pos : 0;
        int64_t expect_last = ei >= 0 ? seg->base_offset + seg->oidx.e[ei].rel_offset : -1;
        int64_t limit = seg->size;
        rn_segment_hold(seg);
        pthread_mutex_unlock(&log->mu);

        int rc = rn_segment_find_time(seg->ref.fd, pos, limit, expect_last, ts, start, offset_out, ts_out, exact_out);
        if (rc == -ESTALE) { /* see "An offset index entry is checked" */
            index_entry_bad(log, seg, pos, expect_last);
            rc = rn_segment_find_time(seg->ref.fd, 0, limit, -1, ts, start, offset_out, ts_out, exact_out);
        }
        if (rc != 0) {
            rn_segment_drop(seg);
            return rc == 1 ? 0 : rc == -EINVAL ? -EIO : rc;
        }
        pthread_mutex_lock(&log->mu);
        i = segment_after(log, seg->base_offset);
        rn_segment_drop(seg);
    }
}

int rn_log_offset_for_time(rn_log *log, int64_t ts, int64_t *offset_out, int64_t *timestamp_out)
{
    int exact;
    return offset_for_time(log, ts, offset_out, timestamp_out, &exact);
}

void rn_log_max_timestamp(rn_log *log, int64_t *timestamp_out, int64_t *offset_out)
{
    pthread_mutex_lock(&log->mu);
    int64_t ts = log->max_ts, off = log->max_ts_offset;
    pthread_mutex_unlock(&log->mu);
    if (ts >= 0) {
        /* The first record carrying the max timestamp is the first with ts >= it;
         * a compressed batch keeps the batch's last offset (Kafka's shallow offset). */
        int64_t found, found_ts;
        int exact;
        if (offset_for_time(log, ts, &found, &found_ts, &exact) == 0 && exact && found_ts == ts)
            off = found;
    }
    *timestamp_out = ts;
    *offset_out = ts >= 0 ? off : -1;
}

/* ---- deletion: DeleteRecords, retention, purge ---- */

/* Retention's "largest timestamp" of a segment: its max timestamp, or the
 * file's mtime when no batch carries one (Kafka's lastModified). mu held. */
static int64_t segment_largest_ts(const rn_segment *seg)
{
    struct stat st;
    if (seg->max_ts >= 0)
        return seg->max_ts;
    if (fstat(seg->ref.fd, &st) < 0)
        return INT64_MAX; /* unknown: never expires */
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/* Recomputes what depends on the set of segments: total size, max
 * timestamp, and the start offset's lower bound (invariant 4); forgets the
 * tail marks. mu held. */
static void segments_changed(rn_log *log)
{
    int64_t size = 0, mts = -1, mto = -1;
    tail_forget(log); /* rare; the marks need not survive it */
    for (int32_t i = 0; i < log->nsegs; i++) {
        const rn_segment *seg = log->segs[i];
        size += seg->size;
        if (seg->max_ts > mts) {
            mts = seg->max_ts;
            mto = seg->max_ts_offset;
        }
    }
    log->size_bytes = size;
    log->max_ts = mts;
    log->max_ts_offset = mto;
    if (log->start_offset < log->segs[0]->base_offset)
        log->start_offset = log->segs[0]->base_offset;
}

/* Takes segs[from, from+k) out of the array into out[] (their references
 * move there). They are sealed and no sync is storing them; a pending
 * index write is cancelled (see "A segment leaves the array" above). mu
 * held. */
static void detach(rn_log *log, int32_t from, int32_t k, rn_segment **out)
{
    assert(from >= 0 && k > 0 && from + k < log->nsegs); /* never the active segment */
    for (int32_t i = 0; i < k; i++) {
        rn_segment *seg = log->segs[from + i];
        assert(!seg->storing);
        seg->index_pending = 0;
        out[i] = seg;
    }
    memmove(log->segs + from, log->segs + from + k, (size_t)(log->nsegs - from - k) * sizeof(*log->segs));
    log->nsegs -= k;
}

/* Queues path for rn_log_purge_deleted (a later deletion of the same name
 * replaces the earlier entry's time). -ENOMEM when it cannot. del_mu held. */
static int pending_add(rn_log *log, const char *path, int64_t now_ms)
{
    for (int32_t i = 0; i < log->npending; i++) {
        if (strcmp(log->pending[i].path, path) == 0) {
            log->pending[i].deleted_ms = now_ms;
            return 0;
        }
    }
    if (log->npending == log->pending_cap) {
        int32_t c = log->pending_cap ? log->pending_cap * 2 : 8;
        pending_delete *p = realloc(log->pending, (size_t)c * sizeof(*p));
        if (!p)
            return -ENOMEM;
        log->pending = p;
        log->pending_cap = c;
    }
    char *dup = strdup(path);
    if (!dup)
        return -ENOMEM;
    log->pending[log->npending].path = dup;
    log->pending[log->npending].deleted_ms = now_ms;
    log->npending++;
    return 0;
}

static const char *const seg_exts[] = {".log", ".index", ".timeindex"};

static void unlink_deleted(const char *path)
{
    char p[4096];
    for (size_t k = 0; k < sizeof(seg_exts) / sizeof(seg_exts[0]); k++) {
        snprintf(p, sizeof(p), "%s%s.deleted", path, seg_exts[k]);
        if (unlink(p) < 0 && errno != ENOENT)
            rn_warn("log: cannot remove %s: %s", p, strerror(errno));
    }
}

void rn_log_retire_segment(rn_log *log, rn_segment *seg, int64_t now_ms)
{
    char from[4096], to[4096];
    /* The .log first: from then on the segment is gone for a crash too. */
    for (size_t k = 0; k < sizeof(seg_exts) / sizeof(seg_exts[0]); k++) {
        snprintf(from, sizeof(from), "%s%s", seg->path, seg_exts[k]);
        snprintf(to, sizeof(to), "%s%s.deleted", seg->path, seg_exts[k]);
        if (rename(from, to) < 0 && errno != ENOENT)
            rn_warn("log: cannot rename %s: %s", from, strerror(errno));
    }
    if (pending_add(log, seg->path, now_ms) < 0)
        unlink_deleted(seg->path); /* no memory to wait: delete now (readers keep their fd) */
    rn_segment_drop(seg);
}

/* Deletes the leading non-active segments that are entirely below the log
 * start offset, or (retention_ms >= 0) whose largest timestamp is more than
 * retention_ms before now_ms, or (retention_bytes >= 0) while the log
 * without them still holds >= retention_bytes: Kafka's three rules
 * (UnifiedLog.deleteOldSegments), each a takeWhile from the oldest, here
 * one walk. Checkpoints the start offset if it moved. del_mu held. Returns
 * the segments deleted, or a negative errno. */
static int32_t delete_leading(rn_log *log, int64_t now_ms, int64_t retention_ms, int64_t retention_bytes)
{
    pthread_mutex_lock(&log->mu);
    int64_t diff = retention_bytes >= 0 ? log->size_bytes - retention_bytes : -1;
    int32_t k = 0;
    for (; k + 1 < log->nsegs; k++) {
        const rn_segment *seg = log->segs[k];
        if (seg->storing)
            break; /* the next pass takes it */
        int below = log->segs[k + 1]->base_offset <= log->start_offset;
        int expired = retention_ms >= 0 && now_ms - segment_largest_ts(seg) > retention_ms;
        int oversize = retention_bytes >= 0 && diff - seg->size >= 0;
        if (!below && !expired && !oversize)
            break;
        if (retention_bytes >= 0)
            diff -= seg->size;
    }
    rn_segment **victims = k > 0 ? malloc((size_t)k * sizeof(*victims)) : NULL;
    if (k > 0 && !victims) {
        pthread_mutex_unlock(&log->mu);
        return -ENOMEM;
    }
    if (k > 0) {
        detach(log, 0, k, victims);
        segments_changed(log);
    }
    int64_t start = log->start_offset;
    pthread_mutex_unlock(&log->mu);

    for (int32_t i = 0; i < k; i++) {
        rn_info("log: %s: deleting segment %020" PRId64 " (%s)", log->dir, victims[i]->base_offset,
                victims[i]->base_offset < start && i + 1 < k ? "below the log start offset" : "retention");
        rn_log_retire_segment(log, victims[i], now_ms);
    }
    free(victims);
    /* The renames come first: the first segment's base vouches for the
     * start offset until this checkpoint is on disk (and its fsync of the
     * folder makes the renames durable as well). */
    if (start != log->start_ckpt && offset_checkpoint_write(log->dir, START_CHECKPOINT_NAME, start) == 0)
        log->start_ckpt = start;
    return k;
}

int rn_log_delete_records(rn_log *log, int64_t offset, int64_t *new_start_out)
{
    if (offset < -1)
        return -EINVAL;
    pthread_mutex_lock(&log->del_mu);
    pthread_mutex_lock(&log->mu);
    int64_t end = log->next_offset;
    if (offset == -1)
        offset = end; /* the high watermark, which on one node is the end */
    if (offset > end) {
        pthread_mutex_unlock(&log->mu);
        pthread_mutex_unlock(&log->del_mu);
        return -ERANGE;
    }
    if (offset > log->start_offset)
        log->start_offset = offset;
    int64_t start = log->start_offset;
    pthread_mutex_unlock(&log->mu);

    int rc = 0;
    /* Checkpoint first: the segments below go only once it is durable. */
    if (start != log->start_ckpt) {
        rc = offset_checkpoint_write(log->dir, START_CHECKPOINT_NAME, start);
        if (rc == 0)
            log->start_ckpt = start;
    }
    if (rc == 0) {
        int32_t n = delete_leading(log, rn_now_ms(), -1, -1);
        if (n < 0)
            rn_warn("log: %s: cannot delete segments below %" PRId64 ": %s", log->dir, start, strerror(-n));
    }
    pthread_mutex_unlock(&log->del_mu);
    *new_start_out = start;
    return rc;
}

int rn_log_enforce_retention(rn_log *log, int64_t now_ms, int64_t retention_ms, int64_t retention_bytes,
                             int64_t *deleted_segments_out)
{
    *deleted_segments_out = 0;
    pthread_mutex_lock(&log->del_mu);
    if (retention_ms >= 0) {
        /* Kafka rolls an active segment that is itself expired, so that it
         * can go (here in this same pass, unless a sync is storing it). */
        pthread_mutex_lock(&log->append_mu);
        pthread_mutex_lock(&log->mu);
        rn_segment *seg = active(log);
        if (!log->failed && seg->size > 0 && now_ms - segment_largest_ts(seg) > retention_ms) {
            int rc = roll(log);
            if (rc < 0)
                rn_warn("log: %s: cannot roll the expired active segment: %s", log->dir, strerror(-rc));
        }
        pthread_mutex_unlock(&log->mu);
        pthread_mutex_unlock(&log->append_mu);
    }
    int32_t n = delete_leading(log, now_ms, retention_ms, retention_bytes);
    pthread_mutex_unlock(&log->del_mu);
    if (n < 0)
        return n;
    *deleted_segments_out = n;
    return 0;
}

int rn_log_purge_deleted(rn_log *log, int64_t now_ms, int64_t file_delete_delay_ms)
{
    int32_t kept = 0, purged = 0;
    pthread_mutex_lock(&log->del_mu);
    for (int32_t i = 0; i < log->npending; i++) {
        pending_delete *p = &log->pending[i];
        if (now_ms - p->deleted_ms >= file_delete_delay_ms) {
            unlink_deleted(p->path);
            free(p->path);
            purged++;
        } else {
            log->pending[kept++] = *p;
        }
    }
    log->npending = kept;
    pthread_mutex_unlock(&log->del_mu);
    return purged;
}

/* ---- what the cleaner (cleaner.c) uses ---- */

const char *rn_log_dir(const rn_log *log)
{
    return log->dir;
}

void rn_log_cfg(rn_log *log, rn_log_config *out)
{
    pthread_mutex_lock(&log->mu);
    *out = log->cfg;
    pthread_mutex_unlock(&log->mu);
}

void rn_log_clean_lock(rn_log *log)
{
    pthread_mutex_lock(&log->clean_mu);
}

void rn_log_clean_unlock(rn_log *log)
{
    pthread_mutex_unlock(&log->clean_mu);
}

void rn_log_deletes_lock(rn_log *log)
{
    pthread_mutex_lock(&log->del_mu);
}

void rn_log_deletes_unlock(rn_log *log)
{
    pthread_mutex_unlock(&log->del_mu);
}

int rn_log_snapshot(rn_log *log, rn_seg_snap **out, int32_t *n_out, int64_t *active_base_out,
                    int64_t *start_offset_out)
{
    pthread_mutex_lock(&log->mu);
    int32_t n = log->nsegs - 1;
    rn_seg_snap *v = n > 0 ? calloc((size_t)n, sizeof(*v)) : NULL;
    if (n > 0 && !v) {
        pthread_mutex_unlock(&log->mu);
        return -ENOMEM;
    }
    for (int32_t i = 0; i < n; i++) {
        rn_segment *seg = log->segs[i];
        rn_segment_hold(seg);
        v[i] = (rn_seg_snap){seg,           seg->base_offset, seg->size,    seg->next_offset, seg->max_ts,
                             seg->oidx.n,   seg->tidx.n,      seg->index_pending || seg->storing};
    }
    *active_base_out = active(log)->base_offset;
    *start_offset_out = log->start_offset;
    pthread_mutex_unlock(&log->mu);
    *out = v;
    *n_out = n < 0 ? 0 : n;
    return 0;
}

void rn_log_snapshot_release(rn_seg_snap *snap, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        rn_segment_drop(snap[i].seg);
    free(snap);
}

/* Index of old[0] in the array when old[0, k) are there in a row, not
 * active, and neither index_pending nor storing; -1 otherwise. mu held. */
static int32_t find_swappable(const rn_log *log, rn_segment *const *old, int32_t k)
{
    int32_t i = find_segment(log, old[0]->base_offset);
    if (i + k >= log->nsegs) /* the active segment is never replaced */
        return -1;
    for (int32_t j = 0; j < k; j++) {
        const rn_segment *seg = log->segs[i + j];
        if (seg != old[j] || seg->index_pending || seg->storing)
            return -1;
    }
    return i;
}

int rn_log_segments_swappable(rn_log *log, rn_segment *const *old, int32_t k)
{
    pthread_mutex_lock(&log->mu);
    int32_t i = find_swappable(log, old, k);
    pthread_mutex_unlock(&log->mu);
    return i < 0 ? -EAGAIN : 0;
}

int rn_log_replace_segments(rn_log *log, rn_segment *const *old, int32_t k, rn_segment *cleaned)
{
    assert(k >= 1 && cleaned->base_offset == old[0]->base_offset);
    pthread_mutex_lock(&log->mu);
    int32_t i = find_swappable(log, old, k);
    if (i < 0) {
        pthread_mutex_unlock(&log->mu);
        return -EAGAIN;
    }
    /* Readers that found an old segment hold their own reference; the
     * array's references move to the caller. */
    log->segs[i] = cleaned;
    memmove(log->segs + i + 1, log->segs + i + k, (size_t)(log->nsegs - i - k) * sizeof(*log->segs));
    log->nsegs -= k - 1;
    segments_changed(log);
    pthread_mutex_unlock(&log->mu);
    return 0;
}

/* ---- sync ---- */

typedef struct sync_item {
    rn_segment *seg; /* holds the dirty list's reference */
    int store;       /* index_pending was set: write its index files */
    int stored;      /* and that worked */
} sync_item;

static int64_t log_sync(rn_log *log, int force_checkpoint)
{
    pthread_mutex_lock(&log->sync_mu);
    pthread_mutex_lock(&log->mu);
    int64_t rc = log->failed, end = log->next_offset;
    int32_t n = log->ndirty;
    int dir = log->dir_dirty;
    sync_item *items = NULL;
    if (rc == 0 && n > 0 && !(items = calloc((size_t)n, sizeof(*items))))
        rc = -ENOMEM;
    if (rc == 0) {
        for (int32_t i = 0; i < n; i++) {
            rn_segment *seg = log->dirty[i];
            items[i].seg = seg; /* the list's ref moves to items[] */
            items[i].store = seg->index_pending;
            seg->storing = seg->index_pending; /* not deleted nor swapped meanwhile */
            seg->dirty = 0;
            seg->index_pending = 0;
        }
        log->ndirty = 0;
        log->dir_dirty = 0;
    }
    pthread_mutex_unlock(&log->mu);
    if (rc < 0) {
        pthread_mutex_unlock(&log->sync_mu);
        return rc;
    }

    /* A failed fdatasync of a .log is fatal (invariant 5); a failed index
     * write is not: the files are removed (rebuilt at open if it comes to
     * that), the segment is retried by the next sync, and only the
     * recovery point waits. */
    int irc = 0, stored = 0;
    for (int32_t i = 0; i < n && rc == 0; i++) {
        rc = rn_segment_sync(items[i].seg);
        if (rc == 0 && items[i].store) {
            int r = rn_segment_store_indexes(items[i].seg, 1);
            if (r == 0)
                items[i].stored = stored = 1;
            else if (irc == 0)
                irc = r;
        }
    }
    if (rc == 0 && dir)
        rc = rn_log_fsync_dir(log->dir); /* new segment files: before the checkpoint passes them */

    pthread_mutex_lock(&log->mu);
    for (int32_t i = 0; i < n; i++)
        if (items[i].store)
            items[i].seg->storing = 0;
    if (rc < 0) {
        rn_error("log: %s: fdatasync failed, log refuses writes until reopened: %s", log->dir,
                 strerror((int)-rc));
        log->failed = (int)rc;
    } else if (irc < 0) {
        /* No progress: the recovery point must not pass a segment whose
         * index files are not on disk. Put the unwritten ones back. */
        for (int32_t i = 0; i < n; i++) {
            rn_segment *seg = items[i].seg;
            if (!items[i].store || items[i].stored)
                continue;
            if (grow_ptrs(&log->dirty, &log->dirty_cap, log->ndirty + 1) < 0) {
                log->failed = -ENOMEM;
                break;
            }
            seg->index_pending = 1;
            mark_dirty(log, seg);
        }
    } else if (end > log->recovery_point) {
        log->recovery_point = end;
    }
    int64_t rp = log->recovery_point;
    pthread_mutex_unlock(&log->mu);
    for (int32_t i = 0; i < n; i++)
        rn_segment_drop(items[i].seg);
    free(items);

    int dir_synced = 0;
    if (rc == 0 && irc == 0 && rp != log->ckpt_offset &&
        (force_checkpoint || log->ckpt_offset < 0 || rn_mono_ms() - log->ckpt_mono_ms >= CHECKPOINT_INTERVAL_MS)) {
        if (checkpoint_write(log->dir, rp) == 0) {
            log->ckpt_offset = rp;
            log->ckpt_mono_ms = rn_mono_ms();
            dir_synced = 1;
        }
    }
    /* New index files' names: the checkpoint's fsync of the folder covered
     * them. (Only their contents matter before it: a missing index file is
     * rebuilt at open, and each was fdatasync'ed before the checkpoint.) */
    if (rc == 0 && stored && !dir && !dir_synced && rn_log_fsync_dir(log->dir) < 0)
        rn_warn("log: %s: cannot fsync the folder", log->dir);
    pthread_mutex_unlock(&log->sync_mu);
    return rc < 0 ? rc : end;
}

int64_t rn_log_sync(rn_log *log)
{
    return log_sync(log, 0);
}

int rn_log_checkpoint_if_due(rn_log *log, int64_t now_ms)
{
    /* A sync holds sync_mu across fdatasync: never wait for it (the log
     * manager calls this under the topics lock). */
    if (pthread_mutex_trylock(&log->sync_mu) != 0)
        return 0;
    if (now_ms - log->ckpt_mono_ms < CHECKPOINT_INTERVAL_MS) {
        pthread_mutex_unlock(&log->sync_mu);
        return 0;
    }
    pthread_mutex_lock(&log->mu);
    int64_t rp = log->recovery_point;
    pthread_mutex_unlock(&log->mu);
    /* No file (or an unreadable one) means 0: recovery checks everything. */
    int64_t in_file = log->ckpt_offset < 0 ? 0 : log->ckpt_offset;
    int rc = 0;
    if (rp != in_file) {
        /* rp only grows, and only under sync_mu (held): it is what the
         * file may say (see rn_log_recovery_point). */
        rc = checkpoint_write(log->dir, rp);
        if (rc == 0) {
            log->ckpt_offset = rp;
            rc = 1;
        }
        log->ckpt_mono_ms = now_ms; /* after a failure too: retried in 5 s, not every tick */
    }
    pthread_mutex_unlock(&log->sync_mu);
    return rc;
}

/* ---- close and delete ---- */

static void log_free(rn_log *log)
{
    for (int32_t i = 0; i < log->ndirty; i++) {
        log->dirty[i]->dirty = 0;
        rn_segment_drop(log->dirty[i]);
    }
    for (int32_t i = 0; i < log->nsegs; i++)
        rn_segment_drop(log->segs[i]);
    free(log->segs);
    free(log->dirty);
    free(log->oscratch);
    free(log->tscratch);
    for (int32_t i = 0; i < log->npending; i++)
        free(log->pending[i].path); /* the files go at the next open */
    free(log->pending);
    pthread_mutex_destroy(&log->clean_mu);
    pthread_mutex_destroy(&log->del_mu);
    pthread_mutex_destroy(&log->sync_mu);
    pthread_mutex_destroy(&log->append_mu);
    pthread_mutex_destroy(&log->mu);
    free(log->dir);
    free(log);
}

void rn_log_close(rn_log *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&log->mu);
    rn_segment *seg = active(log);
    rn_segment_release_reserve(seg);
    /* The last sync writes the active segment's index files too (sealed:
     * no appender may run any more), unless they already hold exactly its
     * indexes (say, nothing was appended since they were loaded). Left
     * unwritten, they are rebuilt. */
    if (!log->failed && grow_ptrs(&log->dirty, &log->dirty_cap, log->ndirty + 1) == 0 &&
        rn_segment_seal_time_index(seg) == 0 &&
        (seg->stored_on != seg->oidx.n || seg->stored_tn != seg->tidx.n)) {
        mark_dirty(log, seg);
        seg->index_pending = 1;
    }
    pthread_mutex_unlock(&log->mu);
    /* With nothing dirty and the checkpoint current, this does no I/O. */
    int64_t rc = log_sync(log, 1);
    if (rc < 0)
        rn_error("log: %s: closing without a final sync: %s", log->dir, strerror((int)-rc));
    log_free(log);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

int rn_log_delete(rn_log *log)
{
    char *dir = strdup(log->dir);
    if (!dir)
        return -ENOMEM;
    for (int32_t i = 0; i < log->nsegs; i++)
        rn_segment_unlink(log->segs[i]);
    log_free(log);
    int rc = nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
    if (rc < 0 && rc != -ENOENT)
        rn_warn("log: cannot remove %s: %s", dir, strerror(-rc));
    free(dir);
    return rc == -ENOENT ? 0 : rc;
}

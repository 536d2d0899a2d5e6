/*
 * log.h - one partition's append-only log: segments, offset index, time index.
 *
 * Layer: src/log. Knows record batch headers (v2) and files; nothing of the
 * network or the protocol's messages.
 *
 * On disk, per partition, a folder <log.dir>/<topic>-<partition>/ holding
 *   00000000000000000000.log        record batches exactly as on the wire
 *   00000000000000000000.index      sparse offset index (relative offset -> position)
 *   00000000000000000000.timeindex  time index (timestamp -> relative offset)
 * named by the 20-digit base offset of each segment (Kafka's layout), plus
 *   recovery-point     checkpoint: offsets below it are known flushed and valid
 *   log-start-offset   checkpoint: offsets below it are deleted (DeleteRecords, retention)
 *   cleaner-offset     compaction's checkpoint: where the dirty part starts, tombstone
 *                      horizons, a swap in flight
 * and, for a while, <name>.deleted (retired segment files, unlinked by
 * rn_log_purge_deleted), <base>.log.cleaned / .swap (a compaction's output
 * before and during its swap; a crash leaves them for rn_log_open to settle)
 * (formats are drawn at the top of segment.c / index.c / log.c / cleaner.c).
 *
 * Threads: every function may be called from any thread. Appends are
 * serialised by the log's own mutex; reads take the mutex only to find the
 * segment and hold a reference on it, so sendfile runs without the lock.
 * rn_log_sync() (fdatasync) runs on the flusher thread and does not hold
 * the mutex while it syncs. Retention, DeleteRecords, purging and
 * compaction do their file I/O without that mutex too: appends and reads go
 * on while they run (they take it only to change the segment array).
 *
 * Files: one open fd per segment (its .log), so a broker's partitions and
 * connections fit its fd limit; index files are opened only to be read at
 * open or written whole after a roll (by rn_log_sync) and at close.
 *
 * Errors: operating errors are negative errno values (-EIO, -ENOSPC, ...).
 */
#ifndef RN_LOG_LOG_H
#define RN_LOG_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct rn_log rn_log;

typedef struct rn_log_config {
    int64_t segment_bytes;        /* log.segment.bytes: roll when the active segment would pass it */
    int32_t index_interval_bytes; /* log.index.interval.bytes: bytes between index entries */
    int32_t segment_index_bytes;  /* log.index.size.max.bytes: roll when an index is full */
    int64_t segment_ms;           /* segment.ms (log.roll.ms): roll when an append's max timestamp
                                   * is more than this past the active segment's first batch's
                                   * (or, without timestamps, the segment is older); 0 = never */
} rn_log_config;

/* Opens (creating if missing) the log in dir. When clean_shutdown is 0,
 * every batch past the recovery point is checked (length, magic, CRC32C,
 * contiguous offsets: base == the previous batch's last + 1, or the
 * segment's base for its first; gaps only below the cleaner checkpoint,
 * where compaction dropped whole batches) and the log is truncated at
 * the first bad byte; indexes of the checked segments are rebuilt. Missing
 * or inconsistent indexes are rebuilt in any case (index files are
 * written only when they differ from the rebuilt indexes; data is not
 * synced: after an unclean shutdown the recovery point stays at the
 * checkpoint until the next rn_log_sync). Nothing is written when nothing
 * needs repair. Before that, in any
 * case: an interrupted compaction swap is completed (.swap files), and
 * leftover *.cleaned, *.deleted and index files without a .log are removed.
 * The log start offset is max(first segment's base, log-start-offset); if
 * that lies past the recovered end, the log restarts empty at it.
 * Returns 0 and *out, or a negative errno (-EINVAL for a bad config). */
int rn_log_open(const char *dir, const rn_log_config *cfg, int clean_shutdown, rn_log **out);

/* Replaces the settings given to rn_log_open (checked and clamped as there;
 * an invalid cfg is refused with a warning and changes nothing). They take
 * effect for the next append and roll: segment_bytes and segment_ms for
 * the next append's roll check (an active segment already past the new
 * size rolls on the next append, as Kafka does), index_interval_bytes for
 * the next index entry, segment_index_bytes for segments created from now
 * on (existing segments keep their index capacity). A compaction pass in
 * progress keeps the settings it started with. Takes the append and array
 * locks for a moment (waits for an append in progress, never for I/O
 * otherwise). */
void rn_log_set_config(rn_log *log, const rn_log_config *cfg);

/* Syncs, writes every index file not yet written (the active segment's) and
 * the recovery-point checkpoint, closes files, frees. Each only when
 * needed: a log with nothing written since the last sync, index files
 * holding what memory holds and the checkpoint current is closed without
 * any write or sync. Readers still holding segment references keep those
 * files open until they drop them. */
void rn_log_close(rn_log *log);

/* Closes and removes the folder and everything in it (topic deletion).
 * As for rn_log_close, no retention, compaction or purge may be running. */
int rn_log_delete(rn_log *log);

/* Appends `len` bytes holding `nbatches` whole, already validated v2 record
 * batches (see proto/record_batch.h). Assigns offsets in place: each batch's
 * baseOffset field is overwritten with the next offset of the log (the CRC
 * does not cover it). Writes all of them with one write(2) into the active
 * segment, rolling first if needed, and updates the indexes.
 * On success returns 0, *base_offset_out = offset of the first record,
 * *last_offset_out = offset of the last. A failed write leaves the log as it
 * was (the partial bytes are truncated away) and returns a negative errno. */
int rn_log_append(rn_log *log, uint8_t *batches, size_t len, int nbatches,
                  int64_t *base_offset_out, int64_t *last_offset_out);

/* A span of a segment file holding whole batches (the last may be cut off by
 * max_bytes, as Kafka does; clients discard a partial trailing batch). */
typedef struct rn_log_slice {
    rn_fileref *file; /* held; the caller drops it (rn_fileref_drop) */
    int64_t pos;
    int32_t len;      /* 0: nothing to read at this offset yet (file is NULL then) */
} rn_log_slice;

/* Finds the bytes starting with the batch that contains `offset`, up to
 * max_bytes, never past max_offset (exclusive; e.g. the high watermark) and
 * within one segment. If the first batch is larger than max_bytes it is
 * returned whole (KIP-74). Returns 0, or -ERANGE when offset is below the log
 * start offset or above the log end offset. */
int rn_log_read(rn_log *log, int64_t offset, int32_t max_bytes, int64_t max_offset, rn_log_slice *out);

/* The log start offset (ListOffsets EARLIEST, the low watermark): offsets
 * below it are gone and rn_log_read() refuses them with -ERANGE. It is
 * max(first segment's base offset, the log-start-offset checkpoint), and
 * only grows (rn_log_delete_records, retention). */
int64_t rn_log_start_offset(rn_log *log);
int64_t rn_log_end_offset(rn_log *log); /* next offset to be assigned */
/* Largest maxTimestamp of any batch and the offset of the record that
 * carries it (for ListOffsets MAX_TIMESTAMP); -1/-1 when empty. */
void rn_log_max_timestamp(rn_log *log, int64_t *timestamp_out, int64_t *offset_out);

/* Offset of the first record at or above the log start offset whose
 * timestamp >= ts (by the time index, then a scan of the batches, then of
 * the records of an uncompressed batch).
 * Returns 0 with *offset_out and *timestamp_out, or -ENOENT when no record is
 * that late. */
int rn_log_offset_for_time(rn_log *log, int64_t ts, int64_t *offset_out, int64_t *timestamp_out);

/* fdatasync()s every segment written since the last sync, writes and
 * syncs the index files of segments rolled since then (only the .log of a
 * segment stays open; the indexes live in memory), and advances the
 * recovery point (written to the checkpoint file lazily: at most every
 * 5 s, then by rn_log_checkpoint_if_due, at the latest at close). Returns the offset up to which data is durable (exclusive), or a
 * negative errno when an fdatasync of data failed (the log then refuses
 * writes until reopened). An index file that cannot be written is retried
 * by the next call; until then the recovery point does not advance, but
 * the data is reported durable all the same. */
int64_t rn_log_sync(rn_log *log);

/* Writes the recovery-point checkpoint when the recovery point in memory
 * differs from the file's and its last write (or failed try) was at least
 * 5 s before now_ms (the monotonic clock, rn_mono_ms); rn_log_sync writes
 * it at most that often and skips it otherwise, so without this a skipped
 * write waits for the next sync (or close). Call it often (the log
 * manager: every tick): with nothing due it makes no system call. Never
 * blocks appends or reads; when a sync is running it returns at once
 * (that sync or a later call writes it). Returns 1 when it wrote the
 * checkpoint, 0 when nothing was due, or the negative errno of a failed
 * write (retried 5 s later). */
int rn_log_checkpoint_if_due(rn_log *log, int64_t now_ms);

/* Offsets below it are on stable storage and, for every segment below it,
 * so are the index files (what the last rn_log_sync() that wrote all its
 * index files returned, or right after open the end offset after a clean
 * shutdown, min(checkpoint, end offset) after an unclean one). After an
 * unclean shutdown, segments that end below the checkpointed value are
 * trusted as they are. */
int64_t rn_log_recovery_point(rn_log *log);

/* Bytes on disk in all segments (for DescribeLogDirs / metrics). */
int64_t rn_log_size_bytes(rn_log *log);

/* ---- deleting: DeleteRecords, retention, purge ----
 * Any thread; these take the log's deletion lock (one at a time, and never
 * during a compaction's swap) and do renames and a checkpoint fsync: a
 * call may block for a few milliseconds, appends and reads do not. */

/* DeleteRecords: moves the log start offset up to `offset` (-1: the high
 * watermark, which is the end offset), writes the log-start-offset
 * checkpoint (atomically, before any file goes), then deletes the whole
 * non-active segments now entirely below it (as retention does: renamed to
 * .deleted, unlinked by rn_log_purge_deleted). An offset at or below the
 * current start changes nothing. Returns 0 with *new_start_out (the start
 * offset now: Kafka's low watermark), -ERANGE when offset > end offset,
 * -EINVAL when offset < -1, or the negative errno of the checkpoint write
 * (the start has then moved in memory, reads below it fail, but a restart
 * may bring it back; no segment was deleted). */
int rn_log_delete_records(rn_log *log, int64_t offset, int64_t *new_start_out);

/* Retention, Kafka's rules (UnifiedLog.deleteOldSegments), oldest first
 * and stopping at the first segment none applies to:
 *   - a segment entirely below the log start offset goes;
 *   - retention_ms >= 0: a segment whose largest timestamp (its max
 *     timestamp, or the file's mtime when no batch carries one) is more
 *     than retention_ms before now_ms goes;
 *   - retention_bytes >= 0: the oldest segments go while the log without
 *     them still holds >= retention_bytes.
 * (retention_ms < 0 / retention_bytes < 0: unlimited.) The active segment
 * never goes; when it is non-empty and itself expired by retention_ms it
 * is rolled first, as Kafka does, and so goes in this same pass. Deleted
 * segments' files are renamed <name>.deleted and kept on a list for
 * rn_log_purge_deleted(); readers holding a slice keep reading. The start
 * offset advances to the new first segment's base and is checkpointed.
 * A segment whose index files the flusher is writing at that moment is
 * left for the next call. Returns 0 with *deleted_segments_out, or a
 * negative errno (-ENOMEM). Call it every log.retention.check.interval.ms
 * (the log manager thread). */
int rn_log_enforce_retention(rn_log *log, int64_t now_ms, int64_t retention_ms, int64_t retention_bytes,
                             int64_t *deleted_segments_out);

/* Unlinks the files of segments deleted (retention, DeleteRecords,
 * compaction) at least file_delete_delay_ms (file.delete.delay.ms) before
 * now_ms. The deletion time is the now_ms given to rn_log_enforce_retention
 * / rn_log_compact, or the wall clock (rn_now_ms) for DeleteRecords.
 * Returns the number of segments purged. Files still pending at close are
 * removed by the next rn_log_open. */
int rn_log_purge_deleted(rn_log *log, int64_t now_ms, int64_t file_delete_delay_ms);

/* ---- compaction (cleanup.policy=compact; cleaner.c) ---- */

/* An aborted transaction in a partition (KIP-98): its producer, the offset
 * of its first batch and that of its ABORT marker. */
typedef struct rn_log_aborted_txn {
    int64_t producer_id, first_offset, last_offset;
} rn_log_aborted_txn;

typedef struct rn_compact_config {
    int64_t delete_retention_ms;       /* delete.retention.ms: a tombstone stays this long after the
                                        * cleaner first passed it */
    int64_t min_compaction_lag_ms;     /* min.compaction.lag.ms: a segment holding a record newer than
                                        * now - this is not cleaned (nor anything after it) */
    int64_t max_compaction_lag_ms;     /* max.compaction.lag.ms: a dirty part whose first batch is older
                                        * than now - this is cleaned whatever the dirty ratio;
                                        * <= 0 or INT64_MAX: never forces */
    double min_cleanable_dirty_ratio;  /* min.cleanable.dirty.ratio: clean only when dirty bytes /
                                        * bytes of the non-active segments >= this */
    int delete_too;                    /* cleanup.policy=compact,delete: after the pass, enforce
                                        * retention_ms / retention_bytes as rn_log_enforce_retention */
    int64_t retention_ms;              /* used only with delete_too */
    int64_t retention_bytes;           /* used only with delete_too */
    int64_t stable_end;                /* nothing at or past this offset is cleaned: the partition's
                                        * last stable offset (data of an open transaction must not
                                        * supersede committed values). 0 cleans nothing; INT64_MAX
                                        * for a log without transactions */
    const rn_log_aborted_txn *aborted; /* the partition's aborted transactions, any order */
    int32_t naborted;
} rn_compact_config;

typedef struct rn_compact_stats {
    int cleaned;                 /* 1 when a pass ran and swapped segments in */
    int forced;                  /* ran below the dirty ratio because of max.compaction.lag.ms */
    double dirty_ratio;          /* what the pass measured */
    int64_t first_dirty_offset;  /* the dirty part [first_dirty_offset, end_offset) */
    int64_t end_offset;          /* cleaned up to here (exclusive): the new cleaner checkpoint */
    int32_t segments_before;     /* non-active segments rewritten */
    int32_t segments_after;
    int64_t bytes_before;
    int64_t bytes_after;
    int64_t records_read;
    int64_t records_removed;     /* superseded records */
    int64_t tombstones_removed;  /* tombstones past their delete horizon */
    int64_t aborted_removed;     /* records of aborted transactions */
    int64_t markers_removed;     /* transaction markers with no data left, past their delete horizon */
    int64_t keys;                /* distinct keys in the dirty part */
    int64_t elapsed_ms;
} rn_compact_stats;

/* One cleaner pass over the log (Kafka's LogCleaner.clean), on a
 * background thread; one pass per log at a time (a second caller waits).
 *  1. The cleanable part ends at the active segment, or earlier at the
 *     first segment holding a record newer than now_ms -
 *     min_compaction_lag_ms, or at the first reaching stable_end. The
 *     dirty part starts at the cleaner-offset checkpoint. Nothing dirty, or dirty ratio below the minimum (and not
 *     forced by max_compaction_lag_ms): returns 0 with stats->cleaned = 0.
 *  2. A map key -> latest offset is built over the dirty part (keys hashed
 *     to 128 bits, as Kafka's offset map keeps digests). A map that would
 *     pass its memory cap ends the dirty part at an earlier segment.
 *  3. Every non-active segment up to the cleanable end is rewritten, in
 *     groups whose combined size fits segment_bytes, keeping a record
 *     unless the map holds a later offset for its key. Kept records keep
 *     their offsets; a v2 batch keeps its baseOffset, lastOffsetDelta,
 *     baseTimestamp and producer fields (as Kafka's cleaner does, so
 *     sequence numbers stay valid) and gets the new recordsCount,
 *     maxTimestamp (CreateTime) and CRC; compressed batches are
 *     decompressed and recompressed with their codec (gzip, snappy, lz4,
 *     zstd). A batch left without records is dropped (offset gaps).
 *     Tombstones (null value) are dropped once the cleaner first passed
 *     them more than delete_retention_ms before now_ms, kept before.
 *     Not touched: records without a key (Kafka refuses them in compacted
 *     topics; kept here to be safe).
 *     Transactions, by Kafka's rules (LogCleaner): batches of aborted
 *     transactions are dropped whole and never enter the map; committed
 *     transactional records are compacted like any others; a marker
 *     (control batch) stays while any batch of its transaction remains in
 *     the log, and once none does, goes after delete_retention_ms as a
 *     tombstone does. After a pass (stats->end_offset > 0), no data of an
 *     aborted transaction whose marker is below end_offset is left: the
 *     caller may forget those entries of its aborted-transaction index.
 *  4. Each group is written to <base>.log.cleaned with fresh indexes,
 *     fsynced, renamed to .swap, and swapped in under the log's mutex for
 *     a moment; the old files are renamed .deleted (purged later; readers
 *     holding slices keep them). A crash at any step is settled by
 *     rn_log_open.
 * Appends, reads, syncs and retention run meanwhile; the mutex is never
 * held across I/O. With delete_too, retention runs after the pass. Returns
 * 0 (stats filled, may be NULL), or a negative errno: -EBADMSG when a batch
 * of the cleanable part fails its CRC (nothing swapped), -ENOMEM, -EIO...
 * Not concurrent with rn_log_close/rn_log_delete. */
int rn_log_compact(rn_log *log, const rn_compact_config *cfg, int64_t now_ms, rn_compact_stats *stats);

#endif

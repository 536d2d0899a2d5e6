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
 *   recovery-point   checkpoint: offsets below it are known flushed and valid
 * (formats are drawn at the top of segment.c / index.c / log.c).
 *
 * Threads: every function may be called from any thread. Appends are
 * serialised by the log's own mutex; reads take the mutex only to find the
 * segment and hold a reference on it, so sendfile runs without the lock.
 * rn_log_sync() (fdatasync) runs on the flusher thread and does not hold
 * the mutex while it syncs.
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
} rn_log_config;

/* Opens (creating if missing) the log in dir. When clean_shutdown is 0,
 * every batch past the recovery point is checked (length, magic, CRC32C,
 * offset continuity) and the log is truncated at the first bad byte; indexes
 * of the checked segments are rebuilt. Missing or inconsistent indexes are
 * rebuilt in any case. Returns 0 and *out, or a negative errno. */
int rn_log_open(const char *dir, const rn_log_config *cfg, int clean_shutdown, rn_log **out);

/* Syncs, writes every index file not yet written (the active segment's) and
 * the recovery-point checkpoint, closes files, frees. Readers still holding
 * segment references keep those files open until they drop them. */
void rn_log_close(rn_log *log);

/* Closes and removes the folder and everything in it (topic deletion). */
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

int64_t rn_log_start_offset(rn_log *log);
int64_t rn_log_end_offset(rn_log *log); /* next offset to be assigned */
/* Largest maxTimestamp of any batch and the offset of the record that
 * carries it (for ListOffsets MAX_TIMESTAMP); -1/-1 when empty. */
void rn_log_max_timestamp(rn_log *log, int64_t *timestamp_out, int64_t *offset_out);

/* Offset of the first record whose timestamp >= ts (by the time index, then
 * a scan of the batches, then of the records of an uncompressed batch).
 * Returns 0 with *offset_out and *timestamp_out, or -ENOENT when no record is
 * that late. */
int rn_log_offset_for_time(rn_log *log, int64_t ts, int64_t *offset_out, int64_t *timestamp_out);

/* fdatasync()s every segment written since the last sync, writes and
 * syncs the index files of segments rolled since then (only the .log of a
 * segment stays open; the indexes live in memory), and advances the
 * recovery point (written to the checkpoint file lazily, at least at
 * close). Returns the offset up to which data is durable (exclusive), or a
 * negative errno when an fdatasync of data failed (the log then refuses
 * writes until reopened). An index file that cannot be written is retried
 * by the next call; until then the recovery point does not advance, but
 * the data is reported durable all the same. */
int64_t rn_log_sync(rn_log *log);

/* Offsets below it are on stable storage and, for every segment below it,
 * so are the index files (what the last rn_log_sync() that wrote all its
 * index files returned, or the end offset right after open). After an
 * unclean shutdown, segments that end below the checkpointed value are
 * trusted as they are. */
int64_t rn_log_recovery_point(rn_log *log);

/* Bytes on disk in all segments (for DescribeLogDirs / metrics). */
int64_t rn_log_size_bytes(rn_log *log);

#endif

/*
 * record_batch.h - Kafka's record batch format, magic v2 (KIP-98).
 *
 * Layer: src/proto. Validates batches as they arrive in a Produce request
 * and reads the batch header fields the log and the broker need. It never
 * decompresses: compressed batches are stored and served as received.
 *
 * Batch header (all big-endian), offsets from the batch start:
 *    0 int64  baseOffset
 *    8 int32  batchLength           bytes after this field
 *   12 int32  partitionLeaderEpoch
 *   16 int8   magic                 2
 *   17 uint32 crc                   CRC32C of bytes [21, end)
 *   21 int16  attributes            bits 0-2 codec, 3 timestampType, 4 transactional, 5 control
 *   23 int32  lastOffsetDelta
 *   27 int64  baseTimestamp
 *   35 int64  maxTimestamp
 *   43 int64  producerId
 *   51 int16  producerEpoch
 *   53 int32  baseSequence
 *   57 int32  recordsCount
 *   61        records...
 */
#ifndef RN_PROTO_RECORD_BATCH_H
#define RN_PROTO_RECORD_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define RN_BATCH_HEADER_BYTES 61
#define RN_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */

enum {
    RN_ATTR_CODEC_MASK = 0x07,
    RN_ATTR_LOG_APPEND_TIME = 0x08,
    RN_ATTR_TRANSACTIONAL = 0x10,
    RN_ATTR_CONTROL = 0x20,
};

enum { RN_CODEC_NONE = 0, RN_CODEC_GZIP = 1, RN_CODEC_SNAPPY = 2, RN_CODEC_LZ4 = 3, RN_CODEC_ZSTD = 4 };

typedef struct rn_batch_info {
    int64_t base_offset;
    int32_t batch_length;      /* as in the header */
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
} rn_batch_info;

/* Reads the header of the batch at p (with avail bytes present). Returns 0,
 * or -1 when fewer than RN_BATCH_HEADER_BYTES are present. No validation. */
int rn_batch_peek(const uint8_t *p, size_t avail, rn_batch_info *out);

/* Outcome of validating the records of a produce request's partition. */
typedef enum rn_batch_verdict {
    RN_BATCH_OK = 0,
    RN_BATCH_CORRUPT,        /* -> CORRUPT_MESSAGE: bad length, CRC, or framing */
    RN_BATCH_BAD_MAGIC,      /* -> UNSUPPORTED_FOR_MESSAGE_FORMAT (magic 0/1) / CORRUPT_MESSAGE */
    RN_BATCH_TOO_LARGE,      /* -> MESSAGE_TOO_LARGE: a batch over max_batch_bytes */
    RN_BATCH_INVALID,        /* -> INVALID_RECORD: e.g. lastOffsetDelta inconsistent, control batch from a client */
} rn_batch_verdict;

/* Validates every batch in [p, p+len): each must be whole, magic 2,
 * batchLength >= 49, batch size (12 + batchLength) <= max_batch_bytes,
 * lastOffsetDelta >= 0 and, for uncompressed batches, recordsCount ==
 * lastOffsetDelta + 1, CRC32C correct, attributes' codec known (0-4, else
 * CORRUPT) and control bit clear. Empty input (len 0) is CORRUPT. On
 * RN_BATCH_OK stores the number of batches and the total record count (sum
 * of lastOffsetDelta + 1); out pointers may be NULL. Thread-safe. */
rn_batch_verdict rn_batches_validate(const uint8_t *p, size_t len, int32_t max_batch_bytes,
                                     int *nbatches_out, int64_t *records_out);

/* rn_batches_validate, plus on RN_BATCH_OK the largest maxTimestamp (-1 if
 * none) and the offset delta, from the start of the request's records, of
 * the last record of the first batch that has it (-1 if none), as the time
 * index and ProduceResponse need. Out pointers may be NULL. */
rn_batch_verdict rn_batches_validate_ts(const uint8_t *p, size_t len, int32_t max_batch_bytes,
                                        int *nbatches_out, int64_t *records_out,
                                        int64_t *max_timestamp_out, int64_t *max_timestamp_delta_out);

/* LogAppendTime (message.timestamp.type): sets the timestamp type bit and
 * maxTimestamp = now_ms on every batch in [p, p+len) and recomputes CRCs.
 * The input must have passed rn_batches_validate. */
void rn_batches_set_log_append_time(uint8_t *p, size_t len, int64_t now_ms);

/* Writes baseOffset into the batch at p (at least 8 bytes). The CRC does
 * not cover it, so it stays valid. */
void rn_batch_set_base_offset(uint8_t *p, int64_t base_offset);

#endif

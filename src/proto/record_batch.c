/*
 * record_batch.c - Kafka record batch v2: header reads, validation of
 * produced batches, and the in-place rewrites the broker makes (base
 * offset, LogAppendTime).
 *
 * Layer: src/proto. The offset table of the header is in record_batch.h.
 * Every multi-byte field is read and written big-endian byte by byte, so
 * the code never makes an unaligned access and never reads past the bytes
 * the caller said are present. Nothing here allocates.
 */
#include "proto/record_batch.h"

#include "common/crc32c.h"

#include <assert.h>

/* Field offsets, from the batch start (see the table in record_batch.h). */
enum {
    OFF_BASE_OFFSET = 0,
    OFF_BATCH_LENGTH = 8,
    OFF_PARTITION_LEADER_EPOCH = 12,
    OFF_MAGIC = 16,
    OFF_CRC = 17,
    OFF_ATTRIBUTES = 21,
    OFF_LAST_OFFSET_DELTA = 23,
    OFF_BASE_TIMESTAMP = 27,
    OFF_MAX_TIMESTAMP = 35,
    OFF_PRODUCER_ID = 43,
    OFF_PRODUCER_EPOCH = 51,
    OFF_BASE_SEQUENCE = 53,
    OFF_RECORDS_COUNT = 57,
};

/* Smallest legal batchLength: the header after the batchLength field. */
#define BATCH_LENGTH_MIN (RN_BATCH_HEADER_BYTES - RN_BATCH_LOG_OVERHEAD)

static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

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

int rn_batch_peek(const uint8_t *p, size_t avail, rn_batch_info *out)
{
    if (avail < RN_BATCH_HEADER_BYTES)
        return -1;
    out->base_offset = (int64_t)get_be64(p + OFF_BASE_OFFSET);
    out->batch_length = (int32_t)get_be32(p + OFF_BATCH_LENGTH);
    out->partition_leader_epoch = (int32_t)get_be32(p + OFF_PARTITION_LEADER_EPOCH);
    out->magic = (int8_t)p[OFF_MAGIC];
    out->crc = get_be32(p + OFF_CRC);
    out->attributes = (int16_t)get_be16(p + OFF_ATTRIBUTES);
    out->last_offset_delta = (int32_t)get_be32(p + OFF_LAST_OFFSET_DELTA);
    out->base_timestamp = (int64_t)get_be64(p + OFF_BASE_TIMESTAMP);
    out->max_timestamp = (int64_t)get_be64(p + OFF_MAX_TIMESTAMP);
    out->producer_id = (int64_t)get_be64(p + OFF_PRODUCER_ID);
    out->producer_epoch = (int16_t)get_be16(p + OFF_PRODUCER_EPOCH);
    out->base_sequence = (int32_t)get_be32(p + OFF_BASE_SEQUENCE);
    out->records_count = (int32_t)get_be32(p + OFF_RECORDS_COUNT);
    return 0;
}

/* Checks the framing of the batch at p with avail bytes left in the input:
 * length field, magic, size limit, wholeness. On RN_BATCH_OK *size_out is
 * the batch's size in bytes (12 + batchLength), at most avail. */
static rn_batch_verdict batch_frame(const uint8_t *p, size_t avail, int64_t max_batch_bytes,
                                    size_t *size_out)
{
    if (avail < RN_BATCH_LOG_OVERHEAD)
        return RN_BATCH_CORRUPT;
    int32_t batch_length = (int32_t)get_be32(p + OFF_BATCH_LENGTH);
    if (batch_length < 0)
        return RN_BATCH_CORRUPT;
    /* Magic 0/1 message sets put magic at offset 16 too but lay out the rest
     * differently (and may be shorter than 49 bytes): decide on magic before
     * judging anything past it. */
    if (avail > OFF_MAGIC && p[OFF_MAGIC] != 2)
        return RN_BATCH_BAD_MAGIC;
    if (batch_length < BATCH_LENGTH_MIN)
        return RN_BATCH_CORRUPT;
    int64_t size = (int64_t)RN_BATCH_LOG_OVERHEAD + batch_length;
    if (size > max_batch_bytes)
        return RN_BATCH_TOO_LARGE;
    if ((uint64_t)size > avail)
        return RN_BATCH_CORRUPT;
    *size_out = (size_t)size;
    return RN_BATCH_OK;
}

rn_batch_verdict rn_batches_validate_ts(const uint8_t *p, size_t len, int32_t max_batch_bytes,
                                        int *nbatches_out, int64_t *records_out,
                                        int64_t *max_timestamp_out, int64_t *max_timestamp_delta_out)
{
    int nbatches = 0;
    int64_t records = 0;
    int64_t max_ts = -1, max_ts_delta = -1;

    if (len == 0)
        return RN_BATCH_CORRUPT;
    size_t pos = 0;
    while (pos < len) {
        const uint8_t *b = p + pos;
        size_t size = 0;
        rn_batch_verdict v = batch_frame(b, len - pos, max_batch_bytes, &size);
        if (v != RN_BATCH_OK)
            return v;
        assert(size >= RN_BATCH_HEADER_BYTES && size <= len - pos);

        uint32_t crc = get_be32(b + OFF_CRC);
        if (rn_crc32c(0, b + OFF_ATTRIBUTES, size - OFF_ATTRIBUTES) != crc)
            return RN_BATCH_CORRUPT;

        uint16_t attributes = get_be16(b + OFF_ATTRIBUTES);
        int32_t last_offset_delta = (int32_t)get_be32(b + OFF_LAST_OFFSET_DELTA);
        int32_t records_count = (int32_t)get_be32(b + OFF_RECORDS_COUNT);
        int codec = attributes & RN_ATTR_CODEC_MASK;
        if (codec > RN_CODEC_ZSTD)
            return RN_BATCH_CORRUPT; /* no such codec: the bytes cannot be what the client meant */
        if (attributes & RN_ATTR_CONTROL)
            return RN_BATCH_INVALID; /* KIP-98: only the coordinator writes control batches */
        if (last_offset_delta < 0)
            return RN_BATCH_INVALID;
        if (records_count < 0)
            return RN_BATCH_CORRUPT;
        if (codec == RN_CODEC_NONE && (int64_t)records_count != (int64_t)last_offset_delta + 1)
            return RN_BATCH_INVALID;

        int64_t batch_max_ts = (int64_t)get_be64(b + OFF_MAX_TIMESTAMP);
        if (batch_max_ts > max_ts) {
            max_ts = batch_max_ts;
            max_ts_delta = records + last_offset_delta;
        }
        records += (int64_t)last_offset_delta + 1;
        nbatches++;
        pos += size;
    }
    if (nbatches_out)
        *nbatches_out = nbatches;
    if (records_out)
        *records_out = records;
    if (max_timestamp_out)
        *max_timestamp_out = max_ts;
    if (max_timestamp_delta_out)
        *max_timestamp_delta_out = max_ts_delta;
    return RN_BATCH_OK;
}

rn_batch_verdict rn_batches_validate(const uint8_t *p, size_t len, int32_t max_batch_bytes,
                                     int *nbatches_out, int64_t *records_out)
{
    return rn_batches_validate_ts(p, len, max_batch_bytes, nbatches_out, records_out, NULL, NULL);
}

void rn_batches_set_log_append_time(uint8_t *p, size_t len, int64_t now_ms)
{
    size_t pos = 0;
    while (pos < len) {
        uint8_t *b = p + pos;
        size_t size = 0;
        /* The caller validated the input; re-checking the framing keeps a
         * misuse from writing out of bounds. */
        if (batch_frame(b, len - pos, INT64_MAX, &size) != RN_BATCH_OK) {
            assert(!"rn_batches_set_log_append_time on unvalidated batches");
            return;
        }
        uint16_t attributes = get_be16(b + OFF_ATTRIBUTES) | RN_ATTR_LOG_APPEND_TIME;
        b[OFF_ATTRIBUTES] = (uint8_t)(attributes >> 8);
        b[OFF_ATTRIBUTES + 1] = (uint8_t)attributes;
        put_be64(b + OFF_MAX_TIMESTAMP, (uint64_t)now_ms);
        put_be32(b + OFF_CRC, rn_crc32c(0, b + OFF_ATTRIBUTES, size - OFF_ATTRIBUTES));
        pos += size;
    }
}

void rn_batch_set_base_offset(uint8_t *p, int64_t base_offset)
{
    put_be64(p + OFF_BASE_OFFSET, (uint64_t)base_offset);
}

/*
 * record_codec.h - building and walking the records inside an
 * uncompressed v2 record batch, for the broker's own internal topics
 * (__consumer_offsets). Client batches are never rebuilt: they are stored
 * as received.
 *
 * Layer: src/proto. No allocation; callers size buffers with the bound.
 */
#ifndef RN_PROTO_RECORD_CODEC_H
#define RN_PROTO_RECORD_CODEC_H

#include <stddef.h>
#include <stdint.h>

typedef struct rn_kv {
    const uint8_t *key;
    int32_t key_len;   /* -1: null */
    const uint8_t *value;
    int32_t value_len; /* -1: null (a tombstone) */
} rn_kv;

/* Upper bound of the batch rn_batch_build writes for these records. */
size_t rn_batch_build_bound(const rn_kv *recs, int n);

/* Writes one uncompressed batch (base offset 0, producer id -1, CRC set)
 * holding recs into out. Returns its length, or 0 when cap is too small. */
size_t rn_batch_build(uint8_t *out, size_t cap, int64_t timestamp_ms, const rn_kv *recs, int n);

/* As rn_batch_build, with the producer fields and attributes set (for
 * transaction markers: RN_ATTR_CONTROL | RN_ATTR_TRANSACTIONAL). */
size_t rn_batch_build_ex(uint8_t *out, size_t cap, int64_t timestamp_ms, const rn_kv *recs, int n, int16_t attributes,
                         int64_t producer_id, int16_t producer_epoch, int32_t base_sequence);

/* Some producers (sarama 1.x) leave a batch's maxTimestamp unset (-1).
 * For each CreateTime batch whose maxTimestamp is below its baseTimestamp,
 * writes the largest record timestamp (walking the records of an
 * uncompressed batch; the base timestamp for a compressed one, which is
 * not decompressed here) and recomputes the CRC. The batches must have
 * passed rn_batches_validate. Returns how many were fixed. */
int rn_batches_fix_max_timestamp(uint8_t *p, size_t len);

/* Calls fn for each record of the uncompressed batch at p (whole batch of
 * len bytes, already validated). Returns 0, or -1 when the batch is
 * compressed, a control batch, or its records are malformed (fn may have
 * been called for the records before the damage). */
int rn_batch_each_record(const uint8_t *p, size_t len,
                         void (*fn)(void *arg, int64_t offset, const rn_kv *kv), void *arg);

#endif

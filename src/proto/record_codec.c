/*
 * record_codec.c - see record_codec.h. Record layout (v2, inside a batch):
 *   varint length | int8 attributes | varlong timestampDelta | varint offsetDelta
 *   | varint keyLength | key | varint valueLength | value | varint headerCount | headers
 */
#include "proto/record_codec.h"

#include <string.h>

#include "common/bin.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "proto/record_batch.h"

static size_t varint_size(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    return p;
}

static size_t record_body_size(const rn_kv *kv, int i)
{
    size_t klen = kv->key_len > 0 ? (size_t)kv->key_len : 0;
    size_t vlen = kv->value_len > 0 ? (size_t)kv->value_len : 0;
    return 1 + varint_size(0) + varint_size(i) + varint_size(kv->key_len) + klen + varint_size(kv->value_len) +
           vlen + varint_size(0);
}

size_t rn_batch_build_bound(const rn_kv *recs, int n)
{
    size_t total = RN_BATCH_HEADER_BYTES;
    for (int i = 0; i < n; i++) {
        size_t body = record_body_size(&recs[i], i);
        total += varint_size((int64_t)body) + body;
    }
    return total;
}

size_t rn_batch_build(uint8_t *out, size_t cap, int64_t timestamp_ms, const rn_kv *recs, int n)
{
    return rn_batch_build_ex(out, cap, timestamp_ms, recs, n, 0, -1, -1, -1);
}

size_t rn_batch_build_ex(uint8_t *out, size_t cap, int64_t timestamp_ms, const rn_kv *recs, int n, int16_t attributes,
                         int64_t producer_id, int16_t producer_epoch, int32_t base_sequence)
{
    size_t need = rn_batch_build_bound(recs, n);
    if (n <= 0 || need > cap || need > INT32_MAX)
        return 0;
    uint8_t *p = out + RN_BATCH_HEADER_BYTES;
    for (int i = 0; i < n; i++) {
        const rn_kv *kv = &recs[i];
        p = put_varint(p, (int64_t)record_body_size(kv, i));
        *p++ = 0; /* attributes */
        p = put_varint(p, 0);
        p = put_varint(p, i);
        p = put_varint(p, kv->key_len);
        if (kv->key_len > 0) {
            memcpy(p, kv->key, (size_t)kv->key_len);
            p += kv->key_len;
        }
        p = put_varint(p, kv->value_len);
        if (kv->value_len > 0) {
            memcpy(p, kv->value, (size_t)kv->value_len);
            p += kv->value_len;
        }
        p = put_varint(p, 0); /* headers */
    }
    size_t len = (size_t)(p - out);
    rn_bin_store_be(out + 0, 0, 8);                    /* baseOffset: assigned by the log */
    rn_bin_store_be(out + 8, (uint64_t)(len - 12), 4); /* batchLength */
    rn_bin_store_be(out + 12, 0, 4);                   /* partitionLeaderEpoch */
    out[16] = 2;                                       /* magic */
    rn_bin_store_be(out + 21, (uint16_t)attributes, 2);
    rn_bin_store_be(out + 23, (uint64_t)(n - 1), 4); /* lastOffsetDelta */
    rn_bin_store_be(out + 27, (uint64_t)timestamp_ms, 8);
    rn_bin_store_be(out + 35, (uint64_t)timestamp_ms, 8);
    rn_bin_store_be(out + 43, (uint64_t)producer_id, 8);
    rn_bin_store_be(out + 51, (uint16_t)producer_epoch, 2);
    rn_bin_store_be(out + 53, (uint32_t)base_sequence, 4);
    rn_bin_store_be(out + 57, (uint64_t)n, 4);
    rn_bin_store_be(out + 17, rn_crc32c(0, out + 21, len - 21), 4);
    return len;
}

/* Frames the next record of a records section: *rec covers it, r moves
 * past it. 0, or -1 when its length is malformed or runs past the end. */
static int next_record(rn_reader *r, rn_reader *rec)
{
    int32_t rec_len = rn_get_varint(r);
    if (r->err || rec_len < 0 || (size_t)rec_len > rn_reader_left(r))
        return -1;
    rn_reader_init(rec, r->p, (size_t)rec_len);
    r->p += rec_len;
    return 0;
}

int rn_batch_each_record(const uint8_t *p, size_t len, void (*fn)(void *arg, int64_t offset, const rn_kv *kv),
                         void *arg)
{
    rn_batch_info bi;
    if (rn_batch_peek(p, len, &bi) < 0 || (bi.attributes & (RN_ATTR_CODEC_MASK | RN_ATTR_CONTROL)))
        return -1;
    size_t end = 12 + (size_t)bi.batch_length;
    if (end > len)
        return -1;
    rn_reader r;
    rn_reader_init(&r, p + RN_BATCH_HEADER_BYTES, end - RN_BATCH_HEADER_BYTES);
    for (int32_t i = 0; i < bi.records_count; i++) {
        rn_reader rec;
        if (next_record(&r, &rec) < 0)
            return -1;
        (void)rn_get_i8(&rec);
        (void)rn_get_varlong(&rec);
        int32_t offset_delta = rn_get_varint(&rec);
        rn_kv kv;
        kv.key_len = rn_get_varint(&rec);
        kv.key = kv.key_len > 0 ? rn_get_raw(&rec, (size_t)kv.key_len) : NULL;
        kv.value_len = rn_get_varint(&rec);
        kv.value = kv.value_len > 0 ? rn_get_raw(&rec, (size_t)kv.value_len) : NULL;
        if (rec.err || kv.key_len < -1 || kv.value_len < -1)
            return -1;
        fn(arg, bi.base_offset + offset_delta, &kv);
    }
    return 0;
}

/* Largest record timestamp of an uncompressed batch, or -1 when a record
 * is malformed. */
static int64_t records_max_timestamp(const uint8_t *p, size_t len, int64_t base_ts, int32_t count)
{
    rn_reader r;
    rn_reader_init(&r, p + RN_BATCH_HEADER_BYTES, len - RN_BATCH_HEADER_BYTES);
    int64_t max = -1;
    for (int32_t i = 0; i < count; i++) {
        rn_reader rec;
        if (next_record(&r, &rec) < 0)
            return -1;
        (void)rn_get_i8(&rec);
        int64_t delta = rn_get_varlong(&rec);
        if (rec.err)
            return -1;
        if (base_ts + delta > max)
            max = base_ts + delta;
    }
    return max;
}

int rn_batches_fix_max_timestamp(uint8_t *p, size_t len)
{
    int fixed = 0;
    size_t at = 0;
    while (at + RN_BATCH_HEADER_BYTES <= len) {
        rn_batch_info bi;
        rn_batch_peek(p + at, len - at, &bi);
        size_t blen = RN_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
        if (blen > len - at)
            break;
        if (!(bi.attributes & RN_ATTR_LOG_APPEND_TIME) && bi.max_timestamp < bi.base_timestamp) {
            int64_t max = bi.base_timestamp;
            if ((bi.attributes & RN_ATTR_CODEC_MASK) == RN_CODEC_NONE) {
                int64_t m = records_max_timestamp(p + at, blen, bi.base_timestamp, bi.records_count);
                if (m > max)
                    max = m;
            }
            rn_bin_store_be(p + at + 35, (uint64_t)max, 8);
            rn_bin_store_be(p + at + 17, rn_crc32c(0, p + at + 21, blen - 21), 4);
            fixed++;
        }
        at += blen;
    }
    return fixed;
}

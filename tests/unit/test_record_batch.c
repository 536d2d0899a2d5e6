/*
 * test_record_batch.c - record batch v2 validation and in-place rewrites,
 * on batches built by hand here, byte by byte, as a client would send them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "proto/record_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BYTES 1048588

/* ---- a tiny batch builder ---- */

typedef struct bb {
    uint8_t b[8192];
    size_t n;
} bb;

static void put8(bb *w, uint8_t v)
{
    assert_true(w->n < sizeof w->b);
    w->b[w->n++] = v;
}

static void put16(bb *w, uint16_t v)
{
    put8(w, (uint8_t)(v >> 8));
    put8(w, (uint8_t)v);
}

static void put32(bb *w, uint32_t v)
{
    put16(w, (uint16_t)(v >> 16));
    put16(w, (uint16_t)v);
}

static void put64(bb *w, uint64_t v)
{
    put32(w, (uint32_t)(v >> 32));
    put32(w, (uint32_t)v);
}

static void put_varint(bb *w, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); /* zigzag */
    while (z >= 0x80) {
        put8(w, (uint8_t)(z | 0x80));
        z >>= 7;
    }
    put8(w, (uint8_t)z);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void set32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Recomputes the CRC of the batch at p, after a test changed its header. */
static void fix_crc(uint8_t *p)
{
    size_t size = 12 + get32(p + 8);
    set32(p + 17, rn_crc32c_sw(0, p + 21, size - 21));
}

typedef struct batch_spec {
    int nrecords;       /* records encoded (uncompressed) */
    int16_t attributes; /* codec etc. */
    int32_t last_offset_delta;
    int32_t records_count;
    int64_t base_timestamp;
} batch_spec;

/* Appends one batch of spec's records ("value-<i>", no key, no headers,
 * timestamps base + i) to w, with a correct CRC. A compressed spec gets
 * opaque bytes for its records section. Returns the batch's start. */
static size_t append_batch(bb *w, const batch_spec *s)
{
    size_t start = w->n;
    put64(w, 0);                     /* baseOffset: the broker assigns it */
    put32(w, 0);                     /* batchLength, patched below */
    put32(w, 0xFFFFFFFFu);           /* partitionLeaderEpoch -1 */
    put8(w, 2);                      /* magic */
    put32(w, 0);                     /* crc, patched below */
    put16(w, (uint16_t)s->attributes);
    put32(w, (uint32_t)s->last_offset_delta);
    put64(w, (uint64_t)s->base_timestamp);
    put64(w, (uint64_t)(s->base_timestamp + (s->nrecords ? s->nrecords - 1 : 0)));
    put64(w, (uint64_t)-1);          /* producerId */
    put16(w, 0xFFFF);                /* producerEpoch */
    put32(w, 0xFFFFFFFFu);           /* baseSequence */
    put32(w, (uint32_t)s->records_count);
    assert_int_equal(w->n - start, RN_BATCH_HEADER_BYTES);
    if ((s->attributes & RN_ATTR_CODEC_MASK) != RN_CODEC_NONE) {
        for (int i = 0; i < 40; i++)
            put8(w, (uint8_t)(i * 37 + 11)); /* stands for a compressed payload */
    } else {
        for (int i = 0; i < s->nrecords; i++) {
            char value[32];
            int vlen = snprintf(value, sizeof value, "value-%d", i);
            bb r = {.n = 0};
            put8(&r, 0);          /* attributes */
            put_varint(&r, i);    /* timestampDelta */
            put_varint(&r, i);    /* offsetDelta */
            put_varint(&r, -1);   /* key: null */
            put_varint(&r, vlen); /* value */
            for (int j = 0; j < vlen; j++)
                put8(&r, (uint8_t)value[j]);
            put_varint(&r, 0);    /* headers */
            put_varint(w, (int64_t)r.n);
            for (size_t j = 0; j < r.n; j++)
                put8(w, r.b[j]);
        }
    }
    set32(w->b + start + 8, (uint32_t)(w->n - start - 12));
    fix_crc(w->b + start);
    return start;
}

static size_t append_plain(bb *w, int nrecords, int64_t base_ts)
{
    batch_spec s = {nrecords, 0, nrecords - 1, nrecords, base_ts};
    return append_batch(w, &s);
}

static rn_batch_verdict validate(const bb *w, int *nb, int64_t *nr)
{
    return rn_batches_validate(w->b, w->n, MAX_BYTES, nb, nr);
}

/* ---- tests ---- */

static void one_record_batch_is_valid(void **state)
{
    (void)state;
    bb w = {.n = 0};
    append_plain(&w, 1, 1700000000000);
    int nb = -1;
    int64_t nr = -1;
    assert_int_equal(validate(&w, &nb, &nr), RN_BATCH_OK);
    assert_int_equal(nb, 1);
    assert_int_equal(nr, 1);
}

static void three_record_batch_is_valid(void **state)
{
    (void)state;
    bb w = {.n = 0};
    append_plain(&w, 3, 1700000000000);
    int nb = -1;
    int64_t nr = -1;
    assert_int_equal(validate(&w, &nb, &nr), RN_BATCH_OK);
    assert_int_equal(nb, 1);
    assert_int_equal(nr, 3);
}

static void peek_reads_every_header_field(void **state)
{
    (void)state;
    bb w = {.n = 0};
    append_plain(&w, 3, 1700000000000);
    rn_batch_info bi;
    assert_int_equal(rn_batch_peek(w.b, RN_BATCH_HEADER_BYTES - 1, &bi), -1);
    assert_int_equal(rn_batch_peek(w.b, w.n, &bi), 0);
    assert_int_equal(bi.base_offset, 0);
    assert_int_equal(bi.batch_length, (int32_t)(w.n - 12));
    assert_int_equal(bi.partition_leader_epoch, -1);
    assert_int_equal(bi.magic, 2);
    assert_int_equal(bi.crc, get32(w.b + 17));
    assert_int_equal(bi.attributes, 0);
    assert_int_equal(bi.last_offset_delta, 2);
    assert_int_equal(bi.base_timestamp, 1700000000000);
    assert_int_equal(bi.max_timestamp, 1700000000002);
    assert_int_equal(bi.producer_id, -1);
    assert_int_equal(bi.producer_epoch, -1);
    assert_int_equal(bi.base_sequence, -1);
    assert_int_equal(bi.records_count, 3);
}

static void compressed_batch_is_valid_without_decompressing(void **state)
{
    (void)state;
    for (int codec = RN_CODEC_GZIP; codec <= RN_CODEC_ZSTD; codec++) {
        bb w = {.n = 0};
        batch_spec s = {0, (int16_t)codec, 4, 5, 1700000000000};
        append_batch(&w, &s);
        int nb = 0;
        int64_t nr = 0;
        assert_int_equal(validate(&w, &nb, &nr), RN_BATCH_OK);
        assert_int_equal(nr, 5);
    }
}

static void unknown_codec_is_corrupt(void **state)
{
    (void)state;
    bb w = {.n = 0};
    batch_spec s = {0, 5, 0, 1, 0};
    append_batch(&w, &s);
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_CORRUPT);
}

static void any_flipped_byte_under_the_crc_is_corrupt(void **state)
{
    (void)state;
    bb w = {.n = 0};
    append_plain(&w, 3, 1700000000000);
    for (size_t i = 17; i < w.n; i++) { /* the CRC itself, and everything it covers */
        w.b[i] ^= 0x40;
        if (validate(&w, NULL, NULL) != RN_BATCH_CORRUPT)
            fail_msg("flipping byte %zu was not detected", i);
        w.b[i] ^= 0x40;
    }
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_OK);
}

static void truncated_batch_is_corrupt(void **state)
{
    (void)state;
    bb w = {.n = 0};
    append_plain(&w, 3, 1700000000000);
    for (size_t len = 1; len < w.n; len++)
        if (rn_batches_validate(w.b, len, MAX_BYTES, NULL, NULL) != RN_BATCH_CORRUPT)
            fail_msg("batch cut to %zu of %zu bytes was not corrupt", len, w.n);
}

static void empty_input_is_corrupt(void **state)
{
    (void)state;
    uint8_t b[1] = {0};
    assert_int_equal(rn_batches_validate(b, 0, MAX_BYTES, NULL, NULL), RN_BATCH_CORRUPT);
}

static void wrong_batch_length_is_corrupt(void **state)
{
    (void)state;
    bb w = {.n = 0};
    append_plain(&w, 3, 1700000000000);
    uint32_t good = get32(w.b + 8);
    const uint32_t bad[] = {0xFFFFFFFFu, 0x80000000u, 0, 48, good + 1, good - 1, good + 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set32(w.b + 8, bad[i]);
        if (validate(&w, NULL, NULL) != RN_BATCH_CORRUPT)
            fail_msg("batchLength %u accepted", bad[i]);
    }
    /* Past the end and over the limit: the limit is reported. */
    set32(w.b + 8, 0x7FFFFFFFu);
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_TOO_LARGE);
    set32(w.b + 8, good);
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_OK);
}

static void magic_0_and_1_are_bad_magic(void **state)
{
    (void)state;
    bb w = {.n = 0};
    append_plain(&w, 1, 1700000000000);
    w.b[16] = 1;
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_BAD_MAGIC);
    w.b[16] = 3;
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_BAD_MAGIC);

    /* A v0 message set entry: offset, size 14+, crc, magic 0, attributes,
     * key -1, value "hi": shorter than any v2 batch. */
    bb v0 = {.n = 0};
    put64(&v0, 0);
    put32(&v0, 4 + 1 + 1 + 4 + 4 + 2);
    put32(&v0, 0x12345678u);
    put8(&v0, 0);
    put8(&v0, 0);
    put32(&v0, 0xFFFFFFFFu);
    put32(&v0, 2);
    put8(&v0, 'h');
    put8(&v0, 'i');
    assert_int_equal(validate(&v0, NULL, NULL), RN_BATCH_BAD_MAGIC);
    /* Only 17 bytes of it: magic is present, so still bad magic. */
    assert_int_equal(rn_batches_validate(v0.b, 17, MAX_BYTES, NULL, NULL), RN_BATCH_BAD_MAGIC);
    /* 16 bytes: magic not present; length is that of no v2 batch. */
    assert_int_equal(rn_batches_validate(v0.b, 16, MAX_BYTES, NULL, NULL), RN_BATCH_CORRUPT);
}

static void batch_over_max_is_too_large(void **state)
{
    (void)state;
    bb w = {.n = 0};
    append_plain(&w, 3, 1700000000000);
    assert_int_equal(rn_batches_validate(w.b, w.n, (int32_t)w.n, NULL, NULL), RN_BATCH_OK);
    assert_int_equal(rn_batches_validate(w.b, w.n, (int32_t)w.n - 1, NULL, NULL), RN_BATCH_TOO_LARGE);
    assert_int_equal(rn_batches_validate(w.b, w.n, 0, NULL, NULL), RN_BATCH_TOO_LARGE);
    /* Size is judged from the header, before the bytes are all there. */
    assert_int_equal(rn_batches_validate(w.b, 20, (int32_t)w.n - 1, NULL, NULL), RN_BATCH_TOO_LARGE);
}

static void control_batch_from_a_client_is_invalid(void **state)
{
    (void)state;
    bb w = {.n = 0};
    batch_spec s = {1, RN_ATTR_CONTROL | RN_ATTR_TRANSACTIONAL, 0, 1, 0};
    append_batch(&w, &s);
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_INVALID);
}

static void transactional_batch_is_valid(void **state)
{
    (void)state;
    bb w = {.n = 0};
    batch_spec s = {2, RN_ATTR_TRANSACTIONAL, 1, 2, 0};
    append_batch(&w, &s);
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_OK);
}

static void inconsistent_counts_are_invalid(void **state)
{
    (void)state;
    bb w = {.n = 0};
    batch_spec neg = {1, 0, -1, 0, 0};
    append_batch(&w, &neg);
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_INVALID);

    bb w2 = {.n = 0};
    batch_spec mismatch = {3, 0, 2, 2, 0}; /* 3 records, count says 2 */
    append_batch(&w2, &mismatch);
    assert_int_equal(validate(&w2, NULL, NULL), RN_BATCH_INVALID);

    bb w3 = {.n = 0};
    batch_spec negcount = {0, RN_CODEC_LZ4, 0, -1, 0};
    append_batch(&w3, &negcount);
    assert_int_equal(validate(&w3, NULL, NULL), RN_BATCH_CORRUPT);
}

static void concatenated_batches_are_counted(void **state)
{
    (void)state;
    bb w = {.n = 0};
    append_plain(&w, 1, 1000);
    append_plain(&w, 3, 5000); /* max timestamp 5002, last offset delta 1 + 2 */
    batch_spec z = {0, RN_CODEC_ZSTD, 6, 7, 2000};
    append_batch(&w, &z);
    int nb = 0;
    int64_t nr = 0, max_ts = 0, max_ts_delta = 0;
    assert_int_equal(rn_batches_validate_ts(w.b, w.n, MAX_BYTES, &nb, &nr, &max_ts, &max_ts_delta), RN_BATCH_OK);
    assert_int_equal(nb, 3);
    assert_int_equal(nr, 1 + 3 + 7);
    assert_int_equal(max_ts, 5002);
    assert_int_equal(max_ts_delta, 3);
}

static void bad_batch_among_good_ones_fails_the_whole(void **state)
{
    (void)state;
    bb w = {.n = 0};
    append_plain(&w, 1, 1000);
    size_t second = append_plain(&w, 3, 2000);
    append_plain(&w, 2, 3000);
    w.b[second + RN_BATCH_HEADER_BYTES + 3] ^= 1;
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_CORRUPT);
    w.b[second + RN_BATCH_HEADER_BYTES + 3] ^= 1;
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_OK);

    /* A partial batch at the end, and trailing junk shorter than a length. */
    bb t = w;
    t.n -= 5;
    assert_int_equal(validate(&t, NULL, NULL), RN_BATCH_CORRUPT);
    bb j = w;
    put8(&j, 0);
    put8(&j, 0);
    assert_int_equal(validate(&j, NULL, NULL), RN_BATCH_CORRUPT);
}

static void log_append_time_rewrite_keeps_crc_valid(void **state)
{
    (void)state;
    bb w = {.n = 0};
    size_t a = append_plain(&w, 1, 1000);
    size_t b = append_plain(&w, 3, 2000);
    batch_spec z = {0, RN_CODEC_SNAPPY, 2, 3, 3000};
    size_t c = append_batch(&w, &z);
    bb before = w;
    int64_t now = 1764000000123;
    rn_batches_set_log_append_time(w.b, w.n, now);
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_OK);
    size_t starts[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        rn_batch_info bi;
        assert_int_equal(rn_batch_peek(w.b + starts[i], w.n - starts[i], &bi), 0);
        assert_true(bi.attributes & RN_ATTR_LOG_APPEND_TIME);
        assert_int_equal(bi.attributes & RN_ATTR_CODEC_MASK, i == 2 ? RN_CODEC_SNAPPY : RN_CODEC_NONE);
        assert_int_equal(bi.max_timestamp, now);
        assert_int_equal(get64(w.b + starts[i] + 27), get64(before.b + starts[i] + 27)); /* baseTimestamp kept */
    }
    /* Records are untouched. */
    assert_memory_equal(w.b + a + RN_BATCH_HEADER_BYTES, before.b + a + RN_BATCH_HEADER_BYTES,
                        b - a - RN_BATCH_HEADER_BYTES);
}

static void set_base_offset_keeps_crc_valid(void **state)
{
    (void)state;
    bb w = {.n = 0};
    append_plain(&w, 3, 1000);
    rn_batch_set_base_offset(w.b, 0x0102030405060708ll);
    assert_int_equal(validate(&w, NULL, NULL), RN_BATCH_OK);
    rn_batch_info bi;
    assert_int_equal(rn_batch_peek(w.b, w.n, &bi), 0);
    assert_int_equal(bi.base_offset, 0x0102030405060708ll);
}

static void validation_reads_only_the_bytes_given(void **state)
{
    (void)state;
    /* Exact-size heap copies so ASan catches any read past the end. */
    bb w = {.n = 0};
    append_plain(&w, 3, 1000);
    for (size_t len = 0; len <= w.n; len++) {
        uint8_t *p = malloc(len ? len : 1);
        assert_non_null(p);
        memcpy(p, w.b, len);
        rn_batch_verdict v = rn_batches_validate(p, len, MAX_BYTES, NULL, NULL);
        assert_int_equal(v, len == w.n ? RN_BATCH_OK : RN_BATCH_CORRUPT);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_record_batch_is_valid),
        cmocka_unit_test(three_record_batch_is_valid),
        cmocka_unit_test(peek_reads_every_header_field),
        cmocka_unit_test(compressed_batch_is_valid_without_decompressing),
        cmocka_unit_test(unknown_codec_is_corrupt),
        cmocka_unit_test(any_flipped_byte_under_the_crc_is_corrupt),
        cmocka_unit_test(truncated_batch_is_corrupt),
        cmocka_unit_test(empty_input_is_corrupt),
        cmocka_unit_test(wrong_batch_length_is_corrupt),
        cmocka_unit_test(magic_0_and_1_are_bad_magic),
        cmocka_unit_test(batch_over_max_is_too_large),
        cmocka_unit_test(control_batch_from_a_client_is_invalid),
        cmocka_unit_test(transactional_batch_is_valid),
        cmocka_unit_test(inconsistent_counts_are_invalid),
        cmocka_unit_test(concatenated_batches_are_counted),
        cmocka_unit_test(bad_batch_among_good_ones_fails_the_whole),
        cmocka_unit_test(log_append_time_rewrite_keeps_crc_valid),
        cmocka_unit_test(set_base_offset_keeps_crc_valid),
        cmocka_unit_test(validation_reads_only_the_bytes_given),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

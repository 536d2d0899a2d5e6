/*
 * test_buf.c - wire primitives (src/common/buf.c) and the arena (arena.c).
 *
 * Expected bytes are written out by hand from Kafka's protocol guide, so a
 * getter and a putter cannot agree on a wrong encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/buf.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A reader over an exact-size heap copy, so ASan sees any overread. */
typedef struct held {
    uint8_t *p;
    rn_reader r;
} held;

static held hold(const void *data, size_t n)
{
    held h;
    h.p = malloc(n ? n : 1);
    assert_non_null(h.p);
    if (n)
        memcpy(h.p, data, n);
    rn_reader_init(&h.r, h.p, n);
    return h;
}

static void expect_written(rn_writer *w, const void *want, size_t n)
{
    assert_false(w->oom);
    assert_int_equal(w->len, n);
    assert_int_equal(w->total, (int64_t)n);
    if (n)
        assert_memory_equal(w->buf, want, n);
}

/* ---- fixed-width integers ---- */

static void test_fixed_ints_are_big_endian(void **state)
{
    (void)state;
    static const uint8_t want[] = {0x81, 0x01, 0x02, 0xff, 0xfe, 0x01, 0x02, 0x03, 0x04, 0x80, 0, 0, 0,
                                   0, 0, 0, 1, 1, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef};
    rn_writer w;
    rn_writer_init(&w);
    rn_put_i8(&w, -127);
    rn_put_i16(&w, 0x0102);
    rn_put_u16(&w, 0xfffe);
    rn_put_i32(&w, 0x01020304);
    rn_put_i64(&w, INT64_MIN + 1);
    rn_put_bool(&w, 7);
    rn_put_f64(&w, 1.0);
    rn_put_u32(&w, 0xdeadbeef);
    expect_written(&w, want, sizeof want);

    held h = hold(w.buf, w.len);
    assert_int_equal(rn_get_i8(&h.r), -127);
    assert_int_equal(rn_get_i16(&h.r), 0x0102);
    assert_int_equal(rn_get_u16(&h.r), 0xfffe);
    assert_int_equal(rn_get_i32(&h.r), 0x01020304);
    assert_true(rn_get_i64(&h.r) == INT64_MIN + 1);
    assert_int_equal(rn_get_bool(&h.r), 1);
    assert_true(rn_get_f64(&h.r) == 1.0);
    assert_int_equal(rn_get_u32(&h.r), 0xdeadbeef);
    assert_int_equal(h.r.err, 0);
    assert_int_equal(rn_reader_left(&h.r), 0);
    free(h.p);
    rn_writer_release(&w);
}

static void test_underflow_sets_err_and_sticks(void **state)
{
    (void)state;
    static const uint8_t three[] = {1, 2, 3};
    held h = hold(three, sizeof three);
    assert_int_equal(rn_get_i32(&h.r), 0);
    assert_int_equal(h.r.err, -1);
    /* nothing was consumed, and later reads fail though a byte is there */
    assert_int_equal(rn_reader_left(&h.r), 3);
    assert_int_equal(rn_get_i8(&h.r), 0);
    assert_null(rn_get_raw(&h.r, 1));
    free(h.p);
}

static void test_uuid_roundtrip(void **state)
{
    (void)state;
    rn_uuid u;
    for (int i = 0; i < 16; i++)
        u.b[i] = (uint8_t)(i * 17);
    rn_writer w;
    rn_writer_init(&w);
    rn_put_uuid(&w, u);
    expect_written(&w, u.b, 16);
    held h = hold(w.buf, 15);
    rn_uuid z = rn_get_uuid(&h.r);
    assert_int_equal(h.r.err, -1);
    for (int i = 0; i < 16; i++)
        assert_int_equal(z.b[i], 0);
    free(h.p);
    h = hold(w.buf, 16);
    z = rn_get_uuid(&h.r);
    assert_memory_equal(z.b, u.b, 16);
    free(h.p);
    rn_writer_release(&w);
}

/* ---- varints ---- */

typedef struct varint_case {
    uint64_t value;
    uint8_t bytes[10];
    size_t n;
} varint_case;

static void test_uvarint_edge_values(void **state)
{
    (void)state;
    static const varint_case cases[] = {
        {0, {0x00}, 1},
        {1, {0x01}, 1},
        {127, {0x7f}, 1},
        {128, {0x80, 0x01}, 2},
        {300, {0xac, 0x02}, 2},
        {16383, {0xff, 0x7f}, 2},
        {16384, {0x80, 0x80, 0x01}, 3},
        {0x0fffffff, {0xff, 0xff, 0xff, 0x7f}, 4},
        {0x10000000, {0x80, 0x80, 0x80, 0x80, 0x01}, 5},
        {UINT32_MAX, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        rn_writer w;
        rn_writer_init(&w);
        rn_put_uvarint(&w, (uint32_t)cases[i].value);
        expect_written(&w, cases[i].bytes, cases[i].n);
        held h = hold(cases[i].bytes, cases[i].n);
        assert_int_equal(rn_get_uvarint(&h.r), cases[i].value);
        assert_int_equal(h.r.err, 0);
        assert_int_equal(rn_reader_left(&h.r), 0);
        free(h.p);
        /* every proper prefix is an underflow */
        for (size_t k = 0; k < cases[i].n; k++) {
            h = hold(cases[i].bytes, k);
            assert_int_equal(rn_get_uvarint(&h.r), 0);
            assert_int_equal(h.r.err, -1);
            free(h.p);
        }
        rn_writer_release(&w);
    }
}

static void test_signed_varints_zigzag(void **state)
{
    (void)state;
    static const struct {
        int32_t v;
        uint8_t bytes[5];
        size_t n;
    } cases[] = {
        {0, {0x00}, 1},
        {-1, {0x01}, 1},
        {1, {0x02}, 1},
        {-64, {0x7f}, 1},
        {64, {0x80, 0x01}, 2},
        {INT32_MAX, {0xfe, 0xff, 0xff, 0xff, 0x0f}, 5},
        {INT32_MIN, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        rn_writer w;
        rn_writer_init(&w);
        rn_put_varint(&w, cases[i].v);
        expect_written(&w, cases[i].bytes, cases[i].n);
        held h = hold(cases[i].bytes, cases[i].n);
        assert_int_equal(rn_get_varint(&h.r), cases[i].v);
        assert_int_equal(h.r.err, 0);
        free(h.p);
        rn_writer_release(&w);
    }
}

static void test_varlong_edges(void **state)
{
    (void)state;
    static const uint8_t min[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t umax[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    rn_writer w;
    rn_writer_init(&w);
    rn_put_varlong(&w, INT64_MIN);
    expect_written(&w, min, sizeof min);
    rn_writer_clear(&w);
    rn_put_uvarlong(&w, UINT64_MAX);
    expect_written(&w, umax, sizeof umax);
    rn_writer_clear(&w);
    rn_put_varlong(&w, -2);
    static const uint8_t m2[] = {0x03};
    expect_written(&w, m2, 1);
    rn_writer_release(&w);

    held h = hold(min, sizeof min);
    assert_true(rn_get_varlong(&h.r) == INT64_MIN);
    assert_int_equal(h.r.err, 0);
    free(h.p);
    h = hold(umax, sizeof umax);
    assert_true(rn_get_uvarlong(&h.r) == UINT64_MAX);
    assert_int_equal(h.r.err, 0);
    free(h.p);
    rn_writer_init(&w);
    for (int64_t v = -70000; v <= 70000; v += 997) {
        rn_writer_clear(&w);
        rn_put_varlong(&w, v * 1000003);
        h = hold(w.buf, w.len);
        assert_true(rn_get_varlong(&h.r) == v * 1000003);
        assert_int_equal(rn_reader_left(&h.r), 0);
        free(h.p);
    }
    rn_writer_release(&w);
}

static void test_overlong_varints_are_rejected(void **state)
{
    (void)state;
    /* six bytes for an int: continuation bit on the fifth */
    static const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    /* five bytes whose last one carries bits past 32 */
    static const uint8_t wide[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    /* eleven bytes for a long, and ten with bits past 64 */
    static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t wide64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03};
    held h = hold(six, sizeof six);
    assert_int_equal(rn_get_uvarint(&h.r), 0);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    h = hold(six, sizeof six);
    assert_int_equal(rn_get_varint(&h.r), 0);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    h = hold(wide, sizeof wide);
    assert_int_equal(rn_get_uvarint(&h.r), 0);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    h = hold(eleven, sizeof eleven);
    assert_true(rn_get_uvarlong(&h.r) == 0);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    h = hold(wide64, sizeof wide64);
    assert_true(rn_get_varlong(&h.r) == 0);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    /* a redundant but in-width encoding of 0 within 5 bytes is Kafka-legal */
    static const uint8_t padded[] = {0x80, 0x80, 0x00};
    h = hold(padded, sizeof padded);
    assert_int_equal(rn_get_uvarint(&h.r), 0);
    assert_int_equal(h.r.err, 0);
    free(h.p);
}

/* ---- strings, bytes, records ---- */

static void test_classic_string_null_and_bounds(void **state)
{
    (void)state;
    static const uint8_t null_s[] = {0xff, 0xff};
    static const uint8_t abc[] = {0x00, 0x03, 'a', 'b', 'c'};
    static const uint8_t short_s[] = {0x00, 0x04, 'a', 'b', 'c'};
    static const uint8_t neg[] = {0xff, 0xfe, 'a'};
    held h = hold(null_s, sizeof null_s);
    rn_str s = rn_get_string(&h.r, 0, 1);
    assert_int_equal(s.len, -1);
    assert_int_equal(h.r.err, 0);
    free(h.p);
    h = hold(null_s, sizeof null_s);
    (void)rn_get_string(&h.r, 0, 0);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    h = hold(abc, sizeof abc);
    s = rn_get_string(&h.r, 0, 0);
    assert_true(rn_str_eq_c(s, "abc"));
    assert_ptr_equal(s.ptr, h.p + 2); /* no copy */
    free(h.p);
    h = hold(short_s, sizeof short_s);
    (void)rn_get_string(&h.r, 0, 1);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    h = hold(neg, sizeof neg);
    (void)rn_get_string(&h.r, 0, 1);
    assert_int_equal(h.r.err, -1);
    free(h.p);
}

static void test_compact_string_null_and_bounds(void **state)
{
    (void)state;
    static const uint8_t null_s[] = {0x00};
    static const uint8_t empty[] = {0x01};
    static const uint8_t ab[] = {0x03, 'a', 'b'};
    static const uint8_t past[] = {0x04, 'a', 'b'};
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    held h = hold(null_s, 1);
    assert_int_equal(rn_get_string(&h.r, 1, 1).len, -1);
    assert_int_equal(h.r.err, 0);
    free(h.p);
    h = hold(null_s, 1);
    (void)rn_get_string(&h.r, 1, 0);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    h = hold(empty, 1);
    rn_str s = rn_get_string(&h.r, 1, 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(h.r.err, 0);
    free(h.p);
    h = hold(ab, sizeof ab);
    assert_true(rn_str_eq_c(rn_get_string(&h.r, 1, 0), "ab"));
    free(h.p);
    h = hold(past, sizeof past);
    (void)rn_get_string(&h.r, 1, 0);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    h = hold(huge, sizeof huge);
    (void)rn_get_string(&h.r, 1, 0);
    assert_int_equal(h.r.err, -1);
    free(h.p);

    rn_writer w;
    rn_writer_init(&w);
    rn_put_string(&w, RN_STR_NULL, 1);
    rn_put_string(&w, rn_str_c(""), 1);
    rn_put_string(&w, rn_str_c("ab"), 1);
    rn_put_string(&w, RN_STR_NULL, 0);
    static const uint8_t want[] = {0x00, 0x01, 0x03, 'a', 'b', 0xff, 0xff};
    expect_written(&w, want, sizeof want);
    rn_writer_release(&w);
}

static void test_bytes_and_records(void **state)
{
    (void)state;
    static const uint8_t classic[] = {0, 0, 0, 2, 9, 8, 0xff, 0xff, 0xff, 0xff};
    held h = hold(classic, sizeof classic);
    rn_bytes b = rn_get_bytes(&h.r, 0, 0);
    assert_int_equal(b.len, 2);
    assert_int_equal(b.ptr[1], 8);
    rn_records rec = rn_get_records(&h.r, 0, 1);
    assert_int_equal(rec.len, -1);
    assert_null(rec.file);
    assert_int_equal(h.r.err, 0);
    free(h.p);
    h = hold(classic, 5); /* length 2, one byte present */
    (void)rn_get_bytes(&h.r, 0, 0);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    h = hold(classic + 6, 4);
    (void)rn_get_bytes(&h.r, 0, 0); /* null, not allowed */
    assert_int_equal(h.r.err, -1);
    free(h.p);

    rn_writer w;
    rn_writer_init(&w);
    rn_bytes two = {classic + 4, 2};
    rn_put_bytes(&w, two, 0);
    rn_put_bytes(&w, RN_BYTES_NULL, 0);
    rn_put_bytes(&w, two, 1);
    rn_put_bytes(&w, RN_BYTES_NULL, 1);
    static const uint8_t want[] = {0, 0, 0, 2, 9, 8, 0xff, 0xff, 0xff, 0xff, 0x03, 9, 8, 0x00};
    expect_written(&w, want, sizeof want);
    rn_writer_release(&w);
}

/* ---- arrays ---- */

static void test_array_len_null_and_bounds(void **state)
{
    (void)state;
    static const uint8_t null_c[] = {0xff, 0xff, 0xff, 0xff};
    static const uint8_t three[] = {0, 0, 0, 3, 1, 1, 2, 2, 3, 3};
    static const uint8_t neg[] = {0xff, 0xff, 0xff, 0xfe};
    held h = hold(null_c, 4);
    assert_int_equal(rn_get_array_len(&h.r, 0, 1, 4), -1);
    assert_int_equal(h.r.err, 0);
    free(h.p);
    h = hold(null_c, 4);
    (void)rn_get_array_len(&h.r, 0, 0, 4);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    h = hold(neg, 4);
    (void)rn_get_array_len(&h.r, 0, 1, 1);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    /* three elements of 2 bytes fit exactly in the 6 bytes left ... */
    h = hold(three, sizeof three);
    assert_int_equal(rn_get_array_len(&h.r, 0, 0, 2), 3);
    assert_int_equal(h.r.err, 0);
    free(h.p);
    /* ... three of 3 bytes do not */
    h = hold(three, sizeof three);
    assert_int_equal(rn_get_array_len(&h.r, 0, 0, 3), 0);
    assert_int_equal(h.r.err, -1);
    free(h.p);
    /* compact: N+1, 0 = null; a count near 2^31 with 1-byte elements */
    static const uint8_t cnull[] = {0x00};
    static const uint8_t ctwo[] = {0x03, 7, 7};
    static const uint8_t cbig[] = {0xff, 0xff, 0xff, 0xff, 0x07, 1};
    h = hold(cnull, 1);
    assert_int_equal(rn_get_array_len(&h.r, 1, 1, 1), -1);
    free(h.p);
    h = hold(ctwo, sizeof ctwo);
    assert_int_equal(rn_get_array_len(&h.r, 1, 0, 1), 2);
    assert_int_equal(h.r.err, 0);
    free(h.p);
    h = hold(cbig, sizeof cbig);
    (void)rn_get_array_len(&h.r, 1, 0, 1);
    assert_int_equal(h.r.err, -1);
    free(h.p);

    rn_writer w;
    rn_writer_init(&w);
    rn_put_array_len(&w, -1, 0);
    rn_put_array_len(&w, 2, 0);
    rn_put_array_len(&w, -1, 1);
    rn_put_array_len(&w, 200, 1);
    static const uint8_t want[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0x00, 0xc9, 0x01};
    expect_written(&w, want, sizeof want);
    rn_writer_release(&w);
}

static void test_skip_unknown_tags(void **state)
{
    (void)state;
    /* two tags: (0, 2 bytes), (300, 1 byte), then a trailing byte */
    static const uint8_t tags[] = {0x02, 0x00, 0x02, 0xaa, 0xbb, 0xac, 0x02, 0x01, 0xcc, 0x5a};
    held h = hold(tags, sizeof tags);
    rn_skip_unknown_tags(&h.r);
    assert_int_equal(h.r.err, 0);
    assert_int_equal(rn_get_i8(&h.r), 0x5a);
    free(h.p);
    for (size_t k = 0; k < sizeof tags - 1; k++) {
        h = hold(tags, k);
        rn_skip_unknown_tags(&h.r);
        assert_int_equal(h.r.err, -1);
        free(h.p);
    }
    /* a huge tag count with few bytes fails without looping for long */
    static const uint8_t many[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00};
    h = hold(many, sizeof many);
    rn_skip_unknown_tags(&h.r);
    assert_int_equal(h.r.err, -1);
    free(h.p);
}

/* ---- writer pieces and patching ---- */

typedef struct test_file {
    rn_fileref ref;
    int released;
} test_file;

static void test_file_release(rn_fileref *ref)
{
    ((test_file *)ref)->released++;
}

static void test_writer_patch_reserved_size(void **state)
{
    (void)state;
    rn_writer w;
    rn_writer_init(&w);
    size_t at = rn_writer_reserve_i32(&w);
    rn_put_i16(&w, 7);
    rn_put_raw(&w, "xyz", 3);
    rn_writer_patch_i32(&w, at, (int32_t)(w.len - at - 4));
    static const uint8_t want[] = {0, 0, 0, 5, 0, 7, 'x', 'y', 'z'};
    expect_written(&w, want, sizeof want);
    /* patching past the end is ignored, not a write out of bounds */
    rn_writer_patch_i32(&w, w.len - 2, 1);
    expect_written(&w, want, sizeof want);
    rn_writer_release(&w);
}

static void test_writer_file_pieces(void **state)
{
    (void)state;
    test_file f = {.released = 0};
    atomic_init(&f.ref.refs, 1);
    f.ref.fd = 99;
    f.ref.release = test_file_release;

    rn_writer w;
    rn_writer_init(&w);
    size_t at = rn_writer_reserve_i32(&w);
    rn_records rec = {NULL, 1000, &f.ref, 4096};
    rn_put_records(&w, &rec, 0);
    rn_records empty = {NULL, 0, &f.ref, 0};
    rn_put_records(&w, &empty, 1); /* length only, no piece */
    rn_put_i16(&w, 0x0102);
    rn_writer_patch_i32(&w, at, (int32_t)(w.total - 4));
    rn_writer_seal(&w);
    rn_writer_seal(&w); /* idempotent */

    assert_false(w.oom);
    assert_int_equal(w.total, 4 + 4 + 1000 + 1 + 2);
    assert_int_equal(w.npieces, 3);
    assert_int_equal(w.pieces[0].kind, RN_PIECE_MEM);
    assert_int_equal(w.pieces[0].pos, 0);
    assert_int_equal(w.pieces[0].len, 8);
    assert_int_equal(w.pieces[1].kind, RN_PIECE_FILE);
    assert_ptr_equal(w.pieces[1].file, &f.ref);
    assert_int_equal(w.pieces[1].pos, 4096);
    assert_int_equal(w.pieces[1].len, 1000);
    assert_int_equal(w.pieces[2].kind, RN_PIECE_MEM);
    assert_int_equal(w.pieces[2].pos, 8);
    assert_int_equal(w.pieces[2].len, 3);
    static const uint8_t mem[] = {0, 0, 0x03, 0xef, 0, 0, 0x03, 0xe8, 0x01, 0x01, 0x02};
    assert_int_equal(w.len, sizeof mem);
    assert_memory_equal(w.buf, mem, sizeof mem);
    assert_int_equal(atomic_load(&f.ref.refs), 2);

    /* writes after a seal extend the last MEM piece */
    rn_put_i8(&w, 5);
    rn_writer_seal(&w);
    assert_int_equal(w.npieces, 3);
    assert_int_equal(w.pieces[2].len, 4);

    rn_writer_clear(&w);
    assert_int_equal(atomic_load(&f.ref.refs), 1);
    assert_int_equal(w.total, 0);
    rn_put_records(&w, &rec, 1);
    assert_int_equal(atomic_load(&f.ref.refs), 2);
    rn_writer_release(&w);
    assert_int_equal(atomic_load(&f.ref.refs), 1);
    assert_int_equal(f.released, 0);
    rn_fileref_drop(&f.ref);
    assert_int_equal(f.released, 1);
}

static void test_writer_grows(void **state)
{
    (void)state;
    rn_writer w;
    rn_writer_init(&w);
    for (int i = 0; i < 100000; i++)
        rn_put_i32(&w, i);
    assert_false(w.oom);
    assert_int_equal(w.len, 400000);
    held h = hold(w.buf, w.len);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(rn_get_i32(&h.r), i);
    free(h.p);
    rn_writer_release(&w);
    assert_null(w.buf);
}

static void test_str_helpers(void **state)
{
    (void)state;
    assert_true(rn_str_eq(RN_STR_NULL, RN_STR_NULL));
    assert_false(rn_str_eq(RN_STR_NULL, rn_str_c("")));
    assert_true(rn_str_eq_c(rn_str_c("abc"), "abc"));
    assert_false(rn_str_eq_c(rn_str_c("abc"), "abd"));
    rn_str part = {"abcdef", 3};
    assert_true(rn_str_eq_c(part, "abc"));
    assert_true(rn_str_eq_c(RN_STR_NULL, NULL));
}

/* ---- arena ---- */

static void test_arena_alloc_zeroed_and_aligned(void **state)
{
    (void)state;
    rn_arena a;
    rn_arena_init(&a, 0);
    for (int i = 1; i < 200; i++) {
        unsigned char *p = rn_arena_alloc(&a, (size_t)i * 7);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        for (int j = 0; j < i * 7; j++)
            assert_int_equal(p[j], 0);
        memset(p, 0xab, (size_t)i * 7);
    }
    void *big = rn_arena_alloc(&a, 1 << 20);
    assert_non_null(big);
    rn_arena_reset(&a);
    assert_int_equal(a.used_bytes, 0);
    unsigned char *p = rn_arena_alloc(&a, 64);
    assert_non_null(p);
    for (int j = 0; j < 64; j++)
        assert_int_equal(p[j], 0);
    rn_arena_release(&a);
}

static void test_arena_cap_is_hard(void **state)
{
    (void)state;
    rn_arena a;
    rn_arena_init(&a, 1000);
    assert_non_null(rn_arena_alloc(&a, 500));
    assert_null(rn_arena_alloc(&a, 600));
    assert_true(a.used_bytes <= 1000);
    assert_null(rn_arena_alloc(&a, SIZE_MAX));
    assert_null(rn_arena_calloc(&a, SIZE_MAX / 2, 4)); /* n * size overflows */
    rn_arena_reset(&a);
    assert_non_null(rn_arena_alloc(&a, 900));
    rn_arena_release(&a);

    rn_arena_init(&a, 0); /* no cap, but overflow still refused */
    assert_null(rn_arena_calloc(&a, SIZE_MAX / 8, 16));
    assert_null(rn_arena_alloc(&a, SIZE_MAX - 4));
    rn_arena_release(&a);
}

static void test_arena_strndup(void **state)
{
    (void)state;
    rn_arena a;
    rn_arena_init(&a, 0);
    char *s = rn_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    rn_arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_ints_are_big_endian),
        cmocka_unit_test(test_underflow_sets_err_and_sticks),
        cmocka_unit_test(test_uuid_roundtrip),
        cmocka_unit_test(test_uvarint_edge_values),
        cmocka_unit_test(test_signed_varints_zigzag),
        cmocka_unit_test(test_varlong_edges),
        cmocka_unit_test(test_overlong_varints_are_rejected),
        cmocka_unit_test(test_classic_string_null_and_bounds),
        cmocka_unit_test(test_compact_string_null_and_bounds),
        cmocka_unit_test(test_bytes_and_records),
        cmocka_unit_test(test_array_len_null_and_bounds),
        cmocka_unit_test(test_skip_unknown_tags),
        cmocka_unit_test(test_writer_patch_reserved_size),
        cmocka_unit_test(test_writer_file_pieces),
        cmocka_unit_test(test_writer_grows),
        cmocka_unit_test(test_str_helpers),
        cmocka_unit_test(test_arena_alloc_zeroed_and_aligned),
        cmocka_unit_test(test_arena_cap_is_hard),
        cmocka_unit_test(test_arena_strndup),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}

/*
 * test_proto_roundtrip.c - the generated codecs, for every API and version.
 *
 * For every message of every schema and every version served: fill a struct
 * with pseudo-random values valid for that version (generated fillers in
 * build/gen/proto_roundtrip.c), encode, decode into a fresh arena, encode
 * again and compare the bytes; then check that every proper prefix of the
 * encoding fails to decode. Each buffer handed to a decoder is malloc'ed to
 * its exact length so that ASan catches any read past it.
 *
 * Golden vectors, computed by hand from Kafka's protocol guide, catch bugs
 * that an encoder and a decoder would share symmetrically. The request and
 * response headers (src/proto/header.c) are tested here too: which header
 * version applies depends on the generated ApiKey table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/buf.h"
#include "proto/header.h"
#include "proto_gen.h"

/* ---- deterministic values for the generated fillers ---- */

typedef struct rt_ctx {
    uint64_t state;
    rn_arena *arena;
    int depth; /* array nesting: deeper arrays are kept short */
} rt_ctx;

typedef struct rt_message {
    const char *name;
    int16_t api_key;
    int16_t min_version, max_version;
    size_t size;
    void (*fill)(void *m, rt_ctx *c, int16_t version);
    int (*decode)(void *m, rn_reader *r, rn_arena *a, int16_t version);
    int (*encode)(const void *m, rn_writer *w, int16_t version);
} rt_message;

static uint64_t rt_next(rt_ctx *c)
{
    /* xorshift64* */
    c->state ^= c->state >> 12;
    c->state ^= c->state << 25;
    c->state ^= c->state >> 27;
    return c->state * 0x2545F4914F6CDD1DULL;
}

static uint32_t rt_pick(rt_ctx *c, uint32_t n)
{
    return (uint32_t)(rt_next(c) >> 33) % n;
}

static int32_t rt_count(rt_ctx *c, int nullable)
{
    if (nullable && rt_pick(c, 5) == 0)
        return -1;
    return (int32_t)rt_pick(c, c->depth >= 2 ? 2 : 4);
}

/* Lengths chosen to cross the one-byte compact length (127). */
static const int32_t rt_lens[] = {0, 1, 5, 17, 126, 127, 130, 300};
static const char rt_text[301] =
    "The quick brown fox jumps over the lazy dog 0123456789 \xce\xb1\xce\xb2 "
    "The quick brown fox jumps over the lazy dog 0123456789 \xce\xb1\xce\xb2 "
    "The quick brown fox jumps over the lazy dog 0123456789 \xce\xb1\xce\xb2 "
    "The quick brown fox jumps over the lazy dog 0123456789 \xce\xb1\xce\xb2 "
    "The quick brown fox jumps over the lazy dog 0123456789 \xce\xb1\xce\xb2 ";

static int32_t rt_len(rt_ctx *c)
{
    /* Mostly short values keep messages small; long ones now and then. */
    if (rt_pick(c, 4) != 0)
        return rt_lens[rt_pick(c, 4)];
    return rt_lens[rt_pick(c, (uint32_t)(sizeof rt_lens / sizeof rt_lens[0]))];
}

static rn_str rt_str(rt_ctx *c, int nullable)
{
    if (nullable && rt_pick(c, 4) == 0)
        return RN_STR_NULL;
    int32_t len = rt_len(c);
    rn_str s = {rt_text + rt_pick(c, (uint32_t)(301 - len)), len};
    return s;
}

static rn_bytes rt_bytes(rt_ctx *c, int nullable)
{
    rn_str s = rt_str(c, nullable);
    rn_bytes b = {(const uint8_t *)s.ptr, s.len};
    return b;
}

static rn_records rt_records(rt_ctx *c, int nullable)
{
    rn_bytes b = rt_bytes(c, nullable);
    rn_records r = {b.ptr, b.len, NULL, 0};
    return r;
}

static rn_uuid rt_uuid(rt_ctx *c)
{
    rn_uuid u;
    uint64_t a = rt_next(c), b = rt_next(c);
    memcpy(u.b, &a, 8);
    memcpy(u.b + 8, &b, 8);
    return u;
}

#include "proto_roundtrip.c"

/* ---- helpers ---- */

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    assert_non_null(d);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* Encodes m and returns a malloc'ed copy of the bytes (the writer holds only
 * MEM pieces here: test records live in memory). */
static uint8_t *encode_copy(const rt_message *msg, const void *m, int16_t v, size_t *len)
{
    rn_writer w;
    rn_writer_init(&w);
    int rc = msg->encode(m, &w, v);
    if (rc != 0)
        print_error("%s v%d: encode failed\n", msg->name, v);
    assert_int_equal(rc, 0);
    assert_false(w.oom);
    assert_int_equal(w.total, (int64_t)w.len);
    uint8_t *out = dup_exact(w.buf, w.len);
    *len = w.len;
    rn_writer_release(&w);
    return out;
}

enum { SEEDS_PER_VERSION = 64, TRUNCATION_SEEDS = 16, MUTATIONS = 64 };

/* Flips a few bytes of a valid encoding and decodes it: the decoder must not
 * misbehave (ASan), and whatever it accepts must encode, and that encoding
 * must decode and encode again to the same bytes. */
static void mutate_and_decode(const rt_message *msg, int16_t v, const uint8_t *b, size_t len, uint64_t seed)
{
    if (len == 0)
        return;
    rt_ctx c = {seed | 1, NULL, 0};
    rn_arena a;
    rn_arena_init(&a, 1 << 24);
    void *m = calloc(1, msg->size);
    void *m2 = calloc(1, msg->size);
    assert_non_null(m);
    assert_non_null(m2);
    for (int i = 0; i < MUTATIONS; i++) {
        uint8_t *p = dup_exact(b, len);
        int flips = 1 + (int)rt_pick(&c, 3);
        for (int k = 0; k < flips; k++)
            p[rt_pick(&c, (uint32_t)len)] ^= (uint8_t)(1u << rt_pick(&c, 8));
        rn_reader r;
        rn_reader_init(&r, p, len);
        if (msg->decode(m, &r, &a, v) == 0) {
            rn_writer w1, w2;
            rn_writer_init(&w1);
            rn_writer_init(&w2);
            assert_int_equal(msg->encode(m, &w1, v), 0);
            rn_reader r2;
            rn_reader_init(&r2, w1.buf, w1.len);
            assert_int_equal(msg->decode(m2, &r2, &a, v), 0);
            assert_int_equal(msg->encode(m2, &w2, v), 0);
            assert_int_equal(w1.len, w2.len);
            if (w1.len)
                assert_memory_equal(w1.buf, w2.buf, w1.len);
            rn_writer_release(&w1);
            rn_writer_release(&w2);
        }
        free(p);
        rn_arena_reset(&a);
    }
    free(m);
    free(m2);
    rn_arena_release(&a);
}

static void roundtrip_one(const rt_message *msg, int16_t v, uint64_t seed, int truncations)
{
    rn_arena a1, a2;
    rn_arena_init(&a1, 0);
    rn_arena_init(&a2, 0);
    void *m1 = calloc(1, msg->size);
    void *m2 = calloc(1, msg->size);
    assert_non_null(m1);
    assert_non_null(m2);

    rt_ctx c = {seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL + (uint64_t)v, &a1, 0};
    msg->fill(m1, &c, v);
    size_t len1, len2;
    uint8_t *b1 = encode_copy(msg, m1, v, &len1);

    rn_reader r;
    rn_reader_init(&r, b1, len1);
    int rc = msg->decode(m2, &r, &a2, v);
    if (rc != 0 || r.p != r.end)
        print_error("%s v%d seed %llu: decode failed (rc %d, %zu of %zu bytes left)\n", msg->name, v,
                    (unsigned long long)seed, rc, rn_reader_left(&r), len1);
    assert_int_equal(rc, 0);
    assert_int_equal(r.err, 0);
    assert_true(r.p == r.end);

    uint8_t *b2 = encode_copy(msg, m2, v, &len2);
    if (len1 != len2 || memcmp(b1, b2, len1) != 0)
        print_error("%s v%d seed %llu: re-encoding differs (%zu vs %zu bytes)\n", msg->name, v,
                    (unsigned long long)seed, len1, len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(b1, b2, len1);

    if (truncations)
        mutate_and_decode(msg, v, b1, len1, c.state);
    if (truncations) {
        void *m3 = calloc(1, msg->size);
        assert_non_null(m3);
        for (size_t k = 0; k < len1; k++) {
            uint8_t *p = dup_exact(b1, k);
            rn_reader_init(&r, p, k);
            rc = msg->decode(m3, &r, &a2, v);
            if (rc != -1)
                print_error("%s v%d seed %llu: prefix of %zu/%zu bytes decoded\n", msg->name, v,
                            (unsigned long long)seed, k, len1);
            assert_int_equal(rc, -1);
            assert_int_equal(r.err, -1);
            free(p);
            rn_arena_reset(&a2);
        }
        free(m3);
    }

    free(b1);
    free(b2);
    free(m1);
    free(m2);
    rn_arena_release(&a1);
    rn_arena_release(&a2);
}

static void test_message_roundtrips_every_version(void **state)
{
    const rt_message *msg = *state;
    for (int v = msg->min_version; v <= msg->max_version; v++) {
        for (uint64_t seed = 0; seed < SEEDS_PER_VERSION; seed++)
            roundtrip_one(msg, (int16_t)v, seed, seed < TRUNCATION_SEEDS);
    }
}

static void test_versions_outside_range_are_refused(void **state)
{
    const rt_message *msg = *state;
    void *m = calloc(1, msg->size);
    assert_non_null(m);
    rn_arena a;
    rn_arena_init(&a, 0);
    rt_ctx c = {42, &a, 0};
    msg->fill(m, &c, msg->min_version);
    rn_writer w;
    rn_writer_init(&w);
    assert_int_equal(msg->encode(m, &w, (int16_t)(msg->max_version + 1)), -1);
    if (msg->min_version > 0)
        assert_int_equal(msg->encode(m, &w, (int16_t)(msg->min_version - 1)), -1);
    uint8_t buf[64] = {0};
    rn_reader r;
    rn_reader_init(&r, buf, sizeof buf);
    assert_int_equal(msg->decode(m, &r, &a, (int16_t)(msg->max_version + 1)), -1);
    rn_writer_release(&w);
    rn_arena_release(&a);
    free(m);
}

/* ---- golden vectors ---- */

static void expect_bytes(const rn_writer *w, const uint8_t *want, size_t n)
{
    assert_false(w->oom);
    assert_int_equal(w->len, n);
    assert_memory_equal(w->buf, want, n);
}

static void test_golden_api_versions_request_v3(void **state)
{
    (void)state;
    static const uint8_t want[] = {0x03, 'r', 'n', 0x04, '1', '.', '0', 0x00};
    rn_ApiVersionsRequest m;
    rn_ApiVersionsRequest_init(&m);
    m.ClientSoftwareName = rn_str_c("rn");
    m.ClientSoftwareVersion = rn_str_c("1.0");
    rn_writer w;
    rn_writer_init(&w);
    assert_int_equal(rn_ApiVersionsRequest_encode(&m, &w, 3), 0);
    expect_bytes(&w, want, sizeof want);
    rn_writer_release(&w);

    rn_arena a;
    rn_arena_init(&a, 0);
    rn_reader r;
    rn_reader_init(&r, want, sizeof want);
    rn_ApiVersionsRequest d;
    assert_int_equal(rn_ApiVersionsRequest_decode(&d, &r, &a, 3), 0);
    assert_true(rn_str_eq_c(d.ClientSoftwareName, "rn"));
    assert_true(rn_str_eq_c(d.ClientSoftwareVersion, "1.0"));
    rn_arena_release(&a);
}

static void test_golden_api_versions_request_v0_is_empty(void **state)
{
    (void)state;
    rn_ApiVersionsRequest m;
    rn_ApiVersionsRequest_init(&m);
    m.ClientSoftwareName = rn_str_c("ignored");
    rn_writer w;
    rn_writer_init(&w);
    assert_int_equal(rn_ApiVersionsRequest_encode(&m, &w, 0), 0);
    assert_int_equal(w.len, 0);
    rn_writer_release(&w);
}

static void test_golden_metadata_request_v1(void **state)
{
    (void)state;
    static const uint8_t one[] = {0, 0, 0, 1, 0, 3, 'f', 'o', 'o'};
    static const uint8_t all[] = {0xff, 0xff, 0xff, 0xff};
    rn_arena a;
    rn_arena_init(&a, 0);
    rn_MetadataRequest m;
    rn_MetadataRequest_init(&m);
    rn_MetadataRequest_MetadataRequestTopic t;
    rn_MetadataRequest_MetadataRequestTopic_init(&t);
    t.Name = rn_str_c("foo");
    m.Topics_count = 1;
    m.Topics = &t;
    rn_writer w;
    rn_writer_init(&w);
    assert_int_equal(rn_MetadataRequest_encode(&m, &w, 1), 0);
    expect_bytes(&w, one, sizeof one);

    rn_writer_clear(&w);
    m.Topics_count = -1; /* null: all topics */
    m.Topics = NULL;
    assert_int_equal(rn_MetadataRequest_encode(&m, &w, 1), 0);
    expect_bytes(&w, all, sizeof all);
    /* v0 cannot say "all topics" with null */
    rn_writer_clear(&w);
    assert_int_equal(rn_MetadataRequest_encode(&m, &w, 0), -1);
    rn_writer_release(&w);

    rn_reader r;
    rn_reader_init(&r, one, sizeof one);
    assert_int_equal(rn_MetadataRequest_decode(&m, &r, &a, 1), 0);
    assert_int_equal(m.Topics_count, 1);
    assert_true(rn_str_eq_c(m.Topics[0].Name, "foo"));
    rn_reader_init(&r, all, sizeof all);
    assert_int_equal(rn_MetadataRequest_decode(&m, &r, &a, 1), 0);
    assert_int_equal(m.Topics_count, -1);
    rn_reader_init(&r, all, sizeof all);
    assert_int_equal(rn_MetadataRequest_decode(&m, &r, &a, 0), -1);
    rn_arena_release(&a);
}

/* FetchRequest v12, with the tagged ClusterId "c" (tag 0). */
static const uint8_t fetch_v12[] = {
    0xff, 0xff, 0xff, 0xff, /* ReplicaId -1 */
    0x00, 0x00, 0x01, 0xf4, /* MaxWaitMs 500 */
    0x00, 0x00, 0x00, 0x01, /* MinBytes 1 */
    0x7f, 0xff, 0xff, 0xff, /* MaxBytes */
    0x00,                   /* IsolationLevel */
    0x00, 0x00, 0x00, 0x00, /* SessionId */
    0xff, 0xff, 0xff, 0xff, /* SessionEpoch -1 */
    0x01,                   /* Topics: empty compact array */
    0x01,                   /* ForgottenTopicsData: empty */
    0x01,                   /* RackId "" */
    0x01, 0x00, 0x02, 0x02, 'c', /* 1 tag: tag 0, size 2, compact string "c" */
};

static void test_golden_fetch_request_v12_tagged_cluster_id(void **state)
{
    (void)state;
    rn_FetchRequest m;
    rn_FetchRequest_init(&m);
    assert_int_equal(m.MaxBytes, 0x7fffffff);
    assert_int_equal(m.ReplicaId, -1);
    assert_int_equal(m.SessionEpoch, -1);
    assert_int_equal(m.ClusterId.len, -1);
    m.MaxWaitMs = 500;
    m.MinBytes = 1;
    m.ClusterId = rn_str_c("c");
    rn_writer w;
    rn_writer_init(&w);
    assert_int_equal(rn_FetchRequest_encode(&m, &w, 12), 0);
    expect_bytes(&w, fetch_v12, sizeof fetch_v12);
    rn_writer_release(&w);

    rn_arena a;
    rn_arena_init(&a, 0);
    rn_reader r;
    rn_reader_init(&r, fetch_v12, sizeof fetch_v12);
    rn_FetchRequest d;
    assert_int_equal(rn_FetchRequest_decode(&d, &r, &a, 12), 0);
    assert_true(rn_str_eq_c(d.ClusterId, "c"));
    assert_int_equal(d.MaxWaitMs, 500);
    assert_int_equal(d.Topics_count, 0);
    rn_arena_release(&a);
}

static void test_unknown_tags_are_skipped(void **state)
{
    (void)state;
    uint8_t buf[sizeof fetch_v12 + 4];
    memcpy(buf, fetch_v12, sizeof fetch_v12);
    /* two tags: 0 (known) then 9 (unknown, 3 bytes) */
    size_t at = sizeof fetch_v12 - 5;
    buf[at] = 0x02;
    buf[sizeof fetch_v12] = 0x09;
    buf[sizeof fetch_v12 + 1] = 0x02;
    buf[sizeof fetch_v12 + 2] = 0xaa;
    buf[sizeof fetch_v12 + 3] = 0xbb;
    rn_arena a;
    rn_arena_init(&a, 0);
    rn_reader r;
    rn_reader_init(&r, buf, sizeof buf);
    rn_FetchRequest d;
    assert_int_equal(rn_FetchRequest_decode(&d, &r, &a, 12), 0);
    assert_true(r.p == r.end);
    assert_true(rn_str_eq_c(d.ClusterId, "c"));
    rn_arena_release(&a);
}

static void test_known_tag_with_wrong_length_is_rejected(void **state)
{
    (void)state;
    uint8_t buf[sizeof fetch_v12 + 1];
    memcpy(buf, fetch_v12, sizeof fetch_v12);
    /* tag 0 claims 3 bytes but its compact string takes 2 */
    buf[sizeof fetch_v12 - 3] = 0x03;
    buf[sizeof fetch_v12] = 'x';
    rn_arena a;
    rn_arena_init(&a, 0);
    rn_reader r;
    rn_reader_init(&r, buf, sizeof buf);
    rn_FetchRequest d;
    assert_int_equal(rn_FetchRequest_decode(&d, &r, &a, 12), -1);
    assert_int_equal(r.err, -1);
    rn_arena_release(&a);
}

static void test_arena_cap_fails_decode(void **state)
{
    (void)state;
    /* MetadataRequest v1 with 200 topics named "t" */
    enum { N = 200 };
    uint8_t buf[4 + N * 3];
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = 0;
    buf[3] = N;
    for (int i = 0; i < N; i++) {
        buf[4 + 3 * i] = 0;
        buf[4 + 3 * i + 1] = 1;
        buf[4 + 3 * i + 2] = 't';
    }
    rn_arena a;
    rn_arena_init(&a, 256);
    rn_reader r;
    rn_reader_init(&r, buf, sizeof buf);
    rn_MetadataRequest m;
    assert_int_equal(rn_MetadataRequest_decode(&m, &r, &a, 1), -1);
    assert_int_equal(r.err, 0); /* not malformed: the cap was hit */
    rn_arena_release(&a);
    rn_arena_init(&a, 1 << 20);
    rn_reader_init(&r, buf, sizeof buf);
    assert_int_equal(rn_MetadataRequest_decode(&m, &r, &a, 1), 0);
    assert_int_equal(m.Topics_count, N);
    rn_arena_release(&a);
}

static void test_array_count_beyond_frame_is_rejected(void **state)
{
    (void)state;
    /* claims 1000 topics, each at least 2 bytes, with 6 bytes present */
    static const uint8_t buf[] = {0, 0, 0x03, 0xe8, 0, 1, 't', 0, 1, 't'};
    rn_arena a;
    rn_arena_init(&a, 0);
    rn_reader r;
    rn_reader_init(&r, buf, sizeof buf);
    rn_MetadataRequest m;
    assert_int_equal(rn_MetadataRequest_decode(&m, &r, &a, 1), -1);
    assert_int_equal(r.err, -1);
    assert_int_equal(a.used_bytes, 0);
    rn_arena_release(&a);
}

/* ---- request and response headers ---- */

static int decode_header(const uint8_t *bytes, size_t n, rn_request_header *h, int *flexible, size_t *left)
{
    uint8_t *p = dup_exact(bytes, n);
    rn_reader r;
    rn_reader_init(&r, p, n);
    int rc = rn_request_header_decode(&r, h, flexible);
    *left = rn_reader_left(&r);
    free(p);
    return rc;
}

static void test_request_header_v1_for_classic_versions(void **state)
{
    (void)state;
    /* Metadata v1, correlation 7, client "cl", then a body byte */
    static const uint8_t b[] = {0, 3, 0, 1, 0, 0, 0, 7, 0, 2, 'c', 'l', 0xee};
    rn_request_header h;
    int flex = -1;
    size_t left;
    assert_int_equal(decode_header(b, sizeof b, &h, &flex, &left), 0);
    assert_int_equal(h.api_key, 3);
    assert_int_equal(h.api_version, 1);
    assert_int_equal(h.correlation_id, 7);
    assert_int_equal(h.client_id.len, 2);
    assert_int_equal(flex, 0);
    assert_int_equal(left, 1);
}

static void test_request_header_v2_for_flexible_versions(void **state)
{
    (void)state;
    /* Metadata v9, null client id (classic even in v2), one unknown header tag */
    static const uint8_t b[] = {0, 3, 0, 9, 0, 0, 1, 0, 0xff, 0xff, 0x01, 0x05, 0x01, 0xaa, 0xee};
    rn_request_header h;
    int flex = -1;
    size_t left;
    assert_int_equal(decode_header(b, sizeof b, &h, &flex, &left), 0);
    assert_int_equal(h.correlation_id, 256);
    assert_int_equal(h.client_id.len, -1);
    assert_int_equal(flex, 1);
    assert_int_equal(left, 1);
    for (size_t k = 0; k < sizeof b - 1; k++)
        assert_int_equal(decode_header(b, k, &h, &flex, &left), -1);
}

static void test_api_versions_request_header(void **state)
{
    (void)state;
    static const uint8_t v2[] = {0, 18, 0, 2, 0, 0, 0, 1, 0, 0};
    static const uint8_t v3[] = {0, 18, 0, 3, 0, 0, 0, 1, 0, 0, 0x00};
    static const uint8_t v9[] = {0, 18, 0, 9, 0, 0, 0, 1, 0, 0, 0x00};
    rn_request_header h;
    int flex;
    size_t left;
    assert_int_equal(decode_header(v2, sizeof v2, &h, &flex, &left), 0);
    assert_int_equal(flex, 0);
    assert_int_equal(left, 0);
    assert_int_equal(decode_header(v3, sizeof v3, &h, &flex, &left), 0);
    assert_int_equal(flex, 1);
    assert_int_equal(left, 0);
    /* a newer client's version: header v2 still (Kafka), body not to be parsed */
    assert_int_equal(decode_header(v9, sizeof v9, &h, &flex, &left), 0);
    assert_int_equal(h.api_version, 9);
    assert_int_equal(left, 0);
}

static void test_unknown_api_or_version_reads_v1_part_only(void **state)
{
    (void)state;
    static const uint8_t unknown_api[] = {0x03, 0xe7, 0, 0, 0, 0, 0, 5, 0, 0, 0x00};
    static const uint8_t unknown_version[] = {0, 3, 0, 99, 0, 0, 0, 5, 0, 0, 0x00};
    static const uint8_t truncated[] = {0, 3, 0, 1, 0, 0, 0, 5, 0, 3, 'a'};
    rn_request_header h;
    int flex = -1;
    size_t left;
    assert_int_equal(decode_header(unknown_api, sizeof unknown_api, &h, &flex, &left), 0);
    assert_int_equal(h.api_key, 999);
    assert_int_equal(flex, 0);
    assert_int_equal(left, 1);
    assert_int_equal(decode_header(unknown_version, sizeof unknown_version, &h, &flex, &left), 0);
    assert_int_equal(flex, 0);
    assert_int_equal(left, 1);
    assert_int_equal(decode_header(truncated, sizeof truncated, &h, &flex, &left), -1);
}

static void test_response_header_versions(void **state)
{
    (void)state;
    static const uint8_t v0[] = {0x01, 0x02, 0x03, 0x04};
    static const uint8_t v1[] = {0x01, 0x02, 0x03, 0x04, 0x00};
    rn_writer w;
    rn_writer_init(&w);
    rn_response_header_encode(&w, 0x01020304, 0);
    expect_bytes(&w, v0, sizeof v0);
    rn_writer_clear(&w);
    rn_response_header_encode(&w, 0x01020304, 1);
    expect_bytes(&w, v1, sizeof v1);
    rn_writer_release(&w);
}

static void test_api_table_matches_schemas(void **state)
{
    (void)state;
    assert_true(rn_api_table_len > 0);
    for (int i = 0; i < rn_api_table_len; i++) {
        const rn_api_desc *d = &rn_api_table[i];
        assert_ptr_equal(rn_api_find(d->api_key), d);
        assert_true(d->min_version <= d->max_version);
        if (i > 0)
            assert_true(rn_api_table[i - 1].api_key < d->api_key);
    }
    assert_null(rn_api_find(-1));
    assert_null(rn_api_find(32000));
    const rn_api_desc *av = rn_api_find(RN_API_ApiVersions);
    assert_non_null(av);
    assert_int_equal(av->flexible_min, 3);
    assert_false(rn_api_is_flexible(av, 2));
    assert_true(rn_api_is_flexible(av, 3));
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_golden_api_versions_request_v3),
        cmocka_unit_test(test_golden_api_versions_request_v0_is_empty),
        cmocka_unit_test(test_golden_metadata_request_v1),
        cmocka_unit_test(test_golden_fetch_request_v12_tagged_cluster_id),
        cmocka_unit_test(test_unknown_tags_are_skipped),
        cmocka_unit_test(test_known_tag_with_wrong_length_is_rejected),
        cmocka_unit_test(test_arena_cap_fails_decode),
        cmocka_unit_test(test_array_count_beyond_frame_is_rejected),
        cmocka_unit_test(test_api_table_matches_schemas),
        cmocka_unit_test(test_request_header_v1_for_classic_versions),
        cmocka_unit_test(test_request_header_v2_for_flexible_versions),
        cmocka_unit_test(test_api_versions_request_header),
        cmocka_unit_test(test_unknown_api_or_version_reads_v1_part_only),
        cmocka_unit_test(test_response_header_versions),
    };
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    size_t n = nfixed + 2 * (size_t)rt_messages_len;
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    char(*names)[96] = calloc(n, sizeof *names);
    if (!tests || !names)
        return 1;
    memcpy(tests, fixed, sizeof fixed);
    for (int i = 0; i < rt_messages_len; i++) {
        const rt_message *msg = &rt_messages[i];
        struct CMUnitTest *t = &tests[nfixed + 2 * (size_t)i];
        snprintf(names[2 * i], sizeof names[0], "%s_roundtrips_v%d_to_v%d", msg->name, msg->min_version,
                 msg->max_version);
        t[0].name = names[2 * i];
        t[0].test_func = test_message_roundtrips_every_version;
        t[0].initial_state = (void *)msg;
        snprintf(names[2 * i + 1], sizeof names[0], "%s_refuses_unserved_versions", msg->name);
        t[1].name = names[2 * i + 1];
        t[1].test_func = test_versions_outside_range_are_refused;
        t[1].initial_state = (void *)msg;
    }
    int failed = _cmocka_run_group_tests("proto_roundtrip", tests, n, NULL, NULL);
    free(tests);
    free(names);
    return failed;
}

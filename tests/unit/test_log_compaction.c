/*
 * test_log_compaction.c - the cleaner (rn_log_compact): the latest value
 * of every key survives at its original offset, superseded records go,
 * tombstones stay until delete.retention.ms after the cleaner first passed
 * them, every codec is decompressed and recompressed (the result decoded
 * here with the libraries directly), the dirty ratio and the compaction
 * lags decide when a pass runs, a crash at each step of the swap is
 * settled at open, and appends and reads go on during a pass.
 *
 * Every test works in its own mkdtemp() folder, removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "log/logInt.h"
#include "test_log_util.h"

#define MAX_OFFSETS 40000

/* ---- the model: what was appended at each offset ---- */

typedef struct model {
    char key[MAX_OFFSETS][16];  /* "" for a null key */
    char value[MAX_OFFSETS][24];
    int tomb[MAX_OFFSETS];
    int64_t n;
} model;

static model *model_new(void)
{
    model *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    return m;
}

/* Offset of the latest record of key below `below`, or -1. */
static int64_t model_latest_below(const model *m, const char *key, int64_t below)
{
    for (int64_t o = (below < m->n ? below : m->n) - 1; o >= 0; o--)
        if (strcmp(m->key[o], key) == 0)
            return o;
    return -1;
}

/* The cleaner's checkpoint: everything below it has been cleaned. */
static int64_t cleaner_offset(const char *dir)
{
    char buf[4096];
    long long v, off;
    if (rn_log_file_read_small(dir, "cleaner-offset", buf, sizeof(buf)) < 0)
        return 0;
    assert_int_equal(sscanf(buf, "%lld\n%lld", &v, &off), 2);
    return off;
}

/* ---- codecs, straight from the libraries ---- */

static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

/* codec 2 with xerial = 0: raw snappy; 1: xerial framing, blocks of 100 bytes (several blocks) */
static void test_compress(int codec, int xerial, const tbuf *in, tbuf *out)
{
    out->len = 0;
    if (codec == 1) {
        z_stream z;
        memset(&z, 0, sizeof(z));
        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        size_t bound = deflateBound(&z, in->len);
        uint8_t *o = malloc(bound);
        z.next_in = in->p;
        z.avail_in = (uInt)in->len;
        z.next_out = o;
        z.avail_out = (uInt)bound;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        tb_put(out, o, z.total_out);
        deflateEnd(&z);
        free(o);
    } else if (codec == 2) {
        size_t blk = xerial ? 100 : in->len;
        if (xerial) {
            tb_put(out, xerial_magic, 8);
            tb_be(out, 1, 4);
            tb_be(out, 1, 4);
        }
        for (size_t pos = 0; pos < in->len; pos += blk) {
            size_t k = in->len - pos < blk ? in->len - pos : blk;
            size_t clen = snappy_max_compressed_length(k);
            char *o = malloc(clen);
            assert_int_equal(snappy_compress((const char *)in->p + pos, k, o, &clen), SNAPPY_OK);
            if (xerial)
                tb_be(out, clen, 4);
            tb_put(out, o, clen);
            free(o);
        }
    } else if (codec == 3) {
        size_t bound = LZ4F_compressFrameBound(in->len, NULL);
        uint8_t *o = malloc(bound);
        size_t r = LZ4F_compressFrame(o, bound, in->p, in->len, NULL);
        assert_false(LZ4F_isError(r));
        tb_put(out, o, r);
        free(o);
    } else {
        size_t bound = ZSTD_compressBound(in->len);
        uint8_t *o = malloc(bound);
        size_t r = ZSTD_compress(o, bound, in->p, in->len, 1);
        assert_false(ZSTD_isError(r));
        tb_put(out, o, r);
        free(o);
    }
}

static void test_decompress(int codec, const uint8_t *in, size_t n, tbuf *out)
{
    out->len = 0;
    uint8_t *o = malloc(1 << 20);
    assert_non_null(o);
    if (codec == 1) {
        z_stream z;
        memset(&z, 0, sizeof(z));
        assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = o;
        z.avail_out = 1 << 20;
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        tb_put(out, o, z.total_out);
        inflateEnd(&z);
    } else if (codec == 2) {
        size_t pos = 0;
        int xerial = n >= 16 && memcmp(in, xerial_magic, 8) == 0;
        if (xerial)
            pos = 16;
        while (pos < n) {
            size_t blen = xerial ? (size_t)be_get(in + pos, 4) : n;
            if (xerial)
                pos += 4;
            size_t ulen = 1 << 20;
            assert_int_equal(snappy_uncompress((const char *)in + pos, blen, (char *)o, &ulen), SNAPPY_OK);
            tb_put(out, o, ulen);
            pos += blen;
        }
    } else if (codec == 3) {
        LZ4F_dctx *d;
        assert_false(LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)));
        size_t dst = 1 << 20, src = n;
        size_t r = LZ4F_decompress(d, o, &dst, in, &src, NULL);
        assert_int_equal(r, 0);
        assert_int_equal(src, n);
        tb_put(out, o, dst);
        LZ4F_freeDecompressionContext(d);
    } else {
        size_t r = ZSTD_decompress(o, 1 << 20, in, n);
        assert_false(ZSTD_isError(r));
        tb_put(out, o, r);
    }
    free(o);
}

/* ---- appending keyed records ---- */

/* Appends one batch of the n records r[] with codec (0: none); updates the model. */
static int64_t append_records(rn_log *log, model *m, const trec *r, int n, int codec, int xerial)
{
    tbuf recs = {0}, b = {0};
    int64_t max_ts = r[0].ts;
    for (int i = 1; i < n; i++)
        if (r[i].ts > max_ts)
            max_ts = r[i].ts;
    build_records(&recs, r, n, r[0].ts);
    if (codec) {
        tbuf c = {0};
        test_compress(codec, xerial, &recs, &c);
        build_batch_raw(&b, n, r[0].ts, max_ts, (int16_t)codec, c.p, c.len);
        free(c.p);
    } else {
        build_batch_raw(&b, n, r[0].ts, max_ts, 0, recs.p, recs.len);
    }
    int64_t base = append_buf(log, &b, 1);
    if (m) {
        assert_int_equal(base, m->n);
        for (int i = 0; i < n; i++) {
            snprintf(m->key[m->n], sizeof(m->key[0]), "%s", r[i].key ? r[i].key : "");
            snprintf(m->value[m->n], sizeof(m->value[0]), "%s", r[i].value ? r[i].value : "");
            m->tomb[m->n] = r[i].value == NULL;
            m->n++;
        }
    }
    free(recs.p);
    free(b.p);
    return base;
}

/* Appends `records` records over `keys` keys, batches of 1..3, with timestamps ts0 + offset. */
static void append_keyed(rn_log *log, model *m, int records, int keys, int64_t ts0, int codec)
{
    char kbuf[3][16], vbuf[3][24];
    for (int done = 0; done < records;) {
        int n = 1 + (int)((m->n * 7) % 3);
        if (n > records - done)
            n = records - done;
        trec r[3];
        for (int i = 0; i < n; i++) {
            int64_t o = m->n + i;
            snprintf(kbuf[i], sizeof(kbuf[i]), "key%lld", (long long)((o * 13) % keys));
            snprintf(vbuf[i], sizeof(vbuf[i]), "val%lld", (long long)o);
            r[i] = (trec){kbuf[i], vbuf[i], ts0 + o};
        }
        append_records(log, m, r, n, codec, codec == 2 && (m->n & 1));
        done += n;
    }
}

/* ---- reading the whole log back ---- */

typedef struct seen {
    int64_t n;
    int64_t offsets[MAX_OFFSETS];
    int batches_per_codec[5];
} seen;

/* Reads every batch from the start, checks CRCs, decodes the records
 * (decompressing with the libraries) and checks each against the model at
 * its offset. Offsets strictly increase. */
static void scan_log(rn_log *log, const model *m, seen *sn)
{
    memset(sn, 0, sizeof(*sn));
    int64_t o = rn_log_start_offset(log), prev = -1;
    for (;;) {
        rn_log_slice s;
        assert_int_equal(rn_log_read(log, o, 1 << 20, INT64_MAX, &s), 0);
        if (s.len == 0)
            break;
        uint8_t *buf = malloc((size_t)s.len);
        assert_int_equal(pread(s.file->fd, buf, (size_t)s.len, s.pos), s.len);
        int64_t at = 0;
        while (s.len - at >= 61) {
            uint8_t *p = buf + at;
            int64_t size = 12 + (int64_t)be_get(p + 8, 4);
            if (at + size > s.len)
                break;
            assert_int_equal(be_get(p + 17, 4), rn_crc32c(0, p + 21, (size_t)size - 21));
            int64_t base = (int64_t)be_get(p, 8), last = base + (int64_t)(int32_t)be_get(p + 23, 4);
            int16_t attrs = (int16_t)be_get(p + 21, 2);
            int64_t base_ts = (int64_t)be_get(p + 27, 8), max_ts = (int64_t)be_get(p + 35, 8);
            int32_t count = (int32_t)be_get(p + 57, 4);
            int codec = attrs & 7;
            sn->batches_per_codec[codec]++;
            tbuf recs = {0};
            if (codec)
                test_decompress(codec, p + 61, (size_t)size - 61, &recs);
            else
                tb_put(&recs, p + 61, (size_t)size - 61);
            const uint8_t *q = recs.p, *end = recs.p + recs.len;
            int32_t k = 0;
            int64_t rec_max_ts = -1;
            while (q < end) {
                /* varints by hand: length, attributes, tsDelta, offsetDelta, key, value */
                int64_t v[8];
                int vi = 0;
                const uint8_t *rec_start = q;
                int64_t len = 0;
                for (int f = 0; f < 4; f++) {
                    uint64_t u = 0;
                    int sh = 0;
                    if (f == 1) {
                        q++;
                        continue;
                    }
                    while (*q & 0x80) {
                        u |= (uint64_t)(*q++ & 0x7f) << sh;
                        sh += 7;
                    }
                    u |= (uint64_t)*q++ << sh;
                    v[vi++] = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
                    if (f == 0)
                        len = v[0];
                }
                int64_t ts_delta = v[1], off_delta = v[2];
                /* key */
                uint64_t u = 0;
                int sh = 0;
                while (*q & 0x80) {
                    u |= (uint64_t)(*q++ & 0x7f) << sh;
                    sh += 7;
                }
                u |= (uint64_t)*q++ << sh;
                int64_t klen = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
                char key[64] = "";
                if (klen > 0) {
                    memcpy(key, q, (size_t)klen);
                    q += klen;
                }
                u = 0;
                sh = 0;
                while (*q & 0x80) {
                    u |= (uint64_t)(*q++ & 0x7f) << sh;
                    sh += 7;
                }
                u |= (uint64_t)*q++ << sh;
                int64_t vlen = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
                char val[64] = "";
                if (vlen > 0)
                    memcpy(val, q, (size_t)vlen);
                /* skip to the record's end */
                const uint8_t *r0 = rec_start;
                uint64_t lu = 0;
                sh = 0;
                while (*r0 & 0x80) {
                    lu |= (uint64_t)(*r0++ & 0x7f) << sh;
                    sh += 7;
                }
                lu |= (uint64_t)*r0++ << sh;
                q = r0 + len;
                int64_t off = base + off_delta;
                assert_true(off >= base && off <= last);
                assert_true(off > prev);
                prev = off;
                assert_true(off < m->n);
                assert_string_equal(key, m->key[off]);
                assert_int_equal(vlen < 0, m->tomb[off]);
                if (vlen >= 0)
                    assert_string_equal(val, m->value[off]);
                if (base_ts + ts_delta > rec_max_ts)
                    rec_max_ts = base_ts + ts_delta;
                sn->offsets[sn->n++] = off;
                k++;
            }
            assert_int_equal(k, count);
            assert_int_equal(max_ts, rec_max_ts);
            free(recs.p);
            o = last + 1;
            at += size;
        }
        free(buf);
        rn_fileref_drop(s.file);
    }
    assert_int_equal(o >= rn_log_end_offset(log) || sn->n == 0, 1);
}

static int seen_has(const seen *sn, int64_t off)
{
    int64_t lo = 0, hi = sn->n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (sn->offsets[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sn->n && sn->offsets[lo] == off;
}

/* Cleaned up to clean_end: a record below it is left exactly when no
 * later record of its key lies below it too (keyless records always);
 * everything at or after it is still there. Tombstones are not checked. */
static void check_compacted(rn_log *log, const model *m, int64_t clean_end, seen *sn)
{
    scan_log(log, m, sn);
    int64_t start = rn_log_start_offset(log);
    for (int64_t o = start; o < m->n; o++) {
        if (m->tomb[o])
            continue;
        int latest = m->key[o][0] == '\0' || model_latest_below(m, m->key[o], clean_end) == o;
        if (o >= clean_end || latest)
            assert_true(seen_has(sn, o));
        else
            assert_false(seen_has(sn, o));
    }
}

static const rn_compact_config default_cc = {
    .delete_retention_ms = 86400000,
    .min_compaction_lag_ms = 0,
    .max_compaction_lag_ms = INT64_MAX,
    .min_cleanable_dirty_ratio = 0.0,
    .stable_end = INT64_MAX,
};

/* ---- tests ---- */

static void compaction_keeps_the_latest_value_of_every_key_at_its_offset(void **state)
{
    fixture *f = *state;
    rn_log *log;
    model *m = model_new();
    seen *sn = malloc(sizeof(*sn));
    f->cfg.segment_bytes = 3000;
    f->cfg.index_interval_bytes = 200;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_keyed(log, m, 1500, 40, 1000000, 0);
    trec nk[2] = {{NULL, "no-key-1", 1000000}, {NULL, "no-key-2", 1000000}};
    append_records(log, m, nk, 2, 0, 0);
    append_keyed(log, m, 200, 40, 1000000, 0);
    int nseg = count_files(f->dir, ".log");
    int64_t size_before = rn_log_size_bytes(log), end = rn_log_end_offset(log);

    rn_compact_stats st;
    assert_int_equal(rn_log_compact(log, &default_cc, 2000000, &st), 0);
    assert_int_equal(st.cleaned, 1);
    assert_int_equal(st.first_dirty_offset, 0);
    assert_true(st.end_offset > 0 && st.end_offset < end);
    assert_int_equal(st.keys, 40);
    assert_true(st.records_removed > 1000);
    assert_true(st.bytes_after < st.bytes_before);
    assert_true(rn_log_size_bytes(log) < size_before);
    assert_true(count_files(f->dir, ".log") <= nseg); /* full segments do not merge (Kafka's grouping by old sizes) */
    assert_int_equal(count_files(f->dir, ".cleaned"), 0);
    assert_int_equal(count_files(f->dir, ".swap"), 0);
    assert_true(count_files(f->dir, ".log.deleted") > 0);
    assert_int_equal(rn_log_end_offset(log), end);
    assert_int_equal(rn_log_start_offset(log), 0);
    check_compacted(log, m, st.end_offset, sn);
    int64_t clean_end = st.end_offset;

    /* a second pass with nothing new dirty does nothing */
    assert_int_equal(rn_log_compact(log, &default_cc, 2000000, &st), 0);
    assert_int_equal(st.cleaned, 0);

    /* reads at every offset: the batch holding it or, in a gap, the next one */
    for (int64_t o = 0; o < end; o++) {
        int rc;
        int64_t base = read_batch_base(log, o, &rc);
        assert_int_equal(rc, 0);
        assert_true(base >= 0);
    }
    /* appends go on; the index lookups still work after reopening, clean or not */
    append_keyed(log, m, 100, 40, 1000000, 0);
    rn_log_close(log);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    check_compacted(log, m, clean_end, sn);
    rn_log_close(log);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0); /* unclean: gaps pass recovery */
    check_compacted(log, m, clean_end, sn);
    assert_int_equal(rn_log_end_offset(log), m->n);

    /* again, with more data: the clean part is cleaned against the new keys */
    append_keyed(log, m, 600, 40, 1000000, 0);
    assert_int_equal(rn_log_compact(log, &default_cc, 2000000, &st), 0);
    assert_int_equal(st.cleaned, 1);
    assert_int_equal(st.first_dirty_offset, clean_end);
    check_compacted(log, m, st.end_offset, sn);
    rn_log_close(log);
    free(sn);
    free(m);
}

static void tombstones_stay_for_delete_retention_ms_then_go(void **state)
{
    fixture *f = *state;
    rn_log *log;
    model *m = model_new();
    seen *sn = malloc(sizeof(*sn));
    f->cfg.segment_bytes = 2000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_keyed(log, m, 200, 10, 1000, 0);
    trec t[2] = {{"key3", NULL, 2000}, {"key7", NULL, 2000}};
    append_records(log, m, t, 2, 0, 0);
    int64_t t3 = m->n - 2, t7 = m->n - 1;
    append_keyed(log, m, 100, 5, 3000, 0); /* keys 0..4 only: key3 is in it, so its tombstone is superseded */
    int64_t del = 0;
    for (int64_t o = t7 + 1; o < m->n; o++)
        if (strcmp(m->key[o], "key3") == 0)
            del = 1;
    assert_true(del);

    rn_compact_config cc = default_cc;
    cc.delete_retention_ms = 10000;
    rn_compact_stats st;
    int64_t now = 100000;
    assert_int_equal(rn_log_compact(log, &cc, now, &st), 0);
    assert_int_equal(st.cleaned, 1);
    assert_true(st.end_offset > t7);
    assert_int_equal(st.tombstones_removed, 0); /* first passed now */
    scan_log(log, m, sn);
    assert_true(seen_has(sn, t7));
    assert_false(seen_has(sn, t3)); /* superseded by a later value */
    for (int64_t o = 0; o < t3; o++)
        if (strcmp(m->key[o], "key7") == 0)
            assert_false(seen_has(sn, o)); /* the values it deletes are gone */

    /* more data, so that passes run; the tombstone is in the clean part now */
    append_keyed(log, m, 100, 5, 4000, 0);
    assert_int_equal(rn_log_compact(log, &cc, now + 9999, &st), 0);
    assert_int_equal(st.cleaned, 1);
    assert_int_equal(st.tombstones_removed, 0);
    scan_log(log, m, sn);
    assert_true(seen_has(sn, t7));

    append_keyed(log, m, 100, 5, 5000, 0);
    assert_int_equal(rn_log_compact(log, &cc, now + 10000, &st), 0);
    assert_int_equal(st.cleaned, 1);
    assert_int_equal(st.tombstones_removed, 1);
    scan_log(log, m, sn);
    assert_false(seen_has(sn, t7));
    for (int64_t o = 0; o < m->n; o++)
        if (strcmp(m->key[o], "key7") == 0)
            assert_false(seen_has(sn, o)); /* key7 is gone for good */
    rn_log_close(log);
    free(sn);
    free(m);
}

static void every_codec_is_recompressed_and_readable(void **state)
{
    fixture *f = *state;
    rn_log *log;
    model *m = model_new();
    seen *sn = malloc(sizeof(*sn));
    f->cfg.segment_bytes = 4000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    char kb[8][16], vb[8][24];
    for (int round = 0; round < 40; round++) {
        for (int codec = 1; codec <= 4; codec++) {
            trec r[8];
            for (int i = 0; i < 8; i++) {
                snprintf(kb[i], sizeof(kb[i]), "k%d", (round * 8 + i) % 11);
                snprintf(vb[i], sizeof(vb[i]), "v%d-%d-%d", codec, round, i);
                r[i] = (trec){kb[i], vb[i], 5000 + round * 10 + i};
            }
            append_records(log, m, r, 8, codec, codec == 2 && round % 2 == 0);
        }
    }
    scan_log(log, m, sn);
    for (int codec = 1; codec <= 4; codec++)
        assert_int_equal(sn->batches_per_codec[codec], 40);
    rn_compact_stats st;
    assert_int_equal(rn_log_compact(log, &default_cc, 100000, &st), 0);
    assert_int_equal(st.cleaned, 1);
    assert_true(st.records_removed > 0);
    check_compacted(log, m, st.end_offset, sn);
    /* batches kept their codec (none became uncompressed) */
    assert_int_equal(sn->batches_per_codec[0], 0);
    for (int codec = 1; codec <= 4; codec++)
        assert_true(sn->batches_per_codec[codec] > 0);
    rn_log_close(log);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    check_compacted(log, m, st.end_offset, sn);
    rn_log_close(log);
    free(sn);
    free(m);
}

static void codecs_round_trip_and_refuse_bad_input(void **state)
{
    (void)state;
    tbuf in = {0};
    for (int i = 0; i < 100000; i++)
        tb_u8(&in, (uint8_t)("abcabcabd"[i % 9] + (i % 1000 == 0)));
    rn_codec_ctx ctx = {0};
    for (int codec = 1; codec <= 4; codec++) {
        for (int framing = 0; framing <= (codec == 2); framing++) {
            rn_codec_buf c = {0}, d = {0};
            int fr = -1;
            assert_int_equal(rn_codec_compress(&ctx, codec, in.p, in.len, framing, &c), 0);
            tbuf lib = {0};
            test_decompress(codec, c.p, c.len, &lib); /* readable by the library itself */
            assert_int_equal(lib.len, in.len);
            assert_memory_equal(lib.p, in.p, in.len);
            free(lib.p);
            assert_int_equal(rn_codec_decompress(&ctx, codec, c.p, c.len, 1 << 20, &d, &fr), 0);
            assert_int_equal(fr, framing);
            assert_int_equal(d.len, in.len);
            assert_memory_equal(d.p, in.p, in.len);
            /* past max_out */
            assert_int_equal(rn_codec_decompress(&ctx, codec, c.p, c.len, 1000, &d, &fr), -EFBIG);
            /* cut off */
            assert_true(rn_codec_decompress(&ctx, codec, c.p, c.len / 2, 1 << 20, &d, &fr) < 0);
            rn_codec_buf_release(&c);
            rn_codec_buf_release(&d);
        }
    }
    rn_codec_buf d = {0};
    int fr;
    assert_int_equal(rn_codec_decompress(&ctx, 7, in.p, 10, 1 << 20, &d, &fr), -ENOTSUP);
    assert_true(rn_codec_decompress(&ctx, 4, in.p, 100, 1 << 20, &d, &fr) < 0);
    assert_true(rn_codec_decompress(&ctx, 1, in.p, 100, 1 << 20, &d, &fr) < 0);
    rn_codec_buf_release(&d);
    rn_codec_ctx_release(&ctx);
    free(in.p);
}

static void dirty_ratio_and_lags_decide_when_to_clean(void **state)
{
    fixture *f = *state;
    rn_log *log;
    model *m = model_new();
    seen *sn = malloc(sizeof(*sn));
    f->cfg.segment_bytes = 2000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_keyed(log, m, 300, 20, 1000, 0); /* timestamps 1000.. */
    rn_compact_config cc = default_cc;
    rn_compact_stats st;
    /* min lag: at now = 1000 + 300, every segment is too recent */
    cc.min_compaction_lag_ms = 100000;
    assert_int_equal(rn_log_compact(log, &cc, 1300, &st), 0);
    assert_int_equal(st.cleaned, 0);
    /* only the segments older than the lag: [0, ~150) */
    cc.min_compaction_lag_ms = 150;
    assert_int_equal(rn_log_compact(log, &cc, 1300, &st), 0);
    assert_int_equal(st.cleaned, 1);
    assert_true(st.end_offset > 0 && st.end_offset <= 150 + 1);
    int64_t first_end = st.end_offset;
    check_compacted(log, m, first_end, sn);

    /* the dirty ratio: everything after first_end is dirty now; demand more than that */
    cc.min_compaction_lag_ms = 0;
    cc.min_cleanable_dirty_ratio = 0.99;
    assert_int_equal(rn_log_compact(log, &cc, 5000, &st), 0);
    assert_int_equal(st.cleaned, 0);
    assert_true(st.dirty_ratio > 0.3 && st.dirty_ratio < 0.99);
    /* max.compaction.lag.ms forces it once the first dirty batch is old enough */
    cc.max_compaction_lag_ms = 100000;
    assert_int_equal(rn_log_compact(log, &cc, 5000, &st), 0);
    assert_int_equal(st.cleaned, 0);
    assert_int_equal(st.forced, 0);
    assert_int_equal(rn_log_compact(log, &cc, 1000 + first_end + 100010, &st), 0);
    assert_int_equal(st.forced, 1);
    assert_int_equal(st.cleaned, 1);
    assert_int_equal(st.first_dirty_offset, first_end);
    check_compacted(log, m, st.end_offset, sn);
    rn_log_close(log);
    free(sn);
    free(m);
}

/* Appends one batch with attributes attrs holding the record r. */
static void append_special(rn_log *log, model *m, trec r, int16_t attrs)
{
    tbuf recs = {0}, b = {0};
    build_records(&recs, &r, 1, r.ts);
    build_batch_raw(&b, 1, r.ts, r.ts, attrs, recs.p, recs.len);
    assert_int_equal(append_buf(log, &b, 1), m->n);
    snprintf(m->key[m->n], sizeof(m->key[0]), "%s", r.key);
    snprintf(m->value[m->n], sizeof(m->value[0]), "%s", r.value);
    m->n++;
    free(recs.p);
    free(b.p);
}

static void control_transactional_and_keyless_records(void **state)
{
    fixture *f = *state;
    rn_log *log;
    model *m = model_new();
    seen *sn = malloc(sizeof(*sn));
    f->cfg.segment_bytes = 1500;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_special(log, m, (trec){"a", "txn-value", 100}, 0x10); /* transactional (bit 4) */
    append_special(log, m, (trec){"b", "marker", 100}, 0x30);    /* control (bit 5) */
    trec nk[1] = {{NULL, "keyless", 150}};
    append_records(log, m, nk, 1, 0, 0);
    append_keyed(log, m, 100, 3, 200, 0);
    trec later[2] = {{"a", "plain-a", 300}, {"b", "plain-b", 300}};
    append_records(log, m, later, 2, 0, 0);
    append_keyed(log, m, 60, 3, 400, 0);
    rn_compact_stats st;
    assert_int_equal(rn_log_compact(log, &default_cc, 100000, &st), 0);
    assert_int_equal(st.cleaned, 1);
    assert_true(st.end_offset > 110);
    scan_log(log, m, sn);
    assert_false(seen_has(sn, 0));  /* committed transactional data: compacted like any other */
    assert_true(seen_has(sn, 1));   /* a marker: kept whole, its key never in the map */
    assert_true(seen_has(sn, 2));   /* no key: kept */
    assert_true(seen_has(sn, 103)); /* the later "a" and "b" */
    assert_true(seen_has(sn, 104));
    assert_false(seen_has(sn, 3));  /* an ordinary superseded record went */
    rn_log_close(log);
    free(sn);
    free(m);
}

/* Appends one batch of producer pid: transactional data r, or (marker 0
 * ABORT, 1 COMMIT) a transaction marker at r.ts. */
static int64_t append_txn(rn_log *log, model *m, int64_t pid, trec r, int marker)
{
    tbuf recs = {0}, b = {0};
    if (marker < 0) {
        build_records(&recs, &r, 1, r.ts);
    } else {
        static const uint8_t key[4] = {0, 0, 0, 0}, value[6] = {0};
        uint8_t k[4];
        memcpy(k, key, 4);
        k[3] = (uint8_t)marker;
        tbuf x = {0};
        tb_u8(&x, 0);
        tb_varlong(&x, 0);
        tb_varlong(&x, 0);
        tb_varlong(&x, 4);
        tb_put(&x, k, 4);
        tb_varlong(&x, 6);
        tb_put(&x, value, 6);
        tb_varlong(&x, 0);
        tb_varlong(&recs, (int64_t)x.len);
        tb_put(&recs, x.p, x.len);
        free(x.p);
    }
    build_batch_raw(&b, 1, r.ts, r.ts, marker < 0 ? 0x10 : 0x30, recs.p, recs.len);
    be_put(b.p + 43, (uint64_t)pid, 8);
    be_put(b.p + 51, 0, 2);
    be_put(b.p + 17, rn_crc32c(0, b.p + 21, b.len - 21), 4);
    int64_t base = append_buf(log, &b, 1);
    assert_int_equal(base, m->n);
    snprintf(m->key[m->n], sizeof(m->key[0]), "%s", marker < 0 ? r.key : "");
    snprintf(m->value[m->n], sizeof(m->value[0]), "%s", marker < 0 ? r.value : "");
    m->tomb[m->n] = 0;
    m->n++;
    free(recs.p);
    free(b.p);
    return base;
}

/* Kafka's rules: aborted data go at the first pass and never supersede a
 * committed value; committed transactional records are compacted like any
 * others; a marker stays while data of its transaction remain, then for
 * delete.retention.ms after the pass that first found none. */
static void aborted_data_go_and_markers_follow_their_data(void **state)
{
    fixture *f = *state;
    rn_log *log;
    model *m = model_new();
    seen *sn = malloc(sizeof(*sn));
    f->cfg.segment_bytes = 1500;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    trec a1[1] = {{"a", "committed-a", 100}};
    int64_t o_a = append_records(log, m, a1, 1, 0, 0);
    int64_t o_ab1 = append_txn(log, m, 7, (trec){"a", "aborted-a", 100}, -1);
    int64_t o_ab2 = append_txn(log, m, 7, (trec){"b", "aborted-b", 100}, -1);
    int64_t o_c = append_txn(log, m, 8, (trec){"c", "committed-c", 100}, -1);
    int64_t o_abort = append_txn(log, m, 7, (trec){NULL, NULL, 100}, 0);
    int64_t o_commit = append_txn(log, m, 8, (trec){NULL, NULL, 100}, 1);
    append_keyed(log, m, 60, 3, 200, 0);
    rn_log_aborted_txn aborted[1] = {{7, o_ab1, o_abort}};
    rn_compact_config cc = default_cc;
    cc.delete_retention_ms = 1000;
    cc.aborted = aborted;
    cc.naborted = 1;
    rn_compact_stats st;

    /* Pass 1: the aborted batches go; both markers stay (their data were met). */
    assert_int_equal(rn_log_compact(log, &cc, 100000, &st), 0);
    assert_int_equal(st.cleaned, 1);
    assert_true(st.end_offset > o_commit);
    assert_int_equal(st.aborted_removed, 2);
    assert_int_equal(st.markers_removed, 0);
    scan_log(log, m, sn);
    assert_true(seen_has(sn, o_a)); /* the aborted "a" did not supersede it */
    assert_false(seen_has(sn, o_ab1));
    assert_false(seen_has(sn, o_ab2));
    assert_true(seen_has(sn, o_c));
    assert_true(seen_has(sn, o_abort));
    assert_true(seen_has(sn, o_commit));

    /* Pass 2, before the horizon: the ABORT marker has no data left but stays. */
    append_keyed(log, m, 60, 3, 300, 0);
    assert_int_equal(rn_log_compact(log, &cc, 100500, &st), 0);
    assert_int_equal(st.markers_removed, 0);
    scan_log(log, m, sn);
    assert_true(seen_has(sn, o_abort));

    /* Pass 3, past it: the ABORT marker goes; the COMMIT stays with "c". */
    append_keyed(log, m, 60, 3, 400, 0);
    assert_int_equal(rn_log_compact(log, &cc, 102000, &st), 0);
    assert_int_equal(st.markers_removed, 1);
    scan_log(log, m, sn);
    assert_false(seen_has(sn, o_abort));
    assert_true(seen_has(sn, o_c));
    assert_true(seen_has(sn, o_commit));

    /* A later "c" supersedes the committed one; its marker goes one pass after. */
    trec c2[1] = {{"c", "plain-c", 500}};
    int64_t o_c2 = append_records(log, m, c2, 1, 0, 0);
    append_keyed(log, m, 60, 3, 500, 0);
    assert_int_equal(rn_log_compact(log, &cc, 103000, &st), 0);
    scan_log(log, m, sn);
    assert_false(seen_has(sn, o_c));
    assert_true(seen_has(sn, o_c2));
    assert_true(seen_has(sn, o_commit)); /* its data were met in this pass */
    append_keyed(log, m, 60, 3, 600, 0);
    assert_int_equal(rn_log_compact(log, &cc, 105000, &st), 0);
    assert_int_equal(st.markers_removed, 1);
    scan_log(log, m, sn);
    assert_false(seen_has(sn, o_commit));
    assert_true(seen_has(sn, o_a));
    assert_true(seen_has(sn, o_c2));
    rn_log_close(log);
    free(sn);
    free(m);
}

/* Nothing at or past the last stable offset is cleaned: an open
 * transaction's value must not supersede a committed one. */
static void nothing_past_the_stable_end_is_cleaned(void **state)
{
    fixture *f = *state;
    rn_log *log;
    model *m = model_new();
    seen *sn = malloc(sizeof(*sn));
    f->cfg.segment_bytes = 1500;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_keyed(log, m, 100, 3, 100, 0);
    int64_t open_first = append_txn(log, m, 9, (trec){"key0", "open-txn", 200}, -1);
    append_keyed(log, m, 100, 3, 300, 0);
    rn_compact_config cc = default_cc;
    cc.stable_end = open_first;
    rn_compact_stats st;
    assert_int_equal(rn_log_compact(log, &cc, 100000, &st), 0);
    assert_true(st.end_offset > 0 && st.end_offset <= open_first);
    scan_log(log, m, sn);
    assert_true(seen_has(sn, open_first));
    for (int64_t o = open_first; o < m->n; o++)
        assert_true(seen_has(sn, o));
    cc.stable_end = 0; /* an open transaction at offset 0: nothing at all */
    append_keyed(log, m, 30, 3, 400, 0);
    assert_int_equal(rn_log_compact(log, &cc, 100000, &st), 0);
    assert_int_equal(st.cleaned, 0);
    rn_log_close(log);
    free(sn);
    free(m);
}

/* ---- crashes during the swap ---- */

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t r;
    while ((r = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)r), r);
    close(in);
    close(out);
}

static void copy_dir(const char *src, const char *dst)
{
    mkdir(dst, 0755);
    DIR *d = opendir(src);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char a[512], b[512];
        snprintf(a, sizeof(a), "%s/%s", src, de->d_name);
        snprintf(b, sizeof(b), "%s/%s", dst, de->d_name);
        copy_file(a, b);
    }
    closedir(d);
}

/* Base offsets of the .log segments in dir, sorted; returns the count. */
static int segment_bases(const char *dir, int64_t *bases, int cap)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL)
        if (strlen(de->d_name) == 24 && strcmp(de->d_name + 20, ".log") == 0 && n < cap)
            bases[n++] = atoll(de->d_name);
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && bases[j - 1] > bases[j]; j--) {
            int64_t t = bases[j];
            bases[j] = bases[j - 1];
            bases[j - 1] = t;
        }
    return n;
}

/* stage: 0 leftover .cleaned only; 1 index .swap files but no .log.swap;
 * 2 .log.swap with the checkpoint's swap line, old segments all there;
 * 3 the same with the first old segment already renamed .deleted;
 * 4 .log.swap without a swap line (Kafka's rule: the .swap's own range). */
static void crash_at(fixture *f, const model *m, const char *before, const char *after, int64_t g_end,
                     int stage, int64_t clean_end)
{
    char crash[256];
    snprintf(crash, sizeof(crash), "%s/crash%d", f->root, stage);
    copy_dir(before, crash);
    static const char *const exts[] = {".log", ".index", ".timeindex"};
    for (int k = 0; k < 3; k++) {
        char a[512], b[512];
        snprintf(a, sizeof(a), "%s/%020d%s", after, 0, exts[k]);
        if (stage == 0)
            snprintf(b, sizeof(b), "%s/%020d%s.cleaned", crash, 0, exts[k]);
        else if (stage == 1 && k == 0)
            snprintf(b, sizeof(b), "%s/%020d%s.cleaned", crash, 0, exts[k]);
        else
            snprintf(b, sizeof(b), "%s/%020d%s.swap", crash, 0, exts[k]);
        copy_file(a, b);
    }
    if (stage == 2 || stage == 3) {
        char line[128];
        int n = snprintf(line, sizeof(line), "0\n0\n0\n1\n0 %lld\n", (long long)g_end);
        assert_int_equal(rn_log_file_write_atomic(crash, "cleaner-offset", line, (size_t)n), 0);
    } else {
        char p[512];
        snprintf(p, sizeof(p), "%s/cleaner-offset", crash);
        unlink(p);
    }
    if (stage == 3) {
        char a[512], b[512];
        snprintf(a, sizeof(a), "%s/%020d.log", crash, 0);
        snprintf(b, sizeof(b), "%s/%020d.log.deleted", crash, 0);
        assert_int_equal(rename(a, b), 0);
    }
    rn_log *log;
    seen *sn = malloc(sizeof(*sn));
    assert_int_equal(rn_log_open(crash, &f->cfg, 0, &log), 0);
    assert_int_equal(count_files(crash, ".swap"), 0);
    assert_int_equal(count_files(crash, ".cleaned"), 0);
    assert_int_equal(count_files(crash, ".deleted"), 0);
    assert_int_equal(rn_log_end_offset(log), m->n);
    if (stage <= 1) {
        scan_log(log, m, sn); /* as before the pass: everything */
        assert_int_equal(sn->n, m->n);
    } else {
        /* the group [0, g_end) is cleaned, the rest as before */
        scan_log(log, m, sn);
        for (int64_t o = 0; o < m->n; o++) {
            int latest = model_latest_below(m, m->key[o], clean_end) == o;
            if (o < g_end && !latest)
                assert_false(seen_has(sn, o));
            else
                assert_true(seen_has(sn, o));
        }
    }
    rn_log_close(log);
    /* and it reopens cleanly as it is */
    assert_int_equal(rn_log_open(crash, &f->cfg, 1, &log), 0);
    scan_log(log, m, sn);
    rn_log_close(log);
    free(sn);
}

static void a_crash_at_any_step_of_the_swap_is_settled_at_open(void **state)
{
    fixture *f = *state;
    rn_log *log;
    model *m = model_new();
    f->cfg.segment_bytes = 100000;
    f->cfg.segment_ms = 10; /* timestamps are 1000 + offset: small segments, merged in one group */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_keyed(log, m, 120, 6, 1000, 0);
    rn_log_close(log);
    char before[256], after[256];
    snprintf(before, sizeof(before), "%s/before", f->root);
    snprintf(after, sizeof(after), "%s/after", f->root);
    copy_dir(f->dir, before);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    rn_compact_stats st;
    assert_int_equal(rn_log_compact(log, &default_cc, 100000, &st), 0);
    assert_int_equal(st.cleaned, 1);
    assert_true(st.segments_before > st.segments_after);
    rn_log_close(log);
    copy_dir(f->dir, after);
    int64_t b_after[64], b_before[64];
    int na = segment_bases(after, b_after, 64), nb = segment_bases(before, b_before, 64);
    assert_true(na >= 2 && nb > na);
    int64_t g_end = b_after[1]; /* the first cleaned group covers [0, b_after[1]) */
    for (int stage = 0; stage <= 4; stage++)
        crash_at(f, m, before, after, g_end, stage, st.end_offset);
    free(m);
}


/* The last number in dir's cleaner-offset (the rewritten end). */
static int64_t ckpt_rewritten_end(const char *dir)
{
    char buf[8192];
    int n = rn_log_file_read_small(dir, "cleaner-offset", buf, sizeof(buf));
    assert_true(n > 0);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    char *nl = strrchr(buf, '\n');
    assert_non_null(nl);
    return atoll(nl + 1);
}

/* Recovery accepts gaps only below the cleaner checkpoint's rewritten end,
 * which never goes down, even when the first dirty offset does (a pass
 * whose map filled up after a crashed pass, or after a truncation). */
static void gaps_below_the_rewritten_end_pass_recovery(void **state)
{
    fixture *f = *state;
    rn_log *log;
    model *m = model_new();
    seen *sn = malloc(sizeof(*sn));
    f->cfg.segment_bytes = 3000;
    f->cfg.index_interval_bytes = 200;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_keyed(log, m, 1500, 40, 1000000, 0);
    rn_compact_stats st;
    assert_int_equal(rn_log_compact(log, &default_cc, 2000000, &st), 0);
    assert_int_equal(st.cleaned, 1);
    int64_t clean_end = st.end_offset;
    assert_int_equal(ckpt_rewritten_end(f->dir), clean_end);
    rn_log_close(log);

    /* the first dirty offset back at 0: the rewritten end still vouches */
    char text[128];
    int n = snprintf(text, sizeof(text), "0\n0\n0\n0\n%lld\n", (long long)clean_end);
    assert_int_equal(rn_log_file_write_atomic(f->dir, "cleaner-offset", text, (size_t)n), 0);
    char rp[512];
    snprintf(rp, sizeof(rp), "%s/recovery-point", f->dir);
    assert_int_equal(unlink(rp), 0); /* everything is checked */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    assert_int_equal(rn_log_end_offset(log), m->n);
    check_compacted(log, m, clean_end, sn);
    /* a pass from there keeps it */
    assert_int_equal(rn_log_compact(log, &default_cc, 2000000, &st), 0);
    assert_true(ckpt_rewritten_end(f->dir) >= clean_end);
    rn_log_close(log);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    assert_int_equal(rn_log_end_offset(log), m->n);
    rn_log_close(log);
    free(sn);
    free(m);
}

/* ---- a pass while appending and reading ---- */

typedef struct race {
    rn_log *log;
    atomic_int stop;
    atomic_int errors;
    atomic_llong reads;
} race;

static void *race_reader(void *arg)
{
    race *r = arg;
    uint32_t rng = 5;
    while (!atomic_load(&r->stop)) {
        int64_t end = rn_log_end_offset(r->log);
        if (end == 0)
            continue;
        rng = rng * 1103515245u + 12345u;
        int64_t o = (int64_t)((rng >> 8) % (uint32_t)end);
        rn_log_slice s;
        if (rn_log_read(r->log, o, 8192, INT64_MAX, &s) != 0) {
            atomic_fetch_add(&r->errors, 1);
            continue;
        }
        if (s.len == 0)
            continue; /* o in a gap at the end of the cleaned part with nothing after: impossible here, but legal */
        uint8_t h[61];
        if (s.len < 61 || pread(s.file->fd, h, 61, s.pos) != 61) {
            atomic_fetch_add(&r->errors, 1);
        } else {
            int64_t last = (int64_t)be_get(h, 8) + (int32_t)be_get(h + 23, 4);
            int64_t size = 12 + (int64_t)be_get(h + 8, 4);
            uint8_t *b = malloc((size_t)size);
            if (last < o || pread(s.file->fd, b, (size_t)size, s.pos) != size ||
                be_get(b + 17, 4) != rn_crc32c(0, b + 21, (size_t)size - 21))
                atomic_fetch_add(&r->errors, 1);
            free(b);
        }
        rn_fileref_drop(s.file);
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static void *race_flusher(void *arg)
{
    race *r = arg;
    while (!atomic_load(&r->stop)) {
        if (rn_log_sync(r->log) < 0)
            atomic_fetch_add(&r->errors, 1);
        usleep(500);
    }
    return NULL;
}

typedef struct appender {
    race *r;
    model *m;
    atomic_llong appended;
} appender;

static void *race_appender(void *arg)
{
    appender *a = arg;
    while (!atomic_load(&a->r->stop) && a->m->n < MAX_OFFSETS - 10) {
        append_keyed(a->r->log, a->m, 3, 50, 1000, 0);
        atomic_store(&a->appended, a->m->n);
    }
    return NULL;
}

static void compaction_runs_while_appending_reading_and_syncing(void **state)
{
    fixture *f = *state;
    race r = {0};
    model *m = model_new();
    seen *sn = malloc(sizeof(*sn));
    f->cfg.segment_bytes = 4000;
    f->cfg.index_interval_bytes = 256;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &r.log), 0);
    append_keyed(r.log, m, 500, 50, 1000, 0);
    appender a = {&r, m, 0};
    pthread_t th[4];
    pthread_create(&th[0], NULL, race_reader, &r);
    pthread_create(&th[1], NULL, race_reader, &r);
    pthread_create(&th[2], NULL, race_flusher, &r);
    pthread_create(&th[3], NULL, race_appender, &a);
    int cleaned = 0;
    for (int pass = 0; pass < 30; pass++) {
        rn_compact_stats st;
        assert_int_equal(rn_log_compact(r.log, &default_cc, 100000, &st), 0);
        cleaned += st.cleaned;
        rn_log_purge_deleted(r.log, 100000, 0);
        usleep(2000);
    }
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&r.errors), 0);
    assert_true(atomic_load(&r.reads) > 100);
    assert_true(cleaned >= 2);
    rn_compact_stats st;
    assert_int_equal(rn_log_compact(r.log, &default_cc, 100000, &st), 0);
    check_compacted(r.log, m, cleaner_offset(f->dir), sn);
    rn_log_close(r.log);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &r.log), 0);
    assert_int_equal(rn_log_end_offset(r.log), m->n);
    scan_log(r.log, m, sn);
    rn_log_close(r.log);
    free(sn);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(compaction_keeps_the_latest_value_of_every_key_at_its_offset, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(tombstones_stay_for_delete_retention_ms_then_go, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(every_codec_is_recompressed_and_readable, tl_setup, tl_teardown),
        cmocka_unit_test(codecs_round_trip_and_refuse_bad_input),
        cmocka_unit_test_setup_teardown(dirty_ratio_and_lags_decide_when_to_clean, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(control_transactional_and_keyless_records, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(aborted_data_go_and_markers_follow_their_data, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(nothing_past_the_stable_end_is_cleaned, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(a_crash_at_any_step_of_the_swap_is_settled_at_open, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(gaps_below_the_rewritten_end_pass_recovery, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(compaction_runs_while_appending_reading_and_syncing, tl_setup, tl_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_log.c - the partition log (src/log): appends and reads at every
 * offset, rolling, the offset and time indexes, reopening clean and after a
 * crash (torn tail, flipped byte, lost index), injected disk errors through
 * the rn_log_io seam, flushing and the recovery point, segment lifetime
 * under read slices, and the open files: one (.log) per segment, the index
 * files written by the flusher after a roll and at close, never needed
 * after a crash.
 *
 * Every test works in its own mkdtemp() folder, removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "log/log.h"
#include "log/logInt.h"

/* ---- building v2 record batches ---- */

typedef struct tbuf {
    uint8_t *p;
    size_t len, cap;
} tbuf;

static void tb_put(tbuf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void tb_u8(tbuf *b, uint8_t v)
{
    tb_put(b, &v, 1);
}

static void tb_be(tbuf *b, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        tb_u8(b, (uint8_t)(v >> (8 * i)));
}

static void tb_varlong(tbuf *b, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (u >= 0x80) {
        tb_u8(b, (uint8_t)(u | 0x80));
        u >>= 7;
    }
    tb_u8(b, (uint8_t)u);
}

static void be_patch32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint64_t be_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

/* Appends one batch of n records with timestamps ts[] (value_bytes of
 * payload each) to out. attributes: codec bits etc.; a "compressed" batch
 * simply carries opaque bytes, which the log never looks into. */
static void build_batch(tbuf *out, int n, const int64_t *ts, int value_bytes, int16_t attributes)
{
    tbuf recs = {0};
    int64_t base_ts = ts[0], max_ts = ts[0];
    for (int i = 1; i < n; i++)
        if (ts[i] > max_ts)
            max_ts = ts[i];
    for (int i = 0; i < n; i++) {
        tbuf r = {0};
        tb_u8(&r, 0);                /* attributes */
        tb_varlong(&r, ts[i] - base_ts);
        tb_varlong(&r, i);           /* offsetDelta */
        tb_varlong(&r, -1);          /* key: null */
        tb_varlong(&r, value_bytes);
        for (int k = 0; k < value_bytes; k++)
            tb_u8(&r, (uint8_t)('a' + (i + k) % 26));
        tb_varlong(&r, 0);           /* headers */
        tb_varlong(&recs, (int64_t)r.len);
        tb_put(&recs, r.p, r.len);
        free(r.p);
    }
    size_t start = out->len;
    tb_be(out, 0, 8);                            /* baseOffset: assigned by the log */
    tb_be(out, (uint64_t)(49 + recs.len), 4);    /* batchLength */
    tb_be(out, 0, 4);                            /* partitionLeaderEpoch */
    tb_u8(out, 2);                               /* magic */
    tb_be(out, 0, 4);                            /* crc, patched below */
    tb_be(out, (uint16_t)attributes, 2);
    tb_be(out, (uint64_t)(n - 1), 4);            /* lastOffsetDelta */
    tb_be(out, (uint64_t)base_ts, 8);
    tb_be(out, (uint64_t)max_ts, 8);
    tb_be(out, (uint64_t)-1, 8);                 /* producerId */
    tb_be(out, 0xffff, 2);                       /* producerEpoch */
    tb_be(out, 0xffffffff, 4);                   /* baseSequence */
    tb_be(out, (uint64_t)n, 4);                  /* recordsCount */
    tb_put(out, recs.p, recs.len);
    free(recs.p);
    uint8_t *b = out->p + start;
    be_patch32(b + 17, rn_crc32c(0, b + 21, out->len - start - 21));
}

/* What a test appended, to check reads against. */
typedef struct rec_model {
    int64_t ts[20000];
    int64_t batch_base[20000]; /* per offset: base offset of its batch */
    int64_t batch_last[20000];
    int64_t n;
} rec_model;

static rec_model *model_new(void)
{
    rec_model *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    return m;
}

/* Appends one batch of n records with timestamps ts[]; checks the offsets. */
static void append_batch(rn_log *log, rec_model *m, int n, const int64_t *ts, int value_bytes, int16_t attrs)
{
    tbuf b = {0};
    build_batch(&b, n, ts, value_bytes, attrs);
    int64_t base = -1, last = -1;
    assert_int_equal(rn_log_append(log, b.p, b.len, 1, &base, &last), 0);
    if (m) {
        assert_int_equal(base, m->n);
        for (int i = 0; i < n; i++) {
            m->ts[m->n + i] = ts[i];
            m->batch_base[m->n + i] = base;
            m->batch_last[m->n + i] = last;
        }
        m->n += n;
    }
    assert_int_equal(last, base + n - 1);
    free(b.p);
}

/* Appends `batches` batches of 1..4 records with increasing timestamps from t0. */
static void append_many(rn_log *log, rec_model *m, int batches, int64_t t0, int value_bytes)
{
    for (int k = 0; k < batches; k++) {
        int n = 1 + k % 4;
        int64_t ts[4] = {0};
        for (int i = 0; i < n; i++)
            ts[i] = t0 + (m ? m->n : 0) * 10 + i * 10;
        append_batch(log, m, n, ts, value_bytes, 0);
    }
}

/* ---- folders ---- */

static int rm_cb(const char *p, const struct stat *st, int f, struct FTW *w)
{
    (void)st;
    (void)f;
    (void)w;
    return remove(p);
}

typedef struct fixture {
    char root[64];
    char dir[128];
    rn_log_config cfg;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    strcpy(f->root, "/tmp/rn_test_log.XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/topic-0", f->root);
    f->cfg.segment_bytes = 1 << 20;
    f->cfg.index_interval_bytes = 4096;
    f->cfg.segment_index_bytes = 10 << 20;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rn_log_io_reset();
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static int count_files(const char *dir, const char *ext)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    size_t el = strlen(ext);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > el && strcmp(de->d_name + l - el, ext) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Path of the segment file with the largest base offset having ext. */
static void last_segment_path(const char *dir, const char *ext, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char best[64] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) == 20 + strlen(ext) && strcmp(de->d_name + 20, ext) == 0 &&
            strcmp(de->d_name, best) > 0)
            memcpy(best, de->d_name, strlen(de->d_name) + 1);
    }
    closedir(d);
    assert_true(best[0] != '\0');
    snprintf(out, cap, "%s/%s", dir, best);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    return st.st_size;
}

/* ---- checking reads ---- */

/* Reads at offset and checks the slice starts with the batch holding it,
 * holds whole valid batches (the last possibly cut by max_bytes), and none
 * at or past max_offset. Returns the slice length. */
static int32_t check_read(rn_log *log, const rec_model *m, int64_t offset, int32_t max_bytes, int64_t max_offset)
{
    rn_log_slice s;
    assert_int_equal(rn_log_read(log, offset, max_bytes, max_offset, &s), 0);
    if (offset >= m->n || offset >= max_offset) {
        assert_int_equal(s.len, 0);
        assert_null(s.file);
        return 0;
    }
    assert_non_null(s.file);
    assert_true(s.len > 0);
    uint8_t *buf = malloc((size_t)s.len);
    assert_non_null(buf);
    assert_int_equal(pread(s.file->fd, buf, (size_t)s.len, s.pos), s.len);
    int64_t at = 0, expect_base = m->batch_base[offset];
    int first = 1;
    while (at < s.len) {
        if (s.len - at < 61) {
            assert_true(max_bytes > 0 && s.len <= max_bytes); /* cut by max_bytes */
            break;
        }
        int64_t base = (int64_t)be_get(buf + at, 8);
        int64_t size = 12 + (int64_t)be_get(buf + at + 8, 4);
        assert_int_equal(base, expect_base);
        assert_true(base < max_offset);
        if (at + size > s.len) {
            assert_false(first); /* KIP-74: the first batch comes whole */
            assert_true(s.len <= max_bytes);
            break;
        }
        uint32_t crc = (uint32_t)be_get(buf + at + 17, 4);
        assert_int_equal(crc, rn_crc32c(0, buf + at + 21, (size_t)(size - 21)));
        int64_t last = base + (int64_t)be_get(buf + at + 23, 4);
        assert_int_equal(last, m->batch_last[base]);
        expect_base = last + 1;
        at += size;
        first = 0;
    }
    free(buf);
    rn_fileref_drop(s.file);
    return s.len;
}

static void check_all_offsets(rn_log *log, const rec_model *m)
{
    assert_int_equal(rn_log_end_offset(log), m->n);
    for (int64_t o = 0; o <= m->n; o++)
        check_read(log, m, o, 1 << 20, INT64_MAX);
}

/* ---- tests ---- */

static void append_then_read_back_at_every_offset(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_start_offset(log), 0);
    assert_int_equal(rn_log_end_offset(log), 0);
    rn_log_slice s;
    assert_int_equal(rn_log_read(log, 0, 1000, INT64_MAX, &s), 0);
    assert_int_equal(s.len, 0);

    append_many(log, m, 60, 1000, 50);
    check_all_offsets(log, m);
    /* several batches in one append: one write, offsets assigned in place */
    tbuf b = {0};
    int64_t ts[3] = {5000, 5001, 5002};
    build_batch(&b, 3, ts, 10, 0);
    build_batch(&b, 2, ts, 10, 0);
    int64_t base, last;
    assert_int_equal(rn_log_append(log, b.p, b.len, 2, &base, &last), 0);
    assert_int_equal(base, m->n);
    assert_int_equal(last, m->n + 4);
    assert_int_equal(be_get(b.p, 8), (uint64_t)base);
    for (int i = 0; i < 5; i++) {
        m->ts[m->n + i] = ts[i < 3 ? i : i - 3];
        m->batch_base[m->n + i] = i < 3 ? base : base + 3;
        m->batch_last[m->n + i] = i < 3 ? base + 2 : base + 4;
    }
    m->n += 5;
    free(b.p);
    check_all_offsets(log, m);

    assert_int_equal(rn_log_read(log, m->n + 1, 1000, INT64_MAX, &s), -ERANGE);
    assert_int_equal(rn_log_read(log, -1, 1000, INT64_MAX, &s), -ERANGE);
    /* KIP-74: max_bytes smaller than the first batch still returns it whole */
    assert_true(check_read(log, m, 7, 1, INT64_MAX) > 1);
    /* max_bytes cuts the slice */
    assert_true(check_read(log, m, 0, 300, INT64_MAX) <= 300);
    /* max_offset: never past the first batch at or above it */
    for (int64_t hw = 1; hw <= m->n; hw += 3)
        for (int64_t o = 0; o < hw; o += 2)
            check_read(log, m, o, 1 << 20, hw);
    check_read(log, m, 10, 1 << 20, 10);

    int64_t size = rn_log_size_bytes(log);
    char p[256];
    last_segment_path(f->dir, ".log", p, sizeof(p));
    assert_int_equal(size, file_size(p));
    rn_log_close(log);
    free(m);
}

static void rolls_by_size_and_reads_across_segments(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 2000;
    f->cfg.index_interval_bytes = 300;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 120, 1000, 40);
    int nseg = count_files(f->dir, ".log");
    assert_true(nseg > 5);
    /* the appender writes no index file: the flusher does, for rolled segments */
    assert_int_equal(count_files(f->dir, ".index"), 0);
    assert_int_equal(count_files(f->dir, ".timeindex"), 0);
    assert_int_equal(rn_log_sync(log), m->n);
    assert_int_equal(count_files(f->dir, ".index"), nseg - 1);
    assert_int_equal(count_files(f->dir, ".timeindex"), nseg - 1);
    check_all_offsets(log, m);
    /* a slice stays in one segment, which never exceeds segment_bytes unless one batch does */
    for (int64_t o = 0; o < m->n; o++) {
        rn_log_slice s;
        assert_int_equal(rn_log_read(log, o, 1 << 20, INT64_MAX, &s), 0);
        struct stat st;
        assert_int_equal(fstat(s.file->fd, &st), 0);
        assert_true(s.pos + s.len <= st.st_size);
        assert_true(st.st_size <= 2000);
        rn_fileref_drop(s.file);
    }
    int64_t total = 0;
    DIR *d = opendir(f->dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".log")) {
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
            total += file_size(p);
        }
    }
    closedir(d);
    assert_int_equal(rn_log_size_bytes(log), total);
    rn_log_close(log);
    assert_int_equal(count_files(f->dir, ".index"), nseg); /* close writes the active one's */
    assert_int_equal(count_files(f->dir, ".timeindex"), nseg);
    free(m);
}

static void rolls_when_the_index_is_full(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.index_interval_bytes = 0; /* an entry per batch */
    f->cfg.segment_index_bytes = 8 * 6;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 40, 1000, 10);
    assert_true(count_files(f->dir, ".log") >= 40 / 6);
    check_all_offsets(log, m);
    rn_log_close(log);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

/* Every .index entry points at a batch start and holds that batch's last
 * offset relative to the segment base. */
static void check_index_file(const char *dir, int64_t base)
{
    char ip[256], lp[256];
    snprintf(ip, sizeof(ip), "%s/%020lld.index", dir, (long long)base);
    snprintf(lp, sizeof(lp), "%s/%020lld.log", dir, (long long)base);
    int ifd = open(ip, O_RDONLY), lfd = open(lp, O_RDONLY);
    assert_true(ifd >= 0 && lfd >= 0);
    uint8_t e[8], h[61];
    int n = 0;
    int64_t prev_pos = -1;
    while (pread(ifd, e, 8, n * 8) == 8) {
        int64_t rel = (int32_t)be_get(e, 4), pos = (int32_t)be_get(e + 4, 4);
        assert_true(pos > prev_pos);
        assert_int_equal(pread(lfd, h, 61, pos), 61);
        int64_t last = (int64_t)be_get(h, 8) + (int32_t)be_get(h + 23, 4);
        assert_int_equal(last - base, rel);
        prev_pos = pos;
        n++;
    }
    assert_true(n > 0);
    close(ifd);
    close(lfd);
}

static void index_lookup_finds_the_batch_with_a_small_interval(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.index_interval_bytes = 200;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 200, 1000, 30);
    check_all_offsets(log, m);
    rn_log_close(log); /* writes the (active) segment's index files */
    check_index_file(f->dir, 0);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    check_all_offsets(log, m);
    /* the in-memory lookup: at or before the batch holding the offset */
    rn_oindex ix;
    char ip[256];
    snprintf(ip, sizeof(ip), "%s/%020d.index", f->dir, 0);
    rn_oindex_init(&ix, f->cfg.segment_index_bytes);
    assert_int_equal(rn_oindex_load(&ix, ip, INT32_MAX, INT64_MAX), 0);
    assert_true(ix.n > 10);
    for (int64_t o = 0; o < m->n; o++) {
        int32_t pos = rn_oindex_lookup(&ix, o);
        for (int32_t i = 0; i < ix.n; i++) {
            if (ix.e[i].pos == pos) {
                assert_true(ix.e[i].rel_offset <= o); /* the batch there ends at or before o */
                assert_true(i + 1 == ix.n || ix.e[i + 1].rel_offset > o);
            }
        }
    }
    rn_oindex_release(&ix);
    rn_log_close(log);
    free(m);
}

/* The first record in offset order whose timestamp >= ts, by brute force. */
static int64_t model_offset_for_time(const rec_model *m, int64_t ts)
{
    for (int64_t o = 0; o < m->n; o++)
        if (m->ts[o] >= ts)
            return o;
    return -1;
}

static void check_times(rn_log *log, const rec_model *m, int64_t lo, int64_t hi)
{
    for (int64_t ts = lo; ts <= hi; ts++) {
        int64_t off = -1, got_ts = -1;
        int64_t want = model_offset_for_time(m, ts);
        int rc = rn_log_offset_for_time(log, ts, &off, &got_ts);
        if (want < 0) {
            assert_int_equal(rc, -ENOENT);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(off, want);
            assert_int_equal(got_ts, m->ts[want]);
        }
    }
}

static void offset_for_time_with_increasing_timestamps(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 3000;
    f->cfg.index_interval_bytes = 250;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 150, 1000, 20);
    check_times(log, m, 0, m->ts[m->n - 1] + 5);
    int64_t ts, off;
    rn_log_max_timestamp(log, &ts, &off);
    assert_int_equal(ts, m->ts[m->n - 1]);
    assert_int_equal(off, m->n - 1);
    rn_log_close(log);
    /* the same after a clean reopen (max timestamps from the time indexes) */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    check_times(log, m, 0, m->ts[m->n - 1] + 5);
    rn_log_max_timestamp(log, &ts, &off);
    assert_int_equal(ts, m->ts[m->n - 1]);
    assert_int_equal(off, m->n - 1);
    rn_log_close(log);
    free(m);
}

static void offset_for_time_with_non_monotonic_timestamps(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 2500;
    f->cfg.index_interval_bytes = 150;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    uint32_t rng = 12345;
    for (int k = 0; k < 150; k++) {
        int n = 1 + k % 5;
        int64_t ts[5] = {0};
        for (int i = 0; i < n; i++) {
            rng = rng * 1103515245u + 12345u;
            ts[i] = 1000 + (rng >> 16) % 800 + k * 3; /* drifting up, jumping around */
        }
        append_batch(log, m, n, ts, 15, 0);
    }
    check_times(log, m, 900, 2400);
    int64_t ts, off, maxts = -1, maxoff = -1;
    for (int64_t o = 0; o < m->n; o++)
        if (m->ts[o] > maxts) {
            maxts = m->ts[o];
            maxoff = o;
        }
    rn_log_max_timestamp(log, &ts, &off);
    assert_int_equal(ts, maxts);
    assert_int_equal(off, maxoff);
    rn_log_close(log);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0); /* rebuilt time indexes */
    check_times(log, m, 900, 2400);
    rn_log_close(log);
    free(m);
}

static void offset_for_time_in_a_compressed_batch_gives_its_base(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    int64_t t1[3] = {100, 110, 120}, t2[3] = {200, 250, 300};
    append_batch(log, m, 3, t1, 10, 0);
    append_batch(log, m, 3, t2, 10, 1 /* gzip: records are opaque to the log */);
    int64_t off, ts;
    assert_int_equal(rn_log_offset_for_time(log, 240, &off, &ts), 0);
    assert_int_equal(off, 3);
    assert_int_equal(ts, 300);
    assert_int_equal(rn_log_offset_for_time(log, 115, &off, &ts), 0);
    assert_int_equal(off, 2);
    assert_int_equal(ts, 120);
    assert_int_equal(rn_log_offset_for_time(log, 301, &off, &ts), -ENOENT);
    rn_log_max_timestamp(log, &ts, &off);
    assert_int_equal(ts, 300);
    assert_int_equal(off, 5); /* the batch's last offset (Kafka's shallow offset) */
    rn_log_close(log);
    free(m);
}

static void reopen_after_clean_close_preserves_everything(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 4000;
    f->cfg.index_interval_bytes = 500;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 100, 1000, 30);
    int64_t size = rn_log_size_bytes(log), ts1, off1;
    rn_log_max_timestamp(log, &ts1, &off1);
    rn_log_close(log);

    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    assert_int_equal(rn_log_start_offset(log), 0);
    assert_int_equal(rn_log_size_bytes(log), size);
    assert_int_equal(rn_log_recovery_point(log), m->n);
    int64_t ts2, off2;
    rn_log_max_timestamp(log, &ts2, &off2);
    assert_int_equal(ts2, ts1);
    assert_int_equal(off2, off1);
    check_all_offsets(log, m);
    append_many(log, m, 20, 1000, 30);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

static void torn_tail_is_truncated_to_the_last_whole_batch(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 30, 1000, 40);
    int64_t last_base = m->batch_base[m->n - 1];
    rn_log_close(log);

    char p[256];
    last_segment_path(f->dir, ".log", p, sizeof(p));
    int64_t sz = file_size(p);
    assert_int_equal(truncate(p, sz - 20), 0); /* cut the last batch short */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    assert_int_equal(rn_log_end_offset(log), last_base);
    m->n = last_base;
    check_all_offsets(log, m);
    append_many(log, m, 3, 1000, 40); /* continues at the right offset */
    check_all_offsets(log, m);
    rn_log_close(log);

    /* a few stray bytes (less than a header) past the last batch */
    last_segment_path(f->dir, ".log", p, sizeof(p));
    sz = file_size(p);
    int fd = open(p, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "\0\0\0\0\0", 5), 5);
    close(fd);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    assert_int_equal(file_size(p), sz);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

static void flipped_byte_in_the_last_batch_truncates_there(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 30, 1000, 40);
    int64_t last_base = m->batch_base[m->n - 1];
    rn_log_close(log);

    char p[256];
    last_segment_path(f->dir, ".log", p, sizeof(p));
    int64_t sz = file_size(p);
    int fd = open(p, O_RDWR);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, sz - 5), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, sz - 5), 1);
    close(fd);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    assert_int_equal(rn_log_end_offset(log), last_base);
    m->n = last_base;
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

static void corruption_in_a_middle_segment_deletes_the_later_ones(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 1500;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 60, 1000, 40);
    rn_log_close(log);
    int nseg = count_files(f->dir, ".log");
    assert_true(nseg >= 4);

    /* no recovery point: everything is checked; corrupt segment #2's second batch */
    char rp[256], p[512];
    snprintf(rp, sizeof(rp), "%s/recovery-point", f->dir);
    assert_int_equal(unlink(rp), 0);
    DIR *d = opendir(f->dir);
    char names[64][32];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strlen(de->d_name) == 24 && strstr(de->d_name, ".log") && n < 64)
            memcpy(names[n++], de->d_name, 25);
    closedir(d);
    qsort(names, (size_t)n, 32, (int (*)(const void *, const void *))strcmp);
    snprintf(p, sizeof(p), "%s/%s", f->dir, names[2]);
    int fd = open(p, O_RDWR);
    uint8_t h[12];
    assert_int_equal(pread(fd, h, 12, 0), 12);
    int64_t first_size = 12 + (int64_t)be_get(h + 8, 4);
    int64_t second_base;
    assert_int_equal(pread(fd, h, 12, first_size), 12);
    second_base = (int64_t)be_get(h, 8);
    uint8_t bad = 0x7f;
    assert_int_equal(pwrite(fd, &bad, 1, first_size + 16), 1); /* magic */
    close(fd);

    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    assert_int_equal(rn_log_end_offset(log), second_base);
    assert_int_equal(count_files(f->dir, ".log"), 3);
    assert_int_equal(file_size(p), first_size);
    m->n = second_base;
    check_all_offsets(log, m);
    append_many(log, m, 5, 1000, 40);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

static void segments_below_the_recovery_point_are_trusted(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 1500;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 60, 1000, 40);
    rn_log_close(log); /* checkpoint = end */
    char p[256];
    snprintf(p, sizeof(p), "%s/%020d.log", f->dir, 0);
    int fd = open(p, O_RDWR);
    uint8_t bad = 0x7f;
    assert_int_equal(pwrite(fd, &bad, 1, 100), 1); /* inside a record: CRC broken */
    close(fd);
    int64_t sz = file_size(p);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    assert_int_equal(rn_log_end_offset(log), m->n); /* not checked, not truncated */
    assert_int_equal(file_size(p), sz);
    rn_log_close(log);
    free(m);
}

static void deleted_index_is_rebuilt(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.index_interval_bytes = 200;
    f->cfg.segment_bytes = 8000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 150, 1000, 30);
    rn_log_close(log);
    char ip[256];
    snprintf(ip, sizeof(ip), "%s/%020d.index", f->dir, 0);
    int64_t isz = file_size(ip);
    assert_true(isz > 0);
    assert_int_equal(unlink(ip), 0);
    snprintf(ip, sizeof(ip), "%s/%020d.timeindex", f->dir, 0);
    int64_t tsz = file_size(ip);
    assert_int_equal(unlink(ip), 0);

    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 1);
    assert_int_equal(file_size(ip), tsz);
    snprintf(ip, sizeof(ip), "%s/%020d.index", f->dir, 0);
    assert_int_equal(file_size(ip), isz);
    check_index_file(f->dir, 0);
    check_all_offsets(log, m);
    check_times(log, m, 990, 1000 + m->n * 10);
    rn_log_close(log);

    /* an inconsistent index (entry past the end of the log) is rebuilt too */
    int fd = open(ip, O_WRONLY | O_APPEND);
    uint8_t junk[8] = {0x7f, 0, 0, 0, 0x7f, 0, 0, 0};
    assert_int_equal(write(fd, junk, 8), 8);
    close(fd);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 1);
    assert_int_equal(file_size(ip), isz);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

/* ---- injected disk errors ---- */

static int inject_calls;      /* pwrites seen since arming */
static int inject_fail_at;    /* the pwrite call (1-based) that fails */
static int inject_torn;       /* that call first writes half and returns short */
static int inject_errno = ENOSPC;

static ssize_t failing_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    int call = ++inject_calls;
    if (call == inject_fail_at && inject_torn && n > 1) {
        inject_torn = 0;
        inject_calls--; /* the retry of the rest is the failing call */
        return pwrite(fd, buf, n / 2, off);
    }
    if (call == inject_fail_at) {
        errno = inject_errno;
        return -1;
    }
    return pwrite(fd, buf, n, off);
}

static void check_append_failure_leaves_the_log_unchanged(fixture *f, int fail_at, int torn)
{
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.index_interval_bytes = 0; /* every append writes index entries too */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 20, 1000, 40);
    char p[256];
    last_segment_path(f->dir, ".log", p, sizeof(p));
    int64_t sz = file_size(p), bytes = rn_log_size_bytes(log);
    char ip[300];
    snprintf(ip, sizeof(ip), "%s/%020d.index", f->dir, 0);
    int64_t isz = file_size(ip);

    inject_calls = 0;
    inject_fail_at = fail_at;
    inject_torn = torn;
    rn_log_io_ops.pwrite = failing_pwrite;
    tbuf b = {0};
    int64_t ts[2] = {1000000000, 1000000001}, base, last; /* new max: a time index entry too */
    build_batch(&b, 2, ts, 100, 0);
    build_batch(&b, 2, ts, 100, 0);
    assert_int_equal(rn_log_append(log, b.p, b.len, 2, &base, &last), -ENOSPC);
    rn_log_io_reset();

    assert_int_equal(rn_log_end_offset(log), m->n);
    assert_int_equal(rn_log_size_bytes(log), bytes);
    assert_int_equal(file_size(p), sz);
    assert_int_equal(file_size(ip), isz);
    check_all_offsets(log, m);
    append_many(log, m, 5, 1000, 40);
    check_all_offsets(log, m);
    rn_log_close(log);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(b.p);
    free(m);
}

static void enospc_on_append_leaves_the_log_unchanged(void **state)
{
    check_append_failure_leaves_the_log_unchanged(*state, 1, 0);
}

static void torn_write_on_append_leaves_the_log_unchanged(void **state)
{
    check_append_failure_leaves_the_log_unchanged(*state, 1, 1);
}

/* The appender writes only the .log: the index files are the flusher's
 * (after a roll) and close's. A failed index write there removes the
 * files, keeps the recovery point where it was, and is retried; the log
 * does not fail (the data is durable). */
static void index_write_failure_in_the_flusher_is_retried(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 1500;
    f->cfg.index_interval_bytes = 100;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 40, 1000, 40);
    int nseg = count_files(f->dir, ".log");
    assert_true(nseg >= 4);

    inject_calls = 0;
    inject_fail_at = 3; /* segment 0 stored (2 pwrites), segment 1's .timeindex fails */
    inject_torn = 0;
    rn_log_io_ops.pwrite = failing_pwrite;
    /* the data is durable (that is what the broker acks on) ... */
    assert_int_equal(rn_log_sync(log), m->n);
    rn_log_io_reset();
    /* ... but the recovery point, in memory and on disk, must not pass segment 1 */
    assert_int_equal(rn_log_recovery_point(log), 0);
    char rp[256];
    snprintf(rp, sizeof(rp), "%s/recovery-point", f->dir);
    assert_int_equal(file_size(rp), -1);
    check_index_file(f->dir, 0);
    assert_int_equal(count_files(f->dir, ".index"), nseg - 2); /* segment 1's removed */
    assert_int_equal(count_files(f->dir, ".timeindex"), nseg - 2);
    /* not fatal: appends go on, and the next sync writes what is missing */
    append_many(log, m, 3, 1000, 40);
    nseg = count_files(f->dir, ".log");
    assert_int_equal(rn_log_sync(log), m->n);
    assert_int_equal(rn_log_recovery_point(log), m->n);
    assert_int_equal(count_files(f->dir, ".index"), nseg - 1);
    assert_int_equal(count_files(f->dir, ".timeindex"), nseg - 1);
    check_all_offsets(log, m);
    rn_log_close(log);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    check_all_offsets(log, m);
    check_times(log, m, 990, 1000 + m->n * 10);
    rn_log_close(log);
    free(m);
}

static void index_write_failure_at_close_is_rebuilt_at_open(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.index_interval_bytes = 100;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 40, 1000, 40);
    inject_calls = 0;
    inject_fail_at = 2; /* the active segment's .index */
    inject_torn = 0;
    rn_log_io_ops.pwrite = failing_pwrite;
    rn_log_close(log);
    rn_log_io_reset();
    assert_int_equal(count_files(f->dir, ".index"), 0);
    assert_int_equal(count_files(f->dir, ".timeindex"), 0);
    /* a "clean" open still rebuilds what is missing */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 1);
    check_index_file(f->dir, 0);
    check_all_offsets(log, m);
    check_times(log, m, 990, 1000 + m->n * 10);
    rn_log_close(log);
    free(m);
}

static int fdatasync_calls, log_fdatasync_calls;

static int counting_fdatasync(int fd)
{
    char link[64], target[512];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n > 4 && memcmp(target + n - 4, ".log", 4) == 0)
        log_fdatasync_calls++; /* of a segment's .log */
    fdatasync_calls++;
    return fdatasync(fd);
}

static int eio_fdatasync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

static void sync_advances_the_recovery_point(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 2000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_recovery_point(log), 0);
    append_many(log, m, 30, 1000, 40); /* several segments, all dirty */
    assert_int_equal(rn_log_recovery_point(log), 0);
    fdatasync_calls = 0;
    rn_log_io_ops.fdatasync = counting_fdatasync;
    assert_int_equal(rn_log_sync(log), m->n);
    int nseg = count_files(f->dir, ".log");
    /* every .log; the index files of the rolled segments (not of the
     * active one, written at close); the checkpoint */
    assert_int_equal(fdatasync_calls, nseg + 2 * (nseg - 1) + 1);
    assert_int_equal(rn_log_recovery_point(log), m->n);
    char rp[256], buf[64] = {0};
    snprintf(rp, sizeof(rp), "%s/recovery-point", f->dir);
    int fd = open(rp, O_RDONLY);
    assert_true(fd >= 0);
    assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
    close(fd);
    char want[64];
    snprintf(want, sizeof(want), "0\n%lld\n", (long long)m->n);
    assert_string_equal(buf, want);

    /* nothing dirty: no fdatasync at all */
    fdatasync_calls = 0;
    assert_int_equal(rn_log_sync(log), m->n);
    assert_int_equal(fdatasync_calls, 0);
    /* only the active segment is dirty now */
    append_many(log, m, 1, 1000, 10);
    fdatasync_calls = 0;
    assert_int_equal(rn_log_sync(log), m->n);
    assert_int_equal(fdatasync_calls, 1); /* its .log only */
    rn_log_io_reset();

    /* an fdatasync error: no progress, and the log refuses writes */
    append_many(log, m, 1, 1000, 10);
    rn_log_io_ops.fdatasync = eio_fdatasync;
    assert_int_equal(rn_log_sync(log), -EIO);
    rn_log_io_reset();
    assert_int_equal(rn_log_recovery_point(log), m->n - 1);
    tbuf b = {0};
    int64_t ts[1] = {1}, base, last;
    build_batch(&b, 1, ts, 10, 0);
    assert_int_equal(rn_log_append(log, b.p, b.len, 1, &base, &last), -EIO);
    free(b.p);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

static void slice_keeps_a_deleted_segment_readable(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 10, 1000, 40);
    rn_log_slice s;
    assert_int_equal(rn_log_read(log, 3, 1 << 20, INT64_MAX, &s), 0);
    assert_int_equal(rn_log_delete(log), 0);
    struct stat st;
    assert_int_equal(stat(f->dir, &st), -1); /* the folder is gone */
    uint8_t h[61];
    assert_int_equal(pread(s.file->fd, h, 61, s.pos), 61);
    int64_t base = (int64_t)be_get(h, 8);
    assert_true(base <= 3 && 3 <= base + (int64_t)be_get(h + 23, 4));
    int fd = s.file->fd;
    rn_fileref_drop(s.file); /* the last reference closes the file */
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    free(m);
}

/* ---- reads at the tail (log.c: "Reads at the tail") ---- */

static int tail_preads;

static ssize_t counting_pread(int fd, void *buf, size_t n, off_t off)
{
    tail_preads++;
    return pread(fd, buf, n, off);
}

/* Reads at offset through check_read and returns the preads the log made. */
static int preads_for_read(rn_log *log, const rec_model *m, int64_t offset, int32_t max_bytes, int64_t max_offset)
{
    tail_preads = 0;
    rn_log_io_ops.pread = counting_pread;
    check_read(log, m, offset, max_bytes, max_offset);
    rn_log_io_reset();
    return tail_preads;
}

/* Base offsets of the last k appends of append_many-style single batches. */
static int64_t nth_last_batch_base(const rec_model *m, int k)
{
    int64_t o = m->n - 1;
    for (int i = 1; i < k; i++)
        o = m->batch_base[o] - 1;
    return m->batch_base[o];
}

static void reads_where_recent_appends_started_need_no_pread(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.index_interval_bytes = 4096; /* the fallback would scan many headers */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 40, 1000, 60);
    for (int k = 1; k <= 16; k++) {
        int64_t o = nth_last_batch_base(m, k);
        assert_int_equal(preads_for_read(log, m, o, 1 << 20, INT64_MAX), 0);
        assert_int_equal(preads_for_read(log, m, o, 1, INT64_MAX), 0);    /* KIP-74: the first batch whole */
        assert_int_equal(preads_for_read(log, m, o, 150, INT64_MAX), 0);  /* cut by max_bytes */
        if (k > 1) /* bounded by a later append's start: still no I/O */
            assert_int_equal(preads_for_read(log, m, o, 1 << 20, nth_last_batch_base(m, k - 1)), 0);
    }
    /* at the end: nothing, without I/O; at older offsets, inside a batch, or
     * bounded elsewhere: the index and the headers, and the same answer */
    assert_int_equal(preads_for_read(log, m, m->n, 1 << 20, INT64_MAX), 0);
    assert_true(preads_for_read(log, m, nth_last_batch_base(m, 17), 1 << 20, INT64_MAX) > 0);
    int64_t last_base = nth_last_batch_base(m, 1);
    if (m->batch_last[last_base] > last_base)
        assert_true(preads_for_read(log, m, last_base + 1, 1 << 20, INT64_MAX) > 0);
    check_all_offsets(log, m);
    for (int64_t hw = m->n - 30; hw <= m->n; hw++)
        for (int64_t o = m->n - 40; o < hw; o++)
            check_read(log, m, o, 1 << 20, hw);
    rn_log_close(log);
    free(m);
}

static void tail_reads_after_a_roll_use_the_new_segment(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 2000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 10, 1000, 40);
    int nseg = count_files(f->dir, ".log");
    int64_t before_roll = nth_last_batch_base(m, 1);
    while (count_files(f->dir, ".log") == nseg)
        append_many(log, m, 1, 1000, 40);
    /* the append that rolled is the new segment's first batch */
    int64_t first_new = nth_last_batch_base(m, 1);
    rn_log_slice s;
    tail_preads = 0;
    rn_log_io_ops.pread = counting_pread;
    assert_int_equal(rn_log_read(log, first_new, 1 << 20, INT64_MAX, &s), 0);
    rn_log_io_reset();
    assert_int_equal(tail_preads, 0);
    assert_int_equal(s.pos, 0);
    rn_fileref_drop(s.file);
    /* the marks of the old segment are gone: its reads take the index path */
    assert_true(preads_for_read(log, m, before_roll, 1 << 20, INT64_MAX) > 0);
    append_many(log, m, 3, 1000, 40);
    assert_int_equal(preads_for_read(log, m, first_new, 1 << 20, INT64_MAX), 0);
    check_all_offsets(log, m);
    /* retention rolls an expired active segment and deletes it: the marks go with it */
    int64_t deleted;
    int64_t tail = nth_last_batch_base(m, 1);
    assert_int_equal(rn_log_enforce_retention(log, INT64_MAX / 2, INT64_MAX / 4, -1, &deleted), 0);
    assert_true(deleted > 0);
    assert_int_equal(rn_log_start_offset(log), m->n);
    assert_int_equal(rn_log_read(log, tail, 1 << 20, INT64_MAX, &s), -ERANGE);
    append_many(log, m, 2, 1000, 40);
    assert_int_equal(preads_for_read(log, m, nth_last_batch_base(m, 1), 1 << 20, INT64_MAX), 0);
    assert_int_equal(preads_for_read(log, m, nth_last_batch_base(m, 2), 1 << 20, INT64_MAX), 0);
    for (int64_t o = rn_log_start_offset(log); o <= m->n; o++)
        check_read(log, m, o, 1 << 20, INT64_MAX);
    rn_log_close(log);
    free(m);
}

/* A failed append is cut off the file: it leaves no mark, and the next
 * append at the same offset (other bytes) is read right. */
static void tail_reads_after_a_failed_append_are_right(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 8, 1000, 40);
    inject_calls = 0;
    inject_fail_at = 1;
    inject_torn = 1;
    rn_log_io_ops.pwrite = failing_pwrite;
    tbuf b = {0};
    int64_t ts[3] = {2000, 2001, 2002}, base, last;
    build_batch(&b, 3, ts, 300, 0);
    assert_int_equal(rn_log_append(log, b.p, b.len, 1, &base, &last), -ENOSPC);
    rn_log_io_reset();
    free(b.p);
    assert_int_equal(preads_for_read(log, m, m->n, 1 << 20, INT64_MAX), 0); /* the end: nothing */
    int64_t ts1[1] = {3000};
    append_batch(log, m, 1, ts1, 10, 0);
    assert_int_equal(preads_for_read(log, m, m->n - 1, 1 << 20, INT64_MAX), 0);
    assert_int_equal(preads_for_read(log, m, nth_last_batch_base(m, 2), 1 << 20, INT64_MAX), 0);
    check_all_offsets(log, m);
    /* DeleteRecords inside the active segment: below it out of range, above unchanged */
    int64_t start;
    int64_t cut = nth_last_batch_base(m, 2);
    assert_int_equal(rn_log_delete_records(log, cut, &start), 0);
    assert_int_equal(start, cut);
    rn_log_slice s;
    assert_int_equal(rn_log_read(log, cut - 1, 1 << 20, INT64_MAX, &s), -ERANGE);
    assert_int_equal(preads_for_read(log, m, cut, 1 << 20, INT64_MAX), 0);
    rn_log_close(log);
    free(m);
}

/* ---- open files and crashes ---- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own */
}

/* What a crash of the process leaves: the files as they are now (the log
 * stays open; the caller closes it afterwards). */
static void copy_dir(const char *src, const char *dst)
{
    assert_int_equal(mkdir(dst, 0755), 0);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sp[512], dp[512];
        snprintf(sp, sizeof(sp), "%s/%s", src, de->d_name);
        snprintf(dp, sizeof(dp), "%s/%s", dst, de->d_name);
        int in = open(sp, O_RDONLY), out = open(dp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(in >= 0 && out >= 0);
        char buf[8192];
        ssize_t r;
        while ((r = read(in, buf, sizeof(buf))) > 0)
            assert_int_equal(write(out, buf, (size_t)r), r);
        assert_int_equal(r, 0);
        close(in);
        close(out);
    }
    closedir(d);
}

static int64_t read_checkpoint(const char *dir)
{
    char p[512], buf[64] = {0};
    snprintf(p, sizeof(p), "%s/recovery-point", dir);
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return 0;
    assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
    close(fd);
    long long v, off;
    assert_int_equal(sscanf(buf, "%lld\n%lld", &v, &off), 2);
    return off;
}

/* Base offsets of the segments in dir, sorted; returns how many. */
static int segment_bases(const char *dir, int64_t *bases, int cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strlen(de->d_name) == 24 && strcmp(de->d_name + 20, ".log") == 0 && n < cap)
            bases[n++] = strtoll(de->d_name, NULL, 10);
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && bases[j - 1] > bases[j]; j--) {
            int64_t t = bases[j];
            bases[j] = bases[j - 1];
            bases[j - 1] = t;
        }
    return n;
}

/* Every segment an unclean open would trust (the next base below the
 * checkpoint) has its index files, matching its .log. */
static void check_trusted_segments_have_indexes(const char *dir)
{
    int64_t bases[256], rp = read_checkpoint(dir);
    int n = segment_bases(dir, bases, 256);
    for (int i = 0; i + 1 < n && bases[i + 1] < rp; i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%020lld.timeindex", dir, (long long)bases[i]);
        assert_true(file_size(p) > 0);
        check_index_file(dir, bases[i]);
    }
}

/* ---- blocks reserved ahead of appends (segment.c: rn_segment_reserve) ---- */

static int64_t blocks_bytes(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (int64_t)st.st_blocks * 512;
}

/* 1 when the folder's file system reserves blocks (fallocate KEEP_SIZE). */
static int can_reserve(const char *dir)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/probe", dir);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    int ok = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20) == 0;
    close(fd);
    unlink(p);
    return ok;
}

static void reserved_blocks_leave_the_size_alone_and_go_at_roll_and_close(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 400 * 1024;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    int reserves = can_reserve(f->dir);
    append_many(log, m, 1, 1000, 200);
    char p[256];
    last_segment_path(f->dir, ".log", p, sizeof(p));
    assert_int_equal(file_size(p), rn_log_size_bytes(log)); /* the size is only what was appended */
    if (reserves) /* the first append reserves 64 KiB ahead */
        assert_true(blocks_bytes(p) >= file_size(p) + 60 * 1024);
    append_many(log, m, 99, 1000, 200);
    assert_int_equal(file_size(p), rn_log_size_bytes(log));
    /* an mtime long past, which the roll's release must leave alone (retention reads it) */
    struct timespec old_mtime[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 1000000}};
    assert_int_equal(utimensat(AT_FDCWD, p, old_mtime, 0), 0);
    int64_t size = file_size(p);
    rn_log_config c = f->cfg;
    c.segment_ms = 1; /* the next append rolls */
    rn_log_set_config(log, &c);
    append_many(log, m, 1, 1000, 200);
    assert_int_equal(count_files(f->dir, ".log"), 2);
    struct stat after;
    assert_int_equal(stat(p, &after), 0);
    assert_true(after.st_blocks * 512 <= after.st_size + 4096); /* given back at the roll */
    assert_int_equal(after.st_size, size);
    assert_int_equal(after.st_mtim.tv_sec, 1000000);
    assert_int_equal(after.st_mtim.tv_nsec, 0);
    check_all_offsets(log, m);
    last_segment_path(f->dir, ".log", p, sizeof(p));
    rn_log_close(log);
    assert_true(blocks_bytes(p) <= file_size(p) + 4096); /* and at close */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

/* A crash leaves the active segment's reservation past its end: recovery
 * sees only the bytes appended, and the next roll gives the blocks back. */
static void blocks_reserved_before_a_crash_are_harmless(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 400 * 1024;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 50, 1000, 200);
    char crash[256], p[256];
    snprintf(crash, sizeof(crash), "%s/crashed", f->root);
    copy_dir(f->dir, crash);
    rn_log_close(log);
    last_segment_path(crash, ".log", p, sizeof(p));
    int64_t size = file_size(p);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    int reserved = fallocate(fd, FALLOC_FL_KEEP_SIZE, size, 1 << 20) == 0;
    close(fd);
    assert_int_equal(file_size(p), size);

    assert_int_equal(rn_log_open(crash, &f->cfg, 0, &log), 0);
    assert_int_equal(file_size(p), size); /* nothing cut off */
    check_all_offsets(log, m);
    while (count_files(crash, ".log") == 1)
        append_many(log, m, 1, 1000, 200);
    if (reserved)
        assert_true(blocks_bytes(p) <= file_size(p) + 4096);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

static void each_segment_keeps_one_fd_open(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 1500;
    f->cfg.index_interval_bytes = 200;
    int before = count_fds();
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(count_fds() - before, 1);
    append_many(log, m, 80, 1000, 40);
    int nseg = count_files(f->dir, ".log");
    assert_true(nseg >= 6);
    assert_int_equal(count_fds() - before, nseg);
    assert_int_equal(rn_log_sync(log), m->n); /* writes the rolled segments' index files */
    assert_int_equal(count_fds() - before, nseg);
    rn_log_slice s; /* a slice shares its segment's fd */
    assert_int_equal(rn_log_read(log, 3, 1 << 20, INT64_MAX, &s), 0);
    assert_int_equal(count_fds() - before, nseg);
    rn_fileref_drop(s.file);
    rn_log_close(log);
    assert_int_equal(count_fds(), before);

    /* reopened clean: one fd per segment, indexes loaded, none rebuilt */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(count_fds() - before, nseg);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    check_all_offsets(log, m);
    check_times(log, m, 990, 1000 + m->n * 10);
    rn_log_close(log);
    /* reopened after a "crash" right after that close: only the active one is checked */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    assert_int_equal(count_fds() - before, nseg);
    assert_int_equal(rn_log_index_rebuilds(log), 1);
    check_all_offsets(log, m);
    rn_log_close(log);
    assert_int_equal(count_fds(), before);
    free(m);
}

/* Reads every index file in dir into one buffer (sorted by name). */
static size_t slurp_indexes(const char *dir, uint8_t *out, size_t cap)
{
    int64_t bases[256];
    int n = segment_bases(dir, bases, 256);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            char p[256];
            snprintf(p, sizeof(p), "%s/%020lld%s", dir, (long long)bases[i], k ? ".timeindex" : ".index");
            int fd = open(p, O_RDONLY);
            assert_true(fd >= 0);
            ssize_t r;
            while ((r = read(fd, out + len, cap - len)) > 0)
                len += (size_t)r;
            close(fd);
        }
    return len;
}

static void indexes_survive_a_clean_reopen_unchanged(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 3000;
    f->cfg.index_interval_bytes = 150;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 100, 1000, 30);
    rn_log_close(log);
    static uint8_t a[1 << 16], b[1 << 16];
    size_t alen = slurp_indexes(f->dir, a, sizeof(a));
    assert_true(alen > 0);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    check_all_offsets(log, m);
    check_times(log, m, 990, 1000 + m->n * 10);
    rn_log_close(log); /* writes the active segment's files again: the same bytes */
    size_t blen = slurp_indexes(f->dir, b, sizeof(b));
    assert_int_equal(blen, alen);
    assert_memory_equal(a, b, alen);
    int64_t bases[64];
    int n = segment_bases(f->dir, bases, 64);
    for (int i = 0; i < n; i++)
        check_index_file(f->dir, bases[i]);

    /* the active segment's files from that close, then more appends and a
     * clean close that could not write them: stale, found short, rebuilt */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    char tp[256], ip[256];
    snprintf(tp, sizeof(tp), "%s/%020lld.timeindex", f->dir, (long long)bases[n - 1]);
    snprintf(ip, sizeof(ip), "%s/%020lld.index", f->dir, (long long)bases[n - 1]);
    int64_t tsz = file_size(tp), isz = file_size(ip);
    uint8_t told[4096], iold[4096];
    assert_true(tsz > 0 && tsz <= 4096 && isz <= 4096);
    int fd = open(tp, O_RDONLY);
    assert_int_equal(read(fd, told, sizeof(told)), tsz);
    close(fd);
    fd = open(ip, O_RDONLY);
    assert_int_equal(read(fd, iold, sizeof(iold)), isz);
    close(fd);
    int64_t ts[1] = {1000 + m->n * 10 + 500};
    append_batch(log, m, 1, ts, 30, 0);
    rn_log_close(log);
    fd = open(tp, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, told, (size_t)tsz), tsz);
    close(fd);
    fd = open(ip, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, iold, (size_t)isz), isz);
    close(fd);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 1);
    int64_t mts, moff;
    rn_log_max_timestamp(log, &mts, &moff);
    assert_int_equal(mts, ts[0]);
    assert_int_equal(moff, m->n - 1);
    check_times(log, m, ts[0] - 600, ts[0] + 1);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

static void crash_with_the_active_index_never_written_recovers(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 3000;
    f->cfg.index_interval_bytes = 250;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 150, 1000, 20);
    assert_int_equal(rn_log_sync(log), m->n);
    char p[256];
    last_segment_path(f->dir, ".log", p, sizeof(p));
    size_t pl = strlen(p);
    strcpy(p + pl - 4, ".index");
    assert_int_equal(file_size(p), -1); /* never written */
    strcpy(p + pl - 4, ".timeindex");
    assert_int_equal(file_size(p), -1);
    check_trusted_segments_have_indexes(f->dir);
    int nseg = count_files(f->dir, ".log");

    char crash[256];
    snprintf(crash, sizeof(crash), "%s/crashed", f->root);
    copy_dir(f->dir, crash);
    rn_log_close(log);

    assert_int_equal(rn_log_open(crash, &f->cfg, 0, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 1); /* only the active segment */
    assert_int_equal(count_files(crash, ".index"), nseg);
    check_all_offsets(log, m);
    check_times(log, m, 0, m->ts[m->n - 1] + 5);
    int64_t ts, off;
    rn_log_max_timestamp(log, &ts, &off);
    assert_int_equal(ts, m->ts[m->n - 1]);
    assert_int_equal(off, m->n - 1);
    append_many(log, m, 30, 1000, 20);
    check_all_offsets(log, m);
    rn_log_close(log);
    assert_int_equal(rn_log_open(crash, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

/* Crashes at many points of appends, rolls and syncs: every segment the
 * checkpoint vouches for has its index files on disk, and recovery gets
 * every offset and time right. */
static void crash_between_a_roll_and_the_flusher_recovers(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 1200;
    f->cfg.index_interval_bytes = 100;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    for (int round = 0; round < 12; round++) {
        append_many(log, m, 3 + round % 5, 1000, 30);
        if (round % 3 != 2)
            assert_int_equal(rn_log_sync(log), m->n);
        check_trusted_segments_have_indexes(f->dir);
        if (round % 4 != 3)
            continue;
        char crash[256];
        snprintf(crash, sizeof(crash), "%s/crashed%d", f->root, round);
        copy_dir(f->dir, crash);
        rn_log *c;
        assert_int_equal(rn_log_open(crash, &f->cfg, 0, &c), 0);
        check_all_offsets(c, m);
        check_times(c, m, 990, 1000 + m->n * 10);
        rn_log_close(c);
    }
    rn_log_close(log);
    free(m);
}

/* A sync just before a roll leaves the checkpoint at the next segment's
 * base, with the rolled segment's index files older than its end (here
 * even in a way the tail check cannot see: the late batch carries an old
 * timestamp). That segment is checked, not trusted. */
static void segment_ending_at_the_recovery_point_is_checked(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 1500;
    f->cfg.index_interval_bytes = 100;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 3, 1000, 20);
    rn_log_close(log); /* segment 0's index files: 3 batches */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    int64_t ts[1] = {500};
    append_batch(log, m, 1, ts, 20, 0); /* not in those files */
    assert_int_equal(rn_log_sync(log), m->n);
    assert_int_equal(read_checkpoint(f->dir), m->n);
    int64_t roll_at = m->n, ts2[1] = {40000};
    append_batch(log, m, 1, ts2, 1400, 0); /* rolls: segment 1 starts at the checkpoint */
    assert_int_equal(count_files(f->dir, ".log"), 2);
    char p[256];
    snprintf(p, sizeof(p), "%s/%020lld.log", f->dir, (long long)roll_at);
    assert_true(file_size(p) > 0);
    char crash[256];
    snprintf(crash, sizeof(crash), "%s/crashed", f->root);
    copy_dir(f->dir, crash);
    rn_log_close(log);

    assert_int_equal(rn_log_open(crash, &f->cfg, 0, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 2);
    int64_t mts, moff;
    rn_log_max_timestamp(log, &mts, &moff);
    assert_int_equal(mts, 40000);
    assert_int_equal(moff, roll_at);
    check_times(log, m, 400, 40001);
    check_all_offsets(log, m);
    rn_log_close(log);
    assert_int_equal(rn_log_open(crash, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    check_index_file(crash, 0);
    rn_log_close(log);
    free(m);
}

/* ---- index entries checked when used; the tail's continuity; no I/O when nothing changed ---- */

/* Every .index entry but the last is moved 13 bytes into its batch (still
 * increasing, so the file loads): reads and time lookups that use them
 * find a non-batch there, scan the segment instead, and the index is
 * rebuilt (the files rewritten by the next sync or at close). */
static void bad_index_entries_are_caught_when_used(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 3000;
    f->cfg.index_interval_bytes = 150;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 120, 1000, 30);
    rn_log_close(log);
    int64_t bases[64];
    int n = segment_bases(f->dir, bases, 64), damaged = 0;
    assert_true(n >= 3);
    for (int i = 0; i < n; i++) {
        char ip[256];
        snprintf(ip, sizeof(ip), "%s/%020lld.index", f->dir, (long long)bases[i]);
        int fd = open(ip, O_RDWR);
        assert_true(fd >= 0);
        uint8_t e[8];
        for (int k = 0; pread(fd, e, 8, (k + 1) * 8) == 8; k++) { /* entry k is not the last */
            assert_int_equal(pread(fd, e, 8, k * 8), 8);
            be_patch32(e + 4, (uint32_t)be_get(e + 4, 4) + 13);
            assert_int_equal(pwrite(fd, e, 8, k * 8), 8);
            damaged++;
        }
        close(fd);
    }
    assert_true(damaged > 10);

    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0); /* only the last entries are checked at open */
    check_all_offsets(log, m);
    check_times(log, m, 990, 1000 + m->n * 10);
    for (int64_t o = 0; o < m->n; o += 7) /* reads bounded by an offset (the stop entry) */
        check_read(log, m, o, 1 << 20, o + 9);
    assert_true(rn_log_sync(log) >= 0); /* writes the rebuilt sealed segments' files */
    rn_log_close(log);                  /* and the active one's */
    for (int i = 0; i < n; i++)
        check_index_file(f->dir, bases[i]);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    check_all_offsets(log, m);
    check_times(log, m, 990, 1000 + m->n * 10);
    rn_log_close(log);
    free(m);
}

/* A copy of the last batch appended after a clean close (the same offsets
 * again) is cut off at open, clean or not; so is a batch going backwards. */
static void tail_batch_repeating_offsets_is_cut_off(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.index_interval_bytes = 300;
    for (int clean = 1; clean >= 0; clean--) {
        assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
        append_many(log, m, 20, 1000, 40);
        rn_log_close(log);
        char p[256];
        last_segment_path(f->dir, ".log", p, sizeof(p));
        int64_t sz = file_size(p);
        int fd = open(p, O_RDWR);
        uint8_t h[12];
        /* the last batch: find it by walking the headers */
        int64_t pos = 0, last_pos = 0;
        while (pos < sz) {
            assert_int_equal(pread(fd, h, 12, pos), 12);
            last_pos = pos;
            pos += 12 + (int64_t)be_get(h + 8, 4);
        }
        size_t len = (size_t)(sz - last_pos);
        uint8_t *copy = malloc(len);
        assert_int_equal(pread(fd, copy, len, last_pos), (ssize_t)len);
        assert_int_equal(pwrite(fd, copy, len, sz), (ssize_t)len);
        free(copy);
        close(fd);
        assert_int_equal(rn_log_open(f->dir, &f->cfg, clean, &log), 0);
        assert_int_equal(file_size(p), sz);
        check_all_offsets(log, m); /* each offset once */
        rn_log_close(log);
    }
    free(m);
}

static int io_opens_for_write;
static int counting_open(const char *path, int flags, mode_t mode)
{
    if (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC))
        io_opens_for_write += (flags & O_CREAT) != 0 || !(flags & O_RDWR); /* the .log's O_RDWR is not a write */
    return open(path, flags, mode);
}

static ino_t inode_of(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    assert_int_equal(stat(p, &st), 0);
    return st.st_ino;
}

/* Closing a log with nothing changed since the last sync writes and syncs
 * nothing; so does opening it, clean or after a crash that changed
 * nothing (the tail is still checked). */
static void idle_close_and_open_do_no_io(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.segment_bytes = 2000;
    f->cfg.index_interval_bytes = 200;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 40, 1000, 40);
    rn_log_close(log);
    ino_t rp_ino = inode_of(f->dir, "recovery-point");
    static uint8_t a[1 << 16], b[1 << 16];
    size_t alen = slurp_indexes(f->dir, a, sizeof(a));

    for (int round = 0; round < 3; round++) {
        int clean = round != 1; /* round 1: as after a crash right after a clean close */
        fdatasync_calls = io_opens_for_write = 0;
        rn_log_io_ops.fdatasync = counting_fdatasync;
        rn_log_io_ops.open = counting_open;
        assert_int_equal(rn_log_open(f->dir, &f->cfg, clean, &log), 0);
        assert_int_equal(rn_log_index_rebuilds(log), clean ? 0 : 1);
        assert_int_equal(rn_log_recovery_point(log), m->n);
        check_all_offsets(log, m);
        assert_int_equal(rn_log_sync(log), m->n);
        rn_log_close(log);
        rn_log_io_reset();
        assert_int_equal(fdatasync_calls, 0);
        assert_int_equal(io_opens_for_write, 0);
        assert_true(inode_of(f->dir, "recovery-point") == rp_ino); /* not rewritten */
    }
    size_t blen = slurp_indexes(f->dir, b, sizeof(b));
    assert_int_equal(blen, alen);
    assert_memory_equal(a, b, alen);

    /* one append: its segment's .log, its index files, the checkpoint */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 1, 1000, 40);
    fdatasync_calls = 0;
    rn_log_io_ops.fdatasync = counting_fdatasync;
    rn_log_close(log);
    rn_log_io_reset();
    assert_int_equal(fdatasync_calls, 4);
    check_trusted_segments_have_indexes(f->dir);
    assert_int_equal(read_checkpoint(f->dir), m->n);

    /* a crash with data past the checkpoint: checked at open, synced (and
     * the recovery point moved) by the next sync, not by the open */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 3, 1000, 40);
    char crash[256];
    snprintf(crash, sizeof(crash), "%s/crashed", f->root);
    copy_dir(f->dir, crash);
    rn_log_close(log);
    int64_t ck = read_checkpoint(crash);
    assert_true(ck < m->n);
    fdatasync_calls = log_fdatasync_calls = 0;
    rn_log_io_ops.fdatasync = counting_fdatasync;
    assert_int_equal(rn_log_open(crash, &f->cfg, 0, &log), 0);
    assert_int_equal(log_fdatasync_calls, 0); /* only stale index files were repaired */
    assert_true(fdatasync_calls <= 2 * rn_log_index_rebuilds(log));
    assert_int_equal(rn_log_recovery_point(log), ck);
    check_all_offsets(log, m);
    assert_int_equal(rn_log_sync(log), m->n);
    assert_true(log_fdatasync_calls >= 1);
    rn_log_io_reset();
    assert_int_equal(rn_log_recovery_point(log), m->n);
    rn_log_close(log);
    assert_int_equal(read_checkpoint(crash), m->n);
    assert_int_equal(rn_log_open(crash, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

/* ---- threads: one appender, readers and a flusher at once ---- */

typedef struct race {
    rn_log *log;
    atomic_int stop;
    atomic_llong end;
    atomic_int errors;
} race;

static void *race_reader(void *arg)
{
    race *r = arg;
    uint32_t rng = 7;
    while (!atomic_load(&r->stop)) {
        long long end = atomic_load(&r->end);
        if (end == 0)
            continue;
        rng = rng * 1103515245u + 12345u;
        int64_t o = (int64_t)((rng >> 8) % (uint32_t)end);
        rn_log_slice s;
        if (rn_log_read(r->log, o, 4096, INT64_MAX, &s) != 0 || s.len < 61) {
            r->errors++;
            continue;
        }
        uint8_t h[61];
        if (pread(s.file->fd, h, 61, s.pos) != 61)
            r->errors++;
        int64_t base = (int64_t)be_get(h, 8), last = base + (int64_t)be_get(h + 23, 4);
        if (!(base <= o && o <= last))
            r->errors++;
        rn_fileref_drop(s.file);
    }
    return NULL;
}

static void *race_flusher(void *arg)
{
    race *r = arg;
    int64_t prev = 0;
    while (!atomic_load(&r->stop)) {
        int64_t rp = rn_log_sync(r->log);
        if (rp < prev)
            r->errors++;
        prev = rp;
        usleep(200);
    }
    return NULL;
}

static void concurrent_append_read_and_sync_agree(void **state)
{
    fixture *f = *state;
    race r = {0};
    f->cfg.segment_bytes = 16 * 1024;
    f->cfg.index_interval_bytes = 512;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &r.log), 0);
    pthread_t th[3];
    pthread_create(&th[0], NULL, race_reader, &r);
    pthread_create(&th[1], NULL, race_reader, &r);
    pthread_create(&th[2], NULL, race_flusher, &r);
    rec_model *m = model_new();
    for (int k = 0; k < 1500; k++) {
        append_many(r.log, m, 1, 1000, 30);
        atomic_store(&r.end, m->n);
    }
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(r.errors, 0);
    check_all_offsets(r.log, m);
    rn_log_close(r.log);
    free(m);
}


/* ---- live settings (rn_log_set_config) ---- */

/* Entries in <dir>/<base>.index (8 bytes each), -1 when missing. */
static int64_t index_entries(const char *dir, int64_t base)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%020lld.index", dir, (long long)base);
    int64_t sz = file_size(p);
    return sz < 0 ? -1 : sz / 8;
}

static void set_config_takes_effect_on_the_next_append(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 20, 1000, 40); /* ~2.5 KB: one segment of 1 MiB */
    assert_int_equal(count_files(f->dir, ".log"), 1);

    /* smaller segments: the active one, already past the new size, rolls
     * on the next append; and an index entry for every batch from now on */
    rn_log_config c = f->cfg;
    c.segment_bytes = 600;
    c.index_interval_bytes = 0;
    rn_log_set_config(log, &c);
    int64_t second = m->n;
    append_many(log, m, 1, 1000, 40);
    assert_int_equal(count_files(f->dir, ".log"), 2);
    append_many(log, m, 19, 1000, 40);
    int nseg = count_files(f->dir, ".log");
    assert_true(nseg >= 5);
    check_all_offsets(log, m);

    /* invalid settings change nothing */
    rn_log_config bad = c;
    bad.segment_bytes = 0;
    rn_log_set_config(log, &bad);
    bad = c;
    bad.segment_ms = -1;
    rn_log_set_config(log, &bad);
    append_many(log, m, 10, 1000, 40);
    assert_true(count_files(f->dir, ".log") > nseg);

    /* back to big segments: no more rolls */
    rn_log_set_config(log, &f->cfg);
    nseg = count_files(f->dir, ".log");
    append_many(log, m, 20, 1000, 40);
    assert_int_equal(count_files(f->dir, ".log"), nseg);
    rn_log_close(log);
    /* the second segment got an entry per batch but its first (interval 0) */
    assert_true(index_entries(f->dir, second) >= 1);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_index_rebuilds(log), 0);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

static void set_config_segment_ms_rolls_live(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0); /* segment_ms 0: never */
    int64_t ts[1] = {1000};
    append_batch(log, m, 1, ts, 10, 0);
    ts[0] = 1000000;
    append_batch(log, m, 1, ts, 10, 0);
    assert_int_equal(count_files(f->dir, ".log"), 1);
    rn_log_config c = f->cfg;
    c.segment_ms = 1000;
    rn_log_set_config(log, &c);
    ts[0] = 1000000 + 500; /* 999 s after the active segment's first batch */
    append_batch(log, m, 1, ts, 10, 0);
    assert_int_equal(count_files(f->dir, ".log"), 2);
    ts[0] = 1000000 + 900; /* within 1 s of the new segment's first batch */
    append_batch(log, m, 1, ts, 10, 0);
    assert_int_equal(count_files(f->dir, ".log"), 2);
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

/* ---- the recovery-point checkpoint that a sync skipped ---- */

static int ckpt_opens;
static int counting_ckpt_open(const char *path, int flags, mode_t mode)
{
    ckpt_opens++;
    return open(path, flags, mode);
}

static int failing_ckpt_open(const char *path, int flags, mode_t mode)
{
    ckpt_opens++;
    errno = ENOSPC;
    return -1;
}

static void checkpoint_skipped_by_a_sync_is_written_when_due(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    /* a new, empty log: nothing to write (no file means 0) */
    ckpt_opens = 0;
    rn_log_io_ops.open = counting_ckpt_open;
    assert_int_equal(rn_log_checkpoint_if_due(log, rn_mono_ms()), 0);
    assert_int_equal(ckpt_opens, 0);
    rn_log_io_reset();

    append_many(log, m, 5, 1000, 40);
    assert_int_equal(rn_log_sync(log), m->n); /* the first write: at once */
    int64_t first = m->n;
    assert_int_equal(read_checkpoint(f->dir), first);
    append_many(log, m, 5, 1000, 40);
    assert_int_equal(rn_log_sync(log), m->n); /* within 5 s of it: skipped */
    assert_int_equal(rn_log_recovery_point(log), m->n);
    assert_int_equal(read_checkpoint(f->dir), first);

    int64_t now = rn_mono_ms();
    ckpt_opens = 0;
    rn_log_io_ops.open = counting_ckpt_open;
    assert_int_equal(rn_log_checkpoint_if_due(log, now), 0); /* not due yet: no I/O */
    assert_int_equal(ckpt_opens, 0);
    assert_int_equal(read_checkpoint(f->dir), first);
    assert_int_equal(rn_log_checkpoint_if_due(log, now + 5000), 1);
    assert_int_equal(ckpt_opens, 1);
    assert_int_equal(read_checkpoint(f->dir), m->n);
    /* current: nothing to do, however late */
    assert_int_equal(rn_log_checkpoint_if_due(log, now + 60000), 0);
    assert_int_equal(ckpt_opens, 1);

    /* a failed write is retried 5 s later, not at every call */
    append_many(log, m, 2, 1000, 40);
    assert_int_equal(rn_log_sync(log), m->n); /* skipped: within 5 s (of now + 5000) */
    rn_log_io_ops.open = failing_ckpt_open;
    ckpt_opens = 0;
    assert_int_equal(rn_log_checkpoint_if_due(log, now + 10000), -ENOSPC);
    assert_int_equal(rn_log_checkpoint_if_due(log, now + 10100), 0);
    assert_int_equal(ckpt_opens, 1);
    rn_log_io_reset();
    assert_int_equal(rn_log_checkpoint_if_due(log, now + 15000), 1);
    assert_int_equal(read_checkpoint(f->dir), m->n);
    rn_log_close(log);
    free(m);
}

/* ---- offset continuity at open ---- */

/* Position of the last batch of the segment file at p. */
static int64_t last_batch_pos(const char *p)
{
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    int64_t sz = file_size(p), pos = 0, last = -1;
    uint8_t h[12];
    while (pos < sz) {
        assert_int_equal(pread(fd, h, 12, pos), 12);
        last = pos;
        pos += 12 + (int64_t)be_get(h + 8, 4);
    }
    close(fd);
    return last;
}

/* Adds delta to the baseOffset of the batch at pos (the CRC does not cover it). */
static void shift_base_offset(const char *p, int64_t pos, int64_t delta)
{
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b[8];
    assert_int_equal(pread(fd, b, 8, pos), 8);
    uint64_t v = be_get(b, 8) + (uint64_t)delta;
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
    assert_int_equal(pwrite(fd, b, 8, pos), 8);
    close(fd);
}

static void write_cleaner_checkpoint(const char *dir, const char *text)
{
    assert_int_equal(rn_log_file_write_atomic(dir, "cleaner-offset", text, strlen(text)), 0);
}

/* A baseOffset that jumped forward (a flipped bit: the CRC does not cover
 * it) is cut off at open, clean (the tail past the last index entry is
 * checked) or not; so is a first batch that does not start at its
 * segment's base. */
static void base_offset_skipping_ahead_is_cut_off(void **state)
{
    fixture *f = *state;
    rn_log *log;
    rec_model *m = model_new();
    f->cfg.index_interval_bytes = 300;
    for (int clean = 1; clean >= 0; clean--) {
        assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
        append_many(log, m, 20, 1000, 40);
        int64_t last_base = m->batch_base[m->n - 1];
        rn_log_close(log);
        char p[256];
        last_segment_path(f->dir, ".log", p, sizeof(p));
        int64_t sz = file_size(p);
        shift_base_offset(p, last_batch_pos(p), 1 << 8); /* bit 8 flipped on */
        assert_int_equal(rn_log_open(f->dir, &f->cfg, clean, &log), 0);
        assert_true(file_size(p) < sz);
        assert_int_equal(rn_log_end_offset(log), last_base);
        m->n = last_base;
        check_all_offsets(log, m);
        rn_log_close(log);
    }

    /* the first batch of a segment must start at its base */
    f->cfg.segment_bytes = 1000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_many(log, m, 30, 1000, 40);
    rn_log_close(log);
    char p[256];
    last_segment_path(f->dir, ".log", p, sizeof(p));
    int64_t base = atoll(strrchr(p, '/') + 1);
    assert_true(base > 0);
    shift_base_offset(p, 0, 1);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    assert_int_equal(rn_log_end_offset(log), base);
    m->n = base;
    check_all_offsets(log, m);
    rn_log_close(log);
    free(m);
}

/* Gaps are where the cleaner dropped whole batches: accepted below the
 * cleaner checkpoint (its rewritten end, or in older files its first
 * dirty offset or swap end), cut off at or above it. */
static void gaps_are_accepted_only_below_the_cleaner_checkpoint(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *ckpt; /* NULL: no file */
        int gap_ok;
    } cases[] = {
        {NULL, 0},
        {"0\n0\n0\n0\n0\n", 0},
        {"0\n1000000\n0\n0\n", 1},           /* an older file: the first dirty offset */
        {"0\n0\n0\n1\n0 1000000\n", 1},      /* an older file: the swap's end */
        {"0\n0\n0\n0\n1000000\n", 1},        /* the rewritten end */
        {"0\n1000000\n0\n0\n1000000\n", 1},
        {"0\n5\n0\n0\n5\n", 0},              /* the gap lies above it */
        {"garbage", 1},                      /* unreadable: gaps anywhere */
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        for (int clean = 1; clean >= 0; clean--) {
            char dir[256];
            snprintf(dir, sizeof(dir), "%s/case%zu-%d", f->root, k, clean);
            rn_log *log;
            rec_model *m = model_new();
            f->cfg.index_interval_bytes = 300;
            assert_int_equal(rn_log_open(dir, &f->cfg, 1, &log), 0);
            append_many(log, m, 20, 1000, 40);
            int64_t last_base = m->batch_base[m->n - 1], n = m->n;
            rn_log_close(log);
            if (cases[k].ckpt)
                write_cleaner_checkpoint(dir, cases[k].ckpt);
            char p[256];
            last_segment_path(dir, ".log", p, sizeof(p));
            shift_base_offset(p, last_batch_pos(p), 3); /* a gap of 3 before the last batch */
            assert_int_equal(rn_log_open(dir, &f->cfg, clean, &log), 0);
            assert_int_equal(rn_log_end_offset(log), cases[k].gap_ok ? n + 3 : last_base);
            if (cases[k].gap_ok) {
                for (int64_t o = 0; o < last_base; o++) /* up to the gap */
                    check_read(log, m, o, 1 << 20, last_base);
                rn_log_slice sl; /* an offset in the gap: the batch after it */
                assert_int_equal(rn_log_read(log, last_base, 1 << 20, INT64_MAX, &sl), 0);
                assert_true(sl.len >= 61);
                uint8_t h[8];
                assert_int_equal(pread(sl.file->fd, h, 8, sl.pos), 8);
                assert_int_equal((int64_t)be_get(h, 8), last_base + 3);
                rn_fileref_drop(sl.file);
            } else {
                m->n = last_base;
                check_all_offsets(log, m);
            }
            rn_log_close(log);
            free(m);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(append_then_read_back_at_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(rolls_by_size_and_reads_across_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(rolls_when_the_index_is_full, setup, teardown),
        cmocka_unit_test_setup_teardown(index_lookup_finds_the_batch_with_a_small_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(offset_for_time_with_increasing_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(offset_for_time_with_non_monotonic_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(offset_for_time_in_a_compressed_batch_gives_its_base, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_after_clean_close_preserves_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(torn_tail_is_truncated_to_the_last_whole_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(flipped_byte_in_the_last_batch_truncates_there, setup, teardown),
        cmocka_unit_test_setup_teardown(corruption_in_a_middle_segment_deletes_the_later_ones, setup, teardown),
        cmocka_unit_test_setup_teardown(segments_below_the_recovery_point_are_trusted, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_index_is_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(enospc_on_append_leaves_the_log_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(torn_write_on_append_leaves_the_log_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(index_write_failure_in_the_flusher_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(index_write_failure_at_close_is_rebuilt_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_advances_the_recovery_point, setup, teardown),
        cmocka_unit_test_setup_teardown(slice_keeps_a_deleted_segment_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(reads_where_recent_appends_started_need_no_pread, setup, teardown),
        cmocka_unit_test_setup_teardown(tail_reads_after_a_roll_use_the_new_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(tail_reads_after_a_failed_append_are_right, setup, teardown),
        cmocka_unit_test_setup_teardown(reserved_blocks_leave_the_size_alone_and_go_at_roll_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(blocks_reserved_before_a_crash_are_harmless, setup, teardown),
        cmocka_unit_test_setup_teardown(each_segment_keeps_one_fd_open, setup, teardown),
        cmocka_unit_test_setup_teardown(indexes_survive_a_clean_reopen_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_with_the_active_index_never_written_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_between_a_roll_and_the_flusher_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(segment_ending_at_the_recovery_point_is_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_index_entries_are_caught_when_used, setup, teardown),
        cmocka_unit_test_setup_teardown(tail_batch_repeating_offsets_is_cut_off, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_close_and_open_do_no_io, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_append_read_and_sync_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(set_config_takes_effect_on_the_next_append, setup, teardown),
        cmocka_unit_test_setup_teardown(set_config_segment_ms_rolls_live, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_skipped_by_a_sync_is_written_when_due, setup, teardown),
        cmocka_unit_test_setup_teardown(base_offset_skipping_ahead_is_cut_off, setup, teardown),
        cmocka_unit_test_setup_teardown(gaps_are_accepted_only_below_the_cleaner_checkpoint, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_log_util.h - helpers shared by the log's unit tests
 * (test_log_retention.c, test_log_compaction.c): building v2 record
 * batches with keys and values, temporary folders, counting files.
 * Everything is static inline so that each test uses what it needs.
 */
#ifndef RN_TEST_LOG_UTIL_H
#define RN_TEST_LOG_UTIL_H

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/crc32c.h"
#include "log/log.h"

typedef struct tbuf {
    uint8_t *p;
    size_t len, cap;
} tbuf;

static inline void tb_put(tbuf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}

static inline void tb_u8(tbuf *b, uint8_t v)
{
    tb_put(b, &v, 1);
}

static inline void tb_be(tbuf *b, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        tb_u8(b, (uint8_t)(v >> (8 * i)));
}

static inline void tb_varlong(tbuf *b, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (u >= 0x80) {
        tb_u8(b, (uint8_t)(u | 0x80));
        u >>= 7;
    }
    tb_u8(b, (uint8_t)u);
}

static inline uint64_t be_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static inline void be_put(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* One record for build_batch: key/value NULL for null. */
typedef struct trec {
    const char *key;
    const char *value;
    int64_t ts;
} trec;

/* The records of a batch, uncompressed, offset deltas 0..n-1. */
static inline void build_records(tbuf *recs, const trec *r, int n, int64_t base_ts)
{
    for (int i = 0; i < n; i++) {
        tbuf x = {0};
        tb_u8(&x, 0);
        tb_varlong(&x, r[i].ts - base_ts);
        tb_varlong(&x, i);
        if (r[i].key) {
            tb_varlong(&x, (int64_t)strlen(r[i].key));
            tb_put(&x, r[i].key, strlen(r[i].key));
        } else {
            tb_varlong(&x, -1);
        }
        if (r[i].value) {
            tb_varlong(&x, (int64_t)strlen(r[i].value));
            tb_put(&x, r[i].value, strlen(r[i].value));
        } else {
            tb_varlong(&x, -1);
        }
        tb_varlong(&x, 0); /* headers */
        tb_varlong(recs, (int64_t)x.len);
        tb_put(recs, x.p, x.len);
        free(x.p);
    }
}

/* Appends one v2 batch to out whose records section is payload (already
 * compressed when attributes say so) holding n records. */
static inline void build_batch_raw(tbuf *out, int n, int64_t base_ts, int64_t max_ts, int16_t attributes,
                                   const uint8_t *payload, size_t payload_len)
{
    size_t start = out->len;
    tb_be(out, 0, 8);
    tb_be(out, (uint64_t)(49 + payload_len), 4);
    tb_be(out, 0, 4);
    tb_u8(out, 2);
    tb_be(out, 0, 4);
    tb_be(out, (uint16_t)attributes, 2);
    tb_be(out, (uint64_t)(n - 1), 4);
    tb_be(out, (uint64_t)base_ts, 8);
    tb_be(out, (uint64_t)max_ts, 8);
    tb_be(out, (uint64_t)-1, 8);
    tb_be(out, 0xffff, 2);
    tb_be(out, 0xffffffff, 4);
    tb_be(out, (uint64_t)n, 4);
    tb_put(out, payload, payload_len);
    uint8_t *b = out->p + start;
    be_put(b + 17, rn_crc32c(0, b + 21, out->len - start - 21), 4);
}

/* An uncompressed batch of n records. */
static inline void build_kv_batch(tbuf *out, const trec *r, int n)
{
    tbuf recs = {0};
    int64_t max_ts = r[0].ts;
    for (int i = 1; i < n; i++)
        if (r[i].ts > max_ts)
            max_ts = r[i].ts;
    build_records(&recs, r, n, r[0].ts);
    build_batch_raw(out, n, r[0].ts, max_ts, 0, recs.p, recs.len);
    free(recs.p);
}

/* Appends whole batches in b; returns the base offset. */
static inline int64_t append_buf(rn_log *log, tbuf *b, int nbatches)
{
    int64_t base = -1, last = -1;
    assert_int_equal(rn_log_append(log, b->p, b->len, nbatches, &base, &last), 0);
    return base;
}

/* One batch of `n` records (keys NULL) with timestamp ts each and a value of vbytes. */
static inline int64_t append_plain(rn_log *log, int n, int64_t ts, int vbytes)
{
    trec r[64];
    char *v = malloc((size_t)vbytes + 1);
    assert_non_null(v);
    memset(v, 'v', (size_t)vbytes);
    v[vbytes] = '\0';
    assert_true(n <= 64);
    for (int i = 0; i < n; i++)
        r[i] = (trec){NULL, v, ts};
    tbuf b = {0};
    build_kv_batch(&b, r, n);
    int64_t base = append_buf(log, &b, 1);
    free(b.p);
    free(v);
    return base;
}

/* ---- folders ---- */

static inline int tl_rm_cb(const char *p, const struct stat *st, int f, struct FTW *w)
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

static inline int tl_setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    strcpy(f->root, "/tmp/rn_test_logx.XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/topic-0", f->root);
    f->cfg.segment_bytes = 1 << 20;
    f->cfg.index_interval_bytes = 4096;
    f->cfg.segment_index_bytes = 10 << 20;
    f->cfg.segment_ms = 0;
    *state = f;
    return 0;
}

static inline int tl_teardown(void **state)
{
    fixture *f = *state;
    nftw(f->root, tl_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Files in dir whose names end with suffix. */
static inline int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    size_t el = strlen(suffix);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > el && strcmp(de->d_name + l - el, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static inline int64_t file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    return st.st_size;
}

static inline void touch(const char *dir, const char *name, const char *content)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

static inline int exists(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return file_size(p) >= 0;
}

/* The base offset of the batch that rn_log_read returns for offset, or -1. */
static inline int64_t read_batch_base(rn_log *log, int64_t offset, int *rc_out)
{
    rn_log_slice s;
    int rc = rn_log_read(log, offset, 1 << 20, INT64_MAX, &s);
    *rc_out = rc;
    if (rc != 0 || s.len == 0)
        return -1;
    uint8_t h[61];
    assert_int_equal(pread(s.file->fd, h, 61, s.pos), 61);
    rn_fileref_drop(s.file);
    return (int64_t)be_get(h, 8);
}

#endif

/*
 * codec.c - the record batch compression codecs (attributes bits 0-2), for
 * the cleaner, which must decompress a batch to drop records and compress
 * what is left with the batch's own codec. Nothing else in the broker
 * looks inside client batches.
 *
 * Layer: src/log. Thread-safe as long as each thread passes its own
 * rn_codec_ctx (the cleaner keeps one per pass: zstd and lz4 contexts are
 * costly to create per batch). Links libz, libsnappy, liblz4 and libzstd.
 *
 *   codec  Kafka name  format on the wire
 *   1      gzip        a gzip stream (RFC 1952); zlib streams accepted too
 *   2      snappy      xerial snappy-java framing, what the Java client writes:
 *                        offset  size  field
 *                        0       8     magic 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
 *                        8       4     int32 version (1)
 *                        12      4     int32 minimum compatible version (1)
 *                        16      ...   blocks: int32 length, then that many bytes
 *                                      of raw snappy (each block alone)
 *                      or raw snappy (librdkafka writes that); we recompress in
 *                      the framing we found
 *   3      lz4         the LZ4 frame format; we write independent 64 KiB blocks
 *                      and no checksums, as the Java client does (its reader
 *                      decodes each block alone)
 *   4      zstd        zstd frames (content size optional); level 3, Kafka's default
 *
 * Every decompression stops at max_out bytes (-EFBIG): the sizes inside a
 * compressed stream come from the disk and are not trusted.
 */
#include "log/logInt.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#define XERIAL_HEADER_BYTES 16
#define XERIAL_BLOCK_BYTES (32 * 1024) /* snappy-java's default block */
#define ZSTD_LEVEL 3
#define GROW_MIN_BYTES 4096

static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

void rn_codec_buf_release(rn_codec_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int rn_codec_buf_reserve(rn_codec_buf *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t c = b->cap < GROW_MIN_BYTES ? GROW_MIN_BYTES : b->cap;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return -ENOMEM;
        c *= 2;
    }
    uint8_t *p = realloc(b->p, c);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = c;
    return 0;
}

/* Room for at least `more` bytes after len, never planning past max_out. */
static int room(rn_codec_buf *b, size_t more, size_t max_out)
{
    if (b->len >= max_out)
        return -EFBIG;
    size_t want = b->len + more;
    if (want > max_out)
        want = max_out;
    return rn_codec_buf_reserve(b, want);
}

/* Bytes a decoder may write after len: up to the capacity and max_out. */
static size_t avail(const rn_codec_buf *b, size_t max_out)
{
    size_t lim = b->cap < max_out ? b->cap : max_out;
    return lim - b->len;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- gzip ---- */

static int gzip_decompress(const uint8_t *in, size_t n, size_t max_out, rn_codec_buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 32) != Z_OK) /* +32: gzip or zlib header */
        return -ENOMEM;
    int rc = 0;
    z.next_in = (Bytef *)(uintptr_t)in;
    while (rc == 0) {
        z.avail_in = (uInt)(n - (size_t)(z.next_in - in) > UINT_MAX ? UINT_MAX : n - (size_t)(z.next_in - in));
        if ((rc = room(out, n * 3 + GROW_MIN_BYTES, max_out)) < 0)
            break;
        size_t av = avail(out, max_out);
        z.next_out = out->p + out->len;
        z.avail_out = (uInt)(av > UINT_MAX ? UINT_MAX : av);
        int zr = inflate(&z, Z_NO_FLUSH);
        out->len = (size_t)(z.next_out - out->p);
        if (zr == Z_STREAM_END) {
            if ((size_t)(z.next_in - in) >= n)
                break;
            if (inflateReset(&z) != Z_OK) /* another gzip member follows */
                rc = -EINVAL;
        } else if (zr == Z_MEM_ERROR) {
            rc = -ENOMEM;
        } else if (zr != Z_OK && !(zr == Z_BUF_ERROR && z.avail_out == 0)) {
            rc = -EINVAL; /* corrupt, or cut off (Z_BUF_ERROR with room left) */
        }
    }
    inflateEnd(&z);
    return rc;
}

static int gzip_compress(const uint8_t *in, size_t n, rn_codec_buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (n > UINT_MAX / 2)
        return -EFBIG;
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    size_t bound = deflateBound(&z, (uLong)n);
    int rc = rn_codec_buf_reserve(out, bound);
    if (rc == 0) {
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = out->p;
        z.avail_out = (uInt)bound;
        rc = deflate(&z, Z_FINISH) == Z_STREAM_END ? 0 : -EIO;
        out->len = (size_t)(z.next_out - out->p);
    }
    deflateEnd(&z);
    return rc;
}

/* ---- snappy ---- */

static int snappy_block(const uint8_t *in, size_t n, size_t max_out, rn_codec_buf *out)
{
    size_t ulen;
    if (snappy_uncompressed_length((const char *)in, n, &ulen) != SNAPPY_OK)
        return -EINVAL;
    if (ulen > max_out - out->len)
        return -EFBIG;
    int rc = rn_codec_buf_reserve(out, out->len + ulen);
    if (rc < 0)
        return rc;
    size_t got = ulen;
    if (snappy_uncompress((const char *)in, n, (char *)out->p + out->len, &got) != SNAPPY_OK || got != ulen)
        return -EINVAL;
    out->len += ulen;
    return 0;
}

static int snappy_decompress(const uint8_t *in, size_t n, size_t max_out, rn_codec_buf *out, int *xerial)
{
    *xerial = n >= XERIAL_HEADER_BYTES && memcmp(in, xerial_magic, sizeof(xerial_magic)) == 0;
    if (!*xerial)
        return snappy_block(in, n, max_out, out);
    size_t pos = XERIAL_HEADER_BYTES;
    while (pos < n) {
        if (n - pos < 4)
            return -EINVAL;
        size_t blen = be32(in + pos);
        pos += 4;
        if (blen > n - pos)
            return -EINVAL;
        int rc = snappy_block(in + pos, blen, max_out, out);
        if (rc < 0)
            return rc;
        pos += blen;
    }
    return 0;
}

static int snappy_compress_to(const uint8_t *in, size_t n, int xerial, rn_codec_buf *out)
{
    if (!xerial) {
        size_t clen = snappy_max_compressed_length(n);
        int rc = rn_codec_buf_reserve(out, clen);
        if (rc < 0)
            return rc;
        if (snappy_compress((const char *)in, n, (char *)out->p, &clen) != SNAPPY_OK)
            return -EIO;
        out->len = clen;
        return 0;
    }
    size_t blocks = n / XERIAL_BLOCK_BYTES + 1;
    int rc = rn_codec_buf_reserve(out, XERIAL_HEADER_BYTES + blocks * (4 + snappy_max_compressed_length(XERIAL_BLOCK_BYTES)));
    if (rc < 0)
        return rc;
    memcpy(out->p, xerial_magic, sizeof(xerial_magic));
    put_be32(out->p + 8, 1);
    put_be32(out->p + 12, 1);
    out->len = XERIAL_HEADER_BYTES;
    for (size_t pos = 0; pos < n; pos += XERIAL_BLOCK_BYTES) {
        size_t k = n - pos < XERIAL_BLOCK_BYTES ? n - pos : XERIAL_BLOCK_BYTES;
        size_t clen = out->cap - out->len - 4;
        if (snappy_compress((const char *)in + pos, k, (char *)out->p + out->len + 4, &clen) != SNAPPY_OK)
            return -EIO;
        put_be32(out->p + out->len, (uint32_t)clen);
        out->len += 4 + clen;
    }
    return 0;
}

/* ---- lz4 frame ---- */

static int lz4_decompress(rn_codec_ctx *ctx, const uint8_t *in, size_t n, size_t max_out, rn_codec_buf *out)
{
    LZ4F_dctx *dctx = ctx->lz4_dctx;
    if (!dctx && LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
        return -ENOMEM;
    ctx->lz4_dctx = dctx;
    LZ4F_resetDecompressionContext(dctx); /* a failed frame may have left it midway */
    int rc = 0;
    size_t pos = 0, r = 1;
    /* Until all input is used and the last frame is complete (r == 0);
     * concatenated frames follow one another. */
    while (pos < n || r != 0) {
        if ((rc = room(out, n * 3 + GROW_MIN_BYTES, max_out)) < 0)
            break;
        size_t dst = avail(out, max_out), src = n - pos;
        r = LZ4F_decompress(dctx, out->p + out->len, &dst, in + pos, &src, NULL);
        if (LZ4F_isError(r)) {
            rc = -EINVAL;
            break;
        }
        out->len += dst;
        pos += src;
        if (src == 0 && dst == 0) {
            rc = -EINVAL; /* no progress: cut off */
            break;
        }
    }
    return rc;
}

static int lz4_compress(const uint8_t *in, size_t n, rn_codec_buf *out)
{
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    size_t bound = LZ4F_compressFrameBound(n, &prefs);
    int rc = rn_codec_buf_reserve(out, bound);
    if (rc < 0)
        return rc;
    size_t r = LZ4F_compressFrame(out->p, bound, in, n, &prefs);
    if (LZ4F_isError(r))
        return -EIO;
    out->len = r;
    return 0;
}

/* ---- zstd ---- */

static int zstd_decompress(rn_codec_ctx *ctx, const uint8_t *in, size_t n, size_t max_out, rn_codec_buf *out)
{
    ZSTD_DStream *ds = ctx->zstd_dctx ? ctx->zstd_dctx : ZSTD_createDStream();
    if (!ds)
        return -ENOMEM;
    ctx->zstd_dctx = ds;
    ZSTD_initDStream(ds);
    ZSTD_inBuffer ib = {in, n, 0};
    int rc = 0;
    size_t r = 1;
    while (rc == 0) {
        if ((rc = room(out, n * 4 + GROW_MIN_BYTES, max_out)) < 0)
            break;
        ZSTD_outBuffer ob = {out->p, out->len + avail(out, max_out), out->len};
        r = ZSTD_decompressStream(ds, &ob, &ib);
        out->len = ob.pos;
        if (ZSTD_isError(r)) {
            rc = -EINVAL;
            break;
        }
        if (ib.pos >= n && (r == 0 || ob.pos < ob.size))
            break; /* all input used, and the frame complete or no more output: done (or cut off) */
    }
    if (rc == 0 && r != 0)
        rc = -EINVAL; /* the last frame is not complete */
    return rc;
}

static int zstd_compress(rn_codec_ctx *ctx, const uint8_t *in, size_t n, rn_codec_buf *out)
{
    size_t bound = ZSTD_compressBound(n);
    int rc = rn_codec_buf_reserve(out, bound);
    if (rc < 0)
        return rc;
    if (!ctx->zstd_cctx && !(ctx->zstd_cctx = ZSTD_createCCtx()))
        return -ENOMEM;
    size_t r = ZSTD_compressCCtx(ctx->zstd_cctx, out->p, bound, in, n, ZSTD_LEVEL);
    if (ZSTD_isError(r))
        return -EIO;
    out->len = r;
    return 0;
}

/* ---- dispatch ---- */

void rn_codec_ctx_release(rn_codec_ctx *ctx)
{
    if (ctx->lz4_dctx)
        LZ4F_freeDecompressionContext(ctx->lz4_dctx);
    ZSTD_freeDStream(ctx->zstd_dctx); /* both accept NULL */
    ZSTD_freeCCtx(ctx->zstd_cctx);
    memset(ctx, 0, sizeof(*ctx));
}

int rn_codec_decompress(rn_codec_ctx *ctx, int codec, const uint8_t *in, size_t n, size_t max_out, rn_codec_buf *out,
                        int *framing_out)
{
    out->len = 0;
    *framing_out = 0;
    switch (codec) {
    case RN_CODEC_GZIP:
        return gzip_decompress(in, n, max_out, out);
    case RN_CODEC_SNAPPY:
        return snappy_decompress(in, n, max_out, out, framing_out);
    case RN_CODEC_LZ4:
        return lz4_decompress(ctx, in, n, max_out, out);
    case RN_CODEC_ZSTD:
        return zstd_decompress(ctx, in, n, max_out, out);
    default:
        return -ENOTSUP;
    }
}

int rn_codec_compress(rn_codec_ctx *ctx, int codec, const uint8_t *in, size_t n, int framing, rn_codec_buf *out)
{
    out->len = 0;
    switch (codec) {
    case RN_CODEC_GZIP:
        return gzip_compress(in, n, out);
    case RN_CODEC_SNAPPY:
        return snappy_compress_to(in, n, framing, out);
    case RN_CODEC_LZ4:
        return lz4_compress(in, n, out);
    case RN_CODEC_ZSTD:
        return zstd_compress(ctx, in, n, out);
    default:
        return -ENOTSUP;
    }
}

/*
 * buf.c - bounded readers and chained writers; see buf.h for the contract.
 *
 * Layer: src/common. All multi-byte integers are big-endian (Kafka's network
 * order). Varints follow Kafka's ByteUtils: unsigned LEB128, zig-zag for the
 * signed forms, at most 5 bytes for an int and 10 for a long.
 */
#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

/* ---- file references ---- */

void rn_fileref_hold(rn_fileref *ref)
{
    atomic_fetch_add_explicit(&ref->refs, 1, memory_order_relaxed);
}

void rn_fileref_drop(rn_fileref *ref)
{
    if (atomic_fetch_sub_explicit(&ref->refs, 1, memory_order_acq_rel) == 1 && ref->release)
        ref->release(ref);
}

/* ---- reading ---- */

/* Returns the start of n bytes and advances, or NULL with err set. Once err
 * is set every later call fails, so decoders may test err once at the end. */
static const uint8_t *take(rn_reader *r, size_t n)
{
    if (r->err)
        return NULL;
    if ((size_t)(r->end - r->p) < n) {
        r->err = -1;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    return at;
}

const uint8_t *rn_get_raw(rn_reader *r, size_t n)
{
    return take(r, n);
}

int8_t rn_get_i8(rn_reader *r)
{
    const uint8_t *p = take(r, 1);
    return p ? (int8_t)p[0] : 0;
}

uint16_t rn_get_u16(rn_reader *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (uint16_t)((uint16_t)p[0] << 8 | p[1]) : 0;
}

int16_t rn_get_i16(rn_reader *r)
{
    return (int16_t)rn_get_u16(r);
}

uint32_t rn_get_u32(rn_reader *r)
{
    const uint8_t *p = take(r, 4);
    if (!p)
        return 0;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int32_t rn_get_i32(rn_reader *r)
{
    return (int32_t)rn_get_u32(r);
}

static uint64_t get_u64(rn_reader *r)
{
    const uint8_t *p = take(r, 8);
    if (!p)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int64_t rn_get_i64(rn_reader *r)
{
    return (int64_t)get_u64(r);
}

double rn_get_f64(rn_reader *r)
{
    uint64_t bits = get_u64(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

int rn_get_bool(rn_reader *r)
{
    return rn_get_i8(r) != 0;
}

rn_uuid rn_get_uuid(rn_reader *r)
{
    rn_uuid u;
    const uint8_t *p = take(r, 16);
    if (p)
        memcpy(u.b, p, 16);
    else
        memset(u.b, 0, 16);
    return u;
}

/* Reads an unsigned LEB128 of at most max_bytes bytes whose value fits in
 * value_bits bits. Longer encodings, and bits set past value_bits in the last
 * byte, are malformed: no conforming encoder produces them. */
static uint64_t get_leb128(rn_reader *r, int max_bytes, int value_bits)
{
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        const uint8_t *p = take(r, 1);
        if (!p)
            return 0;
        int shift = 7 * i;
        uint64_t part = (uint64_t)(p[0] & 0x7f);
        if (shift + 7 > value_bits && (part >> (value_bits - shift)) != 0) {
            r->err = -1; /* bits beyond the value's width */
            return 0;
        }
        v |= part << shift;
        if (!(p[0] & 0x80))
            return v;
    }
    r->err = -1; /* continuation bit set on the last allowed byte */
    return 0;
}

uint32_t rn_get_uvarint(rn_reader *r)
{
    return (uint32_t)get_leb128(r, 5, 32);
}

int32_t rn_get_varint(rn_reader *r)
{
    uint32_t u = rn_get_uvarint(r);
    return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

uint64_t rn_get_uvarlong(rn_reader *r)
{
    return get_leb128(r, 10, 64);
}

int64_t rn_get_varlong(rn_reader *r)
{
    uint64_t u = rn_get_uvarlong(r);
    return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

/* Reads a length prefix: compact = uvarint(len + 1) with 0 for null; classic =
 * int16 or int32 with -1 for null. Returns -1 for null (err set unless
 * nullable), the length otherwise; err set if the bytes are not there. */
static int32_t get_len(rn_reader *r, int compact, int nullable, int classic_i16)
{
    int64_t len;
    if (compact)
        len = (int64_t)rn_get_uvarint(r) - 1;
    else
        len = classic_i16 ? rn_get_i16(r) : rn_get_i32(r);
    if (r->err)
        return -1;
    if (len == -1) {
        if (!nullable)
            r->err = -1;
        return -1;
    }
    if (len < 0 || len > INT32_MAX || (uint64_t)len > rn_reader_left(r)) {
        r->err = -1;
        return -1;
    }
    return (int32_t)len;
}

rn_str rn_get_string(rn_reader *r, int compact, int nullable)
{
    rn_str s = RN_STR_NULL;
    int32_t len = get_len(r, compact, nullable, 1);
    if (r->err) {
        s.len = 0;
        s.ptr = "";
        return s;
    }
    if (len >= 0) {
        s.ptr = (const char *)take(r, (size_t)len);
        s.len = len;
    }
    return s;
}

rn_bytes rn_get_bytes(rn_reader *r, int compact, int nullable)
{
    rn_bytes b = RN_BYTES_NULL;
    int32_t len = get_len(r, compact, nullable, 0);
    if (r->err) {
        b.len = 0;
        b.ptr = NULL;
        return b;
    }
    if (len >= 0) {
        b.ptr = take(r, (size_t)len);
        b.len = len;
    }
    return b;
}

rn_records rn_get_records(rn_reader *r, int compact, int nullable)
{
    rn_bytes b = rn_get_bytes(r, compact, nullable);
    rn_records rec;
    rec.mem = b.ptr;
    rec.len = b.len;
    rec.file = NULL;
    rec.file_pos = 0;
    return rec;
}

int32_t rn_get_array_len(rn_reader *r, int compact, int nullable, size_t min_elem_bytes)
{
    int64_t n;
    if (compact)
        n = (int64_t)rn_get_uvarint(r) - 1;
    else
        n = rn_get_i32(r);
    if (r->err)
        return 0;
    if (n == -1) {
        if (!nullable)
            r->err = -1;
        return -1;
    }
    if (n < 0 || n > INT32_MAX) {
        r->err = -1;
        return 0;
    }
    /* Every element takes at least min_elem_bytes, so a count the frame
     * cannot back is rejected before it sizes any allocation. */
    if (min_elem_bytes != 0 && (uint64_t)n > rn_reader_left(r) / min_elem_bytes) {
        r->err = -1;
        return 0;
    }
    return (int32_t)n;
}

void rn_skip_unknown_tags(rn_reader *r)
{
    uint32_t n = rn_get_uvarint(r);
    /* Each iteration consumes at least two bytes or sets err: bounded by the frame. */
    for (uint32_t i = 0; i < n && !r->err; i++) {
        (void)rn_get_uvarint(r); /* tag */
        uint32_t size = rn_get_uvarint(r);
        (void)take(r, size);
    }
}

/* ---- writing ---- */

void rn_writer_init(rn_writer *w)
{
    memset(w, 0, sizeof *w);
}

static void drop_file_pieces(rn_writer *w)
{
    for (int i = 0; i < w->npieces; i++) {
        if (w->pieces[i].kind == RN_PIECE_FILE && w->pieces[i].file)
            rn_fileref_drop(w->pieces[i].file);
    }
}

void rn_writer_release(rn_writer *w)
{
    drop_file_pieces(w);
    free(w->buf);
    free(w->pieces);
    memset(w, 0, sizeof *w);
}

void rn_writer_clear(rn_writer *w)
{
    drop_file_pieces(w);
    w->len = 0;
    w->npieces = 0;
    w->mem_piece_start = 0;
    w->total = 0;
    w->oom = 0;
}

/* Makes room for n more bytes in buf; sets oom and returns 0 on failure. */
static int reserve(rn_writer *w, size_t n)
{
    if (w->oom)
        return 0;
    if (w->cap - w->len >= n)
        return 1;
    if (n > SIZE_MAX / 2 - w->len) {
        w->oom = 1;
        return 0;
    }
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < n)
        cap *= 2;
    uint8_t *nb = realloc(w->buf, cap);
    if (!nb) {
        w->oom = 1;
        return 0;
    }
    w->buf = nb;
    w->cap = cap;
    return 1;
}

static int push_piece(rn_writer *w, rn_piece p)
{
    if (w->npieces == w->pieces_cap) {
        int cap = w->pieces_cap ? w->pieces_cap * 2 : 8;
        rn_piece *np = realloc(w->pieces, (size_t)cap * sizeof *np);
        if (!np) {
            w->oom = 1;
            return 0;
        }
        w->pieces = np;
        w->pieces_cap = cap;
    }
    w->pieces[w->npieces++] = p;
    return 1;
}

void rn_writer_seal(rn_writer *w)
{
    if (w->oom || w->len == w->mem_piece_start)
        return;
    rn_piece *last = w->npieces ? &w->pieces[w->npieces - 1] : NULL;
    if (last && last->kind == RN_PIECE_MEM && (size_t)(last->pos + last->len) == w->mem_piece_start) {
        last->len += (int64_t)(w->len - w->mem_piece_start);
    } else {
        rn_piece p = {RN_PIECE_MEM, NULL, (int64_t)w->mem_piece_start,
                      (int64_t)(w->len - w->mem_piece_start)};
        if (!push_piece(w, p))
            return;
    }
    w->mem_piece_start = w->len;
}

void rn_put_raw(rn_writer *w, const void *data, size_t n)
{
    if (n == 0 || !reserve(w, n))
        return;
    memcpy(w->buf + w->len, data, n);
    w->len += n;
    w->total += (int64_t)n;
}

void rn_put_i8(rn_writer *w, int8_t v)
{
    uint8_t b = (uint8_t)v;
    rn_put_raw(w, &b, 1);
}

void rn_put_u16(rn_writer *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    rn_put_raw(w, b, 2);
}

void rn_put_i16(rn_writer *w, int16_t v)
{
    rn_put_u16(w, (uint16_t)v);
}

void rn_put_u32(rn_writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    rn_put_raw(w, b, 4);
}

void rn_put_i32(rn_writer *w, int32_t v)
{
    rn_put_u32(w, (uint32_t)v);
}

static void put_u64(rn_writer *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
    rn_put_raw(w, b, 8);
}

void rn_put_i64(rn_writer *w, int64_t v)
{
    put_u64(w, (uint64_t)v);
}

void rn_put_f64(rn_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_u64(w, bits);
}

void rn_put_bool(rn_writer *w, int v)
{
    rn_put_i8(w, v ? 1 : 0);
}

void rn_put_uuid(rn_writer *w, rn_uuid v)
{
    rn_put_raw(w, v.b, 16);
}

void rn_put_uvarlong(rn_writer *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    rn_put_raw(w, b, n);
}

void rn_put_uvarint(rn_writer *w, uint32_t v)
{
    rn_put_uvarlong(w, v);
}

void rn_put_varint(rn_writer *w, int32_t v)
{
    uint32_t u = (uint32_t)v;
    rn_put_uvarint(w, (u << 1) ^ (uint32_t)(v >> 31));
}

void rn_put_varlong(rn_writer *w, int64_t v)
{
    uint64_t u = (uint64_t)v;
    rn_put_uvarlong(w, (u << 1) ^ (uint64_t)(v >> 63));
}

/* Length prefix; len == -1 (or any negative) writes null. */
static void put_len(rn_writer *w, int32_t len, int compact, int classic_i16)
{
    if (len < 0)
        len = -1;
    if (compact)
        rn_put_uvarint(w, (uint32_t)(len + 1));
    else if (classic_i16)
        rn_put_i16(w, (int16_t)len);
    else
        rn_put_i32(w, len);
}

void rn_put_string(rn_writer *w, rn_str s, int compact)
{
    put_len(w, s.len, compact, 1);
    if (s.len > 0)
        rn_put_raw(w, s.ptr, (size_t)s.len);
}

void rn_put_bytes(rn_writer *w, rn_bytes b, int compact)
{
    put_len(w, b.len, compact, 0);
    if (b.len > 0)
        rn_put_raw(w, b.ptr, (size_t)b.len);
}

void rn_put_records(rn_writer *w, const rn_records *rec, int compact)
{
    put_len(w, rec->len, compact, 0);
    if (rec->len <= 0)
        return;
    if (!rec->file) {
        rn_put_raw(w, rec->mem, (size_t)rec->len);
        return;
    }
    rn_writer_seal(w);
    if (w->oom)
        return;
    rn_piece p = {RN_PIECE_FILE, rec->file, rec->file_pos, rec->len};
    if (!push_piece(w, p))
        return;
    rn_fileref_hold(rec->file);
    w->total += rec->len;
}

void rn_put_array_len(rn_writer *w, int32_t count, int compact)
{
    put_len(w, count, compact, 0);
}

size_t rn_writer_reserve_i32(rn_writer *w)
{
    size_t at = w->len;
    rn_put_i32(w, 0);
    return at;
}

void rn_writer_patch_i32(rn_writer *w, size_t at, int32_t v)
{
    if (w->oom || at + 4 > w->len)
        return;
    uint32_t u = (uint32_t)v;
    w->buf[at] = (uint8_t)(u >> 24);
    w->buf[at + 1] = (uint8_t)(u >> 16);
    w->buf[at + 2] = (uint8_t)(u >> 8);
    w->buf[at + 3] = (uint8_t)u;
}

/* ---- strings ---- */

int rn_str_eq(rn_str a, rn_str b)
{
    if (a.len != b.len)
        return 0;
    return a.len <= 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0;
}

int rn_str_eq_c(rn_str a, const char *s)
{
    return rn_str_eq(a, rn_str_c(s));
}

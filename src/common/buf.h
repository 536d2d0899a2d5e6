/*
 * buf.h - bounded readers and chained writers for Kafka's wire primitives.
 *
 * Layer: src/common (no knowledge of sockets or of the protocol's messages).
 *
 * rn_reader walks a byte range that the caller owns. Every getter checks the
 * bytes present before it reads; on underflow or a malformed varint it sets
 * r->err, returns 0, and every later getter returns 0 too, so a decoder can
 * read a whole struct and test r->err once. Nothing here allocates.
 *
 * rn_writer builds an outgoing message as a chain of pieces: bytes in its
 * own growable buffer, and file spans (fd, position, length) that the
 * network layer sends with sendfile(2) without copying through user space.
 * A file span holds a reference on an rn_fileref, dropped by
 * rn_writer_release(). On allocation failure the writer sets w->oom and
 * drops further puts; the caller checks once at the end.
 *
 * Threads: a reader or writer belongs to one thread at a time.
 */
#ifndef RN_COMMON_BUF_H
#define RN_COMMON_BUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A string or byte string pointing into a buffer owned elsewhere (usually
 * the request's frame). len == -1 means null. Not NUL-terminated. */
typedef struct rn_str {
    const char *ptr;
    int32_t len;
} rn_str;

typedef struct rn_bytes {
    const uint8_t *ptr;
    int32_t len;
} rn_bytes;

typedef struct rn_uuid {
    uint8_t b[16];
} rn_uuid;

/* A refcounted open file that pieces of a writer may point into. The owner
 * (e.g. a log segment) embeds it; release() runs when the last ref drops. */
typedef struct rn_fileref {
    atomic_int refs;
    int fd;
    void (*release)(struct rn_fileref *ref);
} rn_fileref;

void rn_fileref_hold(rn_fileref *ref);
void rn_fileref_drop(rn_fileref *ref);

/* The `records` field type: either bytes in memory or a span of a file.
 * len == -1 means null. When file != NULL, the bytes are
 * [file_pos, file_pos + len) of file->fd; mem is unused. */
typedef struct rn_records {
    const uint8_t *mem;
    int32_t len;
    rn_fileref *file;
    int64_t file_pos;
} rn_records;

/* ---- reading ---- */

typedef struct rn_reader {
    const uint8_t *p;
    const uint8_t *end;
    int err; /* set once, never cleared: 0 ok, -1 underflow or malformed */
} rn_reader;

static inline void rn_reader_init(rn_reader *r, const void *data, size_t len)
{
    r->p = (const uint8_t *)data;
    r->end = r->p + len;
    r->err = 0;
}

static inline size_t rn_reader_left(const rn_reader *r)
{
    return (size_t)(r->end - r->p);
}

int8_t rn_get_i8(rn_reader *r);
int16_t rn_get_i16(rn_reader *r);
uint16_t rn_get_u16(rn_reader *r);
int32_t rn_get_i32(rn_reader *r);
uint32_t rn_get_u32(rn_reader *r);
int64_t rn_get_i64(rn_reader *r);
double rn_get_f64(rn_reader *r);
int rn_get_bool(rn_reader *r); /* any non-zero byte is true */
rn_uuid rn_get_uuid(rn_reader *r);
/* Unsigned and zig-zag varints; more than 5 (int) or 10 (long) bytes is an error. */
uint32_t rn_get_uvarint(rn_reader *r);
int32_t rn_get_varint(rn_reader *r);
uint64_t rn_get_uvarlong(rn_reader *r);
int64_t rn_get_varlong(rn_reader *r);
/* Advances by n bytes and returns where they start, or NULL (err set) when
 * fewer than n bytes are left. */
const uint8_t *rn_get_raw(rn_reader *r, size_t n);

/* Protocol strings and byte strings. `compact` selects the flexible-version
 * encoding (unsigned varint length + 1, 0 = null) over the classic one
 * (int16/int32 length, -1 = null). A null where nullable is false, a
 * negative length other than -1, or a length past the end sets err. */
rn_str rn_get_string(rn_reader *r, int compact, int nullable);
rn_bytes rn_get_bytes(rn_reader *r, int compact, int nullable);
rn_records rn_get_records(rn_reader *r, int compact, int nullable);
/* Array length: returns -1 for null (err set if !nullable). Sets err unless
 * count * min_elem_bytes <= bytes left, so a count never sizes an
 * allocation beyond what the frame can back. */
int32_t rn_get_array_len(rn_reader *r, int compact, int nullable, size_t min_elem_bytes);
/* Skips a flexible version's tagged-field section. Used by decoders for the
 * tags they do not know. */
void rn_skip_unknown_tags(rn_reader *r);

/* ---- writing ---- */

enum rn_piece_kind { RN_PIECE_MEM = 0, RN_PIECE_FILE = 1 };

typedef struct rn_piece {
    int kind;
    rn_fileref *file; /* RN_PIECE_FILE: held reference */
    int64_t pos;      /* MEM: offset into w->buf; FILE: file position */
    int64_t len;
} rn_piece;

typedef struct rn_writer {
    uint8_t *buf; /* bytes of all MEM pieces, back to back */
    size_t len;
    size_t cap;
    rn_piece *pieces;
    int npieces;
    int pieces_cap;
    size_t mem_piece_start; /* start of the MEM piece being written */
    int64_t total;          /* bytes in all pieces */
    int oom;
} rn_writer;

void rn_writer_init(rn_writer *w);
/* Drops file references and frees memory; the writer may be init'ed again. */
void rn_writer_release(rn_writer *w);
/* Resets to empty, dropping file refs but keeping the allocations for reuse. */
void rn_writer_clear(rn_writer *w);
/* Seals the current MEM piece so that pieces[] describes all bytes. Called
 * by the sender before it walks pieces[]. */
void rn_writer_seal(rn_writer *w);

void rn_put_raw(rn_writer *w, const void *data, size_t n);
void rn_put_i8(rn_writer *w, int8_t v);
void rn_put_i16(rn_writer *w, int16_t v);
void rn_put_u16(rn_writer *w, uint16_t v);
void rn_put_i32(rn_writer *w, int32_t v);
void rn_put_u32(rn_writer *w, uint32_t v);
void rn_put_i64(rn_writer *w, int64_t v);
void rn_put_f64(rn_writer *w, double v);
void rn_put_bool(rn_writer *w, int v);
void rn_put_uuid(rn_writer *w, rn_uuid v);
void rn_put_uvarint(rn_writer *w, uint32_t v);
void rn_put_varint(rn_writer *w, int32_t v);
void rn_put_uvarlong(rn_writer *w, uint64_t v);
void rn_put_varlong(rn_writer *w, int64_t v);
void rn_put_string(rn_writer *w, rn_str s, int compact);
void rn_put_bytes(rn_writer *w, rn_bytes b, int compact);
/* Records in memory are copied; records in a file become a FILE piece. */
void rn_put_records(rn_writer *w, const rn_records *rec, int compact);
/* count == -1 writes null. */
void rn_put_array_len(rn_writer *w, int32_t count, int compact);
/* Reserves 4 bytes in the MEM buffer and returns their offset, to be
 * patched with rn_writer_patch_i32 (e.g. the frame size). */
size_t rn_writer_reserve_i32(rn_writer *w);
void rn_writer_patch_i32(rn_writer *w, size_t at, int32_t v);

/* Small helpers for building strings. */
static inline rn_str rn_str_c(const char *s);
int rn_str_eq(rn_str a, rn_str b);
int rn_str_eq_c(rn_str a, const char *s);

#include <string.h>
static inline rn_str rn_str_c(const char *s)
{
    rn_str r;
    r.ptr = s;
    r.len = s ? (int32_t)strlen(s) : -1;
    return r;
}

#define RN_STR_NULL ((rn_str){NULL, -1})
#define RN_BYTES_NULL ((rn_bytes){NULL, -1})

#endif

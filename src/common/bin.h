/*
 * bin.h - flat big-endian records: a growable writer, a bounded reader, and
 * the FNV-1a hash for the coordinators' in-memory tables.
 *
 * Layer: src/common. Used for the keys and values the coordinators keep in
 * their internal topics (__consumer_offsets, __transaction_state) and for the
 * producer-state snapshot. Those formats are drawn at the tops of
 * group/coordinator.c, txn/txn_coordinator.c and txn/producer_state.c; this
 * module only supplies the primitives, so the bytes it writes are theirs:
 *   be      n-byte unsigned integer, most significant byte first (n = 1..8)
 *   str     int16 length + bytes, length -1 for a NULL string
 *   bytes   int32 length + bytes, a negative length written as 0 (empty)
 *
 * Why not rn_writer / rn_reader (buf.h)? Those build wire messages: a writer
 * is a chain of pieces that may point into files and reports allocation
 * failure through w->oom. These records are built under a coordinator's lock
 * into one contiguous buffer that is handed to the log, and the callers have
 * no way to fail a half-encoded record, so a failed allocation aborts. The
 * reader hands out strings as malloc'ed NUL-terminated copies, because the
 * coordinators keep them after the record's bytes are gone.
 *
 * Ownership: rn_bin_writer owns buf; rn_bin_writer_release() frees it (a
 * zero-initialised writer is empty and ready). rn_bin_reader borrows its
 * bytes; each string from rn_bin_get_str_dup() belongs to the caller.
 *
 * Threads: a writer or reader belongs to one thread at a time; the
 * functions keep no other state.
 */
#ifndef RN_COMMON_BIN_H
#define RN_COMMON_BIN_H

#include <stddef.h>
#include <stdint.h>

/* Stores the low nbytes bytes of v at p, most significant first, and loads
 * them back. nbytes is 1..8; p must have room. Never fail. */
void rn_bin_store_be(uint8_t *p, uint64_t v, int nbytes);
uint64_t rn_bin_load_be(const uint8_t *p, int nbytes);

/* ---- writing ---- */

typedef struct rn_bin_writer {
    uint8_t *buf; /* the record so far; NULL until the first put */
    size_t len;
    size_t cap;
} rn_bin_writer;

/* Appends n bytes. Aborts the process if memory runs out. */
void rn_bin_put_raw(rn_bin_writer *w, const void *data, size_t n);
/* Appends the low nbytes bytes of v, big-endian (nbytes 1..8). */
void rn_bin_put_be(rn_bin_writer *w, uint64_t v, int nbytes);
/* Appends an int16 length and the bytes of s; NULL is written as length -1.
 * The caller keeps strlen(s) <= INT16_MAX: a longer string's length would
 * be written modulo 2^16. */
void rn_bin_put_str(rn_bin_writer *w, const char *s);
/* Appends an int32 length and len bytes of p; a negative len is written as
 * 0 with no bytes (these records have no null byte strings). */
void rn_bin_put_bytes(rn_bin_writer *w, const uint8_t *p, int32_t len);
/* Frees the buffer and leaves the writer empty, ready for reuse. */
void rn_bin_writer_release(rn_bin_writer *w);

/* ---- reading ---- */

/* err is a flag, not a stop: a read that does not fit sets it and returns
 * 0 (or NULL) without advancing, but a later, shorter read that fits still
 * succeeds. Callers read a group of fields and then test err. */
typedef struct rn_bin_reader {
    const uint8_t *p;
    const uint8_t *end;
    int err; /* 0 ok, 1 some read did not fit; never cleared */
} rn_bin_reader;

static inline void rn_bin_reader_init(rn_bin_reader *r, const void *data, size_t len)
{
    r->p = (const uint8_t *)data;
    r->end = r->p + len;
    r->err = 0;
}

/* Reads an nbytes (1..8) big-endian unsigned integer. Fewer than nbytes
 * left: sets err and returns 0 without advancing. */
uint64_t rn_bin_get_be(rn_bin_reader *r, int nbytes);
/* Reads an int16-length string and returns a malloc'ed NUL-terminated copy
 * (the caller frees it). Returns NULL for any negative length (not an
 * error) and when err is or becomes set (length or bytes past the end).
 * Aborts the process if memory runs out. */
char *rn_bin_get_str_dup(rn_bin_reader *r);

/* ---- hashing ---- */

/* 64-bit FNV-1a of n bytes: bucket choice for in-memory tables, never
 * persisted. */
uint64_t rn_hash_bytes(const void *data, size_t n);

#endif

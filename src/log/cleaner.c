/*
 * cleaner.c - compaction of one partition log (cleanup.policy=compact):
 * Kafka's LogCleaner, one pass per rn_log_compact() call, run by the
 * broker's log manager thread. Builds a map key -> latest offset over the
 * dirty part, rewrites the older segments without superseded records and
 * expired tombstones, and swaps the cleaned segments in.
 *
 * Layer: src/log. Calls log.c for the segment array (rn_log_snapshot,
 * rn_log_replace_segments, rn_log_retire_segment), segment.c and index.c
 * for the cleaned segment, codec.c for compressed batches.
 *
 * Threads and locks: one pass per log at a time (clean_mu, held for the
 * pass). Reading old segments and writing the cleaned one happen without
 * any other lock, on references taken from a snapshot: appends go to the
 * active segment, which the cleaner never touches. The swap of a group
 * holds del_mu (no retention or DeleteRecords meanwhile; held across the
 * renames and two fsyncs) and takes mu only to replace pointers in the
 * array. Lock order as in log.c: clean_mu, del_mu, sync_mu, append_mu, mu.
 *
 * <dir>/cleaner-offset, the cleaner's checkpoint (first dirty offset,
 * tombstone horizons, a swap in flight): format in cleaner_ckpt.c.
 *
 * The swap of one group of old segments (files on disk; each crash point
 * is settled at open by rn_cleaner_recover_swaps and log.c's sweep):
 *
 *   CLEANING  <base>.{log,index,timeindex}.cleaned written and fsynced
 *      |      (clean_group)                      crash: the .cleaned files are removed
 *      |      checkpoint with the swap line (rn_cleaner_ckpt_write)
 *      |      rename .index/.timeindex .cleaned -> .swap, then .log.cleaned -> .log.swap,
 *      v      fsync the folder (swap_group)      crash before .log.swap: as CLEANING
 *   SWAPPING  rn_log_replace_segments under mu: readers find the cleaned segment
 *      |      old segments renamed <name>.deleted (rn_log_retire_segment)
 *      |      rename .log.swap -> .log, then the index files; fsync the folder
 *      v                                         crash: the old segments in [base, end)
 *   DONE                                         are removed and the .swap renamed
 *
 * Transactions (Kafka's CleanedTransactionMetadata): each walk over
 * batches in offset order (the map's, the cleaning's) carries a txn_walk
 * that learns, from the caller's aborted-transaction list sorted by first
 * offset, which producer has an aborted transaction open at the batch in
 * hand. Its batches are dropped whole (and never enter the map); a
 * marker is dropped only when no batch of its transaction was met in this
 * walk (none is left in the log) and the delete horizon passed it.
 *
 * Offsets: records keep theirs. A v2 batch keeps its baseOffset and
 * lastOffsetDelta even when its first or last records go (as Kafka's
 * cleaner does: the producer's last sequence stays where it was), so
 * record bytes are copied as they are; a batch left empty is dropped, which
 * leaves a gap. Readers asking for an offset in a gap get the next batch.
 */
#include "log/logInt.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bin.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/rlog.h"

#define MAP_SLOTS_MIN (1u << 12)
#define MAP_SLOTS_MAX (1u << 22) /* 4 Mi slots of 24 bytes = 96 MiB (Kafka's dedupe buffer: 128 MiB) */
#define READ_WINDOW_BYTES (1 << 20)
#define WRITE_BUFFER_BYTES (1 << 20)
#define DECOMPRESSED_BYTES_MAX ((size_t)128 << 20) /* a batch inflating past this is kept whole */

#define ATTR_CODEC_MASK 0x07
#define ATTR_LOG_APPEND_TIME 0x08
#define ATTR_TRANSACTIONAL 0x10
#define ATTR_CONTROL 0x20
#define BATCH_PRODUCER_ID_AT 43   /* header fields (proto/record_batch.h) */
#define BATCH_RECORDS_COUNT_AT 57

/* Records that a pass at now_ms went past everything below end. */
static void add_horizon(rn_cleaner_ckpt *ck, int64_t end, int64_t now_ms)
{
    if (ck->nh > 0 && ck->h[ck->nh - 1].end >= end)
        return;
    ck->h[ck->nh++] = (rn_cleaner_horizon){end, now_ms};
    if (ck->nh > RN_CLEANER_HORIZONS_MAX) {
        /* Merge the two oldest, keeping the later time: tombstones may
         * stay longer than delete.retention.ms, never shorter. */
        ck->h[1].ms = ck->h[0].ms > ck->h[1].ms ? ck->h[0].ms : ck->h[1].ms;
        memmove(ck->h, ck->h + 1, (size_t)(ck->nh - 1) * sizeof(ck->h[0]));
        ck->nh--;
    }
}

/* The now_ms of the pass that first went past offset o, or -1. */
static int64_t first_passed_ms(const rn_cleaner_ckpt *ck, int64_t o)
{
    for (int32_t i = 0; i < ck->nh; i++)
        if (o < ck->h[i].end)
            return ck->h[i].ms;
    return -1;
}

/* ---- the key map: 128-bit key digests -> latest offset ---- */

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* MurmurHash3 x64 128 (public domain, Austin Appleby). */
static void murmur3_128(const uint8_t *data, size_t len, uint64_t *h1_out, uint64_t *h2_out)
{
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    uint64_t h1 = 0x9747b28c, h2 = 0x9747b28c;
    size_t nblocks = len / 16;
    for (size_t i = 0; i < nblocks; i++) {
        uint64_t k1 = le64(data + i * 16), k2 = le64(data + i * 16 + 8);
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        h1 = rotl64(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        h2 = rotl64(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }
    const uint8_t *tail = data + nblocks * 16;
    uint64_t k1 = 0, k2 = 0;
    size_t rem = len & 15;
    for (size_t i = rem; i > 8; i--)
        k2 ^= (uint64_t)tail[i - 1] << (8 * (i - 9));
    if (rem > 8) {
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
    }
    for (size_t i = rem < 8 ? rem : 8; i > 0; i--)
        k1 ^= (uint64_t)tail[i - 1] << (8 * (i - 1));
    if (rem > 0) {
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
    }
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 += h2;
    h2 += h1;
    *h1_out = h1;
    *h2_out = h2;
}

typedef struct map_slot {
    uint64_t h1, h2;
    int64_t offset; /* -1: empty */
} map_slot;

typedef struct key_map {
    map_slot *s;
    size_t slots; /* a power of two */
    size_t n;
} key_map;

static int map_alloc(key_map *m, size_t slots)
{
    map_slot *s = malloc(slots * sizeof(*s));
    if (!s)
        return -ENOMEM;
    for (size_t i = 0; i < slots; i++)
        s[i].offset = -1;
    m->s = s;
    m->slots = slots;
    m->n = 0;
    return 0;
}

static map_slot *map_find(const key_map *m, uint64_t h1, uint64_t h2)
{
    size_t mask = m->slots - 1;
    for (size_t i = (size_t)h1 & mask;; i = (i + 1) & mask) {
        map_slot *s = &m->s[i];
        if (s->offset < 0 || (s->h1 == h1 && s->h2 == h2))
            return s;
    }
}

/* 0 (put), 1 when the map is full (at its cap), -ENOMEM. */
static int map_put(key_map *m, uint64_t h1, uint64_t h2, int64_t offset)
{
    map_slot *s = map_find(m, h1, h2);
    if (s->offset >= 0) {
        if (offset > s->offset)
            s->offset = offset;
        return 0;
    }
    if ((m->n + 1) * 4 > m->slots * 3) { /* load factor 0.75 */
        if (m->slots >= MAP_SLOTS_MAX)
            return 1;
        key_map bigger;
        if (map_alloc(&bigger, m->slots * 2) < 0)
            return -ENOMEM;
        for (size_t i = 0; i < m->slots; i++) {
            if (m->s[i].offset >= 0) {
                *map_find(&bigger, m->s[i].h1, m->s[i].h2) = m->s[i];
                bigger.n++;
            }
        }
        free(m->s);
        *m = bigger;
        s = map_find(m, h1, h2);
    }
    *s = (map_slot){h1, h2, offset};
    m->n++;
    return 0;
}

static int64_t map_get(const key_map *m, const uint8_t *key, size_t len)
{
    uint64_t h1, h2;
    murmur3_128(key, len, &h1, &h2);
    return map_find(m, h1, h2)->offset;
}

/* ---- reading batches and records ---- */

/* Whole batches of one segment file, read through a window. */
typedef struct seg_reader {
    int fd;
    int64_t pos, limit;
    rn_codec_buf win;
    int64_t win_at;
} seg_reader;

static int reader_fill(seg_reader *r, int64_t at, int64_t need)
{
    int64_t n = need > READ_WINDOW_BYTES ? need : READ_WINDOW_BYTES;
    if (n > r->limit - at)
        n = r->limit - at;
    int rc = rn_codec_buf_reserve(&r->win, (size_t)n);
    if (rc < 0)
        return rc;
    ssize_t got = rn_logio_pread_all(r->fd, r->win.p, (size_t)n, at);
    if (got < 0)
        return (int)got;
    if (got != n)
        return -EBADMSG; /* the file is shorter than the size the log knows */
    r->win_at = at;
    r->win.len = (size_t)n;
    return 0;
}

/* 1 with *p (valid until the next call) and *b, 0 at the end, -EBADMSG for
 * a batch that does not frame (not whole, batchLength too small), or
 * another negative errno. */
static int reader_next(seg_reader *r, const uint8_t **p, rn_seg_batch *b)
{
    int rc;
    if (r->pos >= r->limit)
        return 0;
    if (r->limit - r->pos < RN_SEG_BATCH_HEADER_BYTES)
        return -EBADMSG;
    if (r->pos < r->win_at || r->pos + RN_SEG_BATCH_HEADER_BYTES > r->win_at + (int64_t)r->win.len) {
        if ((rc = reader_fill(r, r->pos, RN_SEG_BATCH_HEADER_BYTES)) < 0)
            return rc;
    }
    rn_seg_batch_decode(r->win.p + (r->pos - r->win_at), b);
    int64_t size = rn_seg_batch_size(b);
    if (b->batch_length < RN_SEG_BATCH_LENGTH_MIN || size > r->limit - r->pos)
        return -EBADMSG;
    if (r->pos + size > r->win_at + (int64_t)r->win.len) {
        if ((rc = reader_fill(r, r->pos, size)) < 0)
            return rc;
    }
    *p = r->win.p + (r->pos - r->win_at);
    r->pos += size;
    return 1;
}

static int get_zigzag(const uint8_t **p, const uint8_t *end, int maxbytes, int64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < maxbytes && *p < end; i++) {
        uint8_t byte = *(*p)++;
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return -1;
}

typedef struct rec_view {
    const uint8_t *p; /* the whole record, from its length varint */
    size_t len;
    int64_t ts_delta;
    int64_t offset_delta;
    const uint8_t *key;
    int64_t key_len;   /* -1: null */
    int64_t value_len; /* -1: null (a tombstone) */
} rec_view;

/* Parses the record at *pp (within [*pp, end)) and moves past it. 0, or -1
 * when malformed. Headers are not looked at. */
static int record_parse(const uint8_t **pp, const uint8_t *end, rec_view *r)
{
    const uint8_t *p = *pp;
    int64_t len;
    if (get_zigzag(&p, end, 5, &len) < 0 || len < 1 || len > end - p)
        return -1;
    const uint8_t *rend = p + len;
    p++; /* attributes */
    if (get_zigzag(&p, rend, 10, &r->ts_delta) < 0 || get_zigzag(&p, rend, 5, &r->offset_delta) < 0 ||
        get_zigzag(&p, rend, 5, &r->key_len) < 0 || r->key_len < -1 || r->key_len > rend - p)
        return -1;
    r->key = r->key_len >= 0 ? p : NULL;
    if (r->key_len > 0)
        p += r->key_len;
    if (get_zigzag(&p, rend, 5, &r->value_len) < 0 || r->value_len < -1 || r->value_len > rend - p)
        return -1;
    r->p = *pp;
    r->len = (size_t)(rend - *pp);
    *pp = rend;
    return 0;
}

/* ---- transactions met while walking batches in offset order ---- */

#define CONTROL_TYPE_ABORT 0
#define CONTROL_TYPE_COMMIT 1

typedef struct open_txn {
    int64_t producer_id;
    int aborted; /* in the aborted list; else committed (or not yet decided: never below stable_end) */
    int seen;    /* a batch of it was met in this walk */
} open_txn;

typedef struct txn_walk {
    rn_log_aborted_txn *aborted; /* the caller's list, sorted by first_offset */
    int32_t naborted;
    int32_t next;    /* aborted[next..] have not begun at the walk's position */
    int64_t from;    /* the walk's first offset: transactions ended below it are not open */
    open_txn *open;  /* producers with a transaction open at the walk's position */
    int32_t nopen, open_cap;
} txn_walk;

static int cmp_first_offset(const void *a, const void *b)
{
    const rn_log_aborted_txn *x = a, *y = b;
    return x->first_offset < y->first_offset ? -1 : x->first_offset > y->first_offset;
}

static int walk_init(txn_walk *w, const rn_log_aborted_txn *aborted, int32_t n)
{
    memset(w, 0, sizeof(*w));
    if (n <= 0)
        return 0;
    w->aborted = malloc((size_t)n * sizeof(*w->aborted));
    if (!w->aborted)
        return -ENOMEM;
    memcpy(w->aborted, aborted, (size_t)n * sizeof(*aborted));
    qsort(w->aborted, (size_t)n, sizeof(*aborted), cmp_first_offset);
    w->naborted = n;
    return 0;
}

static void walk_release(txn_walk *w)
{
    free(w->aborted);
    free(w->open);
    memset(w, 0, sizeof(*w));
}

static void walk_begin(txn_walk *w, int64_t from)
{
    w->next = 0;
    w->nopen = 0;
    w->from = from;
}

static open_txn *walk_find(txn_walk *w, int64_t producer_id)
{
    for (int32_t i = 0; i < w->nopen; i++)
        if (w->open[i].producer_id == producer_id)
            return &w->open[i];
    return NULL;
}

static int walk_open(txn_walk *w, int64_t producer_id, int aborted)
{
    open_txn *t = walk_find(w, producer_id);
    if (t) {
        t->aborted = aborted;
        return 0;
    }
    if (w->nopen == w->open_cap) {
        int32_t cap = w->open_cap ? w->open_cap * 2 : 16;
        open_txn *o = realloc(w->open, (size_t)cap * sizeof(*o));
        if (!o)
            return -ENOMEM;
        w->open = o;
        w->open_cap = cap;
    }
    w->open[w->nopen++] = (open_txn){producer_id, aborted, 0};
    return 0;
}

static void walk_close(txn_walk *w, open_txn *t)
{
    *t = w->open[--w->nopen];
}

/* Opens the aborted transactions that began at or before offset (Kafka's
 * consumeAbortedTxnsUpTo). */
static int walk_advance(txn_walk *w, int64_t offset)
{
    for (; w->next < w->naborted && w->aborted[w->next].first_offset <= offset; w->next++) {
        const rn_log_aborted_txn *a = &w->aborted[w->next];
        if (a->last_offset < w->from)
            continue; /* ended before the walk began */
        int rc = walk_open(w, a->producer_id, 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A transactional data batch of producer_id ending at last_offset: 1 when
 * it belongs to an aborted transaction (drop it), 0 to keep it, -ENOMEM. */
static int walk_data(txn_walk *w, int64_t producer_id, int64_t last_offset)
{
    int rc = walk_advance(w, last_offset);
    if (rc < 0)
        return rc;
    open_txn *t = walk_find(w, producer_id);
    if (!t) {
        if ((rc = walk_open(w, producer_id, 0)) < 0)
            return rc;
        t = walk_find(w, producer_id);
    }
    t->seen = 1;
    return t->aborted;
}

/* A marker of producer_id (type CONTROL_TYPE_*, or -1 when unreadable) at
 * offset: 1 when no batch of its transaction is left (the marker may go
 * once past the delete horizon), 0 to keep it, -ENOMEM. */
static int walk_marker(txn_walk *w, int64_t producer_id, int64_t offset, int type)
{
    int rc = walk_advance(w, offset);
    if (rc < 0)
        return rc;
    open_txn *t = walk_find(w, producer_id);
    int none_left = !t || !t->seen;
    /* A marker that contradicts the aborted list (a COMMIT for a listed
     * transaction, an ABORT for one not listed whose data were kept) stays. */
    if (t && t->seen && (type == CONTROL_TYPE_ABORT) != t->aborted)
        none_left = 0;
    if (type != CONTROL_TYPE_ABORT && type != CONTROL_TYPE_COMMIT)
        none_left = 0;
    if (t)
        walk_close(w, t);
    return none_left;
}

/* ---- one pass ---- */

typedef struct cleaner {
    rn_log *log;
    const char *dir;
    const rn_log_config *cfg;
    const rn_compact_config *cc;
    int64_t now_ms;
    rn_cleaner_ckpt ck;
    key_map map;
    rn_codec_buf dec;   /* decompressed records of one batch */
    rn_codec_buf kept;  /* the records kept from it */
    rn_codec_buf comp;  /* recompressed */
    rn_codec_buf batch; /* a rebuilt batch */
    rn_codec_buf out;   /* buffered writes of the cleaned segment */
    rn_codec_ctx codec; /* zstd/lz4 state reused across batches */
    txn_walk walk;
    rn_compact_stats *st;
} cleaner;

static int crc_ok(const uint8_t *p, const rn_seg_batch *b)
{
    return rn_crc32c(0, p + 21, (size_t)rn_seg_batch_size(b) - 21) == b->crc;
}

/* The type of a marker, from its first record's key (version int16, type
 * int16); -1 when it cannot be read. */
static int control_type(const uint8_t *p, const rn_seg_batch *b)
{
    if (b->attributes & ATTR_CODEC_MASK)
        return -1; /* markers are never compressed */
    const uint8_t *q = p + RN_SEG_BATCH_HEADER_BYTES, *end = p + rn_seg_batch_size(b);
    rec_view r;
    if (record_parse(&q, end, &r) < 0 || r.key_len < 4)
        return -1;
    return (int16_t)((uint16_t)r.key[2] << 8 | r.key[3]);
}

/* Runs a v2 batch (CRC checked) through the transaction walk: 1 when it
 * goes whole (data of an aborted transaction; a marker with no batch of its
 * transaction left, past the delete horizon), 0 when it stays, -ENOMEM. */
static int txn_drop(cleaner *c, const uint8_t *p, const rn_seg_batch *b)
{
    if (!(b->attributes & (ATTR_TRANSACTIONAL | ATTR_CONTROL)))
        return 0;
    int64_t producer_id = (int64_t)rn_bin_load_be(p + BATCH_PRODUCER_ID_AT, 8);
    if (!(b->attributes & ATTR_CONTROL))
        return walk_data(&c->walk, producer_id, rn_seg_batch_last(b));
    int rc = walk_marker(&c->walk, producer_id, rn_seg_batch_last(b), control_type(p, b));
    if (rc <= 0)
        return rc;
    int64_t passed = first_passed_ms(&c->ck, b->base_offset);
    return passed >= 0 && c->now_ms - passed >= c->cc->delete_retention_ms;
}

/* The records section of a batch the cleaner may filter: 0 with *recs,
 * *len and *framing; 1 when the batch is kept whole and left out of the
 * map (markers, not magic 2, a codec failure, records that do not parse);
 * -ENOMEM. The caller checked the CRC of a v2 batch. */
static int batch_records(cleaner *c, const uint8_t *p, const rn_seg_batch *b, const uint8_t **recs, size_t *len,
                         int *framing)
{
    int64_t size = rn_seg_batch_size(b);
    if (b->magic != 2 || (b->attributes & ATTR_CONTROL))
        return 1;
    int codec = b->attributes & ATTR_CODEC_MASK;
    *framing = 0;
    if (codec == RN_CODEC_NONE) {
        *recs = p + RN_SEG_BATCH_HEADER_BYTES;
        *len = (size_t)size - RN_SEG_BATCH_HEADER_BYTES;
    } else {
        int rc = rn_codec_decompress(&c->codec, codec, p + RN_SEG_BATCH_HEADER_BYTES, (size_t)size - RN_SEG_BATCH_HEADER_BYTES,
                                     DECOMPRESSED_BYTES_MAX, &c->dec, framing);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            rn_warn("log: %s: batch at offset %" PRId64 " (codec %d) cannot be decompressed (%s): kept whole", c->dir,
                    b->base_offset, codec, strerror(-rc));
            return 1;
        }
        *recs = c->dec.p;
        *len = c->dec.len;
    }
    /* Every record must parse, and their count match the header. */
    const uint8_t *q = *recs, *end = *recs + *len;
    int32_t count = (int32_t)rn_bin_load_be(p + BATCH_RECORDS_COUNT_AT, 4), k = 0;
    rec_view r;
    while (q < end) {
        if (record_parse(&q, end, &r) < 0 || r.offset_delta < 0 || r.offset_delta > b->last_offset_delta)
            break;
        k++;
    }
    if (q != end || k != count) {
        rn_warn("log: %s: batch at offset %" PRId64 " has malformed records: kept whole", c->dir, b->base_offset);
        return 1;
    }
    return 0;
}

/* Adds the keys of the dirty part, from first_dirty, of s[from, to) to the
 * map. Returns the index of the first segment not wholly added (to when
 * all were), or a negative errno. Keys already added from a segment cut
 * short are harmless: they point at records that stay. */
static int32_t build_map(cleaner *c, const rn_seg_snap *s, int32_t from, int32_t to, int64_t first_dirty)
{
    walk_begin(&c->walk, first_dirty);
    for (int32_t i = from; i < to; i++) {
        seg_reader r = {s[i].seg->ref.fd, 0, s[i].size, {0}, 0};
        const uint8_t *p;
        rn_seg_batch b;
        int rc;
        while ((rc = reader_next(&r, &p, &b)) == 1) {
            const uint8_t *recs;
            size_t len;
            int framing;
            if (rn_seg_batch_last(&b) < first_dirty)
                continue;
            if (b.magic == 2 && !crc_ok(p, &b)) {
                rc = -EBADMSG;
                break;
            }
            if (b.magic == 2 && (rc = txn_drop(c, p, &b)) != 0) {
                if (rc < 0)
                    break;
                rc = 0;
                continue; /* aborted data never supersede anything */
            }
            if ((rc = batch_records(c, p, &b, &recs, &len, &framing)) < 0)
                break;
            if (rc == 1)
                continue;
            const uint8_t *q = recs, *end = recs + len;
            rec_view rv;
            while (q < end && record_parse(&q, end, &rv) == 0) {
                int64_t off = b.base_offset + rv.offset_delta;
                if (!rv.key || off < first_dirty)
                    continue;
                uint64_t h1, h2;
                murmur3_128(rv.key, (size_t)rv.key_len, &h1, &h2);
                if ((rc = map_put(&c->map, h1, h2, off)) != 0)
                    break;
            }
            if (rc != 0)
                break;
        }
        rn_codec_buf_release(&r.win);
        if (rc == 1) {
            rn_info("log: %s: cleaner map full at %zu keys: the dirty part ends at %" PRId64, c->dir, c->map.n,
                    s[i].base_offset);
            return i;
        }
        if (rc < 0)
            return rc;
    }
    return to;
}

/* The cleaned segment being written. */
typedef struct cleaned_out {
    rn_segment *seg;
    rn_seg_cursor cur;
    int64_t written; /* bytes already in the file */
} cleaned_out;

static int out_flush(cleaner *c, cleaned_out *o)
{
    if (c->out.len == 0)
        return 0;
    int rc = rn_logio_pwrite_all(o->seg->ref.fd, c->out.p, c->out.len, o->written);
    if (rc == 0) {
        o->written += (int64_t)c->out.len;
        c->out.len = 0;
    }
    return rc;
}

/* Appends one batch to the cleaned segment, with its index entries. */
static int out_batch(cleaner *c, cleaned_out *o, const uint8_t *p, size_t size)
{
    rn_seg_batch b;
    rn_oindex_entry oe;
    rn_tindex_entry te;
    rn_seg_batch_decode(p, &b);
    if ((int64_t)size > INT32_MAX - o->cur.size)
        return -EFBIG; /* recompression made the group outgrow int32 positions */
    int rc;
    if ((rc = rn_oindex_reserve(&o->seg->oidx, 1)) < 0 || (rc = rn_tindex_reserve(&o->seg->tidx, 1)) < 0)
        return rc;
    int added = rn_seg_cursor_add(&o->cur, o->seg, &b, c->cfg->index_interval_bytes, &oe, &te);
    if (added & RN_SEG_NEW_OENTRY)
        rn_oindex_commit(&o->seg->oidx, &oe, 1);
    if (added & RN_SEG_NEW_TENTRY)
        rn_tindex_commit(&o->seg->tidx, &te, 1);
    if (c->out.len + size > WRITE_BUFFER_BYTES && (rc = out_flush(c, o)) < 0)
        return rc;
    if (size > WRITE_BUFFER_BYTES) { /* a big batch goes straight to the file */
        if ((rc = rn_logio_pwrite_all(o->seg->ref.fd, p, size, o->written)) < 0)
            return rc;
        o->written += (int64_t)size;
        return 0;
    }
    if ((rc = rn_codec_buf_reserve(&c->out, c->out.len + size)) < 0)
        return rc;
    memcpy(c->out.p + c->out.len, p, size);
    c->out.len += size;
    return 0;
}

/* Builds in c->batch the batch p with only the records in c->kept
 * (kept_count of them, max timestamp kept_max_ts): same baseOffset,
 * lastOffsetDelta, baseTimestamp and producer fields; new batchLength,
 * recordsCount, maxTimestamp (CreateTime) and CRC; recompressed. */
static int rebuild_batch(cleaner *c, const uint8_t *p, const rn_seg_batch *b, int framing, int32_t kept_count,
                         int64_t kept_max_ts)
{
    int codec = b->attributes & ATTR_CODEC_MASK;
    const uint8_t *payload = c->kept.p;
    size_t plen = c->kept.len;
    if (codec != RN_CODEC_NONE) {
        int rc = rn_codec_compress(&c->codec, codec, c->kept.p, c->kept.len, framing, &c->comp);
        if (rc < 0)
            return rc;
        payload = c->comp.p;
        plen = c->comp.len;
    }
    if (plen > (size_t)INT32_MAX - RN_SEG_BATCH_LENGTH_MIN)
        return -EFBIG;
    int rc = rn_codec_buf_reserve(&c->batch, RN_SEG_BATCH_HEADER_BYTES + plen);
    if (rc < 0)
        return rc;
    uint8_t *q = c->batch.p;
    memcpy(q, p, RN_SEG_BATCH_HEADER_BYTES);
    rn_bin_store_be(q + 8, RN_SEG_BATCH_LENGTH_MIN + plen, 4);
    if (!(b->attributes & ATTR_LOG_APPEND_TIME))
        rn_bin_store_be(q + 35, (uint64_t)kept_max_ts, 8);
    rn_bin_store_be(q + BATCH_RECORDS_COUNT_AT, (uint32_t)kept_count, 4);
    memcpy(q + RN_SEG_BATCH_HEADER_BYTES, payload, plen);
    c->batch.len = RN_SEG_BATCH_HEADER_BYTES + plen;
    rn_bin_store_be(q + 17, rn_crc32c(0, q + 21, c->batch.len - 21), 4);
    return 0;
}

/* Filters one batch into the cleaned segment. *changed set when it lost records. */
static int clean_batch(cleaner *c, cleaned_out *o, const uint8_t *p, const rn_seg_batch *b, int *changed)
{
    const uint8_t *recs;
    size_t len;
    int framing;
    size_t size = (size_t)rn_seg_batch_size(b);
    int rc;
    if (b->magic == 2) {
        if (!crc_ok(p, b))
            return -EBADMSG; /* never launder a corrupt batch with a fresh CRC */
        if ((rc = txn_drop(c, p, b)) < 0)
            return rc;
        if (rc == 1) {
            *changed = 1;
            if (b->attributes & ATTR_CONTROL)
                c->st->markers_removed++;
            else
                c->st->aborted_removed += (int32_t)rn_bin_load_be(p + BATCH_RECORDS_COUNT_AT, 4);
            return 0; /* the whole batch goes: a gap in the offsets */
        }
    }
    rc = batch_records(c, p, b, &recs, &len, &framing);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return out_batch(c, o, p, size);
    const uint8_t *q = recs, *end = recs + len;
    int32_t total = 0, kept = 0;
    int64_t kept_max_ts = -1;
    rec_view rv;
    c->kept.len = 0;
    while (q < end && record_parse(&q, end, &rv) == 0) {
        int64_t off = b->base_offset + rv.offset_delta;
        int keep = 1;
        total++;
        if (rv.key) {
            int64_t latest = map_get(&c->map, rv.key, (size_t)rv.key_len);
            if (latest > off) {
                keep = 0;
                c->st->records_removed++;
            } else if (rv.value_len < 0) {
                int64_t passed = first_passed_ms(&c->ck, off);
                if (passed >= 0 && c->now_ms - passed >= c->cc->delete_retention_ms) {
                    keep = 0;
                    c->st->tombstones_removed++;
                }
            }
        }
        if (!keep)
            continue;
        kept++;
        if (b->base_timestamp + rv.ts_delta > kept_max_ts)
            kept_max_ts = b->base_timestamp + rv.ts_delta;
        if ((rc = rn_codec_buf_reserve(&c->kept, c->kept.len + rv.len)) < 0)
            return rc;
        memcpy(c->kept.p + c->kept.len, rv.p, rv.len);
        c->kept.len += rv.len;
    }
    c->st->records_read += total;
    if (kept == total)
        return out_batch(c, o, p, size);
    *changed = 1;
    if (kept == 0)
        return 0; /* the whole batch goes: a gap in the offsets */
    if ((rc = rebuild_batch(c, p, b, framing, kept, kept_max_ts)) < 0)
        return rc;
    return out_batch(c, o, c->batch.p, c->batch.len);
}

static void discard_cleaned(rn_segment *seg)
{
    static const char *const exts[] = {".log", ".index", ".timeindex"};
    char p[4096];
    for (size_t k = 0; k < sizeof(exts) / sizeof(exts[0]); k++) {
        snprintf(p, sizeof(p), "%s%s%s", seg->path, exts[k], RN_SEG_CLEANED_SUFFIX);
        unlink(p);
    }
    rn_segment_drop(seg);
}

/* Writes s[g0, g1) cleaned into <base>.log.cleaned (+ index files),
 * fsynced. *out_seg is NULL when nothing changed in a lone segment (no
 * swap needed). */
static int clean_group(cleaner *c, const rn_seg_snap *s, int32_t g0, int32_t g1, rn_segment **out_seg)
{
    cleaned_out o = {0};
    int changed = g1 - g0 > 1, rc;
    *out_seg = NULL;
    if ((rc = rn_segment_create_cleaned(c->dir, s[g0].base_offset, c->cfg, &o.seg)) < 0)
        return rc;
    rn_seg_cursor_init(&o.cur, o.seg);
    c->out.len = 0;
    for (int32_t i = g0; i < g1 && rc == 0; i++) {
        seg_reader r = {s[i].seg->ref.fd, 0, s[i].size, {0}, 0};
        const uint8_t *p;
        rn_seg_batch b;
        while ((rc = reader_next(&r, &p, &b)) == 1 && (rc = clean_batch(c, &o, p, &b, &changed)) == 0)
            ;
        rn_codec_buf_release(&r.win);
    }
    if (rc == 0)
        rc = out_flush(c, &o);
    if (rc == 0 && !changed) {
        discard_cleaned(o.seg);
        return 0;
    }
    if (rc == 0) {
        rn_seg_cursor_commit(o.seg, &o.cur);
        o.seg->next_offset = s[g1 - 1].next_offset; /* the group's range, gaps included */
        o.seg->first_ts_known = 0;
        rc = rn_segment_seal_time_index(o.seg);
    }
    if (rc == 0)
        rc = rn_segment_sync(o.seg);
    if (rc == 0)
        rc = rn_segment_store_indexes_as(o.seg, RN_SEG_CLEANED_SUFFIX, 1);
    if (rc < 0) {
        discard_cleaned(o.seg);
        return rc;
    }
    *out_seg = o.seg;
    return 0;
}

/* Swaps the cleaned segment in for s[g0, g1) (see the diagram above).
 * -EAGAIN when the old segments left the array meanwhile (nothing done,
 * the cleaned files removed). The reference to cleaned is consumed. */
static int swap_group(cleaner *c, const rn_seg_snap *s, int32_t g0, int32_t g1, rn_segment *cleaned)
{
    int32_t k = g1 - g0;
    rn_segment *old[k];
    for (int32_t i = 0; i < k; i++)
        old[i] = s[g0 + i].seg;
    rn_log_deletes_lock(c->log);
    int rc = rn_log_segments_swappable(c->log, old, k);
    if (rc == 0) {
        c->ck.has_swap = 1;
        c->ck.swap_base = s[g0].base_offset;
        c->ck.swap_end = s[g1 - 1].next_offset;
        int64_t rewritten = c->ck.rewritten_end;
        if (c->ck.swap_end > c->ck.rewritten_end)
            c->ck.rewritten_end = c->ck.swap_end; /* before the swap: its gaps are known at open */
        rc = rn_cleaner_ckpt_write(c->dir, &c->ck);
        if (rc < 0)
            c->ck.rewritten_end = rewritten;
        c->ck.has_swap = 0;
    }
    if (rc < 0) {
        rn_log_deletes_unlock(c->log);
        discard_cleaned(cleaned);
        return rc;
    }
    /* CLEANING -> SWAPPING: the .log last, so that a .log.swap always has its index files. */
    const char *path = cleaned->path;
    if ((rc = rn_cleaner_rename(path, ".index", RN_SEG_CLEANED_SUFFIX, RN_SEG_SWAP_SUFFIX, 1)) < 0 ||
        (rc = rn_cleaner_rename(path, ".timeindex", RN_SEG_CLEANED_SUFFIX, RN_SEG_SWAP_SUFFIX, 1)) < 0 ||
        (rc = rn_cleaner_rename(path, ".log", RN_SEG_CLEANED_SUFFIX, RN_SEG_SWAP_SUFFIX, 1)) < 0 ||
        (rc = rn_log_fsync_dir(c->dir)) < 0) {
        rn_log_deletes_unlock(c->log);
        discard_cleaned(cleaned); /* removes what still has .cleaned names; open settles the rest */
        return rc;
    }
    rc = rn_log_replace_segments(c->log, old, k, cleaned);
    assert(rc == 0); /* under del_mu nothing removes segments, and sealed ones stay not busy */
    for (int32_t i = 0; i < k; i++)
        rn_log_retire_segment(c->log, old[i], c->now_ms);
    /* SWAPPING -> DONE */
    if ((rc = rn_cleaner_rename(path, ".log", RN_SEG_SWAP_SUFFIX, "", 1)) == 0 &&
        (rc = rn_cleaner_rename(path, ".index", RN_SEG_SWAP_SUFFIX, "", 0)) == 0 &&
        (rc = rn_cleaner_rename(path, ".timeindex", RN_SEG_SWAP_SUFFIX, "", 0)) == 0)
        rc = rn_log_fsync_dir(c->dir);
    rn_log_deletes_unlock(c->log);
    if (rc < 0)
        rn_error("log: %s: swap of %020" PRId64 " not finished (%s); the next open completes it", c->dir,
                 s[g0].base_offset, strerror(-rc));
    return rc;
}

/* Reads the first batch's max timestamp of a segment; -1 when none. */
static int64_t first_batch_ts(const rn_seg_snap *s)
{
    rn_seg_batch b;
    return rn_segment_read_header(s->seg->ref.fd, 0, s->size, &b) == 1 ? b.max_timestamp : -1;
}

static int snapshot(rn_log *log, rn_seg_snap **s, int32_t *n, int64_t *active_base, int64_t *start)
{
    int rc = rn_log_snapshot(log, s, n, active_base, start);
    if (rc < 0)
        return rc;
    int busy = 0;
    for (int32_t i = 0; i < *n; i++)
        busy |= (*s)[i].busy;
    if (!busy)
        return 0;
    /* Recently rolled segments wait for the flusher to write their index
     * files; do it now (a pass runs rarely) rather than skip them. */
    rn_log_snapshot_release(*s, *n);
    int64_t synced = rn_log_sync(log);
    if (synced < 0)
        return (int)synced;
    return rn_log_snapshot(log, s, n, active_base, start);
}

static int compact(cleaner *c)
{
    rn_seg_snap *s = NULL;
    int32_t n = 0;
    int64_t active_base, start;
    int rc = snapshot(c->log, &s, &n, &active_base, &start);
    if (rc < 0)
        return rc;
    rc = rn_cleaner_ckpt_read(c->dir, &c->ck);
    if (rc < 0 && rc != -EINVAL)
        goto out;
    rc = 0;
    int64_t first_dirty = c->ck.offset;
    if (first_dirty < start || first_dirty > active_base)
        first_dirty = start; /* a checkpoint from before a DeleteRecords, or past a truncation */
    c->st->first_dirty_offset = first_dirty;

    /* [from, n): the segments still in the log; [d, end): the dirty ones to clean. */
    int32_t from = 0, d, end;
    while (from < n && s[from].next_offset <= start)
        from++;
    for (d = from; d < n && s[d].next_offset <= first_dirty; d++)
        ;
    for (end = from; end < n; end++) {
        if (s[end].busy || s[end].next_offset > c->cc->stable_end)
            break;
        if (end >= d && c->cc->min_compaction_lag_ms > 0 && s[end].max_ts > c->now_ms - c->cc->min_compaction_lag_ms)
            break; /* too recent, and so is all after it (Kafka: firstUncleanableOffset) */
    }
    int64_t dirty = 0, total = 0;
    for (int32_t i = from; i < n; i++) {
        total += s[i].size;
        if (i >= d && i < end)
            dirty += s[i].size;
    }
    c->st->dirty_ratio = total > 0 ? (double)dirty / (double)total : 0;
    if (end <= d || dirty == 0)
        goto out; /* nothing dirty to clean */
    int64_t max_lag = c->cc->max_compaction_lag_ms;
    if (max_lag > 0 && max_lag != INT64_MAX) {
        int64_t ts = first_batch_ts(&s[d]);
        c->st->forced = ts >= 0 && c->now_ms - ts > max_lag;
    }
    if (c->st->dirty_ratio < c->cc->min_cleanable_dirty_ratio && !c->st->forced)
        goto out;

    if ((rc = map_alloc(&c->map, MAP_SLOTS_MIN)) < 0)
        goto out;
    int32_t stop = build_map(c, s, d, end, first_dirty);
    if (stop < 0) {
        rc = stop;
        goto out;
    }
    if (stop == d) {
        rn_warn("log: %s: a segment holds more keys than the cleaner map: not cleaned", c->dir);
        goto out;
    }
    end = stop;
    int64_t clean_end = end < n ? s[end].base_offset : active_base;
    c->st->keys = (int64_t)c->map.n;
    c->st->end_offset = clean_end;

    /* Groups of consecutive segments that fit one segment (Kafka's groupSegmentsBySize). */
    walk_begin(&c->walk, start);
    for (int32_t g0 = from; g0 < end;) {
        int64_t size = s[g0].size;
        int32_t on = s[g0].oindex_n, tn = s[g0].tindex_n, g1 = g0 + 1;
        const rn_segment *first = s[g0].seg;
        while (g1 < end && size + s[g1].size <= c->cfg->segment_bytes &&
               s[g1].next_offset - 1 - s[g0].base_offset <= INT32_MAX && on + s[g1].oindex_n <= first->oidx.max &&
               tn + s[g1].tindex_n < first->tidx.max - 1) {
            size += s[g1].size;
            on += s[g1].oindex_n;
            tn += s[g1].tindex_n;
            g1++;
        }
        rn_segment *cleaned;
        if ((rc = clean_group(c, s, g0, g1, &cleaned)) < 0)
            goto out;
        c->st->segments_before += g1 - g0;
        c->st->bytes_before += size;
        if (cleaned) {
            int64_t after = cleaned->size;
            if ((rc = swap_group(c, s, g0, g1, cleaned)) < 0) {
                if (rc == -EAGAIN) {
                    rn_info("log: %s: segments went away during cleaning; the pass stops at %" PRId64, c->dir,
                            s[g0].base_offset);
                    rc = 0;
                    c->st->end_offset = 0;
                }
                goto out; /* the checkpoint stays: the next pass cleans again */
            }
            c->st->cleaned = 1;
            c->st->segments_after++;
            c->st->bytes_after += after;
        } else {
            c->st->segments_after++;
            c->st->bytes_after += size;
        }
        g0 = g1;
    }
    c->ck.offset = clean_end;
    add_horizon(&c->ck, clean_end, c->now_ms);
    c->ck.has_swap = 0;
    rc = rn_cleaner_ckpt_write(c->dir, &c->ck);
out:
    free(c->map.s);
    c->map.s = NULL;
    rn_log_snapshot_release(s, n);
    return rc;
}

int rn_log_compact(rn_log *log, const rn_compact_config *cfg, int64_t now_ms, rn_compact_stats *stats)
{
    rn_compact_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    if (cfg->delete_retention_ms < 0 || cfg->min_compaction_lag_ms < 0 || cfg->min_cleanable_dirty_ratio < 0)
        return -EINVAL;
    int64_t t0 = rn_mono_ms();
    cleaner c = {0};
    rn_log_config lcfg; /* the pass keeps the settings it starts with (rn_log_set_config) */
    c.log = log;
    c.dir = rn_log_dir(log);
    c.cfg = &lcfg;
    c.cc = cfg;
    c.now_ms = now_ms;
    c.st = stats;
    int rc = walk_init(&c.walk, cfg->aborted, cfg->naborted);
    if (rc < 0)
        return rc;
    rn_log_clean_lock(log);
    rn_log_cfg(log, &lcfg);
    rc = compact(&c);
    walk_release(&c.walk);
    rn_codec_buf_release(&c.dec);
    rn_codec_buf_release(&c.kept);
    rn_codec_buf_release(&c.comp);
    rn_codec_buf_release(&c.batch);
    rn_codec_buf_release(&c.out);
    rn_codec_ctx_release(&c.codec);
    if (rc == 0 && cfg->delete_too) {
        int64_t deleted;
        rc = rn_log_enforce_retention(log, now_ms, cfg->retention_ms, cfg->retention_bytes, &deleted);
    }
    rn_log_clean_unlock(log);
    stats->elapsed_ms = rn_mono_ms() - t0;
    if (rc < 0)
        rn_warn("log: %s: compaction failed: %s", c.dir, strerror(-rc));
    else if (stats->cleaned)
        rn_info("log: %s: cleaned [%" PRId64 ", %" PRId64 "): %d -> %d segments, %" PRId64 " -> %" PRId64
                " bytes, %" PRId64 " records, %" PRId64 " tombstones, %" PRId64 " aborted records and %" PRId64
                " markers removed, %" PRId64 " ms",
                c.dir, stats->first_dirty_offset, stats->end_offset, stats->segments_before, stats->segments_after,
                stats->bytes_before, stats->bytes_after, stats->records_removed, stats->tombstones_removed,
                stats->aborted_removed, stats->markers_removed, stats->elapsed_ms);
    return rc;
}

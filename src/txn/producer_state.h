/*
 * producer_state.h - idempotent producers (KIP-98): per partition, what
 * each producer id last wrote, so that a retried batch is answered with its
 * original offset instead of being written twice, and a gap in sequence
 * numbers is refused.
 *
 * Layer: src/txn. Knows producer ids, epochs, sequences and offsets; not
 * the network, not the log's files (the broker feeds it batch headers).
 *
 * Per producer id it keeps the epoch and the last RN_PSTATE_BATCHES batches
 * (first/last sequence, first/last offset), as Kafka does, plus the first
 * offset of an open transaction (for the last stable offset, later).
 *
 * Threads: a partition's state is used under that partition's produce
 * mutex (broker/produce.c); nothing here locks.
 */
#ifndef RN_TXN_PRODUCER_STATE_H
#define RN_TXN_PRODUCER_STATE_H

#include <stdint.h>

#define RN_PSTATE_BATCHES 5

typedef struct rn_pstate rn_pstate;

/* What a batch says about its producer (from its v2 header). */
typedef struct rn_pbatch {
    int64_t producer_id;  /* -1: not idempotent, nothing to check */
    int16_t epoch;
    int32_t first_seq;
    int32_t last_seq;     /* first_seq + lastOffsetDelta, wrapping at INT32_MAX */
    int64_t first_offset; /* set by the caller after the append */
    int64_t last_offset;
    int64_t max_timestamp;
    int transactional;
} rn_pbatch;

rn_pstate *rn_pstate_new(void);
void rn_pstate_free(rn_pstate *s);

/* Result of checking a batch before it is appended. */
typedef enum rn_pcheck {
    RN_PCHECK_OK = 0,         /* new and in sequence: append it */
    RN_PCHECK_DUPLICATE,      /* a retry of a batch already written: answer with *dup_first_offset */
    RN_PCHECK_OUT_OF_ORDER,   /* OUT_OF_ORDER_SEQUENCE_NUMBER (45) */
    RN_PCHECK_FENCED_EPOCH,   /* INVALID_PRODUCER_EPOCH (47): an older epoch than the one known */
} rn_pcheck;

/* Checks batches b[0..n-1] of one produce as a unit (they are appended
 * together). Duplicate only when the first batch is a cached one. */
rn_pcheck rn_pstate_check(const rn_pstate *s, const rn_pbatch *b, int n, int64_t *dup_first_offset);

/* Records batches that were appended (offsets filled in), or replays them
 * from the log at start-up. Returns 0, or -1 on allocation failure. */
int rn_pstate_update(rn_pstate *s, const rn_pbatch *b);

/* A transaction marker for producer_id was written at marker_offset with
 * `epoch`: closes its open transaction, and when the marker's epoch is newer
 * (the coordinator fenced the producer), adopts it, so that the old
 * producer's next batch is refused as fenced. Returns the transaction's
 * first offset, or -1 when it had none open in this partition. */
int64_t rn_pstate_end_txn(rn_pstate *s, int64_t producer_id, int16_t epoch, int64_t marker_offset);

/* The first offset of the oldest open transaction (the last stable offset
 * is there), or -1 when none is open. */
int64_t rn_pstate_first_open_txn(const rn_pstate *s);

/* Forgets producers whose last write is older than now - expiration_ms
 * (producer.id.expiration.ms) and which have no open transaction. */
void rn_pstate_expire(rn_pstate *s, int64_t now_ms, int64_t expiration_ms);

/* Number of producers known. */
int rn_pstate_count(const rn_pstate *s);

/* Snapshot file <dir>/<20-digit offset>.snapshot: the state as of `offset`
 * (exclusive), written atomically. Load picks the newest snapshot at or
 * below max_offset and returns its offset (or -1 when none is usable). */
int rn_pstate_save(const rn_pstate *s, const char *dir, int64_t offset);
int64_t rn_pstate_load(rn_pstate *s, const char *dir, int64_t max_offset);

/* For DescribeProducers: visits every producer. */
typedef struct rn_producer_info {
    int64_t producer_id;
    int16_t epoch;
    int32_t last_sequence;
    int64_t last_timestamp;
    int64_t txn_first_offset; /* -1: no open transaction */
} rn_producer_info;
void rn_pstate_each(const rn_pstate *s, void (*fn)(void *arg, const rn_producer_info *p), void *arg);

/* ---- producer ids ---- */

/* Loads <dir>/producer-id-block (the next unallocated id), so ids are never
 * reused across restarts. Returns 0 or -errno. */
int rn_producer_ids_open(const char *dir);
/* A fresh producer id, or -1 when the block file cannot be written. Any thread. */
int64_t rn_producer_id_next(void);

#endif

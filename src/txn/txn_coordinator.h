/*
 * txn_coordinator.h - the transaction coordinator (KIP-98): transactional
 * ids, their producer id and epoch, the partitions and groups of the open
 * transaction, and the two-phase end (prepare, markers, complete).
 *
 * Layer: src/txn. Persistence, markers and offset commits go through hooks
 * that the broker provides (broker/transactions.c). Every hook is called
 * WITHOUT the coordinator's lock held, so the broker may take partition
 * locks in them; the broker in turn may call rn_txn_partition_open() while
 * holding a partition's produce lock (lock order: partition, then
 * coordinator).
 *
 * States (one function, set_state(), changes them):
 *
 *   Empty ──AddPartitions/AddOffsets──> Ongoing ──EndTxn(commit)──> PrepareCommit ──markers──> CompleteCommit
 *     ^                                    │    └─EndTxn(abort), timeout, fencing─> PrepareAbort ──markers──> CompleteAbort
 *     │                                    │                                                          │
 *     └── (CompleteCommit/CompleteAbort ──AddPartitions──> Ongoing: the next transaction) <────────────┘
 *
 * Threads: any worker; a timer thread aborts transactions past their timeout.
 */
#ifndef RN_TXN_TXN_COORDINATOR_H
#define RN_TXN_TXN_COORDINATOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct rn_tbytes {
    const char *ptr;
    int32_t len; /* -1: null */
} rn_tbytes;

typedef struct rn_txn_offset {
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;
} rn_txn_offset;

typedef struct rn_txn_hooks {
    /* Appends one record to __transaction_state partition `partition` and
     * makes it durable before returning. Returns 0 or -errno. */
    int (*persist)(int32_t partition, const uint8_t *key, int32_t key_len, const uint8_t *value, int32_t value_len);
    /* Writes a COMMIT or ABORT marker for producer_id/epoch into a partition.
     * 0, or -ENOENT for a partition that is gone (nothing to mark), or
     * another -errno. Durable on return unless markers_durable is set: then
     * the markers of one end are made durable together by it (one flush
     * round for all partitions of the transaction). */
    int (*write_marker)(const char *topic, int32_t partition, int64_t producer_id, int16_t epoch, int commit);
    int (*markers_durable)(void); /* optional; 0 or -errno */
    /* Commits a transaction's offsets for a group (durably). 0 or -errno. */
    int (*commit_offsets)(const char *group, const rn_txn_offset *offsets, int n);
    /* Does the partition exist? */
    int (*partition_exists)(rn_tbytes topic, int32_t partition);
    /* A fresh producer id, or -1. */
    int64_t (*new_producer_id)(void);
    int32_t state_partitions;          /* transaction.state.log.num.partitions */
    int32_t max_timeout_ms;            /* transaction.max.timeout.ms */
    int64_t id_expiration_ms;          /* transactional.id.expiration.ms */
} rn_txn_hooks;

int rn_txn_start(const rn_txn_hooks *hooks);
void rn_txn_stop(void);
/* Start-up: replays one __transaction_state record, before rn_txn_start. */
void rn_txn_load_record(const uint8_t *key, int32_t key_len, const uint8_t *value, int32_t value_len);
/* Which __transaction_state partition holds a transactional id. */
int32_t rn_txn_partition_for(rn_tbytes txn_id, int32_t npartitions);
/* After loading: finishes transactions left in PrepareCommit/PrepareAbort. */
void rn_txn_recover(void);

/* Every call returns a Kafka error code. conn_seq is the broker-wide
 * sequence number of the connection the request came on (see EndTxn). */
int16_t rn_txn_init_producer(rn_tbytes txn_id, int32_t timeout_ms, int64_t expect_pid, int16_t expect_epoch,
                             int64_t *pid_out, int16_t *epoch_out);
int16_t rn_txn_add_partitions(rn_tbytes txn_id, int64_t pid, int16_t epoch, const rn_tbytes *topics,
                              const int32_t *partitions, int n, int16_t *errors_out, uint64_t conn_seq,
                              int verify_only);
int16_t rn_txn_add_offsets(rn_tbytes txn_id, int64_t pid, int16_t epoch, rn_tbytes group, uint64_t conn_seq);
int16_t rn_txn_offset_commit(rn_tbytes txn_id, rn_tbytes group, int64_t pid, int16_t epoch,
                             const rn_txn_offset *offsets, int n);
/* EndTxn. A request that arrives on a connection older than the one that
 * began the current transaction predates it (a delayed retry of the
 * previous EndTxn, Jepsen 2024): it is refused with INVALID_TXN_STATE
 * instead of ending the wrong transaction. */
int16_t rn_txn_end(rn_tbytes txn_id, int64_t pid, int16_t epoch, int commit, uint64_t conn_seq);

/* OffsetFetch with RequireStable (KIP-447): does an open transaction hold
 * an offset of group for topic/partition that is not committed yet? The
 * answer is then UNSTABLE_OFFSET_COMMIT, and the consumer retries. Costs
 * nothing while no transaction holds offsets. */
int rn_txn_offset_pending(rn_tbytes group, rn_tbytes topic, int32_t partition);

/* Produce path (under the partition's produce lock): may producer pid/epoch
 * write transactional data to topic/partition now? */
int rn_txn_partition_open(int64_t pid, int16_t epoch, rn_tbytes topic, int32_t partition);

/* ListTransactions / DescribeTransactions. */
typedef struct rn_txn_desc {
    char *txn_id;
    const char *state;
    int64_t producer_id;
    int16_t epoch;
    int32_t timeout_ms;
    int64_t start_ms;
    int npartitions;
    char **topics;
    int32_t *partitions;
} rn_txn_desc;
int rn_txn_list(rn_txn_desc **out, int *n); /* all; filters are applied by the caller */
int16_t rn_txn_describe(rn_tbytes txn_id, rn_txn_desc *out);
void rn_txn_desc_free(rn_txn_desc *d, int n);

#endif

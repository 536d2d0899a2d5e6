/*
 * group.h - the consumer group coordinator (Kafka's classic protocol) and
 * committed offsets.
 *
 * Layer: src/group. Knows groups, members, generations and offsets; knows
 * nothing of sockets or of Kafka's message structs. The broker
 * (broker/groups.c) decodes requests, calls in here, and answers. A call
 * that cannot answer at once (JoinGroup waiting for the rebalance, SyncGroup
 * waiting for the leader) keeps the caller's opaque `waiter` and later calls
 * the broker's completion hook from whichever thread completes it (a
 * worker, or the coordinator's timer thread), with the coordinator's lock
 * held; the hook must only record the result and hand it to the waiter's
 * own thread.
 *
 * Persistence goes through hooks too (rn_group_hooks.append): committed
 * offsets and group metadata are records in the internal topic
 * __consumer_offsets, written through the same log as user data, in
 * Kafka's key/value formats, and read back at start-up (rn_group_load_*).
 *
 * Threads: every function takes the coordinator's lock itself. The timer
 * thread (rn_group_start) expires sessions and completes rebalances.
 */
#ifndef RN_GROUP_GROUP_H
#define RN_GROUP_GROUP_H

#include <stddef.h>
#include <stdint.h>

/* Bytes owned by the caller (not NUL-terminated); len -1 = null. */
typedef struct rn_gbytes {
    const uint8_t *ptr;
    int32_t len;
} rn_gbytes;

typedef struct rn_group_protocol {
    rn_gbytes name;
    rn_gbytes metadata;
} rn_group_protocol;

typedef struct rn_join_params {
    rn_gbytes group_id;
    rn_gbytes member_id;          /* empty: a new member */
    rn_gbytes group_instance_id;  /* null: dynamic member */
    rn_gbytes protocol_type;
    rn_gbytes client_id;
    rn_gbytes client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    int require_known_member_id;  /* JoinGroup v4+ (KIP-394) */
    int nprotocols;
    const rn_group_protocol *protocols;
} rn_join_params;

/* One member as the leader sees it in the JoinGroup answer. Strings are
 * copies owned by the result (freed by rn_join_result_free). */
typedef struct rn_join_member {
    char *member_id;
    char *group_instance_id; /* NULL when dynamic */
    uint8_t *metadata;
    int32_t metadata_len;
} rn_join_member;

typedef struct rn_join_result {
    int16_t error;
    int32_t generation_id;
    char *protocol_type;  /* NULL when unknown */
    char *protocol_name;  /* NULL when unknown */
    char *leader_id;
    char *member_id;
    int nmembers;         /* only for the leader */
    rn_join_member *members;
} rn_join_result;

typedef struct rn_sync_params {
    rn_gbytes group_id;
    rn_gbytes member_id;
    rn_gbytes group_instance_id;
    rn_gbytes protocol_type; /* v5+: checked when not null */
    rn_gbytes protocol_name;
    int32_t generation_id;
    int nassignments;
    const rn_gbytes *assignment_member_ids;
    const rn_gbytes *assignments;
} rn_sync_params;

typedef struct rn_sync_result {
    int16_t error;
    char *protocol_type;
    char *protocol_name;
    uint8_t *assignment;
    int32_t assignment_len;
} rn_sync_result;

void rn_join_result_free(rn_join_result *r);
void rn_sync_result_free(rn_sync_result *r);

typedef struct rn_group_hooks {
    /* A JoinGroup or SyncGroup answer for a parked waiter. The result now
     * belongs to the hook. Called with the coordinator lock held. */
    void (*join_done)(void *waiter, rn_join_result *result);
    void (*sync_done)(void *waiter, rn_sync_result *result);
    /* Appends `len` bytes of record batches to __consumer_offsets partition
     * `partition`; returns a durability ticket (> 0) to wait for, or < 0 on
     * failure. Called with the coordinator lock held. */
    int64_t (*append)(int32_t partition, uint8_t *batches, size_t len);
    int32_t offsets_partitions;    /* offsets.topic.num.partitions */
    int32_t initial_rebalance_delay_ms;
    int32_t min_session_timeout_ms;
    int32_t max_session_timeout_ms;
    int32_t max_size;              /* group.max.size */
    int64_t offsets_retention_ms;  /* offsets.retention.minutes */
} rn_group_hooks;

/* Starts the coordinator (and its timer thread) after loading. */
int rn_group_start(const rn_group_hooks *hooks);
void rn_group_stop(void);

/* Start-up: replays one __consumer_offsets record (key, value; value NULL
 * for a tombstone). Call before rn_group_start. */
void rn_group_load_record(const uint8_t *key, int32_t key_len, const uint8_t *value, int32_t value_len);
/* Which __consumer_offsets partition holds a group (Kafka's hash). */
int32_t rn_group_partition_for(rn_gbytes group_id, int32_t npartitions);

/* Returns 1 and fills *out when the call answered at once; returns 0 when
 * it parked `waiter` (the hook fires later). */
int rn_group_join(const rn_join_params *p, void *waiter, rn_join_result *out);
int rn_group_sync(const rn_sync_params *p, void *waiter, rn_sync_result *out);
/* Forgets a parked waiter whose connection died. */
void rn_group_cancel(void *waiter);

int16_t rn_group_heartbeat(rn_gbytes group_id, rn_gbytes member_id, rn_gbytes instance_id, int32_t generation);
/* member_id may be empty when instance_id names a static member. */
int16_t rn_group_leave(rn_gbytes group_id, rn_gbytes member_id, rn_gbytes instance_id);

/* ---- offsets ---- */

typedef struct rn_offset_commit {
    rn_gbytes topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    rn_gbytes metadata;
    int16_t error; /* out */
} rn_offset_commit;

/* Validates membership, writes the commits, and stores them in memory.
 * Returns the group-level error (each commit's own error is set too), and
 * *ticket (> 0) to wait for before answering, 0 when nothing was written. */
int16_t rn_group_commit(rn_gbytes group_id, rn_gbytes member_id, rn_gbytes instance_id, int32_t generation,
                        rn_offset_commit *commits, int n, int64_t *ticket);

/* The offsets of a committed transaction (KIP-98): no membership check. */
int16_t rn_group_commit_txn(rn_gbytes group_id, rn_offset_commit *commits, int n, int64_t *ticket);

typedef struct rn_offset_entry {
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;
} rn_offset_entry;

/* Committed offsets of a group: all of them (topic NULL) or one
 * topic-partition. Returns 0 and a malloc'ed array the caller frees with
 * rn_offset_entries_free, or -1 on allocation failure. */
int rn_group_fetch_offsets(rn_gbytes group_id, rn_offset_entry **out, int *n);
int rn_group_fetch_offset(rn_gbytes group_id, rn_gbytes topic, int32_t partition, rn_offset_entry *out);
void rn_offset_entries_free(rn_offset_entry *e, int n);

/* OffsetDelete for one partition: error for it (GROUP_SUBSCRIBED_TO_TOPIC, ...). */
int16_t rn_group_delete_offset(rn_gbytes group_id, rn_gbytes topic, int32_t partition, int64_t *ticket);
int16_t rn_group_offset_delete_check(rn_gbytes group_id);

/* ---- describe / list / delete ---- */

typedef struct rn_group_member_desc {
    char *member_id, *group_instance_id, *client_id, *client_host;
    uint8_t *metadata;
    int32_t metadata_len;
    uint8_t *assignment;
    int32_t assignment_len;
} rn_group_member_desc;

typedef struct rn_group_desc {
    int16_t error;
    char *group_id;
    const char *state;    /* "Empty", "PreparingRebalance", ... , "Dead" */
    char *protocol_type;
    char *protocol_name;
    int nmembers;
    rn_group_member_desc *members;
} rn_group_desc;

int rn_group_describe(rn_gbytes group_id, rn_group_desc *out);
void rn_group_desc_free(rn_group_desc *d);

typedef struct rn_group_listing {
    char *group_id;
    char *protocol_type;
    const char *state;
} rn_group_listing;

/* All groups, or those whose state is in states[] (nstates > 0). */
int rn_group_list(const rn_gbytes *states, int nstates, rn_group_listing **out, int *n);
void rn_group_listing_free(rn_group_listing *l, int n);

int16_t rn_group_delete(rn_gbytes group_id, int64_t *ticket);

#endif

/*
 * broker.h - the broker's shared state and the request life cycle.
 *
 * Layer: src/broker. Holds the topic table (topics.c), the network workers
 * (server.c), the flusher that makes acks=all durable (flusher.c), and the
 * request object that each API handler (one file per API area) receives.
 *
 * Threads and locks:
 *   - Each worker thread runs one rn_loop and owns its connections and requests.
 *   - The topic table is guarded by rn_topics_rdlock()/rn_topics_wrlock().
 *     A handler holds the read lock while it touches topics or partitions;
 *     nothing keeps a partition pointer across loop rounds (delayed
 *     operations look partitions up again), so deleting a topic under the
 *     write lock is safe.
 *   - rn_log functions lock internally (see log/log.h).
 */
#ifndef RN_BROKER_BROKER_H
#define RN_BROKER_BROKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/config.h"
#include "log/log.h"
#include "net/conn.h"
#include "net/loop.h"
#include "proto/api.h"
#include "proto/header.h"

/* Kafka error codes used by the broker. */
enum {
    RN_ERR_UNKNOWN_SERVER_ERROR = -1,
    RN_ERR_NONE = 0,
    RN_ERR_OFFSET_OUT_OF_RANGE = 1,
    RN_ERR_CORRUPT_MESSAGE = 2,
    RN_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    RN_ERR_INVALID_FETCH_SIZE = 4,
    RN_ERR_LEADER_NOT_AVAILABLE = 5,
    RN_ERR_NOT_LEADER_OR_FOLLOWER = 6,
    RN_ERR_REQUEST_TIMED_OUT = 7,
    RN_ERR_MESSAGE_TOO_LARGE = 10,
    RN_ERR_OFFSET_METADATA_TOO_LARGE = 12,
    RN_ERR_COORDINATOR_NOT_AVAILABLE = 15,
    RN_ERR_INVALID_TOPIC_EXCEPTION = 17,
    RN_ERR_RECORD_LIST_TOO_LARGE = 18,
    RN_ERR_INVALID_REQUIRED_ACKS = 21,
    RN_ERR_TOPIC_AUTHORIZATION_FAILED = 29,
    RN_ERR_UNSUPPORTED_VERSION = 35,
    RN_ERR_TOPIC_ALREADY_EXISTS = 36,
    RN_ERR_INVALID_PARTITIONS = 37,
    RN_ERR_INVALID_REPLICATION_FACTOR = 38,
    RN_ERR_INVALID_REPLICA_ASSIGNMENT = 39,
    RN_ERR_INVALID_CONFIG = 40,
    RN_ERR_INVALID_REQUEST = 42,
    RN_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    RN_ERR_POLICY_VIOLATION = 44,
    RN_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    RN_ERR_INVALID_PRODUCER_EPOCH = 47,
    RN_ERR_UNSUPPORTED_COMPRESSION_TYPE = 76,
    RN_ERR_INVALID_TXN_STATE = 48,
    RN_ERR_TRANSACTIONAL_ID_NOT_FOUND = 105,
    RN_ERR_KAFKA_STORAGE_ERROR = 56,
    RN_ERR_UNKNOWN_TOPIC_ID = 100,
    RN_ERR_INVALID_RECORD = 87,
    RN_ERR_UNSTABLE_OFFSET_COMMIT = 88,
    RN_ERR_TOPIC_DELETION_DISABLED = 73,
    RN_ERR_RESOURCE_NOT_FOUND = 91, /* unused yet */
};

/* ---- topics and partitions (topics.c) ---- */

typedef struct rn_topic rn_topic;

typedef struct rn_partition {
    rn_topic *topic;
    int32_t index;
    rn_log *log;
    atomic_int storage_error;   /* sticky: a write or sync failed */
    atomic_llong unflushed;     /* records appended since the last sync (flush.messages) */
    atomic_llong last_sync_ms;  /* when the flusher last synced it (flush.ms) */
    /* flusher.c's queue, guarded by its mutex */
    int flush_queued;           /* in the queue for the next round */
    int flush_in_round;         /* being synced by the current round */
    struct rn_partition *flush_next;
    /* Background work (log manager) holds the partition with
     * rn_partition_try_hold without the topics lock; deletion marks it dying
     * and waits until no such hold remains. */
    /* Serialises check-append-update of producer state (idempotence). */
    pthread_mutex_t produce_mu;
    struct rn_pstate *pstate;
    /* Aborted transactions (KIP-98), oldest first, under produce_mu; also
     * in the file `aborted-txns`. Fetch hands them to read_committed consumers. */
    rn_log_aborted_txn *aborted;
    int naborted, aborted_cap;
    pthread_mutex_t hold_mu;
    pthread_cond_t hold_cv;
    int holds;
    int dying;
} rn_partition;

/* Takes a hold for work done without the topics lock; fails (0) when the
 * partition is being deleted. Call under the topics read lock. */
int rn_partition_try_hold(rn_partition *p);
void rn_partition_unhold(rn_partition *p);

#define RN_TOPIC_CONFIGS_MAX 32
#define RN_TOPIC_CONFIG_KEY_MAX 64
#define RN_TOPIC_CONFIG_VALUE_MAX 256

struct rn_topic {
    char name[256];
    rn_uuid id;
    int32_t npartitions;
    rn_partition **parts;
    /* per-topic overrides (topic_config.c) and what is derived from them */
    int nconfigs;
    struct {
        char key[RN_TOPIC_CONFIG_KEY_MAX];
        char value[RN_TOPIC_CONFIG_VALUE_MAX];
    } configs[RN_TOPIC_CONFIGS_MAX];
    int timestamp_type;         /* message.timestamp.type: 0 CreateTime, 1 LogAppendTime */
    int32_t max_message_bytes;  /* max.message.bytes */
    rn_log_config log_cfg;      /* segment.bytes, index.interval.bytes, segment.index.bytes */
    int64_t flush_messages;     /* flush.messages: sync after this many records (INT64_MAX: never) */
    int64_t flush_ms;           /* flush.ms: sync data older than this (INT64_MAX: never) */
    int64_t retention_ms;       /* retention.ms (-1: forever) */
    int64_t retention_bytes;    /* retention.bytes (-1: unlimited) */
    int cleanup_delete;         /* cleanup.policy has delete */
    int cleanup_compact;        /* cleanup.policy has compact */
    int64_t delete_retention_ms, min_compaction_lag_ms, max_compaction_lag_ms;
    double min_cleanable_dirty_ratio;
    int64_t file_delete_delay_ms; /* file.delete.delay.ms */
    rn_topic *next_by_name;     /* hash chains */
    rn_topic *next_by_id;
};

void rn_topics_rdlock(void);
void rn_topics_wrlock(void);
void rn_topics_unlock(void);

/* Loads every partition folder under log.dirs. Returns 0 or -errno. */
int rn_topics_load(int clean_shutdown);
/* Syncs and closes every log (shutdown). */
void rn_topics_close_all(void);

/* Lookups: caller holds the read (or write) lock. NULL when missing. */
rn_topic *rn_topic_find(rn_str name);
rn_topic *rn_topic_find_id(rn_uuid id);
rn_partition *rn_partition_find(rn_topic *t, int32_t index);
/* Visits every topic (caller holds a lock); stops when fn returns non-zero. */
void rn_topics_each(int (*fn)(rn_topic *t, void *arg), void *arg);
int rn_topics_count(void);

/* Kafka's legal topic name rule: 1..249 of [a-zA-Z0-9._-], not "." or "..".
 * Returns NULL when legal, else the reason. */
const char *rn_topic_name_invalid(rn_str name);

/* Creates a topic with npartitions partitions and the given config
 * overrides, already validated (caller holds the write lock). Returns a
 * Kafka error code (RN_ERR_NONE on success) and *out. */
int rn_topic_create(rn_str name, int32_t npartitions, const rn_str *config_keys, const rn_str *config_values,
                    int nconfigs, rn_topic **out, const char **msg);
/* Deletes a topic and its data (caller holds the write lock). */
int rn_topic_delete(rn_topic *t);
/* Persists t's config overrides in every partition folder and applies
 * them (caller holds the write lock). Returns 0 or -errno. */
int rn_topic_store_config(rn_topic *t);
/* Re-applies every topic's configuration after a broker default changed. */
void rn_topics_reapply_configs(void);
/* Grows a topic to npartitions (caller holds the write lock). */
int rn_topic_add_partitions(rn_topic *t, int32_t npartitions, const char **msg);

/* ---- the broker ---- */

typedef struct rn_worker rn_worker;

typedef struct rn_broker {
    rn_config cfg;
    char cluster_id[64];
    char advertised_host[256];
    int advertised_port;
    int nworkers;
    rn_worker **workers;
    atomic_int shutting_down;
    atomic_int fetch_waiters;   /* delayed fetches across all workers */
} rn_broker;

extern rn_broker rn_g; /* the one broker in this process */

/* ---- requests ---- */

typedef struct rn_req rn_req;

struct rn_req {
    rn_resp resp;               /* first: conn.c hands it back to release */
    rn_conn *conn;
    rn_worker *worker;
    uint8_t *frame;             /* owned; strings of the decoded request point into it */
    size_t frame_len;
    rn_request_header hdr;
    const rn_api_desc *api;
    int flexible;
    rn_reader body;             /* positioned after the header */
    rn_arena arena;             /* the decoded request and response live here */
    /* A handler that answers later sets these; cancel() runs if the
     * connection dies first and must unlink the request from any list. */
    void (*cancel)(rn_req *req);
    void *pending;              /* the handler's own state while waiting */
    rn_req *next_waiting;       /* intrusive list for the waiting kind */
    rn_req *prev_waiting;
    rn_timer timer;
    uint64_t flush_gen;         /* acks=all: the flusher generation to wait for */
    void (*on_flushed)(rn_req *req);
    /* offload.c: a handler run on an offload thread */
    int offload_state;          /* under offload.c's mutex */
    int offload_outcome;        /* RN_OFFLOAD_*: what the handler answered */
    const char *offload_what;   /* for MALFORMED / CLOSE: why (a static string) */
    void (*offload_fn)(rn_req *req);
};

/* Starts the response: size placeholder + response header. */
void rn_req_begin_response(rn_req *req);
/* Patches the size and hands the response to the connection. The response
 * may be sent and req freed before this returns: the caller must not touch
 * req (or anything in its arena) afterwards. */
void rn_req_finish_response(rn_req *req);
/* The request could not be decoded: logs one line and closes the connection. */
void rn_req_malformed(rn_req *req, const char *what);
/* No response at all (Produce with acks=0). */
void rn_req_no_response(rn_req *req);

#define RN_RESPOND(req, Api, msg)                                                    \
    do {                                                                             \
        rn_req_begin_response(req);                                                  \
        rn_##Api##Response_encode((msg), &(req)->resp.w, (req)->hdr.api_version);    \
        rn_req_finish_response(req);                                                 \
    } while (0)

#define RN_DECODE(req, Api, msgp)                                                           \
    (rn_##Api##Request_decode((msgp), &(req)->body, &(req)->arena, (req)->hdr.api_version) \
     == 0)

/* Allocates n zeroed elements in the request's arena; NULL on failure. */
#define RN_ALLOC(req, type, n) ((type *)rn_arena_calloc(&(req)->arena, (size_t)(n) ? (size_t)(n) : 1, sizeof(type)))

/* Handlers, one per API (in the file of their area). */
void rn_handle_api_versions(rn_req *req);
void rn_handle_metadata(rn_req *req);
void rn_handle_produce(rn_req *req);
void rn_handle_fetch(rn_req *req);
void rn_handle_list_offsets(rn_req *req);
void rn_handle_create_topics(rn_req *req);
void rn_handle_delete_topics(rn_req *req);
void rn_handle_create_partitions(rn_req *req);
void rn_handle_describe_configs(rn_req *req);
void rn_handle_describe_cluster(rn_req *req);
void rn_handle_find_coordinator(rn_req *req);
void rn_handle_alter_configs(rn_req *req);
void rn_handle_incremental_alter_configs(rn_req *req);
void rn_handle_delete_records(rn_req *req);
void rn_handle_init_producer_id(rn_req *req);
void rn_handle_add_partitions_to_txn(rn_req *req);
void rn_handle_add_offsets_to_txn(rn_req *req);
void rn_handle_txn_offset_commit(rn_req *req);
void rn_handle_end_txn(rn_req *req);
void rn_handle_write_txn_markers(rn_req *req);
void rn_handle_list_transactions(rn_req *req);
void rn_handle_describe_transactions(rn_req *req);
/* transactions.c: creates and loads __transaction_state, starts the coordinator. */
int rn_transactions_start(void);
/* Writes a COMMIT/ABORT marker into p (held or under the read lock) and waits until it is durable. */
int rn_txn_write_marker(rn_partition *p, int64_t pid, int16_t epoch, int commit);
void rn_handle_describe_producers(rn_req *req);

/* alter_configs.c: broker keys that may change at run time, and their overrides. */
int rn_dynamic_config_load(void);
int rn_config_key_is_dynamic(const char *key);
const char *rn_dynamic_override(const char *key);
void rn_handle_join_group(rn_req *req);
void rn_handle_sync_group(rn_req *req);
void rn_handle_heartbeat(rn_req *req);
void rn_handle_leave_group(rn_req *req);
void rn_handle_offset_commit(rn_req *req);
void rn_handle_offset_fetch(rn_req *req);
void rn_handle_describe_groups(rn_req *req);
void rn_handle_list_groups(rn_req *req);
void rn_handle_delete_groups(rn_req *req);
void rn_handle_offset_delete(rn_req *req);
void rn_handle_offset_for_leader_epoch(rn_req *req);

/* groups.c: creates and loads __consumer_offsets, starts the coordinator. */
int rn_groups_start(void);
/* groups.c: answers this worker's JoinGroup/SyncGroup requests the coordinator completed. */
void rn_groups_answer_done(rn_worker *w);
/* Internal topics (__consumer_offsets) are flagged in Metadata. */
int rn_topic_is_internal(const char *name);

/* Dispatch table lookup (server.c): NULL when the API has no handler. */
typedef void (*rn_handler_fn)(rn_req *req);
rn_handler_fn rn_handler_for(int16_t api_key);

/* ---- workers (server.c) ---- */

struct rn_worker {
    rn_loop loop;
    pthread_t thread;
    int id;
    rn_listener_io *listener;
    /* acks=all produce requests waiting for the flusher, oldest first */
    rn_req *flush_head, *flush_tail;
    _Atomic uint64_t flush_wait_gen; /* flush_head's generation, 0 when none: the flusher wakes
                                      * only workers with a request its round completes */
    /* delayed fetches (fetch.c) */
    rn_req *fetch_head;
    rn_req *fetch_ready_head;   /* being answered by rn_fetch_wake */
    int nfetch_waiting;
    atomic_int fetch_dirty;     /* an append happened since the last evaluation */
    int draining;               /* shutdown has begun on this loop */
    /* JoinGroup/SyncGroup answers completed by the coordinator (groups.c) */
    pthread_mutex_t group_done_mu;
    rn_req *group_done_head;
    /* offloaded requests whose handler finished (offload.c, under its mutex) */
    rn_req *offload_done_head;
    rn_timer drain_timer;
    int64_t drain_give_up_ms;
};

/* ---- handlers that wait for the disk, off the worker (offload.c) ---- */

/* Runs handler(req) on an offload thread, for handlers that block on
 * fsync rounds (the transaction coordinator), so that the worker's loop
 * goes on serving its other connections. The handler answers as usual
 * (RN_RESPOND, rn_req_malformed, rn_req_no_response); the answer reaches
 * the connection from the request's worker. */
void rn_req_offload(rn_req *req, void (*handler)(rn_req *req));
/* True on the offload thread running req's handler: server.c then only
 * records the outcome (RN_OFFLOAD_*) for the worker. */
int rn_req_is_offloaded(const rn_req *req);
enum { RN_OFFLOAD_NO_ANSWER, RN_OFFLOAD_ANSWER, RN_OFFLOAD_SILENT, RN_OFFLOAD_MALFORMED, RN_OFFLOAD_CLOSE };
/* On a worker's loop: hands over the answers of its finished offloaded requests. */
void rn_offload_answer_done(rn_worker *w);
int rn_offload_start(void);
void rn_offload_stop(void);

/* Called after an append: wakes workers with delayed fetches. Any thread. */
void rn_notify_append(void);
/* fetch.c: re-evaluates this worker's delayed fetches (on its loop). */
void rn_fetch_wake(rn_worker *w, int force_all);

/* ---- the flusher (flusher.c): group-committed fdatasync for acks=all ---- */

int rn_flusher_start(void);
void rn_flusher_stop(void);
/* Queues p for the next sync round; returns the generation to wait for. */
uint64_t rn_flusher_enqueue(rn_partition *p);
/* Generations completed so far (every partition queued at or before it is synced). */
uint64_t rn_flusher_done(void);
/* Blocks until generation gen is synced (a thread that may block: not for
 * request paths that can park instead). 0, or -ECANCELED at shutdown. */
int rn_flusher_wait(uint64_t gen);
/* Removes p from the queue (topic deletion, under the topics write lock). */
void rn_flusher_forget(rn_partition *p);
/* How many fdatasyncs the flusher has seen fail since start: a caller that
 * waited for a round covering several partitions compares it before and
 * after (a transaction's markers). */
uint64_t rn_flusher_failures(void);
/* Answers through on_flushed(req) once flusher generation `gen` is done
 * (at once when it already is). The request is parked on its worker until then. */
void rn_req_wait_flush(rn_req *req, uint64_t gen, void (*on_flushed)(rn_req *req));
/* Runs on_flushed for this worker's parked requests whose generation is done. */
void rn_flush_waiters_done(rn_worker *w);

/* ---- background log work (log_manager.c, retention.c) ---- */

int rn_log_manager_start(void);
void rn_log_manager_stop(void);
/* A topic's retention and compaction settings, copied under the topics lock. */
typedef struct rn_housekeeping_cfg {
    int cleanup_delete, cleanup_compact;
    int64_t retention_ms, retention_bytes;
    int64_t delete_retention_ms, min_compaction_lag_ms, max_compaction_lag_ms;
    double min_cleanable_dirty_ratio;
    int64_t file_delete_delay_ms;
} rn_housekeeping_cfg;
void rn_housekeeping_cfg_of(const rn_topic *t, rn_housekeeping_cfg *out);
/* Retention, purging and compaction of one held partition (log manager
 * thread, no topics lock). */
void rn_log_housekeeping(rn_partition *p, const rn_housekeeping_cfg *cfg, int64_t now_ms);

/* Calls fn for every whole batch of p from offset `from` to the end, with
 * the batch's bytes (read from the segment files). Stops when fn returns
 * non-zero. Returns 0, or -errno when reading failed. Used at start-up
 * (producer state, __consumer_offsets), not on a request path. */
int rn_partition_scan(rn_partition *p, int64_t from,
                      int (*fn)(void *arg, const uint8_t *batch, size_t len), void *arg);

/* Records an aborted transaction (caller holds p->produce_mu). 0 or -errno. */
int rn_partition_add_aborted(rn_partition *p, int64_t pid, int64_t first, int64_t last);

/* A copy of the aborted-transaction index for the cleaner: *out
 * (malloc'ed; NULL when empty) and *n. 0 or -ENOMEM. */
int rn_partition_copy_aborted(rn_partition *p, rn_log_aborted_txn **out, int32_t *n);

/* Forgets the aborted transactions whose marker is below `below` (gone
 * with retention, or their data cleaned away), in memory and in the file
 * (rewritten atomically). 0 or -errno. */
int rn_partition_trim_aborted(rn_partition *p, int64_t below);
/* Last stable offset: the first offset of the oldest open transaction, or
 * the high watermark. Takes p->produce_mu. */
int64_t rn_partition_lso(rn_partition *p);

/* Writes a producer-state snapshot as of the log end. */
void rn_partition_snapshot_producers(rn_partition *p);

/* Small helpers shared by handlers. */
rn_str rn_arena_str(rn_arena *a, const char *s);
int64_t rn_partition_high_watermark(rn_partition *p);

#endif

/*
 * test_txn_coordinator.c - the transaction coordinator's state machine
 * (src/txn/txn_coordinator.h) driven through its API with fake hooks that
 * record every persist, marker and offset commit in one event log.
 *
 * Covered: InitProducerId gives a producer id and epoch 0, a re-init bumps
 * the epoch and aborts an ongoing transaction (abort markers with the bumped
 * epoch); AddPartitions -> Ongoing (and only those partitions are open for
 * writing); EndTxn(commit) writes Prepare, a COMMIT marker per partition,
 * then the offsets, then CompleteCommit, in that order; EndTxn with an older
 * epoch -> PRODUCER_FENCED (90), a newer one -> INVALID_PRODUCER_EPOCH;
 * commit from Empty -> INVALID_TXN_STATE, abort from Empty -> OK; a retried
 * commit of a completed commit -> OK, an abort after it -> INVALID_TXN_STATE;
 * the late-EndTxn guard (an EndTxn from a connection older than the one that
 * began the transaction is refused and changes nothing); TxnOffsetCommit
 * before AddOffsetsToTxn is refused; recovery of PrepareCommit and
 * PrepareAbort records (rn_txn_load_record, rn_txn_recover); a transaction
 * past its timeout is aborted by the timer thread, with the epoch bumped.
 * The timeout test waits up to 5 s (the timer scans once a second).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "txn/txn_coordinator.h"

enum {
    OK = 0,
    INVALID_PRODUCER_EPOCH = 47,
    INVALID_TXN_STATE = 48,
    INVALID_PRODUCER_ID_MAPPING = 49,
    INVALID_TRANSACTION_TIMEOUT = 50,
    PRODUCER_FENCED = 90,
    TRANSACTIONAL_ID_NOT_FOUND = 105,
};

/* State numbers in the persisted record (txn_coordinator.c's tstate). */
enum { S_EMPTY, S_ONGOING, S_PREPARE_COMMIT, S_PREPARE_ABORT, S_COMPLETE_COMMIT, S_COMPLETE_ABORT };

/* ---------------------------------------------------------------- fake hooks */

#define MAX_EVENTS 256

typedef enum { EV_PERSIST, EV_MARKER, EV_OFFSETS } ev_kind;

typedef struct event {
    ev_kind kind;
    /* persist */
    int32_t state_partition;
    uint8_t *key, *value;
    int32_t key_len, value_len;
    int state; /* decoded from value */
    int16_t rec_epoch;
    /* marker */
    char topic[64];
    int32_t partition;
    int64_t pid;
    int16_t epoch;
    int commit;
    /* offsets */
    char group[64];
    int noffsets;
    int64_t first_offset;
} event;

static pthread_mutex_t evmu = PTHREAD_MUTEX_INITIALIZER;
static event events[MAX_EVENTS];
static int nevents;
static int64_t next_pid;

static event *new_event(ev_kind k)
{
    assert_true(nevents < MAX_EVENTS);
    event *e = &events[nevents++];
    memset(e, 0, sizeof *e);
    e->kind = k;
    return e;
}

static int fake_persist(int32_t partition, const uint8_t *key, int32_t key_len, const uint8_t *value, int32_t value_len)
{
    pthread_mutex_lock(&evmu);
    event *e = new_event(EV_PERSIST);
    e->state_partition = partition;
    e->key = malloc((size_t)key_len + 1);
    e->value = malloc((size_t)value_len + 1);
    memcpy(e->key, key, (size_t)key_len);
    memcpy(e->value, value, (size_t)value_len);
    e->key_len = key_len;
    e->value_len = value_len;
    /* value: int16 version | int64 pid | int16 epoch | int32 timeout | int8 state */
    e->rec_epoch = (int16_t)((value[10] << 8) | value[11]);
    e->state = value_len > 16 ? value[16] : -1;
    pthread_mutex_unlock(&evmu);
    return 0;
}

static int fake_write_marker(const char *topic, int32_t partition, int64_t pid, int16_t epoch, int commit)
{
    pthread_mutex_lock(&evmu);
    event *e = new_event(EV_MARKER);
    snprintf(e->topic, sizeof e->topic, "%s", topic);
    e->partition = partition;
    e->pid = pid;
    e->epoch = epoch;
    e->commit = commit;
    pthread_mutex_unlock(&evmu);
    return 0;
}

static int fake_commit_offsets(const char *group, const rn_txn_offset *offsets, int n)
{
    pthread_mutex_lock(&evmu);
    event *e = new_event(EV_OFFSETS);
    snprintf(e->group, sizeof e->group, "%s", group);
    e->noffsets = n;
    e->first_offset = n > 0 ? offsets[0].offset : -1;
    pthread_mutex_unlock(&evmu);
    return 0;
}

static int fake_partition_exists(rn_tbytes topic, int32_t partition)
{
    return !(topic.len == 7 && memcmp(topic.ptr, "missing", 7) == 0) && partition >= 0 && partition < 8;
}

static int64_t fake_new_producer_id(void)
{
    return next_pid++;
}

static const rn_txn_hooks HOOKS = {
    .persist = fake_persist,
    .write_marker = fake_write_marker,
    .commit_offsets = fake_commit_offsets,
    .partition_exists = fake_partition_exists,
    .new_producer_id = fake_new_producer_id,
    .state_partitions = 50,
    .max_timeout_ms = 900000,
    .id_expiration_ms = 7 * 24 * 3600 * 1000LL,
};

static void clear_events(void)
{
    pthread_mutex_lock(&evmu);
    for (int i = 0; i < nevents; i++) {
        free(events[i].key);
        free(events[i].value);
    }
    nevents = 0;
    pthread_mutex_unlock(&evmu);
}

static int count_events(void)
{
    pthread_mutex_lock(&evmu);
    int n = nevents;
    pthread_mutex_unlock(&evmu);
    return n;
}

static int setup(void **state)
{
    (void)state;
    clear_events();
    next_pid = 1000;
    assert_int_equal(rn_txn_start(&HOOKS), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rn_txn_stop();
    clear_events();
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static rn_tbytes S(const char *s)
{
    return (rn_tbytes){s, (int32_t)strlen(s)};
}

static const char *state_of(const char *txn_id)
{
    rn_txn_desc d;
    int16_t err = rn_txn_describe(S(txn_id), &d);
    const char *st = err == OK ? d.state : "(unknown)";
    rn_txn_desc_free(&d, 1);
    return st;
}

static void init(const char *id, int64_t *pid, int16_t *epoch)
{
    assert_int_equal(rn_txn_init_producer(S(id), 60000, -1, -1, pid, epoch), OK);
}

/* AddPartitionsToTxn of topic "t" partitions [0, n) on connection conn. */
static void add_parts(const char *id, int64_t pid, int16_t epoch, int n, uint64_t conn)
{
    rn_tbytes topics[8] = {{0}};
    int32_t parts[8] = {0};
    int16_t errs[8] = {0};
    assert_true(n > 0 && n <= 8);
    for (int i = 0; i < n; i++) {
        topics[i] = S("t");
        parts[i] = i;
    }
    assert_int_equal(rn_txn_add_partitions(S(id), pid, epoch, topics, parts, n, errs, conn, 0), OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(errs[i], OK);
}

static void add_offsets(const char *id, int64_t pid, int16_t epoch, const char *group, int64_t offset, uint64_t conn)
{
    assert_int_equal(rn_txn_add_offsets(S(id), pid, epoch, S(group), conn), OK);
    rn_txn_offset o[2] = {{(char *)"in", 0, offset, -1, NULL}, {(char *)"in", 1, offset + 1, -1, (char *)"m"}};
    assert_int_equal(rn_txn_offset_commit(S(id), S(group), pid, epoch, o, 2), OK);
}

static int markers(int commit, int16_t epoch)
{
    int n = 0;
    pthread_mutex_lock(&evmu);
    for (int i = 0; i < nevents; i++)
        n += events[i].kind == EV_MARKER && events[i].commit == commit && events[i].epoch == epoch;
    pthread_mutex_unlock(&evmu);
    return n;
}

/* ---------------------------------------------------------------- tests */

static void init_gives_a_producer_id_and_epoch_zero(void **state)
{
    (void)state;
    int64_t pid;
    int16_t epoch;
    init("a", &pid, &epoch);
    assert_int_equal(pid, 1000);
    assert_int_equal(epoch, 0);
    assert_string_equal(state_of("a"), "Empty");
    /* Persisted, in the partition Kafka would choose. */
    assert_int_equal(nevents, 1);
    assert_int_equal(events[0].kind, EV_PERSIST);
    assert_int_equal(events[0].state, S_EMPTY);
    assert_int_equal(events[0].state_partition, rn_txn_partition_for(S("a"), 50));
    /* Another id: another producer id. */
    int64_t pid2;
    init("b", &pid2, &epoch);
    assert_int_equal(pid2, 1001);
    assert_int_equal(epoch, 0);
    /* Timeouts beyond transaction.max.timeout.ms are refused. */
    assert_int_equal(rn_txn_init_producer(S("c"), 900001, -1, -1, &pid, &epoch), INVALID_TRANSACTION_TIMEOUT);
}

static void reinit_bumps_the_epoch(void **state)
{
    (void)state;
    int64_t pid, pid2;
    int16_t epoch, epoch2;
    init("a", &pid, &epoch);
    init("a", &pid2, &epoch2);
    assert_int_equal(pid2, pid);
    assert_int_equal(epoch2, epoch + 1);
    assert_int_equal(markers(0, epoch2), 0); /* nothing was open: nothing aborted */
}

static void reinit_aborts_the_ongoing_transaction(void **state)
{
    (void)state;
    int64_t pid, pid2;
    int16_t epoch, epoch2;
    init("a", &pid, &epoch);
    add_parts("a", pid, epoch, 2, 1);
    assert_string_equal(state_of("a"), "Ongoing");
    clear_events();
    init("a", &pid2, &epoch2);
    assert_int_equal(pid2, pid);
    /* The abort markers carry a bumped epoch (fencing the old producer's
     * writes), and the new producer gets one more. */
    assert_int_equal(markers(0, (int16_t)(epoch + 1)), 2);
    assert_int_equal(markers(1, (int16_t)(epoch + 1)), 0);
    assert_int_equal(epoch2, epoch + 2);
    assert_string_equal(state_of("a"), "Empty");
    assert_false(rn_txn_partition_open(pid, epoch, S("t"), 0));
    /* The old producer is fenced. */
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 1, 1), PRODUCER_FENCED);
}

static void add_partitions_opens_the_transaction(void **state)
{
    (void)state;
    int64_t pid;
    int16_t epoch;
    init("a", &pid, &epoch);
    assert_false(rn_txn_partition_open(pid, epoch, S("t"), 0));
    add_parts("a", pid, epoch, 2, 1);
    assert_string_equal(state_of("a"), "Ongoing");
    assert_true(rn_txn_partition_open(pid, epoch, S("t"), 0));
    assert_true(rn_txn_partition_open(pid, epoch, S("t"), 1));
    assert_false(rn_txn_partition_open(pid, epoch, S("t"), 2));
    assert_false(rn_txn_partition_open(pid, epoch, S("u"), 0));
    assert_false(rn_txn_partition_open(pid, (int16_t)(epoch - 1), S("t"), 0));
    /* The Ongoing state is persisted with its partitions. */
    assert_int_equal(events[nevents - 1].kind, EV_PERSIST);
    assert_int_equal(events[nevents - 1].state, S_ONGOING);
    /* A partition that does not exist: refused, the others not attempted. */
    rn_tbytes topics[2] = {S("t"), S("missing")};
    int32_t parts[2] = {5, 0};
    int16_t errs[2];
    rn_txn_add_partitions(S("a"), pid, epoch, topics, parts, 2, errs, 1, 0);
    assert_int_equal(errs[0], 55); /* OPERATION_NOT_ATTEMPTED */
    assert_int_equal(errs[1], 3);  /* UNKNOWN_TOPIC_OR_PARTITION */
    assert_false(rn_txn_partition_open(pid, epoch, S("t"), 5));
    /* Describe lists the partitions. */
    rn_txn_desc d;
    assert_int_equal(rn_txn_describe(S("a"), &d), OK);
    assert_int_equal(d.npartitions, 2);
    assert_true(d.start_ms > 0);
    rn_txn_desc_free(&d, 1);
    assert_int_equal(rn_txn_describe(S("nope"), &d), TRANSACTIONAL_ID_NOT_FOUND);
    rn_txn_desc_free(&d, 1);
}

static void commit_writes_markers_then_offsets_then_complete(void **state)
{
    (void)state;
    int64_t pid;
    int16_t epoch;
    init("a", &pid, &epoch);
    add_parts("a", pid, epoch, 3, 1);
    add_offsets("a", pid, epoch, "g", 100, 1);
    clear_events();
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 1, 1), OK);
    /* PrepareCommit, 3 commit markers, the offsets, CompleteCommit. */
    assert_int_equal(nevents, 6);
    assert_int_equal(events[0].kind, EV_PERSIST);
    assert_int_equal(events[0].state, S_PREPARE_COMMIT);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(events[i].kind, EV_MARKER);
        assert_string_equal(events[i].topic, "t");
        assert_int_equal(events[i].partition, i - 1);
        assert_int_equal(events[i].pid, pid);
        assert_int_equal(events[i].epoch, epoch);
        assert_int_equal(events[i].commit, 1);
    }
    assert_int_equal(events[4].kind, EV_OFFSETS);
    assert_string_equal(events[4].group, "g");
    assert_int_equal(events[4].noffsets, 2);
    assert_int_equal(events[4].first_offset, 100);
    assert_int_equal(events[5].kind, EV_PERSIST);
    assert_int_equal(events[5].state, S_COMPLETE_COMMIT);
    assert_string_equal(state_of("a"), "CompleteCommit");
    assert_false(rn_txn_partition_open(pid, epoch, S("t"), 0));

    /* The next transaction starts from CompleteCommit. */
    add_parts("a", pid, epoch, 1, 1);
    assert_string_equal(state_of("a"), "Ongoing");
}

static void abort_writes_abort_markers_and_no_offsets(void **state)
{
    (void)state;
    int64_t pid;
    int16_t epoch;
    init("a", &pid, &epoch);
    add_parts("a", pid, epoch, 2, 1);
    add_offsets("a", pid, epoch, "g", 100, 1);
    clear_events();
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 0, 1), OK);
    assert_int_equal(markers(0, epoch), 2);
    assert_int_equal(markers(1, epoch), 0);
    for (int i = 0; i < nevents; i++)
        assert_int_not_equal(events[i].kind, EV_OFFSETS);
    assert_int_equal(events[nevents - 1].state, S_COMPLETE_ABORT);
    assert_string_equal(state_of("a"), "CompleteAbort");
}

static void end_with_a_wrong_epoch_or_producer(void **state)
{
    (void)state;
    int64_t pid, pid2;
    int16_t epoch;
    init("a", &pid, &epoch);
    init("a", &pid2, &epoch); /* epoch 1 */
    add_parts("a", pid, epoch, 1, 1);
    assert_int_equal(rn_txn_end(S("a"), pid, (int16_t)(epoch - 1), 1, 1), PRODUCER_FENCED);
    assert_int_equal(rn_txn_end(S("a"), pid, (int16_t)(epoch + 1), 1, 1), INVALID_PRODUCER_EPOCH);
    assert_int_equal(rn_txn_end(S("a"), pid + 77, epoch, 1, 1), INVALID_PRODUCER_ID_MAPPING);
    assert_int_equal(rn_txn_end(S("unknown"), pid, epoch, 1, 1), INVALID_PRODUCER_ID_MAPPING);
    /* None of them touched the transaction. */
    assert_string_equal(state_of("a"), "Ongoing");
    assert_int_equal(markers(1, epoch) + markers(0, epoch), 0);
    /* Nor may an old epoch add partitions. */
    rn_tbytes topics[1] = {S("t")};
    int32_t parts[1] = {3};
    int16_t errs[1];
    assert_int_equal(rn_txn_add_partitions(S("a"), pid, (int16_t)(epoch - 1), topics, parts, 1, errs, 1, 0),
                     PRODUCER_FENCED);
    assert_int_equal(errs[0], PRODUCER_FENCED);
}

static void commit_from_empty_is_invalid_abort_is_fine(void **state)
{
    (void)state;
    int64_t pid;
    int16_t epoch;
    init("a", &pid, &epoch);
    clear_events();
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 1, 1), INVALID_TXN_STATE);
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 0, 1), OK);
    assert_int_equal(count_events(), 0);
    assert_string_equal(state_of("a"), "Empty");
}

static void retry_of_a_completed_end(void **state)
{
    (void)state;
    int64_t pid;
    int16_t epoch;
    init("a", &pid, &epoch);
    add_parts("a", pid, epoch, 2, 1);
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 1, 1), OK);
    clear_events();
    /* The client did not get the answer and retries: same answer, nothing redone. */
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 1, 2), OK);
    assert_int_equal(count_events(), 0);
    /* An abort of the committed transaction is not possible. */
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 0, 2), INVALID_TXN_STATE);
    assert_string_equal(state_of("a"), "CompleteCommit");
}

static void txn_offset_commit_needs_add_offsets_first(void **state)
{
    (void)state;
    int64_t pid;
    int16_t epoch;
    init("a", &pid, &epoch);
    add_parts("a", pid, epoch, 1, 1);
    rn_txn_offset o = {(char *)"in", 0, 5, -1, NULL};
    assert_int_equal(rn_txn_offset_commit(S("a"), S("g"), pid, epoch, &o, 1), INVALID_TXN_STATE);
    assert_int_equal(rn_txn_add_offsets(S("a"), pid, epoch, S("g"), 1), OK);
    assert_int_equal(rn_txn_offset_commit(S("a"), S("g"), pid, epoch, &o, 1), OK);
    assert_int_equal(rn_txn_offset_commit(S("a"), S("g"), pid, (int16_t)(epoch - 1), &o, 1), PRODUCER_FENCED);
}

/* Jepsen 2024: the producer's EndTxn for transaction 1 is sent on
 * connection 5, times out, is retried on connection 7 and succeeds; the
 * producer begins transaction 2 on connection 7; then the delayed original
 * EndTxn (connection 5) reaches the coordinator. It must not end
 * transaction 2. */
static void late_end_txn_from_an_older_connection_is_refused(void **state)
{
    (void)state;
    int64_t pid;
    int16_t epoch;
    init("a", &pid, &epoch);
    add_parts("a", pid, epoch, 1, 5);
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 1, 7), OK); /* the retry */
    add_parts("a", pid, epoch, 2, 7);                           /* transaction 2 */
    clear_events();
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 1, 5), INVALID_TXN_STATE); /* the late original */
    assert_int_equal(count_events(), 0);
    assert_string_equal(state_of("a"), "Ongoing");
    assert_true(rn_txn_partition_open(pid, epoch, S("t"), 1));
    /* The producer itself ends transaction 2 normally. */
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 1, 7), OK);
    assert_int_equal(markers(1, epoch), 2);
    /* A newer connection than the one that began the transaction is fine. */
    add_parts("a", pid, epoch, 1, 7);
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 0, 9), OK);
    assert_string_equal(state_of("a"), "CompleteAbort");
}

/* Captures the PrepareCommit/PrepareAbort record of an end, restarts the
 * coordinator from it alone, and checks rn_txn_recover finishes the end. */
static void recover_from_prepare(int commit)
{
    int64_t pid;
    int16_t epoch;
    init("a", &pid, &epoch);
    add_parts("a", pid, epoch, 2, 1);
    add_offsets("a", pid, epoch, "g", 40, 1);
    clear_events();
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, commit, 1), OK);
    assert_int_equal(events[0].state, commit ? S_PREPARE_COMMIT : S_PREPARE_ABORT);
    uint8_t *key = events[0].key, *value = events[0].value;
    int32_t key_len = events[0].key_len, value_len = events[0].value_len;
    events[0].key = events[0].value = NULL;

    /* "Crash" after the Prepare record: start again from it. */
    rn_txn_stop();
    clear_events();
    rn_txn_load_record(key, key_len, value, value_len);
    free(key);
    free(value);
    assert_int_equal(rn_txn_start(&HOOKS), 0);
    assert_string_equal(state_of("a"), commit ? "PrepareCommit" : "PrepareAbort");
    rn_txn_recover();
    assert_int_equal(markers(commit, epoch), 2);
    assert_int_equal(markers(!commit, epoch), 0);
    int offsets = 0;
    for (int i = 0; i < nevents; i++)
        if (events[i].kind == EV_OFFSETS) {
            offsets++;
            assert_string_equal(events[i].group, "g");
            assert_int_equal(events[i].first_offset, 40);
        }
    assert_int_equal(offsets, commit ? 1 : 0);
    assert_int_equal(events[nevents - 1].kind, EV_PERSIST);
    assert_int_equal(events[nevents - 1].state, commit ? S_COMPLETE_COMMIT : S_COMPLETE_ABORT);
    assert_string_equal(state_of("a"), commit ? "CompleteCommit" : "CompleteAbort");
    /* The producer carries on with the same id and epoch. */
    add_parts("a", pid, epoch, 1, 1);
    assert_int_equal(rn_txn_end(S("a"), pid, epoch, 1, 1), OK);
}

static void recovery_of_prepare_commit(void **state)
{
    (void)state;
    recover_from_prepare(1);
}

static void recovery_of_prepare_abort(void **state)
{
    (void)state;
    recover_from_prepare(0);
}

static void recovery_keeps_an_ongoing_transaction_open(void **state)
{
    (void)state;
    int64_t pid;
    int16_t epoch;
    init("a", &pid, &epoch);
    add_parts("a", pid, epoch, 2, 1);
    /* The last record is the Ongoing one. */
    event *e = &events[nevents - 1];
    assert_int_equal(e->state, S_ONGOING);
    uint8_t *key = e->key, *value = e->value;
    int32_t key_len = e->key_len, value_len = e->value_len;
    e->key = e->value = NULL;
    rn_txn_stop();
    clear_events();
    rn_txn_load_record(key, key_len, value, value_len);
    free(key);
    free(value);
    assert_int_equal(rn_txn_start(&HOOKS), 0);
    rn_txn_recover();
    assert_int_equal(count_events(), 0);
    assert_string_equal(state_of("a"), "Ongoing");
    assert_true(rn_txn_partition_open(pid, epoch, S("t"), 1));
    /* A new incarnation aborts it. */
    int64_t pid2;
    int16_t epoch2;
    init("a", &pid2, &epoch2);
    assert_int_equal(markers(0, (int16_t)(epoch + 1)), 2);
}

static void transaction_past_its_timeout_is_aborted(void **state)
{
    (void)state;
    int64_t pid;
    int16_t epoch;
    assert_int_equal(rn_txn_init_producer(S("slow"), 100, -1, -1, &pid, &epoch), OK);
    add_parts("slow", pid, epoch, 2, 1);
    clear_events();
    /* The timer scans once a second. */
    for (int i = 0; i < 50 && strcmp(state_of("slow"), "CompleteAbort") != 0; i++)
        usleep(100 * 1000);
    assert_string_equal(state_of("slow"), "CompleteAbort");
    assert_int_equal(markers(0, (int16_t)(epoch + 1)), 2); /* the epoch is bumped: the producer is fenced */
    rn_txn_desc d;
    assert_int_equal(rn_txn_describe(S("slow"), &d), OK);
    assert_int_equal(d.epoch, epoch + 1);
    rn_txn_desc_free(&d, 1);
    assert_int_equal(rn_txn_end(S("slow"), pid, epoch, 1, 1), PRODUCER_FENCED);
    assert_false(rn_txn_partition_open(pid, epoch, S("t"), 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(init_gives_a_producer_id_and_epoch_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(reinit_bumps_the_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(reinit_aborts_the_ongoing_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(add_partitions_opens_the_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_writes_markers_then_offsets_then_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(abort_writes_abort_markers_and_no_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(end_with_a_wrong_epoch_or_producer, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_from_empty_is_invalid_abort_is_fine, setup, teardown),
        cmocka_unit_test_setup_teardown(retry_of_a_completed_end, setup, teardown),
        cmocka_unit_test_setup_teardown(txn_offset_commit_needs_add_offsets_first, setup, teardown),
        cmocka_unit_test_setup_teardown(late_end_txn_from_an_older_connection_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(recovery_of_prepare_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(recovery_of_prepare_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(recovery_keeps_an_ongoing_transaction_open, setup, teardown),
        cmocka_unit_test_setup_teardown(transaction_past_its_timeout_is_aborted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

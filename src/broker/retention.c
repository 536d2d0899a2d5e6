/*
 * retention.c - what the log manager does to one partition at each
 * housekeeping round (every log.retention.check.interval.ms): retention by
 * time and size for `delete` topics, compaction for `compact` topics (with
 * retention too for `compact,delete`), then removal of the segment files
 * deleted more than file.delete.delay.ms ago. The log layer does the work;
 * this file maps the topic's configuration onto it.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "common/rlog.h"
#include "txn/producer_state.h"

void rn_housekeeping_cfg_of(const rn_topic *t, rn_housekeeping_cfg *out)
{
    out->cleanup_delete = t->cleanup_delete;
    out->cleanup_compact = t->cleanup_compact;
    out->retention_ms = t->retention_ms;
    out->retention_bytes = t->retention_bytes;
    out->delete_retention_ms = t->delete_retention_ms;
    out->min_compaction_lag_ms = t->min_compaction_lag_ms;
    out->max_compaction_lag_ms = t->max_compaction_lag_ms;
    out->min_cleanable_dirty_ratio = t->min_cleanable_dirty_ratio;
    out->file_delete_delay_ms = t->file_delete_delay_ms;
}

/* Idle idempotent producers are forgotten; a snapshot at the log end bounds
 * the replay after an unclean stop. */
static void expire_and_snapshot_producers(rn_partition *p, int64_t now_ms)
{
    pthread_mutex_lock(&p->produce_mu);
    int before = rn_pstate_count(p->pstate);
    rn_pstate_expire(p->pstate, now_ms, rn_g.cfg.producer_id_expiration_ms);
    int after = rn_pstate_count(p->pstate);
    pthread_mutex_unlock(&p->produce_mu);
    if (after > 0 || before != after)
        rn_partition_snapshot_producers(p);
}

/* One cleaner pass. The producer snapshot comes first and the pass stops
 * at the log end it was taken at: a restart then replays producer state
 * from at or past everything the cleaner may remove, so no producer loses
 * its last sequence to a removed batch (Kafka keeps an empty batch for
 * that). The pass also stops at the last stable offset. */
static void compact(rn_partition *p, const rn_housekeeping_cfg *cfg, int64_t now_ms)
{
    int64_t snapshot_end = rn_log_end_offset(p->log);
    expire_and_snapshot_producers(p, now_ms);
    rn_compact_config cc = {
        .delete_retention_ms = cfg->delete_retention_ms,
        .min_compaction_lag_ms = cfg->min_compaction_lag_ms,
        .max_compaction_lag_ms = cfg->max_compaction_lag_ms,
        .min_cleanable_dirty_ratio = cfg->min_cleanable_dirty_ratio,
        .delete_too = cfg->cleanup_delete,
        .retention_ms = cfg->retention_ms,
        .retention_bytes = cfg->retention_bytes,
    };
    int64_t lso = rn_partition_lso(p);
    cc.stable_end = lso < snapshot_end ? lso : snapshot_end;
    rn_log_aborted_txn *aborted = NULL;
    int32_t naborted = 0;
    /* Without the aborted list the cleaner would take aborted data for committed. */
    int rc = rn_partition_copy_aborted(p, &aborted, &naborted);
    rn_compact_stats st;
    memset(&st, 0, sizeof st);
    if (rc == 0) {
        cc.aborted = aborted;
        cc.naborted = naborted;
        rc = rn_log_compact(p->log, &cc, now_ms, &st);
    }
    free(aborted);
    if (rc < 0) {
        rn_warn("compaction of %s-%d failed: %s", p->topic->name, p->index, strerror(-rc));
        return;
    }
    if (st.cleaned)
        rn_info("compacted %s-%d: %lld -> %lld bytes; removed %lld records, %lld tombstones, %lld aborted records, "
                "%lld markers in %lld ms",
                p->topic->name, p->index, (long long)st.bytes_before, (long long)st.bytes_after,
                (long long)st.records_removed, (long long)st.tombstones_removed, (long long)st.aborted_removed,
                (long long)st.markers_removed, (long long)st.elapsed_ms);
    /* No data of an aborted transaction with its marker below the pass's end is left. */
    if (st.end_offset > 0 && naborted > 0 && (rc = rn_partition_trim_aborted(p, st.end_offset)) < 0)
        rn_warn("cannot rewrite the aborted transactions of %s-%d: %s", p->topic->name, p->index, strerror(-rc));
}

void rn_log_housekeeping(rn_partition *p, const rn_housekeeping_cfg *cfg, int64_t now_ms)
{
    if (cfg->cleanup_compact) {
        compact(p, cfg, now_ms);
    } else if (cfg->cleanup_delete) {
        int64_t deleted = 0;
        int rc = rn_log_enforce_retention(p->log, now_ms, cfg->retention_ms, cfg->retention_bytes, &deleted);
        if (rc < 0)
            rn_warn("retention of %s-%d failed: %s", p->topic->name, p->index, strerror(-rc));
        else if (deleted > 0)
            rn_info("retention deleted %lld segments of %s-%d; log start offset now %lld", (long long)deleted,
                    p->topic->name, p->index, (long long)rn_log_start_offset(p->log));
    }
    rn_log_purge_deleted(p->log, now_ms, cfg->file_delete_delay_ms);
    int rc = rn_partition_trim_aborted(p, rn_log_start_offset(p->log));
    if (rc < 0)
        rn_warn("cannot rewrite the aborted transactions of %s-%d: %s", p->topic->name, p->index, strerror(-rc));
    if (!cfg->cleanup_compact)
        expire_and_snapshot_producers(p, now_ms);
}

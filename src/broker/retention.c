/*
 * retention.c - what the log manager does to one partition at each
 * housekeeping round (every log.retention.check.interval.ms): retention by
 * time and size for `delete` topics, compaction for `compact` topics (with
 * retention too for `compact,delete`), then removal of the segment files
 * deleted more than file.delete.delay.ms ago. The log layer does the work;
 * this file maps the topic's configuration onto it.
 */
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

void rn_log_housekeeping(rn_partition *p, const rn_housekeeping_cfg *cfg, int64_t now_ms)
{
    if (cfg->cleanup_compact) {
        rn_compact_config cc = {
            .delete_retention_ms = cfg->delete_retention_ms,
            .min_compaction_lag_ms = cfg->min_compaction_lag_ms,
            .max_compaction_lag_ms = cfg->max_compaction_lag_ms,
            .min_cleanable_dirty_ratio = cfg->min_cleanable_dirty_ratio,
            .delete_too = cfg->cleanup_delete,
            .retention_ms = cfg->retention_ms,
            .retention_bytes = cfg->retention_bytes,
        };
        rn_compact_stats st;
        memset(&st, 0, sizeof st);
        int rc = rn_log_compact(p->log, &cc, now_ms, &st);
        if (rc < 0)
            rn_warn("compaction of %s-%d failed: %s", p->topic->name, p->index, strerror(-rc));
        else if (st.cleaned)
            rn_info("compacted %s-%d: %lld -> %lld bytes, %lld records and %lld tombstones removed in %lld ms",
                    p->topic->name, p->index, (long long)st.bytes_before, (long long)st.bytes_after,
                    (long long)st.records_removed, (long long)st.tombstones_removed, (long long)st.elapsed_ms);
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

    /* Idle idempotent producers are forgotten; a snapshot bounds the replay
     * after an unclean stop. */
    pthread_mutex_lock(&p->produce_mu);
    int before = rn_pstate_count(p->pstate);
    rn_pstate_expire(p->pstate, now_ms, rn_g.cfg.producer_id_expiration_ms);
    int after = rn_pstate_count(p->pstate);
    pthread_mutex_unlock(&p->produce_mu);
    if (after > 0 || before != after)
        rn_partition_snapshot_producers(p);
}

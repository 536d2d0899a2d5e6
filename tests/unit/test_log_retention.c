/*
 * test_log_retention.c - the log start offset and everything that moves
 * it: retention by time and by size (with a controllable now), DeleteRecords,
 * the log-start-offset checkpoint across reopens, reads below the start,
 * .deleted files purged after file.delete.delay.ms and swept at open, and
 * time-based rolls (segment.ms).
 *
 * Every test works in its own mkdtemp() folder, removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "log/logInt.h"
#include "test_log_util.h"

#define VALUE_BYTES 100 /* one record per batch: about 175 bytes a batch */

/* Appends `batches` one-record batches with timestamps t0, t0 + step, ... */
static void append_timed(rn_log *log, int batches, int64_t t0, int64_t step)
{
    for (int i = 0; i < batches; i++)
        append_plain(log, 1, t0 + i * step, VALUE_BYTES);
}

static int64_t start_checkpoint(const char *dir)
{
    char buf[64];
    int n = rn_log_file_read_small(dir, "log-start-offset", buf, sizeof(buf));
    if (n < 0)
        return -1;
    long long v, off;
    assert_int_equal(sscanf(buf, "%lld\n%lld\n", &v, &off), 2);
    assert_int_equal(v, 0);
    return off;
}

static void expect_range_error(rn_log *log, int64_t offset)
{
    rn_log_slice s;
    assert_int_equal(rn_log_read(log, offset, 1000, INT64_MAX, &s), -ERANGE);
    assert_null(s.file);
}

/* Reads every offset from the start to the end: each comes back in the
 * batch holding it (one record per batch here, so base == offset). */
static void expect_readable_from_start(rn_log *log)
{
    int64_t start = rn_log_start_offset(log), end = rn_log_end_offset(log);
    for (int64_t o = start; o < end; o++) {
        int rc;
        assert_int_equal(read_batch_base(log, o, &rc), o);
        assert_int_equal(rc, 0);
    }
    if (start > 0)
        expect_range_error(log, start - 1);
}

static void retention_by_time_deletes_expired_segments_oldest_first(void **state)
{
    fixture *f = *state;
    rn_log *log;
    f->cfg.segment_bytes = 1000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_timed(log, 40, 10000, 100); /* ts 10000 .. 13900, ~5 batches a segment */
    int nseg = count_files(f->dir, ".log");
    assert_true(nseg >= 7);
    int64_t deleted = -1, size_before = rn_log_size_bytes(log);

    /* nothing older than 10 s at now = 14000 */
    assert_int_equal(rn_log_enforce_retention(log, 14000, 10000, -1, &deleted), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(rn_log_start_offset(log), 0);

    /* at now = 22000, segments whose max ts < 12000 are older than 10 s */
    assert_int_equal(rn_log_enforce_retention(log, 22000, 10000, -1, &deleted), 0);
    assert_true(deleted >= 3);
    int64_t start = rn_log_start_offset(log);
    assert_true(start > 0);
    /* the first remaining segment holds a record at or after ts 12000 - 100 */
    assert_true(10000 + (start + 4) * 100 >= 12000 - 100);
    assert_true(10000 + (start - 1) * 100 < 12000);
    assert_int_equal(count_files(f->dir, ".log"), nseg - deleted);
    assert_int_equal(count_files(f->dir, ".log.deleted"), deleted);
    assert_int_equal(start_checkpoint(f->dir), start);
    assert_true(rn_log_size_bytes(log) < size_before);
    expect_readable_from_start(log);
    expect_range_error(log, 0);
    /* ListOffsets by time never answers below the start */
    int64_t off, ts;
    assert_int_equal(rn_log_offset_for_time(log, 0, &off, &ts), 0);
    assert_int_equal(off, start);
    assert_int_equal(ts, 10000 + start * 100);

    /* unlimited retention deletes nothing */
    assert_int_equal(rn_log_enforce_retention(log, INT64_MAX / 2, -1, -1, &deleted), 0);
    assert_int_equal(deleted, 0);
    rn_log_close(log);
}

static void expired_active_segment_is_rolled_and_deleted(void **state)
{
    fixture *f = *state;
    rn_log *log;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_timed(log, 5, 1000, 10);
    assert_int_equal(count_files(f->dir, ".log"), 1);
    int64_t deleted = -1;
    assert_int_equal(rn_log_enforce_retention(log, 1000 + 40 + 500, 1000, -1, &deleted), 0);
    assert_int_equal(deleted, 0); /* not expired yet: no roll */
    assert_int_equal(count_files(f->dir, ".log"), 1);

    assert_int_equal(rn_log_enforce_retention(log, 1000 + 40 + 1001, 1000, -1, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(rn_log_start_offset(log), 5);
    assert_int_equal(rn_log_end_offset(log), 5);
    assert_int_equal(rn_log_size_bytes(log), 0);
    assert_true(exists(f->dir, "00000000000000000005.log"));
    assert_false(exists(f->dir, "00000000000000000000.log"));
    expect_range_error(log, 4);
    /* an empty active segment is never rolled again */
    assert_int_equal(rn_log_enforce_retention(log, 1000000, 1000, -1, &deleted), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(count_files(f->dir, ".log"), 1);
    /* appends go on at the end */
    assert_int_equal(append_plain(log, 1, 5000, 10), 5);
    expect_readable_from_start(log);
    rn_log_close(log);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_start_offset(log), 5);
    assert_int_equal(rn_log_end_offset(log), 6);
    rn_log_close(log);
}

static void retention_by_size_keeps_at_least_retention_bytes(void **state)
{
    fixture *f = *state;
    rn_log *log;
    f->cfg.segment_bytes = 1000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_timed(log, 60, 1000, 1);
    int64_t total = rn_log_size_bytes(log), deleted = -1;
    int64_t limit = total / 3;
    assert_int_equal(rn_log_enforce_retention(log, 2000, -1, limit, &deleted), 0);
    assert_true(deleted > 0);
    int64_t after = rn_log_size_bytes(log);
    /* Kafka's rule: delete the oldest while the rest still holds >= limit */
    assert_true(after >= limit);
    char first[512];
    snprintf(first, sizeof(first), "%s/%020lld.log", f->dir, (long long)rn_log_start_offset(log));
    int64_t first_size = file_size(first);
    assert_true(first_size > 0);
    assert_true(after - first_size < limit);
    expect_readable_from_start(log);
    assert_int_equal(start_checkpoint(f->dir), rn_log_start_offset(log));
    /* again: nothing more to do */
    assert_int_equal(rn_log_enforce_retention(log, 2000, -1, limit, &deleted), 0);
    assert_int_equal(deleted, 0);
    /* retention.bytes = 0 leaves only the active segment */
    assert_int_equal(rn_log_enforce_retention(log, 2000, -1, 0, &deleted), 0);
    assert_int_equal(count_files(f->dir, ".log"), 1);
    expect_readable_from_start(log);
    rn_log_close(log);
}

static void delete_records_moves_the_start_and_drops_whole_segments(void **state)
{
    fixture *f = *state;
    rn_log *log;
    f->cfg.segment_bytes = 1000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_timed(log, 30, 1000, 1);
    int nseg = count_files(f->dir, ".log");
    int64_t start = -1;
    assert_int_equal(rn_log_delete_records(log, 31, &start), -ERANGE);
    assert_int_equal(rn_log_delete_records(log, -2, &start), -EINVAL);
    assert_int_equal(rn_log_start_offset(log), 0);

    assert_int_equal(rn_log_delete_records(log, 2, &start), 0); /* inside the first segment */
    assert_int_equal(start, 2);
    assert_int_equal(rn_log_start_offset(log), 2);
    assert_int_equal(count_files(f->dir, ".log"), nseg); /* no whole segment below */
    assert_int_equal(start_checkpoint(f->dir), 2);
    expect_range_error(log, 1);
    expect_readable_from_start(log);

    assert_int_equal(rn_log_delete_records(log, 17, &start), 0);
    assert_int_equal(start, 17);
    assert_true(count_files(f->dir, ".log") < nseg);
    assert_true(count_files(f->dir, ".log.deleted") > 0);
    expect_range_error(log, 16);
    expect_readable_from_start(log);
    /* the first remaining segment holds offset 17 */
    char p[512];
    DIR *d = opendir(f->dir);
    struct dirent *de;
    int64_t min_base = INT64_MAX;
    while ((de = readdir(d)) != NULL)
        if (strlen(de->d_name) == 24 && strcmp(de->d_name + 20, ".log") == 0 && atoll(de->d_name) < min_base)
            min_base = atoll(de->d_name);
    closedir(d);
    assert_true(min_base <= 17);
    snprintf(p, sizeof(p), "%s/%020lld.log", f->dir, (long long)min_base);
    assert_true(file_size(p) > 0);

    /* below the start: nothing changes, the answer is the start */
    assert_int_equal(rn_log_delete_records(log, 5, &start), 0);
    assert_int_equal(start, 17);
    /* -1: the high watermark */
    assert_int_equal(rn_log_delete_records(log, -1, &start), 0);
    assert_int_equal(start, 30);
    assert_int_equal(rn_log_start_offset(log), 30);
    assert_int_equal(count_files(f->dir, ".log"), 1); /* only the active one is left */
    rn_log_slice s;
    assert_int_equal(rn_log_read(log, 30, 1000, INT64_MAX, &s), 0);
    assert_int_equal(s.len, 0);
    expect_range_error(log, 29);
    assert_int_equal(append_plain(log, 1, 5000, 10), 30);
    expect_readable_from_start(log);
    rn_log_close(log);
}

static void start_offset_checkpoint_survives_reopen(void **state)
{
    fixture *f = *state;
    rn_log *log;
    f->cfg.segment_bytes = 1000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_timed(log, 20, 1000, 1);
    int64_t start;
    assert_int_equal(rn_log_delete_records(log, 13, &start), 0);
    rn_log_close(log);
    assert_int_equal(start_checkpoint(f->dir), 13);

    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0); /* clean */
    assert_int_equal(rn_log_start_offset(log), 13);
    assert_int_equal(rn_log_end_offset(log), 20);
    expect_range_error(log, 12);
    expect_readable_from_start(log);
    rn_log_close(log);

    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0); /* after a crash */
    assert_int_equal(rn_log_start_offset(log), 13);
    expect_readable_from_start(log);
    rn_log_close(log);

    /* a stale checkpoint below the first segment: the segment wins */
    assert_int_equal(rn_log_file_write_atomic(f->dir, "log-start-offset", "0\n1\n", 4), 0);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    int64_t first = rn_log_start_offset(log);
    assert_true(first > 1 && first <= 13);
    rn_log_close(log);
    /* garbage: ignored, the first segment's base */
    assert_int_equal(rn_log_file_write_atomic(f->dir, "log-start-offset", "x\n", 2), 0);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(rn_log_start_offset(log), first);
    rn_log_close(log);
}

/* DeleteRecords to the end, then a crash that lost the tail: the log
 * starts empty at the checkpointed start, offsets are never reused. */
static void start_checkpoint_past_the_end_restarts_there(void **state)
{
    fixture *f = *state;
    rn_log *log;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_timed(log, 10, 1000, 1);
    rn_log_close(log);
    assert_int_equal(rn_log_file_write_atomic(f->dir, "log-start-offset", "0\n25\n", 5), 0);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &log), 0);
    assert_int_equal(rn_log_start_offset(log), 25);
    assert_int_equal(rn_log_end_offset(log), 25);
    assert_int_equal(count_files(f->dir, ".log"), 1);
    assert_true(exists(f->dir, "00000000000000000025.log"));
    assert_int_equal(append_plain(log, 1, 2000, 10), 25);
    expect_readable_from_start(log);
    rn_log_close(log);
}

static void deleted_files_are_purged_after_the_delay(void **state)
{
    fixture *f = *state;
    rn_log *log;
    f->cfg.segment_bytes = 1000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_timed(log, 30, 1000, 1);
    assert_int_equal(rn_log_sync(log), 30); /* rolled segments get their index files */
    int64_t deleted;
    assert_int_equal(rn_log_enforce_retention(log, 50000, -1, 0, &deleted), 0);
    assert_true(deleted >= 4);
    assert_int_equal(count_files(f->dir, ".log.deleted"), deleted);
    assert_int_equal(count_files(f->dir, ".index.deleted"), deleted);
    assert_int_equal(count_files(f->dir, ".timeindex.deleted"), deleted);
    assert_int_equal(rn_log_purge_deleted(log, 50000 + 59999, 60000), 0);
    assert_int_equal(count_files(f->dir, ".log.deleted"), deleted);
    assert_int_equal(rn_log_purge_deleted(log, 50000 + 60000, 60000), deleted);
    assert_int_equal(count_files(f->dir, ".deleted"), 0);
    assert_int_equal(rn_log_purge_deleted(log, INT64_MAX / 2, 0), 0);
    rn_log_close(log);
}

static void leftover_deleted_and_orphan_files_are_removed_at_open(void **state)
{
    fixture *f = *state;
    rn_log *log;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_timed(log, 3, 1000, 1);
    rn_log_close(log);
    touch(f->dir, "00000000000000000777.log.deleted", "x");
    touch(f->dir, "00000000000000000777.index.deleted", "x");
    touch(f->dir, "00000000000000000888.log.cleaned", "x");
    touch(f->dir, "00000000000000000999.index", "12345678");  /* no .log */
    touch(f->dir, "00000000000000000999.timeindex", "x");
    touch(f->dir, "log-start-offset.tmp", "junk");
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    assert_int_equal(count_files(f->dir, ".deleted"), 0);
    assert_int_equal(count_files(f->dir, ".cleaned"), 0);
    assert_false(exists(f->dir, "00000000000000000999.index"));
    assert_false(exists(f->dir, "00000000000000000999.timeindex"));
    assert_false(exists(f->dir, "log-start-offset.tmp"));
    assert_true(exists(f->dir, "00000000000000000000.index"));
    assert_int_equal(rn_log_end_offset(log), 3);
    rn_log_close(log);
}

static void a_slice_keeps_a_retired_segment_readable(void **state)
{
    fixture *f = *state;
    rn_log *log;
    f->cfg.segment_bytes = 1000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_timed(log, 20, 1000, 1);
    rn_log_slice s;
    assert_int_equal(rn_log_read(log, 1, 1 << 20, INT64_MAX, &s), 0);
    assert_true(s.len > 0);
    int64_t start, deleted;
    assert_int_equal(rn_log_delete_records(log, 15, &start), 0);
    assert_int_equal(rn_log_enforce_retention(log, 0, -1, -1, &deleted), 0);
    assert_int_equal(rn_log_purge_deleted(log, INT64_MAX / 2, 0) > 0, 1);
    assert_false(exists(f->dir, "00000000000000000000.log"));
    uint8_t h[61];
    assert_int_equal(pread(s.file->fd, h, 61, s.pos), 61);
    assert_int_equal(be_get(h, 8), 1);
    rn_fileref_drop(s.file);
    rn_log_close(log);
}

static void segment_ms_rolls_on_the_first_batch_timestamp(void **state)
{
    fixture *f = *state;
    rn_log *log;
    f->cfg.segment_ms = 1000;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_plain(log, 1, 10000, 10);
    append_plain(log, 1, 10500, 10);
    append_plain(log, 1, 11000, 10); /* exactly segment.ms later: Kafka rolls only past it */
    assert_int_equal(count_files(f->dir, ".log"), 1);
    append_plain(log, 1, 11001, 10);
    assert_int_equal(count_files(f->dir, ".log"), 2);
    assert_true(exists(f->dir, "00000000000000000003.log"));
    append_plain(log, 1, 12001, 10); /* 1000 after this segment's first batch */
    assert_int_equal(count_files(f->dir, ".log"), 2);
    rn_log_close(log);
    /* reopened: the first batch's timestamp is read back from the file */
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_plain(log, 1, 12000, 10);
    assert_int_equal(count_files(f->dir, ".log"), 2);
    append_plain(log, 1, 12002, 10);
    assert_int_equal(count_files(f->dir, ".log"), 3);
    assert_true(exists(f->dir, "00000000000000000006.log"));
    expect_readable_from_start(log);
    rn_log_close(log);
    /* segment.ms = 0: never */
    f->cfg.segment_ms = 0;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), 0);
    append_plain(log, 1, 99999999, 10);
    assert_int_equal(count_files(f->dir, ".log"), 3);
    rn_log_close(log);
    f->cfg.segment_ms = -1;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &log), -EINVAL);
}

/* ---- retention while appending and reading ---- */

typedef struct race {
    rn_log *log;
    atomic_int stop;
    atomic_int errors;
    atomic_llong reads;
    atomic_int passes; /* retention passes done */
} race;

static void *race_reader(void *arg)
{
    race *r = arg;
    uint32_t rng = 99;
    while (!atomic_load(&r->stop)) {
        int64_t start = rn_log_start_offset(r->log), end = rn_log_end_offset(r->log);
        if (end <= start)
            continue;
        rng = rng * 1103515245u + 12345u;
        int64_t o = start + (int64_t)((rng >> 8) % (uint32_t)(end - start));
        rn_log_slice s;
        int rc = rn_log_read(r->log, o, 4096, INT64_MAX, &s);
        if (rc == -ERANGE && o < rn_log_start_offset(r->log))
            continue; /* retention moved the start meanwhile */
        if (rc != 0 || s.len < 61) {
            atomic_fetch_add(&r->errors, 1);
            continue;
        }
        uint8_t h[61];
        if (pread(s.file->fd, h, 61, s.pos) != 61 || (int64_t)be_get(h, 8) != o)
            atomic_fetch_add(&r->errors, 1);
        rn_fileref_drop(s.file);
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static void *race_retention(void *arg)
{
    race *r = arg;
    while (!atomic_load(&r->stop)) {
        int64_t deleted;
        if (rn_log_enforce_retention(r->log, 0, -1, 20000, &deleted) != 0)
            atomic_fetch_add(&r->errors, 1);
        rn_log_purge_deleted(r->log, 0, 0);
        if (rn_log_sync(r->log) < 0)
            atomic_fetch_add(&r->errors, 1);
        atomic_fetch_add(&r->passes, 1);
        usleep(300);
    }
    return NULL;
}

static void retention_runs_while_appending_reading_and_syncing(void **state)
{
    fixture *f = *state;
    race r = {0};
    f->cfg.segment_bytes = 2000;
    f->cfg.index_interval_bytes = 300;
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 1, &r.log), 0);
    pthread_t th[3];
    pthread_create(&th[0], NULL, race_reader, &r);
    pthread_create(&th[1], NULL, race_reader, &r);
    pthread_create(&th[2], NULL, race_retention, &r);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(append_plain(r.log, 1, 1000 + i, 50), i);
    /* On a busy machine the retention thread may not have run yet: let it
     * make two passes over the whole log before stopping. */
    int passes = atomic_load(&r.passes);
    while (atomic_load(&r.passes) < passes + 2)
        usleep(1000);
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&r.errors), 0);
    assert_true(atomic_load(&r.reads) > 0);
    assert_true(rn_log_start_offset(r.log) > 0);
    int64_t deleted;
    assert_int_equal(rn_log_enforce_retention(r.log, 0, -1, 20000, &deleted), 0);
    assert_true(rn_log_size_bytes(r.log) < 20000 + 2000);
    expect_readable_from_start(r.log);
    int64_t start = rn_log_start_offset(r.log);
    rn_log_close(r.log);
    assert_int_equal(rn_log_open(f->dir, &f->cfg, 0, &r.log), 0);
    assert_int_equal(rn_log_start_offset(r.log), start);
    assert_int_equal(rn_log_end_offset(r.log), 3000);
    expect_readable_from_start(r.log);
    rn_log_close(r.log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(retention_by_time_deletes_expired_segments_oldest_first, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(expired_active_segment_is_rolled_and_deleted, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(retention_by_size_keeps_at_least_retention_bytes, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(delete_records_moves_the_start_and_drops_whole_segments, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(start_offset_checkpoint_survives_reopen, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(start_checkpoint_past_the_end_restarts_there, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(deleted_files_are_purged_after_the_delay, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(leftover_deleted_and_orphan_files_are_removed_at_open, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(a_slice_keeps_a_retired_segment_readable, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(segment_ms_rolls_on_the_first_batch_timestamp, tl_setup, tl_teardown),
        cmocka_unit_test_setup_teardown(retention_runs_while_appending_reading_and_syncing, tl_setup, tl_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * cleaner_ckpt.c - the cleaner's checkpoint file, and the completion at
 * open of a compaction swap that a crash interrupted. Apart from
 * cleaner.c so that opening a log needs none of the codec libraries.
 *
 * Layer: src/log. Called by cleaner.c (under the log's clean_mu) and by
 * log.c's rn_log_open (before the segments are listed).
 *
 * <dir>/cleaner-offset: the cleaner's checkpoint, text, written atomically
 * (cleaner-offset.tmp, fdatasync, rename, fsync the folder):
 *
 *   line   content
 *   1      "0"              version
 *   2      "<offset>"       first dirty offset: the records below it have been
 *                           cleaned against every key below it
 *   3      "<n>"            horizons that follow, 0..64
 *   +n     "<end> <ms>"     tombstones in [the previous line's end, end) were
 *                           first passed by a pass at now_ms = ms (ends increase);
 *                           they go once now_ms - ms >= delete.retention.ms
 *   next   "<m>"            swaps in flight, 0 or 1
 *   +m     "<base> <end>"   the cleaned <base>.log.swap replaces the segments
 *                           with base offsets in [base, end)
 *   last   "<rewritten>"    no segment at or above this offset was ever
 *                           rewritten by the cleaner: their offsets have no
 *                           gaps (log.c: contiguous_from). Raised before each
 *                           swap; never lowered (the first dirty offset can
 *                           go down: a pass after a truncation, or one whose
 *                           map filled up after a crashed pass). Missing in
 *                           files of older versions: then max(first dirty
 *                           offset, swap end). 9223372036854775807 when not
 *                           known (written after an unreadable checkpoint).
 *
 * rn_cleaner_recover_swaps: for each <base>.log.swap (cleaner.c draws the
 * swap's steps), remove the segments with base offsets in [base, end)
 * (end from the swap line; without one, Kafka's rule: the .swap's own next
 * offset), then rename the .swap files to their final names, index files
 * first, and raise the checkpoint's rewritten end past the swapped range if
 * needed (a .swap without a checkpoint). Leftover .cleaned, .deleted and index .swap files go afterwards
 * (log.c: sweep_dir).
 */
#include "log/logInt.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rlog.h"

#define CKPT_BYTES_MAX 8192

static int next_i64(const char **p, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(*p, &end, 10);
    if (end == *p || errno != 0)
        return -1;
    *out = v;
    *p = end;
    return 0;
}

int rn_cleaner_ckpt_read(const char *dir, rn_cleaner_ckpt *ck)
{
    char buf[CKPT_BYTES_MAX];
    memset(ck, 0, sizeof(*ck));
    int n = rn_log_file_read_small(dir, RN_CLEANER_CHECKPOINT_NAME, buf, sizeof(buf));
    if (n == -ENOENT)
        return 0;
    if (n < 0) {
        ck->rewritten_end = INT64_MAX; /* not known */
        return n;
    }
    const char *p = buf;
    int64_t version, nh, ns;
    if (next_i64(&p, &version) < 0 || version != 0 || next_i64(&p, &ck->offset) < 0 || ck->offset < 0 ||
        next_i64(&p, &nh) < 0 || nh < 0 || nh > RN_CLEANER_HORIZONS_MAX)
        goto bad;
    for (int32_t i = 0; i < nh; i++) {
        if (next_i64(&p, &ck->h[i].end) < 0 || next_i64(&p, &ck->h[i].ms) < 0 ||
            (i > 0 && ck->h[i].end <= ck->h[i - 1].end))
            goto bad;
    }
    ck->nh = (int32_t)nh;
    if (next_i64(&p, &ns) < 0 || ns < 0 || ns > 1)
        goto bad;
    if (ns == 1) {
        if (next_i64(&p, &ck->swap_base) < 0 || next_i64(&p, &ck->swap_end) < 0 || ck->swap_end < ck->swap_base)
            goto bad;
        ck->has_swap = 1;
    }
    int64_t lo = ck->has_swap && ck->swap_end > ck->offset ? ck->swap_end : ck->offset;
    const char *q = p;
    q += strspn(q, " \t\r\n");
    if (*q == '\0') {
        ck->rewritten_end = lo; /* an older file without the line */
    } else if (next_i64(&p, &ck->rewritten_end) < 0 || ck->rewritten_end < 0) {
        goto bad;
    } else if (ck->rewritten_end < lo) {
        ck->rewritten_end = lo;
    }
    return 0;
bad:
    rn_warn("log: %s/%s: unreadable cleaner checkpoint, cleaning from the start", dir, RN_CLEANER_CHECKPOINT_NAME);
    memset(ck, 0, sizeof(*ck));
    ck->rewritten_end = INT64_MAX; /* not known: gaps may be anywhere */
    return -EINVAL;
}

int rn_cleaner_ckpt_write(const char *dir, const rn_cleaner_ckpt *ck)
{
    char buf[CKPT_BYTES_MAX];
    size_t n = 0;
    assert(ck->nh <= RN_CLEANER_HORIZONS_MAX);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "0\n%" PRId64 "\n%d\n", ck->offset, (int)ck->nh);
    for (int32_t i = 0; i < ck->nh; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%" PRId64 " %" PRId64 "\n", ck->h[i].end, ck->h[i].ms);
    if (ck->has_swap)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "1\n%" PRId64 " %" PRId64 "\n", ck->swap_base, ck->swap_end);
    else
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "0\n");
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%" PRId64 "\n", ck->rewritten_end);
    assert(n < sizeof(buf));
    return rn_log_file_write_atomic(dir, RN_CLEANER_CHECKPOINT_NAME, buf, n);
}

int rn_cleaner_rename(const char *path, const char *ext, const char *from_suffix, const char *to_suffix, int must)
{
    char a[4096], b[4096];
    snprintf(a, sizeof(a), "%s%s%s", path, ext, from_suffix);
    snprintf(b, sizeof(b), "%s%s%s", path, ext, to_suffix);
    if (rename(a, b) < 0 && (must || errno != ENOENT)) {
        int rc = -errno;
        rn_error("log: cannot rename %s: %s", a, strerror(errno));
        return rc;
    }
    return 0;
}

/* ---- completing interrupted swaps at open ---- */

/* One past the last offset in the .swap file at path, or base when empty. */
static int64_t swap_next_offset(const char *path, int64_t base)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return base;
    int64_t size = lseek(fd, 0, SEEK_END), pos = 0, next = base;
    rn_seg_batch b;
    while (rn_segment_read_header(fd, pos, size, &b) == 1) {
        next = rn_seg_batch_last(&b) + 1;
        pos += rn_seg_batch_size(&b);
    }
    close(fd);
    return next;
}

/* *end_out: the end of the range swapped in. */
static int complete_swap(const char *dir, int64_t base, const rn_cleaner_ckpt *ck, int64_t *end_out)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%020" PRId64 ".log.swap", dir, base);
    int64_t end = ck->has_swap && ck->swap_base == base ? ck->swap_end : swap_next_offset(p, base);
    *end_out = end;
    rn_warn("log: %s: completing the interrupted swap of [%" PRId64 ", %" PRId64 ")", dir, base, end);
    /* The old segments in [base, end), then the .swap files to their names. */
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        if (strlen(s) != 24 || strcmp(s + 20, ".log") != 0 || strspn(s, "0123456789") != 20)
            continue;
        int64_t b = strtoll(s, NULL, 10);
        if (b < base || b >= end)
            continue;
        static const char *const exts[] = {".log", ".index", ".timeindex"};
        for (size_t k = 0; k < 3; k++) {
            snprintf(p, sizeof(p), "%s/%020" PRId64 "%s", dir, b, exts[k]);
            if (unlink(p) < 0 && errno != ENOENT)
                rn_warn("log: cannot remove %s: %s", p, strerror(errno));
        }
    }
    closedir(d);
    snprintf(p, sizeof(p), "%s/%020" PRId64, dir, base);
    int rc = rn_cleaner_rename(p, ".index", RN_SEG_SWAP_SUFFIX, "", 0);
    if (rc == 0)
        rc = rn_cleaner_rename(p, ".timeindex", RN_SEG_SWAP_SUFFIX, "", 0);
    if (rc == 0)
        rc = rn_cleaner_rename(p, ".log", RN_SEG_SWAP_SUFFIX, "", 1);
    return rc;
}

int rn_cleaner_recover_swaps(const char *dir, int64_t *rewritten_end_out)
{
    *rewritten_end_out = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int64_t bases[64];
    int32_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < (int32_t)(sizeof(bases) / sizeof(bases[0]))) {
        const char *s = de->d_name;
        if (strlen(s) == 29 && strcmp(s + 20, ".log.swap") == 0 && strspn(s, "0123456789") == 20)
            bases[n++] = strtoll(s, NULL, 10);
    }
    closedir(d);
    if (n == 0)
        return 0;
    rn_cleaner_ckpt ck;
    int unreadable = rn_cleaner_ckpt_read(dir, &ck) < 0; /* (then rewritten_end is INT64_MAX) */
    int64_t swapped_end = 0;
    for (int32_t i = 0; i < n; i++) {
        int64_t end;
        int rc = complete_swap(dir, bases[i], &ck, &end);
        if (rc < 0)
            return rc;
        if (end > swapped_end)
            swapped_end = end;
    }
    *rewritten_end_out = swapped_end;
    /* The swapped segments have gaps: later opens must know, as this one
     * does through *rewritten_end_out. */
    if (!unreadable && swapped_end > ck.rewritten_end) {
        ck.rewritten_end = swapped_end;
        ck.has_swap = 0; /* completed */
        if (rn_cleaner_ckpt_write(dir, &ck) < 0)
            rn_warn("log: %s: cannot record the swapped range in the cleaner checkpoint", dir);
    }
    return rn_log_fsync_dir(dir);
}

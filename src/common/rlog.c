/*
 * rlog.c - one-line diagnostics to stderr.
 *
 * Layer: src/common. Line format:
 *     2026-11-24T07:52:01.123Z INFO [12345] message
 * (UTC time with milliseconds, level, kernel thread id). Each line is
 * formatted into a stack buffer and written with a single write(2), so lines
 * from different threads never interleave. Lines longer than the buffer are
 * cut and end in "...". The level starts as RUNNEL_LOG_LEVEL
 * (debug|info|warn|error), read once before main, else INFO.
 */
#include "common/rlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int rn_log_level = RN_LOG_INFO;

#define RLOG_LINE_BYTES_MAX 2048

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

__attribute__((constructor)) static void rlog_level_from_env(void)
{
    const char *v = getenv("RUNNEL_LOG_LEVEL");
    if (!v)
        return;
    if (!strcasecmp(v, "debug"))
        rn_log_level = RN_LOG_DEBUG;
    else if (!strcasecmp(v, "info"))
        rn_log_level = RN_LOG_INFO;
    else if (!strcasecmp(v, "warn") || !strcasecmp(v, "warning"))
        rn_log_level = RN_LOG_WARN;
    else if (!strcasecmp(v, "error"))
        rn_log_level = RN_LOG_ERROR;
}

void rn_logf(int level, const char *fmt, ...)
{
    if (level < rn_log_level)
        return;
    if (level < RN_LOG_DEBUG)
        level = RN_LOG_DEBUG;
    if (level > RN_LOG_ERROR)
        level = RN_LOG_ERROR;

    char line[RLOG_LINE_BYTES_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%ld] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], (long)syscall(SYS_gettid));
    if (n < 0)
        return;
    size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;

    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    if ((size_t)m >= sizeof line - used - 1) {
        /* Cut: leave room for "...\n". */
        used = sizeof line - 5;
        line[used++] = '.';
        line[used++] = '.';
        line[used++] = '.';
    } else {
        used += (size_t)m;
    }
    line[used++] = '\n';

    const char *p = line;
    while (used > 0) {
        ssize_t w = write(STDERR_FILENO, p, used);
        if (w <= 0)
            return; /* nowhere to report a failing stderr */
        p += w;
        used -= (size_t)w;
    }
}

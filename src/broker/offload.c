/*
 * offload.c - runs handlers that wait for the disk (the transaction
 * coordinator's durable steps: EndTxn, AddPartitionsToTxn, ...) on a few
 * threads of their own, so that a worker's loop goes on serving its other
 * connections meanwhile.
 *
 * The handler runs as usual and answers with RN_RESPOND or
 * rn_req_malformed; server.c sees that the request is offloaded and only
 * records the outcome (rn_offload_outcome). The request then goes on its
 * worker's done list, and the worker's loop hands the answer to the
 * connection (connections are used by their worker's thread only).
 *
 *   worker                       offload thread
 *   rn_req_offload: QUEUED  ---> RUNNING: handler(req), outcome recorded
 *                           <--- DONE: on the worker's done list, loop woken
 *   rn_offload_answer_done: answer, close or stay silent
 *
 * A connection that dies first cancels the request (on its worker): a
 * queued one leaves the queue, a running one is waited for (a few fsyncs),
 * a done one leaves the done list. One mutex guards the queue, the states
 * and every worker's done list; the loop is woken under it, so a worker
 * never goes away between DONE and the wake-up.
 */
#include <errno.h>
#include <stdlib.h>

#include "broker/broker.h"
#include "common/rlog.h"

enum { OFFLOAD_NONE, OFFLOAD_QUEUED, OFFLOAD_RUNNING, OFFLOAD_DONE };

#define OFFLOAD_THREADS 4

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static rn_req *queue_head, *queue_tail;
static int stopping;
static pthread_t threads[OFFLOAD_THREADS];
static int nthreads;

static void unlink_from(rn_req **head, rn_req **tail, rn_req *req)
{
    rn_req *prev = NULL;
    for (rn_req *r = *head; r; prev = r, r = r->next_waiting)
        if (r == req) {
            if (prev)
                prev->next_waiting = r->next_waiting;
            else
                *head = r->next_waiting;
            if (tail && *tail == r)
                *tail = prev;
            r->next_waiting = NULL;
            return;
        }
}

static void cancel_offload(rn_req *req)
{
    pthread_mutex_lock(&mu);
    while (req->offload_state == OFFLOAD_RUNNING)
        pthread_cond_wait(&done_cv, &mu);
    if (req->offload_state == OFFLOAD_QUEUED)
        unlink_from(&queue_head, &queue_tail, req);
    else if (req->offload_state == OFFLOAD_DONE)
        unlink_from(&req->worker->offload_done_head, NULL, req);
    req->offload_state = OFFLOAD_NONE;
    pthread_mutex_unlock(&mu);
}

void rn_req_offload(rn_req *req, rn_handler_fn handler)
{
    if (!nthreads) { /* no offload threads (rn_offload_start failed or not called): run here */
        handler(req);
        return;
    }
    req->offload_fn = handler;
    req->offload_outcome = RN_OFFLOAD_NO_ANSWER;
    req->cancel = cancel_offload;
    req->next_waiting = NULL;
    pthread_mutex_lock(&mu);
    req->offload_state = OFFLOAD_QUEUED;
    if (queue_tail)
        queue_tail->next_waiting = req;
    else
        queue_head = req;
    queue_tail = req;
    pthread_cond_signal(&work_cv);
    pthread_mutex_unlock(&mu);
}

int rn_req_is_offloaded(const rn_req *req)
{
    return req->offload_state == OFFLOAD_RUNNING; /* set and read on the offload thread running it */
}

void rn_offload_answer_done(rn_worker *w)
{
    for (;;) {
        pthread_mutex_lock(&mu);
        rn_req *req = w->offload_done_head;
        if (req) {
            w->offload_done_head = req->next_waiting;
            req->next_waiting = NULL;
            req->offload_state = OFFLOAD_NONE;
        }
        pthread_mutex_unlock(&mu);
        if (!req)
            return;
        req->cancel = NULL;
        switch (req->offload_outcome) {
        case RN_OFFLOAD_ANSWER:
            rn_conn_resp_ready(req->conn, &req->resp);
            break;
        case RN_OFFLOAD_SILENT:
            rn_req_no_response(req);
            break;
        case RN_OFFLOAD_MALFORMED:
            rn_req_malformed(req, req->offload_what);
            break;
        default:
            rn_conn_close(req->conn, req->offload_what ? req->offload_what : "no answer to an offloaded request");
            break;
        }
    }
}

static void *offload_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!queue_head && !stopping)
            pthread_cond_wait(&work_cv, &mu);
        if (!queue_head)
            break;
        rn_req *req = queue_head;
        queue_head = req->next_waiting;
        if (!queue_head)
            queue_tail = NULL;
        req->next_waiting = NULL;
        req->offload_state = OFFLOAD_RUNNING;
        pthread_mutex_unlock(&mu);

        req->offload_fn(req);

        pthread_mutex_lock(&mu);
        rn_worker *w = req->worker;
        req->offload_state = OFFLOAD_DONE;
        rn_req **tail = &w->offload_done_head;
        while (*tail)
            tail = &(*tail)->next_waiting;
        *tail = req;
        pthread_cond_broadcast(&done_cv);
        rn_loop_wake(&w->loop); /* under mu: the worker cannot go away before this */
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int rn_offload_start(void)
{
    stopping = 0;
    for (nthreads = 0; nthreads < OFFLOAD_THREADS; nthreads++)
        if (pthread_create(&threads[nthreads], NULL, offload_main, NULL) != 0) {
            rn_offload_stop();
            return -EAGAIN;
        }
    return 0;
}

void rn_offload_stop(void)
{
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_broadcast(&work_cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    nthreads = 0;
}

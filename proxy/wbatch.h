/*
 * wbatch — coalescing of upstream writes (SPEC §6 "Batching").
 *
 * Lines for one backend and one (db, rp, precision) that arrive on a loop thread while a write to that
 * backend is in flight are gathered into one batch, sent when the write in flight completes, so many
 * small client writes become few large upstream writes, with no timer on the idle path: a write that
 * finds nothing in flight goes out at once, unless the backend has an `interval` (linger, ms): then a batch
 * that is not full waits that long for more lines first. Each client request is a waiter of the batch carrying its
 * lines and learns the batch's outcome. A batch refused by the backend is re-sent waiter by waiter, so
 * a client never gets an error caused by another client's lines.
 *
 * Loop-thread only: every function runs on the thread that owns @thread.
 */
#ifndef IP_WBATCH_H
#define IP_WBATCH_H

#include <h2o.h>
#include "cfg.h"
#include "server.h"
#include "upstream.h"

typedef struct st_wb_waiter_t wb_waiter_t;
typedef struct st_wb_batch_t wb_batch_t;

/* The outcome a waiter receives; valid only during the callback. */
typedef struct st_wb_result_t {
    up_class_t klass;
    int status;
    const char *message;
    const char *body; /* the backend's answer body, body_len bytes */
    size_t body_len;
    const char *content_type, *influx_error; /* NULL when absent */
} wb_result_t;

typedef void (*wb_cb)(wb_waiter_t *w, const wb_result_t *res);

struct st_wb_waiter_t {
    /* set by the caller; the lines are borrowed and must stay valid until the callback or wb_cancel */
    const char *lines;
    size_t len;
    size_t nlines;
    wb_cb cb;
    /* set by the caller, or NULL: the waiter of the previous piece of the same write for the same lane. These lines go
     * upstream only once that waiter is no longer in a batch (answered or withdrawn), so a write's pieces reach the
     * backend in their order, as its lines would in one write: the last of two points with the same series and time
     * is the one kept. When that waiter gets no answer (UP_UNREACHABLE), this one gets the same outcome at once,
     * before it, without being sent: the caller queues it behind the other. A refusal does not stop it (influxd
     * answers each piece alone, and a client whose every piece is refused gets that answer, as from influxd). It
     * must stay valid as long as this waiter is in a batch. */
    wb_waiter_t *after;
    /* private */
    h2o_linklist_t _link;
    wb_batch_t *_batch;
};

/* One backend's pieces of a write, judged together (SPEC §6): the backend refused the write when it refused some
 * pieces and settled every other one (stored it: none lost on the way, none held in its queue). Start from
 * WB_VERDICT_INIT and add each piece. */
typedef struct st_wb_verdict_t {
    int refused_some, all_settled;
} wb_verdict_t;
#define WB_VERDICT_INIT ((wb_verdict_t){0, 1})

static inline void wb_verdict_add(wb_verdict_t *v, int done, up_class_t klass, int queued)
{
    int settled = done && !queued && (klass == UP_OK || klass == UP_REFUSED);
    v->refused_some |= done && klass == UP_REFUSED;
    v->all_settled &= settled;
}

static inline int wb_verdict_refused(const wb_verdict_t *v)
{
    return v->refused_some && v->all_settled;
}

/* Queues @w's lines for backend @b of @cfg with the given /write parameters (db already the backend's own,
 * precision as the backend spells it). The callback runs exactly once on this loop unless
 * wb_cancel() is called first. @cfg must outlive the call; the batch keeps what it needs. */
void wb_submit(ip_thread_t *thread, const cfg_t *cfg, size_t b, h2o_iovec_t db, h2o_iovec_t rp, const char *precision,
               h2o_iovec_t consistency, wb_waiter_t *w);

/* Withdraws a waiter whose callback has not run (its request went away). Safe to call twice. */
void wb_cancel(wb_waiter_t *w);

/* Logs, for each backend with an `interval`, that its writes linger (a surprise to an operator whose configuration
 * came from the original proxy, where it was a flush period). */
void wb_log_lingers(const cfg_t *cfg);

/* Sends at once the batches that linger for their backend's `interval` (the start of a drain). */
void wb_flush_thread(ip_thread_t *thread);

/* Frees the thread's idle lanes and cancels what is left (shutdown). */
void wb_dispose_thread(ip_thread_t *thread);

#endif

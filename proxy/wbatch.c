/*
 * wbatch — coalescing of upstream writes per (loop thread, backend, db, rp, precision).
 *
 * DESIGN: a lane per key holds the batches of that key: in flight, and pending ones in arrival order. A waiter joins
 * the newest pending batch if it has room (maxrowlimit lines, RT_PIECE_BYTES bytes), else starts a new one; with
 * nothing in flight a batch leaves at once, so an idle lane adds no delay. Waiters' lines are copied into the upstream
 * job only at send time, so a waiter that is cancelled while pending simply leaves the list. The lane keeps a reference
 * to the configuration snapshot it was made from.
 *
 * Order: the pieces of one client write are consecutive waiters of a lane, each naming the one before it (`after`). A
 * batch holding a piece leaves only once the piece before it is out of its batch (answered or withdrawn), and the
 * lane sends its batches in order, so the head batch waiting for its turn holds back those behind it. A piece that
 * gets no answer takes the pieces after it with it (deliver()): they never go around it. The re-sends of a refused
 * batch go ahead of every pending batch, where the later pieces of its writes may wait.
 *
 * Linger: with the backend's `interval` (ms) above 0, a batch that is not full also waits until it is `interval` old
 * before it leaves, so light traffic makes fewer, larger writes at the cost of that much latency (each client still
 * has its answer only once its lines are stored). Every batch has its own entry in the thread's timeout of `interval`
 * ms, linked when the batch is made: batches are made in the order they leave, so the entries fire in that order too.
 * The timeouts belong to the thread and live as long as it: h2o's loop walks its list of timeouts while it runs their
 * entries, so one must never be disposed by a callback (a lane may go from inside its own batch's).
 */
#include "wbatch.h"

#include <stdlib.h>
#include <string.h>
#include "backends.h"
#include "http_util.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "util.h"

/* Batches in flight per lane: one while batches are small (the best coalescing: every client write that
 * arrives meanwhile joins the next batch), up to MAX_INFLIGHT when the next batch is already full. */
#define MAX_INFLIGHT 4

typedef struct st_wb_lane_t wb_lane_t;

struct st_wb_batch_t {
    wb_lane_t *lane;
    h2o_linklist_t waiters;
    h2o_linklist_t _link; /* lane->pending, while pending */
    size_t nlines;
    size_t bytes;               /* of the waiters' lines */
    size_t nafter;              /* waiters with an `after` */
    up_job_t *job;              /* while in flight */
    h2o_timeout_entry_t linger; /* linked while the batch is pending and younger than the lane's interval */
};

struct st_wb_lane_t {
    h2o_linklist_t _link; /* thread's lanes */
    ip_thread_t *thread;
    cfg_t *cfg;
    size_t backend;
    h2o_iovec_t db, rp, consistency; /* as the client sent them: they may hold NUL bytes */
    char *precision, *url;
    h2o_linklist_t pending;
    size_t inflight;
    h2o_timeout_t *linger; /* the thread's timeout of the backend's interval; NULL when it is 0 */
};

typedef struct st_wb_linger_t {
    uint64_t ms;
    h2o_timeout_t *t;
} wb_linger_t;

typedef struct st_wb_thread_t {
    h2o_linklist_t lanes;
    wb_linger_t *lingers; /* one timeout per interval in use, kept until the thread goes */
    size_t nlingers;
} wb_thread_t;

static wb_thread_t *thread_state(ip_thread_t *t)
{
    if (t->wbatch == NULL) {
        wb_thread_t *s = calloc(1, sizeof(*s));
        if (s == NULL)
            abort();
        h2o_linklist_init_anchor(&s->lanes);
        t->wbatch = s;
    }
    return t->wbatch;
}

static h2o_timeout_t *linger_timeout(ip_thread_t *t, wb_thread_t *s, uint64_t ms)
{
    for (size_t i = 0; i < s->nlingers; i++)
        if (s->lingers[i].ms == ms)
            return s->lingers[i].t;
    void *grown = realloc(s->lingers, (s->nlingers + 1) * sizeof(*s->lingers));
    h2o_timeout_t *tmo = calloc(1, sizeof(*tmo));
    if (grown == NULL || tmo == NULL)
        abort();
    s->lingers = grown;
    h2o_timeout_init(t->loop, tmo, ms);
    s->lingers[s->nlingers].ms = ms;
    s->lingers[s->nlingers++].t = tmo;
    return tmo;
}

static h2o_iovec_t dup_iov(h2o_iovec_t v)
{
    char *s = malloc(v.len + 1);
    if (s == NULL)
        abort();
    if (v.len != 0)
        memcpy(s, v.base, v.len);
    s[v.len] = '\0';
    return h2o_iovec_init(s, v.len);
}

static wb_lane_t *lane_get(ip_thread_t *t, const cfg_t *cfg, size_t b, h2o_iovec_t db, h2o_iovec_t rp,
                           const char *precision, h2o_iovec_t consistency)
{
    wb_thread_t *s = thread_state(t);
    for (h2o_linklist_t *n = s->lanes.next; n != &s->lanes; n = n->next) {
        wb_lane_t *l = H2O_STRUCT_FROM_MEMBER(wb_lane_t, _link, n);
        if (l->cfg == cfg && l->backend == b && h2o_memis(l->db.base, l->db.len, db.base, db.len) &&
            h2o_memis(l->rp.base, l->rp.len, rp.base, rp.len) && strcmp(l->precision, precision) == 0 &&
            h2o_memis(l->consistency.base, l->consistency.len, consistency.base, consistency.len))
            return l;
    }
    wb_lane_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        abort();
    l->thread = t;
    l->cfg = cfg_retain((cfg_t *)cfg);
    l->backend = b;
    l->db = dup_iov(db);
    l->rp = dup_iov(rp);
    l->precision = strdup(precision);
    if (l->precision == NULL)
        abort();
    l->consistency = dup_iov(consistency);
    h2o_linklist_init_anchor(&l->pending);
    /* the URL is the same for every batch of the lane: build it once */
    const cfg_backend_t *be = &cfg->backends[b];
    l->linger = be->interval != 0 ? linger_timeout(t, s, be->interval) : NULL;
    h2o_mem_pool_t pool;
    ubuf_t url;
    h2o_mem_init_pool(&pool);
    ubuf_init(&url, SIZE_MAX);
    ubuf_append(&url, be->url, strlen(be->url));
    ubuf_append(&url, "/write?", 7);
    hu_form_add(&url, "db", l->db.base, l->db.len, &pool);
    hu_form_add(&url, "rp", l->rp.base, l->rp.len, &pool);
    hu_form_add(&url, "precision", l->precision, strlen(l->precision), &pool);
    hu_form_add(&url, "consistency", l->consistency.base, l->consistency.len, &pool);
    ubuf_append(&url, "", 1);
    l->url = strdup(url.base);
    ubuf_free(&url);
    h2o_mem_clear_pool(&pool);
    h2o_linklist_insert(&s->lanes, &l->_link);
    return l;
}

static void lane_free_if_idle(wb_lane_t *l)
{
    if (l->inflight != 0 || !h2o_linklist_is_empty(&l->pending))
        return;
    h2o_linklist_unlink(&l->_link);
    cfg_release(l->cfg);
    free(l->db.base);
    free(l->rp.base);
    free(l->precision);
    free(l->consistency.base);
    free(l->url);
    free(l);
}

static void lane_pump(wb_lane_t *l);

static void on_linger_done(h2o_timeout_entry_t *entry)
{
    wb_batch_t *b = H2O_STRUCT_FROM_MEMBER(wb_batch_t, linger, entry);
    wb_lane_t *l = b->lane;
    lane_pump(l);
    lane_free_if_idle(l);
}

/* A batch, pending before @pos (&l->pending: at the end) of the lane; it lingers if the lane has an interval. */
static wb_batch_t *batch_new(wb_lane_t *l, h2o_linklist_t *pos)
{
    wb_batch_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        abort();
    b->lane = l;
    h2o_linklist_init_anchor(&b->waiters);
    h2o_linklist_insert(pos, &b->_link);
    b->linger.cb = on_linger_done;
    if (l->linger != NULL && !ip_server.stopping) /* a draining daemon sends what it has */
        h2o_timeout_link(l->thread->loop, l->linger, &b->linger);
    return b;
}

/* Takes a pending batch off the lane. */
static void batch_unlink(wb_batch_t *b)
{
    h2o_linklist_unlink(&b->_link);
    if (h2o_timeout_is_linked(&b->linger))
        h2o_timeout_unlink(&b->linger);
}

static void add_waiter(wb_batch_t *b, wb_waiter_t *w)
{
    w->_batch = b;
    b->nlines += w->nlines;
    b->bytes += w->len;
    b->nafter += w->after != NULL;
    h2o_linklist_insert(&b->waiters, &w->_link);
}

/* Whether a waiter of @b follows one that is still in another batch: one in flight, or one ahead of @b in the lane
 * (batches leave in order, so never one behind it). */
static int batch_waits(const wb_batch_t *b)
{
    if (b->nafter == 0)
        return 0;
    for (const h2o_linklist_t *n = b->waiters.next; n != &b->waiters; n = n->next) {
        const wb_waiter_t *w = H2O_STRUCT_FROM_MEMBER(wb_waiter_t, _link, n);
        if (w->after != NULL && w->after->_batch != NULL && w->after->_batch != b)
            return 1;
    }
    return 0;
}

static void on_batch_done(up_job_t *job, void *cbdata);
static void batch_done(up_job_t *job, wb_batch_t *b);

static void batch_send(wb_batch_t *b)
{
    wb_lane_t *l = b->lane;
    const cfg_backend_t *be = &l->cfg->backends[l->backend];
    size_t total = 0;
    char err[256];

    size_t nparts = 0;
    for (h2o_linklist_t *n = b->waiters.next; n != &b->waiters; n = n->next)
        nparts++;
    /* the waiters' lines go straight into the job (one copy) */
    h2o_iovec_t stack_parts[64], *parts = nparts <= 64 ? stack_parts : malloc(nparts * sizeof(*parts));
    if (parts == NULL)
        abort();
    nparts = 0;
    for (h2o_linklist_t *n = b->waiters.next; n != &b->waiters; n = n->next) {
        wb_waiter_t *w = H2O_STRUCT_FROM_MEMBER(wb_waiter_t, _link, n);
        parts[nparts++] = h2o_iovec_init(w->lines, w->len);
        total += w->len;
    }
    b->bytes = total;
    up_req_t r = ip_backend_req(be, UP_POST, l->url, be->timeout, l->thread, on_batch_done, b);
    r.body_parts = parts;
    r.num_body_parts = nparts;
    r.gzip = be->gzip;
    r.max_response = 1 << 20;
    /* the lean client: curl's per-transfer work was about a fifth of the proxy's CPU per client write */
    r.use_h1 = r.bulk = true;
    b->job = up_job_new(&r, err, sizeof(err));
    if (parts != stack_parts)
        free(parts);
    l->inflight++;
    if (b->job == NULL) {
        /* cannot happen with a URL built from a validated config; fail the waiters rather than hang */
        ip_log(IP_LOG_ERROR, "write to %s: %s", be->name, err);
        up_job_t fake;
        memset(&fake, 0, sizeof(fake));
        fake.res.klass = UP_UNREACHABLE;
        snprintf(fake.res.message, sizeof(fake.res.message), "%s", err);
        fake.res.body = (char *)"";
        batch_done(&fake, b); /* lane_pump(), the caller, goes on with the lane */
        return;
    }
    up_submit(l->thread->up, b->job);
}

/* Sends pending batches while the lane has free slots. */
static void lane_pump(wb_lane_t *l)
{
    uint64_t full = l->cfg->backends[l->backend].maxrowlimit;
    while (l->inflight < MAX_INFLIGHT && !h2o_linklist_is_empty(&l->pending)) {
        wb_batch_t *b = H2O_STRUCT_FROM_MEMBER(wb_batch_t, _link, l->pending.next);
        if (batch_waits(b)) /* an earlier piece of one of its writes is not answered yet: it runs this again */
            break;
        /* the last pending batch still has room: let it fill while one is in flight, or while it lingers */
        if (b->nlines < full && b->bytes < RT_PIECE_BYTES && b->_link.next == &l->pending &&
            !h2o_linklist_is_empty(&b->waiters) && (l->inflight != 0 || h2o_timeout_is_linked(&b->linger)))
            break;
        batch_unlink(b);
        if (h2o_linklist_is_empty(&b->waiters)) {
            free(b);
            continue;
        }
        batch_send(b);
    }
}

/* The waiter that follows @w (the next piece of its write) in lane @l's pending batches from @from on, or NULL. A
 * write's pieces are submitted one after the other, so it is in the first batch looked at or the next one. */
static wb_waiter_t *follower(wb_lane_t *l, h2o_linklist_t *from, const wb_waiter_t *w)
{
    for (h2o_linklist_t *n = from; n != &l->pending; n = n->next) {
        wb_batch_t *b = H2O_STRUCT_FROM_MEMBER(wb_batch_t, _link, n);
        if (b->nafter == 0)
            continue;
        for (h2o_linklist_t *m = b->waiters.next; m != &b->waiters; m = m->next) {
            wb_waiter_t *f = H2O_STRUCT_FROM_MEMBER(wb_waiter_t, _link, m);
            if (f->after == w)
                return f;
        }
    }
    return NULL;
}

/* @w, of a batch in flight on lane @l, gets the outcome of @job. A waiter that got no answer takes the later pieces of
 * its write, waiting in the lane, with it: they get the same outcome, so that their caller queues them behind it
 * rather than they go upstream around it. They are told first: @w's own callback may be the last of its write. */
static void deliver(wb_lane_t *l, wb_waiter_t *w, const up_job_t *job)
{
    wb_result_t res = {job->res.klass,    job->res.status,       job->res.message,     job->res.body,
                       job->res.body_len, job->res.content_type, job->res.influx_error};
    if (job->res.klass == UP_UNREACHABLE) {
        for (wb_waiter_t *f = follower(l, l->pending.next, w), *next; f != NULL; f = next) {
            next = follower(l, &f->_batch->_link, f);
            wb_cancel(f);
            f->cb(f, &res);
        }
    }
    wb_cancel(w);
    w->cb(w, &res);
}

/* The outcome of batch @b reaches its waiters (or, refused, their lines go out one request at a time); @b is freed.
 * Neither sends nor frees the lane: lane_pump() may be the caller. */
static void batch_done(up_job_t *job, wb_batch_t *b)
{
    wb_lane_t *l = b->lane;
    size_t nwaiters = 0;

    b->job = NULL;
    l->inflight--;
    size_t slot = ip_slot(l->cfg, l->backend);
    if (job->res.klass == UP_OK || job->res.klass == UP_REFUSED)
        ip_metrics_write_latency(slot, job->res.total_us);
    if (job->res.klass == UP_OK) {
        ip_count(slot, writes_ok, 1);
        ip_count(slot, lines_ok, b->nlines);
        ip_count(slot, bytes_ok, b->bytes);
    } else if (job->res.klass == UP_REFUSED) {
        ip_count(slot, writes_refused, 1);
    } else {
        ip_count(slot, writes_unreachable, 1);
    }
    for (h2o_linklist_t *n = b->waiters.next; n != &b->waiters; n = n->next)
        nwaiters++;
    if (job->res.klass == UP_REFUSED && nwaiters > 1) {
        /* the backend refused lines of the batch: find out whose, by sending each request's own, ahead of the batches
         * that were waiting (later pieces of these writes may be among them) */
        h2o_linklist_t *ahead = l->pending.next;
        while (!h2o_linklist_is_empty(&b->waiters)) {
            wb_waiter_t *w = H2O_STRUCT_FROM_MEMBER(wb_waiter_t, _link, b->waiters.next);
            h2o_linklist_unlink(&w->_link);
            wb_batch_t *solo = batch_new(l, ahead);
            if (h2o_timeout_is_linked(&solo->linger)) /* its lines have lingered once already */
                h2o_timeout_unlink(&solo->linger);
            add_waiter(solo, w);
        }
    } else {
        while (!h2o_linklist_is_empty(&b->waiters))
            deliver(l, H2O_STRUCT_FROM_MEMBER(wb_waiter_t, _link, b->waiters.next), job);
    }
    free(b);
}

static void on_batch_done(up_job_t *job, void *cbdata)
{
    wb_lane_t *l = ((wb_batch_t *)cbdata)->lane;
    batch_done(job, cbdata);
    lane_pump(l);
    lane_free_if_idle(l);
}

void wb_submit(ip_thread_t *thread, const cfg_t *cfg, size_t b, h2o_iovec_t db, h2o_iovec_t rp, const char *precision,
               h2o_iovec_t consistency, wb_waiter_t *w)
{
    wb_lane_t *l = lane_get(thread, cfg, b, db, rp, precision, consistency);
    uint64_t max = cfg->backends[b].maxrowlimit;
    wb_batch_t *last =
        h2o_linklist_is_empty(&l->pending) ? NULL : H2O_STRUCT_FROM_MEMBER(wb_batch_t, _link, l->pending.prev);

    if (last == NULL || last->nlines + w->nlines > max || last->bytes + w->len > RT_PIECE_BYTES)
        last = batch_new(l, &l->pending);
    add_waiter(last, w);
    lane_pump(l);
}

void wb_cancel(wb_waiter_t *w)
{
    wb_batch_t *b = w->_batch;
    if (b == NULL)
        return;
    h2o_linklist_unlink(&w->_link);
    b->nlines -= w->nlines;
    b->bytes -= w->len;
    b->nafter -= w->after != NULL;
    w->_batch = NULL;
}

void wb_log_lingers(const cfg_t *cfg)
{
    for (size_t i = 0; i < cfg->nbackends; i++)
        if (cfg->backends[i].interval != 0)
            ip_log(IP_LOG_INFO,
                   "backend %s: interval %llu ms: a write to it waits up to that long for others to go out with "
                   "(set 0 to send at once)",
                   cfg->backends[i].name, (unsigned long long)cfg->backends[i].interval);
}

void wb_flush_thread(ip_thread_t *thread)
{
    wb_thread_t *s = thread->wbatch;
    if (s == NULL)
        return;
    for (h2o_linklist_t *n = s->lanes.next; n != &s->lanes;) {
        wb_lane_t *l = H2O_STRUCT_FROM_MEMBER(wb_lane_t, _link, n);
        n = n->next; /* the lane may be freed below */
        for (h2o_linklist_t *p = l->pending.next; p != &l->pending; p = p->next) {
            wb_batch_t *b = H2O_STRUCT_FROM_MEMBER(wb_batch_t, _link, p);
            if (h2o_timeout_is_linked(&b->linger))
                h2o_timeout_unlink(&b->linger);
        }
        lane_pump(l);
        lane_free_if_idle(l);
    }
}

void wb_dispose_thread(ip_thread_t *thread)
{
    wb_thread_t *s = thread->wbatch;
    if (s == NULL)
        return;
    while (!h2o_linklist_is_empty(&s->lanes)) {
        wb_lane_t *l = H2O_STRUCT_FROM_MEMBER(wb_lane_t, _link, s->lanes.next);
        while (!h2o_linklist_is_empty(&l->pending)) {
            wb_batch_t *b = H2O_STRUCT_FROM_MEMBER(wb_batch_t, _link, l->pending.next);
            batch_unlink(b);
            free(b);
        }
        l->inflight = 0; /* batches in flight are freed with their jobs by up_destroy's cancellations */
        lane_free_if_idle(l);
    }
    for (size_t i = 0; i < s->nlingers; i++) { /* no entry is linked: every pending batch is gone */
        h2o_timeout_dispose(thread->loop, s->lingers[i].t);
        free(s->lingers[i].t);
    }
    free(s->lingers);
    free(s);
    thread->wbatch = NULL;
}

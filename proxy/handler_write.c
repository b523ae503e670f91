/*
 * handler_write — POST /write (SPEC §6): decode the body, split it by measurement into one body per
 * target backend, deliver each through the upstream worker, answer as InfluxDB would.
 *
 * DESIGN: the per-request state lives in the request's pool with a dispose callback that cancels
 * outstanding upstream jobs, so a client that goes away cleans up without special cases. A backend's
 * lines go upstream in pieces of at most its maxrowlimit lines (and RT_PIECE_BYTES bytes), one target
 * each; the targets of one backend are consecutive and judged together. The answer follows the
 * acknowledgement rule: 204 only when every target backend stored its lines or holds what it did not
 * store in its disk queue; when every target backend refused them, the first refusal goes back
 * unchanged (Telegraf decides on InfluxDB's texts); when lines could not be kept, 503 names the backend,
 * so the client retries rather than believing the data is safe.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "backends.h"
#include "http_util.h"
#include "lineproto.h"
#include "log.h"
#include "queue.h"
#include "dqueue.h"
#include "route.h"
#include "server.h"
#include "upstream.h"
#include "wbatch.h"

typedef struct st_write_req_t write_req_t;

/* One piece of one backend's lines. */
typedef struct st_target_t {
    write_req_t *w;
    size_t backend;
    rt_slice_t lines;
    size_t nlines;
    wb_waiter_t waiter; /* in a batch while in flight */
    int done;
    int queued; /* its lines are in the backend's disk queue */
    up_class_t klass;
    int status;
    char *body, *content_type, *influx_error, *message; /* copies, made only when it did not store the lines */
    size_t body_len;
} target_t;

struct st_write_req_t {
    h2o_req_t *req;
    cfg_t *cfg;
    rt_write_t rt;
    int rt_ready;
    target_t *targets; /* by backend, then piece */
    size_t ntargets, nbackends, pending;
    int responded;
    h2o_iovec_t db, rp, precision, consistency;
    ubuf_t plain; /* a gzip body, decompressed: the targets' lines may point into it, as into req->entity */
    lp_precision_t prec;
    uint64_t started_ms;
    ip_thread_t *thread;
};

static void on_dispose(void *p)
{
    write_req_t *w = p;
    w->thread->active--;
    for (size_t i = 0; i < w->ntargets; i++) {
        target_t *t = &w->targets[i];
        wb_cancel(&t->waiter);
        free(t->body);
        free(t->content_type);
        free(t->influx_error);
        free(t->message);
    }
    free(w->targets);
    if (w->rt_ready)
        rt_write_free(&w->rt);
    ubuf_free(&w->plain);
    if (w->cfg != NULL)
        cfg_release(w->cfg);
}

static int is_method(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

/* The body as sent, or decompressed when Content-Encoding says gzip. Answers the request itself and
 * returns -1 on a bad or oversized body. */
static int get_body(write_req_t *w, ubuf_t *plain, h2o_iovec_t *out)
{
    h2o_req_t *req = w->req;
    size_t cap = (size_t)w->cfg->node.maxbodymb * 1024 * 1024;
    ssize_t ce = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_ENCODING, -1);

    if (req->entity.len > cap) {
        hu_send_error(req, 413, "Request Entity Too Large");
        return -1;
    }
    /* as InfluxDB does: gzip is decoded, any other Content-Encoding is ignored and the body read as sent */
    if (ce == -1 ||
        !h2o_lcstris(req->headers.entries[ce].value.base, req->headers.entries[ce].value.len, H2O_STRLIT("gzip"))) {
        *out = req->entity.base != NULL ? req->entity : h2o_iovec_init("", 0);
        return 0;
    }
    ubuf_init(plain, cap);
    int ret = util_gunzip(req->entity.base, req->entity.len, plain);
    if (ret != 0) {
        hu_send_error(req, ret == UTIL_GZ_ETOOBIG ? 413 : 400,
                      req->entity.len == 0 ? "EOF" : util_gunzip_strerror(ret));
        return -1;
    }
    *out = h2o_iovec_init(plain->base != NULL ? plain->base : "", plain->len);
    return 0;
}

static void respond(write_req_t *w);

/* A batch holding this target's lines completed: copy the outcome (valid only during the call). */
static void on_delivered(wb_waiter_t *waiter, const wb_result_t *res)
{
    target_t *t = H2O_STRUCT_FROM_MEMBER(target_t, waiter, waiter);
    write_req_t *w = t->w;
    t->done = 1;
    t->klass = res->klass;
    t->status = res->status;
    if (res->klass == UP_OK)
        goto Done; /* nothing of the answer is used: no copies on the usual path */
    t->message = strdup(res->message != NULL ? res->message : "");
    if (t->message == NULL)
        abort();
    if (res->klass == UP_REFUSED) { /* send_refusal() may pass it on as it came */
        t->body = malloc(res->body_len + 1);
        if (t->body == NULL)
            abort();
        memcpy(t->body, res->body, res->body_len);
        t->body[res->body_len] = '\0';
        t->body_len = res->body_len;
        t->content_type = res->content_type != NULL ? strdup(res->content_type) : NULL;
        t->influx_error = res->influx_error != NULL ? strdup(res->influx_error) : NULL;
    }
Done:
    if (--w->pending == 0 && !w->responded)
        respond(w);
}

static void submit(write_req_t *w, size_t ti, ip_thread_t *thr)
{
    target_t *t = &w->targets[ti];
    const cfg_backend_t *b = &w->cfg->backends[t->backend];
    t->w = w;
    t->waiter.lines = t->lines.base;
    t->waiter.len = t->lines.len;
    t->waiter.nlines = t->nlines;
    t->waiter.cb = on_delivered;
    t->waiter.after = ti != 0 && t[-1].backend == t->backend ? &t[-1].waiter : NULL;
    wb_submit(thr, w->cfg, t->backend, *b->db != '\0' ? h2o_iovec_init(b->db, strlen(b->db)) : w->db, w->rp,
              lp_precision_param(w->prec), w->consistency, &t->waiter);
}

/* influxd's partial write texts end in " dropped=N", then @tail: N, with where " dropped=" starts in *at; or -1. */
static long long dropped_of(const char *s, size_t len, const char *tail, size_t *at)
{
    static const char key[] = " dropped=";
    size_t tl = strlen(tail), end, d;
    if (s == NULL || len < tl + sizeof(key) || memcmp(s + len - tl, tail, tl) != 0)
        return -1;
    end = len - tl;
    for (d = end; d > 0 && s[d - 1] >= '0' && s[d - 1] <= '9' && end - d < 15; d--)
        ;
    if (d == end || d < sizeof(key) - 1 || memcmp(s + d - (sizeof(key) - 1), key, sizeof(key) - 1) != 0)
        return -1;
    *at = d - (sizeof(key) - 1);
    return strtoll(s + d, NULL, 10);
}

/* @s with its dropped count (at @at, see dropped_of) replaced by @total, in the request's pool. */
static h2o_iovec_t with_dropped(h2o_mem_pool_t *pool, const char *s, size_t len, size_t at, const char *tail,
                                long long total)
{
    size_t tl = strlen(tail);
    char *out = h2o_mem_alloc_pool(pool, at + 32 + tl);
    memcpy(out, s, at);
    int n = snprintf(out + at, 32, " dropped=%lld", total);
    memcpy(out + at + (size_t)n, s + len - tl, tl);
    return h2o_iovec_init(out, at + (size_t)n + tl);
}

/* The first refusal, as the backend gave it; when the backend refused several pieces with a partial write, influxd
 * would have counted every dropped point in one answer: the counts are summed into the first one's text. */
static void send_refusal(write_req_t *w, target_t *t)
{
    h2o_req_t *req = w->req;
    h2o_iovec_t body = h2o_iovec_init(t->body != NULL ? t->body : "", t->body_len);
    h2o_iovec_t ierr = h2o_iovec_init(t->influx_error, t->influx_error != NULL ? strlen(t->influx_error) : 0);
    size_t at_body, at_err, at;
    long long total = dropped_of(body.base, body.len, "\"}\n", &at_body), pieces = total >= 0;

    for (size_t i = 0; total >= 0 && i < w->ntargets; i++) {
        target_t *o = &w->targets[i];
        long long n;
        if (o == t || o->backend != t->backend || !o->done || o->klass != UP_REFUSED || o->status != t->status ||
            (n = dropped_of(o->body, o->body_len, "\"}\n", &at)) < 0)
            continue;
        total += n;
        pieces++;
    }
    if (pieces > 1) {
        body = with_dropped(&req->pool, body.base, body.len, at_body, "\"}\n", total);
        if (dropped_of(ierr.base, ierr.len, "", &at_err) >= 0)
            ierr = with_dropped(&req->pool, ierr.base, ierr.len, at_err, "", total);
    }
    req->res.status = t->status;
    req->res.reason = hu_reason(t->status);
    hu_add_influx_headers(req);
    if (t->content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, t->content_type,
                       strlen(t->content_type));
    if (ierr.base != NULL)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-influxdb-error"), 0, "X-Influxdb-Error",
                              ierr.base, ierr.len);
    req->res.content_length = body.len;
    h2o_send_inline(req, body.base, body.len);
}

static void send_parse_errors(write_req_t *w, int partial)
{
    ubuf_t msg;
    ubuf_init(&msg, w->rt.errors.len + 64);
    if (partial)
        ubuf_append(&msg, "partial write: ", 15);
    ubuf_append(&msg, w->rt.errors.base, w->rt.errors.len);
    if (partial)
        ubuf_append(&msg, " dropped=0", 10);
    hu_send_error_n(w->req, 400, msg.base != NULL ? msg.base : "", msg.len);
    ubuf_free(&msg);
}

/* Puts target @t's lines into its backend's queue. Returns 0, or appends to @msg why it could not. */
static int queue_target(write_req_t *w, target_t *t, char *msg, size_t cap, size_t *mlen)
{
    const cfg_backend_t *b = &w->cfg->backends[t->backend];
    size_t slot = ip_slot(w->cfg, t->backend);
    int ret = ip_queue_append(slot, w->db.base, w->db.len, w->rp.base, w->rp.len, lp_precision_param(w->prec),
                              t->lines.base, t->lines.len);
    if (ret == 0) {
        t->queued = 1;
        ip_count(slot, lines_queued, t->nlines);
        return 0;
    }
    const char *why = ip_queue_strerror(ret);
    static ip_log_limit_t site;
    ip_log_limited(&site, IP_LOG_ERROR, "write for backend %s could not be queued: %s", b->name, why);
    if (*mlen < cap)
        *mlen +=
            (size_t)snprintf(msg + *mlen, cap - *mlen, "%sbackend %s did not store the write (%s) and %s%s%s",
                             *mlen ? "; " : "", b->name, t->message != NULL ? t->message : "its queue is not empty",
                             ret == DQ_EFULL ? "its disk queue is full" : "it could not be queued (",
                             ret == DQ_EFULL ? "" : why, ret == DQ_EFULL ? "" : ")");
    return -1;
}

/* The end of the targets of the backend of target @i (they are consecutive). */
static size_t backend_end(const write_req_t *w, size_t i)
{
    size_t j = i + 1;
    while (j < w->ntargets && w->targets[j].backend == w->targets[i].backend)
        j++;
    return j;
}

static void respond(write_req_t *w)
{
    size_t refused = 0, stored = 0, queued = 0;
    target_t *first_refusal = NULL;
    char msg[1024];
    size_t mlen = 0;
    int failed = 0;

    for (size_t i = 0, end; i < w->ntargets; i = end) {
        wb_verdict_t v = WB_VERDICT_INIT;
        for (end = backend_end(w, i); i < end; i++) {
            target_t *t = &w->targets[i];
            wb_verdict_add(&v, t->done, t->klass, t->queued);
            if (first_refusal == NULL && t->done && t->klass == UP_REFUSED)
                first_refusal = t;
        }
        refused += wb_verdict_refused(&v);
    }
    if (refused == w->nbackends) {
        /* every backend refused lines: they are the client's to fix, not ours to keep (what a backend stored of
         * them stays stored, as when influxd itself answers "partial write") */
        send_refusal(w, first_refusal);
        goto Trace;
    }
    msg[0] = '\0';
    for (size_t i = 0; i < w->ntargets; i++) {
        target_t *t = &w->targets[i];
        if (t->queued || (t->done && t->klass == UP_OK))
            continue;
        static ip_log_limit_t site; /* a replica that refuses what the others store does so for every write */
        ip_log_limited(&site, t->klass == UP_REFUSED ? IP_LOG_WARN : IP_LOG_DEBUG,
                       "write to backend %s failed, queueing it: %s", w->cfg->backends[t->backend].name,
                       t->message != NULL ? t->message : "");
        failed |= queue_target(w, t, msg, sizeof(msg), &mlen) != 0;
    }
    if (failed)
        hu_send_error(w->req, 503, msg);
    else if (w->rt.invalid != 0)
        send_parse_errors(w, 1);
    else
        hu_send_empty(w->req, 204);
Trace:
    if (w->cfg->node.writetracing) {
        /* backends that stored every piece, and backends that hold some in their queue */
        for (size_t i = 0, end; i < w->ntargets; i = end) {
            int all_ok = 1, any_queued = 0;
            for (end = backend_end(w, i); i < end; i++) {
                all_ok &= w->targets[i].done && w->targets[i].klass == UP_OK;
                any_queued |= w->targets[i].queued;
            }
            stored += all_ok;
            queued += any_queued;
        }
        ip_log(IP_LOG_INFO,
               "write db=%.*s lines=%zu invalid=%zu targets=%zu writes=%zu stored=%zu queued=%zu in %llu ms",
               (int)w->db.len, w->db.base, w->rt.valid, w->rt.invalid, w->nbackends, w->ntargets, stored, queued,
               (unsigned long long)(ip_now_ms() - w->started_ms));
    }
}

static int parse_params(write_req_t *w, lp_precision_t *precision)
{
    h2o_req_t *req = w->req;
    static const char *const names[] = {"db", "rp", "consistency", "precision"};
    h2o_iovec_t *const slots[] = {&w->db, &w->rp, &w->consistency, &w->precision};
    unsigned char found[sizeof(names) / sizeof(names[0])] = {0};

    hu_params(&req->pool, hu_query_string(req), names, sizeof(names) / sizeof(names[0]), slots, found);
    if (w->db.len == 0) {
        hu_send_error(req, 400, "database is required");
        return -1;
    }
    if (lp_parse_precision(w->precision.base, w->precision.len, precision) != 0) {
        char m[200];
        snprintf(m, sizeof(m), "invalid precision \"%.*s\" (use n, ns, u, us, ms, s, m or h)", (int)w->precision.len,
                 w->precision.base);
        hu_send_error(req, 400, m);
        return -1;
    }
    const char *ndb = w->cfg->node.db;
    if (*ndb != '\0' && !h2o_memis(w->db.base, w->db.len, ndb, strlen(ndb))) {
        char m[300];
        snprintf(m, sizeof(m), "database not found: \"%.*s\"", (int)w->db.len, w->db.base);
        hu_send_error(req, 404, m);
        return -1;
    }
    return 0;
}

void ip_handle_write(h2o_req_t *req)
{
    write_req_t *w;
    lp_precision_t precision;
    h2o_iovec_t body;
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    if (hu_preflight(req))
        return;
    if (!is_method(req, "POST")) {
        hu_send_error(req, 405, "method not allowed (use POST)");
        return;
    }
    w = h2o_mem_alloc_shared(&req->pool, sizeof(*w), on_dispose);
    memset(w, 0, sizeof(*w));
    w->req = req;
    w->thread = ip_thread_of(req);
    w->thread->active++;
    w->cfg = ip_cfg_get();
    w->started_ms = ip_now_ms();
    if (parse_params(w, &precision) != 0 || get_body(w, &w->plain, &body) != 0)
        goto Exit;
    w->prec = precision;
    rt_write_init(&w->rt, w->cfg->nbackends, (size_t)w->cfg->node.maxbodymb * 1024 * 1024 * 2);
    w->rt_ready = 1;
    w->rt.borrow_body = 1; /* the body lives as long as the request, the targets' waiters no longer */
    w->rt.piece_bytes = RT_PIECE_BYTES;
    if (rt_split(w->cfg, body.base, body.len, precision, &now, &w->rt) != 0) {
        hu_send_error(req, 413, "Request Entity Too Large");
        goto Exit;
    }
    size_t npieces = 0;
    for (size_t i = 0; i < w->cfg->nbackends; i++)
        npieces += rt_npieces(&w->rt, i);
    w->targets = calloc(npieces + 1, sizeof(*w->targets));
    if (w->targets == NULL)
        abort();
    for (size_t i = 0; i < w->cfg->nbackends; i++) {
        size_t n = rt_npieces(&w->rt, i);
        if (n == 0)
            continue;
        w->nbackends++;
        for (size_t k = 0; k < n; k++) {
            target_t *t = &w->targets[w->ntargets++];
            t->backend = i;
            t->lines = rt_piece(&w->rt, i, k, &t->nlines);
        }
        ip_count(ip_slot(w->cfg, i), lines_in, w->rt.nlines[i]);
        ip_count(ip_slot(w->cfg, i), bytes_in, w->rt.out[i].len);
    }
    if (w->ntargets == 0) {
        if (w->rt.invalid != 0)
            send_parse_errors(w, 0);
        else
            hu_send_empty(req, 204);
        goto Exit;
    }
    ip_thread_t *thr = ip_thread_of(req);
    w->pending = 1; /* until every target is on its way: an outcome that comes at once must not answer early */
    for (size_t i = 0, end; i < w->ntargets; i = end) {
        end = backend_end(w, i);
        if (ip_queue_nonempty(ip_slot(w->cfg, w->targets[i].backend))) {
            /* older writes wait in the queue: these go behind them, never around them */
            for (size_t j = i; j < end; j++) {
                char m[512];
                size_t ml = 0;
                if (queue_target(w, &w->targets[j], m, sizeof(m), &ml) != 0) {
                    w->responded = 1; /* the jobs already submitted are cancelled when the request goes */
                    hu_send_error(req, 503, m);
                    goto Exit;
                }
            }
            continue;
        }
        for (size_t j = i; j < end; j++) {
            w->pending++;
            submit(w, j, thr);
        }
    }
    if (--w->pending == 0)
        respond(w);
    else
        hu_keep_polled(req);
Exit:;
}

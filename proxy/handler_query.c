/*
 * handler_query — GET|POST /query (SPEC §7).
 *
 * DESIGN: q is split into statements and every statement classified (lib/influxql) before anything
 * is sent: one rejected statement rejects the request and nothing runs. If every statement can be
 * answered by one backend (single-measurement SELECT/SHOW … FROM and harmless SHOWs whose backend
 * sets intersect), the request is forwarded whole to the first eligible backend of the
 * intersection, failing over on connection errors, timeouts and 5xx, and its answer goes back as it
 * came (status, Content-Type, Content-Encoding, body). Otherwise the statements run one after the
 * other, each on its own backend(s) — cluster-wide SHOWs (no FROM, or a FROM whose measurements no single
 * backend holds) on every queryable backend, merged by lib/qmerge; CREATE DATABASE / RETENTION POLICY on
 * every backend, queued for those that are down — and the results are assembled in order with InfluxDB's
 * statement_ids.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "bpool.h"
#include "dqueue.h"
#include "backends.h"
#include "http_util.h"
#include "influxql.h"
#include "log.h"
#include "metrics.h"
#include "qmerge.h"
#include "queue.h"
#include "route.h"
#include "server.h"
#include "upstream.h"

#define MAX_STATEMENTS 64
#define MAX_OUT ((size_t)UP_DEFAULT_MAX_RESPONSE)
#define FORM_HDR "Content-Type: application/x-www-form-urlencoded"

typedef struct st_query_req_t query_req_t;

typedef struct st_qjob_t {
    query_req_t *q;
    size_t backend;
    up_job_t *job;
    int done;
    up_class_t klass;
    int status;
    char *body, *content_type, *content_encoding, *influx_error;
    size_t body_len;
    char message[UP_MESSAGE_SIZE];
} qjob_t;

struct st_query_req_t {
    h2o_req_t *req;
    ip_thread_t *thread;
    cfg_t *cfg;
    h2o_iovec_t form; /* the parameters: query string, or the POST form body */
    h2o_iovec_t q, db, rp, epoch, pretty, chunked, chunk_size, params;
    h2o_iovec_t accept, accept_encoding;
    size_t nstmts;
    iql_slice_t stmts[MAX_STATEMENTS];
    iql_stmt_t *cls;
    unsigned char *mask; /* nstmts x nbackends: who can answer each statement */
    /* execution */
    size_t cur; /* statement being executed (per-statement mode) */
    int whole;  /* forwarding the request whole */
    unsigned char *tried;
    qjob_t *jobs; /* one per backend */
    size_t pending;
    qm_buf_t *results; /* per statement: result object JSON */
    uint64_t started_ms;
    /* a whole-forwarded answer streams through: head first, then the body as it comes */
    h2o_generator_t gen;
    qjob_t *stream;     /* the backend answering, once its head went to the client */
    ubuf_t out_pending; /* arrived, not yet handed to h2o */
    ubuf_t out_sending; /* handed to h2o, which owns it until proceed */
    int sending, stream_done, stream_ok, started;
    int head_status; /* the backend's head, applied when the answer starts */
    h2o_iovec_t head_type, head_encoding, head_error;
};

/* ---- small helpers ---- */

static void qjob_reset(qjob_t *j)
{
    if (j->job != NULL)
        up_cancel(j->job);
    free(j->body);
    free(j->content_type);
    free(j->content_encoding);
    free(j->influx_error);
    memset(j, 0, sizeof(*j));
}

static void on_dispose(void *p)
{
    query_req_t *q = p;
    if (q->jobs != NULL)
        for (size_t i = 0; i < q->cfg->nbackends; i++)
            qjob_reset(&q->jobs[i]);
    if (q->results != NULL)
        for (size_t i = 0; i < q->nstmts; i++)
            free(q->results[i].ptr);
    ubuf_free(&q->out_pending);
    ubuf_free(&q->out_sending);
    free(q->cls); /* and the other arrays of plan_alloc() */
    if (q->cfg != NULL)
        cfg_release(q->cfg);
}

/* influxd takes chunked and pretty only when they are exactly "true". */
static int truthy(h2o_iovec_t v)
{
    return h2o_memis(v.base, v.len, H2O_STRLIT("true"));
}

/* influxd's rows per chunk for chunked=true: chunk_size when it is a positive integer, else 10000. */
static int64_t chunk_rows(const query_req_t *q)
{
    char buf[24], *end;
    long long n;

    if (q->chunk_size.len == 0 || q->chunk_size.len >= sizeof(buf))
        return 10000;
    memcpy(buf, q->chunk_size.base, q->chunk_size.len);
    buf[q->chunk_size.len] = '\0';
    errno = 0;
    n = strtoll(buf, &end, 10);
    return *end == '\0' && errno == 0 && n > 0 && !isspace((unsigned char)buf[0]) ? n : 10000;
}

static void form_add(ubuf_t *u, const char *name, h2o_iovec_t v, h2o_mem_pool_t *pool)
{
    hu_form_add(u, name, v.base, v.len, pool);
}

static h2o_iovec_t header_value(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    return i >= 0 ? req->headers.entries[i].value : h2o_iovec_init(NULL, 0);
}

/* Candidates for a statement in query order (bp_select): eligible members of @mask. */
static size_t select_backends(query_req_t *q, const unsigned char *mask, const unsigned char *tried, size_t *order)
{
    size_t n = q->cfg->nbackends, m = 0;
    bp_cand_t cands[n + 1];
    size_t idx[n + 1], ord[n + 1];
    for (size_t i = 0; i < n; i++) {
        if (!mask[i] || (tried != NULL && tried[i]))
            continue;
        const cfg_backend_t *b = &q->cfg->backends[i];
        size_t s = ip_slot(q->cfg, i);
        cands[m] = (bp_cand_t){b->zone, (unsigned char)__atomic_load_n(&ip_server.healthy[s], __ATOMIC_RELAXED),
                               (unsigned char)b->writeonly, (unsigned char)ip_queue_nonempty(s)};
        idx[m++] = i;
    }
    size_t k = bp_select(cands, m, q->cfg->node.zone, NULL, ord);
    for (size_t i = 0; i < k; i++)
        order[i] = idx[ord[i]];
    return k;
}

/* ---- upstream ---- */

static void on_qjob_done(up_job_t *job, void *cbdata);
static void on_stream_head(up_job_t *job, void *cbdata);
static void on_stream_chunk(up_job_t *job, void *cbdata, const char *data, size_t len);

static int cmp_span(const void *a, const void *b)
{
    const char *x = ((const iql_slice_t *)a)->ptr, *y = ((const iql_slice_t *)b)->ptr;
    return x < y ? -1 : x > y;
}

/* For a backend with a `db` override: @text with every database the statements name (SHOW … ON db,
 * FROM db.rp.m) replaced by the backend's own database, as its db parameter is. */
static h2o_iovec_t override_dbs(query_req_t *q, const cfg_backend_t *be, h2o_iovec_t text)
{
    iql_slice_t spans[MAX_STATEMENTS * (IQL_MAX_SOURCES + 1)];
    size_t n = 0;
    for (size_t i = 0; i < q->nstmts; i++) {
        const iql_stmt_t *st = &q->cls[i];
        if (st->cls == IQL_BROADCAST)
            continue;
        if (st->on_db.kind != IQL_ID_NONE)
            spans[n++] = st->on_db.tok;
        for (size_t k = 0; k < st->nsources; k++)
            if (st->sources[k].db.kind != IQL_ID_NONE)
                spans[n++] = st->sources[k].db.tok;
    }
    char quoted[1024];
    int ql = iql_quote_ident(be->db, strlen(be->db), quoted, sizeof(quoted));
    if (n == 0 || ql < 0)
        return text;
    qsort(spans, n, sizeof(spans[0]), cmp_span);
    char *out = h2o_mem_alloc_pool(&q->req->pool, text.len + n * (size_t)ql + 1);
    size_t len = 0;
    const char *p = text.base, *end = text.base + text.len;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].ptr < p || spans[i].ptr + spans[i].len > end)
            continue; /* another statement's */
        memcpy(out + len, p, (size_t)(spans[i].ptr - p));
        len += (size_t)(spans[i].ptr - p);
        memcpy(out + len, quoted, (size_t)ql);
        len += (size_t)ql;
        p = spans[i].ptr + spans[i].len;
    }
    memcpy(out + len, p, (size_t)(end - p));
    len += (size_t)(end - p);
    return h2o_iovec_init(out, len);
}

/* Sends @stmt to backend @b: the whole request (@whole, its answer passed through), or one statement whose result is
 * cut out of the answer; @chunk asks for that answer chunked as the client asked, so influxd splits it as it would. */
static int send_query(query_req_t *q, size_t b, h2o_iovec_t stmt, int whole, int chunk)
{
    const cfg_backend_t *be = &q->cfg->backends[b];
    h2o_mem_pool_t *pool = &q->req->pool;
    qjob_t *j = &q->jobs[b];
    ubuf_t url, form;
    char err[256];
    const char *hdrs[3];
    size_t nh = 0;
    char *ha = NULL, *he = NULL;

    qjob_reset(j);
    j->q = q;
    j->backend = b;
    if (*be->db != '\0')
        stmt = override_dbs(q, be, stmt);
    ubuf_init(&url, SIZE_MAX);
    ubuf_init(&form, SIZE_MAX);
    ubuf_append(&url, be->url, strlen(be->url));
    /* influxd reads some parameters (pretty) from the URL only: everything but q and params goes there */
    ubuf_append(&url, "/query?", 7);
    form_add(&url, "db", *be->db != '\0' && q->db.len != 0 ? h2o_iovec_init(be->db, strlen(be->db)) : q->db, pool);
    form_add(&url, "rp", q->rp, pool);
    form_add(&url, "epoch", q->epoch, pool);
    /* A query asked for with GET goes upstream with GET, its statement in the URL as the client put it: a CREATE
     * then gets influxd's "deprecated use … in a read only context" warning exactly as it would for the client,
     * and influxd spares the parsing of a form body (about 4 % of its CPU for a small SELECT). */
    int get = h2o_memis(q->req->method.base, q->req->method.len, H2O_STRLIT("GET"));
    form_add(get ? &url : &form, "q", stmt, pool);
    form_add(get ? &url : &form, "params", q->params, pool);
    if (!get)
        hdrs[nh++] = FORM_HDR;
    if (whole) {
        /* the answer goes back as it comes: the client's format, encoding and chunking */
        form_add(&url, "pretty", q->pretty, pool);
        form_add(&url, "chunked", q->chunked, pool);
        form_add(&url, "chunk_size", q->chunk_size, pool);
        if (q->accept.len != 0) {
            ha = h2o_mem_alloc_pool(pool, q->accept.len + 9);
            snprintf(ha, q->accept.len + 9, "Accept: %.*s", (int)q->accept.len, q->accept.base);
            hdrs[nh++] = ha;
        }
        if (q->accept_encoding.len != 0) {
            he = h2o_mem_alloc_pool(pool, q->accept_encoding.len + 18);
            snprintf(he, q->accept_encoding.len + 18, "Accept-Encoding: %.*s", (int)q->accept_encoding.len,
                     q->accept_encoding.base);
            hdrs[nh++] = he;
        }
    } else if (chunk && truthy(q->chunked)) {
        form_add(&url, "chunked", q->chunked, pool);
        form_add(&url, "chunk_size", q->chunk_size, pool);
    }
    up_req_t r = ip_backend_req(be, get ? UP_GET : UP_POST, url.base, be->timeoutquery, q->thread, on_qjob_done, j);
    r.headers = hdrs;
    r.num_headers = nh;
    r.body = get ? NULL : form.base;
    r.body_len = get ? 0 : form.len;
    r.max_response = UP_DEFAULT_MAX_RESPONSE;
    /* a query is one small exchange, latency-bound: curl's per-transfer work would cost more than the exchange */
    r.use_h1 = true;
    r.head_before_body = true; /* influxd flushes the head of a /query answer before it runs the query */
    if (whole) {
        /* passed through as it comes: no size cap, the stream window bounds the memory */
        r.on_head = on_stream_head;
        r.on_chunk = on_stream_chunk;
        r.max_response = 0;
    }
    ubuf_append(&url, "", 1);
    r.url = url.base;
    j->job = up_job_new(&r, err, sizeof(err));
    ubuf_free(&url);
    ubuf_free(&form);
    if (j->job == NULL) {
        ip_log(IP_LOG_ERROR, "query to %s: %s", be->name, err);
        return -1;
    }
    q->pending++;
    up_submit(q->thread->up, j->job);
    hu_keep_polled(q->req);
    return 0;
}

/* ---- answers ---- */

static void send_backend_answer(query_req_t *q, qjob_t *j)
{
    h2o_req_t *req = q->req;
    req->res.status = j->status;
    req->res.reason = hu_reason(j->status);
    hu_add_influx_headers(req);
    if (j->content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, j->content_type,
                       strlen(j->content_type));
    if (j->content_encoding != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL, j->content_encoding,
                       strlen(j->content_encoding));
    if (j->influx_error != NULL)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-influxdb-error"), 0, "X-Influxdb-Error",
                              j->influx_error, strlen(j->influx_error));
    req->res.content_length = j->body_len;
    h2o_send_inline(req, j->body != NULL ? j->body : "", j->body_len);
}

/* A statement's measurements for messages: the first source as written. */
static void stmt_target(const iql_stmt_t *st, char *buf, size_t cap)
{
    if (st->nsources == 0 || iql_ident_copy(&st->sources[0].name, buf, cap) < 0)
        snprintf(buf, cap, "%.*s", (int)(st->text.len < 100 ? st->text.len : 100), st->text.ptr);
}

static void send_no_backend(query_req_t *q, size_t s, const char *last_error)
{
    char m[1024], name[256];
    stmt_target(&q->cls[s], name, sizeof(name));
    snprintf(m, sizeof(m), "no healthy backend for measurement %s%s%s", name, last_error ? ": " : "",
             last_error ? last_error : "");
    hu_send_error(q->req, 503, m);
}

static void trace(query_req_t *q, int status)
{
    if (!q->cfg->node.querytracing)
        return;
    ip_log(IP_LOG_INFO, "query db=%.*s q=%.*s status=%d in %llu ms", (int)q->db.len, q->db.base,
           (int)(q->q.len < 500 ? q->q.len : 500), q->q.base, status,
           (unsigned long long)(ip_now_ms() - q->started_ms));
}

/* ---- whole-request forwarding ---- */

static void forward_next(query_req_t *q, const char *last_error)
{
    size_t order[q->cfg->nbackends + 1];
    size_t n = select_backends(q, q->mask, q->tried, order);
    for (size_t i = 0; i < n; i++) {
        q->tried[order[i]] = 1;
        if (send_query(q, order[i], q->q, 1, 0) == 0)
            return;
    }
    send_no_backend(q, 0, last_error);
    trace(q, 503);
}

static int failover_worthy(const qjob_t *j)
{
    return j->klass == UP_UNREACHABLE || (j->klass == UP_REFUSED && j->status >= 500) || j->klass == UP_TOO_LARGE;
}

/* ---- streaming a whole-forwarded answer ---- */

/* Hands what arrived to h2o (one send at a time: h2o owns the buffer until proceed). */
static void on_stream_proceed(h2o_generator_t *gen, h2o_req_t *req);

/* Small answers (most) are held until complete and sent in one piece with a Content-Length; an answer
 * that grows past this starts streaming. */
#define STREAM_START (256 * 1024)

static void stream_start(query_req_t *q)
{
    h2o_req_t *req = q->req;
    q->started = 1;
    req->res.status = q->head_status;
    req->res.reason = hu_reason(q->head_status);
    hu_add_influx_headers(req);
    if (q->head_type.base != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, q->head_type.base,
                       q->head_type.len);
    if (q->head_encoding.base != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL, q->head_encoding.base,
                       q->head_encoding.len);
    if (q->head_error.base != NULL)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-influxdb-error"), 0, "X-Influxdb-Error",
                              q->head_error.base, q->head_error.len);
    if (q->stream_done)
        req->res.content_length = q->out_pending.len; /* all of it is here: no chunked encoding */
    q->gen.proceed = on_stream_proceed;
    q->gen.stop = NULL;
    h2o_start_response(req, &q->gen);
}

static void stream_flush(query_req_t *q)
{
    if (!q->started) {
        if (!q->stream_done && q->out_pending.len < STREAM_START)
            return;
        stream_start(q);
    }
    if (q->sending || (q->out_pending.len == 0 && !q->stream_done))
        return;
    ubuf_t t = q->out_sending;
    q->out_sending = q->out_pending;
    q->out_pending = t;
    q->out_pending.len = 0;
    h2o_iovec_t v = h2o_iovec_init(q->out_sending.base, q->out_sending.len);
    h2o_send_state_t state = !q->stream_done ? H2O_SEND_STATE_IN_PROGRESS
                             : q->stream_ok  ? H2O_SEND_STATE_FINAL
                                             : H2O_SEND_STATE_ERROR;
    q->sending = 1;
    h2o_send(q->req, &v, v.len != 0 ? 1 : 0, state);
}

static void on_stream_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    query_req_t *q = H2O_STRUCT_FROM_MEMBER(query_req_t, gen, gen);
    (void)req;
    q->sending = 0;
    if (q->stream != NULL && q->stream->job != NULL && q->out_sending.len != 0)
        up_stream_ack(q->stream->job, q->out_sending.len); /* the client took them: let more come */
    q->out_sending.len = 0;
    stream_flush(q);
}

static void on_stream_head(up_job_t *job, void *cbdata)
{
    qjob_t *j = cbdata;
    query_req_t *q = j->q;
    h2o_req_t *req = q->req;

    if (job->res.status >= 500) {
        /* nothing went to the client yet: try the next backend */
        char m[UP_MESSAGE_SIZE];
        snprintf(m, sizeof(m), "HTTP %d%s%s", job->res.status, job->res.influx_error ? ": " : "",
                 job->res.influx_error ? job->res.influx_error : "");
        up_cancel(job);
        j->job = NULL;
        q->pending--;
        ip_count(ip_slot(q->cfg, j->backend), queries_failed, 1);
        ip_log(IP_LOG_WARN, "query to backend %s failed: %s", q->cfg->backends[j->backend].name, m);
        forward_next(q, m);
        return;
    }
    q->head_status = job->res.status;
    if (job->res.content_type != NULL)
        q->head_type = h2o_strdup(&req->pool, job->res.content_type, SIZE_MAX);
    if (job->res.content_encoding != NULL)
        q->head_encoding = h2o_strdup(&req->pool, job->res.content_encoding, SIZE_MAX);
    if (job->res.influx_error != NULL)
        q->head_error = h2o_strdup(&req->pool, job->res.influx_error, SIZE_MAX);
    q->stream = j;
}

static void on_stream_chunk(up_job_t *job, void *cbdata, const char *data, size_t len)
{
    qjob_t *j = cbdata;
    query_req_t *q = j->q;
    (void)job;
    ubuf_append(&q->out_pending, data, len);
    stream_flush(q);
}

/* The streamed answer is complete (or broke off after its head went out). */
static void stream_end(query_req_t *q, qjob_t *j)
{
    if (!q->started && failover_worthy(j)) {
        /* it broke off before anything went to the client: another backend can still answer */
        q->stream = NULL;
        q->out_pending.len = 0;
        forward_next(q, j->message);
        return;
    }
    q->stream_done = 1;
    q->stream_ok = j->klass == UP_OK || j->klass == UP_REFUSED;
    if (!q->stream_ok)
        ip_log(IP_LOG_WARN, "query answer from backend %s broke off: %s", q->cfg->backends[j->backend].name,
               j->message);
    trace(q, j->status);
    stream_flush(q);
}

/* ---- per-statement execution ---- */

static void run_statement(query_req_t *q);

/* Sends the results gathered so far (q->cur of them). Asked for chunked=true, each result object is its own
 * {"results":[…]} line, as influxd sends them (a merged SHOW may hold several, one per line). */
static void finish_all(query_req_t *q)
{
    ubuf_t body;
    char err[256];
    int chunked = truthy(q->chunked);

    ubuf_init(&body, SIZE_MAX);
    for (size_t i = 0; i < q->cur; i += chunked ? 1 : q->cur) {
        const char *p = q->results[i].ptr, *end = p + q->results[i].len;
        do {
            const char *nl = chunked ? memchr(p, '\n', (size_t)(end - p)) : NULL;
            qm_buf_t one = {(char *)p, (size_t)((nl != NULL ? nl : end) - p)}, out = {NULL, 0};
            if (qm_assemble(chunked ? &one : q->results, chunked ? 1 : q->cur, truthy(q->pretty), MAX_OUT, &out, err,
                            sizeof(err)) != 0) {
                ubuf_free(&body);
                hu_send_error(q->req, 500, err);
                trace(q, 500);
                return;
            }
            ubuf_append(&body, out.ptr, out.len);
            free(out.ptr);
            p = nl != NULL ? nl + 1 : end;
        } while (p < end);
    }
    hu_send_json(q->req, 200, body.base != NULL ? body.base : "", body.len);
    ubuf_free(&body);
    trace(q, 200);
}

/* Whether a result object is an error: {"statement_id":N,"error":…} */
static int is_error_result(const qm_buf_t *r)
{
    const char *comma = r->ptr != NULL ? memchr(r->ptr, ',', r->len) : NULL;
    return comma != NULL && (size_t)(r->ptr + r->len - comma) > 8 && memcmp(comma, ",\"error\"", 8) == 0;
}

/* As influxd: a statement that fails ends the request; the ones after it are not run. */
static void statement_done(query_req_t *q, qm_buf_t result)
{
    q->results[q->cur++] = result;
    if (q->cur == q->nstmts || is_error_result(&result))
        finish_all(q);
    else
        run_statement(q);
}

static qm_buf_t error_result(size_t id, const char *msg)
{
    qm_buf_t out = {NULL, 0};
    if (qm_error_result((int)id, msg != NULL ? msg : "", MAX_OUT, &out) != 0)
        abort();
    return out;
}

/* The single answer of a routed statement arrived (or failed over). */
/* The result of a routed statement, renumbered; asked for chunked=true, that of every line influxd split it into,
 * one per line (as a merged SHOW's). */
static int extract_routed(query_req_t *q, const qjob_t *j, qm_buf_t *res, char *err, size_t errcap)
{
    const char *p = j->body, *end = p + j->body_len;
    ubuf_t all;

    if (!truthy(q->chunked))
        return qm_extract(j->body, j->body_len, 0, (int)q->cur, MAX_OUT, res, err, errcap);
    ubuf_init(&all, MAX_OUT);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl != NULL ? nl : end;
        const char *line = p;
        qm_buf_t one;
        p = nl != NULL ? nl + 1 : end;
        if (le == line)
            continue;
        int ret = qm_extract(line, (size_t)(le - line), 0, (int)q->cur, MAX_OUT, &one, err, errcap);
        if (ret == QM_OK &&
            ((all.len != 0 && ubuf_append(&all, "\n", 1) != 0) || ubuf_append(&all, one.ptr, one.len) != 0)) {
            snprintf(err, errcap, "%s", qm_strerror(QM_ETOOBIG));
            ret = QM_ETOOBIG;
        }
        free(one.ptr);
        if (ret != QM_OK) {
            ubuf_free(&all);
            return ret;
        }
    }
    if (all.len == 0) { /* not a line in it: whatever it is, qm_extract says so */
        ubuf_free(&all);
        return qm_extract(j->body, j->body_len, 0, (int)q->cur, MAX_OUT, res, err, errcap);
    }
    if (ubuf_append(&all, "", 1) != 0) { /* the NUL a result carries */
        ubuf_free(&all);
        snprintf(err, errcap, "%s", qm_strerror(QM_ETOOBIG));
        return QM_ETOOBIG;
    }
    res->ptr = all.base;
    res->len = all.len - 1;
    return QM_OK;
}

static void routed_done(query_req_t *q, qjob_t *j)
{
    qm_buf_t res = {NULL, 0};
    char err[256];
    if (extract_routed(q, j, &res, err, sizeof(err)) != 0) {
        if (j->klass != UP_OK) {
            res = error_result(q->cur, j->influx_error != NULL ? j->influx_error : j->message);
        } else {
            hu_send_error(q->req, 502, err);
            return;
        }
    }
    statement_done(q, res);
}

static void route_next(query_req_t *q, const char *last_error)
{
    size_t nb = q->cfg->nbackends;
    size_t order[nb + 1];
    size_t n = select_backends(q, q->mask + q->cur * nb, q->tried, order);
    const iql_stmt_t *st = &q->cls[q->cur];
    for (size_t i = 0; i < n; i++) {
        q->tried[order[i]] = 1;
        if (send_query(q, order[i], h2o_iovec_init(st->text.ptr, st->text.len), 0, 1) == 0)
            return;
    }
    send_no_backend(q, q->cur, last_error);
    trace(q, 503);
}

static void fanout_done(query_req_t *q)
{
    size_t nb = q->cfg->nbackends, n = 0;
    qm_body_t bodies[nb + 1];
    qm_buf_t res = {NULL, 0};
    char err[512];
    const iql_stmt_t *st = &q->cls[q->cur];
    for (size_t i = 0; i < nb; i++) {
        qjob_t *j = &q->jobs[i];
        if (!q->tried[i])
            continue;
        int answered = j->klass == UP_OK || (j->klass == UP_REFUSED && j->status < 500);
        bodies[n++] = (qm_body_t){q->cfg->backends[i].name, answered ? j->body : NULL, answered ? j->body_len : 0,
                                  answered ? NULL : j->message};
    }
    qm_paging_t paging = {st->limit, st->offset, st->slimit, st->soffset, truthy(q->chunked) ? chunk_rows(q) : 0};
    int ret = qm_merge_show(st->kind, bodies, n, &paging, (int)q->cur, MAX_OUT, &res, err, sizeof(err));
    if (ret != 0) {
        hu_send_error(q->req, 502, err);
        trace(q, 502);
        return;
    }
    statement_done(q, res);
}

static void fanout_start(query_req_t *q)
{
    size_t nb = q->cfg->nbackends;
    size_t order[nb + 1];
    unsigned char all[nb + 1];
    const iql_stmt_t *st = &q->cls[q->cur];
    memset(all, 1, nb);
    size_t n = select_backends(q, all, NULL, order);
    for (size_t i = 0; i < n; i++) {
        q->tried[order[i]] = 1;
        send_query(q, order[i], h2o_iovec_init(st->bare.ptr, st->bare.len), 0, 0);
    }
    if (q->pending == 0) {
        char m[128];
        snprintf(m, sizeof(m), "no healthy backend to answer %.*s", (int)(st->text.len < 60 ? st->text.len : 60),
                 st->text.ptr);
        statement_done(q, error_result(q->cur, m));
    }
}

/* The statement with the backend's own database name spliced over the statement's. */
static h2o_iovec_t broadcast_text(query_req_t *q, size_t b)
{
    const iql_stmt_t *st = &q->cls[q->cur];
    const cfg_backend_t *be = &q->cfg->backends[b];
    if (*be->db == '\0' || st->db.kind == IQL_ID_NONE)
        return h2o_iovec_init(st->text.ptr, st->text.len);
    char quoted[1024];
    int ql = iql_quote_ident(be->db, strlen(be->db), quoted, sizeof(quoted));
    size_t pre = (size_t)(st->db.tok.ptr - st->text.ptr), post = st->text.len - pre - st->db.tok.len;
    char *t = h2o_mem_alloc_pool(&q->req->pool, pre + (size_t)ql + post);
    memcpy(t, st->text.ptr, pre);
    memcpy(t + pre, quoted, (size_t)ql);
    memcpy(t + pre + ql, st->db.tok.ptr + st->db.tok.len, post);
    return h2o_iovec_init(t, pre + (size_t)ql + post);
}

static void broadcast_start(query_req_t *q)
{
    for (size_t i = 0; i < q->cfg->nbackends; i++) {
        q->tried[i] = 1;
        if (ip_queue_nonempty(ip_slot(q->cfg, i)) ||
            !__atomic_load_n(&ip_server.healthy[ip_slot(q->cfg, i)], __ATOMIC_RELAXED) ||
            send_query(q, i, broadcast_text(q, i), 0, 0) != 0) {
            /* down or behind on its queue: it gets the statement before its later writes */
            q->jobs[i].done = 1;
            q->jobs[i].klass = UP_UNREACHABLE;
            snprintf(q->jobs[i].message, sizeof(q->jobs[i].message), "queued");
        }
    }
    if (q->pending == 0) {
        /* fall through to broadcast_done via the common path */
    }
}

static void broadcast_done(query_req_t *q)
{
    size_t nb = q->cfg->nbackends;
    qjob_t *first_ok = NULL, *first_refused = NULL;
    for (size_t i = 0; i < nb; i++) {
        qjob_t *j = &q->jobs[i];
        if (j->klass == UP_OK && first_ok == NULL)
            first_ok = j;
        if (j->klass == UP_REFUSED && j->status < 500 && first_refused == NULL)
            first_refused = j;
    }
    if (first_ok == NULL && first_refused != NULL) {
        routed_done(q, first_refused);
        return;
    }
    for (size_t i = 0; i < nb; i++) {
        qjob_t *j = &q->jobs[i];
        if (j->klass == UP_OK)
            continue;
        h2o_iovec_t text = broadcast_text(q, i);
        const cfg_backend_t *be = &q->cfg->backends[i];
        h2o_iovec_t db = *be->db != '\0' ? h2o_iovec_init(be->db, strlen(be->db)) : q->db;
        int ret = ip_queue_append_stmt(ip_slot(q->cfg, i), db.base, db.len, text.base, text.len);
        if (ret != 0) {
            char m[300];
            snprintf(m, sizeof(m), "backend %s: could not run or queue the statement: %s", be->name,
                     ip_queue_strerror(ret));
            statement_done(q, error_result(q->cur, m));
            return;
        }
        ip_log(IP_LOG_INFO, "backend %s: statement queued: %.*s", be->name, (int)text.len, text.base);
    }
    if (first_ok != NULL)
        routed_done(q, first_ok);
    else
        statement_done(q, error_result(q->cur, NULL));
}

static void run_statement(query_req_t *q)
{
    const iql_stmt_t *st = &q->cls[q->cur];
    memset(q->tried, 0, q->cfg->nbackends);
    for (size_t i = 0; i < q->cfg->nbackends; i++)
        qjob_reset(&q->jobs[i]);
    q->pending = 0;
    switch (st->cls) {
    case IQL_FANOUT:
        fanout_start(q);
        return;
    case IQL_BROADCAST:
        broadcast_start(q);
        if (q->pending == 0)
            broadcast_done(q);
        return;
    default:
        route_next(q, NULL);
        return;
    }
}

static void on_qjob_done(up_job_t *job, void *cbdata)
{
    qjob_t *j = cbdata;
    query_req_t *q = j->q;
    j->job = NULL;
    j->done = 1;
    j->klass = job->res.klass;
    j->status = job->res.status;
    memcpy(j->message, job->res.message, sizeof(j->message));
    j->body = up_job_take_body(job, &j->body_len);
    j->content_type = job->res.content_type != NULL ? strdup(job->res.content_type) : NULL;
    j->content_encoding = job->res.content_encoding != NULL ? strdup(job->res.content_encoding) : NULL;
    j->influx_error = job->res.influx_error != NULL ? strdup(job->res.influx_error) : NULL;
    q->pending--;
    if (j->klass == UP_OK || j->klass == UP_REFUSED)
        ip_metrics_query_latency(ip_slot(q->cfg, j->backend), job->res.total_us);
    if (failover_worthy(j))
        ip_count(ip_slot(q->cfg, j->backend), queries_failed, 1);
    else
        ip_count(ip_slot(q->cfg, j->backend), queries_ok, 1);
    if (failover_worthy(j))
        ip_log(IP_LOG_WARN, "query to backend %s failed: %s", q->cfg->backends[j->backend].name, j->message);

    if (q->whole) {
        if (q->stream == j) {
            stream_end(q, j);
            return;
        }
        if (failover_worthy(j)) {
            forward_next(q, j->message);
            return;
        }
        send_backend_answer(q, j);
        trace(q, j->status);
        return;
    }
    if (q->pending != 0)
        return;
    switch (q->cls[q->cur].cls) {
    case IQL_FANOUT:
        fanout_done(q);
        return;
    case IQL_BROADCAST:
        broadcast_done(q);
        return;
    default:
        if (failover_worthy(j))
            route_next(q, j->message);
        else
            routed_done(q, j);
        return;
    }
}

/* ---- request ---- */

static int read_params(query_req_t *q)
{
    h2o_req_t *req = q->req;
    h2o_mem_pool_t *pool = &req->pool;
    h2o_iovec_t qs = hu_query_string(req);
    h2o_iovec_t ct = header_value(req, H2O_TOKEN_CONTENT_TYPE);
    int form = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) && ct.len >= 33 &&
               h2o_lcstris(ct.base, 33, H2O_STRLIT("application/x-www-form-urlencoded"));
    static const char *const names[] = {"q", "db", "rp", "epoch", "pretty", "chunked", "chunk_size", "params"};
    h2o_iovec_t *const slots[] = {&q->q,      &q->db,      &q->rp,         &q->epoch,
                                  &q->pretty, &q->chunked, &q->chunk_size, &q->params};
    unsigned char found[sizeof(names) / sizeof(names[0])] = {0};
    /* a form body wins over the query string, as in Go's Request.FormValue */
    if (form)
        hu_params(pool, req->entity, names, sizeof(names) / sizeof(names[0]), slots, found);
    hu_params(pool, qs, names, sizeof(names) / sizeof(names[0]), slots, found);
    q->accept = header_value(req, H2O_TOKEN_ACCEPT);
    q->accept_encoding = header_value(req, H2O_TOKEN_ACCEPT_ENCODING);
    iql_slice_t trimmed = iql_trim_space(q->q.base, q->q.len); /* as influxd reads it */
    q->q = h2o_iovec_init(trimmed.ptr, trimmed.len);
    if (q->q.len == 0) {
        hu_send_error(req, 400, "missing required parameter \"q\"");
        return -1;
    }
    const char *ndb = q->cfg->node.db;
    if (*ndb != '\0' && q->db.len != 0 && !h2o_memis(q->db.base, q->db.len, ndb, strlen(ndb))) {
        char m[300];
        snprintf(m, sizeof(m), "database not found: \"%.*s\"", (int)q->db.len, q->db.base);
        hu_send_error(req, 404, m);
        return -1;
    }
    return 0;
}

static size_t align_up(size_t n)
{
    size_t a = _Alignof(max_align_t);
    return (n + a - 1) / a * a;
}

/* The per-statement and per-backend arrays of a request, zeroed, in one allocation that q->cls owns. */
static void plan_alloc(query_req_t *q)
{
    size_t ns = q->nstmts, nb = q->cfg->nbackends;
    size_t at_jobs = align_up(ns * sizeof(*q->cls));
    size_t at_results = at_jobs + align_up((nb + 1) * sizeof(*q->jobs));
    size_t at_mask = at_results + align_up((ns + 1) * sizeof(*q->results));
    size_t at_tried = at_mask + ns * nb + 1;
    char *p = calloc(1, at_tried + nb + 1);
    if (p == NULL)
        abort();
    q->cls = (iql_stmt_t *)p;
    q->jobs = (qjob_t *)(p + at_jobs);
    q->results = (qm_buf_t *)(p + at_results);
    q->mask = (unsigned char *)p + at_mask;
    q->tried = (unsigned char *)p + at_tried;
}

/* Splits and classifies every statement; a rejected one answers the request. */
static int classify(query_req_t *q)
{
    char err[1024];
    size_t nb = q->cfg->nbackends;
    int n = iql_split(q->q.base, q->q.len, q->stmts, MAX_STATEMENTS, err, sizeof(err));
    if (n < 0) {
        hu_send_error(q->req, 400, err);
        return -1;
    }
    if (n == 0) { /* only comments and semicolons: influxd runs nothing and says so */
        hu_send_json(q->req, 200, "{}\n", truthy(q->chunked) ? 0 : 3);
        return -1;
    }
    q->nstmts = (size_t)n;
    plan_alloc(q);
    for (size_t i = 0; i < q->nstmts; i++) {
        iql_stmt_t *st = &q->cls[i];
        if (iql_classify(__atomic_load_n(&ip_server.iql, __ATOMIC_ACQUIRE), q->stmts[i].ptr, q->stmts[i].len, st, err,
                         sizeof(err)) != 0) {
            /* no statement starts so: influxd's own words for it, if it would say it at the first token */
            if (st->err == IQL_EPARSE && st->kind == IQL_K_UNKNOWN)
                iql_first_token_error(q->q.base, q->q.len, (size_t)(q->stmts[i].ptr - q->q.base), err, sizeof(err));
            hu_send_error(q->req, 400, err);
            return -1;
        }
        unsigned char *m = q->mask + i * nb;
        if (st->cls == IQL_ROUTE) {
            int c = rt_query_backends(q->cfg, st, m, err, sizeof(err));
            if (c == 0 && iql_show_mergeable(st)) {
                /* a SHOW whose measurements no single backend holds: every backend's answer, merged, as without FROM */
                st->cls = IQL_FANOUT;
                memset(m, 1, nb);
                continue;
            }
            if (c <= 0) {
                hu_send_error(q->req, 400, err);
                return -1;
            }
        } else {
            memset(m, 1, nb);
        }
    }
    return 0;
}

/* Whether one backend can answer everything: then the request is forwarded whole. */
static int plan_whole(query_req_t *q)
{
    size_t nb = q->cfg->nbackends;
    unsigned char *all = q->mask + 0; /* statement 0's row becomes the intersection */
    for (size_t i = 0; i < q->nstmts; i++)
        if (q->cls[i].cls != IQL_ROUTE && q->cls[i].cls != IQL_FORWARD_ANY)
            return 0;
    unsigned char inter[nb + 1];
    memcpy(inter, all, nb);
    for (size_t i = 1; i < q->nstmts; i++)
        for (size_t b = 0; b < nb; b++)
            inter[b] &= q->mask[i * nb + b];
    size_t any = 0;
    for (size_t b = 0; b < nb; b++)
        any += inter[b];
    if (any == 0)
        return 0;
    memcpy(all, inter, nb);
    return 1;
}

void ip_handle_query(h2o_req_t *req)
{
    query_req_t *q;

    if (hu_preflight(req))
        return;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        hu_send_error(req, 405, "method not allowed (use GET or POST)");
        return;
    }
    q = h2o_mem_alloc_shared(&req->pool, sizeof(*q), on_dispose);
    memset(q, 0, sizeof(*q));
    q->req = req;
    q->thread = ip_thread_of(req);
    q->cfg = ip_cfg_get();
    q->started_ms = ip_now_ms();
    ubuf_init(&q->out_pending, SIZE_MAX);
    ubuf_init(&q->out_sending, SIZE_MAX);
    if (read_params(q) != 0 || classify(q) != 0)
        return;
    if (plan_whole(q)) {
        q->whole = 1;
        forward_next(q, NULL);
        return;
    }
    run_statement(q);
}

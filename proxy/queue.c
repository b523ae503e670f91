/*
 * queue — the per-backend disk queues at run time: opening them, appending failed or held-back
 * writes, syncing them in the background, and replaying them in order (SPEC §6).
 *
 * DESIGN: one lib/dqueue per backend under <datadir>/<backend>. Any loop thread may append (the
 * queue has its own lock). Replay runs on loop 0, driven by the health tick: a backend that is
 * healthy and has records, with no replay in flight and its retry time reached, gets its next batch.
 * A batch is read with dq_peek, consecutive WRITE records with the same (db, rp, precision) are
 * concatenated into upstream writes of at most the backend's maxrowlimit lines, and the batch is acknowledged (dq_ack)
 * only after the backend stored all of it: a crash in between replays it again (at least once; InfluxDB overwrites an
 * identical point with itself). When a write of the batch fails, the records of the writes before it, which the backend
 * stored, are acknowledged at once, so that they are not sent again. A write refused with a 4xx is narrowed down to its
 * single records (sent one at a time), and a single refused record is moved to the `rejected` file. Anything else (5xx,
 * unreachable) waits `rewriteinterval` and tries again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dqueue.h"
#include "http_util.h"
#include "log.h"
#include "backends.h"
#include "queue.h"
#include "server.h"
#include "upstream.h"
#include "util.h"

#define REPLAY_MAX_RECORDS 1000
#define REPLAY_MAX_BYTES (4u << 20)

typedef struct st_replay_t {
    dq_batch_t batch;
    int have_batch;
    size_t next_rec;  /* first record of the batch not yet stored */
    size_t group_end; /* end of the group in flight */
    up_job_t *job;
    uint64_t next_attempt_ms;
    size_t isolate; /* records still to send one at a time, to find which of a refused write's the backend refuses */
    int failing;    /* a "replay failing" line was logged; say when it recovers */
    uint64_t replayed_records;
} replay_t;

static struct {
    dq_t *q[IP_MAX_BACKENDS];     /* by backend slot (backends.h); NULL until the slot is opened */
    replay_t rp[IP_MAX_BACKENDS]; /* loop 0 only */
    long idx[IP_MAX_BACKENDS];    /* slot -> index in cfg, -1 when the backend left the config (loop 0) */
    cfg_t *cfg;                   /* loop 0's reference: backend URLs, timeouts, credentials for replay */
    char datadir[4096];
    dq_options_t opt;
    pthread_t syncer;
    int syncer_running;
    volatile int stop;
} Q;

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void *sync_main(void *arg)
{
    (void)arg;
    while (!Q.stop) {
        for (int i = 0; i < 10 && !Q.stop; i++)
            usleep(100000);
        size_t n = ip_backends_count();
        for (size_t s = 0; s < n; s++)
            if (Q.q[s] != NULL && dq_sync(Q.q[s]) != 0)
                ip_log(IP_LOG_ERROR, "queue %s: fsync failed: %s", ip_backend_name(s), strerror(errno));
    }
    return NULL;
}

int ip_queues_init(const cfg_t *cfg, char *err, size_t errcap)
{
    Q.opt = (dq_options_t){.max_bytes = cfg->node.queuemaxmb << 20,
                           .fsync = cfg->node.fsync == CFG_FSYNC_ALWAYS ? DQ_FSYNC_ALWAYS
                                    : cfg->node.fsync == CFG_FSYNC_NO   ? DQ_FSYNC_NO
                                                                        : DQ_FSYNC_EVERYSEC};
    snprintf(Q.datadir, sizeof(Q.datadir), "%s", cfg->node.datadir);
    if (mkdir_p(Q.datadir) != 0) {
        snprintf(err, errcap, "datadir %s: %s", Q.datadir, strerror(errno));
        return -1;
    }
    for (size_t s = 0; s < IP_MAX_BACKENDS; s++)
        Q.idx[s] = -1;
    if (Q.opt.fsync == DQ_FSYNC_EVERYSEC) {
        pthread_create(&Q.syncer, NULL, sync_main, NULL);
        Q.syncer_running = 1;
    }
    return 0;
}

int ip_queue_open_slot(size_t s, const char *name, char *err, size_t errcap)
{
    char dir[4096 + 256], msg[1024] = "";
    snprintf(dir, sizeof(dir), "%s/%s", Q.datadir, name);
    int ret = dq_open(&Q.q[s], dir, &Q.opt, msg, sizeof(msg));
    if (ret != 0) {
        snprintf(err, errcap, "queue %s: %s%s%s", dir, dq_strerror(ret), msg[0] ? ": " : "", msg);
        return -1;
    }
    if (msg[0] != '\0')
        ip_log(IP_LOG_WARN, "queue %s: %s", name, msg);
    uint64_t pending = dq_pending(Q.q[s]);
    if (pending != 0)
        ip_log(IP_LOG_INFO, "queue %s: %llu records to replay", name, (unsigned long long)pending);
    return 0;
}

void ip_queues_close(void)
{
    Q.stop = 1;
    if (Q.syncer_running)
        pthread_join(Q.syncer, NULL);
    size_t n = ip_backends_count();
    for (size_t s = 0; s < n; s++) {
        replay_t *r = &Q.rp[s];
        if (r->job != NULL)
            up_cancel(r->job);
        if (r->have_batch)
            dq_batch_dispose(&r->batch);
        if (Q.q[s] != NULL)
            dq_close(Q.q[s]);
        Q.q[s] = NULL;
    }
    if (Q.cfg != NULL)
        cfg_release(Q.cfg);
    Q.cfg = NULL;
}

void ip_queues_set_cfg(cfg_t *cfg)
{
    cfg_t *old = Q.cfg;
    Q.cfg = cfg_retain(cfg);
    for (size_t s = 0; s < IP_MAX_BACKENDS; s++)
        Q.idx[s] = -1;
    for (size_t i = 0; i < cfg->nbackends; i++)
        Q.idx[ip_slot(cfg, i)] = (long)i;
    if (old != NULL)
        cfg_release(old);
}

int ip_queue_nonempty(size_t b)
{
    return dq_pending(Q.q[b]) != 0;
}

const char *ip_queue_strerror(int ret)
{
    return ret == DQ_EIO ? strerror(errno) : dq_strerror(ret);
}

int ip_queue_append(size_t b, const char *db, size_t dblen, const char *rp, size_t rplen, const char *precision,
                    const char *body, size_t len)
{
    dq_record_t rec = {.type = DQ_REC_WRITE,
                       .db = {db, dblen},
                       .rp = {rp, rplen},
                       .precision = {precision, strlen(precision)},
                       .body = {body, len}};
    return dq_append(Q.q[b], &rec, ip_now_ms());
}

int ip_queue_append_stmt(size_t b, const char *db, size_t dblen, const char *stmt, size_t len)
{
    dq_record_t rec = {.type = DQ_REC_STMT, .db = {db, dblen}, .body = {stmt, len}};
    return dq_append(Q.q[b], &rec, ip_now_ms());
}

void ip_queue_meta(size_t b, meta_queue_t *out, uint64_t now_ms)
{
    dq_stats_t st;
    dq_stats(Q.q[b], &st);
    out->bytes = st.bytes;
    out->records = st.records;
    out->oldest_age_s = st.oldest_ts != 0 && now_ms > st.oldest_ts ? (now_ms - st.oldest_ts) / 1000 : 0;
    out->rejected = st.rejected;
    out->replaying = st.records != 0;
}

void ip_replay_kick(size_t b)
{
    Q.rp[b].next_attempt_ms = 0;
}

/* ---- replay (loop 0) ---- */

static void replay_next_group(size_t b, ip_thread_t *t);

static void batch_done(size_t b)
{
    replay_t *r = &Q.rp[b];
    dq_batch_dispose(&r->batch);
    r->have_batch = 0;
    r->next_rec = 0;
}

/* The configuration of the backend in slot @s, or NULL when it is not in the configuration (any more). */
static const cfg_backend_t *backend_of(size_t s)
{
    return Q.cfg != NULL && Q.idx[s] >= 0 ? &Q.cfg->backends[Q.idx[s]] : NULL;
}

/* Consumes the first @n records of the queue: acknowledged (stored), or moved to the rejected file with @reject. They
 * are those the batch in hand begins with, or read again when there is none. Disposes of the batch. Returns 0 or a
 * DQ_E* code (logged for an ack). */
static int consume(size_t b, size_t n, bool reject)
{
    replay_t *r = &Q.rp[b];
    int ret = 0;

    if (!r->have_batch) /* the same records again (the cursor has not moved: this loop is the queue's only reader) */
        r->have_batch = (ret = dq_peek(Q.q[b], n, REPLAY_MAX_BYTES, &r->batch)) > 0;
    if (r->have_batch) {
        dq_batch_keep(&r->batch, n);
        ret = reject ? dq_reject(Q.q[b], &r->batch) : dq_ack(Q.q[b], &r->batch);
        if (!reject && ret != DQ_ESTALE) { /* acknowledged, even when the cursor could not be persisted (DQ_EIO) */
            r->replayed_records += r->batch.n;
            ip_count(b, records_replayed, r->batch.n);
        }
    }
    if (ret < 0 && !reject)
        ip_log(IP_LOG_ERROR, "queue %s: cannot record replay progress: %s", ip_backend_name(b), ip_queue_strerror(ret));
    int saved = errno; /* DQ_EIO: the caller may name the system call's error */
    batch_done(b);
    errno = saved;
    return ret < 0 ? ret : 0;
}

/* Acknowledges the records of the batch in hand that the backend stored (those of the writes before the one that
 * failed), and then disposes of the batch; keeps it when there are none. */
static void keep_progress(size_t b)
{
    replay_t *r = &Q.rp[b];
    if (r->have_batch && r->next_rec != 0)
        consume(b, r->next_rec, false);
}

static void retry_later(size_t b, const char *why)
{
    replay_t *r = &Q.rp[b];
    const cfg_backend_t *be = backend_of(b);
    uint64_t interval = be != NULL ? be->rewriteinterval : 10000;
    if (!r->failing)
        ip_log(IP_LOG_WARN, "replay to %s failed, retrying every %llu ms: %s", ip_backend_name(b),
               (unsigned long long)interval, why);
    r->failing = 1;
    r->next_attempt_ms = ip_mono_ms() + interval;
    keep_progress(b);
    batch_done(b);
}

/* A refusal the backend gives again however long the replay waits: a 4xx, and the 500 influxd 1.x answers a write to a
 * retention policy that does not exist (its write path does not take that for the client's error). Retried, it would
 * keep the backend replaying for ever: out of queries, and every later write queued behind it. */
static bool refused_for_good(const up_result_t *res)
{
    static const char rp_missing[] = "retention policy not found";

    if (res->klass != UP_REFUSED)
        return false;
    if (res->status >= 400 && res->status < 500)
        return true;
    return res->status == 500 && res->influx_error != NULL &&
           strncmp(res->influx_error, rp_missing, sizeof(rp_missing) - 1) == 0;
}

static void on_replayed(up_job_t *job, void *cbdata)
{
    size_t b = (size_t)(uintptr_t)cbdata;
    replay_t *r = &Q.rp[b];
    const char *name = ip_backend_name(b);
    ip_thread_t *t = &ip_server.threads[0];

    r->job = NULL;
    if (job->res.klass == UP_CANCELLED) { /* shutting down: the records stay queued for the next start */
        batch_done(b);
        return;
    }
    if (job->res.klass == UP_OK) {
        r->next_rec = r->group_end;
        if (r->next_rec < r->batch.n) {
            replay_next_group(b, t);
            return;
        }
        consume(b, r->batch.n, false);
        if (r->failing)
            ip_log(IP_LOG_INFO, "replay to %s resumed", name);
        r->failing = 0;
        r->isolate -= r->isolate != 0;
        if (dq_pending(Q.q[b]) == 0)
            ip_log(IP_LOG_INFO, "queue %s: replay complete (%llu records so far)", name,
                   (unsigned long long)r->replayed_records);
        else
            ip_replay_start(b, t); /* keep going without waiting for the next tick */
        return;
    }
    if (refused_for_good(&job->res)) {
        size_t group = r->group_end - r->next_rec;
        keep_progress(b); /* the writes before this one were stored */
        if (group > 1) {
            /* find the refused record: send this write's records one at a time */
            r->isolate = group;
            batch_done(b);
        } else {
            int ret = consume(b, 1, true);
            if (ret != 0) {
                /* still at the head of the queue (dq_reject consumed nothing): sent again at once, it would be
                 * refused again at once, in a loop as fast as the backend answers; logged at each attempt (one per
                 * rewriteinterval), as a full disk should be */
                ip_log(IP_LOG_ERROR,
                       "replay to %s: backend refused a queued write (%s) and it cannot be moved to the rejected file: "
                       "%s; it stays at the head of the queue",
                       name, job->res.message, ip_queue_strerror(ret));
                retry_later(b, "a refused write cannot be moved to the rejected file");
                return;
            }
            ip_log(IP_LOG_ERROR, "replay to %s: backend refused a queued write (%s); moved to the rejected file", name,
                   job->res.message);
            r->isolate -= r->isolate != 0;
        }
        ip_replay_start(b, t);
        return;
    }
    retry_later(b, job->res.message);
}

static int same_group(const dq_record_t *a, const dq_record_t *b)
{
    return a->type == DQ_REC_WRITE && b->type == DQ_REC_WRITE && a->db.len == b->db.len && a->rp.len == b->rp.len &&
           a->precision.len == b->precision.len && memcmp(a->db.base, b->db.base, a->db.len) == 0 &&
           memcmp(a->rp.base, b->rp.base, a->rp.len) == 0 &&
           memcmp(a->precision.base, b->precision.base, a->precision.len) == 0;
}

static size_t count_newlines(const char *p, size_t len)
{
    size_t n = 0;
    for (const char *end = p + len; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        n++;
    return n;
}

/* Sends records [next_rec, group_end) of the batch as one request. */
static void replay_next_group(size_t b, ip_thread_t *t)
{
    replay_t *r = &Q.rp[b];
    const cfg_backend_t *be = backend_of(b);
    const dq_record_t *first = &r->batch.recs[r->next_rec];
    ubuf_t url, body;
    if (be == NULL) {
        retry_later(b, "the backend left the configuration; its queue waits for it");
        return;
    }
    h2o_mem_pool_t pool;
    char err[256];

    h2o_mem_init_pool(&pool);
    ubuf_init(&url, SIZE_MAX);
    ubuf_init(&body, SIZE_MAX);
    ubuf_append(&url, be->url, strlen(be->url));
    dq_slice_t db = *be->db != '\0' ? (dq_slice_t){be->db, strlen(be->db)} : first->db;
    if (first->type == DQ_REC_STMT) {
        ubuf_append(&url, "/query?", 7);
        hu_form_add(&url, "db", db.base, db.len, &pool);
        h2o_iovec_t q = hu_url_encode(&pool, first->body.base, first->body.len);
        ubuf_append(&body, "q=", 2);
        ubuf_append(&body, q.base, q.len);
        r->group_end = r->next_rec + 1;
    } else {
        ubuf_append(&url, "/write?", 7);
        hu_form_add(&url, "db", db.base, db.len, &pool);
        hu_form_add(&url, "rp", first->rp.base, first->rp.len, &pool);
        hu_form_add(&url, "precision", first->precision.base, first->precision.len, &pool);
        /* no more than maxrowlimit lines in one write, as for the client's writes (newlines: at least the lines) */
        size_t i = r->next_rec, lines = 0;
        for (; i < r->batch.n && same_group(first, &r->batch.recs[i]); i++) {
            size_t n = count_newlines(r->batch.recs[i].body.base, r->batch.recs[i].body.len);
            if (i > r->next_rec && lines + n > be->maxrowlimit)
                break;
            lines += n;
            ubuf_append(&body, r->batch.recs[i].body.base, r->batch.recs[i].body.len);
        }
        r->group_end = i;
    }
    ubuf_append(&url, "", 1);
    static const char *const form_hdr[] = {"Content-Type: application/x-www-form-urlencoded"};
    up_req_t req = ip_backend_req(be, UP_POST, url.base, be->timeout, t, on_replayed, (void *)(uintptr_t)b);
    req.headers = first->type == DQ_REC_STMT ? form_hdr : NULL;
    req.num_headers = first->type == DQ_REC_STMT ? 1 : 0;
    req.body = body.base;
    req.body_len = body.len;
    req.gzip = be->gzip;
    req.max_response = 1 << 20;
    req.use_h1 = req.bulk = true; /* as the client's writes */
    r->job = up_job_new(&req, err, sizeof(err));
    ubuf_free(&url);
    ubuf_free(&body);
    h2o_mem_clear_pool(&pool);
    if (r->job == NULL) {
        retry_later(b, err);
        return;
    }
    up_submit(t->up, r->job);
}

void ip_replay_start(size_t b, ip_thread_t *t)
{
    replay_t *r = &Q.rp[b];
    if (r->job != NULL || r->have_batch || ip_server.stopping || backend_of(b) == NULL)
        return;
    int n = dq_peek(Q.q[b], r->isolate != 0 ? 1 : REPLAY_MAX_RECORDS, REPLAY_MAX_BYTES, &r->batch);
    if (n <= 0) {
        if (n < 0)
            ip_log(IP_LOG_ERROR, "queue %s: cannot read: %s", ip_backend_name(b), ip_queue_strerror(n));
        return;
    }
    r->have_batch = 1;
    r->next_rec = 0;
    replay_next_group(b, t);
}

void ip_replay_tick(size_t b, int healthy, ip_thread_t *t, uint64_t now_ms)
{
    replay_t *r = &Q.rp[b];
    if (!healthy || r->job != NULL || r->have_batch || now_ms < r->next_attempt_ms || dq_pending(Q.q[b]) == 0)
        return;
    ip_replay_start(b, t);
}

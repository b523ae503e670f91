/*
 * upstream — libcurl multi on one worker thread, or on an h2o loop; results go back to the submitting loop.
 *
 * LOOP MODE (up_create_on_loop): the worker's loop body below runs in on_kick(), a 0 ms timeout of the
 * loop linked by wake() wherever the worker would be woken; curl is driven by curl_multi_socket_action()
 * from socket events (CURLMOPT_SOCKETFUNCTION), a timerfd and on_kick() (CURLMOPT_TIMERFUNCTION); what the
 * worker would post to the receiver is appended to up->ready and delivered at the end of on_kick(), so no
 * callback of the user ever runs inside a curl call. Connection sockets are opened and closed through curl's
 * socket callbacks, which lets their h2o wrapper live as long as the connection (curl stops watching an
 * idle kept-alive connection, and watches it again when it is reused: no dup/close/epoll churn per
 * request); other sockets curl watches (the resolver's) are watched through a dup() of the descriptor.
 *
 * LEAN CLIENT: in loop mode, start_job() hands a use_h1 job to h1client (h1_start) when it serves the URL; its
 * callbacks (h1_on_head/h1_on_body/h1_on_done) fill job->res exactly as curl's header and write callbacks do and end
 * in finish_job(), and a cancel, a pause or a resume reaches it through the same paths as a curl transfer's. It has
 * two pools (two h1 contexts), one for bulk jobs (writes) and one for the rest, so that writes never take every
 * connection a query to the same backend would wait for.
 *
 * DESIGN
 * Three parties touch a job, each at a clearly separated time:
 *   - the submitter's loop thread builds it, submits it, may cancel it, and (through
 *     up_receiver_cb) runs its callback and frees it;
 *   - the worker thread takes it from the pending list, runs the transfer, fills job->res and posts
 *     it to the receiver, after which it never touches the job again;
 *   - the pending list and the NEW->PENDING->ACTIVE transitions are guarded by up->mutex.
 * job->_state (atomic) tells up_cancel() which of these holds: PENDING jobs are unlinked and freed
 * under the mutex; ACTIVE ones get _abort set and the worker is woken to drop the transfer; DONE
 * ones already sit in the receiver's queue, so only cb is cleared and the receiver frees them.
 * cb itself is only ever read and written on the receiver's loop thread.
 *
 * The worker loop: take the pending jobs, start their transfers, drop cancelled ones, resume paused
 * ones, let curl run, reap finished transfers, then sleep in curl_multi_poll() until a socket, a curl
 * timer or curl_multi_wakeup() (submit, cancel, ack, destroy) needs it.
 *
 * Streaming adds two kinds of message besides the completion (job->_msg): the head (job->_head_msg,
 * posted once when the header block of the final answer ends) and chunks (one malloc'd chunk_t per
 * write callback, holding a copy of curl's bytes). All three go through the same receiver, so they
 * are never reordered: h2o appends to the receiver's list under its queue mutex and hands the list
 * over whole, and the worker is the only thread posting for a job. Hence the rule that makes cancel
 * safe: the completion is always the last message of a job, and only it frees the job. A chunk or
 * head still in the receiver's queue when the job is cancelled therefore still points at a live job;
 * up_cancel() clears _on_head/_on_chunk (loop-only fields), so such messages are freed unseen. h2o
 * gives no way to take a message back out of the receiver's queue, which is why chunks are not
 * unlinked on cancel. The only worker->loop data besides the messages are the head fields of
 * job->res: written before _head_msg is posted and never touched by the worker afterwards
 * (_head_sent), so on_head/on_chunk can read them while the worker goes on.
 *
 * Flow control is a counter, not a list: _unacked (bytes posted, not yet acknowledged) and _paused
 * are atomics on the job; the worker pauses from the write callback when the window is full, and
 * up_stream_ack() bumps up->resumes and wakes the worker when enough has been consumed; the worker
 * then scans its in-flight list for paused transfers with room (as for aborts). A job that has been
 * finished is never linked anywhere the loop could reach, so an ack racing with the end of the
 * transfer touches only the job, which lives until its completion message is processed.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <curl/curl.h>
#include <h2o/string_.h>
#include <zlib.h>
#include "h1client.h"
#include "upstream.h"

enum { JOB_NEW, JOB_PENDING, JOB_ACTIVE, JOB_DONE };
enum { MSG_HEAD, MSG_CHUNK, MSG_DONE };

typedef struct st_chunk_t {
    struct st_up_msg_t msg;
    size_t len;
    char data[];
} chunk_t;

/* Line protocol compresses well even at the fastest level, and this runs on a loop thread. */
#define GZIP_LEVEL 1
#define BODY_INITIAL_CAP 16384
#define DEFAULT_MAX_HOST_CONNECTIONS 16
#define POLL_MS 1000
#define MAX_SPARE_EASY 64
#define DEFAULT_MAX_IDLE 256L
/* Keeps the body-capacity arithmetic (cap + 1 for the NUL, doubling) clear of overflow. */
#define MAX_RESPONSE_LIMIT (SIZE_MAX / 4)

struct st_up_t {
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mutex;
    h2o_linklist_t pending; /* up_job_t._pending; under mutex */
    bool stopping;          /* under mutex */
    atomic_uint aborts;     /* bumped by up_cancel() on an ACTIVE job */
    atomic_uint resumes;    /* bumped by up_stream_ack() when a paused job has room again */
    /* worker-only */
    h2o_linklist_t inflight; /* up_job_t._inflight: transfers added to the multi handle */
    unsigned aborts_seen, resumes_seen;
    /* read-only after up_create() */
    size_t stream_window;
    long max_host_connections;
    long connect_timeout_ms;
    long max_idle_age_s;
    char *user_agent;
    /* Loop mode (up_create_on_loop): curl is driven by this loop's events, there is no worker thread, and
     * what the worker would post to a receiver is appended to `ready` and delivered by on_kick(). */
    h2o_loop_t *loop;
    h2o_timeout_t zero;       /* 0 ms: on_kick() runs at the end of the current loop iteration */
    h2o_timeout_entry_t kick; /* linked by wake() */
    bool timer_due;           /* curl asked for a 0 ms timeout: on_kick() calls it */
    int timer_fd;             /* curl's other timeouts */
    uint64_t timer_at;        /* h2o_now() when timer_fd fires; 0 = not armed */
    h2o_socket_t *timer_sock; /* wraps timer_fd */
    h2o_linklist_t ready;     /* struct st_up_msg_t._super.link, in posting order */
    h2o_linklist_t dead;      /* up_sock_t whose socket curl removed: freed by on_kick() */
    /* Connection sockets, indexed by descriptor: opened and closed through our callbacks, so their h2o wrapper
     * (on the descriptor itself) can outlive curl's CURL_POLL_REMOVE while the connection idles in curl's cache. */
    struct st_up_sock_t **owned;
    size_t owned_cap;
    /* easy handles of finished transfers, reset and kept for the next ones (worker-only, or loop-only) */
    CURL *spare[MAX_SPARE_EASY];
    size_t nspare;
    h1_ctx_t *h1;      /* loop mode: the lean client of use_h1 jobs */
    h1_ctx_t *h1_bulk; /* loop mode: its second pool, for use_h1 jobs with bulk (writes) */
};

/* Loop mode: one socket curl watches. A connection socket (owned) is wrapped itself, and closed through the wrapper
 * when curl asks us to close it; any other socket (the resolver's) is watched through a dup(), since closing an h2o
 * socket closes its descriptor and curl closes that one on its own. */
typedef struct st_up_sock_t {
    up_t *up;
    h2o_socket_t *sock;
    curl_socket_t fd; /* curl's descriptor, the one curl_multi_socket_action() is told about */
    int what;         /* CURL_POLL_* last asked for */
    bool write_armed; /* h2o_socket_notify_write() is pending (it is one-shot) */
    bool owned;       /* a connection socket: sock wraps fd itself and lives until curl closes it */
    h2o_linklist_t _dead;
} up_sock_t;

/* Has the worker (thread mode) or the loop (loop mode) look at pending, cancelled and resumable jobs. */
static void wake(up_t *up)
{
    if (up->loop == NULL)
        curl_multi_wakeup(up->multi);
    else if (!h2o_timeout_is_linked(&up->kick))
        h2o_timeout_link(up->loop, &up->zero, &up->kick);
}

/* Hands a message of @job to its receiver: through h2o's thread queue, or (loop mode) to on_kick(). */
static void post(up_job_t *job, struct st_up_msg_t *m)
{
    up_t *up = job->_up;

    if (up->loop == NULL) {
        h2o_multithread_send_message(job->_receiver, &m->_super);
        return;
    }
    h2o_linklist_insert(&up->ready, &m->_super.link);
    wake(up);
}

/* ---- jobs ---------------------------------------------------------------------------------- */

static int check_line(const char *s, const char *what, char *err, size_t errlen)
{
    if (strpbrk(s, "\r\n") != NULL) {
        snprintf(err, errlen, "%s contains CR or LF", what);
        return -1;
    }
    return 0;
}

static int check_headers(const up_req_t *req, char *err, size_t errlen)
{
    for (size_t i = 0; i != req->num_headers; ++i) {
        const char *h = req->headers[i];
        const char *colon = h != NULL ? strchr(h, ':') : NULL;
        if (colon == NULL || colon == h) {
            snprintf(err, errlen, "header %zu is not \"Name: value\"", i);
            return -1;
        }
        if (check_line(h, "a header", err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int check_req(const up_req_t *req, char *err, size_t errlen)
{
    if (req->url == NULL || req->url[0] == '\0') {
        snprintf(err, errlen, "no URL");
        return -1;
    }
    if (check_line(req->url, "the URL", err, errlen) != 0)
        return -1;
    if (req->receiver == NULL) {
        snprintf(err, errlen, "no receiver");
        return -1;
    }
    if (req->method != UP_GET && req->method != UP_HEAD && req->method != UP_POST) {
        snprintf(err, errlen, "unknown method %d", (int)req->method);
        return -1;
    }
    if (req->method != UP_POST && req->body_len != 0) {
        snprintf(err, errlen, "a GET or HEAD request has no body");
        return -1;
    }
    if (req->body_len != 0 && req->body == NULL) {
        snprintf(err, errlen, "body_len is %zu but body is NULL", req->body_len);
        return -1;
    }
    if (req->gzip && req->body_len > UINT_MAX) {
        snprintf(err, errlen, "body too large to compress in one pass");
        return -1;
    }
    return check_headers(req, err, errlen);
}

static char *copy_str(const char **dst, char *p, const char *src)
{
    size_t n = strlen(src) + 1;
    memcpy(p, src, n);
    *dst = p;
    return p + n;
}

/* deflateBound() is an upper bound for a single Z_FINISH call, so one pass always completes. */
static size_t gzip_into(z_stream *zs, const void *src, size_t len, char *dst, size_t room)
{
    int ret;

    zs->next_in = (Bytef *)src;
    zs->avail_in = (uInt)len;
    zs->next_out = (Bytef *)dst;
    zs->avail_out = (uInt)room;
    ret = deflate(zs, Z_FINISH);
    assert(ret == Z_STREAM_END);
    (void)ret;
    len = zs->total_out;
    deflateEnd(zs);
    return len;
}

/* Bytes needed after the struct for the strings and the body (the body bound when gzipping, in
 * which case @zs is left initialised for gzip_into()). */
static size_t tail_size(const up_req_t *req, z_stream *zs)
{
    size_t n = strlen(req->url) + 1 + req->body_len;

    for (size_t i = 0; i != req->num_headers; ++i)
        n += strlen(req->headers[i]) + 1;
    if (req->username != NULL)
        n += strlen(req->username) + 1 + strlen(req->password != NULL ? req->password : "") + 1;
    if (req->gzip) {
        memset(zs, 0, sizeof(*zs));
        if (deflateInit2(zs, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            abort();
        n = n - req->body_len + deflateBound(zs, req->body_len);
    }
    return n;
}

/* Lays the strings and then the body out in the tail that follows the struct. */
static void copy_tail(up_job_t *job, const up_req_t *req, z_stream *zs, char *p, char *end)
{
    const char *ignored;

    p = copy_str(&job->_req.url, p, req->url);
    job->_req.headers = p;
    job->_req.num_headers = req->num_headers;
    for (size_t i = 0; i != req->num_headers; ++i)
        p = copy_str(&ignored, p, req->headers[i]);
    if (req->username != NULL) {
        p = copy_str(&job->_req.username, p, req->username);
        p = copy_str(&job->_req.password, p, req->password != NULL ? req->password : "");
    }
    job->_req.body = p;
    job->_req.body_len = req->body_len;
    if (req->gzip) {
        job->_req.body_len = gzip_into(zs, req->body, req->body_len, p, (size_t)(end - p));
    } else if (req->num_body_parts != 0) {
        for (size_t i = 0; i != req->num_body_parts; ++i) {
            if (req->body_parts[i].len != 0)
                memcpy(p, req->body_parts[i].base, req->body_parts[i].len);
            p += req->body_parts[i].len;
        }
    } else if (req->body_len != 0) {
        memcpy(p, req->body, req->body_len);
    }
}

up_job_t *up_job_new(const up_req_t *req, char *err, size_t errlen)
{
    z_stream zs;
    size_t tail;
    up_job_t *job;
    up_req_t flat;
    char *joined = NULL;

    if (req->num_body_parts != 0) {
        if (req->body != NULL || req->body_len != 0 || req->body_parts == NULL) {
            snprintf(err, errlen, "a body is either body/body_len or body_parts, not both");
            return NULL;
        }
        flat = *req;
        for (size_t i = 0; i != req->num_body_parts; ++i)
            flat.body_len += req->body_parts[i].len;
        flat.body = "";
        if (flat.gzip) { /* compressed in one pass, from one buffer */
            joined = malloc(flat.body_len + 1);
            if (joined == NULL)
                abort();
            for (size_t i = 0, off = 0; i != req->num_body_parts; off += req->body_parts[i++].len)
                if (req->body_parts[i].len != 0)
                    memcpy(joined + off, req->body_parts[i].base, req->body_parts[i].len);
            flat.body = joined;
            flat.num_body_parts = 0;
        }
        req = &flat;
    }
    if (check_req(req, err, errlen) != 0) {
        free(joined);
        return NULL;
    }
    tail = tail_size(req, &zs);
    /* only the struct needs zeroing: the tail is written by copy_tail() */
    job = malloc(sizeof(*job) + tail);
    if (job == NULL)
        abort();
    memset(job, 0, sizeof(*job));
    job->cb = req->cb;
    job->cbdata = req->cbdata;
    job->_receiver = req->receiver;
    job->_req.method = req->method;
    job->_req.timeout_ms = req->timeout_ms;
    job->_req.insecure = req->insecure;
    job->_req.gzip = req->gzip;
    job->_on_head = req->on_head;
    job->_on_chunk = req->on_chunk;
    job->_req.has_head = req->on_head != NULL;
    job->_req.streaming = req->on_chunk != NULL;
    job->_req.use_h1 = req->use_h1;
    job->_req.head_before_body = req->head_before_body;
    job->_req.bulk = req->bulk;
    job->_req.max_response = req->max_response;
    if (job->_req.max_response == 0)
        job->_req.max_response = job->_req.streaming ? MAX_RESPONSE_LIMIT : UP_DEFAULT_MAX_RESPONSE;
    if (job->_req.max_response > MAX_RESPONSE_LIMIT)
        job->_req.max_response = MAX_RESPONSE_LIMIT;
    job->_msg._job = job->_head_msg._job = job;
    job->_msg._kind = MSG_DONE;
    job->_head_msg._kind = MSG_HEAD;
    atomic_init(&job->_state, JOB_NEW);
    atomic_init(&job->_abort, 0);
    atomic_init(&job->_unacked, 0);
    atomic_init(&job->_paused, 0);
    copy_tail(job, req, &zs, (char *)(job + 1), (char *)(job + 1) + tail);
    free(joined);
    return job;
}

void up_job_free(up_job_t *job)
{
    free(job->_h1_headers);
    free(job->res.body);
    free(job->res.content_type);
    free(job->res.content_encoding);
    free(job->res.influx_error);
    free(job);
}

char *up_job_take_body(up_job_t *job, size_t *len)
{
    char *body = job->res.body;
    char *empty = malloc(1);

    if (empty == NULL)
        abort();
    empty[0] = '\0';
    *len = job->res.body_len;
    job->res.body = empty;
    job->res.body_len = 0;
    job->_req.body_cap = 1;
    return body;
}

const char *up_class_str(up_class_t klass)
{
    switch (klass) {
    case UP_OK:
        return "ok";
    case UP_REFUSED:
        return "refused";
    case UP_UNREACHABLE:
        return "unreachable";
    case UP_CANCELLED:
        return "cancelled";
    case UP_TOO_LARGE:
        return "too large";
    }
    return "unknown";
}

/* ---- loop-thread side ---------------------------------------------------------------------- */

void up_submit(up_t *up, up_job_t *job)
{
    assert(atomic_load(&job->_state) == JOB_NEW);
    job->_up = up;
    pthread_mutex_lock(&up->mutex);
    atomic_store(&job->_state, JOB_PENDING);
    h2o_linklist_insert(&up->pending, &job->_pending);
    pthread_mutex_unlock(&up->mutex);
    wake(up);
}

void up_cancel(up_job_t *job)
{
    up_t *up = job->_up;
    int state = atomic_load(&job->_state);

    if (state == JOB_NEW) {
        up_job_free(job);
        return;
    }
    job->cb = NULL;
    job->_on_head = NULL;
    job->_on_chunk = NULL;
    if (state == JOB_PENDING) {
        pthread_mutex_lock(&up->mutex);
        state = atomic_load(&job->_state);
        if (state == JOB_PENDING)
            h2o_linklist_unlink(&job->_pending);
        pthread_mutex_unlock(&up->mutex);
        if (state == JOB_PENDING) {
            up_job_free(job);
            return;
        }
    }
    /* ACTIVE: the worker still owns the transfer; it drops it and posts the job, which the
     * receiver then frees without a callback. DONE: the job is already queued to the receiver. */
    if (state == JOB_ACTIVE) {
        atomic_store(&job->_abort, 1);
        atomic_fetch_add(&up->aborts, 1);
        wake(up);
    }
}

void up_stream_ack(up_job_t *job, size_t nbytes)
{
    size_t before = atomic_fetch_sub(&job->_unacked, nbytes);

    assert(nbytes <= before);
    /* Read _paused only after the subtraction: see must_pause(). */
    if (atomic_load(&job->_paused) && before - nbytes <= job->_up->stream_window / 2) {
        atomic_fetch_add(&job->_up->resumes, 1);
        wake(job->_up);
    }
}

/* A callback may up_cancel() a job (its own from on_head/on_chunk, or another of this same batch):
 * that clears its callbacks, and its later messages in the batch are dropped; only the completion,
 * always the job's last message, frees it. */
static void deliver(struct st_up_msg_t *m)
{
    up_job_t *job = m->_job;

    switch (m->_kind) {
    case MSG_HEAD:
        if (job->_on_head != NULL)
            job->_on_head(job, job->cbdata);
        break;
    case MSG_CHUNK: {
        chunk_t *c = H2O_STRUCT_FROM_MEMBER(chunk_t, msg, m);
        if (job->_on_chunk != NULL)
            job->_on_chunk(job, job->cbdata, c->data, c->len);
        free(c);
    } break;
    case MSG_DONE:
        if (job->cb != NULL)
            job->cb(job, job->cbdata);
        up_job_free(job);
        break;
    }
}

void up_receiver_cb(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        struct st_up_msg_t *m = H2O_STRUCT_FROM_MEMBER(struct st_up_msg_t, _super.link, messages->next);
        h2o_linklist_unlink(&m->_super.link);
        deliver(m);
    }
}

/* ---- worker: curl callbacks ---------------------------------------------------------------- */

static void reserve_body(up_job_t *job, size_t need)
{
    size_t cap = job->_req.body_cap != 0 ? job->_req.body_cap : BODY_INITIAL_CAP;
    char *body;

    if (need + 1 <= job->_req.body_cap)
        return;
    while (cap < need + 1)
        cap *= 2;
    if (cap > job->_req.max_response + 1)
        cap = job->_req.max_response + 1;
    body = realloc(job->res.body, cap);
    if (body == NULL)
        abort();
    job->res.body = body;
    job->_req.body_cap = cap;
}

/* The callers' data is valid only during the call: copy it, within the cap. Returns @n, or 0 when over the cap
 * (_too_large tells that apart from other failures). */
static size_t take_body(up_job_t *job, const char *data, size_t n)
{
    if (n > job->_req.max_response - job->res.body_len) {
        job->_too_large = true;
        return 0;
    }
    reserve_body(job, job->res.body_len + n);
    memcpy(job->res.body + job->res.body_len, data, n);
    job->res.body_len += n;
    job->res.body[job->res.body_len] = '\0';
    return n;
}

/* Returning less than given makes curl abort the transfer with CURLE_WRITE_ERROR. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    return take_body(arg, data, size * nmemb);
}

static bool over_window(const up_job_t *job, size_t n)
{
    size_t unacked = atomic_load(&job->_unacked);

    return unacked != 0 && unacked + n > job->_up->stream_window;
}

/* Publishes _paused before looking at _unacked again, while up_stream_ack() subtracts from _unacked
 * before reading _paused (both sequentially consistent): either this second look sees the room an
 * ack made, or that ack sees _paused and wakes the worker. No resume is lost. */
static bool must_pause(up_job_t *job, size_t n)
{
    if (!over_window(job, n))
        return false;
    atomic_store(&job->_paused, 1);
    if (over_window(job, n)) {
        job->_curl_paused = true;
        return true;
    }
    atomic_store(&job->_paused, 0);
    return false;
}

#define STREAM_PAUSE SIZE_MAX

/* Streaming: posts a copy of @data as a chunk. Returns @n, 0 when over the cap, or STREAM_PAUSE when the window is
 * full: the caller keeps these bytes and offers them again after the resume (nothing is counted or posted now). */
static size_t take_stream_bytes(up_job_t *job, const char *data, size_t n)
{
    chunk_t *c;

    if (n > job->_req.max_response - job->_streamed) {
        job->_too_large = true;
        return 0;
    }
    if (n == 0)
        return 0;
    if (must_pause(job, n))
        return STREAM_PAUSE;
    c = malloc(sizeof(*c) + n);
    if (c == NULL)
        abort();
    memset(&c->msg, 0, sizeof(c->msg));
    c->msg._job = job;
    c->msg._kind = MSG_CHUNK;
    c->len = n;
    memcpy(c->data, data, n);
    job->_streamed += n;
    atomic_fetch_add(&job->_unacked, n);
    post(job, &c->msg);
    return n;
}

/* On CURL_WRITEFUNC_PAUSE curl keeps the bytes and offers them again after curl_easy_pause(CURLPAUSE_CONT). */
static size_t on_stream_body(char *data, size_t size, size_t nmemb, void *arg)
{
    size_t n = take_stream_bytes(arg, data, size * nmemb);

    return n == STREAM_PAUSE ? CURL_WRITEFUNC_PAUSE : n;
}

/* At the blank line ending a header block: the head of the final (non-1xx) answer goes to the loop. */
static void post_head(up_job_t *job)
{
    long status = 0;

    curl_easy_getinfo(job->_easy, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200)
        return;
    job->res.status = (int)status;
    job->_head_sent = true;
    post(job, &job->_head_msg);
}

static void clear_headers(up_job_t *job)
{
    free(job->res.content_type);
    free(job->res.content_encoding);
    free(job->res.influx_error);
    job->res.content_type = job->res.content_encoding = job->res.influx_error = NULL;
}

static void set_header(char **dst, const char *value, size_t len)
{
    free(*dst);
    if (len > UP_MAX_HEADER_VALUE)
        len = UP_MAX_HEADER_VALUE;
    *dst = strndup(value, len);
    if (*dst == NULL)
        abort();
}

static bool name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* Returns 0 to go on, -1 to abort the transfer (a declared length over the cap). */
static int on_header_field(up_job_t *job, const char *name, size_t name_len, const char *value, size_t len)
{
    if (name_is(name, name_len, "content-type")) {
        set_header(&job->res.content_type, value, len);
    } else if (name_is(name, name_len, "content-encoding")) {
        set_header(&job->res.content_encoding, value, len);
    } else if (name_is(name, name_len, "x-influxdb-error")) {
        set_header(&job->res.influx_error, value, len);
    } else if (name_is(name, name_len, "content-length") && job->_req.method != UP_HEAD) {
        char buf[32], *end;
        unsigned long long declared;
        if (len == 0 || len >= sizeof(buf))
            return 0;
        memcpy(buf, value, len);
        buf[len] = '\0';
        declared = strtoull(buf, &end, 10);
        if (*end == '\0' && declared > job->_req.max_response) {
            job->_too_large = true;
            return -1;
        }
    }
    return 0;
}

/* Called once per header line, status line included (so a 1xx followed by the final answer
 * starts over). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    up_job_t *job = arg;
    size_t n = size * nmemb, len = n, name_len;
    const char *colon, *value, *end;

    /* After the head went to the loop its fields are the loop's; what follows can only be trailers. */
    if (job->_head_sent)
        return n;
    while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
        --len;
    if (len == 0 && job->_req.has_head) {
        post_head(job);
        return n;
    }
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        clear_headers(job);
        return n;
    }
    colon = memchr(data, ':', len);
    if (colon == NULL)
        return n;
    name_len = (size_t)(colon - data);
    value = colon + 1;
    end = data + len;
    while (value < end && (*value == ' ' || *value == '\t'))
        ++value;
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        --end;
    if (on_header_field(job, data, name_len, value, (size_t)(end - value)) != 0)
        return 0;
    return n;
}

/* ---- worker: transfers --------------------------------------------------------------------- */

static struct curl_slist *build_headers(const up_job_t *job)
{
    struct curl_slist *list = NULL, *next;
    const char *h = job->_req.headers;

    for (size_t i = 0; i != job->_req.num_headers; ++i) {
        next = curl_slist_append(list, h);
        if (next == NULL)
            abort();
        list = next;
        h += strlen(h) + 1;
    }
    if (job->_req.method == UP_POST) {
        /* An empty value removes the header: no 100-continue round trip on large bodies. */
        next = curl_slist_append(list, "Expect:");
        if (next == NULL)
            abort();
        list = next;
    }
    if (job->_req.gzip) {
        next = curl_slist_append(list, "Content-Encoding: gzip");
        if (next == NULL)
            abort();
        list = next;
    }
    return list;
}

static long connect_timeout(const up_t *up, const up_job_t *job)
{
    long total = (long)job->_req.timeout_ms;

    if (up->connect_timeout_ms > 0 && (total == 0 || up->connect_timeout_ms < total))
        return up->connect_timeout_ms;
    return total;
}

#define SET(opt, val)                                                                                                  \
    do {                                                                                                               \
        rc = curl_easy_setopt(e, opt, val);                                                                            \
        if (rc != CURLE_OK)                                                                                            \
            goto Error;                                                                                                \
    } while (0)

/* curl's default upload buffer, and the largest we ask for: curl allows 2 MiB, but a buffer that large no longer
 * stays in the cache and the copy into it costs more than the passes it saves (replay of multi-MiB bodies: 2.8 M
 * points/s with 2 MiB, 3.5 M with 512 KiB, 3.3 M with the default 64 KiB) */
#define UPLOAD_BUFFER_MIN (64 * 1024)
#define UPLOAD_BUFFER_MAX (512 * 1024)

static CURLcode set_method(CURL *e, const up_job_t *job)
{
    CURLcode rc = CURLE_OK;

    switch (job->_req.method) {
    case UP_GET:
        SET(CURLOPT_HTTPGET, 1L);
        break;
    case UP_HEAD:
        SET(CURLOPT_NOBODY, 1L);
        break;
    case UP_POST:
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->_req.body_len);
        /* job-owned and untouched until the job is posted back, so curl need not copy it */
        SET(CURLOPT_POSTFIELDS, job->_req.body);
        /* A body over 64 KiB goes out through curl's upload buffer, one buffer per pass of the event loop (a wait
         * for the socket to be writable between two): a buffer that holds the whole body sends it at once. */
        if (job->_req.body_len > UPLOAD_BUFFER_MIN)
            SET(CURLOPT_UPLOAD_BUFFERSIZE,
                (long)(job->_req.body_len < UPLOAD_BUFFER_MAX ? job->_req.body_len : UPLOAD_BUFFER_MAX));
        break;
    }
Error:
    return rc;
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr);
static int on_close_socket(void *clientp, curl_socket_t fd);

static CURLcode set_options(up_t *up, CURL *e, up_job_t *job)
{
    CURLcode rc = CURLE_OK;

    SET(CURLOPT_URL, job->_req.url);
    SET(CURLOPT_PRIVATE, job);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_ERRORBUFFER, job->res.message);
    SET(CURLOPT_WRITEFUNCTION, job->_req.streaming ? on_stream_body : on_body);
    SET(CURLOPT_WRITEDATA, job);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, job);
    if (up->loop != NULL) {
        SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
        SET(CURLOPT_OPENSOCKETDATA, up);
        SET(CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
        SET(CURLOPT_CLOSESOCKETDATA, up);
    }
    SET(CURLOPT_USERAGENT, up->user_agent);
    /* backends are reached directly, as by h1client: an http_proxy the daemon inherited from a shell must not
     * send its writes elsewhere (it also spares curl's environment lookups on every transfer) */
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_TIMEOUT_MS, (long)job->_req.timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect_timeout(up, job));
    if (up->max_idle_age_s > 0)
        SET(CURLOPT_MAXAGE_CONN, up->max_idle_age_s);
    if (job->_req.username != NULL) {
        SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SET(CURLOPT_USERNAME, job->_req.username);
        SET(CURLOPT_PASSWORD, job->_req.password);
    }
    if (job->_req.insecure) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
    job->_slist = build_headers(job);
    SET(CURLOPT_HTTPHEADER, (struct curl_slist *)job->_slist);
    rc = set_method(e, job);
Error:
    return rc;
}

#undef SET

static void classify(up_job_t *job, CURLcode cc, const char *cancel_reason)
{
    up_result_t *r = &job->res;

    r->curl_code = (int)cc;
    if (cancel_reason != NULL || atomic_load(&job->_abort)) {
        r->klass = UP_CANCELLED;
        snprintf(r->message, sizeof(r->message), "%s", cancel_reason != NULL ? cancel_reason : "cancelled");
    } else if (job->_too_large) {
        r->klass = UP_TOO_LARGE;
        snprintf(r->message, sizeof(r->message), "response larger than %zu bytes", job->_req.max_response);
    } else if (cc == CURLE_WEIRD_SERVER_REPLY && r->status >= 400) {
        /* the backend answered with an error status but a head curl will not read (see retry_on_h1): a refusal,
         * not a backend that cannot be reached, or a write would be queued and replayed for ever */
        char why[sizeof(r->message) - 40];
        snprintf(why, sizeof(why), "%.*s", (int)sizeof(why) - 1,
                 r->message[0] != '\0' ? r->message : curl_easy_strerror(cc));
        r->klass = UP_REFUSED;
        snprintf(r->message, sizeof(r->message), "HTTP %d (unreadable head: %s)", r->status, why);
    } else if (cc != CURLE_OK) {
        r->klass = UP_UNREACHABLE;
        r->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
        if (r->message[0] == '\0')
            snprintf(r->message, sizeof(r->message), "%s", curl_easy_strerror(cc));
    } else if (r->status >= 200 && r->status < 300) {
        r->klass = UP_OK;
        r->message[0] = '\0';
    } else {
        r->klass = UP_REFUSED;
        snprintf(r->message, sizeof(r->message), "HTTP %d%s%s", r->status, r->influx_error != NULL ? ": " : "",
                 r->influx_error != NULL ? r->influx_error : "");
    }
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Takes the job's transfer out of curl, keeping the handle for the next start_job() (no init/cleanup per transfer). */
static void release_easy(up_t *up, up_job_t *job)
{
    CURL *e = job->_easy;

    if (e != NULL) {
        curl_multi_remove_handle(up->multi, e);
        if (up->nspare < MAX_SPARE_EASY) {
            curl_easy_reset(e);
            up->spare[up->nspare++] = e;
        } else {
            curl_easy_cleanup(e);
        }
        job->_easy = NULL;
    }
    curl_slist_free_all(job->_slist);
    job->_slist = NULL;
}

/* Ends the worker's part: after h2o_multithread_send_message() the job belongs to the receiver. */
static void finish_job(up_t *up, up_job_t *job, CURLcode cc, const char *cancel_reason)
{
    CURL *e = job->_easy;

    if (job->_h1 != NULL) { /* cancelled, or shut down */
        h1_abort(job->_h1);
        job->_h1 = NULL;
    }
    if (job->_start_us != 0)
        job->res.total_us = now_us() - job->_start_us;

    if (e != NULL) {
        long status = 0;
        curl_off_t total = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total);
        if (!job->_head_sent) /* else the loop may be reading it; it holds the same value */
            job->res.status = (int)status;
        job->res.total_us = (uint64_t)total;
    }
    release_easy(up, job);
    if (h2o_linklist_is_linked(&job->_inflight))
        h2o_linklist_unlink(&job->_inflight);
    classify(job, cc, cancel_reason);
    if (job->res.body == NULL) {
        job->res.body = calloc(1, 1);
        if (job->res.body == NULL)
            abort();
        job->_req.body_cap = 1;
    }
    /* From here on up_stream_ack() must not reach for up: it may be gone once this job is posted. */
    atomic_store(&job->_paused, 0);
    job->_curl_paused = false;
    atomic_store(&job->_state, JOB_DONE);
    post(job, &job->_msg);
}

/* ---- loop mode: use_h1 jobs on the lean client --------------------------------------------- */

static int h1_on_head(void *data, int status, const h1_header_t *hs, size_t n)
{
    up_job_t *job = data;

    clear_headers(job);
    for (size_t i = 0; i != n; ++i)
        if (on_header_field(job, hs[i].name, hs[i].name_len, hs[i].value, hs[i].value_len) != 0)
            return H1_STOP;
    job->res.status = status;
    if (job->_req.has_head) {
        job->_head_sent = true;
        post(job, &job->_head_msg);
    }
    return H1_GO_ON;
}

static int h1_on_body(void *data, const char *bytes, size_t len)
{
    up_job_t *job = data;
    size_t n;

    if (!job->_req.streaming)
        return take_body(job, bytes, len) == len ? H1_GO_ON : H1_STOP;
    n = take_stream_bytes(job, bytes, len);
    if (n == STREAM_PAUSE)
        return H1_PAUSE; /* must_pause() set _curl_paused: resume_paused() calls h1_resume() */
    return n == len ? H1_GO_ON : H1_STOP;
}

static void h1_on_done(void *data, h1_code_t code, const char *message)
{
    static const CURLcode as_curl[] = {
        [H1_OK] = CURLE_OK,
        [H1_RESOLVE_FAILED] = CURLE_COULDNT_RESOLVE_HOST,
        [H1_CONNECT_FAILED] = CURLE_COULDNT_CONNECT,
        [H1_TIMEOUT] = CURLE_OPERATION_TIMEDOUT,
        [H1_IO_ERROR] = CURLE_RECV_ERROR,
        [H1_BAD_RESPONSE] = CURLE_WEIRD_SERVER_REPLY,
        [H1_ABORTED] = CURLE_WRITE_ERROR,
    };
    up_job_t *job = data;

    CURLcode cc = as_curl[code];

    if (code == H1_IO_ERROR && job->res.status != 0)
        cc = CURLE_PARTIAL_FILE; /* the head came, not the whole body */
    job->_h1 = NULL;
    size_t mlen = message != NULL ? strnlen(message, sizeof(job->res.message) - 1) : 0;
    if (mlen != 0) /* no snprintf: this runs once per request */
        memcpy(job->res.message, message, mlen);
    job->res.message[mlen] = '\0';
    finish_job(job->_up, job, cc, NULL);
}

static const h1_handlers_t h1_handlers = {h1_on_head, h1_on_body, h1_on_done};

/* The header lines curl would send for the job (those that matter to a backend). */
static char *h1_header_block(const up_t *up, up_job_t *job, size_t *len)
{
    size_t cap = strlen(up->user_agent) + 64, n;
    const char *h = job->_req.headers;
    char *buf, *p;

    if (job->_req.username != NULL)
        cap += 32 + h2o_base64_encode_capacity(strlen(job->_req.username) + 1 + strlen(job->_req.password));
    for (size_t i = 0; i != job->_req.num_headers; ++i, h += strlen(h) + 1)
        cap += strlen(h) + 2;
    buf = p = malloc(cap);
    if (buf == NULL)
        abort();
    p = mempcpy(p, "User-Agent: ", 12);
    p = mempcpy(p, up->user_agent, strlen(up->user_agent));
    p = mempcpy(p, "\r\n", 2);
    if (job->_req.username != NULL) {
        size_t ul = strlen(job->_req.username), pl = strlen(job->_req.password);
        char *cred = malloc(ul + 1 + pl);
        if (cred == NULL)
            abort();
        memcpy(cred, job->_req.username, ul);
        cred[ul] = ':';
        memcpy(cred + ul + 1, job->_req.password, pl);
        p = mempcpy(p, "Authorization: Basic ", 21);
        p += h2o_base64_encode(p, cred, ul + 1 + pl, 0);
        p = mempcpy(p, "\r\n", 2);
        free(cred);
    }
    h = job->_req.headers;
    for (size_t i = 0, hl; i != job->_req.num_headers; ++i, h += hl + 1) {
        hl = strlen(h);
        p = mempcpy(p, h, hl);
        p = mempcpy(p, "\r\n", 2);
    }
    if (job->_req.gzip)
        p = mempcpy(p, "Content-Encoding: gzip\r\n", 24);
    n = (size_t)(p - buf);
    assert(n < cap);
    *len = n;
    return buf;
}

/* Runs a use_h1 job (any job if @any) on the lean client; false when curl has to (thread mode, or a URL the client
 * does not serve). */
static bool start_h1(up_t *up, up_job_t *job, bool any)
{
    static const char *const methods[] = {[UP_GET] = "GET", [UP_HEAD] = "HEAD", [UP_POST] = "POST"};
    size_t hlen;

    if (up->h1 == NULL || !(job->_req.use_h1 || any))
        return false;
    job->_h1_headers = h1_header_block(up, job, &hlen);
    h1_request_t r = {
        .method = methods[job->_req.method],
        .url = job->_req.url,
        .headers = h2o_iovec_init(job->_h1_headers, hlen),
        .body = h2o_iovec_init(job->_req.body, job->_req.body_len),
        .has_body = job->_req.method == UP_POST,
        .timeout_ms = job->_req.timeout_ms,
        .head_before_body = job->_req.head_before_body,
    };
    job->_start_us = now_us();
    job->_h1 = h1_start(job->_req.bulk ? up->h1_bulk : up->h1, &r, &h1_handlers, job);
    if (job->_h1 == NULL) { /* not a URL it serves (https://, user info, a name without a resolver) */
        free(job->_h1_headers);
        job->_h1_headers = NULL;
        job->_start_us = 0;
        return false;
    }
    h2o_linklist_insert(&up->inflight, &job->_inflight);
    return true;
}

static void start_job(up_t *up, up_job_t *job)
{
    CURL *e;
    CURLcode rc;
    CURLMcode mrc;

    if (start_h1(up, job, false))
        return;
    e = up->nspare != 0 ? up->spare[--up->nspare] : curl_easy_init();
    if (e == NULL)
        abort();
    job->_easy = e;
    rc = set_options(up, e, job);
    if (rc != CURLE_OK)
        goto Error;
    mrc = curl_multi_add_handle(up->multi, e);
    if (mrc != CURLM_OK) {
        snprintf(job->res.message, sizeof(job->res.message), "%s", curl_multi_strerror(mrc));
        rc = CURLE_FAILED_INIT;
        goto Error;
    }
    h2o_linklist_insert(&up->inflight, &job->_inflight);
    return;
Error:
    finish_job(up, job, rc, NULL);
}

/* Under the mutex: moves the pending jobs to @batch and marks them ACTIVE. */
static bool take_pending(up_t *up, h2o_linklist_t *batch)
{
    bool stopping;

    pthread_mutex_lock(&up->mutex);
    stopping = up->stopping;
    while (!h2o_linklist_is_empty(&up->pending)) {
        up_job_t *job = H2O_STRUCT_FROM_MEMBER(up_job_t, _pending, up->pending.next);
        h2o_linklist_unlink(&job->_pending);
        atomic_store(&job->_state, JOB_ACTIVE);
        h2o_linklist_insert(batch, &job->_pending);
    }
    pthread_mutex_unlock(&up->mutex);
    return stopping;
}

static void start_batch(up_t *up, h2o_linklist_t *batch, const char *cancel_reason)
{
    while (!h2o_linklist_is_empty(batch)) {
        up_job_t *job = H2O_STRUCT_FROM_MEMBER(up_job_t, _pending, batch->next);
        h2o_linklist_unlink(&job->_pending);
        if (cancel_reason != NULL)
            finish_job(up, job, CURLE_ABORTED_BY_CALLBACK, cancel_reason);
        else
            start_job(up, job);
    }
}

/* Drops the transfers up_cancel() flagged; scans only when some cancel happened since last time. */
static void reap_cancelled(up_t *up, const char *cancel_reason)
{
    unsigned aborts = atomic_load(&up->aborts);
    h2o_linklist_t *node, *next;

    if (aborts == up->aborts_seen && cancel_reason == NULL)
        return;
    up->aborts_seen = aborts;
    for (node = up->inflight.next; node != &up->inflight; node = next) {
        up_job_t *job = H2O_STRUCT_FROM_MEMBER(up_job_t, _inflight, node);
        next = node->next;
        if (cancel_reason != NULL || atomic_load(&job->_abort))
            finish_job(up, job, CURLE_ABORTED_BY_CALLBACK, cancel_reason);
    }
}

/* Unpauses the transfers whose reader has caught up; scans only when some ack asked for it. */
static void resume_paused(up_t *up)
{
    unsigned resumes = atomic_load(&up->resumes);
    h2o_linklist_t *node, *next;

    if (resumes == up->resumes_seen)
        return;
    up->resumes_seen = resumes;
    for (node = up->inflight.next; node != &up->inflight; node = next) {
        up_job_t *job = H2O_STRUCT_FROM_MEMBER(up_job_t, _inflight, node);
        CURLcode cc;
        next = node->next;
        if (!job->_curl_paused || atomic_load(&job->_unacked) > up->stream_window / 2)
            continue;
        /* Cleared first: curl may hand the kept bytes over (and be paused again) inside the call. */
        job->_curl_paused = false;
        atomic_store(&job->_paused, 0);
        if (job->_h1 != NULL) {
            h1_resume(job->_h1);
            continue;
        }
        cc = curl_easy_pause(job->_easy, CURLPAUSE_CONT);
        /* A failure there (e.g. the cap hit while delivering) is not reported through the multi. */
        if (cc != CURLE_OK)
            finish_job(up, job, cc, NULL);
    }
}

/* libcurl refuses an answer whose head holds a NUL byte ("Nul byte in header"), and influxd sends one whenever its
 * error text quotes a name holding a NUL (X-Influxdb-Error: ... measurement "a<NUL>b"): a valid line can make it. Taken
 * for a backend that cannot be reached, such a refusal would have its write queued and replayed for ever, and the
 * backend kept out of queries while it replays. So when curl ends a transfer that way after the status line came, the
 * request is sent once more on the lean client, which reads such heads; every request the proxy sends may be sent
 * twice (a write stores the same points again). Without the lean client (thread mode, https://) classify() takes a
 * 4xx or 5xx status as the answer. True when the job runs again. */
static bool retry_on_h1(up_t *up, up_job_t *job)
{
    long status = 0;

    curl_easy_getinfo(job->_easy, CURLINFO_RESPONSE_CODE, &status);
    if (up->h1 == NULL || job->_h1_retried || job->_head_sent || job->_streamed != 0 || job->_too_large ||
        atomic_load(&job->_abort) || status < 100)
        return false;
    release_easy(up, job);
    h2o_linklist_unlink(&job->_inflight);
    clear_headers(job);
    job->res.body_len = 0;
    job->_h1_retried = true;
    if (!start_h1(up, job, true)) {
        job->res.status = (int)status; /* classify() takes it for the answer */
        finish_job(up, job, CURLE_WEIRD_SERVER_REPLY, NULL);
    }
    return true;
}

static void reap_done(up_t *up)
{
    for (;;) {
        int left;
        CURLMsg *msg = curl_multi_info_read(up->multi, &left);
        CURL *e;
        CURLcode cc;
        char *job = NULL;
        if (msg == NULL)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;
        /* msg dies with curl_multi_remove_handle(): copy first */
        e = msg->easy_handle;
        cc = msg->data.result;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &job);
        if (cc == CURLE_WEIRD_SERVER_REPLY && retry_on_h1(up, (up_job_t *)job))
            continue;
        finish_job(up, (up_job_t *)job, cc, NULL);
    }
}

static void *worker_main(void *arg)
{
    up_t *up = arg;
    h2o_linklist_t batch;
    int running;

    h2o_linklist_init_anchor(&batch);
    for (;;) {
        if (take_pending(up, &batch))
            break;
        start_batch(up, &batch, NULL);
        reap_cancelled(up, NULL);
        resume_paused(up);
        curl_multi_perform(up->multi, &running);
        reap_done(up);
        curl_multi_poll(up->multi, NULL, 0, POLL_MS, NULL);
    }
    start_batch(up, &batch, "shutdown");
    reap_cancelled(up, "shutdown");
    return NULL;
}

/* ---- loop mode: curl driven by the h2o loop ------------------------------------------------- */

/* Lets curl act on @fd (or on its timeouts), then takes the transfers that ended. */
static void drive(up_t *up, curl_socket_t fd, int ev)
{
    int running;

    curl_multi_socket_action(up->multi, fd, ev, &running);
    reap_done(up);
}

static void on_sock_readable(h2o_socket_t *sock, const char *err)
{
    up_sock_t *us = sock->data;

    if ((us->what & CURL_POLL_IN) == 0) {
        /* still registered (see on_curl_socket) but curl is not reading: an idle connection the server closed, or
         * bytes nobody asked for; curl sees either when it next uses the connection */
        h2o_socket_read_stop(sock);
        return;
    }
    drive(us->up, us->fd, CURL_CSELECT_IN | (err != NULL ? CURL_CSELECT_ERR : 0));
}

static void on_sock_writable(h2o_socket_t *sock, const char *err)
{
    up_sock_t *us = sock->data;

    us->write_armed = false;
    if (us->what == 0)
        return; /* armed before curl stopped watching the socket */
    drive(us->up, us->fd, CURL_CSELECT_OUT | (err != NULL ? CURL_CSELECT_ERR : 0));
    /* The notification is one-shot: ask again while curl still wants to write (unless it removed the socket). */
    if (us->sock != NULL && (us->what & CURL_POLL_OUT) != 0 && !us->write_armed) {
        us->write_armed = true;
        h2o_socket_notify_write(us->sock, on_sock_writable);
    }
}

/* The owned-socket slot of @fd, growing the table; NULL for a descriptor out of any sane range. */
static up_sock_t **owned_slot(up_t *up, curl_socket_t fd, bool grow)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= up->owned_cap) {
        size_t cap = up->owned_cap != 0 ? up->owned_cap : 64;
        if (!grow || fd > 1 << 24)
            return NULL;
        while (cap <= (size_t)fd)
            cap *= 2;
        up_sock_t **t = realloc(up->owned, cap * sizeof(*t));
        if (t == NULL)
            abort();
        memset(t + up->owned_cap, 0, (cap - up->owned_cap) * sizeof(*t));
        up->owned = t;
        up->owned_cap = cap;
    }
    return &up->owned[fd];
}

static up_sock_t *sock_new(up_t *up, curl_socket_t fd, int wrapfd, bool owned)
{
    up_sock_t *us = calloc(1, sizeof(*us));

    if (us == NULL)
        abort();
    us->up = up;
    us->fd = fd;
    us->owned = owned;
    us->sock = h2o_evloop_socket_create(up->loop, wrapfd, H2O_SOCKET_FLAG_DONT_READ);
    us->sock->data = us;
    return us;
}

/* Closes the h2o socket (and the descriptor it wraps); the struct is freed by on_kick(), since a callback of this
 * socket may be on the stack. */
static void sock_retire(up_sock_t *us)
{
    up_t *up = us->up;

    h2o_socket_close(us->sock);
    us->sock = NULL;
    h2o_linklist_insert(&up->dead, &us->_dead);
    wake(up);
}

/* CURLOPT_OPENSOCKETFUNCTION: connection sockets are made here so that we know them when curl closes them. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    up_t *up = clientp;
    up_sock_t **slot;
    int fd;

    (void)purpose;
    fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    slot = owned_slot(up, fd, true);
    if (slot != NULL && *slot != NULL) { /* a descriptor closed behind our back (cannot happen): forget it */
        (*slot)->owned = false;
        *slot = NULL;
    }
    if (slot != NULL)
        *slot = sock_new(up, fd, fd, true);
    return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
    up_t *up = clientp;
    up_sock_t **slot = owned_slot(up, fd, false);

    if (slot != NULL && *slot != NULL) {
        up_sock_t *us = *slot;
        *slot = NULL;
        sock_retire(us); /* closes fd */
        return 0;
    }
    return close(fd);
}

/* CURLMOPT_SOCKETFUNCTION. Never calls into curl: it only changes what the loop watches. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    up_t *up = userp;
    up_sock_t *us = socketp;

    (void)easy;
    if (us == NULL) {
        up_sock_t **slot = owned_slot(up, fd, false);
        if (slot != NULL)
            us = *slot;
    }
    if (what == CURL_POLL_REMOVE) {
        if (us == NULL)
            return 0;
        if (us->owned) {
            /* Idle in curl's cache, or about to be closed: keep the wrapper and its epoll registration (the next
             * transfer on this connection would only add it again: two system calls per transfer);
             * on_sock_readable() drops the registration if the socket turns readable while idle. */
            us->what = 0;
        } else {
            sock_retire(us); /* closes the dup */
        }
        return 0;
    }
    if (us == NULL) { /* not a connection (e.g. the resolver's): watch a dup, as curl closes it without us */
        int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (dupfd < 0)
            return -1; /* out of descriptors: curl fails the transfers of this multi handle */
        us = sock_new(up, fd, dupfd, false);
    }
    curl_multi_assign(up->multi, fd, us);
    us->what = what;
    /* Not reading is left registered too (on_sock_readable() stops it if it fires meanwhile): curl asks for OUT only
     * while it sends a request, and IN again right after. */
    if ((what & CURL_POLL_IN) != 0 && !h2o_socket_is_reading(us->sock))
        h2o_socket_read_start(us->sock, on_sock_readable);
    if ((what & CURL_POLL_OUT) != 0 && !us->write_armed) {
        us->write_armed = true;
        h2o_socket_notify_write(us->sock, on_sock_writable);
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION. Never calls into curl: a 0 ms timeout is served by on_kick(), others by the timerfd.
 * Curl moves its timeout several times per transfer; the timerfd is only ever moved earlier, which saves a
 * syscall each time curl moves the deadline later or deletes it. Going off early is harmless: curl finds nothing
 * expired, and after every CURL_SOCKET_TIMEOUT action it reports its next deadline again. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    up_t *up = userp;
    uint64_t deadline;
    struct itimerspec its;

    (void)multi;
    up->timer_due = timeout_ms == 0;
    if (up->timer_due) {
        wake(up);
        return 0;
    }
    if (timeout_ms < 0)
        return 0;
    deadline = h2o_now(up->loop) + (uint64_t)timeout_ms;
    if (up->timer_at != 0 && up->timer_at <= deadline)
        return 0;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = timeout_ms / 1000;
    its.it_value.tv_nsec = (timeout_ms % 1000) * 1000000L;
    timerfd_settime(up->timer_fd, 0, &its, NULL);
    up->timer_at = deadline;
    return 0;
}

static void on_timerfd(h2o_socket_t *sock, const char *err)
{
    up_t *up = sock->data;
    uint64_t expirations;

    (void)err;
    if (read(up->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN && errno != EINTR)
        return;
    up->timer_at = 0;
    drive(up, CURL_SOCKET_TIMEOUT, 0);
}

static void free_dead_socks(up_t *up)
{
    while (!h2o_linklist_is_empty(&up->dead)) {
        up_sock_t *us = H2O_STRUCT_FROM_MEMBER(up_sock_t, _dead, up->dead.next);
        h2o_linklist_unlink(&us->_dead);
        free(us);
    }
}

/* Hands the posted messages to their callbacks, in order. Callbacks may submit, cancel and ack: that only queues
 * work for the next on_kick(). */
static void deliver_ready(up_t *up)
{
    h2o_linklist_t msgs;

    h2o_linklist_init_anchor(&msgs);
    h2o_linklist_insert_list(&msgs, &up->ready);
    up_receiver_cb(NULL, &msgs);
}

/* What the worker thread's loop body does, run from the loop when wake() asked for it; then delivery. */
static void on_kick(h2o_timeout_entry_t *entry)
{
    up_t *up = H2O_STRUCT_FROM_MEMBER(up_t, kick, entry);
    h2o_linklist_t batch;

    h2o_linklist_init_anchor(&batch);
    if (up->timer_due) {
        up->timer_due = false;
        drive(up, CURL_SOCKET_TIMEOUT, 0);
    }
    start_batch(up, &batch, take_pending(up, &batch) ? "shutdown" : NULL);
    reap_cancelled(up, NULL);
    resume_paused(up);
    reap_done(up);
    free_dead_socks(up);
    deliver_ready(up);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static void up_free(up_t *up)
{
    while (up->nspare != 0)
        curl_easy_cleanup(up->spare[--up->nspare]);
    free(up->owned);
    pthread_mutex_destroy(&up->mutex);
    free(up->user_agent);
    free(up);
}

/* The multi handle and the settings, without the worker or the loop hooks. */
static up_t *up_alloc(const up_opts_t *opts)
{
    static const up_opts_t defaults;
    up_t *up;

    if (opts == NULL)
        opts = &defaults;
    up = calloc(1, sizeof(*up));
    if (up == NULL)
        abort();
    pthread_mutex_init(&up->mutex, NULL);
    h2o_linklist_init_anchor(&up->pending);
    h2o_linklist_init_anchor(&up->inflight);
    h2o_linklist_init_anchor(&up->ready);
    h2o_linklist_init_anchor(&up->dead);
    up->timer_fd = -1;
    atomic_init(&up->aborts, 0);
    atomic_init(&up->resumes, 0);
    up->stream_window = opts->stream_window != 0 ? opts->stream_window : UP_DEFAULT_STREAM_WINDOW;
    up->connect_timeout_ms = opts->connect_timeout_ms;
    up->max_idle_age_s = opts->max_idle_age_s;
    up->user_agent = strdup(opts->user_agent != NULL ? opts->user_agent : "influxdb-proxy");
    if (up->user_agent == NULL)
        abort();
    up->multi = curl_multi_init();
    if (up->multi == NULL) {
        up_free(up);
        return NULL;
    }
    up->max_host_connections =
        opts->max_host_connections > 0 ? opts->max_host_connections : DEFAULT_MAX_HOST_CONNECTIONS;
    curl_multi_setopt(up->multi, CURLMOPT_MAX_HOST_CONNECTIONS, up->max_host_connections);
    if (opts->max_total_connections > 0)
        curl_multi_setopt(up->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, opts->max_total_connections);
    /* curl's default cache (4 per transfer in the handle) shrinks as transfers end, closing connections that the
     * next burst has to open again: keep room for every connection the per-host limit allows to a few hosts */
    curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS,
                      opts->max_idle_connections > 0 ? opts->max_idle_connections : DEFAULT_MAX_IDLE);
    return up;
}

up_t *up_create(const up_opts_t *opts)
{
    up_t *up = up_alloc(opts);

    if (up == NULL)
        return NULL;
    if (pthread_create(&up->thread, NULL, worker_main, up) != 0) {
        curl_multi_cleanup(up->multi);
        up_free(up);
        return NULL;
    }
    return up;
}

up_t *up_create_on_loop(h2o_loop_t *loop, const up_opts_t *opts)
{
    up_t *up = up_alloc(opts);

    if (up == NULL)
        return NULL;
    up->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (up->timer_fd < 0) {
        curl_multi_cleanup(up->multi);
        up_free(up);
        return NULL;
    }
    up->loop = loop;
    h2o_timeout_init(loop, &up->zero, 0);
    up->kick.cb = on_kick;
    up->timer_sock = h2o_evloop_socket_create(loop, up->timer_fd, H2O_SOCKET_FLAG_DONT_READ);
    up->timer_sock->data = up;
    h2o_socket_read_start(up->timer_sock, on_timerfd);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
    h1_opts_t ho = {
        .max_host_connections = (size_t)up->max_host_connections,
        .connect_timeout_ms = up->connect_timeout_ms > 0 ? (uint32_t)up->connect_timeout_ms : 0,
        .max_idle_ms = up->max_idle_age_s > 0 ? (uint64_t)up->max_idle_age_s * 1000 : 0,
        .getaddr_receiver = opts != NULL ? opts->getaddr_receiver : NULL,
    };
    up->h1 = h1_ctx_new(loop, &ho);
    up->h1_bulk = h1_ctx_new(loop, &ho);
    return up;
}

/* Loop mode: every job still queued or in flight ends UP_CANCELLED ("shutdown") and its callback runs now. Callbacks
 * that submit more get those cancelled too; after MAX_DESTROY_ROUNDS of that, what is left is freed unseen, as for a
 * cancelled job. */
#define MAX_DESTROY_ROUNDS 64
static void destroy_on_loop(up_t *up)
{
    for (int round = 0;; round++) {
        h2o_linklist_t batch;
        h2o_linklist_init_anchor(&batch);
        take_pending(up, &batch);
        start_batch(up, &batch, "shutdown");
        reap_cancelled(up, "shutdown");
        if (h2o_linklist_is_empty(&up->ready))
            break;
        if (round == MAX_DESTROY_ROUNDS) {
            for (h2o_linklist_t *n = up->ready.next; n != &up->ready; n = n->next) {
                up_job_t *job = H2O_STRUCT_FROM_MEMBER(struct st_up_msg_t, _super.link, n)->_job;
                job->cb = NULL;
                job->_on_head = NULL;
                job->_on_chunk = NULL;
            }
        }
        deliver_ready(up);
    }
    curl_multi_cleanup(up->multi); /* may still report sockets removed and closed */
    up->multi = NULL;
    h1_ctx_free(up->h1); /* every job is finished: only pooled connections are left */
    h1_ctx_free(up->h1_bulk);
    up->h1 = up->h1_bulk = NULL;
    if (h2o_timeout_is_linked(&up->kick))
        h2o_timeout_unlink(&up->kick);
    h2o_timeout_dispose(up->loop, &up->zero);
    free_dead_socks(up);
    h2o_socket_read_stop(up->timer_sock);
    h2o_socket_close(up->timer_sock); /* closes timer_fd */
}

void up_destroy(up_t *up)
{
    pthread_mutex_lock(&up->mutex);
    up->stopping = true;
    pthread_mutex_unlock(&up->mutex);
    if (up->loop != NULL) {
        destroy_on_loop(up);
    } else {
        curl_multi_wakeup(up->multi);
        pthread_join(up->thread, NULL);
        curl_multi_cleanup(up->multi);
    }
    assert(h2o_linklist_is_empty(&up->inflight));
    assert(h2o_linklist_is_empty(&up->pending));
    up_free(up);
}

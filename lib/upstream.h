/*
 * upstream — HTTP client for the InfluxDB backends (layer 2): libcurl's multi interface, either on
 * one worker thread with results delivered to the submitting h2o loop thread (up_create), or driven
 * by one h2o loop itself (up_create_on_loop; the daemon runs one such client per loop thread).
 * The two modes share the API, the job life cycle and every guarantee below; the text describes the
 * worker mode, and up_create_on_loop() says what differs.
 *
 * DESIGN
 * A loop thread builds an up_job_t with up_job_new(), which copies everything the transfer needs
 * (URL, extra headers, body, credentials) into one allocation, and hands it to up_submit(). The job
 * is linked to a mutex-protected pending list and the worker is woken with curl_multi_wakeup().
 * The worker owns the only CURLM and every CURL easy handle (they never leave its thread), so all
 * transfers share one connection cache: keep-alive connections to a backend are reused across
 * jobs and loops. When a transfer ends, the worker fills in job->res and posts the job as an
 * h2o_multithread message to the receiver the submitter named; up_receiver_cb() then runs on that
 * loop, calls job->cb and frees the job. The receiver, never the submitter, frees a submitted job.
 *
 * Program start must call curl_global_init(CURL_GLOBAL_DEFAULT) once, before any up_create(), and
 * curl_global_cleanup() after the last up_destroy(); this module never calls either (they are not
 * thread-safe and belong to main()).
 *
 * STREAMING: a request with on_chunk set does not accumulate the body in res.body; the worker posts
 * it to the receiver as chunk messages (one allocation each, holding the bytes curl handed over, at
 * most CURL_MAX_WRITE_SIZE = 16 KiB) and the loop gets them through on_chunk, in order. on_head, if
 * set, runs first, once the status line and headers of the final answer are complete (it may also
 * be used without on_chunk, to look at the status before a buffered body arrives). The completion
 * callback runs last, exactly once, as in buffered mode. Flow control: the client counts the bytes
 * posted and not yet acknowledged with up_stream_ack(); once another chunk would take that past
 * up_opts_t.stream_window, the worker pauses the transfer (curl keeps the chunk and hands it over
 * again later), so at most max(window, 16 KiB) bytes of one job wait on the loop side. When the loop
 * acknowledges enough that at most half the window is outstanding, the worker is woken to resume it.
 * Messages of one job arrive in this order: head, chunks, completion; all on the receiver's loop.
 *
 * LEAN CLIENT: in loop mode, a job with use_h1 and an http:// URL runs on h1client (h1client.h) instead of curl:
 * the same life cycle, messages, caps, flow control and cancel rules; only the connections differ (h1client keeps
 * its own keep-alive pools per origin, one for bulk jobs and one for the others, each under the same
 * max_host_connections and idle age as curl's).
 *
 * Typical use (a handler passing an answer through with h2o_send(); one send in flight at a time):
 *   on_head:  look at job->res.status; on 5xx up_cancel(job) and fail over, else h2o_start_response
 *   on_chunk: append the bytes to the request's own buffer; if no send is in flight, h2o_send it
 *   proceed:  up_stream_ack(job, bytes just sent); send what was buffered meanwhile, if anything
 *   cb:       note the end; h2o_send(..., H2O_SEND_STATE_FINAL) once the buffer is drained
 */
#ifndef IP_UPSTREAM_H
#define IP_UPSTREAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <h2o/linklist.h>
#include <h2o/multithread.h>
#include <h2o/socket.h>
#include <h2o/timeout.h>

typedef struct st_up_t up_t;
typedef struct st_up_job_t up_job_t;

/* Called on the loop thread of the job's receiver with the finished job. The job (and every
 * pointer in job->res) is freed as soon as the callback returns, unless taken with
 * up_job_take_body(). */
typedef void (*up_cb)(up_job_t *job, void *cbdata);

/* Streaming, on the loop thread of the receiver, before the completion callback. Inside them only
 * job->res.status, content_type, content_encoding and influx_error may be read (the worker may still
 * be writing the other fields). Both may call up_cancel(job): nothing is called for the job after
 * that. @data is valid only during the call. */
typedef void (*up_head_cb)(up_job_t *job, void *cbdata);
typedef void (*up_chunk_cb)(up_job_t *job, void *cbdata, const char *data, size_t len);

typedef enum en_up_method_t { UP_GET, UP_HEAD, UP_POST } up_method_t;

/* How a transfer ended, as the write and query paths need it (SPEC §6 stored/refused/unreachable). */
typedef enum en_up_class_t {
    UP_OK,          /* the backend answered 2xx */
    UP_REFUSED,     /* the backend answered, with any non-2xx status (res.status) */
    UP_UNREACHABLE, /* no complete answer: connect error, timeout (res.timed_out), reset, bad TLS... */
    UP_CANCELLED,   /* up_cancel() or up_destroy() stopped it; only seen by callbacks after up_destroy */
    UP_TOO_LARGE    /* the response body exceeded up_req_t.max_response; the transfer was aborted */
} up_class_t;

#define UP_DEFAULT_MAX_RESPONSE (64u * 1024 * 1024)
/* Copied response header values longer than this are truncated. */
#define UP_MAX_HEADER_VALUE 4096
#define UP_MESSAGE_SIZE 256 /* = CURL_ERROR_SIZE */
#define UP_DEFAULT_STREAM_WINDOW (1024u * 1024)

/* Options of one client; zero means "default" for every field. */
typedef struct st_up_opts_t {
    long max_host_connections;  /* per host:port; further transfers wait for a free one (default 16) */
    long max_total_connections; /* all hosts (default 0 = unlimited) */
    long max_idle_connections;  /* size of the keep-alive cache (default 256) */
    long connect_timeout_ms;    /* cap on the connect phase; never longer than the job's timeout */
    long max_idle_age_s;        /* close cached connections idle for longer (default 118, curl's) */
    const char *user_agent;     /* copied; default "influxdb-proxy" */
    size_t stream_window;       /* streaming: unacknowledged bytes per job before pausing (default 1 MiB) */
    /* Loop mode: h2o_hostinfo_getaddr_receiver registered on the loop (h2o_context_t.receivers.hostinfo_getaddr),
     * which lets jobs with use_h1 reach backends by name; without it only numeric hosts take that path. */
    h2o_multithread_receiver_t *getaddr_receiver;
} up_opts_t;

/* Everything one request needs. Only borrowed here: up_job_new() copies all of it. */
typedef struct st_up_req_t {
    up_method_t method;
    const char *url;            /* absolute http:// or https:// URL, query string included */
    const char *const *headers; /* num_headers extra "Name: value" lines, no CR/LF */
    size_t num_headers;
    const void *body; /* POST only; may be NULL when body_len is 0 */
    size_t body_len;
    const h2o_iovec_t *body_parts; /* or the body in pieces, copied back to back (body must then be NULL/0) */
    size_t num_body_parts;
    uint32_t timeout_ms;                  /* whole transfer, queueing for a connection included; 0 = none */
    const char *username;                 /* NULL = no Basic auth */
    const char *password;                 /* NULL = "" */
    bool insecure;                        /* https: skip certificate and host name verification */
    bool gzip;                            /* gzip the body and send Content-Encoding: gzip */
    size_t max_response;                  /* body cap, bytes; 0 = default (streaming: no cap); clamped to SIZE_MAX/4 */
    h2o_multithread_receiver_t *receiver; /* registered with up_receiver_cb on the submitter's loop */
    up_cb cb;                             /* may be NULL: the result is dropped */
    void *cbdata;                         /* passed to cb, on_head and on_chunk */
    /* Streaming (see STREAMING above); both optional. With on_chunk set, a non-zero max_response caps
     * the total streamed: the transfer ends UP_TOO_LARGE after the chunks delivered up to the cap
     * (or before any, if Content-Length announces more). A 0 means no cap: the window bounds memory.
     * timeout_ms still bounds the whole transfer, the time spent paused for a slow reader included. */
    up_head_cb on_head;
    up_chunk_cb on_chunk;
    /* Loop mode and an http:// URL: run the transfer on the loop's own lean HTTP/1.1 client (h1client.h) instead
     * of curl, with the same results, limits and guarantees (max_host_connections and the idle age are per
     * client, for each of the two connection pools). For requests where curl's per-transfer work is a large share
     * of the cost: queries, and the daemon's writes. Ignored otherwise: curl runs the job. */
    bool use_h1;
    /* With use_h1: the transfer takes a connection of the lean client's second pool, which has the same limits.
     * For writes, so that a burst of them never holds every connection a query to the same backend waits for. */
    bool bulk;
    /* With use_h1: the backend sends the answer's head before its body is ready (influxd's /query); the loop is
     * woken once per such answer, not once for each (h1_request_t.head_before_body). */
    bool head_before_body;
} up_req_t;

/* Results, valid inside the callback. Strings are NUL-terminated and owned by the job. */
typedef struct st_up_result_t {
    up_class_t klass;
    int status;                    /* final HTTP status; 0 if none was received */
    int curl_code;                 /* CURLcode of the transfer (0 = CURLE_OK); for use_h1, curl's code for the
                                    * same failure (COULDNT_CONNECT, OPERATION_TIMEDOUT, RECV_ERROR...) */
    bool timed_out;                /* UNREACHABLE because timeout_ms elapsed */
    char message[UP_MESSAGE_SIZE]; /* "" for OK; otherwise a human message: "Failed to connect to
                                    * 127.0.0.1 port 9 ...: Connection refused", "HTTP 400: database
                                    * not found: \"x\"", "response larger than 1024 bytes", ... */
    char *body;                    /* never NULL (at least "", always so when streaming); body_len bytes plus a NUL */
    size_t body_len;
    char *content_type; /* copied header values, NULL when absent */
    char *content_encoding;
    char *influx_error; /* X-Influxdb-Error */
    uint64_t total_us;  /* whole transfer time in microseconds */
} up_result_t;

struct st_up_job_t {
    /* Public: set by up_job_new() from the request; cb may be read or written only on the loop
     * thread of the receiver (up_cancel() clears it). */
    up_cb cb;
    void *cbdata;
    /* Public: filled by the worker before the callback; read only inside the callback. */
    up_result_t res;

    /* Private. */
    struct st_up_msg_t {
        h2o_multithread_message_t _super;
        up_job_t *_job;
        int _kind; /* HEAD, CHUNK, DONE (see upstream.c) */
    } _msg, _head_msg;
    h2o_multithread_receiver_t *_receiver;
    up_head_cb _on_head;      /* loop-only; cleared by up_cancel() */
    up_chunk_cb _on_chunk;    /* loop-only; cleared by up_cancel() */
    atomic_size_t _unacked;   /* streaming: bytes posted as chunks, not yet passed to up_stream_ack() */
    atomic_int _paused;       /* streaming: set by the worker while the transfer is paused for the window */
    h2o_linklist_t _pending;  /* up->_pending, under up's mutex */
    h2o_linklist_t _inflight; /* worker-only list of transfers in curl */
    up_t *_up;
    atomic_int _state;  /* NEW, PENDING, ACTIVE, DONE (see upstream.c) */
    atomic_int _abort;  /* set by up_cancel() while the worker has the transfer */
    void *_easy;        /* CURL *, worker-only */
    void *_h1;          /* h1_xfer_t * of a use_h1 job, loop mode */
    char *_h1_headers;  /* the header lines it sends */
    uint64_t _start_us; /* use_h1: when the transfer started (res.total_us) */
    void *_slist;       /* struct curl_slist *, worker-only */
    bool _too_large;
    bool _h1_retried;  /* worker-only: curl could not read the answer's head, the lean client was asked again */
    bool _head_sent;   /* worker-only: _head_msg posted; the header fields are the loop's now */
    bool _curl_paused; /* worker-only: paused for the window (curl's write callback returned CURL_WRITEFUNC_PAUSE,
                        * or h1client's on_body H1_PAUSE) */
    size_t _streamed;  /* worker-only: bytes posted as chunks */
    struct {
        up_method_t method;
        const char *url;
        const char *headers; /* num_headers NUL-terminated strings, back to back */
        size_t num_headers;
        const char *body;
        size_t body_len;
        uint32_t timeout_ms;
        const char *username, *password;
        bool insecure, gzip;
        size_t max_response;
        size_t body_cap;          /* allocated size of res.body */
        bool has_head, streaming; /* on_head / on_chunk were set: read by the worker */
        bool use_h1, bulk, head_before_body;
    } _req;
};

/* Starts a client: one CURLM and its worker thread. Returns NULL if the thread or the multi handle
 * cannot be created. curl_global_init() must have been called. Any thread. */
up_t *up_create(const up_opts_t *opts);

/* Starts a client whose transfers run on @loop itself (no worker thread): curl's sockets are watched by the loop
 * (connection sockets are opened and closed through it), its timeouts by a timerfd, and results are delivered from a 0
 * ms timeout of the loop, outside any curl call, in the same order and with the same guarantees as in thread mode.
 * Every function taking this client or one of its jobs must then be called on @loop's thread, and up_destroy() too
 * (it runs the callbacks of the jobs it cancels at once). The receiver of a job is not used, but must still be set.
 * Returns NULL if the multi handle or the timerfd cannot be created. */
up_t *up_create_on_loop(h2o_loop_t *loop, const up_opts_t *opts);

/* Stops the worker and frees the client. Every job not yet finished (queued or in flight) is
 * finished with UP_CANCELLED, message "shutdown", and posted to its receiver like any result, so
 * its callback still runs (unless it was cancelled) when that loop next processes its queue: keep
 * running the loops, and keep the receivers registered, until those callbacks have arrived.
 * Chunks a streaming job had posted before are still delivered first. Must not run concurrently
 * with up_submit(), up_cancel() or up_stream_ack() on any thread. Blocks until the worker
 * has exited (in-flight transfers are aborted, not awaited). */
void up_destroy(up_t *up);

/* Copies @req into a new job (one allocation; the body is gzipped here when req->gzip, so the
 * compression cost stays on the submitting loop). Returns NULL and writes a message into @err
 * (cap @errlen) if @req is invalid: no URL, no receiver, CR or LF in the URL or a header, a header
 * without ':', a body on GET/HEAD. The caller owns the job until up_submit(); up_job_free() frees an
 * unsubmitted one. Out of memory aborts. Any thread. */
up_job_t *up_job_new(const up_req_t *req, char *err, size_t errlen);

/* Frees a job that was never submitted; never call it on a submitted job (the receiver frees
 * those). */
void up_job_free(up_job_t *job);

/* Takes ownership of @job and queues it. Its callback runs exactly once on the receiver's loop,
 * unless up_cancel() is called first. Any thread; normally the loop thread of job's receiver. */
void up_submit(up_t *up, up_job_t *job);

/* Abandons a submitted job whose callback has not run yet, on the loop thread of its receiver: the
 * callback will never be called and the job is freed (at once if the worker had not taken it yet,
 * otherwise by the receiver once the worker lets go; an in-flight transfer is aborted promptly, a
 * paused one included). Neither on_head nor on_chunk is called afterwards, even for chunks already
 * queued to the receiver (they are freed unseen). It may be called from inside the job's own
 * on_head or on_chunk. On a job never submitted it is up_job_free(). The caller must not use @job
 * afterwards. Never call it from inside the job's completion callback or after it. */
void up_cancel(up_job_t *job);

/* Streaming: acknowledges @nbytes of the chunks delivered to on_chunk as consumed (normally once the
 * client connection has taken them), which lets a paused transfer go on. The total acknowledged must
 * not exceed the total delivered. On the loop thread of the job's receiver, from on_chunk or any
 * time after it until the completion callback returns (not after up_cancel()). Never blocks; at most
 * wakes the worker. Acknowledging is optional once the completion callback has run. */
void up_stream_ack(up_job_t *job, size_t nbytes);

/* The h2o receiver callback: pass it to h2o_multithread_register_receiver() on each loop that
 * submits jobs. It delivers heads and chunks of streaming jobs to on_head/on_chunk and, for each
 * finished job, calls job->cb (if not NULL) and frees the job. */
void up_receiver_cb(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* Inside the callback: takes the response body (free() it); *len receives its length. The job keeps
 * an empty body. */
char *up_job_take_body(up_job_t *job, size_t *len);

/* "ok", "refused", "unreachable", "cancelled", "too large". */
const char *up_class_str(up_class_t klass);

#endif

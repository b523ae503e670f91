/*
 * h1client — plain HTTP/1.1 exchanges on an h2o loop (layer 2), with a keep-alive pool per origin.
 *
 * DESIGN
 * A lean client for the transfers where curl's per-transfer work (easy-handle setup, its own poll()
 * calls, connection-cache bookkeeping, header callbacks line by line) is a large share of the cost:
 * queries and writes to an InfluxDB backend over http://, on the loop that received the client's
 * request. It does only what that needs: one request at a time per connection (no
 * pipelining), Content-Length or chunked bodies, or bodies up to the close; the connection goes back
 * to its origin's pool when the answer was complete and the server did not ask to close. Sockets are
 * h2o sockets of the loop; an idle pooled connection stays registered for reading, and one that turns
 * readable while idle (the server closed it) is closed at once, so a checkout never finds a stale one
 * it could know about. A request that fails on a reused connection before any byte of the answer
 * arrived is sent once more on a new connection, as curl does. Host names are resolved with h2o's
 * resolver threads (a getaddr receiver on the loop); without a receiver only numeric hosts are served.
 *
 * Every callback runs from the loop's socket or timeout events, never from inside h1_start(),
 * h1_resume() or h1_abort(). A transfer ends with exactly one on_done call, unless h1_abort() came
 * first; after on_done (or h1_abort) the caller must not use the transfer again. An answer given up
 * after its head with a small framed rest (a failover on a 5xx) is read to its end on the side, for a
 * second at most, so that its connection serves again instead of being closed.
 */
#ifndef IP_H1CLIENT_H
#define IP_H1CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <h2o/multithread.h>
#include <h2o/socket.h>

typedef struct st_h1_ctx_t h1_ctx_t;
typedef struct st_h1_xfer_t h1_xfer_t;

typedef struct st_h1_opts_t {
    size_t max_host_connections; /* open connections per origin; further transfers wait (default 16) */
    uint32_t connect_timeout_ms; /* cap on connecting; 0 = only the transfer's own timeout */
    uint64_t max_idle_ms;        /* pooled connections idle longer are closed at checkout (default 118 s) */
    h2o_multithread_receiver_t *getaddr_receiver; /* h2o_hostinfo_getaddr_receiver on the loop, or NULL */
} h1_opts_t;

/* One response header, a slice of the connection's input: valid only during on_head. */
typedef struct st_h1_header_t {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} h1_header_t;

typedef enum en_h1_code_t {
    H1_OK,             /* the whole answer was received */
    H1_RESOLVE_FAILED, /* the host name has no address */
    H1_CONNECT_FAILED, /* connecting failed (every address of the name) */
    H1_TIMEOUT,        /* the transfer's timeout (or the connect timeout) elapsed */
    H1_IO_ERROR,       /* the connection failed or closed before the answer was complete */
    H1_BAD_RESPONSE,   /* the answer is not HTTP/1.x as we know it */
    H1_ABORTED         /* a callback returned H1_STOP */
} h1_code_t;

enum { H1_GO_ON = 0, H1_PAUSE = 1, H1_STOP = -1 };
/* on_body never gets more bytes at once (curl's CURL_MAX_WRITE_SIZE: callers may count on it). */
#define H1_MAX_PIECE 16384

typedef struct st_h1_handlers_t {
    /* The head of the final answer (1xx are skipped). Returns H1_GO_ON or H1_STOP. */
    int (*on_head)(void *data, int status, const h1_header_t *headers, size_t num_headers);
    /* Bytes of the body, de-chunked, at most H1_MAX_PIECE at a time. H1_GO_ON: consumed. H1_PAUSE: not consumed;
     * reading stops and the same bytes (and maybe more) are offered again after h1_resume(). H1_STOP: end with
     * H1_ABORTED. */
    int (*on_body)(void *data, const char *bytes, size_t len);
    /* The end: @message is "" for H1_OK, else a human message ("Failed to connect to 10.0.0.1 port 8086:
     * Connection refused"). */
    void (*on_done)(void *data, h1_code_t code, const char *message);
} h1_handlers_t;

typedef struct st_h1_request_t {
    const char *method;  /* "GET", "HEAD", "POST" */
    const char *url;     /* http://host[:port][/path][?query] */
    h2o_iovec_t headers; /* extra header lines, each ending in CRLF; borrowed until on_done / h1_abort */
    h2o_iovec_t body;    /* borrowed until on_done / h1_abort */
    bool has_body;       /* send Content-Length (POST), even for an empty body */
    uint32_t timeout_ms; /* whole transfer, waiting for a connection included; 0 = none */
    /* The server sends the answer's head as soon as it takes the request and the body when it has it (influxd's
     * /query): the client then sleeps until the answer is as long as the shortest whole answer the origin gave such
     * a request, rather than waking for the head alone and again for the body (SO_RCVLOWAT; an answer shorter
     * than that is read at most H1_LOWAT_MS late, and the origin's shortest answer is then that one). */
    bool head_before_body;
} h1_request_t;

/* How long a head_before_body answer may wait in the socket before it is read whatever its length. */
#define H1_LOWAT_MS 20

/* A client for @loop. Out of memory aborts. Loop thread only, as every function below. */
h1_ctx_t *h1_ctx_new(h2o_loop_t *loop, const h1_opts_t *opts);

/* Closes the pooled connections and frees the client. No transfer may still be running. */
void h1_ctx_free(h1_ctx_t *ctx);

/* Starts a transfer. NULL (and nothing started, nothing called) when the URL is not one this client serves:
 * http:// only, no user info, and a numeric host unless there is a getaddr receiver. The handlers run later, from
 * the loop. */
h1_xfer_t *h1_start(h1_ctx_t *ctx, const h1_request_t *req, const h1_handlers_t *handlers, void *data);

/* Offers the kept bytes again and reads on, after on_body returned H1_PAUSE. Delivery happens from the loop
 * (a 0 ms timeout), not inside this call. */
void h1_resume(h1_xfer_t *x);

/* Stops a transfer whose on_done has not run: nothing more is called for it. Its connection is closed, unless what is
 * left of the answer is small and framed (see above): then it is read and dropped, and the connection pooled. */
void h1_abort(h1_xfer_t *x);

#endif

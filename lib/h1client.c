/*
 * h1client — plain HTTP/1.1 exchanges on an h2o loop, with a keep-alive pool per origin.
 *
 * A transfer goes WAITING (no connection free and the origin at its limit) -> CONNECTING (resolving, then
 * connecting; skipped when a pooled connection is free) -> HEAD (request written, answer's head awaited) -> BODY ->
 * done. Each connection belongs to one origin and serves one transfer at a time; while idle it sits in the origin's
 * pool, registered for reading (on_idle_readable closes it if the server hangs up or talks out of turn).
 *
 * Body bytes are handed over straight from the socket's input buffer. A chunked body is decoded in place: the
 * buffer holds `decoded` bytes of body at its front and only raw bytes after them, and each read decodes the new
 * raw bytes behind the decoded ones, so a paused transfer keeps its undelivered body where it is and stops reading.
 *
 * influxd writes the head of a /query answer when it accepts the query and the body when the query is done, so the
 * loop would wake and read twice per answer. For a request marked head_before_body the connection's SO_RCVLOWAT is
 * raised, while the answer is awaited, to the length of the shortest whole answer the origin has given such a
 * request: the kernel wakes the loop once head and body are in. When that wake brings the whole answer, the value
 * stays for the connection's next query (no system call to lower it and raise it again); it is lowered when the
 * answer is not complete at that wake, after H1_LOWAT_MS at the latest (an answer shorter than that, or a body that
 * takes long, is read as usual), and before any other request goes out on the connection.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <h2o/hostinfo.h>
#include <h2o/linklist.h>
#include <h2o/timeout.h>
#include "h1client.h"
#include "h1parse.h"

/* picohttpparser, built into libh2o; h1_header_t has the layout of its struct phr_header. */
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg, size_t *msg_len,
                       h1_header_t *headers, size_t *num_headers, size_t last_len);

#define DEFAULT_MAX_HOST 16
#define DEFAULT_MAX_IDLE_MS (118 * 1000)
#define MAX_HEAD_BYTES (64 * 1024)
/* An answer given up (h1_abort) after its head, with at most this much body still to come, is read to its end on the
 * side within DRAIN_MS, so that its connection serves again: a failover on a 5xx must not cost a connection (and a
 * TIME_WAIT socket) per query. */
#define DRAIN_MAX (64 * 1024)
#define DRAIN_MS 1000
#define MAX_HEADERS 100
#define MESSAGE_SIZE 256
#define MAX_ADDRS 4

enum { X_WAITING, X_CONNECTING, X_HEAD, X_BODY };
enum { F_NONE, F_LENGTH, F_CHUNKED, F_CLOSE };

typedef struct st_origin_t origin_t;
typedef struct st_conn_t conn_t;

typedef struct st_tmo_t {
    uint32_t ms;
    h2o_timeout_t t;
} tmo_t;

struct st_h1_ctx_t {
    h2o_loop_t *loop;
    size_t max_host;
    uint32_t connect_timeout_ms;
    uint64_t max_idle_ms;
    h2o_multithread_receiver_t *getaddr_receiver;
    h2o_linklist_t origins;    /* origin_t._link */
    h2o_linklist_t draining;   /* h1_xfer_t._drain: given up, read to their end to keep their connections */
    size_t nidle;              /* pooled connections, all origins */
    h2o_timeout_entry_t sweep; /* linked while nidle != 0: closes connections idle for longer than max_idle_ms */
    h1_xfer_t *woken;          /* in on_readable: the transfer woken with SO_RCVLOWAT raised, while it lives */
    tmo_t **tmos;              /* one h2o timeout per duration in use; 0 ms is always there */
    size_t ntmos;
};

struct st_origin_t {
    h1_ctx_t *ctx;
    char *authority; /* host[:port] as written in the URL: the Host header, and the key */
    char *host;      /* without IPv6 brackets */
    char port_str[8];
    uint16_t port;
    struct sockaddr_storage addr; /* when the host is numeric */
    socklen_t addrlen;
    size_t nconns;          /* connecting, busy and idle */
    size_t min_answer;      /* bytes of the shortest whole answer to a head_before_body request; 0: none yet */
    h2o_linklist_t idle;    /* conn_t._idle, oldest first */
    h2o_linklist_t waiting; /* h1_xfer_t._wait */
    h2o_linklist_t _link;
};

struct st_conn_t {
    origin_t *origin;
    h2o_socket_t *sock;
    h2o_hostinfo_getaddr_req_t *getaddr;
    h1_xfer_t *xfer; /* NULL while idle */
    int lowat;       /* the socket's SO_RCVLOWAT as last set (1: the kernel's default, wake for any byte) */
    uint64_t idle_since;
    /* a resolved name's addresses, in getaddrinfo's order: tried one after the other until one connects */
    struct sockaddr_storage addrs[MAX_ADDRS];
    socklen_t addrlens[MAX_ADDRS];
    int naddrs, tried;
    h2o_linklist_t _idle;
};

struct st_h1_xfer_t {
    h1_ctx_t *ctx;
    origin_t *origin;
    conn_t *conn;
    const h1_handlers_t *h;
    void *data;
    int state;
    int framing;
    bool reused, retried, got_bytes, keepalive, paused, body_done;
    bool writing; /* the request is not all written yet */
    bool head_before_body;
    size_t head_len;   /* bytes of the final answer's head */
    uint64_t left;     /* F_LENGTH: body bytes still to come */
    uint64_t received; /* body bytes delivered */
    h1p_chunked_t chunked;
    size_t decoded; /* chunked: body bytes at the front of the input, not handed over yet */
    /* a failure found inside a call from the user, delivered from the loop */
    int late_code;
    char late_msg[MESSAGE_SIZE];
    uint32_t timeout_ms;
    h2o_timeout_entry_t deadline, connect_deadline, kick;
    h2o_timeout_entry_t lowat_deadline; /* linked from the request's sending to the first wake, if SO_RCVLOWAT > 1 */
    h2o_linklist_t _wait;
    h2o_linklist_t _drain;
    uint64_t drained;    /* body bytes read since h1_abort() */
    h2o_iovec_t bufs[2]; /* head (below), body */
    char head[];
};

static void finish(h1_xfer_t *x, h1_code_t code, const char *msg);
static void fail(h1_xfer_t *x, h1_code_t code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pump(origin_t *o);
static void on_readable(h2o_socket_t *sock, const char *err);

/* ---- timeouts ---- */

static h2o_timeout_t *timeout_of(h1_ctx_t *ctx, uint32_t ms)
{
    tmo_t *t;

    for (size_t i = 0; i != ctx->ntmos; ++i)
        if (ctx->tmos[i]->ms == ms)
            return &ctx->tmos[i]->t;
    ctx->tmos = realloc(ctx->tmos, (ctx->ntmos + 1) * sizeof(*ctx->tmos));
    t = calloc(1, sizeof(*t));
    if (ctx->tmos == NULL || t == NULL)
        abort();
    t->ms = ms;
    h2o_timeout_init(ctx->loop, &t->t, ms);
    ctx->tmos[ctx->ntmos++] = t;
    return &t->t;
}

static void unlink_entry(h2o_timeout_entry_t *e)
{
    if (h2o_timeout_is_linked(e))
        h2o_timeout_unlink(e);
}

/* ---- URLs and origins ---- */

typedef struct st_url_t {
    const char *authority, *host, *path;
    size_t authority_len, host_len;
    uint16_t port;
} url_t;

static int parse_port(const char *p, const char *end, uint16_t *port)
{
    unsigned long v = 0;

    if (p == end || end - p > 5)
        return -1;
    for (; p != end; ++p) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* http://host[:port][/path][?query]: the only form served (no user info, no https). */
static int parse_url(const char *url, url_t *u)
{
    const char *a, *end, *colon;

    if (strncasecmp(url, "http://", 7) != 0)
        return -1;
    a = url + 7;
    end = a + strcspn(a, "/?#");
    if (end == a || memchr(a, '@', (size_t)(end - a)) != NULL)
        return -1;
    u->authority = a;
    u->authority_len = (size_t)(end - a);
    u->port = 80;
    if (*a == '[') {
        const char *close = memchr(a, ']', (size_t)(end - a));
        if (close == NULL)
            return -1;
        u->host = a + 1;
        u->host_len = (size_t)(close - a - 1);
        colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
        if (colon == NULL && close + 1 != end)
            return -1;
    } else {
        colon = memchr(a, ':', (size_t)(end - a));
        u->host = a;
        u->host_len = (size_t)((colon != NULL ? colon : end) - a);
    }
    if (u->host_len == 0 || u->host_len >= 256)
        return -1;
    if (colon != NULL && parse_port(colon + 1, end, &u->port) != 0)
        return -1;
    u->path = end;
    return 0;
}

/* The numeric address of @host, if it is one. */
static socklen_t numeric_addr(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return sizeof(*v4);
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return sizeof(*v6);
    }
    return 0;
}

static origin_t *find_origin(h1_ctx_t *ctx, const url_t *u)
{
    for (h2o_linklist_t *n = ctx->origins.next; n != &ctx->origins; n = n->next) {
        origin_t *o = H2O_STRUCT_FROM_MEMBER(origin_t, _link, n);
        if (strlen(o->authority) == u->authority_len && memcmp(o->authority, u->authority, u->authority_len) == 0 &&
            o->port == u->port)
            return o;
    }
    return NULL;
}

static origin_t *get_origin(h1_ctx_t *ctx, const url_t *u)
{
    origin_t *o = find_origin(ctx, u);

    if (o != NULL)
        return o;
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        abort();
    o->ctx = ctx;
    o->authority = strndup(u->authority, u->authority_len);
    o->host = strndup(u->host, u->host_len);
    if (o->authority == NULL || o->host == NULL)
        abort();
    o->port = u->port;
    snprintf(o->port_str, sizeof(o->port_str), "%u", (unsigned)u->port);
    o->addrlen = numeric_addr(o->host, o->port, &o->addr);
    h2o_linklist_init_anchor(&o->idle);
    h2o_linklist_init_anchor(&o->waiting);
    h2o_linklist_insert(&ctx->origins, &o->_link);
    return o;
}

/* ---- connections ---- */

static void conn_close(conn_t *c)
{
    origin_t *o = c->origin;

    if (c->getaddr != NULL)
        h2o_hostinfo_getaddr_cancel(c->getaddr);
    if (c->sock != NULL)
        h2o_socket_close(c->sock);
    if (h2o_linklist_is_linked(&c->_idle)) {
        h2o_linklist_unlink(&c->_idle);
        --o->ctx->nidle;
    }
    --o->nconns;
    free(c);
}

/* Detaches the transfer's connection and closes it (a connection in the middle of an answer is never reused). */
static void drop_conn(h1_xfer_t *x)
{
    unlink_entry(&x->lowat_deadline); /* the raised SO_RCVLOWAT goes with the socket; a retry raises it anew */
    if (x->conn != NULL) {
        x->conn->xfer = NULL;
        conn_close(x->conn);
        x->conn = NULL;
    }
}

/* An idle pooled connection turned readable: the server closed it, or sent bytes nobody asked for. */
static void on_idle_readable(h2o_socket_t *sock, const char *err)
{
    conn_t *c = sock->data;

    (void)err;
    conn_close(c);
}

/* Closes the origin's pooled connections idle for longer than max_idle_ms (the oldest are first). */
static void close_expired(origin_t *o, uint64_t now)
{
    while (!h2o_linklist_is_empty(&o->idle)) {
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, _idle, o->idle.next);
        if (now - c->idle_since <= o->ctx->max_idle_ms)
            break;
        conn_close(c);
    }
}

/* Every max_idle_ms while connections are pooled, so that those of a backend no longer used (a reload changed the
 * configuration) do not stay open for good. */
static void on_sweep(h2o_timeout_entry_t *e)
{
    h1_ctx_t *ctx = H2O_STRUCT_FROM_MEMBER(h1_ctx_t, sweep, e);
    uint64_t now = h2o_now(ctx->loop);

    for (h2o_linklist_t *n = ctx->origins.next; n != &ctx->origins; n = n->next)
        close_expired(H2O_STRUCT_FROM_MEMBER(origin_t, _link, n), now);
    if (ctx->nidle != 0)
        h2o_timeout_link(ctx->loop, timeout_of(ctx, (uint32_t)ctx->max_idle_ms), &ctx->sweep);
}

static void to_pool(conn_t *c)
{
    h1_ctx_t *ctx = c->origin->ctx;

    c->xfer = NULL;
    c->idle_since = h2o_now(ctx->loop);
    h2o_socket_read_start(c->sock, on_idle_readable);
    h2o_linklist_insert(&c->origin->idle, &c->_idle);
    if (ctx->nidle++ == 0 && !h2o_timeout_is_linked(&ctx->sweep))
        h2o_timeout_link(ctx->loop, timeout_of(ctx, (uint32_t)ctx->max_idle_ms), &ctx->sweep);
}

/* The most recently used pooled connection that has not idled too long. */
static conn_t *from_pool(origin_t *o)
{
    close_expired(o, h2o_now(o->ctx->loop));
    if (h2o_linklist_is_empty(&o->idle))
        return NULL;
    conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, _idle, o->idle.prev);
    h2o_linklist_unlink(&c->_idle);
    --o->ctx->nidle;
    return c;
}

/* ---- sending ---- */

static void on_written(h2o_socket_t *sock, const char *err)
{
    conn_t *c = sock->data;
    h1_xfer_t *x = c->xfer;

    if (x == NULL)
        return;
    x->writing = false;
    if (err == NULL)
        return;
    /* as for a read error: a reused connection the server had closed gets one more try */
    on_readable(sock, err);
}

/* The connection's SO_RCVLOWAT, unless it has that value already; lowered to 1, the kernel wakes the loop at once if
 * some bytes are in. */
static void set_lowat(conn_t *c, int v)
{
    if (c->lowat != v && setsockopt(h2o_socket_get_fd(c->sock), SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
        c->lowat = v;
}

static void on_lowat_deadline(h2o_timeout_entry_t *e)
{
    set_lowat(H2O_STRUCT_FROM_MEMBER(h1_xfer_t, lowat_deadline, e)->conn, 1);
}

static void send_request(h1_xfer_t *x)
{
    h2o_socket_t *sock = x->conn->sock;

    x->state = X_HEAD;
    x->writing = true;
    int lowat = 1;
    if (x->head_before_body && x->origin->min_answer > 1)
        lowat = x->origin->min_answer < INT_MAX ? (int)x->origin->min_answer : INT_MAX;
    set_lowat(x->conn, lowat);
    if (x->conn->lowat > 1) /* also when lowering it failed: the deadline tries again */
        h2o_timeout_link(x->ctx->loop, timeout_of(x->ctx, H1_LOWAT_MS), &x->lowat_deadline);
    sock->data = x->conn;
    h2o_socket_read_stop(sock);
    h2o_socket_read_start(sock, on_readable);
    h2o_socket_write(sock, x->bufs, x->bufs[1].len != 0 ? 2 : 1, on_written);
}

static void connect_to(conn_t *c, struct sockaddr *sa, socklen_t len);

/* The receive buffer of a connection to a backend (see on_connect). 1 MiB keeps a loopback or LAN backend at full
 * speed (a 10 Gbit/s link with 0.5 ms of round trip needs 625 kB in flight). */
#define H1_RCVBUF (1 << 20)

static void on_connect(h2o_socket_t *sock, const char *err)
{
    conn_t *c = sock->data;
    h1_xfer_t *x = c->xfer;
    int on = 1;

    if (err != NULL && c->tried < c->naddrs) { /* the name has another address */
        h2o_socket_close(c->sock);
        c->sock = NULL;
        ++c->tried;
        connect_to(c, (struct sockaddr *)&c->addrs[c->tried - 1], c->addrlens[c->tried - 1]);
        return;
    }
    unlink_entry(&x->connect_deadline);
    if (err != NULL) {
        drop_conn(x);
        fail(x, H1_CONNECT_FAILED, "Failed to connect to %s port %u: %s", x->origin->host, (unsigned)x->origin->port,
             err);
        return;
    }
    setsockopt(h2o_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    /* h2o reads a readable socket until the kernel has nothing left: a paused answer's backend keeps sending, and the
     * kernel's receive buffer, autotuned up to tcp_rmem's maximum (32 MB here), came into memory in one go when the
     * transfer resumed. A fixed buffer bounds that burst (the kernel doubles the value for its bookkeeping). */
    int rcvbuf = H1_RCVBUF;
    setsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    send_request(x);
}

/* Has on_kick() run for the transfer from the loop, at the end of this iteration. */
static void kick(h1_xfer_t *x)
{
    if (!h2o_timeout_is_linked(&x->kick))
        h2o_timeout_link(x->ctx->loop, timeout_of(x->ctx, 0), &x->kick);
}

/* Reports a failure found inside a call from the user (h1_start, h1_abort, h1_resume) from the loop instead. */
static void fail_later(h1_xfer_t *x, h1_code_t code, const char *msg)
{
    x->late_code = (int)code;
    snprintf(x->late_msg, sizeof(x->late_msg), "%s", msg);
    kick(x);
}

static void connect_to(conn_t *c, struct sockaddr *sa, socklen_t len)
{
    h1_xfer_t *x = c->xfer;
    char msg[MESSAGE_SIZE];

    /* on_connect() moves to the name's next address when connecting fails later on */
    for (;;) {
        c->sock = h2o_socket_connect(c->origin->ctx->loop, sa, len, on_connect);
        if (c->sock != NULL || c->tried >= c->naddrs)
            break;
        sa = (struct sockaddr *)&c->addrs[c->tried];
        len = c->addrlens[c->tried++];
    }
    if (c->sock == NULL) {
        snprintf(msg, sizeof(msg), "Failed to connect to %s port %u: %s", c->origin->host, (unsigned)c->origin->port,
                 strerror(errno));
        drop_conn(x);
        fail_later(x, H1_CONNECT_FAILED, msg);
        return;
    }
    c->sock->data = c;
}

static void on_getaddr(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    conn_t *c = data;
    h1_xfer_t *x = c->xfer;

    (void)req;
    c->getaddr = NULL;
    if (errstr != NULL) {
        drop_conn(x);
        fail(x, H1_RESOLVE_FAILED, "Could not resolve host: %s (%s)", x->origin->host, errstr);
        return;
    }
    for (struct addrinfo *ai = res; ai != NULL && c->naddrs != MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(c->addrs[0]))
            continue;
        memcpy(&c->addrs[c->naddrs], ai->ai_addr, ai->ai_addrlen);
        c->addrlens[c->naddrs++] = ai->ai_addrlen;
    }
    if (c->naddrs == 0) {
        drop_conn(x);
        fail(x, H1_RESOLVE_FAILED, "Could not resolve host: %s (no address)", x->origin->host);
        return;
    }
    c->tried = 1;
    connect_to(c, (struct sockaddr *)&c->addrs[0], c->addrlens[0]);
}

static void on_connect_deadline(h2o_timeout_entry_t *e)
{
    h1_xfer_t *x = H2O_STRUCT_FROM_MEMBER(h1_xfer_t, connect_deadline, e);

    drop_conn(x);
    fail(x, H1_TIMEOUT, "Connection timed out after %u milliseconds", (unsigned)x->ctx->connect_timeout_ms);
}

static void open_conn(origin_t *o, h1_xfer_t *x)
{
    h1_ctx_t *ctx = o->ctx;
    conn_t *c = calloc(1, sizeof(*c));

    if (c == NULL)
        abort();
    c->origin = o;
    c->xfer = x;
    c->lowat = 1;
    ++o->nconns;
    x->conn = c;
    x->state = X_CONNECTING;
    x->reused = false;
    if (ctx->connect_timeout_ms != 0 && (x->timeout_ms == 0 || ctx->connect_timeout_ms < x->timeout_ms))
        h2o_timeout_link(ctx->loop, timeout_of(ctx, ctx->connect_timeout_ms), &x->connect_deadline);
    if (o->addrlen != 0) {
        connect_to(c, (struct sockaddr *)&o->addr, o->addrlen);
        return;
    }
    c->getaddr = h2o_hostinfo_getaddr(ctx->getaddr_receiver, h2o_iovec_init(o->host, strlen(o->host)),
                                      h2o_iovec_init(o->port_str, strlen(o->port_str)), AF_UNSPEC, SOCK_STREAM,
                                      IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_getaddr, c);
}

/* Gives the origin's free connections (and room for new ones) to the transfers waiting for one, in order. */
static void pump(origin_t *o)
{
    while (!h2o_linklist_is_empty(&o->waiting)) {
        h1_xfer_t *x = H2O_STRUCT_FROM_MEMBER(h1_xfer_t, _wait, o->waiting.next);
        conn_t *c = from_pool(o);
        if (c == NULL && o->nconns >= o->ctx->max_host)
            return;
        h2o_linklist_unlink(&x->_wait);
        if (c == NULL) {
            open_conn(o, x);
            continue;
        }
        c->xfer = x;
        x->conn = c;
        x->reused = true;
        send_request(x);
    }
}

/* ---- the end ---- */

/* Unlinks the transfer from its timers and its origin's queue and closes its connection, if it still has one. */
static void detach(h1_xfer_t *x)
{
    if (x->ctx->woken == x)
        x->ctx->woken = NULL;
    unlink_entry(&x->deadline);
    unlink_entry(&x->connect_deadline);
    unlink_entry(&x->kick);
    if (h2o_linklist_is_linked(&x->_wait))
        h2o_linklist_unlink(&x->_wait);
    drop_conn(x);
}

static void finish(h1_xfer_t *x, h1_code_t code, const char *msg)
{
    origin_t *o = x->origin;

    detach(x);
    x->h->on_done(x->data, code, msg);
    free(x);
    pump(o);
}

static void fail(h1_xfer_t *x, h1_code_t code, const char *fmt, ...)
{
    char msg[MESSAGE_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    finish(x, code, msg);
}

/* The answer is complete: the connection goes back to the pool if it can serve another. */
static void complete(h1_xfer_t *x)
{
    conn_t *c = x->conn;

    if (x->head_before_body) {
        size_t n = x->head_len + x->received; /* the body as delivered: never longer than it was on the wire */
        if (x->origin->min_answer == 0 || n < x->origin->min_answer)
            x->origin->min_answer = n;
    }
    /* an answer that came before the whole request was written (an early error) leaves the connection unusable */
    if (x->keepalive && !x->writing && c->sock->input->size == 0) {
        x->conn = NULL;
        h2o_socket_read_stop(c->sock);
        to_pool(c);
    }
    finish(x, H1_OK, "");
}

static void on_deadline(h2o_timeout_entry_t *e)
{
    h1_xfer_t *x = H2O_STRUCT_FROM_MEMBER(h1_xfer_t, deadline, e);

    fail(x, H1_TIMEOUT, "Operation timed out after %u milliseconds with %llu bytes received", (unsigned)x->timeout_ms,
         (unsigned long long)x->received);
}

/* ---- the answer ---- */

static bool token_in(const char *v, size_t len, const char *token)
{
    size_t tl = strlen(token);

    for (size_t i = 0; i + tl <= len; ++i)
        if (strncasecmp(v + i, token, tl) == 0 && (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') &&
            (i + tl == len || v[i + tl] == ' ' || v[i + tl] == ',' || v[i + tl] == ';'))
            return true;
    return false;
}

static bool name_is(const h1_header_t *h, const char *want)
{
    return h->name_len == strlen(want) && strncasecmp(h->name, want, h->name_len) == 0;
}

/* Sets keepalive and framing from the final answer's head; -1 on a head we cannot frame. */
static int frame(h1_xfer_t *x, int minor, int status, const h1_header_t *hs, size_t n)
{
    bool has_length = false, chunked = false;

    x->keepalive = minor >= 1;
    for (size_t i = 0; i != n; ++i) {
        if (name_is(&hs[i], "connection")) {
            if (token_in(hs[i].value, hs[i].value_len, "close"))
                x->keepalive = false;
            else if (token_in(hs[i].value, hs[i].value_len, "keep-alive"))
                x->keepalive = true;
        } else if (name_is(&hs[i], "transfer-encoding")) {
            if (!token_in(hs[i].value, hs[i].value_len, "chunked"))
                return -1;
            chunked = true;
        } else if (name_is(&hs[i], "content-length")) {
            char *end;
            char buf[24];
            if (hs[i].value_len == 0 || hs[i].value_len >= sizeof(buf))
                return -1;
            memcpy(buf, hs[i].value, hs[i].value_len);
            buf[hs[i].value_len] = '\0';
            errno = 0;
            uint64_t v = strtoull(buf, &end, 10);
            if (*end != '\0' || errno != 0 || buf[0] == '-' || (has_length && v != x->left))
                return -1; /* not a number, or two lengths that disagree: where the answer ends is unknown */
            x->left = v;
            has_length = true;
        }
    }
    if (strcmp(x->head, "HEAD") == 0 || status == 204 || status == 304)
        x->framing = F_NONE;
    else if (chunked)
        x->framing = F_CHUNKED;
    else if (has_length)
        x->framing = F_LENGTH;
    else
        x->framing = F_CLOSE, x->keepalive = false;
    return 0;
}

/* influxd quotes names in its X-Influxdb-Error header as they are, so a name holding a NUL byte (valid in line
 * protocol) puts one in the head, which the parser refuses. Replaces each NUL of the head (up to its blank line, or of
 * all the bytes so far when it has not ended yet) with '?'; the body, which holds the same text JSON-escaped, is left
 * as it is. True when some byte was replaced. */
static bool mask_nul_in_head(h2o_buffer_t *in)
{
    const char *end = memmem(in->bytes, in->size, "\r\n\r\n", 4), *lf = memmem(in->bytes, in->size, "\n\n", 2);
    size_t len = in->size;
    bool masked = false;

    if (lf != NULL && (end == NULL || lf < end))
        end = lf;
    if (end != NULL)
        len = (size_t)(end - in->bytes);
    for (char *p = in->bytes; (p = memchr(p, '\0', len - (size_t)(p - in->bytes))) != NULL; masked = true)
        *p = '?';
    return masked;
}

/* 1 when the head of the final answer was taken, 0 when more bytes are needed, -1 when the transfer ended. */
static int take_head(h1_xfer_t *x)
{
    h2o_buffer_t **in = &x->conn->sock->input;
    h1_header_t hs[MAX_HEADERS];

    for (;;) {
        size_t n = MAX_HEADERS, msg_len;
        int minor, status;
        const char *msg;
        int rlen = phr_parse_response((*in)->bytes, (*in)->size, &minor, &status, &msg, &msg_len, hs, &n, 0);
        if (rlen == -2) {
            if ((*in)->size <= MAX_HEAD_BYTES)
                return 0;
            fail(x, H1_BAD_RESPONSE, "Invalid HTTP response: head larger than %d bytes", MAX_HEAD_BYTES);
            return -1;
        }
        if (rlen < 0 && mask_nul_in_head(*in)) /* parse again with no NUL byte in the head */
            continue;
        if (rlen < 0) {
            fail(x, H1_BAD_RESPONSE, "Invalid HTTP response from %s", x->origin->authority);
            return -1;
        }
        if (status >= 100 && status < 200 && status != 101) { /* informational: the real answer follows */
            x->head_len += (size_t)rlen;
            h2o_buffer_consume(in, (size_t)rlen);
            continue;
        }
        if (frame(x, minor, status, hs, n) != 0) {
            fail(x, H1_BAD_RESPONSE, "Invalid HTTP response from %s: unsupported framing", x->origin->authority);
            return -1;
        }
        if (x->h->on_head(x->data, status, hs, n) != H1_GO_ON) {
            finish(x, H1_ABORTED, "aborted by the receiver");
            return -1;
        }
        h2o_buffer_consume(in, (size_t)rlen);
        x->head_len += (size_t)rlen;
        x->state = X_BODY;
        return 1;
    }
}

/* Offers @len bytes at the front of the input, in pieces of at most H1_MAX_PIECE, and counts what was taken (off
 * `left` or `decoded`, by framing); returns false when the transfer paused or ended. */
static bool offer(h1_xfer_t *x, size_t len)
{
    h2o_buffer_t **in = &x->conn->sock->input;

    while (len != 0) {
        size_t piece = len < H1_MAX_PIECE ? len : H1_MAX_PIECE;
        int ret = x->h->on_body(x->data, (*in)->bytes, piece);
        if (ret == H1_PAUSE) {
            x->paused = true;
            h2o_socket_read_stop(x->conn->sock);
            return false;
        }
        if (ret != H1_GO_ON) {
            finish(x, H1_ABORTED, "aborted by the receiver");
            return false;
        }
        h2o_buffer_consume(in, piece);
        x->received += piece;
        len -= piece;
        if (x->framing == F_LENGTH)
            x->left -= piece;
        else if (x->framing == F_CHUNKED)
            x->decoded -= piece;
    }
    return true;
}

/* Hands over what the input holds of the body; ends the transfer when the body is complete. */
static void take_body(h1_xfer_t *x)
{
    h2o_buffer_t *in = x->conn->sock->input;

    switch (x->framing) {
    case F_LENGTH: {
        size_t n = in->size < x->left ? in->size : (size_t)x->left;
        if (n != 0 && !offer(x, n))
            return;
        if (x->left != 0)
            return;
        if (x->conn->sock->input->size != 0) /* more than announced */
            x->keepalive = false;
    } break;
    case F_CHUNKED: {
        if (in->size > x->decoded && !x->body_done) {
            size_t raw = in->size - x->decoded, extra = 0;
            int rc = h1p_dechunk(&x->chunked, in->bytes + x->decoded, &raw, &extra);
            if (rc == H1P_ERROR) {
                fail(x, H1_BAD_RESPONSE, "Invalid chunked body from %s", x->origin->authority);
                return;
            }
            in->size = x->decoded + raw;
            x->decoded = in->size;
            x->body_done = rc == H1P_END;
            if (extra != 0) /* bytes after the body: the connection is out of step */
                x->keepalive = false;
        }
        if (x->decoded != 0 && !offer(x, x->decoded))
            return;
        if (!x->body_done)
            return;
    } break;
    case F_CLOSE:
        if (in->size != 0)
            offer(x, in->size);
        return; /* the end is the close */
    }
    complete(x);
}

static void on_eof_or_error(h1_xfer_t *x, const char *err)
{
    if (x->state == X_HEAD && !x->got_bytes && x->reused && !x->retried) {
        /* the server closed the pooled connection as we used it: once more, on a new one */
        drop_conn(x);
        x->retried = true;
        open_conn(x->origin, x);
        return;
    }
    if (x->state == X_BODY && x->framing == F_CLOSE) {
        if (x->conn->sock->input->size != 0 && !offer(x, x->conn->sock->input->size))
            return;
        finish(x, H1_OK, "");
        return;
    }
    if (!x->got_bytes) {
        finish(x, H1_IO_ERROR, err == h2o_socket_error_closed ? "Empty reply from server" : err);
        return;
    }
    fail(x, H1_IO_ERROR, "Connection to %s ended before the answer was complete (%llu body bytes received): %s",
         x->origin->authority, (unsigned long long)x->received, err);
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    conn_t *c = sock->data;
    h1_xfer_t *x = c->xfer;
    h1_ctx_t *ctx;

    if (x == NULL) {
        conn_close(c);
        return;
    }
    if (err != NULL) {
        on_eof_or_error(x, err);
        return;
    }
    x->got_bytes = true;
    ctx = x->ctx;
    if (h2o_timeout_is_linked(&x->lowat_deadline)) {
        h2o_timeout_unlink(&x->lowat_deadline);
        ctx->woken = x; /* cleared if the transfer ends (or is given up) below */
    }
    if ((x->state != X_HEAD || take_head(x) > 0) && !x->paused)
        take_body(x);
    if (ctx->woken != NULL) { /* not the whole answer at the first wake: the rest is read as it comes */
        x = ctx->woken;
        ctx->woken = NULL;
        if (x->conn != NULL)
            set_lowat(x->conn, 1);
    }
}

/* 0 ms: a failure found in a call from the user, or delivery after h1_resume(). */
static void on_kick(h2o_timeout_entry_t *e)
{
    h1_xfer_t *x = H2O_STRUCT_FROM_MEMBER(h1_xfer_t, kick, e);

    if (x->late_code != H1_OK) {
        finish(x, (h1_code_t)x->late_code, x->late_msg);
        return;
    }
    if (x->paused || x->conn == NULL)
        return;
    h2o_socket_read_start(x->conn->sock, on_readable);
    take_body(x);
}

/* ---- API ---- */

h1_ctx_t *h1_ctx_new(h2o_loop_t *loop, const h1_opts_t *opts)
{
    h1_ctx_t *ctx = calloc(1, sizeof(*ctx));

    if (ctx == NULL)
        abort();
    ctx->loop = loop;
    ctx->max_host = opts->max_host_connections != 0 ? opts->max_host_connections : DEFAULT_MAX_HOST;
    ctx->connect_timeout_ms = opts->connect_timeout_ms;
    ctx->max_idle_ms = opts->max_idle_ms != 0 ? opts->max_idle_ms : DEFAULT_MAX_IDLE_MS;
    if (ctx->max_idle_ms > UINT32_MAX)
        ctx->max_idle_ms = UINT32_MAX;
    ctx->getaddr_receiver = opts->getaddr_receiver;
    ctx->sweep.cb = on_sweep;
    h2o_linklist_init_anchor(&ctx->origins);
    h2o_linklist_init_anchor(&ctx->draining);
    timeout_of(ctx, 0);
    return ctx;
}

void h1_ctx_free(h1_ctx_t *ctx)
{
    unlink_entry(&ctx->sweep);
    while (!h2o_linklist_is_empty(&ctx->draining)) {
        h1_xfer_t *x = H2O_STRUCT_FROM_MEMBER(h1_xfer_t, _drain, ctx->draining.next);
        h2o_linklist_unlink(&x->_drain);
        detach(x);
        free(x);
    }
    while (!h2o_linklist_is_empty(&ctx->origins)) {
        origin_t *o = H2O_STRUCT_FROM_MEMBER(origin_t, _link, ctx->origins.next);
        while (!h2o_linklist_is_empty(&o->idle))
            conn_close(H2O_STRUCT_FROM_MEMBER(conn_t, _idle, o->idle.next));
        h2o_linklist_unlink(&o->_link);
        free(o->authority);
        free(o->host);
        free(o);
    }
    for (size_t i = 0; i != ctx->ntmos; ++i) {
        h2o_timeout_dispose(ctx->loop, &ctx->tmos[i]->t);
        free(ctx->tmos[i]);
    }
    free(ctx->tmos);
    free(ctx);
}

/* Whether the client can reach the URL's host: a resolver, or a numeric address. */
static bool reachable(const h1_ctx_t *ctx, const url_t *u)
{
    char host[256];
    struct sockaddr_storage ss;

    if (ctx->getaddr_receiver != NULL)
        return true;
    memcpy(host, u->host, u->host_len);
    host[u->host_len] = '\0';
    return numeric_addr(host, u->port, &ss) != 0;
}

static char *put(char *p, const char *s, size_t n)
{
    if (n != 0)
        memcpy(p, s, n);
    return p + n;
}

static char *put_size(char *p, size_t v)
{
    char digits[24];
    size_t n = 0;

    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n != 0)
        *p++ = digits[--n];
    return p;
}

h1_xfer_t *h1_start(h1_ctx_t *ctx, const h1_request_t *req, const h1_handlers_t *handlers, void *data)
{
    static const char version_host[] = " HTTP/1.1\r\nHost: ", clen[] = "Content-Length: ";
    url_t u;
    h1_xfer_t *x;
    const char *path;
    size_t path_len, mlen = strlen(req->method);
    char *p, *start;

    if (parse_url(req->url, &u) != 0 || !reachable(ctx, &u))
        return NULL;
    path = *u.path == '\0' || *u.path == '#' ? "/" : u.path;
    path_len = *path == '/' ? strcspn(path, "#") : 1;
    x = calloc(1, sizeof(*x) + 2 * mlen + 2 + 1 + path_len + sizeof(version_host) + u.authority_len + 2 +
                      req->headers.len + sizeof(clen) + 24 + 2 + 2);
    if (x == NULL)
        abort();
    /* head[] starts with the method and a NUL (frame() looks at it), then the request itself */
    memcpy(x->head, req->method, mlen + 1);
    p = start = x->head + mlen + 1;
    p = put(p, req->method, mlen);
    *p++ = ' ';
    if (*path == '?')
        *p++ = '/';
    p = put(p, path, path_len);
    p = put(p, version_host, sizeof(version_host) - 1);
    p = put(p, u.authority, u.authority_len);
    p = put(p, "\r\n", 2);
    p = put(p, req->headers.base, req->headers.len);
    if (req->has_body) {
        p = put(p, clen, sizeof(clen) - 1);
        p = put_size(p, req->body.len);
        p = put(p, "\r\n", 2);
    }
    p = put(p, "\r\n", 2);
    x->ctx = ctx;
    x->origin = get_origin(ctx, &u);
    x->h = handlers;
    x->data = data;
    x->timeout_ms = req->timeout_ms;
    x->head_before_body = req->head_before_body;
    x->bufs[0] = h2o_iovec_init(start, (size_t)(p - start));
    x->bufs[1] = req->body;
    x->deadline.cb = on_deadline;
    x->connect_deadline.cb = on_connect_deadline;
    x->kick.cb = on_kick;
    x->lowat_deadline.cb = on_lowat_deadline;
    x->state = X_WAITING;
    if (req->timeout_ms != 0)
        h2o_timeout_link(ctx->loop, timeout_of(ctx, req->timeout_ms), &x->deadline);
    h2o_linklist_insert(&x->origin->waiting, &x->_wait);
    pump(x->origin);
    return x;
}

void h1_resume(h1_xfer_t *x)
{
    if (!x->paused)
        return;
    x->paused = false;
    kick(x);
}

static int drain_body(void *data, const char *bytes, size_t len)
{
    h1_xfer_t *x = data;

    (void)bytes;
    x->drained += len;
    return x->drained <= DRAIN_MAX ? H1_GO_ON : H1_STOP;
}

static void drain_done(void *data, h1_code_t code, const char *message)
{
    h1_xfer_t *x = data;

    (void)code;
    (void)message;
    h2o_linklist_unlink(&x->_drain);
}

static const h1_handlers_t drain_handlers = {NULL, drain_body, drain_done};

/* Whether the rest of the answer is small and framed: then it is read to its end rather than its connection closed. */
static bool drainable(const h1_xfer_t *x)
{
    if (x->state != X_BODY || x->conn == NULL || !x->keepalive || x->writing || x->late_code != H1_OK)
        return false;
    return (x->framing == F_LENGTH && x->left <= DRAIN_MAX) || x->framing == F_CHUNKED;
}

void h1_abort(h1_xfer_t *x)
{
    origin_t *o = x->origin;

    if (drainable(x)) { /* from now on the transfer is the client's own; it ends through finish() */
        x->h = &drain_handlers;
        x->data = x;
        x->drained = 0;
        h2o_linklist_insert(&x->ctx->draining, &x->_drain);
        unlink_entry(&x->deadline);
        x->timeout_ms = DRAIN_MS;
        h2o_timeout_link(x->ctx->loop, timeout_of(x->ctx, DRAIN_MS), &x->deadline);
        if (x->paused) {
            x->paused = false;
            kick(x);
        }
        return;
    }
    detach(x);
    free(x);
    pump(o);
}

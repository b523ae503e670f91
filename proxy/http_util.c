/*
 * http_util — shared response helpers.
 *
 * InfluxDB clients look at X-Influxdb-Version to recognise a server and at X-Influxdb-Error for the
 * error text, so every answer goes through these helpers.
 */
#include "http_util.h"

#include <stdio.h>
#include <sys/socket.h>
#include <string.h>
#include "server.h"
#include "util.h"

/* InfluxDB's CORS answer to a request with an Origin: that origin is allowed, with the methods and request headers a
 * browser may use (Grafana's "browser" access mode, dashboards that query from JavaScript). */
static void add_cors(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    h2o_headers_t *h = &req->res.headers;

    if (i < 0 || req->headers.entries[i].value.len == 0)
        return;
    h2o_add_header(&req->pool, h, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, "Access-Control-Allow-Origin",
                   req->headers.entries[i].value.base, req->headers.entries[i].value.len);
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("access-control-allow-methods"), 0, "Access-Control-Allow-Methods",
                          H2O_STRLIT("DELETE, GET, OPTIONS, POST, PUT"));
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("access-control-allow-headers"), 0, "Access-Control-Allow-Headers",
                          H2O_STRLIT("Accept, Accept-Encoding, Authorization, Content-Length, Content-Type, "
                                     "X-CSRF-Token, X-HTTP-Method-Override"));
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("access-control-expose-headers"), 0,
                          "Access-Control-Expose-Headers", H2O_STRLIT("Date, X-InfluxDB-Version, X-InfluxDB-Build"));
}

void hu_add_influx_headers(h2o_req_t *req)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-influxdb-version"), 0, "X-Influxdb-Version",
                          H2O_STRLIT(IP_INFLUX_VERSION));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-influxdb-build"), 0, "X-Influxdb-Build",
                          H2O_STRLIT(IP_INFLUX_BUILD));
    add_cors(req);
}

const char *hu_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Request Entity Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

static void start(h2o_req_t *req, int status)
{
    req->res.status = status;
    req->res.reason = hu_reason(status);
    hu_add_influx_headers(req);
}

void hu_send_json(h2o_req_t *req, int status, const char *json, size_t len)
{
    start(req, status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    req->res.content_length = len;
    h2o_send_inline(req, json, len);
}

/* Appends @s as a JSON string the way Go's encoding/json writes it (InfluxDB's errors): <, >, & and
 * U+2028/2029 escaped, control characters as \u00XX, invalid UTF-8 replaced by U+FFFD. */
static void json_string_go(ubuf_t *u, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    ubuf_append(u, "\"", 1);
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t l = util_utf8_len(p + i, len - i);
            if (l == 0) {
                ubuf_append(u, "\\ufffd", 6);
                i++;
            } else if (l == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
                ubuf_append(u, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
                i += 3;
            } else {
                ubuf_append(u, p + i, l);
                i += l;
            }
            continue;
        }
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c == '"' || c == '\\')
            ubuf_append(u, (char[]){'\\', (char)c}, 2);
        else if (c == '\n')
            ubuf_append(u, "\\n", 2);
        else if (c == '\r')
            ubuf_append(u, "\\r", 2);
        else if (c == '\t')
            ubuf_append(u, "\\t", 2);
        else if (c < 0x20 || c == '<' || c == '>' || c == '&')
            ubuf_append(u, esc, 6);
        else
            ubuf_append(u, &c, 1);
        i++;
    }
    ubuf_append(u, "\"", 1);
}

/* InfluxDB's error answer for @msg: status and headers set on req->res, the body returned (in the request's pool). */
static h2o_iovec_t error_answer(h2o_req_t *req, int status, const char *msg, size_t len)
{
    ubuf_t body;
    ubuf_init(&body, SIZE_MAX);
    ubuf_append(&body, "{\"error\":", 9);
    json_string_go(&body, msg, len);
    /* InfluxDB ends its JSON bodies with a newline. */
    ubuf_append(&body, "}\n", 2);

    start(req, status);
    /* A header value cannot carry line breaks or NULs (a tab it can): InfluxDB's multi-line parse errors
     * are folded. */
    char *hv = h2o_mem_alloc_pool(&req->pool, len + 1);
    for (size_t i = 0; i < len; i++)
        hv[i] = ((unsigned char)msg[i] < 0x20 && msg[i] != '\t') || msg[i] == 0x7f ? ' ' : msg[i];
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-influxdb-error"), 0, "X-Influxdb-Error", hv,
                          len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_iovec_t out = h2o_strdup(&req->pool, body.base, body.len);
    ubuf_free(&body);
    req->res.content_length = out.len;
    return out;
}

void hu_send_error_n(h2o_req_t *req, int status, const char *msg, size_t len)
{
    h2o_iovec_t body = error_answer(req, status, msg, len);
    h2o_send_inline(req, body.base, body.len);
}

/* ---- h2o's own 413 in InfluxDB's words ----
 * A body over max_request_entity_size is refused by h2o itself, before any handler runs: it binds the request to
 * the host's fallback path and answers through h2o_send_inline() with a text/plain "request entity is too large".
 * This filter, on that path, turns such an answer into the JSON influxd gives (clients read X-Influxdb-Error and the
 * body's "error"); h2o's body arrives in one final send and is replaced by ours. */

typedef struct st_influx413_t {
    h2o_ostream_t super;
    h2o_iovec_t body;
} influx413_t;

static void influx413_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                           h2o_send_state_t state)
{
    influx413_t *o = (influx413_t *)self;
    if (h2o_send_state_is_in_progress(state)) { /* not how h2o_send_inline() sends: passed on as it is */
        h2o_ostream_send_next(self, req, bufs, bufcnt, state);
        return;
    }
    /* no buffer for a HEAD request: the answer has headers only */
    h2o_ostream_send_next(self, req, &o->body, bufcnt != 0 ? 1 : 0, state);
}

static void influx413_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    if (req->res.status == 413) {
        memset(&req->res.headers, 0, sizeof(req->res.headers));
        h2o_iovec_t body = error_answer(req, 413, H2O_STRLIT("Request Entity Too Large"));
        influx413_t *o = (influx413_t *)h2o_add_ostream(req, sizeof(*o), slot);
        o->super.do_send = influx413_send;
        o->body = body;
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void hu_register_fallback_filter(h2o_pathconf_t *fallback)
{
    h2o_filter_t *f = h2o_create_filter(fallback, sizeof(*f));
    f->on_setup_ostream = influx413_setup;
}

void hu_send_error(h2o_req_t *req, int status, const char *msg)
{
    hu_send_error_n(req, status, msg, strlen(msg));
}

void hu_send_empty(h2o_req_t *req, int status)
{
    static h2o_generator_t generator = {NULL, NULL};
    start(req, status);
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

int hu_preflight(h2o_req_t *req)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")))
        return 0;
    req->res.content_length = 0;
    hu_send_empty(req, 200);
    return 1;
}

h2o_iovec_t hu_query_string(h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return h2o_iovec_init("", 0);
    return h2o_iovec_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
}

h2o_iovec_t hu_path(h2o_req_t *req)
{
    return h2o_iovec_init(req->path.base, req->query_at == SIZE_MAX ? req->path.len : req->query_at);
}

int hu_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Form decoding as Go's url.QueryUnescape: '+' is a space, %XX a byte; -1 for a '%' not followed by two hex digits. */
static int decode(h2o_mem_pool_t *pool, const char *s, size_t len, h2o_iovec_t *out)
{
    char *d = h2o_mem_alloc_pool(pool, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            d[o++] = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= len || hu_hexval(s[i + 1]) < 0 || hu_hexval(s[i + 2]) < 0)
                return -1;
            d[o++] = (char)(hu_hexval(s[i + 1]) * 16 + hu_hexval(s[i + 2]));
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = '\0';
    *out = h2o_iovec_init(d, o);
    return 0;
}

/* url.ParseQuery as influxd (built with Go 1.17 or later) reads a query string or a form body: pairs split on '&', a
 * pair holding a ';' or a malformed escape dropped, the first remaining pair of the name wins (Values.Get). One pass
 * for every name asked. */
size_t hu_params(h2o_mem_pool_t *pool, h2o_iovec_t qs, const char *const *names, size_t n, h2o_iovec_t *const *out,
                 unsigned char *found)
{
    size_t left = 0, got = 0;
    const char *p = qs.base, *end = qs.base + qs.len;

    for (size_t i = 0; i < n; i++)
        left += !found[i];
    while (p < end && got < left) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq != NULL ? eq : pe;
        h2o_iovec_t key, value = h2o_iovec_init("", 0);
        if (memchr(p, ';', (size_t)(pe - p)) == NULL && decode(pool, p, (size_t)(ke - p), &key) == 0) {
            for (size_t i = 0; i < n; i++) {
                if (found[i] || strlen(names[i]) != key.len || memcmp(key.base, names[i], key.len) != 0)
                    continue;
                if (eq == NULL || decode(pool, eq + 1, (size_t)(pe - eq - 1), &value) == 0) {
                    *out[i] = value;
                    found[i] = 1;
                    got++;
                }
                break;
            }
        }
        p = pe + 1;
    }
    return got;
}

int hu_param(h2o_mem_pool_t *pool, h2o_iovec_t qs, const char *name, h2o_iovec_t *out)
{
    unsigned char found = 0;
    return (int)hu_params(pool, qs, &name, 1, &out, &found);
}

h2o_iovec_t hu_url_encode(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *d = h2o_mem_alloc_pool(pool, len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            d[o++] = (char)c;
        } else {
            d[o++] = '%';
            d[o++] = hex[c >> 4];
            d[o++] = hex[c & 15];
        }
    }
    d[o] = '\0';
    return h2o_iovec_init(d, o);
}

void hu_form_add(ubuf_t *u, const char *name, const char *value, size_t len, h2o_mem_pool_t *pool)
{
    if (len == 0)
        return;
    h2o_iovec_t e = hu_url_encode(pool, value, len);
    if (u->len != 0 && u->base[u->len - 1] != '?')
        ubuf_append(u, "&", 1);
    ubuf_append(u, name, strlen(name));
    ubuf_append(u, "=", 1);
    ubuf_append(u, e.base, e.len);
}

/* ---- keeping a connection polled while its answer is pending ----
 *
 * h2o 2.2.5 stops reading an HTTP/1 connection once a request is complete (the socket leaves epoll: EPOLL_CTL_DEL)
 * and starts again when the answer has been sent (EPOLL_CTL_ADD). For a request answered later, after the backends,
 * the two calls happen in different loop iterations and both reach the kernel: about a tenth of the write path's
 * CPU. hu_keep_polled() starts "reading" again at once with the loop's DONT_READ flag set, in the same iteration, so
 * the registration never changes: the loop then only reports readiness and reads nothing, and the request, whose
 * header and body slices point into the connection's input buffer, stays untouched. If the client sends something
 * meanwhile (a pipelined request, or it closes), the callback stops polling; after the answer h2o starts reading
 * again and finds it, as it would have. When the request is disposed (after its answer, or with its connection),
 * the flag is cleared, before h2o reads the next request.
 *
 * The flag lives in the loop's private socket struct, which starts with the public h2o_socket_t, the descriptor
 * and the flags (lib/common/socket/evloop.c.h, struct st_h2o_evloop_socket_t). hu_keep_polled_check() verifies
 * that layout on real sockets of this libh2o before anything relies on it. */

struct evloop_socket_head {
    h2o_socket_t super;
    int fd;
    int flags;
};

static int keep_polled_enabled;

static struct evloop_socket_head *evloop_head(h2o_socket_t *sock)
{
    return (struct evloop_socket_head *)sock;
}

int hu_keep_polled_check(h2o_loop_t *loop)
{
    int fds[2], ok = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return 0;
    h2o_socket_t *a = h2o_evloop_socket_create(loop, fds[0], H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_t *b = h2o_evloop_socket_create(loop, fds[1], 0);
    ok = evloop_head(a)->fd == fds[0] && evloop_head(a)->flags == H2O_SOCKET_FLAG_DONT_READ &&
         evloop_head(b)->fd == fds[1] && evloop_head(b)->flags == 0;
    h2o_socket_close(a);
    h2o_socket_close(b);
    keep_polled_enabled = ok;
    return ok;
}

typedef struct st_keep_polled_t {
    h2o_socket_t *sock;
} keep_polled_t;

static void on_readable_while_pending(h2o_socket_t *sock, const char *err)
{
    (void)err;
    evloop_head(sock)->flags &= ~H2O_SOCKET_FLAG_DONT_READ;
    h2o_socket_read_stop(sock);
}

/* Runs when the request's pool is cleared: after its answer (h2o then reads the next request) or when the
 * connection closes (before the socket is closed and freed). */
static void on_keep_polled_dispose(void *p)
{
    keep_polled_t *k = p;

    evloop_head(k->sock)->flags &= ~H2O_SOCKET_FLAG_DONT_READ;
    if (k->sock->_cb.read == on_readable_while_pending)
        h2o_socket_read_stop(k->sock);
}

void hu_keep_polled(h2o_req_t *req)
{
    if (!keep_polled_enabled || req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->ssl != NULL || h2o_socket_is_reading(sock))
        return;
    keep_polled_t *k = h2o_mem_alloc_shared(&req->pool, sizeof(*k), on_keep_polled_dispose);
    k->sock = sock;
    evloop_head(sock)->flags |= H2O_SOCKET_FLAG_DONT_READ;
    h2o_socket_read_start(sock, on_readable_while_pending);
}

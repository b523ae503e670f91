/*
 * Unit tests of upstream: a real h2o evloop receives the results, a small blocking HTTP/1.1 server
 * on 127.0.0.1 (one thread per connection) plays the backend and records what it was sent.
 *
 * Server paths: /ping 204, /echo (200, echoes body and Content-Encoding), /400 (InfluxDB-style
 * error), /500, /delay/N (sleep N ms, then 204), /big/N (N bytes, Content-Length), /chunked/N
 * (N bytes, chunked), /close (promises 1000 bytes, sends 10, closes). For streaming, bodies whose
 * byte i is pat(i): /pattern/N (Content-Length), /pchunked/N (chunks of varied sizes), /pclose/N
 * (promises 2N bytes, sends N, closes), and /gzip/N (N bytes of text, gzipped, Content-Encoding: gzip).
 * As influxd answers a query: /qhead/N (the head of a chunked 200, then after N ms its body, QHEAD_BODY),
 * /qlong/N (the head and QHEAD_BODY's chunk at once, the last chunk N ms later) and /qtiny (a whole answer
 * shorter than that head).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <h2o/hostinfo.h>
#include <zlib.h>
#include <h2o/socket.h>
#include <h2o/socket/evloop.h>
#include "upstream.h"

/* ---- the backend ----------------------------------------------------------------------------- */

#define SRV_MAX_HEAD 65536

static struct {
    int fd;
    int port;
    pthread_t thread;
    atomic_bool stop;
    atomic_int accepted;     /* connections accepted so far */
    atomic_int ended;        /* connections the server saw end (closed by the client, or by itself) */
    atomic_int stall_closed; /* /500-stall answers whose connection the client closed while the server waited */
    atomic_int requests;     /* requests fully read so far */
    pthread_mutex_t mu;      /* guards the last request below */
    char method[16];
    char target[512];
    char head[SRV_MAX_HEAD]; /* header lines as received */
    char *body;
    size_t body_len;
} srv;

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n != 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_fmt(int fd, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return send_all(fd, buf, (size_t)n);
}

/* Case-insensitive lookup of a header value in a raw head; copies it into @out. */
static int head_get(const char *head, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *line = head; line != NULL && *line != '\0';) {
        const char *eol = strstr(line, "\r\n");
        if (eol == NULL)
            break;
        if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                ++v;
            snprintf(out, cap, "%.*s", (int)(eol - v), v);
            return 0;
        }
        line = eol + 2;
    }
    return -1;
}

static unsigned char pat(size_t i)
{
    return (unsigned char)(i * 7 + i / 251);
}

/* Bytes [from, from + n) of the pattern, in 64 KiB sends. */
static int send_pattern(int fd, size_t from, size_t n)
{
    unsigned char buf[65536];
    while (n != 0) {
        size_t k = n < sizeof(buf) ? n : sizeof(buf);
        for (size_t i = 0; i != k; ++i)
            buf[i] = pat(from + i);
        if (send_all(fd, buf, k) != 0)
            return -1;
        from += k;
        n -= k;
    }
    return 0;
}

static void send_pattern_chunked(int fd, size_t n)
{
    static const size_t sizes[] = {1, 777, 16384, 40000, 3, 100000, 65536, 12};
    size_t off = 0;
    send_fmt(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t i = 0; off < n; ++i) {
        size_t k = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
        if (k > n - off)
            k = n - off;
        if (send_fmt(fd, "%zx\r\n", k) != 0 || send_pattern(fd, off, k) != 0 || send_fmt(fd, "\r\n") != 0)
            return;
        off += k;
    }
    send_fmt(fd, "0\r\n\r\n");
}

/* Answers whose framing a client must get right; each body is "hello0123456789". */
static const struct {
    const char *name, *answer;
    bool closes; /* the server closes after it */
    bool broken; /* the transfer must fail */
} framings[] = {
    {"chunk-ext-trailer",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\nA \r\n0123456789\r\n"
     "0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n",
     false, false},
    {"chunk-lf-only", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\na\n0123456789\n0\n\n", false,
     false},
    {"informational", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\nhello0123456789",
     false, false},
    {"until-close", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello0123456789", true, false},
    {"http10", "HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\nhello0123456789", true, false},
    {"connection-close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 15\r\n\r\nhello0123456789", true,
     false},
    /* broken answers: the transfer fails (UNREACHABLE), the server closes after each */
    {"bad-status-line", "HTTP/1.1 abc\r\n\r\n", true, true},
    {"not-http", "SSH-2.0-OpenSSH_9.2\r\n", true, true},
    {"bad-length", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello", true, true},
    {"conflicting-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nhello", true, true},
    {"bad-chunk-size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\nhello\r\n0\r\n\r\n", true, true},
    {"huge-chunk-size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n", true,
     true},
    {"chunk-without-crlf", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", true, true},
    {"truncated-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", true, true},
};

static bool framing_closes(const char *name)
{
    for (size_t i = 0; i != sizeof(framings) / sizeof(framings[0]); ++i)
        if (strcmp(name, framings[i].name) == 0)
            return framings[i].closes;
    return true;
}

/* Sends the answer a byte at a time, 1 ms apart, so that the client sees every state of its parser at a read end. */
static void send_framing(int fd, const char *name)
{
    for (size_t i = 0; i != sizeof(framings) / sizeof(framings[0]); ++i) {
        if (strcmp(name, framings[i].name) != 0)
            continue;
        for (const char *p = framings[i].answer; *p != '\0'; ++p) {
            if (send_all(fd, p, 1) != 0)
                return;
            usleep(1000);
        }
        if (framings[i].closes)
            shutdown(fd, SHUT_RDWR);
        return;
    }
    send_fmt(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
}

/* Text of @n bytes the gzip test compresses; the same on both sides. */
static char *gzip_text(size_t n)
{
    char *t = malloc(n + 64);
    size_t len = 0;
    while (len < n)
        len += (size_t)sprintf(t + len, "{\"series\":[{\"name\":\"cpu\",\"values\":[[%zu,%zu]]}]}\n", len, len % 97);
    return t;
}

static void send_gzip(int fd, size_t n)
{
    char *text = gzip_text(n);
    z_stream zs = {0};
    size_t cap;
    char *out;
    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    cap = deflateBound(&zs, n);
    out = malloc(cap);
    zs.next_in = (Bytef *)text;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    send_fmt(fd,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
             "Content-Length: %lu\r\n\r\n",
             zs.total_out);
    send_all(fd, out, zs.total_out);
    deflateEnd(&zs);
    free(out);
    free(text);
}

/* the head of an influxd answer to a query, which influxd sends before the body */
#define QHEAD_HEAD                                                                                                     \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nRequest-Id: f1e2d3c4-0000-11ee-8000-000000000000\r\n"        \
    "X-Influxdb-Version: 1.6.7\r\nTransfer-Encoding: chunked\r\n\r\n"
#define QHEAD_BODY "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"values\":[[1,2]]}]}]}\n"

#define NUL_ERROR_BODY                                                                                                 \
    "{\"error\":\"partial write: field type conflict: input field \\\"v\\\" on measurement \\\"a\\u0000b\\\" is "      \
    "type float dropped=1\"}\n"

static void respond(int fd, const char *method, const char *target, const char *head, const char *body, size_t body_len)
{
    char enc[64];
    long n;

    if (strcmp(target, "/ping") == 0 || strcmp(target, "/idle-close") == 0) {
        send_fmt(fd, "HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.8.10\r\n\r\n");
    } else if (strcmp(target, "/echo") == 0) {
        if (head_get(head, "Content-Encoding", enc, sizeof(enc)) != 0)
            strcpy(enc, "identity");
        send_fmt(fd,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Encoding: %s\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 enc, body_len);
        send_all(fd, body, body_len);
    } else if (strcmp(target, "/400") == 0) {
        static const char err[] = "{\"error\":\"database not found: \\\"nope\\\"\"}\n";
        send_fmt(fd,
                 "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                 "X-Influxdb-Error: database not found: \"nope\"\r\nContent-Length: %zu\r\n\r\n%s",
                 strlen(err), err);
    } else if (strcmp(target, "/400-nul") == 0) { /* influxd quoting a measurement that holds a NUL byte */
        static const char head[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                                   "X-Influxdb-Error: partial write: field type conflict: input field \"v\" on "
                                   "measurement \"a\0b\" is type float dropped=1\r\n";
        send_all(fd, head, sizeof(head) - 1);
        send_fmt(fd, "Content-Length: %zu\r\n\r\n%s", strlen(NUL_ERROR_BODY), NUL_ERROR_BODY);
    } else if (strcmp(target, "/500") == 0) {
        send_fmt(fd, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\noops");
    } else if (strcmp(target, "/500-late") == 0) { /* the body comes after the client has the head */
        send_fmt(fd,
                 "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n");
        usleep(100 * 1000);
        send_fmt(fd, "{\"error\":\"busy\"}\n");
    } else if (strcmp(target, "/500-stall") == 0) { /* the body never comes */
        struct pollfd pfd = {fd, POLLIN, 0};
        char c;
        send_fmt(fd, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 17\r\n\r\n");
        if (poll(&pfd, 1, 3000) == 1 && recv(fd, &c, 1, MSG_PEEK) == 0)
            atomic_fetch_add(&srv.stall_closed, 1);
    } else if (strcmp(target, "/drop-next") == 0) {
        send_fmt(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    } else if (sscanf(target, "/qhead/%ld", &n) == 1) {
        struct timespec ts = {n / 1000, (n % 1000) * 1000000L};
        send_fmt(fd, QHEAD_HEAD);
        nanosleep(&ts, NULL);
        send_fmt(fd, "%zx\r\n%s\r\n0\r\n\r\n", strlen(QHEAD_BODY), QHEAD_BODY);
    } else if (sscanf(target, "/qlong/%ld", &n) == 1) {
        struct timespec ts = {n / 1000, (n % 1000) * 1000000L};
        send_fmt(fd, QHEAD_HEAD "%zx\r\n%s\r\n", strlen(QHEAD_BODY), QHEAD_BODY);
        nanosleep(&ts, NULL);
        send_fmt(fd, "0\r\n\r\n");
    } else if (strcmp(target, "/qtiny") == 0) {
        send_fmt(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    } else if (sscanf(target, "/delay/%ld", &n) == 1) {
        struct timespec ts = {n / 1000, (n % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        send_fmt(fd, "HTTP/1.1 204 No Content\r\n\r\n");
    } else if (sscanf(target, "/big/%ld", &n) == 1) {
        char *b = malloc((size_t)n + 1);
        memset(b, 'x', (size_t)n);
        send_fmt(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %ld\r\n\r\n", n);
        if (strcmp(method, "HEAD") != 0)
            send_all(fd, b, (size_t)n);
        free(b);
    } else if (sscanf(target, "/chunked/%ld", &n) == 1) {
        char *b = malloc((size_t)n + 1);
        memset(b, 'y', (size_t)n);
        send_fmt(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%lx\r\n", n);
        send_all(fd, b, (size_t)n);
        send_fmt(fd, "\r\n0\r\n\r\n");
        free(b);
    } else if (sscanf(target, "/pattern/%ld", &n) == 1) {
        send_fmt(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %ld\r\n\r\n", n);
        send_pattern(fd, 0, (size_t)n);
    } else if (sscanf(target, "/pchunked/%ld", &n) == 1) {
        send_pattern_chunked(fd, (size_t)n);
    } else if (sscanf(target, "/pclose/%ld", &n) == 1) {
        send_fmt(fd, "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n\r\n", 2 * n);
        send_pattern(fd, 0, (size_t)n);
        shutdown(fd, SHUT_RDWR);
    } else if (sscanf(target, "/gzip/%ld", &n) == 1) {
        send_gzip(fd, (size_t)n);
    } else if (strcmp(target, "/close") == 0) {
        send_fmt(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
        shutdown(fd, SHUT_RDWR);
    } else if (strncmp(target, "/framing/", 9) == 0) {
        send_framing(fd, target + 9);
    } else {
        send_fmt(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}

static void record(const char *method, const char *target, const char *head, const char *body, size_t len)
{
    pthread_mutex_lock(&srv.mu);
    snprintf(srv.method, sizeof(srv.method), "%s", method);
    snprintf(srv.target, sizeof(srv.target), "%s", target);
    snprintf(srv.head, sizeof(srv.head), "%s", head);
    free(srv.body);
    srv.body = malloc(len + 1);
    memcpy(srv.body, body, len);
    srv.body[len] = '\0';
    srv.body_len = len;
    pthread_mutex_unlock(&srv.mu);
    atomic_fetch_add(&srv.requests, 1);
}

/* Reads until @want bytes are buffered; returns -1 on EOF or error. */
static int fill(int fd, char **buf, size_t *len, size_t *cap, size_t want)
{
    while (*len < want) {
        ssize_t r;
        if (*cap < want + 1) {
            *cap = want + 1;
            *buf = realloc(*buf, *cap);
        }
        r = recv(fd, *buf + *len, *cap - *len - 1, 0);
        if (r <= 0)
            return -1;
        *len += (size_t)r;
    }
    return 0;
}

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    bool drop_next = false; /* after /drop-next: the next request on this connection gets no answer, only a close */

    for (;;) {
        char *end, method[16], target[512], clen[32], *head;
        size_t head_len, body_len = 0;
        buf[len] = '\0';
        while ((end = strstr(buf, "\r\n\r\n")) == NULL) {
            if (len >= SRV_MAX_HEAD || fill(fd, &buf, &len, &cap, len + 1) != 0)
                goto Done;
            buf[len] = '\0';
        }
        head_len = (size_t)(end - buf) + 4;
        if (sscanf(buf, "%15s %511s", method, target) != 2)
            goto Done;
        if (drop_next)
            break;
        head = strndup(buf, head_len);
        if (head_get(strstr(head, "\r\n") + 2, "Content-Length", clen, sizeof(clen)) == 0)
            body_len = strtoul(clen, NULL, 10);
        if (fill(fd, &buf, &len, &cap, head_len + body_len) != 0) {
            free(head);
            goto Done;
        }
        record(method, target, strstr(head, "\r\n") + 2, buf + head_len, body_len);
        respond(fd, method, target, head, buf + head_len, body_len);
        free(head);
        memmove(buf, buf + head_len + body_len, len - head_len - body_len);
        len -= head_len + body_len;
        if (strcmp(target, "/close") == 0 || (strncmp(target, "/framing/", 9) == 0 && framing_closes(target + 9)))
            break;
        drop_next = strcmp(target, "/drop-next") == 0;
        if (strcmp(target, "/idle-close") == 0) { /* a keep-alive answer, then the server drops the idle connection */
            usleep(50 * 1000);
            break;
        }
    }
Done:
    free(buf);
    close(fd);
    atomic_fetch_add(&srv.ended, 1);
    return NULL;
}

static void *accept_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&srv.stop)) {
        struct pollfd pfd = {srv.fd, POLLIN, 0};
        pthread_t t;
        int c;
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        c = accept(srv.fd, NULL, NULL);
        if (c < 0)
            continue;
        atomic_fetch_add(&srv.accepted, 1);
        pthread_create(&t, NULL, conn_main, (void *)(intptr_t)c);
        pthread_detach(t);
    }
    return NULL;
}

/* Binds 127.0.0.1:0 and returns the socket; *port receives the port. */
static int bind_any(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int srv_start(void **state)
{
    (void)state;
    atomic_store(&srv.stop, false); /* the group runs once per client mode */
    pthread_mutex_init(&srv.mu, NULL);
    srv.fd = bind_any(&srv.port);
    if (srv.fd < 0 || listen(srv.fd, 1024) != 0)
        return -1;
    return pthread_create(&srv.thread, NULL, accept_main, NULL);
}

static int srv_stop(void **state)
{
    (void)state;
    atomic_store(&srv.stop, true);
    pthread_join(srv.thread, NULL);
    close(srv.fd);
    pthread_mutex_lock(&srv.mu);
    free(srv.body);
    srv.body = NULL;
    pthread_mutex_unlock(&srv.mu);
    return 0;
}

/* ---- the client side ------------------------------------------------------------------------- */

typedef struct {
    int called;
    up_class_t klass;
    int status, curl_code;
    bool timed_out;
    char message[UP_MESSAGE_SIZE];
    char *body;
    size_t body_len;
    char content_type[128], content_encoding[64], influx_error[256];
    uint64_t total_us;
    int *done; /* shared completion counter */
} result_t;

typedef struct {
    h2o_evloop_t *loop;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver, getaddr;
    up_t *up;
    int done;
} fx_t;

static void copy_opt(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static void on_done(up_job_t *job, void *data)
{
    result_t *r = data;
    r->called++;
    r->klass = job->res.klass;
    r->status = job->res.status;
    r->curl_code = job->res.curl_code;
    r->timed_out = job->res.timed_out;
    memcpy(r->message, job->res.message, sizeof(r->message));
    r->body = up_job_take_body(job, &r->body_len);
    copy_opt(r->content_type, sizeof(r->content_type), job->res.content_type);
    copy_opt(r->content_encoding, sizeof(r->content_encoding), job->res.content_encoding);
    copy_opt(r->influx_error, sizeof(r->influx_error), job->res.influx_error);
    r->total_us = job->res.total_us;
    if (r->done != NULL)
        ++*r->done;
}

/* Every case runs three times: with the worker thread (up_create), on the test's own loop (up_create_on_loop), and on
 * the loop with every request asking for the lean HTTP/1.1 client (use_h1). */
static bool loop_mode, h1_mode;

static int fx_setup_with(void **state, const up_opts_t *opts)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    fx->loop = h2o_evloop_create();
    fx->queue = h2o_multithread_create_queue(fx->loop);
    h2o_multithread_register_receiver(fx->queue, &fx->receiver, up_receiver_cb);
    h2o_multithread_register_receiver(fx->queue, &fx->getaddr, h2o_hostinfo_getaddr_receiver);
    up_opts_t o = *opts;
    o.getaddr_receiver = &fx->getaddr;
    fx->up = loop_mode ? up_create_on_loop(fx->loop, &o) : up_create(&o);
    *state = fx;
    return fx->up != NULL ? 0 : -1;
}

static int fx_setup(void **state)
{
    up_opts_t opts = {.max_host_connections = 16};
    return fx_setup_with(state, &opts);
}

static void run_for(fx_t *fx, int ms);

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    if (fx->up != NULL)
        up_destroy(fx->up);
    /* results posted by up_destroy() still have to be consumed */
    run_for(fx, 30);
    h2o_multithread_unregister_receiver(fx->queue, &fx->receiver);
    h2o_multithread_unregister_receiver(fx->queue, &fx->getaddr);
    h2o_multithread_destroy_queue(fx->queue);
    free(fx->queue); /* h2o 2.2.5's evloop variant of destroy_queue closes the pipe but leaves the struct */
    h2o_evloop_destroy(fx->loop);
    free(fx);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop until *counter reaches @want or @ms elapse. */
static void run_until(fx_t *fx, const int *counter, int want, int ms)
{
    uint64_t deadline = now_ms() + (uint64_t)ms;
    while (*counter < want && now_ms() < deadline)
        h2o_evloop_run(fx->loop, 20);
}

static void run_for(fx_t *fx, int ms)
{
    uint64_t deadline = now_ms() + (uint64_t)ms;
    while (now_ms() < deadline)
        h2o_evloop_run(fx->loop, 10);
}

static void url_of(char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%d%s", srv.port, path);
}

static up_req_t req_for(fx_t *fx, up_method_t method, const char *url, result_t *r)
{
    up_req_t req = {.method = method, .url = url, .timeout_ms = 5000, .receiver = &fx->receiver, .use_h1 = h1_mode};
    req.cb = on_done;
    req.cbdata = r;
    r->done = &fx->done;
    return req;
}

static void submit(fx_t *fx, const up_req_t *req)
{
    char err[128] = "";
    up_job_t *job = up_job_new(req, err, sizeof(err));
    assert_non_null(job);
    assert_string_equal(err, "");
    up_submit(fx->up, job);
}

/* Submits one request and waits for its result. */
static void fetch(fx_t *fx, const up_req_t *req, result_t *r)
{
    int before = fx->done;
    submit(fx, req);
    run_until(fx, &fx->done, before + 1, 10000);
    assert_int_equal(r->called, 1);
}

static void srv_last(char *method, char *target, char *head, char **body, size_t *body_len)
{
    pthread_mutex_lock(&srv.mu);
    strcpy(method, srv.method);
    strcpy(target, srv.target);
    strcpy(head, srv.head);
    *body = malloc(srv.body_len + 1);
    memcpy(*body, srv.body, srv.body_len + 1);
    *body_len = srv.body_len;
    pthread_mutex_unlock(&srv.mu);
}

/* ---- cases ----------------------------------------------------------------------------------- */

static void test_ping_204(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128];
    url_of(url, sizeof(url), "/ping");
    up_req_t req = req_for(fx, UP_GET, url, &r);
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_OK);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.curl_code, 0);
    assert_string_equal(r.message, "");
    assert_int_equal(r.body_len, 0);
    assert_string_equal(r.body, "");
    assert_true(r.total_us > 0);
    free(r.body);
}

static void test_get_records_request(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128], method[16], target[512], head[SRV_MAX_HEAD], value[256], *body;
    size_t body_len;
    const char *hdrs[] = {"Accept: application/x-msgpack", "X-Test: yes"};
    url_of(url, sizeof(url), "/ping?db=x&q=SELECT%201");
    up_req_t req = req_for(fx, UP_GET, url, &r);
    req.headers = hdrs;
    req.num_headers = 2;
    fetch(fx, &req, &r);
    assert_int_equal(r.status, 404); /* the server only knows "/ping" without a query */
    assert_int_equal(r.klass, UP_REFUSED);
    srv_last(method, target, head, &body, &body_len);
    assert_string_equal(method, "GET");
    assert_string_equal(target, "/ping?db=x&q=SELECT%201");
    assert_int_equal(head_get(head, "Accept", value, sizeof(value)), 0);
    assert_string_equal(value, "application/x-msgpack");
    assert_int_equal(head_get(head, "X-Test", value, sizeof(value)), 0);
    assert_string_equal(value, "yes");
    assert_int_equal(head_get(head, "User-Agent", value, sizeof(value)), 0);
    assert_string_equal(value, "influxdb-proxy");
    assert_int_equal(head_get(head, "Authorization", value, sizeof(value)), -1);
    assert_int_equal(body_len, 0);
    free(body);
    free(r.body);
}

/* Fetches @path (a query, as head_before_body says) and returns how long it took, in ms. */
static uint64_t timed_fetch(fx_t *fx, const char *path, bool head_before_body, result_t *r)
{
    char url[128];
    uint64_t t0 = now_ms();
    url_of(url, sizeof(url), path);
    up_req_t req = req_for(fx, UP_GET, url, r);
    req.head_before_body = head_before_body;
    fetch(fx, &req, r);
    return now_ms() - t0;
}

/* Answers whose head comes before their body, as influxd's to a query: the lean client waits for the head and body
 * together (SO_RCVLOWAT at the origin's shortest whole answer). Every answer still comes whole and in time: one
 * whose body is late, one shorter than any before (it must not wait for the transfer's 5 s timeout), one sent again
 * on a new connection after the server closed the pooled one, and the answer to a plain request on a connection that
 * served such a query. */
static void test_head_before_body(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *path;
        bool head_before_body;
        int status;
        const char *body;
    } steps[] = {
        {"/qhead/0", true, 200, QHEAD_BODY},   /* the origin's shortest answer is now this one */
        {"/qhead/0", true, 200, QHEAD_BODY},   /* waited for with its head */
        {"/qlong/300", true, 200, QHEAD_BODY}, /* woken before the answer's end, which is then read as it comes */
        {"/qhead/0", true, 200, QHEAD_BODY},   /* waited for with its head again */
        {"/ping", false, 204, ""},             /* on the same connection: it wakes for its head alone */
        {"/drop-next", false, 200, "ok"},      /* the server closes the connection at the next request... */
        {"/qhead/0", true, 200, QHEAD_BODY},   /* ...which is sent again on a new one, waiting as before */
        {"/qhead/300", true, 200, QHEAD_BODY}, /* the body 300 ms after the head */
        {"/qtiny", true, 200, "{}"},           /* shorter than the waited-for length: read after H1_LOWAT_MS */
        {"/qtiny", true, 200, "{}"},           /* now the shortest answer */
        {"/qhead/0", true, 200, QHEAD_BODY},
    };
    for (size_t i = 0; i != sizeof(steps) / sizeof(steps[0]); ++i) {
        result_t r = {0};
        uint64_t ms = timed_fetch(fx, steps[i].path, steps[i].head_before_body, &r);
        assert_int_equal(r.klass, UP_OK);
        assert_int_equal(r.status, steps[i].status);
        assert_int_equal(r.body_len, strlen(steps[i].body));
        assert_memory_equal(r.body, steps[i].body, r.body_len);
        assert_true(ms < (strstr(steps[i].path, "/300") != NULL ? 2000 : 1000));
        free(r.body);
    }
}

/* Which client ran: curl adds a default Accept header to a request without one, the lean client (use_h1) does not. */
static void test_client_in_use(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128], method[16], target[512], head[SRV_MAX_HEAD], value[256], *body;
    size_t body_len;
    url_of(url, sizeof(url), "/ping");
    up_req_t req = req_for(fx, UP_GET, url, &r);
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_OK);
    srv_last(method, target, head, &body, &body_len);
    if (h1_mode) {
        assert_int_equal(head_get(head, "Accept", value, sizeof(value)), -1);
    } else {
        assert_int_equal(head_get(head, "Accept", value, sizeof(value)), 0);
        assert_string_equal(value, "*/*");
    }
    assert_int_equal(head_get(head, "Host", value, sizeof(value)), 0);
    snprintf(url, sizeof(url), "127.0.0.1:%d", srv.port);
    assert_string_equal(value, url);
    free(body);
    free(r.body);
}

/* GET /framing/@name. */
static void fetch_framing(fx_t *fx, const char *name, result_t *r)
{
    char path[64], url[128];
    snprintf(path, sizeof(path), "/framing/%s", name);
    url_of(url, sizeof(url), path);
    up_req_t req = req_for(fx, UP_GET, url, r);
    fetch(fx, &req, r);
}

/* Each framing gives the same body, and the connection is used again exactly when the answer allows it. */
static void test_framing(void **state)
{
    fx_t *fx = *state;
    char url[128];
    for (size_t i = 0; i != sizeof(framings) / sizeof(framings[0]); ++i) {
        result_t r = {0}, next = {0};
        if (framings[i].broken)
            continue;
        fetch_framing(fx, framings[i].name, &r);
        assert_int_equal(r.klass, UP_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, 15);
        assert_memory_equal(r.body, "hello0123456789", 15);
        int accepted = atomic_load(&srv.accepted);
        url_of(url, sizeof(url), "/ping");
        up_req_t req2 = req_for(fx, UP_GET, url, &next);
        fetch(fx, &req2, &next);
        assert_int_equal(next.klass, UP_OK);
        if (framings[i].closes)
            assert_int_equal(atomic_load(&srv.accepted), accepted + 1);
        else
            assert_int_equal(atomic_load(&srv.accepted), accepted);
        free(r.body);
        free(next.body);
    }
}

/* Answers no HTTP/1.1 client can make sense of end UNREACHABLE, not in a crash or a hang, whichever client ran. */
static void test_broken_answers(void **state)
{
    fx_t *fx = *state;
    for (size_t i = 0; i != sizeof(framings) / sizeof(framings[0]); ++i) {
        result_t r = {0};
        if (!framings[i].broken)
            continue;
        if (!h1_mode && strcmp(framings[i].name, "conflicting-lengths") == 0)
            continue; /* curl 7.88 takes one of the two; the lean client refuses the answer */
        fetch_framing(fx, framings[i].name, &r);
        if (r.klass != UP_UNREACHABLE)
            fail_msg("%s: class %s, status %d, message %s", framings[i].name, up_class_str(r.klass), r.status,
                     r.message);
        assert_false(r.timed_out);
        assert_string_not_equal(r.message, "");
        free(r.body);
    }
}

/* A backend named by host name: resolved (h2o's resolver threads for the lean client), then used as usual. */
static void test_host_name(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128];
    snprintf(url, sizeof(url), "http://localhost:%d/ping", srv.port);
    up_req_t req = req_for(fx, UP_GET, url, &r);
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_OK);
    assert_int_equal(r.status, 204);
    free(r.body);
}

static void test_head(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128];
    url_of(url, sizeof(url), "/big/5000");
    up_req_t req = req_for(fx, UP_HEAD, url, &r);
    req.max_response = 100; /* a HEAD's Content-Length announces no body */
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    assert_string_equal(r.content_type, "text/plain");
    free(r.body);
}

static void test_echo_1mib(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128], method[16], target[512], head[SRV_MAX_HEAD], value[64], *body;
    size_t n = 1024 * 1024 + 17, body_len;
    char *payload = malloc(n);
    for (size_t i = 0; i != n; ++i)
        payload[i] = (char)(i * 7 + i / 251);
    url_of(url, sizeof(url), "/echo");
    up_req_t req = req_for(fx, UP_POST, url, &r);
    req.body = payload;
    req.body_len = n;
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, n);
    assert_memory_equal(r.body, payload, n);
    assert_string_equal(r.content_type, "application/octet-stream");
    assert_string_equal(r.content_encoding, "identity");
    srv_last(method, target, head, &body, &body_len);
    assert_string_equal(method, "POST");
    assert_int_equal(head_get(head, "Expect", value, sizeof(value)), -1);
    assert_int_equal(head_get(head, "Content-Encoding", value, sizeof(value)), -1);
    free(body);
    free(payload);
    free(r.body);
}

static void test_refused_400(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128];
    url_of(url, sizeof(url), "/400");
    up_req_t req = req_for(fx, UP_POST, url, &r);
    req.body = "cpu v=1";
    req.body_len = 7;
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_REFUSED);
    assert_int_equal(r.status, 400);
    assert_int_equal(r.curl_code, 0);
    assert_string_equal(r.influx_error, "database not found: \"nope\"");
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, "{\"error\":\"database not found: \\\"nope\\\"\"}\n");
    assert_string_equal(r.message, "HTTP 400: database not found: \"nope\"");
    free(r.body);
}

/* A head holding a NUL byte, which libcurl refuses ("Nul byte in header"): still the backend's refusal, never an
 * unreachable backend (a write would be queued and replayed for ever). On a loop the lean client reads it whole. */
static void test_refused_with_nul_in_head(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128];
    int before = atomic_load(&srv.requests);
    url_of(url, sizeof(url), "/400-nul");
    up_req_t req = req_for(fx, UP_POST, url, &r);
    req.body = "a\0b v=1.5";
    req.body_len = 9;
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_REFUSED);
    assert_int_equal(r.status, 400);
    if (!loop_mode) { /* curl alone: the status, not the text */
        assert_int_equal(r.curl_code, CURLE_WEIRD_SERVER_REPLY);
        assert_string_equal(r.message, "HTTP 400 (unreadable head: Nul byte in header)");
        assert_int_equal(atomic_load(&srv.requests) - before, 1);
        free(r.body);
        return;
    }
    assert_int_equal(r.curl_code, 0);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(
        r.influx_error,
        "partial write: field type conflict: input field \"v\" on measurement \"a?b\" is type float dropped=1");
    assert_string_equal(r.body, NUL_ERROR_BODY);
    /* curl first, then the lean client: twice; the lean client alone: once */
    assert_int_equal(atomic_load(&srv.requests) - before, h1_mode ? 1 : 2);
    free(r.body);
}

static void test_refused_500(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128];
    url_of(url, sizeof(url), "/500");
    up_req_t req = req_for(fx, UP_GET, url, &r);
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_REFUSED);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body, "oops");
    assert_string_equal(r.influx_error, "");
    assert_string_equal(r.message, "HTTP 500");
    free(r.body);
}

static void test_connection_refused(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128];
    int port, fd = bind_any(&port);
    close(fd); /* bound, never listened: nothing accepts on it */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/write?db=x", port);
    up_req_t req = req_for(fx, UP_POST, url, &r);
    req.body = "cpu v=1";
    req.body_len = 7;
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_UNREACHABLE);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.curl_code, CURLE_COULDNT_CONNECT);
    assert_false(r.timed_out);
    assert_non_null(strstr(r.message, "127.0.0.1"));
    free(r.body);
}

/* A GET the server answers only after 1.5 s, with a timeout of @timeout_ms: it must end timed out, on time. */
static void check_timeout(fx_t *fx, uint32_t timeout_ms, uint64_t latest_ms)
{
    result_t r = {0};
    char url[128];
    uint64_t t0 = now_ms(), elapsed;
    url_of(url, sizeof(url), "/delay/1500");
    up_req_t req = req_for(fx, UP_GET, url, &r);
    req.timeout_ms = timeout_ms;
    fetch(fx, &req, &r);
    elapsed = now_ms() - t0;
    assert_int_equal(r.klass, UP_UNREACHABLE);
    assert_true(r.timed_out);
    assert_int_equal(r.curl_code, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(r.status, 0);
    assert_non_null(strcasestr(r.message, "timed out"));
    assert_true(elapsed >= timeout_ms - 10 && elapsed < latest_ms);
    assert_true(r.total_us >= (timeout_ms - 10) * 1000u);
    free(r.body);
}

static void test_timeout(void **state)
{
    check_timeout(*state, 200, 1200);
}

/* A transfer that ends at once leaves the client's timer armed for its own, earlier deadline; the next transfer's
 * timeout must still fire on time, with nothing else going on in the client (on the loop the timer goes off early
 * first, and the later deadline has to be armed after it). */
static void test_timeout_after_quick_transfer(void **state)
{
    fx_t *fx = *state;
    result_t quick = {0};
    char url[128];
    url_of(url, sizeof(url), "/ping");
    up_req_t req = req_for(fx, UP_GET, url, &quick);
    fetch(fx, &req, &quick);
    assert_int_equal(quick.klass, UP_OK);
    free(quick.body);
    check_timeout(fx, 700, 1400);
}

static void test_closed_mid_response(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128];
    url_of(url, sizeof(url), "/close");
    up_req_t req = req_for(fx, UP_GET, url, &r);
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_UNREACHABLE);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.curl_code, CURLE_PARTIAL_FILE);
    assert_false(r.timed_out);
    free(r.body);
}

/* Table: path, cap, expected class, expected body length. */
static void test_response_cap(void **state)
{
    static const struct {
        const char *path;
        size_t cap;
        up_class_t klass;
        size_t body_len;
    } cases[] = {
        {"/big/1000", 1000, UP_OK, 1000},           /* exactly at the cap */
        {"/big/1001", 1000, UP_TOO_LARGE, 0},       /* Content-Length over the cap: stops at the header */
        {"/chunked/1000", 1000, UP_OK, 1000},       /* no length announced, at the cap */
        {"/chunked/100000", 1000, UP_TOO_LARGE, 0}, /* no length announced: stops while writing */
        {"/chunked/1001", 1000, UP_TOO_LARGE, 0},   /* one byte over, found while writing */
        {"/big/300000", 0, UP_OK, 300000},          /* 0 = the default cap */
    };
    fx_t *fx = *state;
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        result_t r = {0};
        char url[128];
        url_of(url, sizeof(url), cases[i].path);
        up_req_t req = req_for(fx, UP_GET, url, &r);
        req.max_response = cases[i].cap;
        fetch(fx, &req, &r);
        assert_int_equal(r.klass, cases[i].klass);
        if (cases[i].klass == UP_OK)
            assert_int_equal(r.body_len, cases[i].body_len);
        else
            assert_string_equal(r.message, "response larger than 1000 bytes");
        assert_true(r.body_len <= (cases[i].cap != 0 ? cases[i].cap : UP_DEFAULT_MAX_RESPONSE));
        free(r.body);
    }
}

/* A body given in pieces arrives as the pieces back to back, plain and gzipped; pieces and body together are refused.
 */
static void test_body_parts(void **state)
{
    fx_t *fx = *state;
    char url[128], err[128], method[16], target[512], head[SRV_MAX_HEAD], *sent;
    const char *pieces[] = {"cpu,host=a value=1 1\n", "", "mem,host=b free=2i 2\n", "disk used=3 3\n"};
    h2o_iovec_t parts[4];
    size_t sent_len;
    char whole[256] = "";
    for (size_t i = 0; i != 4; ++i) {
        parts[i] = h2o_iovec_init(pieces[i], strlen(pieces[i]));
        strcat(whole, pieces[i]);
    }
    url_of(url, sizeof(url), "/echo");
    for (int gz = 0; gz != 2; ++gz) {
        result_t r = {0};
        up_req_t req = req_for(fx, UP_POST, url, &r);
        req.body_parts = parts;
        req.num_body_parts = 4;
        req.gzip = gz != 0;
        fetch(fx, &req, &r);
        assert_int_equal(r.klass, UP_OK);
        srv_last(method, target, head, &sent, &sent_len);
        if (!gz) {
            assert_int_equal(sent_len, strlen(whole));
            assert_memory_equal(sent, whole, sent_len);
        } else {
            z_stream zs = {0};
            char out[256];
            assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
            zs.next_in = (Bytef *)sent;
            zs.avail_in = (uInt)sent_len;
            zs.next_out = (Bytef *)out;
            zs.avail_out = sizeof(out);
            assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
            assert_int_equal(zs.total_out, strlen(whole));
            assert_memory_equal(out, whole, zs.total_out);
            inflateEnd(&zs);
        }
        free(sent);
        free(r.body);
    }
    result_t unused = {0};
    up_req_t both = req_for(fx, UP_POST, url, &unused);
    both.body_parts = parts;
    both.num_body_parts = 4;
    both.body = "x";
    both.body_len = 1;
    assert_null(up_job_new(&both, err, sizeof(err)));
    assert_string_equal(err, "a body is either body/body_len or body_parts, not both");
}

static void test_gzip_body(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128], method[16], target[512], head[SRV_MAX_HEAD], value[64], *sent;
    size_t n = 0, sent_len;
    char *plain = malloc(200000);
    while (n < 190000)
        n += (size_t)sprintf(plain + n, "cpu,host=server%02zu,region=eu value=%zu.5 16000000%05zu\n", n % 97, n, n);
    url_of(url, sizeof(url), "/echo");
    up_req_t req = req_for(fx, UP_POST, url, &r);
    req.body = plain;
    req.body_len = n;
    req.gzip = true;
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_OK);
    /* what arrived was compressed; the echo comes back raw, not decoded by curl */
    srv_last(method, target, head, &sent, &sent_len);
    assert_int_equal(head_get(head, "Content-Encoding", value, sizeof(value)), 0);
    assert_string_equal(value, "gzip");
    assert_true(sent_len < n / 4);
    assert_string_equal(r.content_encoding, "gzip");
    assert_int_equal(r.body_len, sent_len);
    {
        z_stream zs = {0};
        char *out = malloc(n + 16);
        assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
        zs.next_in = (Bytef *)r.body;
        zs.avail_in = (uInt)r.body_len;
        zs.next_out = (Bytef *)out;
        zs.avail_out = (uInt)(n + 16);
        assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
        assert_int_equal(zs.total_out, n);
        assert_memory_equal(out, plain, n);
        inflateEnd(&zs);
        free(out);
    }
    free(sent);
    free(plain);
    free(r.body);
}

static void test_basic_auth(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128], method[16], target[512], head[SRV_MAX_HEAD], value[128], *body;
    size_t body_len;
    url_of(url, sizeof(url), "/ping");
    up_req_t req = req_for(fx, UP_GET, url, &r);
    req.username = "alice";
    req.password = "s3cret";
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_OK);
    srv_last(method, target, head, &body, &body_len);
    assert_int_equal(head_get(head, "Authorization", value, sizeof(value)), 0);
    assert_string_equal(value, "Basic YWxpY2U6czNjcmV0"); /* base64("alice:s3cret") */
    free(body);
    free(r.body);
}

static void test_keepalive(void **state)
{
    fx_t *fx = *state;
    result_t r1 = {0}, r2 = {0}, r3 = {0};
    char url[128];
    int before = atomic_load(&srv.accepted);
    url_of(url, sizeof(url), "/ping");
    up_req_t req1 = req_for(fx, UP_GET, url, &r1);
    fetch(fx, &req1, &r1);
    up_req_t req2 = req_for(fx, UP_POST, url, &r2);
    req2.body = "x";
    req2.body_len = 1;
    fetch(fx, &req2, &r2);
    up_req_t req3 = req_for(fx, UP_GET, url, &r3);
    fetch(fx, &req3, &r3);
    assert_int_equal(r1.klass, UP_OK);
    assert_int_equal(r2.klass, UP_OK);
    assert_int_equal(r3.klass, UP_OK);
    assert_int_equal(atomic_load(&srv.accepted) - before, 1);
    free(r1.body);
    free(r2.body);
    free(r3.body);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The server closes a keep-alive connection while it idles in the cache: nothing spins meanwhile (in loop mode the
 * idle connection stays registered with the loop), and the next request opens a new connection. */
static void test_server_closes_idle_connection(void **state)
{
    fx_t *fx = *state;
    result_t r1 = {0}, r2 = {0};
    char url[128];
    int before = atomic_load(&srv.accepted);
    url_of(url, sizeof(url), "/idle-close");
    up_req_t req1 = req_for(fx, UP_GET, url, &r1);
    fetch(fx, &req1, &r1);
    assert_int_equal(r1.klass, UP_OK);
    double cpu0 = cpu_seconds();
    uint64_t until = now_ms() + 300;
    while (now_ms() < until) {
        if (loop_mode)
            h2o_evloop_run(fx->loop, 10);
        else
            usleep(10 * 1000);
    }
    double busy = cpu_seconds() - cpu0;
    if (busy > 0.1)
        fail_msg("%.3f s of CPU in 0.3 s with a closed connection in the cache", busy);
    url_of(url, sizeof(url), "/ping");
    up_req_t req2 = req_for(fx, UP_GET, url, &r2);
    fetch(fx, &req2, &r2);
    assert_int_equal(r2.klass, UP_OK);
    assert_int_equal(atomic_load(&srv.accepted) - before, 2);
    free(r1.body);
    free(r2.body);
}

/* The server closes a kept-alive connection just as the next request arrives on it (it had no way to know): that
 * request is sent once more, on a new connection, and succeeds. */
static void test_reused_connection_dropped(void **state)
{
    fx_t *fx = *state;
    result_t r1 = {0}, r2 = {0};
    char url[128];
    url_of(url, sizeof(url), "/drop-next");
    up_req_t req1 = req_for(fx, UP_GET, url, &r1);
    fetch(fx, &req1, &r1);
    assert_int_equal(r1.klass, UP_OK);
    int before = atomic_load(&srv.accepted);
    url_of(url, sizeof(url), "/ping");
    up_req_t req2 = req_for(fx, UP_GET, url, &r2);
    fetch(fx, &req2, &r2);
    assert_int_equal(r2.klass, UP_OK);
    assert_int_equal(r2.status, 204);
    assert_int_equal(atomic_load(&srv.accepted) - before, 1);
    free(r1.body);
    free(r2.body);
}

static int fx_setup_idle_1s(void **state)
{
    up_opts_t opts = {.max_host_connections = 16, .max_idle_age_s = 1};
    return fx_setup_with(state, &opts);
}

/* A kept-alive connection idle for longer than max_idle_age_s is not used again; the lean client also closes it
 * on its own, without a request coming (a backend a reload removed keeps no connection open). */
static void test_idle_connection_expires(void **state)
{
    fx_t *fx = *state;
    result_t r1 = {0}, r2 = {0};
    char url[128];
    url_of(url, sizeof(url), "/ping");
    up_req_t req1 = req_for(fx, UP_GET, url, &r1);
    fetch(fx, &req1, &r1);
    assert_int_equal(r1.klass, UP_OK);
    int accepted = atomic_load(&srv.accepted);
    assert_true(atomic_load(&srv.accepted) - atomic_load(&srv.ended) >= 1);
    run_for(fx, 2600);
    if (h1_mode) /* every connection the server accepted (earlier cases' included) has ended */
        assert_int_equal(atomic_load(&srv.accepted) - atomic_load(&srv.ended), 0);
    up_req_t req2 = req_for(fx, UP_GET, url, &r2);
    fetch(fx, &req2, &r2);
    assert_int_equal(r2.klass, UP_OK);
    assert_int_equal(atomic_load(&srv.accepted) - accepted, 1);
    free(r1.body);
    free(r2.body);
}

/* Waits until the server has had @want requests; on the loop, the loop has to run for the transfers to go on. */
static void wait_requests(fx_t *fx, int want)
{
    uint64_t deadline = now_ms() + 5000;
    while (atomic_load(&srv.requests) < want && now_ms() < deadline) {
        if (loop_mode)
            h2o_evloop_run(fx->loop, 2);
        else
            usleep(2000);
    }
}

static void test_cancel(void **state)
{
    fx_t *fx = *state;
    result_t never = {0}, after = {0};
    char url[128], err[128];
    up_job_t *job;
    url_of(url, sizeof(url), "/delay/300");
    up_req_t req = req_for(fx, UP_GET, url, &never);

    /* never submitted */
    job = up_job_new(&req, err, sizeof(err));
    up_cancel(job);

    /* just submitted: pending or freshly started, either way no callback */
    job = up_job_new(&req, err, sizeof(err));
    up_submit(fx->up, job);
    up_cancel(job);

    /* in flight: the backend already has the request */
    int seen = atomic_load(&srv.requests);
    job = up_job_new(&req, err, sizeof(err));
    up_submit(fx->up, job);
    wait_requests(fx, seen + 1);
    assert_true(atomic_load(&srv.requests) > seen);
    up_cancel(job);

    /* finished but not yet delivered: the result sits in the receiver's queue (only with the worker thread: on
     * the loop a transfer that ends is delivered in the same loop iteration) */
    url_of(url, sizeof(url), "/ping");
    up_req_t quick = req_for(fx, UP_GET, url, &never);
    if (!loop_mode) {
        seen = atomic_load(&srv.requests);
        job = up_job_new(&quick, err, sizeof(err));
        up_submit(fx->up, job);
        wait_requests(fx, seen + 1);
        usleep(100000);
        up_cancel(job);
    }

    run_for(fx, 500);
    assert_int_equal(never.called, 0);

    /* the client still works afterwards */
    up_req_t req2 = req_for(fx, UP_GET, url, &after);
    fetch(fx, &req2, &after);
    assert_int_equal(after.klass, UP_OK);
    free(after.body);
}

static int fx_setup_one_conn(void **state)
{
    up_opts_t opts = {.max_host_connections = 1, .user_agent = "probe/1"};
    return fx_setup_with(state, &opts);
}

/* With one connection per host, a cancelled slow transfer must give its connection back at once. */
static void test_cancel_releases_connection(void **state)
{
    fx_t *fx = *state;
    result_t slow = {0}, quick = {0};
    char url[128], err[128], method[16], target[512], head[SRV_MAX_HEAD], value[64], *body;
    size_t body_len;
    int seen = atomic_load(&srv.requests);
    uint64_t t0;
    up_job_t *job;
    url_of(url, sizeof(url), "/delay/3000");
    up_req_t req = req_for(fx, UP_GET, url, &slow);
    job = up_job_new(&req, err, sizeof(err));
    up_submit(fx->up, job);
    wait_requests(fx, seen + 1);
    t0 = now_ms();
    up_cancel(job);
    url_of(url, sizeof(url), "/ping");
    up_req_t req2 = req_for(fx, UP_GET, url, &quick);
    fetch(fx, &req2, &quick);
    assert_int_equal(quick.klass, UP_OK);
    assert_true(now_ms() - t0 < 1000);
    assert_int_equal(slow.called, 0);
    srv_last(method, target, head, &body, &body_len);
    assert_int_equal(head_get(head, "User-Agent", value, sizeof(value)), 0);
    assert_string_equal(value, "probe/1");
    free(body);
    free(quick.body);
}

/* timeout_ms also covers the wait for a free connection. */
static void test_timeout_while_queued(void **state)
{
    fx_t *fx = *state;
    result_t slow = {0}, queued = {0};
    char url[128];
    int before = fx->done;
    url_of(url, sizeof(url), "/delay/1000");
    up_req_t req = req_for(fx, UP_GET, url, &slow);
    submit(fx, &req);
    url_of(url, sizeof(url), "/ping");
    up_req_t req2 = req_for(fx, UP_GET, url, &queued);
    req2.timeout_ms = 300;
    submit(fx, &req2);
    run_until(fx, &fx->done, before + 2, 5000);
    assert_int_equal(slow.klass, UP_OK);
    assert_int_equal(queued.klass, UP_UNREACHABLE);
    assert_true(queued.timed_out);
    free(slow.body);
    free(queued.body);
}

/* A bulk job (a write) on the lean client takes a connection of the second pool: with one connection per host and pool,
 * a query still gets through while a slow write holds the bulk one, and a second write waits for it. Curl has one
 * pool, where the query waits too. */
static void test_bulk_pool_is_apart(void **state)
{
    fx_t *fx = *state;
    result_t slow = {0}, query = {0}, write = {0};
    char url[128];
    int before = fx->done, seen = atomic_load(&srv.requests);
    url_of(url, sizeof(url), "/delay/1000");
    up_req_t req = req_for(fx, UP_GET, url, &slow);
    req.bulk = true;
    submit(fx, &req);
    wait_requests(fx, seen + 1);
    url_of(url, sizeof(url), "/ping");
    up_req_t q = req_for(fx, UP_GET, url, &query);
    q.timeout_ms = 400;
    submit(fx, &q);
    up_req_t w = req_for(fx, UP_GET, url, &write);
    w.timeout_ms = 400;
    w.bulk = true;
    submit(fx, &w);
    run_until(fx, &fx->done, before + 3, 5000);
    assert_int_equal(slow.klass, UP_OK);
    assert_int_equal(query.klass, h1_mode ? UP_OK : UP_UNREACHABLE);
    assert_int_equal(write.klass, UP_UNREACHABLE);
    assert_true(write.timed_out);
    free(slow.body);
    free(query.body);
    free(write.body);
}

static void test_concurrent_1000(void **state)
{
    enum { N = 1000 };
    fx_t *fx = *state;
    result_t *r = calloc(N, sizeof(*r));
    char url[128], bodies[N][16];
    url_of(url, sizeof(url), "/echo");
    int before = fx->done;
    for (int i = 0; i != N; ++i) {
        up_req_t req = req_for(fx, UP_POST, url, &r[i]);
        snprintf(bodies[i], sizeof(bodies[i]), "job-%d", i);
        req.body = bodies[i];
        req.body_len = strlen(bodies[i]);
        req.timeout_ms = 20000;
        submit(fx, &req);
    }
    run_until(fx, &fx->done, before + N, 30000);
    for (int i = 0; i != N; ++i) {
        assert_int_equal(r[i].called, 1);
        assert_int_equal(r[i].klass, UP_OK);
        assert_string_equal(r[i].body, bodies[i]);
        free(r[i].body);
    }
    free(r);
}

static void test_destroy_in_flight(void **state)
{
    enum { N = 5 };
    fx_t *fx = *state;
    result_t r[N] = {{0}};
    char url[128];
    int seen = atomic_load(&srv.requests), before = fx->done;
    uint64_t t0;
    url_of(url, sizeof(url), "/delay/3000");
    for (int i = 0; i != N; ++i) {
        up_req_t req = req_for(fx, UP_GET, url, &r[i]);
        submit(fx, &req);
    }
    wait_requests(fx, seen + 1);
    t0 = now_ms();
    up_destroy(fx->up);
    fx->up = NULL;
    assert_true(now_ms() - t0 < 1000);
    run_until(fx, &fx->done, before + N, 2000);
    for (int i = 0; i != N; ++i) {
        assert_int_equal(r[i].called, 1);
        assert_int_equal(r[i].klass, UP_CANCELLED);
        assert_string_equal(r[i].message, "shutdown");
        free(r[i].body);
    }
}

static void test_invalid_requests(void **state)
{
    static const char *crlf[] = {"X-A: 1\r\nX-B: 2"};
    static const char *nocolon[] = {"Accept"};
    static const char *noname[] = {": x"};
    fx_t *fx = *state;
    static const struct {
        up_method_t method;
        const char *url;
        const char **headers;
        const char *body;
        size_t body_len;
        bool no_receiver;
        const char *err;
    } cases[] = {
        {UP_GET, NULL, NULL, NULL, 0, false, "no URL"},
        {UP_GET, "", NULL, NULL, 0, false, "no URL"},
        {UP_GET, "http://h/\r\nX: y", NULL, NULL, 0, false, "the URL contains CR or LF"},
        {UP_GET, "http://h/", NULL, NULL, 0, true, "no receiver"},
        {UP_GET, "http://h/", NULL, "x", 1, false, "a GET or HEAD request has no body"},
        {UP_HEAD, "http://h/", NULL, "x", 1, false, "a GET or HEAD request has no body"},
        {UP_POST, "http://h/", NULL, NULL, 3, false, "body_len is 3 but body is NULL"},
        {UP_GET, "http://h/", crlf, NULL, 0, false, "a header contains CR or LF"},
        {UP_GET, "http://h/", nocolon, NULL, 0, false, "header 0 is not \"Name: value\""},
        {UP_GET, "http://h/", noname, NULL, 0, false, "header 0 is not \"Name: value\""},
        {(up_method_t)7, "http://h/", NULL, NULL, 0, false, "unknown method 7"},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char err[128] = "";
        up_req_t req = {.method = cases[i].method, .url = cases[i].url, .receiver = &fx->receiver};
        req.headers = cases[i].headers;
        req.num_headers = cases[i].headers != NULL ? 1 : 0;
        req.body = cases[i].body;
        req.body_len = cases[i].body_len;
        if (cases[i].no_receiver)
            req.receiver = NULL;
        assert_null(up_job_new(&req, err, sizeof(err)));
        assert_string_equal(err, cases[i].err);
    }
}

/* A callback that cancels a sibling whose result may already be queued in the same batch. */
typedef struct {
    result_t r;
    up_job_t *sibling;
    int *sibling_called;
} sib_t;

static void on_done_cancel_sibling(up_job_t *job, void *data)
{
    sib_t *s = data;
    on_done(job, &s->r);
    if (s->sibling != NULL && *s->sibling_called == 0)
        up_cancel(s->sibling);
    s->sibling = NULL;
}

static void test_cancel_from_callback(void **state)
{
    fx_t *fx = *state;
    sib_t a, b;
    char url[128], err[128];
    up_job_t *ja, *jb;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    url_of(url, sizeof(url), "/ping");
    up_req_t req = req_for(fx, UP_GET, url, &a.r);
    req.cb = on_done_cancel_sibling;
    req.cbdata = &a;
    ja = up_job_new(&req, err, sizeof(err));
    req.cbdata = &b;
    b.r.done = &fx->done;
    jb = up_job_new(&req, err, sizeof(err));
    a.sibling = jb;
    b.sibling = ja;
    a.sibling_called = &b.r.called;
    b.sibling_called = &a.r.called;
    up_submit(fx->up, ja);
    up_submit(fx->up, jb);
    run_for(fx, 500);
    /* whichever finished first cancelled the other */
    assert_int_equal(a.r.called + b.r.called, 1);
    free(a.r.body);
    free(b.r.body);
}

/* ---- streaming ------------------------------------------------------------------------------- */

#define WINDOW ((size_t)UP_DEFAULT_STREAM_WINDOW)
#define ONE_WRITE ((size_t)CURL_MAX_WRITE_SIZE)
#define MiB (1024 * 1024)

/* What the streaming callbacks saw, in the order they saw it. */
typedef struct {
    up_job_t *job; /* until the completion or a cancel */
    int heads, chunks, done;
    int head_status;
    char head_type[64], head_encoding[64], head_error[128];
    bool chunk_before_head, chunk_after_done;
    size_t received, acked, max_unacked;
    size_t bad_at; /* first offset not matching pat(), or SIZE_MAX */
    bool check_pattern;
    char *raw; /* when collecting: every byte received (raw_cap at most) */
    size_t raw_cap;
    int cancel_at_chunk; /* up_cancel() from inside that chunk (1-based); 0 = never */
    bool cancel_at_head;
    /* the completion */
    up_class_t klass;
    int status, curl_code;
    char message[UP_MESSAGE_SIZE];
    size_t body_len, received_at_done;
} st_t;

static void st_head(up_job_t *job, void *data)
{
    st_t *s = data;
    s->heads++;
    s->head_status = job->res.status;
    copy_opt(s->head_type, sizeof(s->head_type), job->res.content_type);
    copy_opt(s->head_encoding, sizeof(s->head_encoding), job->res.content_encoding);
    copy_opt(s->head_error, sizeof(s->head_error), job->res.influx_error);
    if (s->cancel_at_head) {
        up_cancel(job);
        s->job = NULL;
    }
}

static void st_chunk(up_job_t *job, void *data, const char *p, size_t len)
{
    st_t *s = data;
    assert_ptr_equal(job, s->job);
    assert_true(len > 0 && len <= ONE_WRITE);
    s->chunks++;
    if (s->heads == 0)
        s->chunk_before_head = true;
    if (s->done != 0)
        s->chunk_after_done = true;
    for (size_t i = 0; s->check_pattern && s->bad_at == SIZE_MAX && i != len; ++i)
        if ((unsigned char)p[i] != pat(s->received + i))
            s->bad_at = s->received + i;
    if (s->raw != NULL && s->received + len <= s->raw_cap)
        memcpy(s->raw + s->received, p, len);
    s->received += len;
    if (s->received - s->acked > s->max_unacked)
        s->max_unacked = s->received - s->acked;
    if (s->cancel_at_chunk == s->chunks) {
        up_cancel(job);
        s->job = NULL;
    }
}

static void st_done(up_job_t *job, void *data)
{
    st_t *s = data;
    s->done++;
    s->klass = job->res.klass;
    s->status = job->res.status;
    s->curl_code = job->res.curl_code;
    memcpy(s->message, job->res.message, sizeof(s->message));
    s->body_len = job->res.body_len;
    s->received_at_done = s->received;
    s->job = NULL;
}

static void st_init(st_t *s)
{
    memset(s, 0, sizeof(*s));
    s->bad_at = SIZE_MAX;
    s->check_pattern = true;
}

static void st_submit(fx_t *fx, st_t *s, const char *path, size_t max_response)
{
    char url[128], err[128] = "";
    url_of(url, sizeof(url), path);
    up_req_t req = {.method = UP_GET, .url = url, .timeout_ms = 20000, .receiver = &fx->receiver, .use_h1 = h1_mode};
    req.cb = st_done;
    req.on_head = st_head;
    req.on_chunk = st_chunk;
    req.cbdata = s;
    req.max_response = max_response;
    s->job = up_job_new(&req, err, sizeof(err));
    assert_non_null(s->job);
    up_submit(fx->up, s->job);
}

/* Runs the loop until the completion or @ms, acknowledging at most @step bytes per turn (0: none). */
static void st_pump(fx_t *fx, st_t *s, size_t step, int ms)
{
    uint64_t deadline = now_ms() + (uint64_t)ms;
    while (s->done == 0 && now_ms() < deadline) {
        h2o_evloop_run(fx->loop, 1);
        if (s->job != NULL && step != 0 && s->received > s->acked) {
            size_t n = s->received - s->acked < step ? s->received - s->acked : step;
            s->acked += n;
            up_stream_ack(s->job, n);
        }
    }
}

/* Runs the loop without acknowledging until nothing has arrived for @quiet_ms (or @ms passed). */
static void st_until_stalled(fx_t *fx, st_t *const *s, size_t n, int quiet_ms, int ms)
{
    uint64_t deadline = now_ms() + (uint64_t)ms, quiet_since = now_ms();
    size_t last = (size_t)-1;
    while (now_ms() < deadline) {
        size_t sum = 0;
        h2o_evloop_run(fx->loop, 5);
        for (size_t i = 0; i != n; ++i)
            sum += s[i]->received;
        if (sum != last) {
            last = sum;
            quiet_since = now_ms();
        } else if (now_ms() - quiet_since >= (uint64_t)quiet_ms) {
            return;
        }
    }
}

/* 50 MiB byte-exact through a reader that first stops acknowledging (the transfer must stall at the
 * window) and then acknowledges in small steps. */
static void test_stream_50mib(void **state)
{
    fx_t *fx = *state;
    st_t s, *sp = &s;
    char path[64];
    size_t total = 50 * MiB;
    st_init(&s);
    snprintf(path, sizeof(path), "/pattern/%zu", total);
    st_submit(fx, &s, path, 0);
    st_until_stalled(fx, &sp, 1, 300, 5000);
    assert_int_equal(s.done, 0);
    assert_true(s.received > WINDOW - ONE_WRITE);
    assert_true(s.received <= WINDOW + ONE_WRITE);
    st_pump(fx, &s, 96 * 1024, 15000);
    assert_int_equal(s.done, 1);
    assert_int_equal(s.klass, UP_OK);
    assert_int_equal(s.status, 200);
    assert_string_equal(s.message, "");
    assert_int_equal(s.body_len, 0);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.head_status, 200);
    assert_string_equal(s.head_type, "application/json");
    assert_false(s.chunk_before_head);
    assert_int_equal(s.received, total);
    assert_int_equal(s.received_at_done, total);
    assert_int_equal(s.bad_at, SIZE_MAX);
    assert_true(s.max_unacked <= WINDOW + ONE_WRITE);
    assert_true(s.chunks >= (int)(total / ONE_WRITE));
}

static int fx_setup_small_window(void **state)
{
    up_opts_t opts = {.stream_window = 100000};
    return fx_setup_with(state, &opts);
}

/* Chunked transfer-encoding arrives de-chunked; a reader acknowledging a chunk at a time from inside
 * on_chunk keeps it flowing; a custom window bounds what is outstanding. */
static void test_stream_chunked(void **state)
{
    fx_t *fx = *state;
    st_t s, *sp = &s;
    size_t total = 3 * MiB + 12345;
    char path[64];
    st_init(&s);
    snprintf(path, sizeof(path), "/pchunked/%zu", total);
    st_submit(fx, &s, path, 0);
    st_until_stalled(fx, &sp, 1, 200, 5000);
    assert_true(s.received > 100000 - ONE_WRITE && s.received <= 100000);
    st_pump(fx, &s, ONE_WRITE, 10000);
    assert_int_equal(s.done, 1);
    assert_int_equal(s.klass, UP_OK);
    assert_int_equal(s.received, total);
    assert_int_equal(s.bad_at, SIZE_MAX);
    assert_true(s.max_unacked <= 100000);
    assert_false(s.chunk_before_head);
    assert_false(s.chunk_after_done);
}

/* Non-2xx answers: the head shows status and X-Influxdb-Error first; cancelling there ends all. */
static void test_stream_error_head(void **state)
{
    static const struct {
        const char *path;
        bool cancel;
        int status;
        const char *type, *error;
    } cases[] = {
        {"/500", true, 500, "text/plain", ""},
        {"/500", false, 500, "text/plain", ""},
        {"/400", true, 400, "application/json", "database not found: \"nope\""},
        {"/400", false, 400, "application/json", "database not found: \"nope\""},
    };
    fx_t *fx = *state;
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        st_t s;
        st_init(&s);
        s.check_pattern = false;
        s.cancel_at_head = cases[i].cancel;
        st_submit(fx, &s, cases[i].path, 0);
        st_pump(fx, &s, 1 << 20, cases[i].cancel ? 400 : 5000);
        assert_int_equal(s.heads, 1);
        assert_int_equal(s.head_status, cases[i].status);
        assert_string_equal(s.head_type, cases[i].type);
        assert_string_equal(s.head_error, cases[i].error);
        if (cases[i].cancel) {
            assert_int_equal(s.chunks, 0);
            assert_int_equal(s.done, 0);
        } else {
            assert_true(s.chunks >= 1);
            assert_int_equal(s.done, 1);
            assert_int_equal(s.klass, UP_REFUSED);
            assert_int_equal(s.status, cases[i].status);
            assert_false(s.chunk_before_head);
        }
    }
}

/* A 5xx given up at its head (what a failover does) while its body is still on the way: the lean client reads the
 * rest on the side and the connection serves the requests that follow; curl closes it. */
static void test_cancel_at_head_keeps_connection(void **state)
{
    fx_t *fx = *state;
    result_t r = {0};
    char url[128];
    int before = atomic_load(&srv.accepted);

    for (int i = 0; i != 3; ++i) {
        st_t s;
        st_init(&s);
        s.check_pattern = false;
        s.cancel_at_head = true;
        st_submit(fx, &s, "/500-late", 0);
        st_pump(fx, &s, 1 << 20, 500); /* the rest of the answer comes 100 ms after the head */
        assert_int_equal(s.heads, 1);
        assert_int_equal(s.head_status, 500);
        assert_int_equal(s.done, 0);
    }
    url_of(url, sizeof(url), "/ping");
    up_req_t req = req_for(fx, UP_GET, url, &r);
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_OK);
    if (h1_mode)
        assert_int_equal(atomic_load(&srv.accepted) - before, 1);
    free(r.body);

    /* a rest that does not come is waited for a second at most, then its connection is closed */
    st_t s;
    int closed = atomic_load(&srv.stall_closed);
    uint64_t t0 = now_ms();
    st_init(&s);
    s.check_pattern = false;
    s.cancel_at_head = true;
    st_submit(fx, &s, "/500-stall", 0);
    st_pump(fx, &s, 1 << 20, 1600);
    assert_int_equal(s.heads, 1);
    if (loop_mode) { /* curl closes at once, the lean client after the drain's second */
        while (atomic_load(&srv.stall_closed) == closed && now_ms() - t0 < 2500)
            h2o_evloop_run(fx->loop, 10);
        assert_int_equal(atomic_load(&srv.stall_closed), closed + 1);
    }
}

/* on_head without on_chunk: a buffered answer whose status is known before its body arrives. */
typedef struct {
    result_t r;
    st_t s;
    int done_at_head;
} both_t;

static void both_head(up_job_t *job, void *data)
{
    both_t *b = data;
    b->done_at_head = b->r.called;
    st_head(job, &b->s);
}

static void both_done(up_job_t *job, void *data)
{
    on_done(job, &((both_t *)data)->r);
}

static void test_head_only(void **state)
{
    fx_t *fx = *state;
    both_t b;
    char url[128];
    memset(&b, 0, sizeof(b));
    st_init(&b.s);
    b.done_at_head = -1;
    url_of(url, sizeof(url), "/400");
    up_req_t req = req_for(fx, UP_GET, url, &b.r);
    req.on_head = both_head;
    req.cb = both_done;
    req.cbdata = &b;
    fetch(fx, &req, &b.r);
    assert_int_equal(b.s.heads, 1);
    assert_int_equal(b.done_at_head, 0);
    assert_int_equal(b.s.head_status, 400);
    assert_string_equal(b.s.head_error, "database not found: \"nope\"");
    assert_int_equal(b.r.klass, UP_REFUSED);
    assert_string_equal(b.r.body, "{\"error\":\"database not found: \\\"nope\\\"\"}\n");
    free(b.r.body);
}

/* The connection dies mid-body: the chunks so far, then UNREACHABLE. */
static void test_stream_closed_mid_body(void **state)
{
    fx_t *fx = *state;
    st_t s;
    st_init(&s);
    st_submit(fx, &s, "/pclose/200000", 0);
    st_pump(fx, &s, 1 << 20, 5000);
    assert_int_equal(s.done, 1);
    assert_int_equal(s.klass, UP_UNREACHABLE);
    assert_int_equal(s.curl_code, CURLE_PARTIAL_FILE);
    assert_int_equal(s.status, 200);
    assert_int_equal(s.received, 200000);
    assert_int_equal(s.received_at_done, 200000);
    assert_int_equal(s.bad_at, SIZE_MAX);
    assert_false(s.chunk_after_done);
}

/* Table: path, cap, class, bytes delivered at most. */
static void test_stream_cap(void **state)
{
    static const struct {
        const char *path;
        size_t cap;
        up_class_t klass;
        size_t most;
        int heads;
    } cases[] = {
        {"/pattern/100000", 50000, UP_TOO_LARGE, 0, 0},      /* announced: stops at the header */
        {"/pchunked/100000", 50000, UP_TOO_LARGE, 50000, 1}, /* found while streaming */
        {"/pchunked/50000", 50000, UP_OK, 50000, 1},         /* exactly the cap */
        {"/pattern/300000", 0, UP_OK, 300000, 1},            /* 0 = no cap when streaming */
    };
    fx_t *fx = *state;
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        st_t s;
        st_init(&s);
        st_submit(fx, &s, cases[i].path, cases[i].cap);
        st_pump(fx, &s, 1 << 20, 5000);
        assert_int_equal(s.done, 1);
        assert_int_equal(s.klass, cases[i].klass);
        assert_int_equal(s.heads, cases[i].heads);
        assert_true(s.received <= cases[i].most);
        if (cases[i].klass == UP_OK)
            assert_int_equal(s.received, cases[i].most);
        else
            assert_string_equal(s.message, "response larger than 50000 bytes");
        assert_int_equal(s.bad_at, SIZE_MAX);
    }
}

/* Content-Encoding: gzip passes through as the raw compressed bytes. */
static void test_stream_gzip_raw(void **state)
{
    fx_t *fx = *state;
    st_t s;
    size_t n = 2 * MiB;
    char path[64], *text = gzip_text(n), *out = malloc(n + 16);
    z_stream zs = {0};
    st_init(&s);
    s.check_pattern = false;
    s.raw_cap = n;
    s.raw = malloc(n);
    snprintf(path, sizeof(path), "/gzip/%zu", n);
    st_submit(fx, &s, path, 0);
    st_pump(fx, &s, 1 << 20, 5000);
    assert_int_equal(s.klass, UP_OK);
    assert_string_equal(s.head_encoding, "gzip");
    assert_true(s.received < n / 4);
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)s.raw;
    zs.avail_in = (uInt)s.received;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)(n + 16);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, n);
    assert_memory_equal(out, text, n);
    inflateEnd(&zs);
    free(out);
    free(text);
    free(s.raw);
}

/* Cancel from inside on_chunk, and while the transfer is paused; with one connection per host the
 * next request only runs once the aborted transfer has let its connection go. */
static void test_stream_cancel(void **state)
{
    fx_t *fx = *state;
    st_t a, b, *bp = &b;
    result_t r = {0};
    char url[128];
    uint64_t t0;

    st_init(&a);
    a.cancel_at_chunk = 3;
    st_submit(fx, &a, "/pattern/5000000", 0);
    st_pump(fx, &a, 1 << 20, 500);
    assert_int_equal(a.chunks, 3);
    assert_int_equal(a.done, 0);

    st_init(&b);
    st_submit(fx, &b, "/pattern/52428800", 0);
    st_until_stalled(fx, &bp, 1, 200, 5000);
    assert_true(b.received > WINDOW - ONE_WRITE && b.received <= WINDOW);
    t0 = now_ms();
    up_cancel(b.job);
    b.job = NULL;
    url_of(url, sizeof(url), "/ping");
    up_req_t req = req_for(fx, UP_GET, url, &r);
    fetch(fx, &req, &r);
    assert_int_equal(r.klass, UP_OK);
    assert_true(now_ms() - t0 < 1000);
    run_for(fx, 100);
    assert_int_equal(b.done, 0);
    assert_true(b.received <= WINDOW);
    free(r.body);
}

/* up_destroy() with paused streaming jobs: each still gets its one completion, CANCELLED, last. */
static void test_stream_destroy_in_flight(void **state)
{
    enum { N = 3 };
    fx_t *fx = *state;
    st_t s[N], *sp[N];
    uint64_t t0;
    for (int i = 0; i != N; ++i) {
        st_init(&s[i]);
        sp[i] = &s[i];
        st_submit(fx, &s[i], "/pattern/52428800", 0);
    }
    st_until_stalled(fx, sp, N, 200, 5000);
    t0 = now_ms();
    up_destroy(fx->up);
    fx->up = NULL;
    assert_true(now_ms() - t0 < 1000);
    for (int i = 0; i != N; ++i)
        st_pump(fx, &s[i], 0, 2000);
    for (int i = 0; i != N; ++i) {
        assert_int_equal(s[i].done, 1);
        assert_int_equal(s[i].klass, UP_CANCELLED);
        assert_string_equal(s[i].message, "shutdown");
        assert_true(s[i].received > 0 && s[i].received <= WINDOW);
        assert_int_equal(s[i].received_at_done, s[i].received);
        assert_int_equal(s[i].bad_at, SIZE_MAX);
    }
    run_for(fx, 50);
    for (int i = 0; i != N; ++i)
        assert_false(s[i].chunk_after_done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ping_204, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_get_records_request, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_head, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_head_before_body, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_client_in_use, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_framing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_broken_answers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_host_name, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_echo_1mib, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refused_400, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refused_with_nul_in_head, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refused_500, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_after_quick_transfer, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_closed_mid_response, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_response_cap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_gzip_body, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_body_parts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_basic_auth, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_server_closes_idle_connection, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reused_connection_dropped, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_expires, fx_setup_idle_1s, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_callback, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_releases_connection, fx_setup_one_conn, fx_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_while_queued, fx_setup_one_conn, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bulk_pool_is_apart, fx_setup_one_conn, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_1000, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_in_flight, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_requests, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stream_50mib, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stream_chunked, fx_setup_small_window, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stream_error_head, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_at_head_keeps_connection, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_head_only, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stream_closed_mid_body, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stream_cap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stream_gzip_raw, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stream_cancel, fx_setup_one_conn, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stream_destroy_in_flight, fx_setup, fx_teardown),
    };
    int failed;

    signal(SIGPIPE, SIG_IGN);
    /* a proxy in the environment is ignored: every case below would fail if curl went through this dead one */
    setenv("http_proxy", "http://127.0.0.1:9", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:9", 1);
    setenv("all_proxy", "http://127.0.0.1:9", 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    failed = cmocka_run_group_tests_name("worker thread", tests, srv_start, srv_stop);
    loop_mode = true;
    failed += cmocka_run_group_tests_name("on the loop", tests, srv_start, srv_stop);
    h1_mode = true;
    failed += cmocka_run_group_tests_name("on the loop, lean client", tests, srv_start, srv_stop);
    curl_global_cleanup();
    return failed;
}

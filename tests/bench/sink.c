/*
 * bench-sink — the fastest backend the benchmark can put behind the proxy.
 *
 * It answers every request 204 with no body, like an InfluxDB that stores instantly, so that what
 * scripts/bench measures is the proxy and not the backend. `/ping` and `POST /write` are what the
 * proxy sends; anything else also gets 204 so a stray request never turns into an error figure.
 *
 * For POST /write it counts requests, body bytes and line-protocol lines (non-blank lines that do
 * not start with '#', as the proxy forwards them), so the bench can check that every acknowledged
 * line reached every sink. Totals go to stdout as one line on SIGTERM/SIGINT (then it exits) and
 * on SIGUSR1 (it keeps running):
 *
 *     sink port=P requests=N writes=N pings=N bytes=N lines=N
 *
 * Design: one h2o evloop thread, one listener, configuration in code (Debian's h2o 2.2.5 has no
 * yoml). Bodies are read where h2o buffered them; nothing is copied or allocated per request
 * beyond h2o's own request pool. Gzip-encoded bodies are counted in bytes only: the bench does not
 * enable upstream gzip.
 *
 * Usage: bench-sink PORT   (listens on 127.0.0.1:PORT)
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>
#include "h2o.h"

#define SINK_MAX_BODY (64u * 1024 * 1024)

typedef struct st_sink_totals_t {
    uint64_t requests;
    uint64_t writes;
    uint64_t pings;
    uint64_t bytes;
    uint64_t lines;
} sink_totals_t;

static sink_totals_t totals;
static unsigned short listen_port;
static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t report_requested;

/* A line counts when it has a byte other than blanks before its end and does not start with '#'. */
static uint64_t count_lines(const char *p, size_t len)
{
    const char *end = p + len;
    uint64_t n = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        const char *q = p;
        while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
            ++q;
        if (q < eol && *q != '#')
            ++n;
        p = nl != NULL ? nl + 1 : end;
    }
    return n;
}

static int is_content_gzip(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_ENCODING, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    return h2o_lcstris(v.base, v.len, H2O_STRLIT("gzip"));
}

/* path_normalized has the query string removed and dot segments resolved. */
static int path_is(h2o_req_t *req, const char *want, size_t wantlen)
{
    return h2o_memis(req->path_normalized.base, req->path_normalized.len, want, wantlen);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    static h2o_generator_t generator = {NULL, NULL};
    (void)self;

    ++totals.requests;
    if (path_is(req, H2O_STRLIT("/write")) && h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        ++totals.writes;
        totals.bytes += req->entity.len;
        if (req->entity.base != NULL && !is_content_gzip(req))
            totals.lines += count_lines(req->entity.base, req->entity.len);
    } else if (path_is(req, H2O_STRLIT("/ping"))) {
        ++totals.pings;
    }
    req->res.status = 204;
    req->res.reason = "No Content";
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    for (;;) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        h2o_accept(&accept_ctx, sock);
    }
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        report_requested = 1;
    else
        stop_requested = 1;
}

static int install_signals(void)
{
    struct sigaction sa;
    int sigs[] = {SIGTERM, SIGINT, SIGUSR1};

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); ++i) {
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int open_listener(unsigned short port)
{
    struct sockaddr_in addr;
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        goto Error;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        goto Error;
    if (listen(fd, SOMAXCONN) != 0)
        goto Error;
    return fd;

Error:
    close(fd);
    return -1;
}

static void print_totals(void)
{
    printf("sink port=%u requests=%" PRIu64 " writes=%" PRIu64 " pings=%" PRIu64 " bytes=%" PRIu64 " lines=%" PRIu64
           "\n",
           listen_port, totals.requests, totals.writes, totals.pings, totals.bytes, totals.lines);
    fflush(stdout);
}

static int parse_port(const char *s, unsigned short *port)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535)
        return -1;
    *port = (unsigned short)v;
    return 0;
}

int main(int argc, char **argv)
{
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    h2o_handler_t *handler;
    h2o_socket_t *listener;
    int fd;
    /* Bodies of coalesced writes are a few hundred KB: keep h2o's growing read buffers on the heap instead of one
     * mmap/munmap (and a page fault per page) each, as any long-running server would. */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);

    if (argc != 2 || parse_port(argv[1], &listen_port) != 0) {
        fprintf(stderr, "usage: bench-sink PORT\n");
        return 2;
    }
    if (install_signals() != 0) {
        perror("bench-sink: sigaction");
        return 1;
    }

    h2o_config_init(&config);
    config.max_request_entity_size = SINK_MAX_BODY;
    host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;

    h2o_context_init(&ctx, h2o_evloop_create(), &config);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;

    fd = open_listener(listen_port);
    if (fd < 0) {
        fprintf(stderr, "bench-sink: listen on 127.0.0.1:%u: %s\n", listen_port, strerror(errno));
        return 1;
    }
    listener = h2o_evloop_socket_create(ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(listener, on_accept);

    /* Signals interrupt epoll_wait, so flags are seen within one loop turn; the 1 s cap is a backstop. */
    while (!stop_requested) {
        h2o_evloop_run(ctx.loop, 1000);
        if (report_requested) {
            report_requested = 0;
            print_totals();
        }
    }
    print_totals();
    return 0;
}

/*
 * main — the influxdb-proxy daemon: command line, startup, loop threads, dispatch, shutdown.
 *
 * DESIGN: everything that can fail is done before the first loop runs (Redis, config validation,
 * binding the listeners), so a bad start is one clear line and exit status 1. Then `threads` loop
 * threads each run their own h2o context on their own SO_REUSEPORT listener; loop 0 also runs the
 * health checker. A signal only sets a flag; the loops notice it within 100 ms.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "auth.h"
#include "http_util.h"
#include "influxql.h"
#include "log.h"
#include "metrics.h"
#include "backends.h"
#include "wbatch.h"
#include "queue.h"
#include "registry.h"
#include "tls.h"
#include "udp.h"
#include "reload.h"
#include "server.h"
#include "upstream.h"

ip_server_t ip_server;
static SSL_CTX *listener_tls; /* NULL: plain HTTP */

uint64_t ip_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t ip_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

cfg_t *ip_cfg_get(void)
{
    pthread_mutex_lock(&ip_server.cfg_lock);
    cfg_t *c = cfg_retain(ip_server.cfg);
    pthread_mutex_unlock(&ip_server.cfg_lock);
    return c;
}

ip_thread_t *ip_thread_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(ip_thread_t, ctx, req->conn->ctx);
}

/* ---- command line ---- */

static void usage(FILE *out)
{
    fprintf(out, "usage: influxdb-proxy [-redis HOST:PORT | -sentinel HOST:PORT[,...] -master NAME] [-redis-pwd PWD]\n"
                 "                      [-redis-db N] [-node NAME] [-max-connections N]\n"
                 "                      [-log-level debug|info|warn|error] [-access-log FILE] [-version] [-help]\n"
                 "\n"
                 "A high-availability, sharding HTTP front for InfluxDB 1.x. The cluster configuration is read\n"
                 "from Redis (written by config.py); see README.md.\n"
                 "\n"
                 "  -redis HOST:PORT   Redis holding the configuration (default 127.0.0.1:6379)\n"
                 "  -redis-pwd PWD     Redis password (default none)\n"
                 "  -redis-db N        Redis database number (default 0)\n"
                 "  -sentinel LIST     find Redis through these sentinels (HOST:PORT[,HOST:PORT...]) ...\n"
                 "  -master NAME       ... as the master they know by this name (follows a failover)\n"
                 "  -node NAME         this node's name: its settings are n:NAME over default_node (default l1)\n"
                 "  -log-level LEVEL   debug, info, warn or error (default info)\n"
                 "  -access-log FILE   one line per answered request (\"-\" = stderr); no query strings\n"
                 "  -max-connections N client connections open at once, all threads (default 0: no limit but\n"
                 "                     the process's file descriptors); further ones are closed at once\n"
                 "  -version           print the version and exit\n"
                 "  -help              print this help and exit\n");
}

static int parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"redis", required_argument, NULL, 'r'},
        {"redis-pwd", required_argument, NULL, 'p'},
        {"redis-db", required_argument, NULL, 'd'},
        {"node", required_argument, NULL, 'n'},
        {"log-level", required_argument, NULL, 'l'},
        {"version", no_argument, NULL, 'v'},
        {"sentinel", required_argument, NULL, 's'},
        {"master", required_argument, NULL, 'm'},
        {"access-log", required_argument, NULL, 'a'},
        {"max-connections", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *redis = "127.0.0.1:6379", *access_log = NULL;
    int c;
    char *end;

    snprintf(ip_server.node, sizeof(ip_server.node), "l1");
    ip_server.redis.db = 0;
    opterr = 0;
    while ((c = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            redis = optarg;
            break;
        case 'p':
            ip_server.redis.password = optarg;
            break;
        case 'd':
            ip_server.redis.db = (int)strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || ip_server.redis.db < 0) {
                fprintf(stderr, "influxdb-proxy: -redis-db: not a database number: \"%s\"\n", optarg);
                return 1;
            }
            break;
        case 'n':
            if (*optarg == '\0' || strlen(optarg) >= sizeof(ip_server.node)) {
                fprintf(stderr, "influxdb-proxy: -node: invalid node name\n");
                return 1;
            }
            snprintf(ip_server.node, sizeof(ip_server.node), "%s", optarg);
            break;
        case 'l':
            if (ip_log_set_level(optarg) != 0) {
                fprintf(stderr, "influxdb-proxy: -log-level: not debug, info, warn or error: \"%s\"\n", optarg);
                return 1;
            }
            break;
        case 's':
            ip_server.redis.sentinels = optarg;
            break;
        case 'm':
            ip_server.redis.master = optarg;
            break;
        case 'a':
            access_log = optarg;
            break;
        case 'c':
            ip_server.max_connections = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || ip_server.max_connections < 0) {
                fprintf(stderr, "influxdb-proxy: -max-connections: not a number of connections: \"%s\"\n", optarg);
                return 1;
            }
            break;
        case 'v':
            printf("influxdb-proxy %s\n", IP_VERSION);
            exit(0);
        case 'h':
            usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "influxdb-proxy: unknown or incomplete option \"%s\"\n", argv[optind - 1]);
            usage(stderr);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "influxdb-proxy: unexpected argument \"%s\"\n", argv[optind]);
        return 1;
    }
    if ((ip_server.redis.sentinels != NULL) != (ip_server.redis.master != NULL)) {
        fprintf(stderr, "influxdb-proxy: -sentinel and -master go together\n");
        return 1;
    }
    if (cfg_redis_parse_addr(redis, ip_server.redis_host, sizeof(ip_server.redis_host), &ip_server.redis.port) != 0) {
        fprintf(stderr, "influxdb-proxy: -redis: not HOST:PORT: \"%s\"\n", redis);
        return 1;
    }
    ip_server.redis.host = ip_server.redis_host;
    if (access_log != NULL) {
        char err[512];
        if (ip_metrics_access_log(access_log, err, sizeof(err)) != 0) {
            fprintf(stderr, "influxdb-proxy: %s\n", err);
            return 1;
        }
    }
    ip_server.redis.timeout_ms = 3000;
    return 0;
}

/* ---- listeners ---- */

static int bind_listener(const char *addr, char *err, size_t errcap)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
    int fd = -1, on = 1, gai;

    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    gai = getaddrinfo(host[0] != '\0' ? host : NULL, colon + 1, &hints, &res);
    if (gai != 0) {
        snprintf(err, errcap, "listenaddr %s: %s", addr, gai_strerror(gai));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errcap, "listenaddr %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void on_accept(h2o_socket_t *listener, const char *err);

static void resume_accepting(h2o_timeout_entry_t *entry)
{
    ip_thread_t *t = H2O_STRUCT_FROM_MEMBER(ip_thread_t, accept_pause, entry);
    if (t->listener != NULL)
        h2o_socket_read_start(t->listener, on_accept);
}

static void on_connection_closed(void *data)
{
    (void)data;
    __atomic_sub_fetch(&ip_server.connections, 1, __ATOMIC_RELAXED);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    ip_thread_t *t = listener->data;
    h2o_socket_t *sock;

    if (err != NULL)
        return;
    for (;;) {
        errno = 0;
        sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        long open = __atomic_add_fetch(&ip_server.connections, 1, __ATOMIC_RELAXED);
        sock->on_close.cb = on_connection_closed;
        sock->on_close.data = NULL;
        if (ip_server.max_connections != 0 && open > ip_server.max_connections) {
            /* over the limit: closed at once, so the clients already in keep their resources */
            static ip_log_limit_t refused = {.interval_ms = 10000};
            ip_log_limited(&refused, IP_LOG_WARN, "connection refused: %ld connections open (-max-connections %ld)",
                           open - 1, ip_server.max_connections);
            h2o_socket_close(sock);
            continue;
        }
        h2o_accept(&t->accept_ctx, sock);
    }
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* Out of descriptors (or memory): the pending connection stays in the backlog and the listener
         * stays readable, so trying again at once would spin. Pause accepting for 100 ms. */
        static ip_log_limit_t paused = {.interval_ms = 10000};
        ip_log_limited(&paused, IP_LOG_WARN, "cannot accept connections: %s (open connections are served; retrying)",
                       strerror(errno));
        h2o_socket_read_stop(listener);
        t->accept_pause.cb = resume_accepting;
        if (!h2o_timeout_is_linked(&t->accept_pause))
            h2o_timeout_link(t->loop, &t->ctx.hundred_ms_timeout, &t->accept_pause);
    }
}

/* ---- dispatch ---- */

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    static const struct {
        const char *path;
        void (*fn)(h2o_req_t *);
    } routes[] = {{"/ping", ip_handle_ping},    {"/meta", ip_handle_meta},   {"/health", ip_handle_health},
                  {"/write", ip_handle_write},  {"/query", ip_handle_query}, {"/metrics", ip_handle_metrics},
                  {"/reload", ip_handle_reload}};
    h2o_iovec_t path = hu_path(req);
    (void)self;

    cfg_t *cfg = ip_cfg_get();
    int auth = ip_auth_check(req, &cfg->node);
    cfg_release(cfg);
    if (auth != 0)
        return 0; /* answered with InfluxDB's 401 */

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (h2o_memis(path.base, path.len, routes[i].path, strlen(routes[i].path))) {
            routes[i].fn(req);
            return 0;
        }
    }
    hu_send_error(req, 404, "not found");
    return 0;
}

static void setup_h2o(const cfg_t *cfg)
{
    h2o_globalconf_t *c = &ip_server.h2o_config;
    h2o_config_init(c);
    c->server_name = h2o_iovec_init(H2O_STRLIT(""));
    c->max_request_entity_size = (size_t)cfg->node.maxbodymb * 1024 * 1024;
    c->http1.req_timeout = cfg->node.idletimeout * 1000;
    c->http2.idle_timeout = cfg->node.idletimeout * 1000;
    h2o_hostconf_t *host = h2o_config_register_host(c, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;
    ip_metrics_register(path);
    /* what h2o answers itself (a body over maxbodymb) in InfluxDB's words, and counted and logged like the rest */
    hu_register_fallback_filter(&host->fallback_path);
    ip_metrics_register(&host->fallback_path);
}

/* Must run on the thread that will run the loop: h2o 2.2.5 sockets recycle their buffers through the
 * creating thread's (thread-local) buffer prototype, with no lock, so a socket made on one thread and
 * read on another corrupts the first thread's free list. */
static void init_thread(ip_thread_t *t, int fd)
{
    t->loop = h2o_evloop_create();
    h2o_context_init(&t->ctx, t->loop, &ip_server.h2o_config);
    t->accept_ctx.ctx = &t->ctx;
    t->accept_ctx.hosts = ip_server.h2o_config.hosts;
    t->accept_ctx.ssl_ctx = listener_tls; /* h2o does the handshake and picks h2 or http/1.1 by ALPN */
    h2o_multithread_register_receiver(t->ctx.queue, &t->up_receiver, up_receiver_cb);
    /* curl runs on this loop: no thread hop (and no context switch) between a request and its upstream transfer */
    up_opts_t uo = {.getaddr_receiver = &t->ctx.receivers.hostinfo_getaddr}; /* h2o_context_init registered it */
    t->up = up_create_on_loop(t->loop, &uo);
    if (t->up == NULL) {
        ip_log(IP_LOG_ERROR, "thread %d: cannot create the upstream client", t->id);
        exit(1);
    }
    t->listener = h2o_evloop_socket_create(t->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    t->listener->data = t;
}

/* Connections wait in the listen backlog until then. */
static void start_accepting(ip_thread_t *t)
{
    h2o_socket_read_start(t->listener, on_accept);
}

/* Runs the loop until SIGTERM/SIGINT, then stops accepting and lets the requests being answered
 * finish (at most DRAIN_MS) before returning. */
#define DRAIN_MS 10000
static void *run_loop(void *arg)
{
    ip_thread_t *t = arg;
    while (!ip_server.stopping)
        h2o_evloop_run(t->loop, 100);
    if (h2o_timeout_is_linked(&t->accept_pause))
        h2o_timeout_unlink(&t->accept_pause);
    h2o_socket_read_stop(t->listener);
    h2o_socket_close(t->listener);
    t->listener = NULL;
    wb_flush_thread(t);
    uint64_t deadline = ip_mono_ms() + DRAIN_MS;
    while (t->active != 0 && ip_mono_ms() < deadline)
        h2o_evloop_run(t->loop, 10);
    if (t->active != 0)
        ip_log(IP_LOG_WARN, "thread %d: %zu requests still unanswered after %d ms; stopping anyway", t->id, t->active,
               DRAIN_MS);
    /* after the drain: what is still in flight (replay, health checks, unanswered requests) ends "shutdown" */
    up_destroy(t->up);
    t->up = NULL;
    iql_thread_release();
    return NULL;
}

static void *thread_main(void *arg)
{
    ip_thread_t *t = arg;
    init_thread(t, t->listen_fd);
    start_accepting(t);
    pthread_barrier_wait(&ip_server.started);
    return run_loop(t);
}

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        ip_server.reload_signal = 1;
    else
        ip_server.stopping = 1;
}

#define FIRST_CHECK_WAIT_MS 1000
static int start_threads(const cfg_t *cfg)
{
    char err[512];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = cfg->node.threads != 0 ? cfg->node.threads : (size_t)(ncpu > 0 ? ncpu : 1);

    ip_server.threads = calloc(n, sizeof(*ip_server.threads));
    ip_server.nthreads = n;
    for (size_t i = 0; i < n; i++) {
        int fd = bind_listener(cfg->node.listenaddr, err, sizeof(err));
        if (fd < 0) {
            ip_log(IP_LOG_ERROR, "cannot listen: %s", err);
            return -1;
        }
        ip_server.threads[i].id = (int)i;
        ip_server.threads[i].listen_fd = fd;
    }
    init_thread(&ip_server.threads[0], ip_server.threads[0].listen_fd);
    if (!hu_keep_polled_check(ip_server.threads[0].loop))
        ip_log(IP_LOG_WARN, "libh2o's socket layout is not the one expected: connections leave epoll while answers are "
                            "pending (two more system calls per request)");
    if (ip_health_start(&ip_server.threads[0], err, sizeof(err)) != 0 ||
        ip_udp_start(&ip_server.threads[0], &cfg->node, err, sizeof(err)) != 0) {
        ip_log(IP_LOG_ERROR, "%s", err);
        return -1;
    }
    /* No request is taken before the first health checks have answered (or FIRST_CHECK_WAIT_MS passed): a
     * node that answers knows which backends are up, instead of calling them all unhealthy for a moment. */
    ip_health_wait_first(FIRST_CHECK_WAIT_MS);
    pthread_barrier_init(&ip_server.started, NULL, (unsigned)n);
    for (size_t i = 1; i < n; i++)
        pthread_create(&ip_server.threads[i].tid, NULL, thread_main, &ip_server.threads[i]);
    pthread_barrier_wait(&ip_server.started);
    start_accepting(&ip_server.threads[0]);
    return 0;
}

static int load_config(void)
{
    static char err[65536];
    cfg_t *cfg = NULL;
    int ret = cfg_redis_load(&ip_server.redis, ip_server.node, &cfg, err, sizeof(err));

    if (ret == CFG_REDIS_ECONNECT) {
        ip_log(IP_LOG_ERROR, "%s", err);
        return -1;
    }
    if (ret != 0) {
        for (char *line = strtok(err, "\n"); line != NULL; line = strtok(NULL, "\n"))
            ip_log(IP_LOG_ERROR, "config: %s", line);
        ip_log(IP_LOG_ERROR, "invalid configuration in redis for node \"%s\"", ip_server.node);
        return -1;
    }
    ip_server.cfg = cfg;
    ip_server.config_loaded_at_ms = ip_now_ms();
    ip_server.healthy = calloc(IP_MAX_BACKENDS, sizeof(int));
    ip_server.counters = calloc(IP_MAX_BACKENDS, sizeof(*ip_server.counters));
    ip_metrics_init(IP_MAX_BACKENDS);
    snprintf(ip_server.listen, sizeof(ip_server.listen), "%s", cfg->node.listenaddr);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_signal};

    if (parse_args(argc, argv) != 0)
        return 1;
    /* Write bodies and batches of a few hundred KB are allocated and freed all the time: keep them on the heap
     * (not one mmap/munmap each) and keep freed memory mapped up to a bound, so the hot path takes no page faults. */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    ip_server.started_at_ms = ip_now_ms();
    ip_server.started_mono_ms = ip_mono_ms();
    pthread_mutex_init(&ip_server.cfg_lock, NULL);
    if (load_config() != 0)
        return 1;

    char qerr[1024];
    ip_server.iql = iql_create(ip_server.cfg->node.queryforbid, qerr, sizeof(qerr));
    if (ip_server.iql == NULL) {
        ip_log(IP_LOG_ERROR, "config: n:%s field \"queryforbid\": %s", ip_server.node, qerr);
        return 1;
    }
    if (ip_queues_init(ip_server.cfg, qerr, sizeof(qerr)) != 0 ||
        ip_backends_attach(ip_server.cfg, qerr, sizeof(qerr)) != 0) {
        ip_log(IP_LOG_ERROR, "%s", qerr);
        return 1;
    }
    ip_queues_set_cfg(ip_server.cfg);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit (ulimit -f): the queue's write fails with EFBIG, a 503, not a kill */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    curl_global_init(CURL_GLOBAL_ALL);
    if (*ip_server.cfg->node.httpscert != '\0') {
        listener_tls = ip_tls_context(ip_server.cfg->node.httpscert, qerr, sizeof(qerr));
        if (listener_tls == NULL) {
            ip_log(IP_LOG_ERROR, "%s", qerr);
            return 1;
        }
    }
    setup_h2o(ip_server.cfg);
    if (start_threads(ip_server.cfg) != 0)
        return 1;
    ip_log(IP_LOG_INFO, "node %s listening on %s%s (%zu threads), %zu backends, %zu keymaps", ip_server.node,
           listener_tls != NULL ? "https://" : "", ip_server.listen, ip_server.nthreads, ip_server.cfg->nbackends,
           ip_server.cfg->nkeymaps);
    wb_log_lingers(ip_server.cfg);

    ip_registry_start();
    ip_reload_start();
    run_loop(&ip_server.threads[0]);

    ip_log(IP_LOG_INFO, "stopping");
    for (size_t i = 1; i < ip_server.nthreads; i++)
        pthread_join(ip_server.threads[i].tid, NULL);
    ip_reload_stop();
    ip_registry_stop();
    ip_udp_stop();
    ip_health_stop();
    ip_queues_close();
    ip_tls_free(listener_tls);
    iql_free(ip_server.iql); /* after ip_reload_stop(): nothing swaps it any more */
    cfg_release(ip_server.cfg);
    curl_global_cleanup();
    ip_log(IP_LOG_INFO, "stopped");
    return 0;
}

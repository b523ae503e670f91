/*
 * metrics — GET /metrics in Prometheus text format (version 0.0.4).
 *
 * DESIGN: answered requests are counted by an h2o logger (it sees every answer, h2o's own included,
 * with its final status), by endpoint and status; upstream latencies go into fixed-bucket histograms
 * per backend; everything else (health, queues, traffic counters) is read when /metrics is asked for.
 * All counters are relaxed atomics: each figure is exact, the page is not a snapshot.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <string.h>
#include "backends.h"
#include "http_util.h"
#include "metrics.h"
#include "queue.h"
#include "reload.h"
#include "udp.h"
#include "server.h"
#include "util.h"

static const char *const endpoints[] = {"ping", "write", "query", "meta", "health", "metrics", "other"};
enum { N_ENDPOINTS = sizeof(endpoints) / sizeof(endpoints[0]) };
static const int statuses[] = {200, 204, 400, 401, 403, 404, 405, 413, 415, 500, 502, 503, 504, 0};
enum { N_STATUSES = sizeof(statuses) / sizeof(statuses[0]) }; /* 0: any other */
static const double buckets_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
enum { N_BUCKETS = sizeof(buckets_s) / sizeof(buckets_s[0]) };

typedef struct st_histogram_t {
    uint64_t counts[N_BUCKETS + 1]; /* the last one is +Inf */
    uint64_t sum_us, count;
} histogram_t;

static struct {
    int access_fd; /* -1: no access log */
    uint64_t requests[N_ENDPOINTS][N_STATUSES];
    size_t nbackends;
    histogram_t *write_latency, *query_latency;
} M = {.access_fd = -1};

void ip_metrics_init(size_t nbackends)
{
    M.nbackends = nbackends;
    M.write_latency = calloc(nbackends + 1, sizeof(*M.write_latency));
    M.query_latency = calloc(nbackends + 1, sizeof(*M.query_latency));
    if (M.write_latency == NULL || M.query_latency == NULL)
        abort();
}

static void observe(histogram_t *h, uint64_t us)
{
    size_t i = 0;
    while (i < N_BUCKETS && (double)us > buckets_s[i] * 1e6)
        i++;
    __atomic_add_fetch(&h->counts[i], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->sum_us, us, __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
}

void ip_metrics_write_latency(size_t b, uint64_t us)
{
    observe(&M.write_latency[b], us);
}

void ip_metrics_query_latency(size_t b, uint64_t us)
{
    observe(&M.query_latency[b], us);
}

static size_t endpoint_of(h2o_req_t *req)
{
    h2o_iovec_t path = hu_path(req);
    for (size_t i = 0; i + 1 < N_ENDPOINTS; i++)
        if (path.len == strlen(endpoints[i]) + 1 && path.base[0] == '/' &&
            memcmp(path.base + 1, endpoints[i], path.len - 1) == 0)
            return i;
    return N_ENDPOINTS - 1;
}

/* One line per answered request: time, client, method, path, status, bytes, duration. The query
 * string is left out on purpose: it can carry u and p (credentials) and whole queries. */
static void write_access_line(h2o_req_t *req)
{
    char line[1024], addr[INET6_ADDRSTRLEN] = "-", when[32];
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sl != 0 && ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof(addr));
    else if (sl != 0 && ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr));
    /* the duration by the loop's clock, as h2o took request_begin_at (clock.c); the time of day by the wall clock */
    struct timeval now;
    gettimeofday(&now, NULL);
    long long us = (long long)(now.tv_sec - req->timestamps.request_begin_at.tv_sec) * 1000000 +
                   (now.tv_usec - req->timestamps.request_begin_at.tv_usec);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    long long begin_us = (long long)wall.tv_sec * 1000000 + wall.tv_nsec / 1000 - us;
    time_t begin_s = (time_t)(begin_us / 1000000);
    struct tm tm;
    gmtime_r(&begin_s, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    h2o_iovec_t path = hu_path(req);
    int n =
        snprintf(line, sizeof(line), "%s.%03dZ %s %.*s %.*s %d %zu %.3fms\n", when, (int)(begin_us % 1000000 / 1000),
                 addr, (int)req->method.len, req->method.base, (int)(path.len < 512 ? path.len : 512), path.base,
                 req->res.status, req->bytes_sent, (double)us / 1000.0);
    if (n > 0 && write(M.access_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0) {
        /* nowhere to report it */
    }
}

int ip_metrics_access_log(const char *path, char *err, size_t errcap)
{
    if (strcmp(path, "-") == 0) {
        M.access_fd = STDERR_FILENO;
        return 0;
    }
    M.access_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (M.access_fd < 0) {
        snprintf(err, errcap, "access log %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void log_access(h2o_logger_t *self, h2o_req_t *req)
{
    size_t s = 0;
    (void)self;
    if (M.access_fd >= 0)
        write_access_line(req);
    while (statuses[s] != 0 && statuses[s] != req->res.status)
        s++;
    __atomic_add_fetch(&M.requests[endpoint_of(req)][s], 1, __ATOMIC_RELAXED);
}

void ip_metrics_register(h2o_pathconf_t *pathconf)
{
    h2o_logger_t *logger = h2o_create_logger(pathconf, sizeof(*logger));
    logger->log_access = log_access;
}

/* ---- rendering ---- */

static void put(ubuf_t *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(ubuf_t *u, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        ubuf_append(u, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void family(ubuf_t *u, const char *name, const char *type, const char *help)
{
    put(u, "# HELP influxdb_proxy_%s %s\n# TYPE influxdb_proxy_%s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped, as the text format wants. */
static const char *label(const char *s, char *buf, size_t cap)
{
    size_t o = 0;
    for (; *s != '\0' && o + 3 < cap; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            buf[o++] = '\\';
            buf[o++] = *s == '\n' ? 'n' : *s;
        } else {
            buf[o++] = *s;
        }
    }
    buf[o] = '\0';
    return buf;
}

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void render_histogram(ubuf_t *u, const char *name, const char *help, const histogram_t *hs, const cfg_t *cfg)
{
    char lb[512];
    family(u, name, "histogram", help);
    for (size_t b = 0; b < cfg->nbackends; b++) {
        const histogram_t *h;
        uint64_t cum = 0;
        label(cfg->backends[b].name, lb, sizeof(lb));
        h = &hs[ip_slot(cfg, b)];
        for (size_t i = 0; i < N_BUCKETS; i++) {
            cum += load(&h->counts[i]);
            put(u, "influxdb_proxy_%s_bucket{backend=\"%s\",le=\"%g\"} %llu\n", name, lb, buckets_s[i],
                (unsigned long long)cum);
        }
        cum += load(&h->counts[N_BUCKETS]);
        put(u, "influxdb_proxy_%s_bucket{backend=\"%s\",le=\"+Inf\"} %llu\n", name, lb, (unsigned long long)cum);
        put(u, "influxdb_proxy_%s_sum{backend=\"%s\"} %.6f\n", name, lb, (double)load(&h->sum_us) / 1e6);
        put(u, "influxdb_proxy_%s_count{backend=\"%s\"} %llu\n", name, lb, (unsigned long long)load(&h->count));
    }
}

/* One line per backend of a per-backend figure. */
#define PER_BACKEND(u, cfg, metric, labels, expr)                                                                      \
    for (size_t b = 0; b < (cfg)->nbackends; b++) {                                                                    \
        char lb_[512];                                                                                                 \
        put(u, "influxdb_proxy_%s{backend=\"%s\"%s} %llu\n", metric, label((cfg)->backends[b].name, lb_, sizeof(lb_)), \
            labels, (unsigned long long)(expr));                                                                       \
    }

static void render(ubuf_t *u, const cfg_t *cfg)
{
    uint64_t now = ip_now_ms();
    meta_queue_t *q = calloc(cfg->nbackends + 1, sizeof(*q));
    const meta_counters_t *c = ip_server.counters;

    family(u, "build_info", "gauge", "Version of the running proxy.");
    put(u, "influxdb_proxy_build_info{version=\"%s\"} 1\n", IP_VERSION);
    family(u, "uptime_seconds", "gauge", "Seconds since the proxy started.");
    put(u, "influxdb_proxy_uptime_seconds %llu\n",
        (unsigned long long)((ip_mono_ms() - ip_server.started_mono_ms) / 1000));
    uint64_t rok, rfailed;
    ip_reload_counts(&rok, &rfailed);
    family(u, "config_reloads_total", "counter", "Configuration reloads, applied or refused.");
    put(u, "influxdb_proxy_config_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)rok);
    put(u, "influxdb_proxy_config_reloads_total{result=\"refused\"} %llu\n", (unsigned long long)rfailed);
    uint64_t ud, ul, ub, ur;
    ip_udp_stats(&ud, &ul, &ub, &ur);
    family(u, "udp_datagrams_total", "counter", "UDP datagrams received.");
    put(u, "influxdb_proxy_udp_datagrams_total %llu\n", (unsigned long long)ud);
    family(u, "udp_points_total", "counter", "UDP lines by outcome: routed, unparsable, refused by every backend.");
    put(u, "influxdb_proxy_udp_points_total{result=\"routed\"} %llu\n", (unsigned long long)ul);
    put(u, "influxdb_proxy_udp_points_total{result=\"unparsable\"} %llu\n", (unsigned long long)ub);
    put(u, "influxdb_proxy_udp_points_total{result=\"refused\"} %llu\n", (unsigned long long)ur);
    family(u, "http_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
    for (size_t e = 0; e < N_ENDPOINTS; e++)
        for (size_t s = 0; s < N_STATUSES; s++) {
            uint64_t v = load(&M.requests[e][s]);
            if (v == 0)
                continue;
            if (statuses[s] != 0)
                put(u, "influxdb_proxy_http_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", endpoints[e],
                    statuses[s], (unsigned long long)v);
            else
                put(u, "influxdb_proxy_http_requests_total{endpoint=\"%s\",status=\"other\"} %llu\n", endpoints[e],
                    (unsigned long long)v);
        }
    for (size_t b = 0; b < cfg->nbackends; b++)
        ip_queue_meta(ip_slot(cfg, b), &q[b], now);

    family(u, "backend_up", "gauge", "1 when the backend's /ping answers 204 (health check).");
    PER_BACKEND(u, cfg, "backend_up", "", __atomic_load_n(&ip_server.healthy[ip_slot(cfg, b)], __ATOMIC_RELAXED));
    family(u, "backend_points_in_total", "counter", "Client points routed to the backend (stored or queued).");
    PER_BACKEND(u, cfg, "backend_points_in_total", "", load(&c[ip_slot(cfg, b)].lines_in));
    family(u, "backend_bytes_in_total", "counter", "Line-protocol bytes routed to the backend.");
    PER_BACKEND(u, cfg, "backend_bytes_in_total", "", load(&c[ip_slot(cfg, b)].bytes_in));
    family(u, "backend_writes_total", "counter", "Upstream writes by outcome.");
    PER_BACKEND(u, cfg, "backend_writes_total", ",result=\"ok\"", load(&c[ip_slot(cfg, b)].writes_ok));
    PER_BACKEND(u, cfg, "backend_writes_total", ",result=\"refused\"", load(&c[ip_slot(cfg, b)].writes_refused));
    PER_BACKEND(u, cfg, "backend_writes_total", ",result=\"unreachable\"",
                load(&c[ip_slot(cfg, b)].writes_unreachable));
    family(u, "backend_points_written_total", "counter", "Points (lines) the backend stored from live writes.");
    PER_BACKEND(u, cfg, "backend_points_written_total", "", load(&c[ip_slot(cfg, b)].lines_ok));
    family(u, "backend_bytes_written_total", "counter", "Line-protocol bytes the backend stored from live writes.");
    PER_BACKEND(u, cfg, "backend_bytes_written_total", "", load(&c[ip_slot(cfg, b)].bytes_ok));
    family(u, "backend_points_queued_total", "counter", "Points put into the backend's disk queue.");
    PER_BACKEND(u, cfg, "backend_points_queued_total", "", load(&c[ip_slot(cfg, b)].lines_queued));
    family(u, "backend_records_replayed_total", "counter", "Queue records the backend stored on replay.");
    PER_BACKEND(u, cfg, "backend_records_replayed_total", "", load(&c[ip_slot(cfg, b)].records_replayed));
    family(u, "backend_queries_total", "counter", "Queries sent to the backend, by outcome.");
    PER_BACKEND(u, cfg, "backend_queries_total", ",result=\"ok\"", load(&c[ip_slot(cfg, b)].queries_ok));
    PER_BACKEND(u, cfg, "backend_queries_total", ",result=\"failed\"", load(&c[ip_slot(cfg, b)].queries_failed));
    family(u, "queue_bytes", "gauge", "Bytes waiting in the backend's disk queue.");
    PER_BACKEND(u, cfg, "queue_bytes", "", q[b].bytes);
    family(u, "queue_records", "gauge", "Records waiting in the backend's disk queue.");
    PER_BACKEND(u, cfg, "queue_records", "", q[b].records);
    family(u, "queue_oldest_age_seconds", "gauge", "Age of the oldest record in the backend's disk queue.");
    PER_BACKEND(u, cfg, "queue_oldest_age_seconds", "", q[b].oldest_age_s);
    family(u, "queue_replaying", "gauge", "1 while the backend's queue is being replayed (it gets no queries).");
    PER_BACKEND(u, cfg, "queue_replaying", "", q[b].replaying);
    family(u, "queue_rejected_records", "gauge", "Queued records the backend refused, kept in its rejected file.");
    PER_BACKEND(u, cfg, "queue_rejected_records", "", q[b].rejected);
    render_histogram(u, "upstream_write_duration_seconds", "Time of upstream writes, request to answer.",
                     M.write_latency, cfg);
    render_histogram(u, "upstream_query_duration_seconds", "Time of upstream queries, request to answer.",
                     M.query_latency, cfg);
    free(q);
}

void ip_handle_metrics(h2o_req_t *req)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        hu_send_error(req, 405, "method not allowed");
        return;
    }
    cfg_t *cfg = ip_cfg_get();
    ubuf_t u;
    ubuf_init(&u, 64 << 20);
    render(&u, cfg);
    req->res.status = 200;
    req->res.reason = "OK";
    hu_add_influx_headers(req);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    req->res.content_length = u.len;
    h2o_send_inline(req, u.base != NULL ? u.base : "", u.len);
    ubuf_free(&u);
    cfg_release(cfg);
}

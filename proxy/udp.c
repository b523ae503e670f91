/*
 * udp — line protocol over UDP (SPEC §6, node fields udpaddr, udpdb, udprp, udpprecision,
 * udpreadbuffer): every datagram is split, timestamped, routed, coalesced and queued exactly as an HTTP
 * write is; there is just nobody to answer.
 *
 * DESIGN: one socket on loop 0, read until EAGAIN on every readiness. A datagram becomes a write of
 * its own: per target backend, its lines join the backend's coalescing lane (wbatch) or, while the
 * backend's queue is not empty, go behind it. When every target has answered, the outcome is judged as
 * for HTTP: lines a backend did not store are queued, except when every target refused them (they are
 * the sender's to fix): then they are counted and logged. Unparsable lines are counted and logged too;
 * logs about one sender's bad lines are rate-limited.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "backends.h"
#include "dqueue.h"
#include "lineproto.h"
#include "log.h"
#include "queue.h"
#include "route.h"
#include "server.h"
#include "udp.h"
#include "wbatch.h"

#define MAX_DATAGRAM 65536

typedef struct st_udp_write_t udp_write_t;

/* One piece of one backend's lines (route.h); a backend's pieces are consecutive. */
typedef struct st_udp_target_t {
    udp_write_t *w;
    size_t backend;
    rt_slice_t lines;
    size_t nlines;
    wb_waiter_t waiter;
    int done;
    up_class_t klass;
    char *message; /* a copy, made only when it did not store the lines */
} udp_target_t;

struct st_udp_write_t {
    cfg_t *cfg;
    rt_write_t rt;
    lp_precision_t prec;
    size_t ntargets, pending;
    udp_target_t *targets;
};

static struct {
    h2o_socket_t *sock;
    ip_thread_t *thread;
    uint64_t datagrams, lines, bad_lines, refused_lines;
} U;

/* Bad or refused datagrams: at most one line every 10 s, with the totals so far. */
static ip_log_limit_t warned = {.interval_ms = 10000};

static void queue_lines(udp_write_t *w, udp_target_t *t)
{
    const cfg_node_t *n = &w->cfg->node;
    size_t slot = ip_slot(w->cfg, t->backend);
    int ret = ip_queue_append(slot, n->udpdb, strlen(n->udpdb), n->udprp, strlen(n->udprp), lp_precision_param(w->prec),
                              t->lines.base, t->lines.len);
    static ip_log_limit_t lost_site;
    if (ret == 0)
        ip_count(slot, lines_queued, t->nlines);
    else
        ip_log_limited(&lost_site, IP_LOG_ERROR, "udp: lines for backend %s lost: its queue refused them: %s",
                       w->cfg->backends[t->backend].name, ip_queue_strerror(ret));
}

static void finish(udp_write_t *w)
{
    size_t backends = 0, refused = 0;
    const char *why = NULL; /* the first refusal */
    for (size_t i = 0, end; i < w->ntargets; i = end) {
        wb_verdict_t v = WB_VERDICT_INIT;
        for (end = i; end < w->ntargets && w->targets[end].backend == w->targets[i].backend; end++) {
            const udp_target_t *t = &w->targets[end];
            wb_verdict_add(&v, t->done, t->klass, 0);
            if (why == NULL && t->done && t->klass == UP_REFUSED)
                why = t->message;
        }
        backends++;
        refused += wb_verdict_refused(&v);
    }
    if (backends != 0 && refused == backends) {
        /* as for HTTP: refused by every backend, the lines are the sender's to fix */
        __atomic_add_fetch(&U.refused_lines, w->rt.valid, __ATOMIC_RELAXED);
        ip_log_limited(&warned, IP_LOG_WARN,
                       "udp: backends refused a datagram: %s (bad lines so far: %llu, refused: %llu)", why,
                       (unsigned long long)U.bad_lines, (unsigned long long)U.refused_lines);
    } else {
        for (size_t i = 0; i < w->ntargets; i++)
            if (!(w->targets[i].done && w->targets[i].klass == UP_OK))
                queue_lines(w, &w->targets[i]);
    }
    rt_write_free(&w->rt);
    cfg_release(w->cfg);
    for (size_t i = 0; i < w->ntargets; i++)
        free(w->targets[i].message);
    free(w->targets);
    free(w);
}

static void on_delivered(wb_waiter_t *waiter, const wb_result_t *res)
{
    udp_target_t *t = H2O_STRUCT_FROM_MEMBER(udp_target_t, waiter, waiter);
    udp_write_t *w = t->w;
    t->done = 1;
    t->klass = res->klass;
    if (res->klass != UP_OK && (t->message = strdup(res->message != NULL ? res->message : "")) == NULL)
        abort();
    if (--w->pending == 0)
        finish(w);
}

static void handle_datagram(const char *buf, size_t len)
{
    cfg_t *cfg = ip_cfg_get();
    lp_precision_t prec = LP_PREC_NS;
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    lp_parse_precision(cfg->node.udpprecision, strlen(cfg->node.udpprecision), &prec);
    udp_write_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->cfg = cfg;
    w->prec = prec;
    rt_write_init(&w->rt, cfg->nbackends, MAX_DATAGRAM * 2);
    w->rt.piece_bytes = RT_PIECE_BYTES;
    rt_split(cfg, buf, len, prec, &now, &w->rt);
    __atomic_add_fetch(&U.datagrams, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&U.lines, w->rt.valid, __ATOMIC_RELAXED);
    if (w->rt.invalid != 0) {
        __atomic_add_fetch(&U.bad_lines, w->rt.invalid, __ATOMIC_RELAXED);
        ubuf_append(&w->rt.errors, "", 1);
        ip_log_limited(&warned, IP_LOG_WARN, "udp: %s (bad lines so far: %llu, refused: %llu)", w->rt.errors.base,
                       (unsigned long long)U.bad_lines, (unsigned long long)U.refused_lines);
    }
    size_t npieces = 0;
    for (size_t i = 0; i < cfg->nbackends; i++)
        npieces += rt_npieces(&w->rt, i);
    w->targets = calloc(npieces + 1, sizeof(*w->targets));
    if (w->targets == NULL)
        abort();
    for (size_t i = 0; i < cfg->nbackends; i++) {
        size_t n = rt_npieces(&w->rt, i);
        for (size_t k = 0; k < n; k++) {
            udp_target_t *t = &w->targets[w->ntargets++];
            t->w = w;
            t->backend = i;
            t->lines = rt_piece(&w->rt, i, k, &t->nlines);
        }
        if (n != 0) {
            ip_count(ip_slot(cfg, i), lines_in, w->rt.nlines[i]);
            ip_count(ip_slot(cfg, i), bytes_in, w->rt.out[i].len);
        }
    }
    w->pending = w->ntargets + 1; /* +1: finish() only after every target was started */
    int behind = 0;
    for (size_t k = 0; k < w->ntargets; k++) {
        udp_target_t *t = &w->targets[k];
        const cfg_backend_t *b = &cfg->backends[t->backend];
        if (k == 0 || w->targets[k - 1].backend != t->backend) /* all of a backend's pieces, or none, go behind */
            behind = ip_queue_nonempty(ip_slot(cfg, t->backend));
        if (behind) {
            t->done = 1;
            t->klass = UP_UNREACHABLE; /* goes behind the queue in finish() */
            w->pending--;
            continue;
        }
        t->waiter.lines = t->lines.base;
        t->waiter.len = t->lines.len;
        t->waiter.nlines = t->nlines;
        t->waiter.cb = on_delivered;
        t->waiter.after = k != 0 && t[-1].backend == t->backend ? &t[-1].waiter : NULL;
        const char *db = *b->db != '\0' ? b->db : cfg->node.udpdb;
        wb_submit(U.thread, cfg, t->backend, h2o_iovec_init(db, strlen(db)),
                  h2o_iovec_init(cfg->node.udprp, strlen(cfg->node.udprp)), lp_precision_param(prec),
                  h2o_iovec_init(NULL, 0), &t->waiter);
    }
    if (--w->pending == 0)
        finish(w);
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    static char buf[MAX_DATAGRAM];
    int fd = h2o_socket_get_fd(sock);
    (void)err;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0)
            break; /* EAGAIN: wait for the next datagram */
        handle_datagram(buf, (size_t)n);
    }
}

int ip_udp_start(ip_thread_t *t, const cfg_node_t *node, char *err, size_t errcap)
{
    char host[256];
    const char *colon = strrchr(node->udpaddr, ':');
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE}, *res = NULL;
    int fd = -1;

    if (*node->udpaddr == '\0')
        return 0;
    if (*node->udpdb == '\0') {
        snprintf(err, errcap, "n:%s field \"udpdb\": required with udpaddr (the database UDP points go to)",
                 node->name);
        return -1;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - node->udpaddr), node->udpaddr);
    int gai = getaddrinfo(host[0] != '\0' ? host : NULL, colon + 1, &hints, &res);
    if (gai != 0) {
        snprintf(err, errcap, "udpaddr %s: %s", node->udpaddr, gai_strerror(gai));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rcvbuf = (int)node->udpreadbuffer;
    if (fd < 0 || (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        snprintf(err, errcap, "udpaddr %s: %s", node->udpaddr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    U.thread = t;
    U.sock = h2o_evloop_socket_create(t->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(U.sock, on_readable);
    ip_log(IP_LOG_INFO, "udp: listening on %s for database \"%s\"", node->udpaddr, node->udpdb);
    return 0;
}

void ip_udp_stop(void)
{
    if (U.sock == NULL)
        return;
    h2o_socket_read_stop(U.sock);
    h2o_socket_close(U.sock);
    U.sock = NULL;
}

void ip_udp_stats(uint64_t *datagrams, uint64_t *lines, uint64_t *bad_lines, uint64_t *refused_lines)
{
    *datagrams = __atomic_load_n(&U.datagrams, __ATOMIC_RELAXED);
    *lines = __atomic_load_n(&U.lines, __ATOMIC_RELAXED);
    *bad_lines = __atomic_load_n(&U.bad_lines, __ATOMIC_RELAXED);
    *refused_lines = __atomic_load_n(&U.refused_lines, __ATOMIC_RELAXED);
}

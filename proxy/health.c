/*
 * health — the active health checker (SPEC §5): GET <backend>/ping every checkinterval, 204 =
 * healthy, the verdict kept by lib/bpool's rise/fall state machine.
 *
 * DESIGN: runs on loop 0 only. A 50 ms tick asks bpool which backends are due and submits one ping
 * job each through the upstream worker; the completion comes back on loop 0. The result other
 * threads read (healthy or not) is published as an atomic int per backend in ip_server.healthy.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "backends.h"
#include "bpool.h"
#include "log.h"
#include "queue.h"
#include "server.h"
#include "upstream.h"

#define TICK_MS 50

typedef struct st_ip_health_t {
    ip_thread_t *thread;
    cfg_t *cfg;
    uint64_t gen; /* of cfg */
    /* by backend slot (backends.h), so that health follows a backend by name across reloads */
    bp_health_t bp[IP_MAX_BACKENDS];
    unsigned char ready[IP_MAX_BACKENDS];
    up_job_t *inflight[IP_MAX_BACKENDS];
    h2o_timeout_t tick;
    h2o_timeout_entry_t entry;
} ip_health_t;

typedef struct st_ping_ctx_t {
    ip_health_t *h;
    size_t slot;
} ping_ctx_t;

static void on_ping_done(up_job_t *job, void *cbdata)
{
    ping_ctx_t *pc = cbdata;
    ip_health_t *h = pc->h;
    size_t s = pc->slot;

    h->inflight[s] = NULL;
    if (job->res.klass == UP_CANCELLED) { /* shutting down: no verdict */
        free(pc);
        return;
    }
    int ok = job->res.klass == UP_OK && job->res.status == 204;
    int change = bp_check_result(&h->bp[s], ok, ip_mono_ms());

    __atomic_store_n(&ip_server.healthy[s], bp_is_healthy(&h->bp[s]), __ATOMIC_RELAXED);
    if (change == BP_WENT_DOWN)
        ip_log(IP_LOG_WARN, "backend %s is down: %s", ip_backend_name(s),
               job->res.message[0] != '\0' ? job->res.message : "ping did not answer 204");
    else if (change == BP_WENT_UP) {
        ip_log(IP_LOG_INFO, "backend %s is up", ip_backend_name(s));
        ip_replay_kick(s);
    }
    free(pc);
}

static void send_ping(ip_health_t *h, size_t i, uint64_t now)
{
    const cfg_backend_t *b = &h->cfg->backends[i];
    size_t s = ip_slot(h->cfg, i);
    char url[2048], err[256];
    uint64_t timeout = b->checkinterval > 1000 ? b->checkinterval : 1000;
    ping_ctx_t *pc = malloc(sizeof(*pc));

    if (pc == NULL)
        abort();
    *pc = (ping_ctx_t){h, s};
    snprintf(url, sizeof(url), "%s/ping", b->url);
    up_req_t req =
        ip_backend_req(b, UP_GET, url, b->timeout < timeout ? b->timeout : timeout, h->thread, on_ping_done, pc);
    req.max_response = 64 * 1024;
    up_job_t *job = up_job_new(&req, err, sizeof(err));
    if (job == NULL) {
        ip_log(IP_LOG_ERROR, "backend %s: cannot build a ping: %s", b->name, err);
        free(pc);
        return;
    }
    bp_check_started(&h->bp[s], now);
    h->inflight[s] = job;
    up_submit(h->thread->up, job);
}

/* Health parameters of every backend of @cfg: a backend seen for the first time starts UNKNOWN with its
 * first check due at once; one already known keeps its state and takes the new interval. */
static void adopt(ip_health_t *h, const cfg_t *cfg, uint64_t now)
{
    for (size_t i = 0; i < cfg->nbackends; i++) {
        size_t s = ip_slot(cfg, i);
        bp_params_t p;
        bp_params_default(&p, cfg->backends[i].checkinterval);
        if (h->ready[s]) {
            bp_health_set_params(&h->bp[s], &p);
        } else if (bp_health_init(&h->bp[s], &p, now) == 0) {
            h->ready[s] = 1;
        }
    }
}

/* A reload swapped the configuration: check and replay by the new one. */
static void follow_reload(ip_health_t *h, uint64_t now)
{
    uint64_t gen = __atomic_load_n(&ip_server.cfg_gen, __ATOMIC_ACQUIRE);
    if (gen == h->gen)
        return;
    cfg_t *next = ip_cfg_get();
    adopt(h, next, now);
    ip_queues_set_cfg(next);
    cfg_release(h->cfg);
    h->cfg = next;
    h->gen = gen;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    ip_health_t *h = H2O_STRUCT_FROM_MEMBER(ip_health_t, entry, entry);
    uint64_t now = ip_mono_ms();

    follow_reload(h, now);

    for (size_t i = 0; i < h->cfg->nbackends; i++) {
        size_t s = ip_slot(h->cfg, i);
        if (h->inflight[s] == NULL && bp_check_due(&h->bp[s], now))
            send_ping(h, i, now);
        ip_replay_tick(s, bp_is_healthy(&h->bp[s]), h->thread, now);
    }
    if (!ip_server.stopping)
        h2o_timeout_link(h->thread->loop, &h->tick, &h->entry);
}

void ip_health_wait_first(uint64_t ms)
{
    ip_health_t *h = ip_server.health;
    uint64_t deadline = ip_mono_ms() + ms;

    for (;;) {
        size_t busy = 0;
        for (size_t s = 0; s < IP_MAX_BACKENDS; s++)
            busy += h->inflight[s] != NULL;
        if (busy == 0 || ip_mono_ms() >= deadline)
            return;
        h2o_evloop_run(h->thread->loop, 10);
    }
}

int ip_health_start(ip_thread_t *t, char *err, size_t errcap)
{
    ip_health_t *h = calloc(1, sizeof(*h));

    (void)err;
    (void)errcap;
    if (h == NULL)
        abort();
    h->thread = t;
    h->gen = __atomic_load_n(&ip_server.cfg_gen, __ATOMIC_ACQUIRE);
    h->cfg = ip_cfg_get();
    adopt(h, h->cfg, ip_mono_ms());
    h2o_timeout_init(t->loop, &h->tick, TICK_MS);
    h->entry.cb = on_tick;
    ip_server.health = h;
    on_tick(&h->entry); /* the first pings go out at once; the tick re-arms itself */
    return 0;
}

void ip_health_stop(void)
{
    ip_health_t *h = ip_server.health;
    if (h == NULL)
        return;
    for (size_t s = 0; s < IP_MAX_BACKENDS; s++) {
        if (h->inflight[s] != NULL) {
            ping_ctx_t *pc = h->inflight[s]->cbdata;
            up_cancel(h->inflight[s]);
            free(pc);
        }
    }
    if (h2o_timeout_is_linked(&h->entry))
        h2o_timeout_unlink(&h->entry);
    h2o_timeout_dispose(h->thread->loop, &h->tick);
    cfg_release(h->cfg);
    free(h);
    ip_server.health = NULL;
}

/*
 * handler_meta — GET /meta and GET /health: the cluster as this node sees it (SPEC §5).
 */
#include <stdlib.h>
#include <string.h>
#include "backends.h"
#include "http_util.h"
#include "meta.h"
#include "queue.h"
#include "registry.h"
#include "server.h"

static void fill_rt(meta_rt_t *rt, const cfg_t *cfg, int *healthy, meta_queue_t *queues, meta_counters_t *counters)
{
    uint64_t now = ip_now_ms();
    for (size_t i = 0; i < cfg->nbackends; i++) {
        size_t s = ip_slot(cfg, i);
        healthy[i] = __atomic_load_n(&ip_server.healthy[s], __ATOMIC_RELAXED);
        ip_queue_meta(s, &queues[i], now);
        /* a field-by-field relaxed read: each figure is exact, the set is not a snapshot */
        uint64_t *dst = (uint64_t *)&counters[i];
        const uint64_t *src = (const uint64_t *)&ip_server.counters[s];
        for (size_t f = 0; f < sizeof(meta_counters_t) / sizeof(uint64_t); f++)
            dst[f] = __atomic_load_n(&src[f], __ATOMIC_RELAXED);
    }
    memset(rt, 0, sizeof(*rt));
    rt->version = IP_VERSION;
    rt->listen = ip_server.listen;
    rt->uptime_s = (ip_mono_ms() - ip_server.started_mono_ms) / 1000;
    rt->config_loaded_at = ip_server.config_loaded_at_ms / 1000;
    rt->healthy = healthy;
    rt->queues = queues;
    rt->counters = counters;
}

static int is_get(h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
           h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

/* Answers /meta (health == 0) or /health (health == 1) from the current snapshot and runtime facts. */
static void send_document(h2o_req_t *req, int health)
{
    if (!is_get(req)) {
        hu_send_error(req, 405, "method not allowed");
        return;
    }
    cfg_t *cfg = ip_cfg_get();
    int *healthy = h2o_mem_alloc_pool(&req->pool, sizeof(int) * (cfg->nbackends + 1));
    meta_queue_t *queues = h2o_mem_alloc_pool(&req->pool, sizeof(*queues) * (cfg->nbackends + 1));
    meta_counters_t *counters = h2o_mem_alloc_pool(&req->pool, sizeof(*counters) * (cfg->nbackends + 1));
    meta_rt_t rt;
    int pass = 1;
    fill_rt(&rt, cfg, healthy, queues, counters);
    char *reload_error = h2o_mem_alloc_pool(&req->pool, sizeof(ip_server.reload_error));
    pthread_mutex_lock(&ip_server.cfg_lock);
    memcpy(reload_error, ip_server.reload_error, sizeof(ip_server.reload_error));
    rt.config_loaded_at = ip_server.config_loaded_at_ms / 1000;
    pthread_mutex_unlock(&ip_server.cfg_lock);
    rt.reload_error = reload_error[0] != '\0' ? reload_error : NULL;
    enum { MAXP = 256 };
    meta_proxy_t *proxies = h2o_mem_alloc_pool(&req->pool, sizeof(*proxies) * MAXP);
    char(*strings)[3][128] = h2o_mem_alloc_pool(&req->pool, sizeof(*strings) * MAXP);
    rt.proxies = proxies;
    rt.nproxies = ip_registry_copy(proxies, strings, MAXP);
    char *json = health ? meta_health(cfg, &rt, &pass) : meta_build(cfg, &rt);
    hu_send_json(req, pass ? 200 : 503, json, strlen(json));
    free(json);
    cfg_release(cfg);
}

void ip_handle_meta(h2o_req_t *req)
{
    send_document(req, 0);
}

void ip_handle_health(h2o_req_t *req)
{
    send_document(req, 1);
}

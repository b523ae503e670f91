/*
 * meta — /meta and /health documents.
 *
 * DESIGN: a struct is printed by walking its cfg field table, so /meta always shows every field with
 * its effective value (defaults applied) in the types an operator expects: numbers as integers,
 * flags as booleans, secrets as "******" when set. jansson builds the tree; nothing of it is kept.
 */
#include "meta.h"

#include <jansson.h>
#include <stdlib.h>

#define MASK "******"

static json_t *struct_json(const void *obj, const cfg_field_t *table)
{
    json_t *o = json_object();
    for (const cfg_field_t *f = table; f->name != NULL; f++) {
        json_t *v;
        switch (f->type) {
        case CFG_T_U64:
            v = json_integer((json_int_t)cfg_field_u64(obj, f));
            break;
        case CFG_T_BOOL:
            v = json_boolean(cfg_field_u64(obj, f));
            break;
        case CFG_T_FSYNC:
            v = json_string(cfg_fsync_name((cfg_fsync_t)cfg_field_u64(obj, f)));
            break;
        case CFG_T_SECRET:
            v = json_string(*cfg_field_str(obj, f) != '\0' ? MASK : "");
            break;
        default:
            v = json_string(cfg_field_str(obj, f));
            break;
        }
        json_object_set_new(o, f->name, v);
    }
    return o;
}

static json_t *keymaps_json(const cfg_t *cfg)
{
    json_t *o = json_object();
    for (size_t i = 0; i < cfg->nkeymaps; i++) {
        json_t *a = json_array();
        for (size_t j = 0; j < cfg->keymaps[i].n; j++)
            json_array_append_new(a, json_string(cfg->backends[cfg->keymaps[i].backends[j]].name));
        json_object_set_new(o, cfg->keymaps[i].measurement, a);
    }
    return o;
}

static json_t *queue_json(const meta_queue_t *q)
{
    return json_pack("{s:I,s:I,s:I,s:b,s:I}", "bytes", (json_int_t)q->bytes, "records", (json_int_t)q->records,
                     "oldest_age_s", (json_int_t)q->oldest_age_s, "replaying", q->replaying, "rejected",
                     (json_int_t)q->rejected);
}

static json_t *counters_json(const meta_counters_t *c)
{
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "lines_in", (json_int_t)c->lines_in, "bytes_in",
                          (json_int_t)c->bytes_in, "writes_ok", (json_int_t)c->writes_ok, "lines_ok",
                          (json_int_t)c->lines_ok, "bytes_ok", (json_int_t)c->bytes_ok, "writes_refused",
                          (json_int_t)c->writes_refused, "writes_unreachable", (json_int_t)c->writes_unreachable);
    json_object_set_new(o, "lines_queued", json_integer((json_int_t)c->lines_queued));
    json_object_set_new(o, "records_replayed", json_integer((json_int_t)c->records_replayed));
    json_object_set_new(o, "queries_ok", json_integer((json_int_t)c->queries_ok));
    json_object_set_new(o, "queries_failed", json_integer((json_int_t)c->queries_failed));
    return o;
}

static json_t *node_json(const cfg_t *cfg, const meta_rt_t *rt)
{
    json_t *n = json_pack("{s:s,s:s,s:s,s:I,s:I}", "name", cfg->node.name, "listen", rt->listen, "version", rt->version,
                          "uptime_s", (json_int_t)rt->uptime_s, "config_loaded_at", (json_int_t)rt->config_loaded_at);
    json_object_set_new(n, "reload_error", rt->reload_error != NULL ? json_string(rt->reload_error) : json_null());
    json_object_set_new(n, "config", struct_json(&cfg->node, cfg_node_fields));
    return n;
}

static json_t *proxies_json(const meta_rt_t *rt)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rt->nproxies; i++) {
        const meta_proxy_t *p = &rt->proxies[i];
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:I,s:I}", "name", p->name, "listen", p->listen, "version",
                                           p->version, "started_at", (json_int_t)p->started_at, "last_seen",
                                           (json_int_t)p->last_seen));
    }
    return a;
}

static char *dump(json_t *root)
{
    char *s = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(root);
    if (s == NULL)
        abort();
    return s;
}

char *meta_build(const cfg_t *cfg, const meta_rt_t *rt)
{
    json_t *root = json_object(), *backends = json_object(), *status = json_object(), *queues = json_object(),
           *stats = json_object();

    for (size_t i = 0; i < cfg->nbackends; i++) {
        const cfg_backend_t *b = &cfg->backends[i];
        json_object_set_new(backends, b->name, struct_json(b, cfg_backend_fields));
        json_object_set_new(status, b->name, json_boolean(rt->healthy[i]));
        if (rt->queues != NULL)
            json_object_set_new(queues, b->name, queue_json(&rt->queues[i]));
        if (rt->counters != NULL)
            json_object_set_new(stats, b->name, counters_json(&rt->counters[i]));
    }
    json_object_set_new(root, "node", node_json(cfg, rt));
    json_object_set_new(root, "proxies", proxies_json(rt));
    json_object_set_new(root, "backends", backends);
    json_object_set_new(root, "backendStatus", status);
    json_object_set_new(root, "measurementToBackends", keymaps_json(cfg));
    if (rt->queues != NULL)
        json_object_set_new(root, "queues", queues);
    else
        json_decref(queues);
    if (rt->counters != NULL)
        json_object_set_new(root, "stats", stats);
    else
        json_decref(stats);
    return dump(root);
}

char *meta_health(const cfg_t *cfg, const meta_rt_t *rt, int *pass)
{
    json_t *root = json_object(), *backends = json_object(), *failing = json_array();

    *pass = 1;
    for (size_t i = 0; i < cfg->nbackends; i++) {
        json_t *b = json_pack("{s:b}", "healthy", rt->healthy[i]);
        if (rt->queues != NULL)
            json_object_set_new(b, "queue", queue_json(&rt->queues[i]));
        json_object_set_new(backends, cfg->backends[i].name, b);
    }
    for (size_t i = 0; i < cfg->nkeymaps; i++) {
        int ok = 0;
        for (size_t j = 0; j < cfg->keymaps[i].n && !ok; j++)
            ok = rt->healthy[cfg->keymaps[i].backends[j]];
        if (!ok) {
            *pass = 0;
            json_array_append_new(failing, json_string(cfg->keymaps[i].measurement));
        }
    }
    json_object_set_new(root, "name", json_string("influxdb-proxy"));
    json_object_set_new(root, "status", json_string(*pass ? "pass" : "fail"));
    json_object_set_new(
        root, "message",
        json_string(*pass ? "every keymap has a healthy backend" : "some keymaps have no healthy backend"));
    json_object_set_new(root, "version", json_string(rt->version));
    json_object_set_new(root, "keymaps_without_healthy_backend", failing);
    json_object_set_new(root, "backends", backends);
    return dump(root);
}

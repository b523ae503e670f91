/*
 * meta — the JSON documents of /meta and /health, built from a cfg snapshot and runtime facts.
 *
 * Layer 1: the caller gathers the runtime facts (health, queues, node identity) and passes them in,
 * so the documents can be unit-tested without a server. Field sets come from cfg's declarative
 * tables, so a new config field shows up in /meta without touching this module. Secrets are masked.
 */
#ifndef IP_META_H
#define IP_META_H

#include <stddef.h>
#include <stdint.h>
#include "cfg.h"

typedef struct st_meta_queue_t {
    uint64_t bytes, records, oldest_age_s, rejected;
    int replaying;
} meta_queue_t;

/* Traffic counters of one backend since start (for /meta and /metrics). */
typedef struct st_meta_counters_t {
    uint64_t lines_in, bytes_in;            /* client lines routed to the backend (stored or queued) */
    uint64_t writes_ok, lines_ok, bytes_ok; /* upstream writes the backend stored */
    uint64_t writes_refused;                /* it answered 4xx/5xx */
    uint64_t writes_unreachable;            /* connection error or timeout */
    uint64_t lines_queued;                  /* lines put into its disk queue */
    uint64_t records_replayed;              /* queue records it stored on replay */
    uint64_t queries_ok, queries_failed;    /* statements or whole requests sent to it */
} meta_counters_t;

typedef struct st_meta_proxy_t {
    const char *name, *listen, *version;
    uint64_t started_at, last_seen; /* unix seconds */
} meta_proxy_t;

typedef struct st_meta_rt_t {
    const char *version;
    const char *listen;
    uint64_t uptime_s;
    uint64_t config_loaded_at;       /* unix seconds */
    const char *reload_error;        /* NULL if the last reload succeeded */
    const int *healthy;              /* per backend of the snapshot, same order */
    const meta_queue_t *queues;      /* per backend, or NULL when this node keeps no queues */
    const meta_counters_t *counters; /* per backend, or NULL */
    const meta_proxy_t *proxies;
    size_t nproxies;
} meta_rt_t;

/* The /meta document. Returns a malloc'ed NUL-terminated JSON string (caller frees). */
char *meta_build(const cfg_t *cfg, const meta_rt_t *rt);

/* The /health document. *@pass is set to 1 when every keymap has at least one healthy backend.
 * Returns a malloc'ed JSON string. */
char *meta_health(const cfg_t *cfg, const meta_rt_t *rt, int *pass);

#endif

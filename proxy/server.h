/*
 * server — the state shared by the daemon's loop threads, and the handler entry points.
 *
 * One process, `threads` event loops (one h2o context each, SO_REUSEPORT listeners), one upstream
 * worker thread (libcurl) shared by all loops. The configuration snapshot is immutable and
 * ref-counted; per-backend runtime facts that several threads read (health) are atomics.
 */
#ifndef IP_SERVER_H
#define IP_SERVER_H

#include <h2o.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include "cfg.h"
#include "cfg_redis.h"
#include "meta.h"
#include "upstream.h"
#include "version.h"

/* What clients see as the InfluxDB version: a 1.x version they know how to talk to, with ours as
 * semver build metadata. */
#define IP_INFLUX_VERSION "1.8.10+influxdb-proxy." IP_VERSION
#define IP_INFLUX_BUILD "OSS"

typedef struct st_ip_thread_t {
    int id;
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    int listen_fd;
    struct st_up_t *up;                     /* upstream client running on this loop */
    h2o_multithread_receiver_t up_receiver; /* named by this loop's upstream jobs */
    void *wbatch;                           /* write coalescing lanes of this loop (wbatch.c) */
    size_t active;                          /* writes and queries being answered (drained on SIGTERM) */
    h2o_timeout_entry_t accept_pause;       /* out of descriptors: accepting resumes when it fires */
} ip_thread_t;

typedef struct st_ip_server_t {
    cfg_t *cfg; /* current snapshot; read with ip_cfg_get() */
    pthread_mutex_t cfg_lock;
    cfg_redis_opts_t redis;
    char redis_host[256];
    char node[128];
    char listen[300];                            /* the effective listen address, as shown in /meta */
    uint64_t started_at_ms, config_loaded_at_ms; /* wall clock (ip_now_ms) */
    uint64_t started_mono_ms;                    /* ip_mono_ms(), for the uptime */
    uint64_t cfg_gen;                            /* bumped at every reload (atomic) */
    char reload_error[1024];             /* the last refused reload's reason, "" after a good one (under cfg_lock) */
    volatile sig_atomic_t reload_signal; /* SIGHUP */
    int *healthy;                        /* per backend of cfg; atomics written by the health checker */
    meta_counters_t *counters;           /* per backend of cfg; updated with ip_count() from any thread */
    struct st_iql_t *iql;                /* statement classifier with the node's queryforbid; shared read-only */
    struct st_ip_health_t *health;
    h2o_globalconf_t h2o_config;
    ip_thread_t *threads;
    pthread_barrier_t started; /* every loop thread has created its loop */
    size_t nthreads;
    volatile sig_atomic_t stopping;
    long max_connections; /* -max-connections, 0 = no limit */
    long connections;     /* client connections open now (atomic) */
} ip_server_t;

extern ip_server_t ip_server;

/* A new reference to the current configuration; release with cfg_release(). Any thread. */
cfg_t *ip_cfg_get(void);

/* Adds @n to counter @field of backend @b (relaxed atomic: the figures are statistics). */
#define ip_count(b, field, n) __atomic_add_fetch(&ip_server.counters[(b)].field, (n), __ATOMIC_RELAXED)

/* The parts of an upstream request that come from the backend's configuration (credentials, TLS
 * verification), for a request whose answer comes back to @t's loop. The caller fills in the rest. */
static inline up_req_t ip_backend_req(const cfg_backend_t *be, up_method_t method, const char *url, uint64_t timeout_ms,
                                      struct st_ip_thread_t *t, up_cb cb, void *cbdata)
{
    up_req_t r = {.method = method,
                  .url = url,
                  .timeout_ms = (uint32_t)timeout_ms,
                  .username = *be->username != '\0' ? be->username : NULL,
                  .password = be->password,
                  .insecure = be->insecure,
                  .receiver = &t->up_receiver,
                  .cb = cb,
                  .cbdata = cbdata};
    return r;
}

/* Wall clock in ms: for times shown or stored (a record's age, /meta's times), never to time an interval. */
uint64_t ip_now_ms(void);

/* CLOCK_MONOTONIC in ms: for intervals, deadlines and retry times, which a step of the wall clock must not move. */
uint64_t ip_mono_ms(void);

/* The thread a request runs on. */
ip_thread_t *ip_thread_of(h2o_req_t *req);

/* Handlers: each answers the request completely (or starts an asynchronous answer). */
void ip_handle_ping(h2o_req_t *req);
void ip_handle_meta(h2o_req_t *req);
void ip_handle_health(h2o_req_t *req);
void ip_handle_write(h2o_req_t *req);
void ip_handle_query(h2o_req_t *req);

/* Health checker: pings every backend every checkinterval from loop 0 (SPEC §5). */
int ip_health_start(ip_thread_t *t, char *err, size_t errcap);
/* Runs the health checker's loop (before it takes requests) until the first checks have answered or @ms passed. */
void ip_health_wait_first(uint64_t ms);
void ip_health_stop(void);

#endif

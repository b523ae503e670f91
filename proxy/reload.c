/*
 * reload — live configuration changes (SPEC §4): config.py publishes on influxdb-proxy:reload after its
 * atomic write, POST /reload and SIGHUP ask for the same; the node reads Redis again, validates, and
 * swaps the new snapshot in. Requests in flight finish on the snapshot they started with.
 *
 * DESIGN: a thread keeps a SUBSCRIBE connection; it waits for messages with poll() in 100 ms steps, so
 * it also notices SIGHUP and shutdown, and reconnects with backoff while Redis is away (reading the
 * configuration again once it is back, since a reload may have been published meanwhile). ip_reload()
 * builds the new snapshot with the same loader as startup and swaps the pointer under the config lock;
 * loop 0 notices the new generation on its next health tick and moves the health checker and the
 * replayer over. Per-backend state (health, queue, counters) lives in process-wide slots found by name
 * (backends.c): a backend kept keeps its connections, health and queue; a new one gets a slot and its
 * queue opened; a removed one keeps its queue on disk until it returns. Node fields that shape the
 * process (listen address, threads, datadir, queue size, fsync) apply at the next restart.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "http_util.h"
#include "influxql.h"
#include "log.h"
#include "wbatch.h"
#include "backends.h"
#include "reload.h"
#include "server.h"

#define CHANNEL "influxdb-proxy:reload"
#define MAX_RETIRED 64

static struct {
    pthread_t thread;
    int running;
    volatile int stop;
    pthread_mutex_t lock;        /* one reload at a time */
    iql_t *retired[MAX_RETIRED]; /* classifiers of earlier snapshots: a loop may still be using one */
    size_t nretired;
    uint64_t ok, failed;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void set_error(const char *msg)
{
    pthread_mutex_lock(&ip_server.cfg_lock);
    snprintf(ip_server.reload_error, sizeof(ip_server.reload_error), "%s", msg != NULL ? msg : "");
    pthread_mutex_unlock(&ip_server.cfg_lock);
}

/* Node fields that take effect only at startup: said in the log when a reload changes them. */
static void warn_restart_fields(const cfg_node_t *a, const cfg_node_t *b)
{
    static const char *const fields[] = {"listenaddr", "datadir",   "queuemaxmb",  "fsync",
                                         "threads",    "maxbodymb", "idletimeout", "httpscert"};
    for (const cfg_field_t *f = cfg_node_fields; f->name != NULL; f++) {
        int restart_only = 0;
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
            restart_only |= strcmp(f->name, fields[i]) == 0;
        if (!restart_only)
            continue;
        int differs = f->type == CFG_T_U64 || f->type == CFG_T_BOOL || f->type == CFG_T_FSYNC
                          ? cfg_field_u64(a, f) != cfg_field_u64(b, f)
                          : strcmp(cfg_field_str(a, f), cfg_field_str(b, f)) != 0;
        if (differs)
            ip_log(IP_LOG_WARN, "reload: n:%s field \"%s\" changed; it takes effect when the node restarts", a->name,
                   f->name);
    }
}

static void retire(iql_t *old)
{
    if (R.nretired == MAX_RETIRED) {
        /* the oldest was replaced 64 reloads ago: no request can still be classifying with it */
        iql_free(R.retired[0]);
        memmove(R.retired, R.retired + 1, sizeof(R.retired[0]) * (MAX_RETIRED - 1));
        R.nretired--;
    }
    R.retired[R.nretired++] = old;
}

int ip_reload(char *err, size_t errcap)
{
    static char msg[65536];
    cfg_t *next = NULL, *cur;
    iql_t *iql = NULL;
    int ret = -1;

    pthread_mutex_lock(&R.lock);
    int lr = cfg_redis_load(&ip_server.redis, ip_server.node, &next, msg, sizeof(msg));
    if (lr != 0) {
        /* one line for the log and /meta: the problems joined */
        for (char *p = msg; *p != '\0'; p++)
            if (*p == '\n')
                *p = ';';
        snprintf(err, errcap, "%s%s", lr == CFG_REDIS_ECONFIG ? "invalid configuration: " : "", msg);
        goto Exit;
    }
    cur = ip_cfg_get();
    const char *why = NULL;
    iql = iql_create(next->node.queryforbid, msg, sizeof(msg));
    if (iql == NULL)
        why = msg;
    /* backends kept by name keep their state; new ones get a slot and their queue opened */
    else if (ip_backends_attach(next, msg, sizeof(msg)) != 0)
        why = msg;
    if (why != NULL) {
        snprintf(err, errcap, "%s", why);
        cfg_release(cur);
        if (iql != NULL)
            iql_free(iql);
        goto Exit;
    }
    warn_restart_fields(&cur->node, &next->node);
    cfg_release(cur);

    pthread_mutex_lock(&ip_server.cfg_lock);
    cur = ip_server.cfg;
    ip_server.cfg = next;
    retire(ip_server.iql);
    __atomic_store_n(&ip_server.iql, iql, __ATOMIC_RELEASE);
    ip_server.config_loaded_at_ms = ip_now_ms();
    ip_server.reload_error[0] = '\0';
    __atomic_add_fetch(&ip_server.cfg_gen, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&ip_server.cfg_lock);
    ip_log(IP_LOG_INFO, "reload: new configuration in use (%zu backends, %zu keymaps)", next->nbackends,
           next->nkeymaps);
    wb_log_lingers(next);
    next = NULL;
    cfg_release(cur);
    R.ok++;
    ret = 0;
Exit:
    if (ret != 0) {
        R.failed++;
        ip_log(IP_LOG_ERROR, "reload refused, the current configuration stays: %s", err);
        set_error(err);
    }
    if (next != NULL)
        cfg_release(next);
    pthread_mutex_unlock(&R.lock);
    return ret;
}

void ip_reload_counts(uint64_t *ok, uint64_t *failed)
{
    pthread_mutex_lock(&R.lock);
    *ok = R.ok;
    *failed = R.failed;
    pthread_mutex_unlock(&R.lock);
}

/* ---- the subscriber thread ---- */

static redisContext *subscribe(void)
{
    char err[512];
    cfg_redis_opts_t o = ip_server.redis;
    o.timeout_ms = 2000;
    redisContext *c = cfg_redis_connect(&o, NULL, 0, err, sizeof(err));
    if (c == NULL)
        return NULL;
    redisReply *r = redisCommand(c, "SUBSCRIBE %s", CHANNEL);
    int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    if (r != NULL)
        freeReplyObject(r);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static void reload_now(const char *why)
{
    char err[1024];
    ip_log(IP_LOG_INFO, "reload: %s", why);
    ip_reload(err, sizeof(err));
}

/* Handles every message that has arrived. Returns 0, or -1 when the connection is gone. */
static int read_messages(redisContext *c)
{
    redisReply *r = NULL;
    if (redisBufferRead(c) != REDIS_OK)
        return -1;
    while (redisGetReplyFromReader(c, (void **)&r) == REDIS_OK && r != NULL) {
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[0]->str, "message") == 0)
            reload_now("published on " CHANNEL);
        freeReplyObject(r);
        r = NULL;
    }
    return c->err != 0 ? -1 : 0;
}

static void *reload_main(void *arg)
{
    redisContext *c = NULL;
    unsigned backoff_ms = 250, waited_ms = 250;
    int was_down = 0;
    (void)arg;
    while (!R.stop) {
        if (ip_server.reload_signal) {
            ip_server.reload_signal = 0;
            reload_now("SIGHUP");
        }
        if (c == NULL) {
            if (waited_ms < backoff_ms) {
                usleep(100000);
                waited_ms += 100;
                continue;
            }
            waited_ms = 0;
            c = subscribe();
            if (c == NULL) {
                if (!was_down)
                    ip_log(IP_LOG_WARN, "reload: cannot subscribe to %s; retrying", CHANNEL);
                was_down = 1;
                backoff_ms = backoff_ms < 8000 ? backoff_ms * 2 : 8000;
                continue;
            }
            backoff_ms = 250;
            if (was_down)
                reload_now("redis is back; reading the configuration again");
            was_down = 0;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        if (read_messages(c) != 0) {
            ip_log(IP_LOG_WARN, "reload: lost the subscription to %s (%s); retrying", CHANNEL,
                   c->errstr[0] ? c->errstr : "connection closed");
            was_down = 1;
            redisFree(c);
            c = NULL;
        }
    }
    if (c != NULL)
        redisFree(c);
    return NULL;
}

void ip_reload_start(void)
{
    R.stop = 0;
    if (pthread_create(&R.thread, NULL, reload_main, NULL) == 0)
        R.running = 1;
}

void ip_reload_stop(void)
{
    if (R.running) {
        R.stop = 1;
        pthread_join(R.thread, NULL);
        R.running = 0;
    }
    for (size_t i = 0; i < R.nretired; i++)
        iql_free(R.retired[i]);
    R.nretired = 0;
}

void ip_handle_reload(h2o_req_t *req)
{
    char err[2048];
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        hu_send_error(req, 405, "method not allowed (use POST)");
        return;
    }
    if (ip_reload(err, sizeof(err)) != 0) {
        hu_send_error(req, 400, err);
        return;
    }
    static const char ok[] = "{\"status\":\"reloaded\"}\n";
    hu_send_json(req, 200, ok, sizeof(ok) - 1);
}

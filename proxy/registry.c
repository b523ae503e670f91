/*
 * registry — this node's entry in the cluster's list of live proxies (SPEC §4: p:<node>:<listen addr>,
 * expiring, refreshed), and the list of every live node for /meta.
 *
 * DESIGN: one background thread with its own synchronous Redis connection. Every REFRESH_S seconds it
 * writes its own key with an expiry of TTL_S and reads every p:* key (SCAN, then GET) into a cached
 * list that /meta copies under a mutex; a node that stops refreshing disappears when its key expires.
 * Redis being away is not an error for the node: it logs once, keeps serving, and reconnects with a
 * growing delay. The loops never wait for Redis.
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "registry.h"
#include "server.h"

#define REFRESH_S 2
#define TTL_S 6
#define MAX_PROXIES 256

static struct {
    pthread_t thread;
    int running;
    volatile int stop;
    pthread_mutex_t lock;
    meta_proxy_t list[MAX_PROXIES];
    char strings[MAX_PROXIES][3][128];
    size_t n;
    char key[512], value[1024];
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

static redisContext *connect_redis(char *where, size_t wherecap)
{
    char err[512];
    cfg_redis_opts_t o = ip_server.redis;
    o.timeout_ms = 2000;
    return cfg_redis_connect(&o, where, wherecap, err, sizeof(err));
}

/* Parses one p:* value into slot @i of the list. Returns 1 when it is a node entry. */
static int parse_entry(const char *json, size_t i)
{
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    const char *name = NULL, *listen = NULL, *version = NULL;
    json_int_t started = 0, seen = 0;
    int ok = o != NULL && json_unpack(o, "{s:s,s:s,s:s,s:I,s:I}", "name", &name, "listen", &listen, "version", &version,
                                      "started_at", &started, "last_seen", &seen) == 0;
    if (ok) {
        snprintf(R.strings[i][0], sizeof(R.strings[i][0]), "%s", name);
        snprintf(R.strings[i][1], sizeof(R.strings[i][1]), "%s", listen);
        snprintf(R.strings[i][2], sizeof(R.strings[i][2]), "%s", version);
        R.list[i] =
            (meta_proxy_t){R.strings[i][0], R.strings[i][1], R.strings[i][2], (uint64_t)started, (uint64_t)seen};
    }
    json_decref(o);
    return ok;
}

/* Writes our key, then reads every live node's. Returns 0, or -1 when the connection failed. */
static int refresh(redisContext *c)
{
    char cursor[32] = "0";
    size_t n = 0;
    json_t *me = json_pack("{s:s,s:s,s:s,s:I,s:I}", "name", ip_server.node, "listen", ip_server.listen, "version",
                           IP_VERSION, "started_at", (json_int_t)(ip_server.started_at_ms / 1000), "last_seen",
                           (json_int_t)(ip_now_ms() / 1000));
    char *value = json_dumps(me, JSON_COMPACT);
    json_decref(me);
    redisReply *r = redisCommand(c, "SET %s %s EX %d", R.key, value, TTL_S);
    free(value);
    /* an error reply here is most likely READONLY: a failover made our server a replica; reconnect */
    int failed = r == NULL || r->type == REDIS_REPLY_ERROR;
    if (r != NULL)
        freeReplyObject(r);
    if (failed)
        return -1;

    pthread_mutex_lock(&R.lock);
    do {
        r = redisCommand(c, "SCAN %s MATCH p:* COUNT 1000", cursor);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r != NULL)
                freeReplyObject(r);
            pthread_mutex_unlock(&R.lock);
            return r == NULL ? -1 : 0;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements && n < MAX_PROXIES; i++) {
            redisReply *v = redisCommand(c, "GET %s", r->element[1]->element[i]->str);
            if (v != NULL && v->type == REDIS_REPLY_STRING)
                n += parse_entry(v->str, n);
            if (v != NULL)
                freeReplyObject(v);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    R.n = n;
    pthread_mutex_unlock(&R.lock);
    return 0;
}

static void pause_s(unsigned s)
{
    for (unsigned i = 0; i < s * 10 && !R.stop; i++)
        usleep(100000);
}

static void *registry_main(void *arg)
{
    redisContext *c = NULL;
    unsigned backoff = 1;
    int reported = 0;
    char where[300] = "";
    (void)arg;
    while (!R.stop) {
        if (c == NULL)
            c = connect_redis(where, sizeof(where));
        if (c != NULL && refresh(c) == 0) {
            if (reported)
                ip_log(IP_LOG_INFO, "registry: redis %s reachable again", where);
            reported = 0;
            backoff = 1;
            pause_s(REFRESH_S);
            continue;
        }
        if (!reported)
            ip_log(IP_LOG_WARN, "registry: redis %s unreachable (%s); serving on, retrying", where,
                   c != NULL && c->errstr[0] ? c->errstr : "cannot connect");
        reported = 1;
        if (c != NULL)
            redisFree(c);
        c = NULL;
        pause_s(backoff);
        backoff = backoff < 30 ? backoff * 2 : 30;
    }
    if (c != NULL) {
        /* leave the list at once rather than at expiry */
        redisReply *r = redisCommand(c, "DEL %s", R.key);
        if (r != NULL)
            freeReplyObject(r);
        redisFree(c);
    }
    return NULL;
}

void ip_registry_start(void)
{
    snprintf(R.key, sizeof(R.key), "p:%s:%s", ip_server.node, ip_server.listen);
    R.stop = 0;
    if (pthread_create(&R.thread, NULL, registry_main, NULL) == 0)
        R.running = 1;
}

void ip_registry_stop(void)
{
    if (!R.running)
        return;
    R.stop = 1;
    pthread_join(R.thread, NULL);
    R.running = 0;
}

size_t ip_registry_copy(meta_proxy_t *out, char (*strings)[3][128], size_t cap)
{
    pthread_mutex_lock(&R.lock);
    size_t n = R.n < cap ? R.n : cap;
    for (size_t i = 0; i < n; i++) {
        memcpy(strings[i], R.strings[i], sizeof(strings[i]));
        out[i] = (meta_proxy_t){strings[i][0], strings[i][1], strings[i][2], R.list[i].started_at, R.list[i].last_seen};
    }
    pthread_mutex_unlock(&R.lock);
    return n;
}

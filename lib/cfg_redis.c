/*
 * cfg_redis — Redis → raw strings → cfg_build().
 *
 * DESIGN: every reply is copied into a small arena of our own (hiredis frees its replies) and the
 * borrowed cfg_src_t points into it; the arena is freed once cfg_build() has taken its copies.
 * Connection problems become one line naming the address, so an operator sees at once whether it is
 * the network, the password or the db number.
 */
#include "cfg_redis.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable array of owned strings; everything read from Redis lives here until the build is done. */
typedef struct st_strs_t {
    char **v;
    size_t n, cap;
} strs_t;

typedef struct st_raw_t {
    strs_t strings;
    cfg_hash_t *backends;
    size_t nbackends;
    cfg_list_t *keymaps;
    size_t nkeymaps;
    cfg_hash_t default_node, node;
    int has_default_node, has_node;
} raw_t;

static void *xrealloc(void *p, size_t sz)
{
    p = realloc(p, sz == 0 ? 1 : sz);
    if (p == NULL)
        abort();
    return p;
}

static const char *keep(strs_t *s, const char *str, size_t len)
{
    char *c = xrealloc(NULL, len + 1);
    memcpy(c, str, len);
    c[len] = '\0';
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = c;
    return c;
}

static void raw_free(raw_t *r)
{
    for (size_t i = 0; i < r->strings.n; i++)
        free(r->strings.v[i]);
    free(r->strings.v);
    for (size_t i = 0; i < r->nbackends; i++) {
        free(r->backends[i].fields);
        free(r->backends[i].values);
    }
    for (size_t i = 0; i < r->nkeymaps; i++)
        free(r->keymaps[i].items);
    free(r->backends);
    free(r->keymaps);
    free(r->default_node.fields);
    free(r->default_node.values);
    free(r->node.fields);
    free(r->node.values);
}

static redisReply *command(redisContext *c, char *err, size_t errcap, const char *fmt, const char *arg)
{
    redisReply *r = arg != NULL ? redisCommand(c, fmt, arg) : redisCommand(c, fmt);
    if (r == NULL) {
        snprintf(err, errcap, "redis: %s", c->errstr[0] ? c->errstr : "connection lost");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errcap, "redis: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* HGETALL @key into @h (which then borrows strings kept in @raw). Returns 1 if the hash exists. */
static int read_hash(redisContext *c, raw_t *raw, const char *key, const char *name, cfg_hash_t *h, char *err,
                     size_t errcap)
{
    redisReply *r = command(c, err, errcap, "HGETALL %s", key);
    if (r == NULL)
        return -1;
    int exists = r->type == REDIS_REPLY_ARRAY && r->elements > 0;
    h->key = keep(&raw->strings, name, strlen(name));
    h->n = 0;
    h->fields = NULL;
    h->values = NULL;
    if (exists) {
        h->fields = xrealloc(NULL, r->elements / 2 * sizeof(char *));
        h->values = xrealloc(NULL, r->elements / 2 * sizeof(char *));
        for (size_t i = 0; i + 1 < r->elements; i += 2, h->n++) {
            h->fields[h->n] = keep(&raw->strings, r->element[i]->str, r->element[i]->len);
            h->values[h->n] = keep(&raw->strings, r->element[i + 1]->str, r->element[i + 1]->len);
        }
    }
    freeReplyObject(r);
    return exists;
}

static int read_list(redisContext *c, raw_t *raw, const char *key, const char *name, cfg_list_t *l, char *err,
                     size_t errcap)
{
    redisReply *r = command(c, err, errcap, "LRANGE %s 0 -1", key);
    if (r == NULL)
        return -1;
    l->key = keep(&raw->strings, name, strlen(name));
    l->n = 0;
    l->items = xrealloc(NULL, r->elements * sizeof(char *));
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            l->items[l->n++] = keep(&raw->strings, r->element[i]->str, r->element[i]->len);
    freeReplyObject(r);
    return 0;
}

/* SCAN for @pattern, collecting the matching key names into @out. */
static int scan_keys(redisContext *c, const char *pattern, strs_t *out, char *err, size_t errcap)
{
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            snprintf(err, errcap, "redis: SCAN failed: %s",
                     r == NULL ? c->errstr : (r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply"));
            if (r != NULL)
                freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            keep(out, r->element[1]->element[i]->str, r->element[1]->element[i]->len);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static int key_type_is(redisContext *c, const char *key, const char *type)
{
    redisReply *r = redisCommand(c, "TYPE %s", key);
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, type) == 0;
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

static int read_all(redisContext *c, const char *node, raw_t *raw, char *err, size_t errcap)
{
    strs_t bkeys = {0}, mkeys = {0};
    char key[512];
    int ret = -1;

    if (scan_keys(c, "b:*", &bkeys, err, errcap) != 0 || scan_keys(c, "m:*", &mkeys, err, errcap) != 0)
        goto Error;
    raw->backends = xrealloc(NULL, bkeys.n * sizeof(*raw->backends));
    for (size_t i = 0; i < bkeys.n; i++) {
        if (!key_type_is(c, bkeys.v[i], "hash"))
            continue;
        if (read_hash(c, raw, bkeys.v[i], bkeys.v[i] + 2, &raw->backends[raw->nbackends], err, errcap) < 0)
            goto Error;
        raw->nbackends++;
    }
    raw->keymaps = xrealloc(NULL, mkeys.n * sizeof(*raw->keymaps));
    for (size_t i = 0; i < mkeys.n; i++) {
        if (!key_type_is(c, mkeys.v[i], "list"))
            continue;
        if (read_list(c, raw, mkeys.v[i], mkeys.v[i] + 2, &raw->keymaps[raw->nkeymaps], err, errcap) != 0)
            goto Error;
        raw->nkeymaps++;
    }
    raw->has_default_node = read_hash(c, raw, "default_node", "default_node", &raw->default_node, err, errcap);
    if (raw->has_default_node < 0)
        goto Error;
    snprintf(key, sizeof(key), "n:%s", node);
    raw->has_node = read_hash(c, raw, key, node, &raw->node, err, errcap);
    if (raw->has_node < 0)
        goto Error;
    ret = 0;
Error:
    for (size_t i = 0; i < bkeys.n; i++)
        free(bkeys.v[i]);
    for (size_t i = 0; i < mkeys.n; i++)
        free(mkeys.v[i]);
    free(bkeys.v);
    free(mkeys.v);
    return ret;
}

/* Asks each sentinel in turn for the address of the master. Returns 0 with @host/@port, or -1 with @err. */
static int sentinel_master(const cfg_redis_opts_t *o, char *host, size_t hostcap, int *port, char *err, size_t errcap)
{
    struct timeval tv = {o->timeout_ms / 1000, (o->timeout_ms % 1000) * 1000};
    const char *p = o->sentinels;
    char shost[256], last[512] = "no sentinel given";
    int sport;

    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        char one[300];
        snprintf(one, sizeof(one), "%.*s", (int)len, p);
        p += len + (p[len] == ',');
        if (cfg_redis_parse_addr(one, shost, sizeof(shost), &sport) != 0) {
            snprintf(last, sizeof(last), "sentinel \"%s\" is not HOST:PORT", one);
            continue;
        }
        redisContext *c = redisConnectWithTimeout(shost, sport, tv);
        redisReply *r = NULL;
        if (c != NULL && !c->err) {
            redisSetTimeout(c, tv);
            r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", o->master);
        }
        int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                 r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING;
        if (ok) {
            snprintf(host, hostcap, "%s", r->element[0]->str);
            *port = atoi(r->element[1]->str);
        } else {
            snprintf(last, sizeof(last), "sentinel %s:%d: %s", shost, sport,
                     c == NULL || c->err            ? (c ? c->errstr : "out of memory")
                     : r == NULL                    ? c->errstr
                     : r->type == REDIS_REPLY_NIL   ? "does not know the master"
                     : r->type == REDIS_REPLY_ERROR ? r->str
                                                    : "unexpected reply");
        }
        if (r != NULL)
            freeReplyObject(r);
        if (c != NULL)
            redisFree(c);
        if (ok)
            return 0;
    }
    snprintf(err, errcap, "redis master \"%s\" via sentinels %s: %s", o->master, o->sentinels, last);
    return -1;
}

redisContext *cfg_redis_connect(const cfg_redis_opts_t *o, char *where, size_t wherecap, char *err, size_t errcap)
{
    struct timeval tv = {o->timeout_ms / 1000, (o->timeout_ms % 1000) * 1000};
    char host[256];
    int port = o->port;
    redisContext *c = NULL;
    redisReply *r = NULL;

    snprintf(host, sizeof(host), "%s", o->host != NULL ? o->host : "");
    if (o->sentinels != NULL && *o->sentinels != '\0' &&
        sentinel_master(o, host, sizeof(host), &port, err, errcap) != 0)
        return NULL;
    if (where != NULL)
        snprintf(where, wherecap, "%s:%d", host, port);
    c = redisConnectWithTimeout(host, port, tv);
    if (c == NULL || c->err) {
        snprintf(err, errcap, "redis %s:%d: cannot connect: %s", host, port, c ? c->errstr : "out of memory");
        goto Error;
    }
    redisSetTimeout(c, tv);
    if (o->password != NULL && *o->password != '\0') {
        r = redisCommand(c, "AUTH %s", o->password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errcap, "redis %s:%d: authentication failed: %s", host, port, r ? r->str : c->errstr);
            goto Error;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c, "SELECT %d", o->db);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errcap, "redis %s:%d: cannot select db %d: %s", host, port, o->db, r ? r->str : c->errstr);
        goto Error;
    }
    freeReplyObject(r);
    return c;
Error:
    if (r != NULL)
        freeReplyObject(r);
    if (c != NULL)
        redisFree(c);
    return NULL;
}

int cfg_redis_load(const cfg_redis_opts_t *opts, const char *node, cfg_t **out, char *err, size_t errcap)
{
    raw_t raw;
    char rerr[512];
    int ret = CFG_REDIS_ECONNECT;
    char where[300];
    redisContext *c = cfg_redis_connect(opts, where, sizeof(where), err, errcap);

    memset(&raw, 0, sizeof(raw));
    if (c == NULL)
        return CFG_REDIS_ECONNECT;
    if (read_all(c, node, &raw, rerr, sizeof(rerr)) != 0) {
        snprintf(err, errcap, "redis %s: %s", where, rerr);
        goto Exit;
    }
    cfg_src_t src = {raw.backends,
                     raw.nbackends,
                     raw.keymaps,
                     raw.nkeymaps,
                     raw.has_default_node ? &raw.default_node : NULL,
                     raw.has_node ? &raw.node : NULL,
                     node};
    ret = cfg_build(&src, out, err, errcap) == 0 ? 0 : CFG_REDIS_ECONFIG;
Exit:
    raw_free(&raw);
    redisFree(c);
    return ret;
}

int cfg_redis_parse_addr(const char *s, char *host, size_t hostcap, int *port)
{
    const char *colon = strrchr(s, ':');
    size_t hl = colon != NULL ? (size_t)(colon - s) : strlen(s);
    long p = 6379;

    if (colon != NULL) {
        char *end;
        p = strtol(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || p <= 0 || p > 65535)
            return -1;
    }
    if (hl == 0) {
        s = "127.0.0.1";
        hl = 9;
    }
    if (hl + 1 > hostcap)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

/*
 * cfg_redis — read the cluster configuration from Redis (SPEC §4) and build a cfg snapshot.
 *
 * Synchronous hiredis: used at startup before the loops run and, later, from the reload thread.
 * Keys are found with SCAN (never KEYS, which blocks Redis); each b:/n: hash is read with HGETALL,
 * each m: list with LRANGE. The raw strings are handed to cfg_build(), which validates them.
 */
#ifndef IP_CFG_REDIS_H
#define IP_CFG_REDIS_H

#include "cfg.h"

typedef struct st_cfg_redis_opts_t {
    const char *host; /* ignored when sentinels is set */
    int port;
    const char *sentinels; /* "HOST:PORT[,HOST:PORT…]" of Redis Sentinels, or NULL */
    const char *master;    /* the master's name known to the sentinels */
    const char *password;  /* NULL or "" = no AUTH */
    int db;
    int timeout_ms;
} cfg_redis_opts_t;

/* Error codes of cfg_redis_load. */
#define CFG_REDIS_ECONNECT (-1) /* cannot reach or authenticate with Redis: @err is one line */
#define CFG_REDIS_ECONFIG (-2)  /* the configuration is invalid: @err holds every problem, one per line */

/* Connects, reads every key and builds a snapshot for node @node. Returns 0 with *out holding one
 * reference, or a negative code with @err filled. Blocking; any thread. */
int cfg_redis_load(const cfg_redis_opts_t *opts, const char *node, cfg_t **out, char *err, size_t errcap);

/* Connects to the Redis holding the configuration — asking the sentinels for the current master first
 * when @opts names sentinels — then AUTH and SELECT. Returns a connection (redisFree it; its timeouts
 * are timeout_ms), or NULL with one line in @err. @where (cap @wherecap, may be NULL) receives
 * "HOST:PORT" of the server used, for messages. Blocking; any thread. */
struct redisContext *cfg_redis_connect(const cfg_redis_opts_t *opts, char *where, size_t wherecap, char *err,
                                       size_t errcap);

/* Parses "HOST:PORT" (or ":PORT", "HOST") into @host (cap @hostcap) and @port. Returns 0 or -1. */
int cfg_redis_parse_addr(const char *s, char *host, size_t hostcap, int *port);

#endif

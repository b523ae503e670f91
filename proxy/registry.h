/*
 * registry — this node's p:<node>:<listen addr> key in Redis, and the list of live nodes for /meta.
 */
#ifndef IP_REGISTRY_H
#define IP_REGISTRY_H

#include <stddef.h>
#include "meta.h"

/* Starts the thread that keeps our key alive and reads the others'. Never fails the node: Redis
 * being away is logged and retried. */
void ip_registry_start(void);

/* Stops the thread and removes our key. */
void ip_registry_stop(void);

/* Copies up to @cap live nodes into @out; their strings go into @strings (one row per node). Any
 * thread. Returns how many. */
size_t ip_registry_copy(meta_proxy_t *out, char (*strings)[3][128], size_t cap);

#endif

/*
 * backends — process-wide slots for the runtime state of backends (health, disk queue, counters,
 * latency histograms), found by name, so that a reload that keeps a backend keeps its state, one that
 * adds a backend gets a fresh slot, and one that removes it leaves its queue on disk (and open) until
 * the backend comes back. Slots are never reused or moved: arrays indexed by slot are allocated once
 * with IP_MAX_BACKENDS entries and may be read from any thread for any slot a snapshot names.
 */
#ifndef IP_BACKENDS_H
#define IP_BACKENDS_H

#include <stddef.h>
#include "cfg.h"

#define IP_MAX_BACKENDS 1024

/* Gives every backend of @cfg its slot (cfg->slots), creating slots — and opening their disk queues —
 * for names not seen before. Call before @cfg is published. Returns 0, or -1 with @err (queue cannot be
 * opened, too many backends over the process's life). Serialised by the caller (startup, reload). */
int ip_backends_attach(cfg_t *cfg, char *err, size_t errcap);

/* The slot of backend @i of @cfg. */
static inline size_t ip_slot(const cfg_t *cfg, size_t i)
{
    return cfg->slots[i];
}

/* Slots handed out so far (slots 0 .. n-1 exist). Any thread. */
size_t ip_backends_count(void);

/* The name of slot @s. Any thread. */
const char *ip_backend_name(size_t s);

#endif

/*
 * backends — name → slot, append-only. See backends.h.
 */
#include "backends.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "queue.h"

static struct {
    pthread_mutex_t lock;
    char *names[IP_MAX_BACKENDS];
    size_t n;
} B = {.lock = PTHREAD_MUTEX_INITIALIZER};

static long find(const char *name)
{
    for (size_t s = 0; s < B.n; s++)
        if (strcmp(B.names[s], name) == 0)
            return (long)s;
    return -1;
}

int ip_backends_attach(cfg_t *cfg, char *err, size_t errcap)
{
    int ret = -1;
    size_t *slots = calloc(cfg->nbackends + 1, sizeof(*slots));
    if (slots == NULL)
        abort();
    pthread_mutex_lock(&B.lock);
    for (size_t i = 0; i < cfg->nbackends; i++) {
        const char *name = cfg->backends[i].name;
        long s = find(name);
        if (s < 0) {
            if (B.n == IP_MAX_BACKENDS) {
                snprintf(err, errcap, "more than %d backends over the life of the process: restart it",
                         IP_MAX_BACKENDS);
                goto Exit;
            }
            if (ip_queue_open_slot(B.n, name, err, errcap) != 0)
                goto Exit;
            B.names[B.n] = strdup(name);
            if (B.names[B.n] == NULL)
                abort();
            s = (long)B.n;
            __atomic_store_n(&B.n, B.n + 1, __ATOMIC_RELEASE);
        }
        slots[i] = (size_t)s;
    }
    free(cfg->slots);
    cfg->slots = slots;
    slots = NULL;
    ret = 0;
Exit:
    pthread_mutex_unlock(&B.lock);
    free(slots);
    return ret;
}

size_t ip_backends_count(void)
{
    return __atomic_load_n(&B.n, __ATOMIC_ACQUIRE);
}

const char *ip_backend_name(size_t s)
{
    return B.names[s];
}

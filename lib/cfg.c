/*
 * cfg — parse and validate the cluster configuration into an immutable snapshot.
 *
 * DESIGN: each Redis hash has one declarative table (cfg_backend_fields, cfg_node_fields) giving the
 * field name, type, default, bounds and the offset of its slot in the C struct. One generic loader
 * walks the table, so adding a field is one line. Problems are appended to an error buffer and the
 * build goes on, so an operator sees every problem of a config at once. The node hash is the overlay
 * of n:<node> on default_node, field by field. Keymap lookup is an open-addressing hash over the
 * measurement names, so routing cost does not grow with the number of keymaps.
 */
#include "cfg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U64_MAX_ UINT64_MAX

#define B_(f) offsetof(cfg_backend_t, f)
const cfg_field_t cfg_backend_fields[] = {
    {"url", CFG_T_URL, B_(url), NULL, 0, 0, 1},
    {"db", CFG_T_STR, B_(db), NULL, 0, 0, 0},
    {"zone", CFG_T_STR, B_(zone), NULL, 0, 0, 0},
    {"interval", CFG_T_U64, B_(interval), "0", 0, 3600000, 0},
    {"timeout", CFG_T_U64, B_(timeout), "10000", 1, 86400000, 0},
    {"timeoutquery", CFG_T_U64, B_(timeoutquery), "600000", 1, 86400000, 0},
    {"maxrowlimit", CFG_T_U64, B_(maxrowlimit), "10000", 1, 10000000, 0},
    {"checkinterval", CFG_T_U64, B_(checkinterval), "1000", 1, 86400000, 0},
    {"rewriteinterval", CFG_T_U64, B_(rewriteinterval), "10000", 1, 86400000, 0},
    {"writeonly", CFG_T_BOOL, B_(writeonly), "0", 0, 1, 0},
    {"username", CFG_T_STR, B_(username), NULL, 0, 0, 0},
    {"password", CFG_T_SECRET, B_(password), NULL, 0, 0, 0},
    {"gzip", CFG_T_BOOL, B_(gzip), "0", 0, 1, 0},
    {"insecure", CFG_T_BOOL, B_(insecure), "0", 0, 1, 0},
    {NULL, 0, 0, NULL, 0, 0, 0},
};
#undef B_

#define N_(f) offsetof(cfg_node_t, f)
const cfg_field_t cfg_node_fields[] = {
    {"listenaddr", CFG_T_ADDR, N_(listenaddr), ":6666", 0, 0, 0},
    {"db", CFG_T_STR, N_(db), NULL, 0, 0, 0},
    {"zone", CFG_T_STR, N_(zone), NULL, 0, 0, 0},
    {"nexts", CFG_T_STR, N_(nexts), NULL, 0, 0, 0},
    {"interval", CFG_T_U64, N_(interval), "10", 1, 86400, 0},
    {"idletimeout", CFG_T_U64, N_(idletimeout), "10", 1, 86400, 0},
    {"writetracing", CFG_T_BOOL, N_(writetracing), "0", 0, 1, 0},
    {"querytracing", CFG_T_BOOL, N_(querytracing), "0", 0, 1, 0},
    {"username", CFG_T_STR, N_(username), NULL, 0, 0, 0},
    {"password", CFG_T_SECRET, N_(password), NULL, 0, 0, 0},
    {"datadir", CFG_T_STR, N_(datadir), NULL, 0, 0, 0},
    {"queuemaxmb", CFG_T_U64, N_(queuemaxmb), "1024", 1, 1048576, 0},
    {"fsync", CFG_T_FSYNC, N_(fsync), "everysec", 0, 0, 0},
    {"maxbodymb", CFG_T_U64, N_(maxbodymb), "25", 1, 1024, 0},
    {"threads", CFG_T_U64, N_(threads), "0", 0, 64, 0},
    {"udpaddr", CFG_T_ADDR, N_(udpaddr), NULL, 0, 0, 0},
    {"udpdb", CFG_T_STR, N_(udpdb), NULL, 0, 0, 0},
    {"udprp", CFG_T_STR, N_(udprp), NULL, 0, 0, 0},
    {"udpprecision", CFG_T_PRECISION, N_(udpprecision), NULL, 0, 0, 0},
    {"udpreadbuffer", CFG_T_U64, N_(udpreadbuffer), "0", 0, 1073741824, 0},
    {"httpscert", CFG_T_STR, N_(httpscert), NULL, 0, 0, 0},
    {"queryforbid", CFG_T_STR, N_(queryforbid), NULL, 0, 0, 0},
    {NULL, 0, 0, NULL, 0, 0, 0},
};
#undef N_

typedef struct st_errbuf_t {
    char *buf;
    size_t cap, len;
    int count;
} errbuf_t;

__attribute__((format(printf, 2, 3))) static void add_error(errbuf_t *e, const char *fmt, ...)
{
    va_list ap;
    e->count++;
    if (e->cap == 0 || e->len + 1 >= e->cap)
        return;
    if (e->len != 0)
        e->buf[e->len++] = '\n';
    va_start(ap, fmt);
    int n = vsnprintf(e->buf + e->len, e->cap - e->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        e->len += (size_t)n < e->cap - e->len ? (size_t)n : e->cap - e->len - 1;
    e->buf[e->len] = '\0';
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s != NULL ? s : "");
    if (d == NULL)
        abort();
    return d;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n == 0 ? 1 : n, sz);
    if (p == NULL)
        abort();
    return p;
}

/* Strict decimal: digits only, no sign, no spaces, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (U64_MAX_ - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int valid_url(const char *s)
{
    const char *host;
    if (strncmp(s, "http://", 7) == 0)
        host = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        host = s + 8;
    else
        return 0;
    if (*host == '\0' || *host == '/' || *host == ':')
        return 0;
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0;
    return 1;
}

static int valid_addr(const char *s)
{
    const char *colon = strrchr(s, ':');
    uint64_t port;
    if (colon == NULL || parse_u64(colon + 1, &port) != 0 || port > 65535)
        return 0;
    for (const char *p = s; p < colon; p++)
        if ((unsigned char)*p <= ' ')
            return 0;
    return 1;
}

static int valid_precision(const char *s)
{
    static const char *const ok[] = {"n", "ns", "u", "us", "ms", "s", "m", "h", NULL};
    for (size_t i = 0; ok[i] != NULL; i++)
        if (strcmp(s, ok[i]) == 0)
            return 1;
    return 0;
}

static const char *lookup(const cfg_hash_t *h, const char *field)
{
    if (h == NULL)
        return NULL;
    for (size_t i = h->n; i-- > 0;)
        if (strcmp(h->fields[i], field) == 0)
            return h->values[i];
    return NULL;
}

static int known_field(const cfg_field_t *table, const char *name)
{
    for (const cfg_field_t *f = table; f->name != NULL; f++)
        if (strcmp(f->name, name) == 0)
            return 1;
    return 0;
}

/* Parses one value into its slot. @where is "b:x" or "n:y" for messages. */
static void load_field(void *obj, const cfg_field_t *f, const char *v, const char *where, errbuf_t *e)
{
    char *slot = (char *)obj + f->offset;
    uint64_t u = 0;

    switch (f->type) {
    case CFG_T_STR:
    case CFG_T_SECRET:
        *(char **)slot = xstrdup(v);
        return;
    case CFG_T_URL:
        if (!valid_url(v))
            add_error(e, "%s field \"%s\": not an http:// or https:// URL with a host: \"%s\"", where, f->name, v);
        *(char **)slot = xstrdup(v);
        size_t l = strlen(*(char **)slot);
        while (l > 0 && (*(char **)slot)[l - 1] == '/')
            (*(char **)slot)[--l] = '\0';
        return;
    case CFG_T_ADDR:
        if (*v != '\0' && !valid_addr(v))
            add_error(e, "%s field \"%s\": not HOST:PORT or :PORT: \"%s\"", where, f->name, v);
        *(char **)slot = xstrdup(v);
        return;
    case CFG_T_PRECISION:
        if (*v != '\0' && !valid_precision(v))
            add_error(e, "%s field \"%s\": not one of n, ns, u, us, ms, s, m, h: \"%s\"", where, f->name, v);
        *(char **)slot = xstrdup(v);
        return;
    case CFG_T_U64:
        if (parse_u64(v, &u) != 0)
            add_error(e, "%s field \"%s\": not a non-negative integer: \"%s\"", where, f->name, v);
        else if (u < f->min || u > f->max)
            add_error(e, "%s field \"%s\": %s is out of range [%llu, %llu]", where, f->name, v,
                      (unsigned long long)f->min, (unsigned long long)f->max);
        *(uint64_t *)slot = u;
        return;
    case CFG_T_BOOL:
        if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
            add_error(e, "%s field \"%s\": not 0 or 1: \"%s\"", where, f->name, v);
        *(int *)slot = strcmp(v, "1") == 0;
        return;
    case CFG_T_FSYNC:
        if (strcmp(v, "always") == 0)
            *(cfg_fsync_t *)slot = CFG_FSYNC_ALWAYS;
        else if (strcmp(v, "everysec") == 0)
            *(cfg_fsync_t *)slot = CFG_FSYNC_EVERYSEC;
        else if (strcmp(v, "no") == 0)
            *(cfg_fsync_t *)slot = CFG_FSYNC_NO;
        else
            add_error(e, "%s field \"%s\": not always, everysec or no: \"%s\"", where, f->name, v);
        return;
    }
}

static void check_unknown(const cfg_field_t *table, const cfg_hash_t *h, const char *label, errbuf_t *e)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n; i++)
        if (!known_field(table, h->fields[i]))
            add_error(e, "%s has unknown field \"%s\"", label, h->fields[i]);
}

/* Loads every field of @table from @over, falling back to @base, then to the table default. Messages
 * about values name @where (the key the value is used for). */
static void load_struct(void *obj, const cfg_field_t *table, const cfg_hash_t *over, const cfg_hash_t *base,
                        const char *where, errbuf_t *e)
{
    for (const cfg_field_t *f = table; f->name != NULL; f++) {
        const char *v = lookup(over, f->name);
        if (v == NULL)
            v = lookup(base, f->name);
        if (v == NULL && f->required) {
            add_error(e, "%s field \"%s\": missing (required)", where, f->name);
            *(char **)((char *)obj + f->offset) = xstrdup("");
            continue;
        }
        if (v == NULL)
            v = f->dflt != NULL ? f->dflt : "";
        load_field(obj, f, v, where, e);
    }
}

static void free_struct(void *obj, const cfg_field_t *table)
{
    for (const cfg_field_t *f = table; f->name != NULL; f++) {
        if (f->type == CFG_T_STR || f->type == CFG_T_SECRET || f->type == CFG_T_URL || f->type == CFG_T_ADDR ||
            f->type == CFG_T_PRECISION)
            free(*(char **)((char *)obj + f->offset));
    }
}

static int cmp_backend(const void *a, const void *b)
{
    return strcmp(((const cfg_backend_t *)a)->name, ((const cfg_backend_t *)b)->name);
}

static int cmp_keymap(const void *a, const void *b)
{
    return strcmp(((const cfg_keymap_t *)a)->measurement, ((const cfg_keymap_t *)b)->measurement);
}

/* FNV-1a: the keys are short measurement names. */
static uint32_t hash_name(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void build_hash(cfg_t *cfg)
{
    size_t size = 16;
    while (size < cfg->nkeymaps * 2)
        size <<= 1;
    cfg->_hmask = size - 1;
    cfg->_htab = xcalloc(size, sizeof(*cfg->_htab));
    for (size_t i = 0; i < cfg->nkeymaps; i++) {
        const char *m = cfg->keymaps[i].measurement;
        size_t slot = hash_name(m, strlen(m)) & cfg->_hmask;
        while (cfg->_htab[slot] != 0)
            slot = (slot + 1) & cfg->_hmask;
        cfg->_htab[slot] = (uint32_t)(i + 1);
    }
}

static void load_backends(cfg_t *cfg, const cfg_src_t *src, errbuf_t *e)
{
    char where[300];
    cfg->nbackends = src->nbackends;
    cfg->backends = xcalloc(src->nbackends, sizeof(*cfg->backends));
    for (size_t i = 0; i < src->nbackends; i++) {
        cfg_backend_t *b = &cfg->backends[i];
        b->name = xstrdup(src->backends[i].key);
        snprintf(where, sizeof(where), "b:%s", b->name);
        if (*b->name == '\0')
            add_error(e, "b: a backend has an empty name");
        check_unknown(cfg_backend_fields, &src->backends[i], where, e);
        load_struct(b, cfg_backend_fields, &src->backends[i], NULL, where, e);
    }
    qsort(cfg->backends, cfg->nbackends, sizeof(*cfg->backends), cmp_backend);
    for (size_t i = 1; i < cfg->nbackends; i++)
        if (strcmp(cfg->backends[i - 1].name, cfg->backends[i].name) == 0)
            add_error(e, "b:%s is defined twice", cfg->backends[i].name);
}

static void load_keymaps(cfg_t *cfg, const cfg_src_t *src, errbuf_t *e)
{
    cfg->nkeymaps = src->nkeymaps;
    cfg->keymaps = xcalloc(src->nkeymaps, sizeof(*cfg->keymaps));
    for (size_t i = 0; i < src->nkeymaps; i++) {
        const cfg_list_t *l = &src->keymaps[i];
        cfg_keymap_t *k = &cfg->keymaps[i];
        k->measurement = xstrdup(l->key);
        k->backends = xcalloc(l->n, sizeof(*k->backends));
        if (l->n == 0)
            add_error(e, "m:%s is an empty list (a keymap needs at least one backend)", l->key);
        for (size_t j = 0; j < l->n; j++) {
            long idx = cfg_backend_index(cfg, l->items[j]);
            if (idx < 0) {
                add_error(e, "m:%s names unknown backend \"%s\"", l->key, l->items[j]);
                continue;
            }
            for (size_t d = 0; d < k->n; d++)
                if (k->backends[d] == (size_t)idx)
                    add_error(e, "m:%s names backend \"%s\" twice", l->key, l->items[j]);
            k->backends[k->n++] = (size_t)idx;
        }
    }
    qsort(cfg->keymaps, cfg->nkeymaps, sizeof(*cfg->keymaps), cmp_keymap);
    for (size_t i = 1; i < cfg->nkeymaps; i++)
        if (strcmp(cfg->keymaps[i - 1].measurement, cfg->keymaps[i].measurement) == 0)
            add_error(e, "m:%s is defined twice", cfg->keymaps[i].measurement);
    build_hash(cfg);
    cfg->default_keymap = cfg_keymap_find(cfg, "_default_", 9);
}

static void load_nexts(cfg_t *cfg, const char *where, errbuf_t *e)
{
    cfg_node_t *n = &cfg->node;
    const char *p = n->nexts;
    n->next_backends = xcalloc(strlen(p) / 2 + 1, sizeof(*n->next_backends));
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        char name[256];
        while (len > 0 && (*p == ' ')) {
            p++;
            len--;
        }
        size_t tl = len;
        while (tl > 0 && p[tl - 1] == ' ')
            tl--;
        if (tl > 0) {
            snprintf(name, sizeof(name), "%.*s", (int)tl, p);
            long idx = cfg_backend_index(cfg, name);
            if (idx < 0)
                add_error(e, "%s field \"nexts\": unknown backend \"%s\"", where, name);
            else
                n->next_backends[n->nnexts++] = (size_t)idx;
        }
        p += len;
        if (*p == ',')
            p++;
    }
}

static void load_node(cfg_t *cfg, const cfg_src_t *src, errbuf_t *e)
{
    char where[300];
    cfg->node.name = xstrdup(src->node_name);
    snprintf(where, sizeof(where), "n:%s", src->node_name);
    if (src->node == NULL && src->default_node == NULL) {
        add_error(e, "node \"%s\" not found in redis (no n:%s and no default_node)", src->node_name, src->node_name);
        load_struct(&cfg->node, cfg_node_fields, NULL, NULL, where, e);
    } else {
        check_unknown(cfg_node_fields, src->node, where, e);
        check_unknown(cfg_node_fields, src->default_node, "default_node", e);
        load_struct(&cfg->node, cfg_node_fields, src->node, src->default_node, where, e);
    }
    load_nexts(cfg, where, e);
    if (*cfg->node.datadir == '\0') {
        free(cfg->node.datadir);
        size_t l = strlen(src->node_name) + sizeof("./data/");
        cfg->node.datadir = xcalloc(l, 1);
        snprintf(cfg->node.datadir, l, "./data/%s", src->node_name);
    }
    if (*cfg->node.listenaddr == '\0')
        add_error(e, "%s field \"listenaddr\": empty", where);
}

int cfg_build(const cfg_src_t *src, cfg_t **out, char *err, size_t errcap)
{
    errbuf_t e = {err, errcap, 0, 0};
    cfg_t *cfg = xcalloc(1, sizeof(*cfg));

    if (errcap > 0)
        err[0] = '\0';
    cfg->_refcnt = 1;
    load_backends(cfg, src, &e);
    load_keymaps(cfg, src, &e);
    load_node(cfg, src, &e);
    if (cfg->nkeymaps == 0)
        add_error(&e, "m: no keymaps at all (need at least m:_default_ or one m:<measurement>)");
    if (e.count != 0)
        goto Error;
    *out = cfg;
    return 0;

Error:
    cfg_release(cfg);
    *out = NULL;
    return -1;
}

cfg_t *cfg_retain(cfg_t *cfg)
{
    __atomic_add_fetch(&cfg->_refcnt, 1, __ATOMIC_RELAXED);
    return cfg;
}

void cfg_release(cfg_t *cfg)
{
    if (cfg == NULL || __atomic_sub_fetch(&cfg->_refcnt, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < cfg->nbackends; i++) {
        free_struct(&cfg->backends[i], cfg_backend_fields);
        free(cfg->backends[i].name);
    }
    for (size_t i = 0; i < cfg->nkeymaps; i++) {
        free(cfg->keymaps[i].measurement);
        free(cfg->keymaps[i].backends);
    }
    free_struct(&cfg->node, cfg_node_fields);
    free(cfg->node.name);
    free(cfg->node.next_backends);
    free(cfg->backends);
    free(cfg->keymaps);
    free(cfg->slots);
    free(cfg->_htab);
    free(cfg);
}

const cfg_keymap_t *cfg_keymap_find(const cfg_t *cfg, const char *name, size_t len)
{
    if (cfg->_htab == NULL)
        return NULL;
    for (size_t slot = hash_name(name, len) & cfg->_hmask; cfg->_htab[slot] != 0; slot = (slot + 1) & cfg->_hmask) {
        const cfg_keymap_t *k = &cfg->keymaps[cfg->_htab[slot] - 1];
        /* the name may hold NUL bytes (line protocol allows them): compare lengths first, never past either end */
        if (strnlen(k->measurement, len + 1) == len && memcmp(k->measurement, name, len) == 0)
            return k;
    }
    return NULL;
}

const cfg_keymap_t *cfg_route(const cfg_t *cfg, const char *name, size_t len)
{
    const cfg_keymap_t *k = cfg_keymap_find(cfg, name, len);
    return k != NULL ? k : cfg->default_keymap;
}

long cfg_backend_index(const cfg_t *cfg, const char *name)
{
    size_t lo = 0, hi = cfg->nbackends;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(cfg->backends[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *cfg_field_str(const void *obj, const cfg_field_t *f)
{
    return *(char *const *)((const char *)obj + f->offset);
}

uint64_t cfg_field_u64(const void *obj, const cfg_field_t *f)
{
    const char *slot = (const char *)obj + f->offset;
    switch (f->type) {
    case CFG_T_U64:
        return *(const uint64_t *)slot;
    case CFG_T_BOOL:
        return (uint64_t) * (const int *)slot;
    case CFG_T_FSYNC:
        return (uint64_t) * (const cfg_fsync_t *)slot;
    default:
        return 0;
    }
}

const char *cfg_fsync_name(cfg_fsync_t f)
{
    switch (f) {
    case CFG_FSYNC_ALWAYS:
        return "always";
    case CFG_FSYNC_NO:
        return "no";
    default:
        return "everysec";
    }
}

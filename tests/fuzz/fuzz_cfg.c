/*
 * libFuzzer driver for the configuration builder: fuzz bytes become the raw Redis hashes and lists
 * cfg_redis would read, and cfg_build() turns them into a snapshot or a list of problems.
 *
 * DESIGN: the input is split into lines at '\n' or NUL. A line "b:NAME" opens a backend hash,
 * "m:NAME" a keymap list, "n:NAME" the node hash (and names the node), "d:" the default_node hash;
 * the lines after it are "field=value" pairs of that hash or items of that list. Lines before any
 * header are ignored. Every table has a fixed cap, so one input allocates a bounded amount.
 * A build that succeeds is checked for internal consistency (indices in range, every keymap and
 * backend found again by name, the default keymap used for unknown names); a refusal must say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BACKENDS 16
#define MAX_KEYMAPS 16
#define MAX_ENTRIES 48 /* fields of one hash or items of one list */

typedef struct st_fz_hash_t {
    const char *fields[MAX_ENTRIES];
    const char *values[MAX_ENTRIES];
} fz_hash_t;

typedef struct st_fz_src_t {
    cfg_hash_t backends[MAX_BACKENDS];
    fz_hash_t bstore[MAX_BACKENDS];
    cfg_list_t keymaps[MAX_KEYMAPS];
    const char *kstore[MAX_KEYMAPS][MAX_ENTRIES];
    cfg_hash_t node, dnode;
    fz_hash_t nstore, dstore;
    int have_node, have_dnode;
    size_t nbackends, nkeymaps;
    const char *node_name;
} fz_src_t;

enum { SEC_NONE, SEC_BACKEND, SEC_KEYMAP, SEC_NODE, SEC_DNODE };

static void add_pair(cfg_hash_t *h, fz_hash_t *st, char *line)
{
    char *eq = strchr(line, '=');
    if (h->n == MAX_ENTRIES)
        return;
    st->fields[h->n] = line;
    st->values[h->n] = "";
    if (eq != NULL) {
        *eq = '\0';
        st->values[h->n] = eq + 1;
    }
    h->fields = st->fields;
    h->values = st->values;
    h->n++;
}

/* Splits @text (NUL-terminated copy of the input, lines cut in place) into @s. */
static void parse_input(fz_src_t *s, char *text, size_t len)
{
    int sec = SEC_NONE;
    char *p = text, *end = text + len;

    memset(s, 0, sizeof(*s));
    s->node_name = "fuzz";
    while (p < end) {
        char *line = p;
        size_t l = strcspn(p, "\n"); /* stops at NUL as well */
        p[l] = '\0';
        p += l + 1;
        if (strncmp(line, "b:", 2) == 0) {
            sec = SEC_NONE;
            if (s->nbackends < MAX_BACKENDS) {
                s->backends[s->nbackends].key = line + 2;
                s->backends[s->nbackends].fields = s->bstore[s->nbackends].fields;
                s->backends[s->nbackends].values = s->bstore[s->nbackends].values;
                s->nbackends++;
                sec = SEC_BACKEND;
            }
        } else if (strncmp(line, "m:", 2) == 0) {
            sec = SEC_NONE;
            if (s->nkeymaps < MAX_KEYMAPS) {
                s->keymaps[s->nkeymaps].key = line + 2;
                s->keymaps[s->nkeymaps].items = s->kstore[s->nkeymaps];
                s->nkeymaps++;
                sec = SEC_KEYMAP;
            }
        } else if (strncmp(line, "n:", 2) == 0) {
            s->node_name = line + 2;
            s->have_node = 1;
            s->node.key = line + 2;
            sec = SEC_NODE;
        } else if (strcmp(line, "d:") == 0) {
            s->have_dnode = 1;
            s->dnode.key = "default_node";
            sec = SEC_DNODE;
        } else if (sec == SEC_BACKEND) {
            add_pair(&s->backends[s->nbackends - 1], &s->bstore[s->nbackends - 1], line);
        } else if (sec == SEC_NODE) {
            add_pair(&s->node, &s->nstore, line);
        } else if (sec == SEC_DNODE) {
            add_pair(&s->dnode, &s->dstore, line);
        } else if (sec == SEC_KEYMAP) {
            cfg_list_t *k = &s->keymaps[s->nkeymaps - 1];
            if (k->n < MAX_ENTRIES)
                s->kstore[s->nkeymaps - 1][k->n++] = line;
        }
    }
}

static void check_snapshot(const fz_src_t *s, cfg_t *cfg)
{
    if (cfg->nbackends != s->nbackends || cfg->nkeymaps != s->nkeymaps || cfg->nkeymaps == 0)
        abort();
    for (size_t i = 0; i < cfg->nbackends; i++) {
        const cfg_backend_t *b = &cfg->backends[i];
        if (cfg_backend_index(cfg, b->name) != (long)i)
            abort();
        if (strncmp(b->url, "http://", 7) != 0 && strncmp(b->url, "https://", 8) != 0)
            abort();
        if (b->timeout == 0 || b->timeoutquery == 0 || b->writeonly > 1 || b->gzip > 1)
            abort();
    }
    for (size_t i = 0; i < cfg->nkeymaps; i++) {
        const cfg_keymap_t *k = &cfg->keymaps[i];
        size_t ml = strlen(k->measurement);
        if (k->n == 0 || cfg_keymap_find(cfg, k->measurement, ml) != k || cfg_route(cfg, k->measurement, ml) != k)
            abort();
        for (size_t j = 0; j < k->n; j++)
            if (k->backends[j] >= cfg->nbackends)
                abort();
    }
    for (size_t i = 0; i < cfg->node.nnexts; i++)
        if (cfg->node.next_backends[i] >= cfg->nbackends)
            abort();
    if (cfg->node.maxbodymb < 1 || cfg->node.maxbodymb > 1024 || cfg->node.idletimeout < 1 ||
        cfg->node.listenaddr[0] == '\0' || cfg->node.datadir[0] == '\0')
        abort();
    /* names that are not keymaps (a prefix, an extension, a name cut at its first byte) */
    for (size_t i = 0; i < cfg->nkeymaps; i++) {
        const char *m = cfg->keymaps[i].measurement;
        size_t ml = strlen(m);
        char probe[64];
        size_t pl = ml < sizeof(probe) - 2 ? ml : sizeof(probe) - 2;
        memcpy(probe, m, pl);
        probe[pl] = '\x01';
        const cfg_keymap_t *k = cfg_keymap_find(cfg, probe, pl + 1);
        if (k != NULL && (strlen(k->measurement) != pl + 1 || memcmp(k->measurement, probe, pl + 1) != 0))
            abort();
        const cfg_keymap_t *k0 = cfg_keymap_find(cfg, probe, 0);
        if (k0 != NULL && k0->measurement[0] != '\0')
            abort();
        const cfg_keymap_t *r = cfg_route(cfg, probe, pl + 1);
        if (r != (k != NULL ? k : cfg->default_keymap))
            abort();
    }
    /* a backend name that is not configured */
    const char *absent = "\x7f\x7f no such backend";
    int configured = 0;
    for (size_t i = 0; i < cfg->nbackends; i++)
        configured |= strcmp(cfg->backends[i].name, absent) == 0;
    if (!configured && cfg_backend_index(cfg, absent) != -1)
        abort();
    cfg_t *again = cfg_retain(cfg);
    if (again != cfg)
        abort();
    cfg_release(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz_src_t s;
    char *text = malloc(size + 1);
    char err[1024];
    cfg_t *cfg = (cfg_t *)(uintptr_t)1;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    parse_input(&s, text, size);

    cfg_src_t src = {
        .backends = s.backends,
        .nbackends = s.nbackends,
        .keymaps = s.keymaps,
        .nkeymaps = s.nkeymaps,
        .default_node = s.have_dnode ? &s.dnode : NULL,
        .node = s.have_node ? &s.node : NULL,
        .node_name = s.node_name,
    };
    int ret = cfg_build(&src, &cfg, err, sizeof(err));
    if (ret == 0) {
        if (cfg == NULL)
            abort();
        check_snapshot(&s, cfg);
        cfg_release(cfg);
    } else {
        if (ret != -1 || cfg != NULL || err[0] == '\0' || strlen(err) >= sizeof(err))
            abort();
    }
    /* a tiny error buffer must be truncated, never overrun */
    char small[8];
    memset(small, 'x', sizeof(small));
    ret = cfg_build(&src, &cfg, small, 4);
    if (small[4] != 'x' || (ret != 0 && memchr(small, '\0', 4) == NULL))
        abort();
    cfg_release(cfg);
    free(text);
    return 0;
}

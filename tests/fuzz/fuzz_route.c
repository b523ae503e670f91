/*
 * libFuzzer driver for lib/route: the input is a /write body after two bytes that choose how it is split (borrowing
 * the body or copying it, the size of a piece, a body cap some bodies pass, the node's nexts). rt_split's bodies and
 * pieces must be those of a model that routes the lines the iterator gives one by one, with the same keymaps, and
 * appends each to its backends' pieces by the rule rt_split documents (a new piece when the current one holds its
 * backend's maxrowlimit lines or cannot take the line within piece_bytes); a body's cap passed must be an error.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

enum { NB = 3, MAXLINES = 4096 };

static const size_t maxrow[NB] = {3, 5, 10000};

/* Backends A (maxrowlimit 3), B (5), C; keymaps a→A, b→B, ab→A,B, "a b"→C, _default_→B,C; nexts as given. */
static cfg_t *make_cfg(const char *nexts)
{
    static const char *af[] = {"url", "maxrowlimit"}, *av[] = {"http://a", "3"}, *bv[] = {"http://b", "5"};
    static const char *cf[] = {"url"}, *cv[] = {"http://c"};
    static const char *ka[] = {"A"}, *kb[] = {"B"}, *kab[] = {"A", "B"}, *kc[] = {"C"}, *dflt[] = {"B", "C"};
    cfg_hash_t b[] = {{"A", 2, af, av}, {"B", 2, af, bv}, {"C", 1, cf, cv}};
    cfg_list_t k[] = {{"a", 1, ka}, {"b", 1, kb}, {"ab", 2, kab}, {"a b", 1, kc}, {"_default_", 2, dflt}};
    const char *nf[] = {"listenaddr", "nexts"}, *nv[] = {":7000", nexts};
    cfg_hash_t n = {"l1", nexts != NULL ? 2 : 1, nf, nv};
    cfg_src_t src = {b, NB, k, 5, NULL, &n, "l1"};
    cfg_t *cfg;
    char err[512];

    if (cfg_build(&src, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_route: configuration: %s\n", err);
        abort();
    }
    return cfg;
}

/* One backend's lines as the model appends them: where each line starts in a buffer of their bytes, and where each
 * piece after the first starts (a line index). */
typedef struct {
    ubuf_t bytes;
    size_t nlines, piece_lines, piece_bytes, npieces;
    size_t line_at[MAXLINES + 1], piece_at[MAXLINES];
} model_t;

static void model_add(model_t *m, size_t b, size_t pb, const char *line, size_t len, const char *ts, size_t tslen)
{
    size_t add = len + tslen + 1;
    if (pb != 0 && m->piece_lines != 0 && (m->piece_lines >= maxrow[b] || m->piece_bytes + add > pb)) {
        m->piece_at[m->npieces++] = m->nlines;
        m->piece_lines = m->piece_bytes = 0;
    }
    m->line_at[m->nlines++] = m->bytes.len;
    ubuf_append(&m->bytes, line, len);
    ubuf_append(&m->bytes, ts, tslen);
    ubuf_append(&m->bytes, "\n", 1);
    m->piece_lines++;
    m->piece_bytes += add;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const nexts[] = {NULL, "C", "A,C", "A"};
    static const size_t piece_bytes[] = {RT_PIECE_BYTES, 0, 64, 200};
    static const struct timespec now = {1700000000, 123456789};
    static cfg_t *cfgs[4];
    static model_t model[NB];

    if (size < 2 || size > 65536)
        return 0;
    int borrow = data[0] & 1;
    size_t pb = piece_bytes[(data[0] >> 1) & 3], cap = data[0] & 8 ? 700 : 1 << 20;
    unsigned nx = data[1] & 3;
    if (cfgs[nx] == NULL)
        cfgs[nx] = make_cfg(nexts[nx]);
    const cfg_t *cfg = cfgs[nx];
    data += 2;
    size -= 2;
    /* a private copy without slack, so ASan catches any read past the end */
    char *body = malloc(size + 1);
    if (body == NULL)
        return 0;
    memcpy(body, data, size);

    /* the model: every valid line, routed, to each of its backends once */
    char ts[LP_INT64_BUFSZ + 1], meas[1024];
    size_t tslen = 1 + lp_format_int64(lp_now(&now, LP_PREC_NS), ts + 1), valid = 0, invalid = 0, total[NB] = {0};
    int too_many = 0;
    ts[0] = ' ';
    for (size_t b = 0; b < NB; b++) {
        ubuf_init(&model[b].bytes, SIZE_MAX);
        model[b].nlines = model[b].piece_lines = model[b].piece_bytes = model[b].npieces = 0;
    }
    lp_iter_t it;
    lp_line_t l;
    lp_iter_init(&it, body, size, LP_PREC_NS);
    while (lp_iter_next(&it, &l)) {
        ssize_t mlen = l.err == LP_OK ? lp_unescape_measurement(&l, meas, sizeof(meas)) : 0;
        const cfg_keymap_t *k = l.err != LP_OK ? NULL : mlen >= 0 ? cfg_route(cfg, meas, (size_t)mlen) : NULL;
        if (l.err == LP_OK && k == NULL)
            k = cfg->default_keymap;
        if (k == NULL) {
            invalid++;
            continue;
        }
        valid++;
        size_t t[NB], nt = 0;
        for (size_t i = 0; i < k->n; i++)
            t[nt++] = k->backends[i];
        for (size_t i = 0; i < cfg->node.nnexts; i++) {
            int dup = 0;
            for (size_t j = 0; j < nt; j++)
                dup |= t[j] == cfg->node.next_backends[i];
            if (!dup)
                t[nt++] = cfg->node.next_backends[i];
        }
        for (size_t i = 0; i < nt; i++) {
            total[t[i]] += l.line_len + (l.ts_len == 0 ? tslen : 0) + 1; /* past MAXLINES too: the cap check */
            if (model[t[i]].nlines == MAXLINES)
                too_many = 1;
            else
                model_add(&model[t[i]], t[i], pb, l.line, l.line_len, ts, l.ts_len == 0 ? tslen : 0);
        }
    }

    rt_write_t w;
    rt_write_init(&w, cfg->nbackends, cap);
    w.borrow_body = borrow;
    w.piece_bytes = pb;
    int rc = rt_split(cfg, body, size, LP_PREC_NS, &now, &w);
    int over = total[0] > cap || total[1] > cap || total[2] > cap;
    if (rc != (over ? -1 : 0))
        abort();
    if (!over && !too_many) {
        if (w.valid != valid || w.invalid != invalid)
            abort();
        for (size_t b = 0; b < NB; b++) {
            model_t *m = &model[b];
            size_t n = rt_npieces(&w, b), at = 0;
            if (w.nlines[b] != m->nlines || w.out[b].len != m->bytes.len ||
                (m->bytes.len != 0 && memcmp(w.out[b].base, m->bytes.base, m->bytes.len) != 0))
                abort();
            if (n != (m->nlines == 0 ? 0 : pb == 0 ? 1 : m->npieces + 1))
                abort();
            m->line_at[m->nlines] = m->bytes.len;
            for (size_t i = 0; i < n; i++) {
                size_t nl, first = i == 0 ? 0 : m->piece_at[i - 1],
                           last = pb == 0 || i == m->npieces ? m->nlines : m->piece_at[i];
                rt_slice_t p = rt_piece(&w, b, i, &nl);
                if (nl != last - first || p.base != w.out[b].base + at || p.len != m->line_at[last] - m->line_at[first])
                    abort();
                at += p.len;
            }
        }
    }
    rt_write_free(&w);
    for (size_t b = 0; b < NB; b++)
        ubuf_free(&model[b].bytes);
    free(body);
    return 0;
}

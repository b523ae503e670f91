/*
 * route — split a write body into one body per target backend.
 *
 * DESIGN: one pass over the body with the line-protocol iterator. Each valid line is looked up once
 * (hash) and appended, with " <now>" when it has no timestamp, to the body of every backend of its
 * set and of the node's `nexts`. A backend that appears both in the keymap and in `nexts` gets the
 * line once. The unescaped measurement is needed only for the lookup, so it lives in a stack buffer;
 * a measurement longer than that cannot be a configured keymap and falls back to m:_default_.
 * A backend's lines are copied only once they stop being a plain run of the body (borrow_body): in the
 * usual write, every line with its time and every line for every backend, each gets the body itself.
 * Pieces (piece_bytes): where a backend's next piece starts is noted as its lines are appended, which costs a
 * comparison per line; a newline inside a string value never ends a piece, as it would if the lines were cut later.
 */
#include "route.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEAS_MAX 1024
#define ERRORS_CAP (64 * 1024)

void rt_write_init(rt_write_t *w, size_t nbackends, size_t body_cap)
{
    /* the four per-backend arrays in one block (one allocation per write request instead of four); each element
     * size is a multiple of the alignment of every type here */
    size_t n = nbackends + 1;
    char *block = calloc(n, sizeof(*w->bodies) + sizeof(*w->nlines) + sizeof(*w->out) + sizeof(*w->_views));
    if (block == NULL)
        abort();
    memset(w, 0, sizeof(*w));
    w->nbackends = nbackends;
    w->bodies = (ubuf_t *)block;
    w->out = (rt_slice_t *)(block + n * sizeof(*w->bodies));
    w->_views = (struct st_rt_view_t *)((char *)w->out + n * sizeof(*w->out));
    w->nlines = (size_t *)((char *)w->_views + n * sizeof(*w->_views));
    for (size_t i = 0; i < nbackends; i++)
        ubuf_init(&w->bodies[i], body_cap);
    ubuf_init(&w->errors, ERRORS_CAP);
}

void rt_write_free(rt_write_t *w)
{
    for (size_t i = 0; i < w->nbackends; i++) {
        ubuf_free(&w->bodies[i]);
        free(w->_views[i].cuts);
    }
    free(w->bodies); /* the block of the four arrays */
    ubuf_free(&w->errors);
}

/* Appends one message line to the error text, the way influxd words it; past the cap, messages are
 * dropped (the count of invalid lines still grows). */
static void add_error(rt_write_t *w, const char *line, size_t len, const char *reason, size_t rlen)
{
    static const char prefix[] = "unable to parse '";
    size_t need = (w->errors.len ? 1 : 0) + sizeof(prefix) - 1 + len + 3 + rlen;
    if (w->errors.len + need > w->errors.cap)
        return;
    if (w->errors.len != 0)
        ubuf_append(&w->errors, "\n", 1);
    ubuf_append(&w->errors, prefix, sizeof(prefix) - 1);
    ubuf_append(&w->errors, line, len);
    ubuf_append(&w->errors, "': ", 3);
    ubuf_append(&w->errors, reason, rlen);
}

/* Backend @b's lines so far, in bytes. */
static size_t view_len(const rt_write_t *w, size_t b)
{
    return w->_views[b].copied ? w->bodies[b].len : w->_views[b].len;
}

/* What backend @b's current piece can still take (piece_bytes set): lines under its maxrowlimit, and bytes. Returns
 * the lines it holds. */
static size_t piece_room(const rt_write_t *w, size_t b, size_t *lines, size_t *bytes)
{
    const struct st_rt_view_t *v = &w->_views[b];
    size_t n = w->nlines[b] - v->piece_line, max = w->_cfg->backends[b].maxrowlimit;
    size_t used = view_len(w, b) - v->piece_off;

    *lines = max > n ? max - n : 0;
    *bytes = w->piece_bytes > used ? w->piece_bytes - used : 0;
    return n;
}

/* Starts a new piece of backend @b's lines if the current one cannot take @add more bytes in one more line. */
static void cut_if_full(rt_write_t *w, size_t b, size_t add)
{
    struct st_rt_view_t *v = &w->_views[b];
    size_t lines, bytes, len = view_len(w, b);

    if (piece_room(w, b, &lines, &bytes) == 0 || (lines != 0 && add <= bytes))
        return;
    if (v->ncuts == v->cuts_cap) {
        size_t cap = v->cuts_cap != 0 ? v->cuts_cap * 2 : 8;
        void *grown = realloc(v->cuts, cap * sizeof(*v->cuts));
        if (grown == NULL)
            abort();
        v->cuts = grown;
        v->cuts_cap = cap;
    }
    v->cuts[v->ncuts].off = v->piece_off = len;
    v->cuts[v->ncuts++].line = v->piece_line = w->nlines[b];
}

/* Backend @b's lines stop being a slice of the body: what it had so far is copied into its body. */
static int start_copy(rt_write_t *w, size_t b)
{
    struct st_rt_view_t *v = &w->_views[b];
    v->copied = 1;
    return ubuf_append(&w->bodies[b], w->_body + v->off, v->len);
}

static int append_line(rt_write_t *w, size_t b, const lp_line_t *l, const char *ts, size_t tslen)
{
    struct st_rt_view_t *v = &w->_views[b];

    if (w->piece_bytes != 0)
        cut_if_full(w, b, l->line_len + tslen + 1);
    if (!v->copied) {
        /* still a run of the body: grow it if this line follows on, as it stands, with its '\n' */
        size_t off = (size_t)(l->line - w->_body), len = l->line_len + 1;
        if (w->borrow_body && tslen == 0 && off + l->line_len < w->_body_len && l->line[l->line_len] == '\n' &&
            (v->len == 0 || off == v->off + v->len) && v->len + len <= w->bodies[b].cap) {
            if (v->len == 0)
                v->off = off;
            v->len += len;
            w->nlines[b]++;
            return 0;
        }
        if (start_copy(w, b) != 0)
            return -1;
    }
    char *p = ubuf_reserve(&w->bodies[b], l->line_len + tslen + 1);
    if (p == NULL)
        return -1;
    memcpy(p, l->line, l->line_len);
    memcpy(p + l->line_len, ts, tslen);
    p[l->line_len + tslen] = '\n';
    w->bodies[b].len += l->line_len + tslen + 1;
    w->nlines[b]++;
    return 0;
}

/* The backends a line of keymap @k goes to, into @t: @k's, then the node's nexts that are not among them, each once
 * (a keymap names a backend once at most). Returns how many (at most the snapshot's backends). */
static size_t targets(const cfg_t *cfg, const cfg_keymap_t *k, size_t *t)
{
    size_t n = 0;

    for (size_t i = 0; i < k->n; i++)
        t[n++] = k->backends[i];
    for (size_t i = 0; i < cfg->node.nnexts; i++) {
        size_t b = cfg->node.next_backends[i];
        int dup = 0;
        /* a nexts entry listed twice is still one delivery */
        for (size_t j = 0; j < n && !dup; j++)
            dup = t[j] == b;
        if (!dup)
            t[n++] = b;
    }
    return n;
}

/* A run: lines of one keymap that follow each other in the body, each with its time and its '\n', after a first line
 * that went to its backends the usual way (append_line). The run is appended to each backend at once when it ends.
 * It never grows past a line that would start a new piece, or pass the cap of a backend's body, for any of its
 * backends, so appending it whole leaves the same bodies and pieces as appending its lines one by one. */
typedef struct st_run_t {
    const cfg_keymap_t *k; /* NULL: no run */
    const size_t *t;       /* its backends (targets()) */
    size_t nt;
    const char *start, *end; /* the bytes of the body after the first line */
    size_t lines, room_lines, room_bytes;
} run_t;

/* Starts a run after a line of @k just appended to each of @t[0..nt) and ending at @end. */
static void run_start(const rt_write_t *w, run_t *r, const cfg_keymap_t *k, const size_t *t, size_t nt, const char *end)
{
    r->k = k;
    r->t = t;
    r->nt = nt;
    r->start = r->end = end;
    r->lines = 0;
    r->room_lines = SIZE_MAX;
    r->room_bytes = SIZE_MAX;
    for (size_t i = 0; i < nt; i++) {
        size_t room = w->bodies[t[i]].cap - view_len(w, t[i]), lines, bytes;
        if (room < r->room_bytes)
            r->room_bytes = room;
        if (w->piece_bytes != 0) { /* what cut_if_full() lets into the current piece, which holds a line */
            piece_room(w, t[i], &lines, &bytes);
            if (lines < r->room_lines)
                r->room_lines = lines;
            if (bytes < r->room_bytes)
                r->room_bytes = bytes;
        }
    }
}

/* Appends the run's lines, if any, to each of its backends, and ends it. */
static int run_flush(rt_write_t *w, run_t *r)
{
    size_t bytes = (size_t)(r->end - r->start), lines = r->lines;

    r->k = NULL;
    r->lines = 0;
    if (lines == 0)
        return 0;
    for (size_t i = 0; i < r->nt; i++) {
        size_t b = r->t[i];
        struct st_rt_view_t *v = &w->_views[b];
        if (!v->copied && v->off + v->len == (size_t)(r->start - w->_body)) {
            v->len += bytes; /* still a run of the body */
        } else if ((!v->copied && start_copy(w, b) != 0) || ubuf_append(&w->bodies[b], r->start, bytes) != 0) {
            return -1;
        }
        w->nlines[b] += lines;
    }
    return 0;
}

/* The measurements seen in a body and their keymaps, in a few slots chosen by a hash of the name's first bytes: a body
 * usually holds a handful of measurements, and comparing a few bytes is cheaper than unescaping and hashing the name
 * again. A slot is looked at without a loop, so lines whose measurements take turns cost no mispredicted branch. Two
 * names that share a slot take it in turn (the other is looked up). Only names that unescaping left as they were are
 * kept, so the raw bytes stand for the name. */
#define RECENT_BITS 4
#define RECENT (1u << RECENT_BITS)

typedef struct st_recent_t {
    uint64_t head[RECENT]; /* name_head() of each name */
    const char *name[RECENT];
    size_t len[RECENT]; /* 0: an empty slot (no measurement is empty) */
    const cfg_keymap_t *k[RECENT];
} recent_t;

/* The first bytes of a valid line's measurement (up to 8, the rest of the word zero), read as one word: most names
 * differ there, and one comparison of words replaces a call to memcmp. A valid line starts with its measurement. */
static inline uint64_t name_head(const lp_line_t *l)
{
    uint64_t w = 0;
    size_t n = l->measurement_len < 8 ? l->measurement_len : 8;

    if (l->line_len < 8) {
        memcpy(&w, l->measurement, n);
        return w;
    }
    memcpy(&w, l->measurement, 8);
    if (n == 8)
        return w;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return w & (((uint64_t)1 << (8 * n)) - 1);
#else
    return w & ~(~(uint64_t)0 >> (8 * n));
#endif
}

static inline unsigned recent_slot(uint64_t head, size_t len)
{
    return (unsigned)(((head ^ len) * 0x9E3779B97F4A7C15ull) >> (64 - RECENT_BITS));
}

static const cfg_keymap_t *recent_route(const recent_t *r, const lp_line_t *l, uint64_t head)
{
    unsigned i = recent_slot(head, l->measurement_len);
    if (r->head[i] == head && r->len[i] == l->measurement_len &&
        (r->len[i] <= 8 || memcmp(r->name[i] + 8, l->measurement + 8, r->len[i] - 8) == 0))
        return r->k[i];
    return NULL;
}

static void recent_add(recent_t *r, const lp_line_t *l, uint64_t head, const cfg_keymap_t *k)
{
    unsigned i = recent_slot(head, l->measurement_len);
    r->head[i] = head;
    r->name[i] = l->measurement;
    r->len[i] = l->measurement_len;
    r->k[i] = k;
}

int rt_split(const cfg_t *cfg, const char *body, size_t len, lp_precision_t precision, const struct timespec *now,
             rt_write_t *w)
{
    recent_t recent;
    lp_iter_t it;
    lp_line_t l;
    char ts[LP_INT64_BUFSZ + 1], meas[MEAS_MAX], reason[256];
    size_t tslen, t[cfg->nbackends + 1];
    run_t run = {.k = NULL};

    memset(recent.len, 0, sizeof(recent.len));
    ts[0] = ' ';
    tslen = 1 + lp_format_int64(lp_now(now, precision), ts + 1);
    w->_body = body;
    w->_body_len = len;
    w->_cfg = cfg;
    lp_iter_init(&it, body, len, precision);
    while (lp_iter_next(&it, &l)) {
        if (l.err != LP_OK) {
            size_t rlen = lp_line_reason(&l, reason, sizeof(reason));
            add_error(w, l.line, l.line_len, reason, rlen < sizeof(reason) ? rlen : sizeof(reason) - 1);
            w->invalid++;
            continue;
        }
        uint64_t head = name_head(&l);
        const cfg_keymap_t *k = recent_route(&recent, &l, head);
        ssize_t mlen = 0;
        if (k == NULL) {
            mlen = lp_unescape_measurement(&l, meas, sizeof(meas));
            k = mlen >= 0 ? cfg_route(cfg, meas, (size_t)mlen) : cfg->default_keymap;
            if (k != NULL && (size_t)mlen == l.measurement_len) /* no escape in the name */
                recent_add(&recent, &l, head, k);
        }
        if (k == NULL) {
            const char *m = mlen >= 0 ? meas : l.measurement;
            int ml = mlen >= 0 ? (int)mlen : (int)(l.measurement_len < 64 ? l.measurement_len : 64);
            int rl = snprintf(reason, sizeof(reason),
                              "measurement \"%.*s\" has no backend set (no m:%.*s and no m:_default_)", ml, m, ml, m);
            add_error(w, l.line, l.line_len, reason, (size_t)rl < sizeof(reason) ? (size_t)rl : sizeof(reason) - 1);
            w->invalid++;
            w->unroutable++;
            continue;
        }
        /* a line that follows the run on, as it stands and with its '\n', joins it while it fits */
        const char *end = l.line + l.line_len + 1;
        int whole = l.ts_len != 0 && (size_t)(end - body) <= len && end[-1] == '\n';
        if (k == run.k && whole && l.line == run.end && run.lines < run.room_lines &&
            (size_t)(end - run.start) <= run.room_bytes) {
            run.end = end;
            run.lines++;
            w->valid++;
            continue;
        }
        if (run_flush(w, &run) != 0)
            return -1;
        size_t nt = targets(cfg, k, t);
        for (size_t i = 0; i < nt; i++)
            if (append_line(w, t[i], &l, ts, l.ts_len == 0 ? tslen : 0) != 0)
                return -1;
        w->valid++;
        if (whole)
            run_start(w, &run, k, t, nt, end);
    }
    if (run_flush(w, &run) != 0)
        return -1;
    for (size_t b = 0; b < w->nbackends; b++) {
        const struct st_rt_view_t *v = &w->_views[b];
        w->out[b].base = v->copied ? w->bodies[b].base : body + v->off;
        w->out[b].len = view_len(w, b);
    }
    return 0;
}

size_t rt_npieces(const rt_write_t *w, size_t b)
{
    return w->nlines[b] == 0 ? 0 : w->_views[b].ncuts + 1;
}

rt_slice_t rt_piece(const rt_write_t *w, size_t b, size_t i, size_t *nlines)
{
    const struct st_rt_view_t *v = &w->_views[b];
    size_t off = i == 0 ? 0 : v->cuts[i - 1].off, end = i < v->ncuts ? v->cuts[i].off : w->out[b].len;
    size_t line = i == 0 ? 0 : v->cuts[i - 1].line, last = i < v->ncuts ? v->cuts[i].line : w->nlines[b];

    *nlines = last - line;
    return (rt_slice_t){w->out[b].base + off, end - off};
}

/* Intersects @mask with keymap @k. */
static void intersect(unsigned char *mask, size_t n, const cfg_keymap_t *k)
{
    unsigned char in[n + 1];
    memset(in, 0, n + 1);
    for (size_t i = 0; i < k->n; i++)
        in[k->backends[i]] = 1;
    for (size_t i = 0; i < n; i++)
        mask[i] &= in[i];
}

static int regex_sets(const cfg_t *cfg, const char *pattern, unsigned char *mask, char *err, size_t errcap)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
    if (re == NULL) {
        char m[128];
        pcre2_get_error_message(ec, (PCRE2_UCHAR *)m, sizeof(m));
        snprintf(err, errcap, "invalid regular expression /%s/: %s", pattern, m);
        return -1;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    for (size_t i = 0; i < cfg->nkeymaps; i++) {
        const cfg_keymap_t *k = &cfg->keymaps[i];
        if (k == cfg->default_keymap)
            continue;
        if (pcre2_match(re, (PCRE2_SPTR)k->measurement, strlen(k->measurement), 0, 0, md, NULL) >= 0)
            intersect(mask, cfg->nbackends, k);
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return 0;
}

int rt_query_backends(const cfg_t *cfg, const iql_stmt_t *st, unsigned char *mask, char *err, size_t errcap)
{
    char name[MEAS_MAX];
    size_t count = 0;

    memset(mask, 1, cfg->nbackends);
    for (size_t i = 0; i < st->nsources; i++) {
        const iql_ident_t *id = &st->sources[i].name;
        if (iql_ident_copy(id, name, sizeof(name)) < 0) {
            snprintf(err, errcap, "measurement name too long or malformed: %.*s",
                     (int)(id->tok.len < 80 ? id->tok.len : 80), id->tok.ptr);
            return -1;
        }
        if (id->kind == IQL_ID_REGEX) {
            if (regex_sets(cfg, name, mask, err, errcap) != 0)
                return -1;
            if (cfg->default_keymap != NULL)
                intersect(mask, cfg->nbackends, cfg->default_keymap);
            continue;
        }
        const cfg_keymap_t *k = cfg_route(cfg, name, strlen(name));
        if (k == NULL) {
            snprintf(err, errcap, "measurement \"%s\" has no backend set (no m:%s and no m:_default_)", name, name);
            return -1;
        }
        intersect(mask, cfg->nbackends, k);
    }
    for (size_t i = 0; i < cfg->nbackends; i++)
        count += mask[i];
    if (count == 0)
        snprintf(err, errcap,
                 "the measurements of \"%.*s\" are on different backends, which no single backend "
                 "can answer",
                 (int)(st->text.len < 200 ? st->text.len : 200), st->text.ptr);
    return (int)count;
}

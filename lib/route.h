/*
 * route — the write path's pure core: split a line-protocol body by measurement into one body per
 * target backend (SPEC §6), stamping lines that have no timestamp with the receive time.
 *
 * Every valid line goes to each backend of its measurement's keymap (exact m:<name>, else
 * m:_default_) plus the node's `nexts`. Invalid lines and lines whose measurement has no backend set
 * are collected as InfluxDB-style messages; the other lines are still delivered. Cost is linear in
 * the body and independent of the number of keymaps (hash lookup).
 */
#ifndef IP_ROUTE_H
#define IP_ROUTE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "cfg.h"
#include "influxql.h"
#include "lineproto.h"
#include "util.h"

/* A run of bytes, owned by someone else. */
typedef struct st_rt_slice_t {
    const char *base;
    size_t len;
} rt_slice_t;

/* The largest upstream write the proxy makes of client lines, unless one line alone is larger: well under influxd's
 * default max-body-size (25,000,000 bytes), so that whatever the proxy accepts, a backend takes. */
#define RT_PIECE_BYTES (4u << 20)

typedef struct st_rt_write_t {
    size_t nbackends;
    /* Set before rt_split() to cut each backend's lines into pieces (rt_piece) of at most its `maxrowlimit` lines
     * and piece_bytes bytes, each to go upstream as a write of its own (a line longer than that is a piece of its
     * own); 0 leaves every backend's lines in one piece. */
    size_t piece_bytes;
    /* Set before rt_split() when the body outlives every use of `out`: a backend whose lines are a run of the body
     * as it stands (each ending with its '\n', no time to add, nothing skipped between them) then gets a slice of
     * the body itself instead of a copy. */
    int borrow_body;
    rt_slice_t *out; /* per backend of the snapshot, after rt_split(): its lines, each ending with '\n' */
    ubuf_t *bodies;  /* per backend: where out points when the lines had to be copied */
    size_t *nlines;  /* per backend */
    size_t valid;    /* lines routed to at least one backend */
    size_t invalid;  /* lines refused: unparsable or without a backend set */
    size_t unroutable;
    ubuf_t errors; /* "unable to parse '<line>': <reason>" messages joined by '\n' (capped) */
    /* private: while rt_split() runs */
    const char *_body;
    size_t _body_len;
    const cfg_t *_cfg;
    struct st_rt_view_t {
        size_t off, len;
        int copied;                   /* the lines are in bodies[] */
        size_t piece_off, piece_line; /* where the current piece starts: byte in out[], line */
        struct st_rt_cut_t {
            size_t off, line;
        } * cuts; /* where the 2nd, 3rd... pieces start */
        size_t ncuts, cuts_cap;
    } * _views;
} rt_write_t;

/* Prepares @w for a snapshot with @nbackends backends; every per-backend body is capped at @body_cap
 * bytes. */
void rt_write_init(rt_write_t *w, size_t nbackends, size_t body_cap);
void rt_write_free(rt_write_t *w);

/* Routes every line of @body. @now is the receive time; lines without a timestamp get it in
 * @precision. Returns 0, or -1 when a per-backend body would pass its cap (nothing should be sent). */
int rt_split(const cfg_t *cfg, const char *body, size_t len, lp_precision_t precision, const struct timespec *now,
             rt_write_t *w);

/* After rt_split(): how many pieces backend @b's lines are in (0 when it has none), and piece @i of them, with its
 * line count in *nlines. The pieces follow each other in out[b]. */
size_t rt_npieces(const rt_write_t *w, size_t b);
rt_slice_t rt_piece(const rt_write_t *w, size_t b, size_t i, size_t *nlines);

/* Query routing: the backends that hold every measurement a ROUTE statement reads. For each FROM
 * source the set is its keymap (exact name, else m:_default_); a regex source involves every keymap
 * whose name it matches plus m:_default_ (measurements without a keymap of their own live there).
 * Any backend in the intersection of those sets can answer the whole statement. Sets @mask[i] = 1
 * for those backends (room for cfg->nbackends) and returns how many; 0 with @err naming the
 * measurements when they span backend sets that share no backend; -1 with @err for a source that
 * cannot be read (bad regex, name too long) or that has no backend set at all. */
int rt_query_backends(const cfg_t *cfg, const iql_stmt_t *st, unsigned char *mask, char *err, size_t errcap);

#endif

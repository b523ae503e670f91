/*
 * qmerge — the JSON side of the query path (layer 1, pure): merging the answers of a fanned-out
 * SHOW statement, and reassembling the results of a multi-statement request whose statements were
 * answered by different backends (SPEC §7).
 *
 * A fanned-out SHOW must read as if one influxd held the union of every backend's data: rows are
 * made unique, ordered as influxd orders them, and LIMIT/OFFSET are applied after the merge (the
 * caller strips them from the statement it sends). Statement results of a multi-statement request
 * are cut out of each backend's body byte for byte, renumbered, and joined into one body encoded as
 * influxd encodes it (compact, or json.MarshalIndent with four spaces for pretty=true).
 *
 * Backend bodies are parsed with jansson for the merge (the rows must be compared and sorted), and
 * walked by a small validating scanner for the splice (floats and 64-bit unsigned integers of
 * SELECT results are copied as influxd wrote them, never re-encoded). Output strings are escaped as
 * Go's encoding/json does (<, >, & as \u003c \u003e \u0026; non-ASCII as is).
 *
 * Every function is thread-safe (no shared state) and allocates only its output and scratch space.
 * Each output is capped by the caller's `maxout` (QM_ETOOBIG beyond it).
 */
#ifndef QM_QMERGE_H
#define QM_QMERGE_H

#include <stddef.h>
#include <stdint.h>
#include "influxql.h"

#define QM_OK 0
#define QM_EJSON (-1)   /* a body is not the JSON influxd sends (the caller answers 502) */
#define QM_ETOOBIG (-2) /* the output would exceed maxout */
#define QM_ERANGE (-3)  /* the body holds fewer results than the index asked for */
#define QM_EINVAL (-4)  /* bad argument: no bodies, a kind that is not merged, … */

/* One backend's answer to the statement, as the caller received it. */
typedef struct st_qm_body_t {
    const char *name; /* backend name, used in messages; may be NULL */
    const char *ptr;  /* the complete, non-chunked response body, or NULL when it did not answer */
    size_t len;
    const char *reason; /* ptr == NULL: why, e.g. "connection refused" (NULL: "no answer") */
} qm_body_t;

/* Paging clauses of the statement (iql_stmt_t's fields), -1 when absent. influxd 1.6 applies
 * LIMIT/OFFSET to the rows of each series (SHOW MEASUREMENTS and SHOW SERIES have one series) with 0
 * meaning "no limit"; it accepts SLIMIT/SOFFSET only on SHOW TAG KEYS and ignores them there, so the
 * merge ignores them too. SHOW DATABASES and RETENTION POLICIES take no paging. */
typedef struct st_qm_paging_t {
    int64_t limit, offset, slimit, soffset;
    /* chunked=true: the rows per chunk (influxd's chunk_size, 10000 when the client gives none), and the output is
     * the result objects influxd sends one per line in that mode, separated by '\n' (see put_chunked); 0: one
     * result object */
    int64_t chunk_size;
} qm_paging_t;

/* An output: malloc'ed, NUL-terminated (not counted in len); the caller frees ptr. */
typedef struct st_qm_buf_t {
    char *ptr;
    size_t len;
} qm_buf_t;

/* Merges the n backends' answers to one fanned-out SHOW statement into one result object,
 * `{"statement_id":N,"series":[…]}`, `{"statement_id":N}` when there is nothing to show, or
 * `{"statement_id":N,"error":"…"}`; with paging->chunk_size > 0 (chunked=true), into the result objects influxd
 * sends one per line in that mode, separated by '\n'. kind is one of IQL_K_SHOW_DATABASES, _RETENTION_POLICIES,
 * _MEASUREMENTS, _TAG_KEYS, _FIELD_KEYS, _TAG_VALUES, _SERIES. paging may be NULL.
 *
 * Order: measurements, tag keys, field keys, tag values (by key, then value) and series names are
 * sorted as influxd sorts them (bytewise; series keys by measurement, then tag by tag). Databases and
 * retention policies are listed by influxd in creation order, which no backend knows across the
 * cluster: the first answering backend's order is kept and names new to it are appended in the order
 * of the backends that have them. Duplicates are dropped by name (by key and value for tag values);
 * where backends disagree on the rest of a row (a field's type, a retention policy's duration) the
 * first answering backend's row wins.
 *
 * Failures: a backend that answered with an error (in its result, or a top-level `{"error":…}`) is
 * left out when any other backend answered without one; when every answer is an error the first one
 * (in body order) is the result. A body that is not influxd's JSON counts as a failed backend. When no
 * backend produced an answer at all, the result is an error naming every backend with its reason —
 * returned as QM_OK when they were all unreachable, as QM_EJSON (with the same text in err) when at
 * least one of them sent an invalid body.
 *
 * Returns QM_OK with *out set, or a QM_E* code with a message in err (and out->ptr NULL). */
int qm_merge_show(iql_kind_t kind, const qm_body_t *bodies, size_t n, const qm_paging_t *paging, int statement_id,
                  size_t maxout, qm_buf_t *out, char *err, size_t errcap);

/* Cuts result #index out of one backend's non-chunked body `{"results":[…]}` and renumbers it to
 * statement_id: `{"statement_id":N,…the other members as the backend wrote them…}`, whitespace
 * outside strings removed. A body with a top-level `{"error":"…"}` (influxd's answer to a query it
 * could not parse, or to bad credentials) yields `{"statement_id":N,"error":"…"}` for any index.
 * Returns QM_OK, QM_ERANGE when the body has no result #index, QM_EJSON when it is not valid JSON
 * of that shape, QM_ETOOBIG; a message in err on failure. */
int qm_extract(const char *body, size_t len, size_t index, int statement_id, size_t maxout, qm_buf_t *out, char *err,
               size_t errcap);

/* `{"statement_id":N,"error":"<msg>"}` with msg escaped as influxd escapes it: for a statement whose
 * backend could not be reached. Returns QM_OK or QM_ETOOBIG. */
int qm_error_result(int statement_id, const char *msg, size_t maxout, qm_buf_t *out);

/* Joins n result objects (from the functions above) into the body influxd would send:
 * `{"results":[r0,r1,…]}` and a newline; pretty != 0 lays it out as influxd's ?pretty=true does
 * (four-space indent, `"key": value`, empty arrays and objects as [] and {}). Each result must be
 * one JSON object. Returns QM_OK, QM_EJSON for a result that is not one, or QM_ETOOBIG. */
int qm_assemble(const qm_buf_t *results, size_t n, int pretty, size_t maxout, qm_buf_t *out, char *err, size_t errcap);

/* A short name for a QM_* code. */
const char *qm_strerror(int code);

#endif

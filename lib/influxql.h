/*
 * influxql — InfluxQL statement splitter and classifier (layer 1, pure).
 *
 * The query handler needs to know, for every statement of a `q` parameter, where it may go: to one
 * backend chosen by measurement, to every backend with the answers merged, to every backend for
 * CREATE DATABASE, to any backend, or nowhere. This module answers that without parsing the full
 * InfluxQL grammar: a scanner that follows influxd's lexical rules (strings, quoted identifiers,
 * regex literals where the parser expects one, `--` and block comments), PCRE2 patterns over the
 * normalised leading keywords to pick the statement kind, and a small hand-written parser for the
 * parts that matter for routing (FROM sources, sub-queries, ON, INTO, LIMIT/OFFSET).
 *
 * Nothing here allocates except PCRE2's match data: one block per thread, made by its first
 * iql_classify() and kept (iql_thread_release() frees it), plus one per statement when a queryforbid
 * pattern cannot be JIT-compiled. Every result is a slice into the caller's query text, which must
 * outlive the results.
 *
 * Classes (SPEC §7):
 *   IQL_ROUTE      SELECT … FROM sources; SHOW TAG KEYS|FIELD KEYS|TAG VALUES|SERIES … FROM sources;
 *                  SHOW … CARDINALITY … FROM sources; EXPLAIN [ANALYZE] SELECT. The caller maps every
 *                  source (regex sources against keymap names) and rejects the statement when they
 *                  do not share one backend set.
 *   IQL_FANOUT     SHOW DATABASES | RETENTION POLICIES | MEASUREMENTS, and SHOW TAG KEYS | FIELD KEYS |
 *                  TAG VALUES | SERIES without FROM: run on every queryable backend, merged, paging
 *                  applied after the merge (see limit/offset/slimit/soffset and `bare`).
 *   IQL_BROADCAST  CREATE DATABASE, CREATE RETENTION POLICY: sent to every backend; `db` locates the
 *                  database name so a backend's `db` override can be substituted.
 *   IQL_FORWARD_ANY read-only statements that name no measurement and whose answer does not depend on
 *                  how measurements are sharded: SHOW CONTINUOUS QUERIES, SHOW DIAGNOSTICS, SHOW STATS,
 *                  SHOW USERS, SHOW GRANTS, SHOW SHARDS, SHOW SHARD GROUPS, SHOW QUERIES,
 *                  SHOW SUBSCRIPTIONS. Any healthy backend may answer.
 *   IQL_REJECT     DELETE, DROP …, GRANT, REVOKE, ALTER, CREATE USER|CONTINUOUS QUERY|SUBSCRIPTION,
 *                  SET PASSWORD, KILL, SELECT … INTO (also inside a sub-query), SHOW … CARDINALITY
 *                  without FROM (one backend only knows its share, and the merge does not sum),
 *                  statements matching the node's `queryforbid`, and anything unparsable.
 */
#ifndef IQL_INFLUXQL_H
#define IQL_INFLUXQL_H

#include <stddef.h>
#include <stdint.h>

/* Hard caps: a statement exceeding them is rejected with a message, never truncated. */
#define IQL_MAX_SOURCES 32 /* FROM sources of one statement, sub-queries flattened */
#define IQL_MAX_DEPTH 8    /* nested sub-queries */

/* Error codes (negative) returned by the functions below; iql_strerror() names them. */
#define IQL_OK 0
#define IQL_EPARSE (-1)       /* not valid InfluxQL */
#define IQL_EFORBIDDEN (-2)   /* a statement kind the proxy never executes */
#define IQL_EQUERYFORBID (-3) /* matched the node's queryforbid pattern */
#define IQL_ELIMIT (-4)       /* over one of the hard caps */
#define IQL_ENOSPACE (-5)     /* the caller's buffer or array is too small */
#define IQL_EINVAL (-6)       /* bad argument (e.g. invalid pattern) */

typedef struct st_iql_t iql_t;

/* A borrowed slice of the caller's query text. */
typedef struct st_iql_slice_t {
    const char *ptr;
    size_t len;
} iql_slice_t;

typedef enum en_iql_ident_kind_t {
    IQL_ID_NONE = 0, /* absent (e.g. no db qualifier, or `db..m` with the rp left empty) */
    IQL_ID_BARE,     /* bare identifier: tok is the name */
    IQL_ID_QUOTED,   /* "double quoted": tok includes the quotes, escapes unresolved */
    IQL_ID_REGEX,    /* /regex/: tok includes the slashes, `\/` unresolved */
} iql_ident_kind_t;

/* An identifier as written in the statement. `tok` spans the whole token (quotes or slashes
 * included), so a caller can splice a replacement over exactly that span. Decode with
 * iql_ident_copy(). */
typedef struct st_iql_ident_t {
    iql_ident_kind_t kind;
    iql_slice_t tok;
} iql_ident_t;

/* One FROM source: [db.][rp.]name, with name possibly a regex. */
typedef struct st_iql_source_t {
    iql_ident_t db, rp, name;
} iql_source_t;

typedef enum en_iql_class_t {
    IQL_REJECT = 0,
    IQL_ROUTE,
    IQL_FANOUT,
    IQL_BROADCAST,
    IQL_FORWARD_ANY,
} iql_class_t;

/* Statement kinds, as recognised from the leading keywords. */
typedef enum en_iql_kind_t {
    IQL_K_UNKNOWN = 0,
    IQL_K_SELECT,
    IQL_K_EXPLAIN, /* EXPLAIN [ANALYZE] SELECT … */
    IQL_K_SHOW_DATABASES,
    IQL_K_SHOW_RETENTION_POLICIES,
    IQL_K_SHOW_MEASUREMENTS,
    IQL_K_SHOW_TAG_KEYS,
    IQL_K_SHOW_FIELD_KEYS,
    IQL_K_SHOW_TAG_VALUES,
    IQL_K_SHOW_SERIES,
    IQL_K_SHOW_CARDINALITY, /* SHOW MEASUREMENT|SERIES|TAG KEY|TAG VALUES|FIELD KEY [EXACT] CARDINALITY */
    IQL_K_SHOW_OTHER,       /* read-only SHOW forwarded to any backend */
    IQL_K_CREATE_DATABASE,
    IQL_K_CREATE_RETENTION_POLICY,
    IQL_K_FORBIDDEN, /* DELETE, DROP, GRANT, … */
} iql_kind_t;

/* The classification of one statement. A plain value: the caller puts it on the stack. */
typedef struct st_iql_stmt_t {
    iql_class_t cls;
    iql_kind_t kind;
    int err;          /* 0, or the IQL_E* code when cls == IQL_REJECT */
    iql_slice_t text; /* the statement, without leading/trailing blanks and comments */
    /* IQL_ROUTE: the FROM sources (sub-queries flattened, in text order). */
    size_t nsources;
    iql_source_t sources[IQL_MAX_SOURCES];
    /* `ON <db>` of SHOW … ON db / CREATE RETENTION POLICY … ON db; kind IQL_ID_NONE when absent. */
    iql_ident_t on_db;
    /* IQL_BROADCAST: the database the statement creates (CREATE DATABASE name / … ON name). */
    iql_ident_t db;
    /* SHOW statements: paging clauses, -1 when absent, and the text with them removed (`bare`
     * equals `text` when there are none). The merge of a IQL_FANOUT applies them itself. */
    int64_t limit, offset, slimit, soffset;
    iql_slice_t bare;
} iql_stmt_t;

/* Compiles the classification patterns, plus the node's `queryforbid` pattern when
 * extra_forbid_pattern is non-NULL and non-empty. queryforbid is a PCRE2 pattern matched (unanchored,
 * case-sensitive unless it says `(?i)`, bytes not UTF-8) against each statement's text.
 * Returns a new object owned by the caller (free with iql_free), or NULL with a message in err
 * naming the pattern and PCRE2's reason. After creation the object is read-only: any number of
 * threads may call iql_classify() on it concurrently. */
iql_t *iql_create(const char *extra_forbid_pattern, char *err, size_t errcap);
void iql_free(iql_t *iql);

/* Splits q[0..len) into statements on `;` outside strings, quoted identifiers, regex literals and
 * comments, dropping empty statements as influxd does. Each slice is trimmed of blanks and comments.
 * A statement with an unterminated string, identifier, regex or comment runs to the end of q (it will
 * classify as IQL_REJECT). Returns the number of statements (0 for an empty or comment-only q), or -1
 * with a message in err when there are more than `cap`. Thread-safe, allocates nothing. */
int iql_split(const char *q, size_t len, iql_slice_t *stmts, size_t cap, char *err, size_t errcap);

/* Classifies one statement (normally a slice from iql_split; a trailing `;` is not accepted).
 * Always fills *out. Returns 0 when the statement may be executed (out->cls != IQL_REJECT), else the
 * IQL_E* code (also in out->err) with a message in err that names the statement and the reason.
 * Thread-safe on a shared iql; the calling thread's match data is made on its first call. */
int iql_classify(const iql_t *iql, const char *stmt, size_t len, iql_stmt_t *out, char *err, size_t errcap);

/* Frees the calling thread's match data (a thread that classified calls it before it ends). */
void iql_thread_release(void);

/* Decodes an identifier into buf as a NUL-terminated string: a bare name as is, a quoted one with
 * \" \\ \' \n resolved, a regex with \/ resolved (the pattern, without slashes). Returns the decoded
 * length, or -1 when it does not fit in cap bytes (NUL included) or the identifier is absent or
 * malformed. */
int iql_ident_copy(const iql_ident_t *id, char *buf, size_t cap);

/* Writes name[0..len) as a double-quoted InfluxQL identifier ("a\"b") into buf, NUL-terminated, for
 * splicing over an iql_ident_t's tok. Returns its length, or -1 when it does not fit. */
int iql_quote_ident(const char *name, size_t len, char *buf, size_t cap);

/* Whether a SHOW that IQL_ROUTE would send by its FROM can instead be fanned out and merged (SHOW TAG KEYS, FIELD
 * KEYS, TAG VALUES, SERIES, without the SLIMIT/SOFFSET influxd refuses there): for FROM sources that lie on backend
 * sets sharing no backend, the union of every backend's answer is what one influxd holding all the data gives. */
int iql_show_mergeable(const iql_stmt_t *st);

/* @q without the white space Go's strings.TrimSpace takes off both ends (Unicode spaces too), as influxd trims `q`. */
iql_slice_t iql_trim_space(const char *q, size_t len);

/* influxd's own error for a query whose statement at @q + @off (a slice from iql_split) starts with a token that starts
 * no InfluxQL statement: "error parsing query: found X, expected SELECT, ... at line L, char C", X as influxd's
 * scanner reads and names that token, L and C its place in the whole query (characters, not bytes). Returns 1 with
 * the message in @err, or 0 when the first token is a statement keyword (influxd's error would then be about a later
 * token, which only its full parser knows). */
int iql_first_token_error(const char *q, size_t qlen, size_t off, char *err, size_t errcap);

const char *iql_strerror(int code);
const char *iql_class_name(iql_class_t cls);

#endif

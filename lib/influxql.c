/*
 * influxql — InfluxQL statement splitter and classifier (see influxql.h for the contract).
 *
 * DESIGN
 * One scanner serves the splitter and the classifier, so both always agree on where a string, a
 * regex or a comment ends. It follows influxd 1.x's lexer: 'strings' and "identifiers" with the
 * escapes \n \\ \" \' (anything else is an error), `--` comments to end of line, block comments,
 * and regex literals. influxd only scans a regex where its parser expects one; we approximate that
 * with the previous significant token (SELECT, FROM, BY, `(`, `,`, `=~`, `!~`), which covers every
 * place influxd 1.6 accepts one (checked against a running influxd: `SELECT /x/`, `mean(/x/)`,
 * `FROM a, /b/`, `GROUP BY /h/`, `=~ /r/`) and keeps `a / 2` a division. Inside a regex, `\/` is an
 * escaped slash and any other backslash stands for itself, as influxd's ScanDelimited does (so
 * `/a\\/` does not end at its last slash).
 *
 * The statement kind comes from PCRE2 patterns matched against the leading bare words, upper-cased
 * and joined by single spaces ("SHOW TAG VALUES FROM"), which makes the table independent of case,
 * comments and spacing. The rest is parsed only as far as routing needs: FROM sources (segmented
 * names, regexes, sub-queries), ON, INTO, and the paging clauses of SHOW statements. Everything
 * else is left to the backend, which reports its own parse errors.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>

#include "influxql.h"
#include "util.h"

/* ---- scanner ---------------------------------------------------------------------------------- */

typedef enum en_tok_type_t {
    T_EOF = 0,
    T_WORD,   /* run of [A-Za-z0-9_]: keyword, bare identifier, number, duration */
    T_QIDENT, /* "quoted identifier" */
    T_STRING, /* 'string' */
    T_REGEX,  /* /regex/ */
    T_PUNCT,  /* any other single byte */
    T_EQREGEX,
    T_NEQREGEX,
    T_ERROR,
} tok_type_t;

typedef struct st_token_t {
    tok_type_t type;
    const char *ptr;
    size_t len;
    const char *why; /* T_ERROR only */
} token_t;

typedef struct st_scanner_t {
    const char *p, *end;
    int regex_ok; /* a `/` here starts a regex literal */
} scanner_t;

static int is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int word_is(const token_t *t, const char *kw)
{
    size_t n = strlen(kw);
    return t->type == T_WORD && t->len == n && strncasecmp(t->ptr, kw, n) == 0;
}

static int punct_is(const token_t *t, char c)
{
    return t->type == T_PUNCT && t->ptr[0] == c;
}

/* Skips blanks and comments. Returns 0, or -1 at an unterminated block comment (p left at it). */
static int skip_blanks(scanner_t *sc)
{
    while (sc->p < sc->end) {
        const char *p = sc->p;
        if (is_space((unsigned char)*p)) {
            sc->p++;
        } else if (*p == '-' && p + 1 < sc->end && p[1] == '-') {
            /* to the end of the line; influxd's reader takes a lone '\r' for a line end too */
            while (sc->p < sc->end && *sc->p != '\n' && *sc->p != '\r')
                sc->p++;
        } else if (*p == '/' && !sc->regex_ok && p + 1 < sc->end && p[1] == '*') {
            const char *q = p + 2;
            while (q + 1 < sc->end && !(q[0] == '*' && q[1] == '/'))
                q++;
            if (q + 1 >= sc->end)
                return -1;
            sc->p = q + 2;
        } else {
            break;
        }
    }
    return 0;
}

/* A quoted token runs to its closing quote even past a bad escape or a newline (both errors in
 * influxd), so that the splitter never cuts inside it. */
static void scan_quoted(scanner_t *sc, token_t *t, tok_type_t type)
{
    const char q = *t->ptr;
    const char *p = t->ptr + 1;
    const char *why = NULL;

    for (; p < sc->end && *p != q; p++) {
        if (*p == '\n' && why == NULL)
            why = type == T_STRING ? "newline in string" : "newline in quoted identifier";
        if (*p != '\\')
            continue;
        if (p + 1 >= sc->end)
            break;
        p++;
        if (*p != 'n' && *p != '\\' && *p != '"' && *p != '\'' && why == NULL)
            why = "bad escape sequence";
    }
    if (p >= sc->end) {
        t->type = T_ERROR;
        t->why = type == T_STRING ? "unterminated string" : "unterminated quoted identifier";
        t->len = (size_t)(sc->end - t->ptr);
        return;
    }
    t->type = why != NULL ? T_ERROR : type;
    t->why = why;
    t->len = (size_t)(p + 1 - t->ptr);
}

static void scan_regex(scanner_t *sc, token_t *t)
{
    const char *p = t->ptr + 1;

    while (p < sc->end && *p != '/') {
        /* only `\/` is an escape; a backslash before anything else is kept and the next byte is
         * scanned normally, hence `\\/` still ends the regex at its slash */
        if (*p == '\\' && p + 1 < sc->end && p[1] == '/')
            p += 2;
        else
            p++;
    }
    if (p >= sc->end) {
        t->type = T_ERROR;
        t->why = "unterminated regex";
        t->len = (size_t)(sc->end - t->ptr);
        return;
    }
    t->type = T_REGEX;
    t->len = (size_t)(p + 1 - t->ptr);
}

static int opens_regex(const token_t *t)
{
    return word_is(t, "SELECT") || word_is(t, "FROM") || word_is(t, "BY") || punct_is(t, '(') || punct_is(t, ',') ||
           t->type == T_EQREGEX || t->type == T_NEQREGEX;
}

static void scan(scanner_t *sc, token_t *t)
{
    memset(t, 0, sizeof(*t));
    if (skip_blanks(sc) != 0) {
        t->type = T_ERROR;
        t->ptr = sc->p;
        t->len = (size_t)(sc->end - sc->p);
        t->why = "unterminated comment";
        sc->p = sc->end;
        return;
    }
    t->ptr = sc->p;
    if (sc->p >= sc->end) {
        t->type = T_EOF;
        return;
    }
    unsigned char c = (unsigned char)*sc->p;
    if (c == '"') {
        scan_quoted(sc, t, T_QIDENT);
    } else if (c == '\'') {
        scan_quoted(sc, t, T_STRING);
    } else if (c == '/' && sc->regex_ok) {
        scan_regex(sc, t);
    } else if (is_word_char(c)) {
        const char *p = sc->p;
        while (p < sc->end && is_word_char((unsigned char)*p))
            p++;
        t->type = T_WORD;
        t->len = (size_t)(p - t->ptr);
    } else if ((c == '=' || c == '!') && sc->p + 1 < sc->end && sc->p[1] == '~') {
        t->type = c == '=' ? T_EQREGEX : T_NEQREGEX;
        t->len = 2;
    } else {
        t->type = T_PUNCT;
        t->len = 1;
    }
    sc->p = t->ptr + t->len;
    sc->regex_ok = opens_regex(t);
}

/* ---- splitting -------------------------------------------------------------------------------- */

int iql_split(const char *q, size_t len, iql_slice_t *stmts, size_t cap, char *err, size_t errcap)
{
    scanner_t sc = {q, q + len, 0};
    const char *start = NULL, *last = NULL;
    size_t n = 0;
    token_t t;

    if (q == NULL)
        return 0;
    for (;;) {
        scan(&sc, &t);
        if (t.type != T_EOF && !punct_is(&t, ';')) {
            if (start == NULL)
                start = t.ptr;
            last = t.ptr + t.len;
            continue;
        }
        if (start != NULL) {
            if (n >= cap || n >= INT32_MAX) {
                util_errf(err, errcap, "too many statements in one query (at most %zu)", cap);
                return -1;
            }
            stmts[n].ptr = start;
            stmts[n].len = (size_t)(last - start);
            n++;
            start = NULL;
        }
        if (t.type == T_EOF)
            return (int)n;
    }
}

/* ---- compiled patterns ------------------------------------------------------------------------ */

/* Matched against the leading bare words, upper-cased, joined by one space. First match wins; the
 * match's length tells how many words it consumed. */
static const struct {
    const char *pattern;
    iql_kind_t kind;
} head_table[] = {
    {"^SELECT\\b", IQL_K_SELECT},
    {"^EXPLAIN(?: ANALYZE)?(?= SELECT\\b)", IQL_K_EXPLAIN},
    {"^SHOW (?:MEASUREMENT|SERIES|TAG KEY|TAG VALUES|FIELD KEY)(?: EXACT)? CARDINALITY\\b", IQL_K_SHOW_CARDINALITY},
    {"^SHOW DATABASES\\b", IQL_K_SHOW_DATABASES},
    {"^SHOW RETENTION POLICIES\\b", IQL_K_SHOW_RETENTION_POLICIES},
    {"^SHOW MEASUREMENTS\\b", IQL_K_SHOW_MEASUREMENTS},
    {"^SHOW TAG KEYS\\b", IQL_K_SHOW_TAG_KEYS},
    {"^SHOW FIELD KEYS\\b", IQL_K_SHOW_FIELD_KEYS},
    {"^SHOW TAG VALUES\\b", IQL_K_SHOW_TAG_VALUES},
    {"^SHOW SERIES\\b", IQL_K_SHOW_SERIES},
    {"^SHOW (?:CONTINUOUS QUERIES|DIAGNOSTICS|STATS|USERS|GRANTS|SHARD GROUPS|SHARDS|QUERIES|SUBSCRIPTIONS)\\b",
     IQL_K_SHOW_OTHER},
    {"^CREATE DATABASE\\b", IQL_K_CREATE_DATABASE},
    {"^CREATE RETENTION POLICY\\b", IQL_K_CREATE_RETENTION_POLICY},
    {"^(?:DELETE|DROP|GRANT|REVOKE|ALTER|KILL|SET PASSWORD|CREATE (?:USER|CONTINUOUS QUERY|SUBSCRIPTION))\\b",
     IQL_K_FORBIDDEN},
};
#define HEAD_N (sizeof(head_table) / sizeof(head_table[0]))
#define HEAD_MAX_WORDS 6
#define HEAD_CAP 128

struct st_iql_t {
    pcre2_code *head[HEAD_N];
    pcre2_code *forbid; /* NULL without queryforbid */
    int forbid_jit;     /* queryforbid runs JIT-compiled, which needs no heap of its own */
};

/* The match data of the calling thread, made at its first classification and kept: a fresh block per statement
 * cost a malloc and free, and the interpreter's first match in a block allocates 20 KiB of backtracking frames,
 * which the block then keeps. Only short texts are matched through it (the head words, and queryforbid when it
 * runs JIT-compiled), so what it keeps stays small. */
static _Thread_local pcre2_match_data *thread_md;

static pcre2_match_data *md_of_thread(void)
{
    if (thread_md == NULL) {
        thread_md = pcre2_match_data_create(1, NULL);
        if (thread_md == NULL)
            abort();
    }
    return thread_md;
}

void iql_thread_release(void)
{
    pcre2_match_data_free(thread_md);
    thread_md = NULL;
}

static pcre2_code *compile(const char *pattern, const char *what, char *err, size_t errcap)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(code, msg, sizeof(msg));
        util_errf(err, errcap, "invalid %s pattern \"%s\": %s at offset %zu", what, pattern, (char *)msg, (size_t)off);
    }
    return re;
}

iql_t *iql_create(const char *extra_forbid_pattern, char *err, size_t errcap)
{
    iql_t *iql = calloc(1, sizeof(*iql));
    if (iql == NULL)
        abort();
    for (size_t i = 0; i < HEAD_N; i++) {
        iql->head[i] = compile(head_table[i].pattern, "statement", err, errcap);
        if (iql->head[i] == NULL)
            goto Error;
        /* best effort, as below: every statement runs through these */
        (void)pcre2_jit_compile(iql->head[i], PCRE2_JIT_COMPLETE);
    }
    if (extra_forbid_pattern != NULL && extra_forbid_pattern[0] != '\0') {
        iql->forbid = compile(extra_forbid_pattern, "queryforbid", err, errcap);
        if (iql->forbid == NULL)
            goto Error;
        /* best effort: without JIT the interpreter gives the same answers */
        size_t jit_size = 0;
        iql->forbid_jit = pcre2_jit_compile(iql->forbid, PCRE2_JIT_COMPLETE) == 0 &&
                          pcre2_pattern_info(iql->forbid, PCRE2_INFO_JITSIZE, &jit_size) == 0 && jit_size != 0;
    }
    return iql;

Error:
    iql_free(iql);
    return NULL;
}

void iql_free(iql_t *iql)
{
    if (iql == NULL)
        return;
    for (size_t i = 0; i < HEAD_N; i++)
        pcre2_code_free(iql->head[i]);
    pcre2_code_free(iql->forbid);
    free(iql);
}

/* ---- statement parser ------------------------------------------------------------------------- */

typedef struct st_parse_t {
    scanner_t sc;
    const char *prev_end; /* end of the token before the last one returned by next() */
    iql_stmt_t *out;
    int code;
    char why[192];
} parse_t;

static void next(parse_t *ps, token_t *t)
{
    ps->prev_end = ps->sc.p;
    scan(&ps->sc, t);
}

static void peek(parse_t *ps, token_t *t)
{
    scanner_t s = ps->sc;
    scan(&s, t);
}

__attribute__((format(printf, 3, 4))) static int fail(parse_t *ps, int code, const char *fmt, ...)
{
    va_list ap;
    if (ps->code != 0)
        return -1;
    ps->code = code;
    va_start(ap, fmt);
    vsnprintf(ps->why, sizeof(ps->why), fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_found(parse_t *ps, const token_t *t, const char *expected)
{
    if (t->type == T_EOF)
        return fail(ps, IQL_EPARSE, "found EOF, expected %s", expected);
    if (t->type == T_ERROR)
        return fail(ps, IQL_EPARSE, "%s", t->why);
    int n = t->len > 40 ? 40 : (int)t->len;
    return fail(ps, IQL_EPARSE, "found %.*s%s, expected %s", n, t->ptr, t->len > 40 ? "..." : "", expected);
}

static int is_ident(const token_t *t)
{
    if (t->type == T_QIDENT)
        return 1;
    if (t->type != T_WORD)
        return 0;
    unsigned char c = (unsigned char)t->ptr[0];
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static iql_ident_t ident_of(const token_t *t)
{
    iql_ident_t id;
    id.kind = t->type == T_REGEX ? IQL_ID_REGEX : t->type == T_QIDENT ? IQL_ID_QUOTED : IQL_ID_BARE;
    id.tok.ptr = t->ptr;
    id.tok.len = t->len;
    return id;
}

static int word_in(const token_t *t, const char *const *words)
{
    for (; *words != NULL; words++) {
        if (word_is(t, *words))
            return 1;
    }
    return 0;
}

static int add_source(parse_t *ps, const token_t *seg, const int *have, size_t n)
{
    iql_stmt_t *out = ps->out;
    if (out->nsources >= IQL_MAX_SOURCES)
        return fail(ps, IQL_ELIMIT, "more than %d measurements", IQL_MAX_SOURCES);
    iql_source_t *src = &out->sources[out->nsources++];
    memset(src, 0, sizeof(*src));
    src->name = ident_of(&seg[n - 1]);
    if (n >= 2 && have[n - 2])
        src->rp = ident_of(&seg[n - 2]);
    if (n == 3)
        src->db = ident_of(&seg[0]);
    return 0;
}

/* [db.[rp].]name or [rp.]name, name possibly a /regex/; no blanks around the dots, as in influxd. */
static int parse_segments(parse_t *ps, const token_t *first)
{
    token_t seg[3], dot, t;
    int have[3] = {1, 1, 1};
    size_t n = 1;

    if (first->type != T_REGEX && !is_ident(first))
        return fail_found(ps, first, "identifier or regex");
    seg[0] = *first;
    while (seg[n - 1].type != T_REGEX) {
        peek(ps, &dot);
        if (!punct_is(&dot, '.') || dot.ptr != seg[n - 1].ptr + seg[n - 1].len)
            break;
        next(ps, &dot);
        if (n == 3)
            return fail_found(ps, &dot, "end of measurement name");
        ps->sc.regex_ok = 1; /* influxd accepts db.rp./regex/ */
        next(ps, &t);
        if (punct_is(&t, '.') && n == 1 && t.ptr == dot.ptr + 1) {
            have[1] = 0; /* db..name */
            seg[1] = t;
            n = 2;
            dot = t;
            ps->sc.regex_ok = 1;
            next(ps, &t);
        }
        if (t.ptr != dot.ptr + 1 || (t.type != T_REGEX && !is_ident(&t)))
            return fail_found(ps, &t, "identifier");
        seg[n++] = t;
    }
    return add_source(ps, seg, have, n);
}

static int parse_select(parse_t *ps, int level);

/* A comma-separated source list; on success *follow is the first token after it. */
static int parse_sources(parse_t *ps, int level, int allow_subquery, token_t *follow)
{
    token_t t;
    for (;;) {
        next(ps, &t);
        if (punct_is(&t, '(') && allow_subquery) {
            if (level + 1 > IQL_MAX_DEPTH)
                return fail(ps, IQL_ELIMIT, "sub-queries nested more than %d deep", IQL_MAX_DEPTH);
            next(ps, &t);
            if (!word_is(&t, "SELECT"))
                return fail_found(ps, &t, "SELECT");
            if (parse_select(ps, level + 1) != 0)
                return -1;
        } else if (parse_segments(ps, &t) != 0) {
            return -1;
        }
        next(ps, follow);
        if (!punct_is(follow, ','))
            return 0;
    }
}

static int fail_into(parse_t *ps)
{
    return fail(ps, IQL_EFORBIDDEN,
                "SELECT ... INTO is not allowed through the proxy (it writes to a backend "
                "behind the proxy's sharding and replication)");
}

/* Consumes the rest of a SELECT from *t: to the end (level 0) or through its closing `)`. */
static int finish_select(parse_t *ps, token_t *t, int level)
{
    int nest = 0;
    for (;; next(ps, t)) {
        if (word_is(t, "INTO"))
            return fail_into(ps);
        if (t->type == T_EOF)
            return level == 0 && nest == 0 ? 0 : fail_found(ps, t, ")");
        if (punct_is(t, '(')) {
            nest++;
        } else if (punct_is(t, ')')) {
            if (nest == 0)
                return level > 0 ? 0 : fail_found(ps, t, "end of statement");
            nest--;
        }
    }
}

/* Called after the SELECT keyword; level > 0 inside a sub-query. */
static int parse_select(parse_t *ps, int level)
{
    static const char *const clauses[] = {"WHERE",  "GROUP",   "ORDER", "LIMIT", "OFFSET",
                                          "SLIMIT", "SOFFSET", "FILL",  "TZ",    NULL};
    token_t t;
    int nest = 0;

    for (;;) {
        next(ps, &t);
        if (word_is(&t, "INTO"))
            return fail_into(ps);
        if (t.type == T_EOF || (punct_is(&t, ')') && nest == 0))
            return fail_found(ps, &t, "FROM");
        if (punct_is(&t, '('))
            nest++;
        else if (punct_is(&t, ')'))
            nest--;
        else if (nest == 0 && word_is(&t, "FROM"))
            break;
    }
    if (parse_sources(ps, level, 1, &t) != 0)
        return -1;
    if (word_is(&t, "INTO"))
        return fail_into(ps);
    if (t.type != T_EOF && !punct_is(&t, ')') && !word_in(&t, clauses))
        return fail_found(ps, &t, "WHERE, GROUP BY, ORDER BY, LIMIT, OFFSET, SLIMIT, SOFFSET or end of statement");
    return finish_select(ps, &t, level);
}

static int paging_index(const token_t *t)
{
    static const char *const words[] = {"LIMIT", "OFFSET", "SLIMIT", "SOFFSET"};
    for (int i = 0; i < 4; i++) {
        if (word_is(t, words[i]))
            return i;
    }
    return -1;
}

static int parse_int(const token_t *t, int64_t *v)
{
    int64_t x = 0;
    if (t->type != T_WORD)
        return -1;
    for (size_t i = 0; i < t->len; i++) {
        unsigned char c = (unsigned char)t->ptr[i];
        if (c < '0' || c > '9' || x > (INT64_MAX - (c - '0')) / 10)
            return -1;
        x = x * 10 + (c - '0');
    }
    *v = x;
    return 0;
}

/* From *t to the end: finds the trailing LIMIT/OFFSET/SLIMIT/SOFFSET clauses (in that order, each
 * at most once, as influxd requires) and sets bare to the text before them. */
static int parse_paging(parse_t *ps, token_t *t)
{
    iql_stmt_t *out = ps->out;
    int64_t *vals[4] = {&out->limit, &out->offset, &out->slimit, &out->soffset};
    int nest = 0, stage = 0;

    for (; t->type != T_EOF; next(ps, t)) {
        if (punct_is(t, '('))
            nest++;
        else if (punct_is(t, ')'))
            nest--;
        else if (nest == 0 && paging_index(t) >= 0)
            break;
    }
    if (t->type == T_EOF)
        return 0;
    out->bare.len = (size_t)(ps->prev_end - out->bare.ptr);
    while (t->type != T_EOF) {
        int idx = paging_index(t);
        token_t num;
        if (idx < stage)
            return fail_found(ps, t, "end of statement");
        next(ps, &num);
        if (parse_int(&num, vals[idx]) != 0)
            return fail_found(ps, &num, "integer");
        stage = idx + 1;
        next(ps, t);
    }
    return 0;
}

/* SHOW …: [ON db] [FROM sources] [WHERE|WITH|ORDER|GROUP …] [LIMIT n] [OFFSET n] [SLIMIT n] [SOFFSET n] */
static int parse_show(parse_t *ps, int from_ok)
{
    static const char *const clauses[] = {"WHERE",  "WITH",   "ORDER",   "GROUP", "LIMIT",
                                          "OFFSET", "SLIMIT", "SOFFSET", NULL};
    token_t t;

    next(ps, &t);
    if (word_is(&t, "ON")) {
        next(ps, &t);
        if (!is_ident(&t))
            return fail_found(ps, &t, "identifier");
        ps->out->on_db = ident_of(&t);
        next(ps, &t);
    }
    if (from_ok && word_is(&t, "FROM")) {
        if (parse_sources(ps, 0, 0, &t) != 0)
            return -1;
    }
    if (t.type != T_EOF && !word_in(&t, clauses))
        return fail_found(ps, &t,
                          from_ok ? "ON, FROM, WHERE, WITH, LIMIT, OFFSET or end of statement"
                                  : "ON, WHERE, WITH, LIMIT, OFFSET or end of statement");
    return parse_paging(ps, &t);
}

static int parse_create_database(parse_t *ps)
{
    token_t t;
    next(ps, &t);
    if (!is_ident(&t))
        return fail_found(ps, &t, "identifier");
    ps->out->db = ident_of(&t);
    next(ps, &t);
    if (t.type != T_EOF && !word_is(&t, "WITH"))
        return fail_found(ps, &t, "WITH or end of statement");
    return 0;
}

static int parse_create_rp(parse_t *ps)
{
    token_t t;
    next(ps, &t);
    if (!is_ident(&t))
        return fail_found(ps, &t, "identifier");
    next(ps, &t);
    if (!word_is(&t, "ON"))
        return fail_found(ps, &t, "ON");
    next(ps, &t);
    if (!is_ident(&t))
        return fail_found(ps, &t, "identifier");
    ps->out->db = ident_of(&t);
    ps->out->on_db = ps->out->db;
    return 0;
}

/* ---- classification --------------------------------------------------------------------------- */

/* First pass over the statement: lexical errors, stray `;`, paren balance, the trimmed text, and the
 * normalised head words. */
static int prescan(parse_t *ps, const char *stmt, size_t len, char *head, size_t *headlen)
{
    scanner_t sc = {stmt, stmt + len, 0};
    const char *first = NULL, *last = NULL;
    int nest = 0, in_head = 1, words = 0;
    token_t t;

    *headlen = 0;
    /* keeps scanning after an error so that the message can quote the whole statement */
    for (scan(&sc, &t); t.type != T_EOF; scan(&sc, &t)) {
        if (first == NULL)
            first = t.ptr;
        last = t.ptr + t.len;
        if (t.type == T_ERROR)
            fail(ps, IQL_EPARSE, "%s", t.why);
        if (punct_is(&t, ';'))
            fail(ps, IQL_EPARSE, "found ;, expected end of statement");
        if (punct_is(&t, '('))
            nest++;
        if (punct_is(&t, ')') && --nest < 0)
            fail(ps, IQL_EPARSE, "found ), expected end of statement");
        if (in_head && t.type == T_WORD && words < HEAD_MAX_WORDS && *headlen + t.len + 1 < HEAD_CAP) {
            if (words++ > 0)
                head[(*headlen)++] = ' ';
            for (size_t i = 0; i < t.len; i++) {
                char c = t.ptr[i];
                head[(*headlen)++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
            }
        } else {
            in_head = 0;
        }
    }
    head[*headlen] = '\0';
    if (first == NULL)
        return fail(ps, IQL_EPARSE, "empty statement");
    ps->out->text.ptr = first;
    ps->out->text.len = (size_t)(last - first);
    if (nest > 0)
        fail(ps, IQL_EPARSE, "found EOF, expected )");
    return ps->code != 0 ? -1 : 0;
}

/* Returns the number of head words the matching pattern consumed, or 0 when none matches. */
static size_t match_head(const iql_t *iql, const char *head, size_t headlen, pcre2_match_data *md, iql_kind_t *kind,
                         size_t *match_end)
{
    for (size_t i = 0; i < HEAD_N; i++) {
        if (pcre2_match(iql->head[i], (PCRE2_SPTR)head, headlen, 0, 0, md, NULL) < 0)
            continue;
        PCRE2_SIZE end = pcre2_get_ovector_pointer(md)[1];
        size_t words = 1;
        for (PCRE2_SIZE j = 0; j < end; j++)
            words += head[j] == ' ';
        *kind = head_table[i].kind;
        *match_end = end;
        return words;
    }
    return 0;
}

static int check_forbid(parse_t *ps, const iql_t *iql)
{
    if (iql->forbid == NULL)
        return 0;
    const iql_slice_t *text = &ps->out->text;
    /* interpreted, a long statement may need many frames: a block of its own, not kept */
    pcre2_match_data *md = iql->forbid_jit ? md_of_thread() : pcre2_match_data_create(1, NULL);
    if (md == NULL)
        abort();
    int rc = pcre2_match(iql->forbid, (PCRE2_SPTR)text->ptr, text->len, 0, 0, md, NULL);
    if (!iql->forbid_jit)
        pcre2_match_data_free(md);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0) /* e.g. match limit: fail closed */
        return fail(ps, IQL_EQUERYFORBID, "the queryforbid pattern could not be evaluated (PCRE2 error %d)", rc);
    return fail(ps, IQL_EQUERYFORBID, "it matches the node's queryforbid pattern");
}

/* SHOW kinds with a FROM route by it, else fan out; paging is only what influxd accepts. */
static int classify_show(parse_t *ps, iql_kind_t kind)
{
    iql_stmt_t *out = ps->out;
    int from_ok =
        kind != IQL_K_SHOW_DATABASES && kind != IQL_K_SHOW_RETENTION_POLICIES && kind != IQL_K_SHOW_MEASUREMENTS;

    if (parse_show(ps, from_ok) != 0)
        return -1;
    if (out->nsources > 0) {
        out->cls = IQL_ROUTE;
        return 0;
    }
    if (kind == IQL_K_SHOW_CARDINALITY)
        return fail(ps, IQL_EFORBIDDEN,
                    "SHOW ... CARDINALITY needs FROM <measurement> through the proxy: "
                    "each backend only counts its own share");
    int paging = out->limit >= 0 || out->offset >= 0;
    int spaging = out->slimit >= 0 || out->soffset >= 0;
    if ((kind == IQL_K_SHOW_DATABASES || kind == IQL_K_SHOW_RETENTION_POLICIES) && (paging || spaging))
        return fail(ps, IQL_EPARSE, "found %s, expected end of statement", paging ? "LIMIT/OFFSET" : "SLIMIT/SOFFSET");
    if (kind != IQL_K_SHOW_TAG_KEYS && spaging)
        return fail(ps, IQL_EPARSE, "found SLIMIT/SOFFSET, expected end of statement");
    out->cls = IQL_FANOUT;
    return 0;
}

int iql_show_mergeable(const iql_stmt_t *st)
{
    int spaging = st->slimit >= 0 || st->soffset >= 0;

    switch (st->kind) {
    case IQL_K_SHOW_TAG_KEYS:
        return 1;
    case IQL_K_SHOW_FIELD_KEYS:
    case IQL_K_SHOW_TAG_VALUES:
    case IQL_K_SHOW_SERIES:
        return !spaging;
    default:
        return 0;
    }
}

static int classify_kind(parse_t *ps, iql_kind_t kind, const char *head)
{
    token_t t;
    switch (kind) {
    case IQL_K_SELECT:
        ps->out->cls = IQL_ROUTE;
        return parse_select(ps, 0);
    case IQL_K_EXPLAIN:
        next(ps, &t); /* SELECT, guaranteed by the pattern */
        ps->out->cls = IQL_ROUTE;
        return parse_select(ps, 0);
    case IQL_K_SHOW_DATABASES:
    case IQL_K_SHOW_RETENTION_POLICIES:
    case IQL_K_SHOW_MEASUREMENTS:
    case IQL_K_SHOW_TAG_KEYS:
    case IQL_K_SHOW_FIELD_KEYS:
    case IQL_K_SHOW_TAG_VALUES:
    case IQL_K_SHOW_SERIES:
    case IQL_K_SHOW_CARDINALITY:
        return classify_show(ps, kind);
    case IQL_K_SHOW_OTHER:
        ps->out->cls = IQL_FORWARD_ANY;
        return 0;
    case IQL_K_CREATE_DATABASE:
        ps->out->cls = IQL_BROADCAST;
        return parse_create_database(ps);
    case IQL_K_CREATE_RETENTION_POLICY:
        ps->out->cls = IQL_BROADCAST;
        return parse_create_rp(ps);
    case IQL_K_FORBIDDEN:
        return fail(ps, IQL_EFORBIDDEN, "%s is not allowed through the proxy", head);
    case IQL_K_UNKNOWN:
        break;
    }
    return fail(ps, IQL_EPARSE, "unknown statement");
}

static void report(const parse_t *ps, const iql_slice_t *text, char *err, size_t errcap)
{
    int n = text->len > 100 ? 100 : (int)text->len;
    const char *more = text->len > 100 ? "..." : "";
    switch (ps->code) {
    case IQL_EPARSE:
        util_errf(err, errcap, "error parsing statement \"%.*s%s\": %s", n, text->ptr, more, ps->why);
        break;
    case IQL_EFORBIDDEN:
    case IQL_EQUERYFORBID:
        util_errf(err, errcap, "statement \"%.*s%s\" rejected: %s", n, text->ptr, more, ps->why);
        break;
    default:
        util_errf(err, errcap, "statement \"%.*s%s\" rejected: %s", n, text->ptr, more, ps->why);
        break;
    }
}

int iql_classify(const iql_t *iql, const char *stmt, size_t len, iql_stmt_t *out, char *err, size_t errcap)
{
    parse_t ps;
    char head[HEAD_CAP];
    size_t headlen, words, match_end = 0;
    iql_kind_t kind = IQL_K_UNKNOWN;
    token_t t;

    memset(out, 0, sizeof(*out));
    out->limit = out->offset = out->slimit = out->soffset = -1;
    memset(&ps, 0, sizeof(ps));
    ps.out = out;
    if (stmt == NULL)
        stmt = "";
    if (prescan(&ps, stmt, len, head, &headlen) != 0)
        goto Error;
    out->bare = out->text;
    if (check_forbid(&ps, iql) != 0)
        goto Error;
    words = match_head(iql, head, headlen, md_of_thread(), &kind, &match_end);
    out->kind = kind;
    head[match_end] = '\0'; /* what matched, e.g. "DROP", names the statement in messages */
    ps.sc.p = out->text.ptr;
    ps.sc.end = out->text.ptr + out->text.len;
    for (size_t i = 0; i < words; i++)
        next(&ps, &t);
    if (classify_kind(&ps, kind, head) != 0)
        goto Error;
    return 0;

Error:
    out->cls = IQL_REJECT;
    out->err = ps.code;
    out->nsources = 0;
    report(&ps, &out->text, err, errcap);
    return ps.code;
}

/* ---- identifiers ------------------------------------------------------------------------------ */

int iql_ident_copy(const iql_ident_t *id, char *buf, size_t cap)
{
    const char *p, *end;
    size_t n = 0;

    if (id == NULL || id->kind == IQL_ID_NONE || id->tok.ptr == NULL || cap == 0)
        return -1;
    if (id->kind == IQL_ID_BARE) {
        if (id->tok.len >= cap)
            return -1;
        memcpy(buf, id->tok.ptr, id->tok.len);
        buf[id->tok.len] = '\0';
        return (int)id->tok.len;
    }
    if (id->tok.len < 2)
        return -1;
    p = id->tok.ptr + 1;
    end = id->tok.ptr + id->tok.len - 1;
    for (; p < end; p++) {
        char c = *p;
        if (c == '\\' && p + 1 < end) {
            if (id->kind == IQL_ID_REGEX) {
                if (p[1] == '/')
                    c = *++p;
            } else {
                c = *++p;
                if (c == 'n')
                    c = '\n';
                else if (c != '\\' && c != '"' && c != '\'')
                    return -1;
            }
        }
        if (n + 1 >= cap)
            return -1;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return n > INT32_MAX ? -1 : (int)n;
}

int iql_quote_ident(const char *name, size_t len, char *buf, size_t cap)
{
    size_t n = 0;

    if (cap < 3)
        return -1;
    buf[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int esc = c == '"' || c == '\\' || c == '\n';
        if (n + (esc ? 2 : 1) + 2 > cap)
            return -1;
        if (esc)
            buf[n++] = '\\';
        buf[n++] = c == '\n' ? 'n' : c;
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return n > INT32_MAX ? -1 : (int)n;
}

/* ---- influxd's error for a statement it cannot start ------------------------------------------------------ */

/* The length of the UTF-8 sequence at @p (at most @n bytes) as Go's decoder reads it: 1 for a byte that starts no
 * valid sequence (read as U+FFFD). */
static size_t go_rune_len(const unsigned char *p, size_t n)
{
    size_t len = util_utf8_len(p, n);
    return len != 0 ? len : 1;
}

/* The length of the white space character (Go's unicode.IsSpace) at @p, or 0. */
static size_t go_space_len(const unsigned char *p, size_t n)
{
    if (n >= 1 && (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r')))
        return 1;
    if (n >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
        return 2;
    if (n >= 3 && p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) /* U+1680 */
        return 3;
    if (n >= 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf))
        return 3;                                               /* U+2000..200A, 2028, 2029, 202F */
    if (n >= 3 && p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) /* U+205F */
        return 3;
    if (n >= 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) /* U+3000 */
        return 3;
    return 0;
}

/* influxql's reader: "\r\n" and a lone '\r' are one '\n'. */
typedef struct st_goreader_t {
    const char *p, *end;
    unsigned line, col;           /* of the next character, from 0 */
    unsigned prev_line, prev_col; /* of the one before it (0, 0 at the start), where influxd places a string */
} goreader_t;

static int gr_peek(const goreader_t *r, size_t k) /* the byte k ahead, -1 past the end */
{
    return r->p + k < r->end ? (unsigned char)r->p[k] : -1;
}

static void gr_skip(goreader_t *r) /* one character */
{
    r->prev_line = r->line;
    r->prev_col = r->col;
    if (*r->p == '\r' || *r->p == '\n') {
        r->p += *r->p == '\r' && gr_peek(r, 1) == '\n' ? 2 : 1;
        r->line++;
        r->col = 0;
        return;
    }
    r->p += go_rune_len((const unsigned char *)r->p, (size_t)(r->end - r->p));
    r->col++;
}

static int go_letter(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int go_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int go_ident_char(int c)
{
    return go_letter(c) || go_digit(c) || c == '_';
}

static void lit_add(char *lit, size_t *n, size_t cap, const char *s, size_t len)
{
    if (*n + len < cap) {
        memcpy(lit + *n, s, len);
        *n += len;
    }
    lit[*n] = '\0';
}

/* A quoted string or identifier at the reader (its quote next), as influxql's ScanString reads it: its text in @lit;
 * returns 0, or 1 for an unterminated one (what was read in @lit), or 2 for a bad escape ("\x" in @lit, the place of
 * x in *line, *col). */
static int gr_quoted(goreader_t *r, char *lit, size_t *n, size_t cap, unsigned *line, unsigned *col)
{
    char end = *r->p;
    gr_skip(r);
    for (;;) {
        int c = gr_peek(r, 0);
        if (c == -1 || c == '\n' || c == '\r')
            return 1;
        if (c == end) {
            gr_skip(r);
            return 0;
        }
        if (c == '\\') {
            int e = gr_peek(r, 1);
            const char *rep = e == 'n' ? "\n" : e == '\\' ? "\\" : e == '"' ? "\"" : e == '\'' ? "'" : NULL;
            gr_skip(r);
            if (rep == NULL) {
                *n = 0;
                lit_add(lit, n, cap, "\\", 1);
                if (e == '\r' || e == '\n') { /* the reader's one '\n' (at the end of the query, influxd adds a NUL) */
                    lit_add(lit, n, cap, "\n", 1);
                } else if (e != -1) {
                    const char *at = r->p;
                    size_t l = go_rune_len((const unsigned char *)at, (size_t)(r->end - at));
                    lit_add(lit, n, cap, l == 1 && (unsigned char)*at >= 0x80 ? "\xef\xbf\xbd" : at,
                            l == 1 && (unsigned char)*at >= 0x80 ? 3 : l);
                }
                *line = r->line;
                *col = r->col;
                return 2;
            }
            gr_skip(r);
            lit_add(lit, n, cap, rep, 1);
            continue;
        }
        const char *at = r->p;
        gr_skip(r);
        lit_add(lit, n, cap, at, (size_t)(r->p - at));
    }
}

iql_slice_t iql_trim_space(const char *q, size_t len)
{
    size_t sp;
    while ((sp = go_space_len((const unsigned char *)q, len)) != 0) {
        q += sp;
        len -= sp;
    }
    for (;;) { /* a space ends in its lead byte plus at most two continuation bytes; a lead byte is no continuation */
        size_t k = 1;
        while (k <= 3 && k <= len && go_space_len((const unsigned char *)q + len - k, k) != k)
            k++;
        if (k > 3 || k > len)
            break;
        len -= k;
    }
    return (iql_slice_t){q, len};
}

int iql_first_token_error(const char *q, size_t qlen, size_t off, char *err, size_t errcap)
{
    static const char *const keywords[] = {
        "ALL",           "ALTER",        "ANALYZE",     "AND",          "ANY",         "AS",       "ASC",
        "BEGIN",         "BY",           "CARDINALITY", "CONTINUOUS",   "CREATE",      "DATABASE", "DATABASES",
        "DEFAULT",       "DELETE",       "DESC",        "DESTINATIONS", "DIAGNOSTICS", "DISTINCT", "DROP",
        "DURATION",      "END",          "EVERY",       "EXACT",        "EXPLAIN",     "FALSE",    "FIELD",
        "FOR",           "FROM",         "GRANT",       "GRANTS",       "GROUP",       "GROUPS",   "IN",
        "INF",           "INSERT",       "INTO",        "KEY",          "KEYS",        "KILL",     "LIMIT",
        "MEASUREMENT",   "MEASUREMENTS", "NAME",        "OFFSET",       "ON",          "OR",       "ORDER",
        "PASSWORD",      "POLICIES",     "POLICY",      "PRIVILEGES",   "QUERIES",     "QUERY",    "READ",
        "REPLICATION",   "RESAMPLE",     "RETENTION",   "REVOKE",       "SELECT",      "SERIES",   "SET",
        "SHARD",         "SHARDS",       "SHOW",        "SLIMIT",       "SOFFSET",     "STATS",    "SUBSCRIPTION",
        "SUBSCRIPTIONS", "TAG",          "TO",          "TRUE",         "USER",        "USERS",    "VALUES",
        "WHERE",         "WITH",         "WRITE"};
    static const char starts[] = " SELECT DELETE SHOW CREATE DROP EXPLAIN GRANT REVOKE ALTER SET KILL ";
    static const char *const ops[] = {"=~", "!~", "!=", "<>", "<=", ">=", "::", "+", "-", "*", "/", "%",
                                      "&",  "|",  "^",  "=",  "<",  ">",  "(",  ")", ",", ":", ";", "."};
    static const char *const op_names[] = {"=~", "!~", "!=", "!=", "<=", ">=", "::", "+", "-", "*", "/", "%",
                                           "&",  "|",  "^",  "=",  "<",  ">",  "(",  ")", ",", ":", ";", "."};
    goreader_t r = {q, q + qlen, 0, 0, 0, 0};
    char lit[256];
    size_t n = 0, sp;
    unsigned line, col;

    lit[0] = '\0';
    if (off > qlen)
        return 0;
    /* influxd counts places in the query it trimmed of white space (strings.TrimSpace) */
    while ((sp = go_space_len((const unsigned char *)r.p, (size_t)(r.end - r.p))) != 0)
        r.p += sp;
    while (r.p < q + off) /* the place of the statement in the query */
        gr_skip(&r);
    for (;;) { /* blanks and comments */
        int c = gr_peek(&r, 0);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            gr_skip(&r);
        } else if (c == '-' && gr_peek(&r, 1) == '-') {
            while (r.p < r.end && *r.p != '\n' && *r.p != '\r')
                gr_skip(&r);
        } else if (c == '/' && gr_peek(&r, 1) == '*') {
            const char *close = NULL;
            for (const char *p = r.p + 2; p + 1 < r.end && close == NULL; p++)
                if (p[0] == '*' && p[1] == '/')
                    close = p + 2;
            if (close == NULL) {
                line = r.line;
                col = r.col;
                lit_add(lit, &n, sizeof(lit), "ILLEGAL", 7);
                goto Found;
            }
            while (r.p < close)
                gr_skip(&r);
        } else {
            break;
        }
    }
    if (r.p >= r.end)
        return 0;
    line = r.line;
    col = r.col;
    int c = gr_peek(&r, 0);
    if (go_letter(c) || c == '_' || c == '"' || c == '$') {
        int bare = c != '"', param = c == '$';
        if (param) {
            gr_skip(&r);
            lit_add(lit, &n, sizeof(lit), "$", 1);
        }
        for (;;) {
            c = gr_peek(&r, 0);
            if (c == '"') { /* a quoted part ends the token, and only it is the name */
                size_t qn = 0;
                char ql[sizeof(lit)];
                ql[0] = '\0';
                unsigned bl = line, bc = col, sl = r.prev_line, sc = r.prev_col;
                int ret = gr_quoted(&r, ql, &qn, sizeof(ql), &bl, &bc);
                n = param ? 1 : 0;        /* "$" and the name, placed at the "$" */
                if (ret != 0 && !param) { /* a bad escape is placed at itself, an open quote before itself */
                    line = ret == 2 ? bl : sl;
                    col = ret == 2 ? bc : sc;
                }
                lit_add(lit, &n, sizeof(lit), ql, qn);
                if (n == 0) /* nothing read: influxd names the token */
                    lit_add(lit, &n, sizeof(lit), ret == 1 ? "BADSTRING" : "IDENT", ret == 1 ? 9 : 5);
                bare = 0;
                break;
            }
            if (!go_ident_char(c))
                break;
            lit_add(lit, &n, sizeof(lit), r.p, 1);
            gr_skip(&r);
        }
        if (bare && !param) {
            char up[sizeof(lit)];
            for (size_t i = 0; i <= n; i++)
                up[i] = (char)toupper((unsigned char)lit[i]);
            for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
                if (strcmp(up, keywords[i]) != 0)
                    continue;
                char word[sizeof(up) + 2];
                snprintf(word, sizeof(word), " %s ", up);
                if (strstr(starts, word) != NULL)
                    return 0;
                n = 0;
                lit_add(lit, &n, sizeof(lit), up, strlen(up));
                break;
            }
        }
    } else if (c == '\'') {
        unsigned bl = line, bc = col;
        line = r.prev_line; /* influxd places a string at the character before it */
        col = r.prev_col;
        int ret = gr_quoted(&r, lit, &n, sizeof(lit), &bl, &bc);
        if (ret == 2) {
            line = bl;
            col = bc;
        } else if (n == 0) {
            lit_add(lit, &n, sizeof(lit), ret == 1 ? "BADSTRING" : "STRING", ret == 1 ? 9 : 6);
        }
    } else if (go_digit(c) || (c == '.' && go_digit(gr_peek(&r, 1)))) {
        const char *s = r.p, *e = s;
        int decimal = 0;
        while (e < r.end && go_digit(*e))
            e++;
        if (e < r.end && *e == '.') {
            decimal = 1;
            if (e + 1 < r.end && go_digit(e[1]))
                for (e++; e < r.end && go_digit(*e); e++)
                    ;
        }
        if (!decimal) { /* a duration: a letter (or µ), then letters, µ and digits */
            static const char micro[] = "\xc2\xb5";
            int any = 0;
            for (;;) {
                if (e < r.end && (go_letter(*e) || (any && go_digit(*e))))
                    e++;
                else if (r.end - e >= 2 && memcmp(e, micro, 2) == 0)
                    e += 2;
                else
                    break;
                any = 1;
            }
        }
        lit_add(lit, &n, sizeof(lit), s, (size_t)(e - s));
    } else {
        size_t i;
        for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
            size_t l = strlen(ops[i]);
            if ((size_t)(r.end - r.p) >= l && memcmp(r.p, ops[i], l) == 0)
                break;
        }
        if (i < sizeof(ops) / sizeof(ops[0])) {
            lit_add(lit, &n, sizeof(lit), op_names[i], strlen(op_names[i]));
        } else { /* not a token: influxd names the character */
            size_t l = go_rune_len((const unsigned char *)r.p, (size_t)(r.end - r.p));
            if (l == 1 && (unsigned char)*r.p >= 0x80)
                lit_add(lit, &n, sizeof(lit), "\xef\xbf\xbd", 3);
            else
                lit_add(lit, &n, sizeof(lit), r.p, l);
        }
    }
Found:
    util_errf(err, errcap,
              "error parsing query: found %s, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, "
              "ALTER, SET, KILL at line %u, char %u",
              lit, line + 1, col + 1);
    return 1;
}

const char *iql_strerror(int code)
{
    switch (code) {
    case IQL_OK:
        return "ok";
    case IQL_EPARSE:
        return "invalid InfluxQL";
    case IQL_EFORBIDDEN:
        return "statement not allowed through the proxy";
    case IQL_EQUERYFORBID:
        return "statement forbidden by queryforbid";
    case IQL_ELIMIT:
        return "statement too complex";
    case IQL_ENOSPACE:
        return "buffer too small";
    case IQL_EINVAL:
        return "invalid argument";
    default:
        return "unknown error";
    }
}

const char *iql_class_name(iql_class_t cls)
{
    switch (cls) {
    case IQL_REJECT:
        return "reject";
    case IQL_ROUTE:
        return "route";
    case IQL_FANOUT:
        return "fanout";
    case IQL_BROADCAST:
        return "broadcast";
    case IQL_FORWARD_ANY:
        return "forward-any";
    }
    return "unknown";
}

/*
 * qmerge — merging fanned-out SHOW answers and reassembling multi-statement results.
 *
 * DESIGN
 * - Merge: every backend body is parsed with jansson and sorted into down / invalid / error / ok.
 *   The series of the ok answers are grouped by name, their rows deduplicated and ordered with
 *   qsort_r on (key columns, arrival order) so that "first backend wins" holds for equal keys, then
 *   paged as influxd pages them. The result is written by a small encoder that follows Go's
 *   encoding/json, because jansson's escaping and number formatting differ from influxd's.
 * - Splice: a validating scanner finds result #i of a body without building a tree and copies its
 *   members verbatim (minus whitespace), so values are never re-encoded.
 * - Pretty output is json.Indent's algorithm run over the compact form.
 * Every output goes through one capped buffer; jansson's trees never outlive a call.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qmerge.h"
#include "util.h"

#define MAX_DEPTH 256 /* nesting accepted by the scanner; influxd's results nest 5 deep */

/* ---- capped output buffer ---- */

typedef struct st_wbuf_t {
    char *ptr;
    size_t len, cap, max;
    int over;
} wbuf_t;

static void wb_init(wbuf_t *b, size_t max)
{
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->max = max;
    b->over = 0;
}

static void wb_put(wbuf_t *b, const void *p, size_t n)
{
    if (b->over)
        return;
    if (n > b->max || b->len > b->max - n) {
        b->over = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *np = realloc(b->ptr, ncap);
        if (np == NULL)
            abort();
        b->ptr = np;
        b->cap = ncap;
    }
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
}

static void wb_str(wbuf_t *b, const char *s)
{
    wb_put(b, s, strlen(s));
}

static void wb_int(wbuf_t *b, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%lld", v);
    wb_put(b, tmp, (size_t)n);
}

/* Hands the buffer to *out, or frees it and reports QM_ETOOBIG. */
static int wb_finish(wbuf_t *b, qm_buf_t *out, char *err, size_t errcap)
{
    if (b->over) {
        free(b->ptr);
        out->ptr = NULL;
        out->len = 0;
        if (err != NULL && errcap > 0)
            snprintf(err, errcap, "merged response larger than %zu bytes", b->max);
        return QM_ETOOBIG;
    }
    if (b->ptr == NULL)
        wb_put(b, "", 0);
    out->ptr = b->ptr;
    out->len = b->len;
    return QM_OK;
}

/* ---- Go encoding/json compatible encoder ---- */

/* Go escapes HTML-significant characters and U+2028/U+2029; control characters other than \n \r \t
 * become \u00xx with lower-case hex; everything else, UTF-8 included, is written as is. */
static void enc_string(wbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    wb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t elen = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            elen = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            elen = 2;
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            elen = 6;
        } else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                   ((unsigned char)s[i + 2] & 0xfe) == 0xa8) {
            memcpy(esc, (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
            elen = 6;
        }
        if (elen == 0)
            continue;
        wb_put(b, s + start, i - start);
        wb_put(b, esc, elen);
        start = i + 1 + (c == 0xe2 ? 2 : 0);
        i = start - 1;
    }
    wb_put(b, s + start, n - start);
    wb_put(b, "\"", 1);
}

/* strconv.AppendFloat(f, 'f' or 'e', -1, 64) as encoding/json uses it: the shortest digits that
 * read back as the same double, plain notation for 1e-6 <= |f| < 1e21, else d.ddde±d. */
static void enc_real(wbuf_t *b, double f)
{
    char tmp[64], digits[24], out[400];
    int prec, exp10, nd = 0, pos = 0;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    const char *p = tmp;
    if (*p == '-')
        out[pos++] = *p++;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    double a = f < 0 ? -f : f;
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        out[pos++] = digits[0];
        if (nd > 1) {
            out[pos++] = '.';
            memcpy(out + pos, digits + 1, (size_t)nd - 1);
            pos += nd - 1;
        }
        pos += snprintf(out + pos, sizeof(out) - (size_t)pos, "e%c%d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (exp10 < 0) {
        out[pos++] = '0';
        out[pos++] = '.';
        for (int i = -1; i > exp10; i--)
            out[pos++] = '0';
        memcpy(out + pos, digits, (size_t)nd);
        pos += nd;
    } else {
        for (int i = 0; i <= exp10 || i < nd; i++) {
            if (i == exp10 + 1)
                out[pos++] = '.';
            out[pos++] = i < nd ? digits[i] : '0';
        }
    }
    wb_put(b, out, (size_t)pos);
}

static void enc_value(wbuf_t *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        enc_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        wb_int(b, (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        enc_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        wb_str(b, "true");
        break;
    case JSON_FALSE:
        wb_str(b, "false");
        break;
    case JSON_ARRAY: {
        wb_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                wb_put(b, ",", 1);
            enc_value(b, json_array_get(v, i));
        }
        wb_put(b, "]", 1);
        break;
    }
    case JSON_OBJECT: {
        /* Go writes map keys sorted; jansson keeps the order they were read in, which for influxd's
         * own output is already sorted. */
        const char *k;
        json_t *e;
        int first = 1;
        wb_put(b, "{", 1);
        json_object_foreach((json_t *)v, k, e)
        {
            if (!first)
                wb_put(b, ",", 1);
            first = 0;
            enc_string(b, k, strlen(k));
            wb_put(b, ":", 1);
            enc_value(b, e);
        }
        wb_put(b, "}", 1);
        break;
    }
    default:
        wb_str(b, "null");
        break;
    }
}

int qm_error_result(int statement_id, const char *msg, size_t maxout, qm_buf_t *out)
{
    wbuf_t b;
    wb_init(&b, maxout);
    wb_str(&b, "{\"statement_id\":");
    wb_int(&b, statement_id);
    wb_str(&b, ",\"error\":");
    enc_string(&b, msg, strlen(msg));
    wb_put(&b, "}", 1);
    return wb_finish(&b, out, NULL, 0);
}

/* ---- validating scanner over raw JSON text ---- */

/* The scanner's functions pass a NULL position (an earlier failure) through. */
static const char *skip_ws(const char *p, const char *end)
{
    if (p == NULL)
        return NULL;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* p at '"': returns the byte after the closing quote, or NULL. */
static const char *scan_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c != '\\')
            continue;
        if (++p >= end)
            return NULL;
        if (*p == 'u') {
            if (end - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]))
                return NULL;
            p += 4;
        } else if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0') {
            return NULL;
        }
    }
    return NULL;
}

static const char *scan_digits(const char *p, const char *end)
{
    const char *s = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p == s ? NULL : p;
}

static const char *scan_number(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else
        p = scan_digits(p, end);
    if (p != NULL && p < end && *p == '.')
        p = scan_digits(p + 1, end);
    if (p != NULL && p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        p = scan_digits(p, end);
    }
    return p;
}

static const char *scan_value(const char *p, const char *end, int depth);

/* p at '{' or '[': the members or elements, each checked by scan_value. */
static const char *scan_container(const char *p, const char *end, int depth)
{
    char close = *p == '{' ? '}' : ']';
    int obj = *p == '{';
    p = skip_ws(p + 1, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        if (obj) {
            p = skip_ws(p < end && *p == '"' ? scan_string(p, end) : NULL, end);
            if (p == NULL || p >= end || *p != ':')
                return NULL;
            p = skip_ws(p + 1, end);
        }
        p = skip_ws(scan_value(p, end, depth + 1), end);
        if (p == NULL)
            return NULL;
        if (p < end && *p == close)
            return p + 1;
        if (p >= end || *p != ',')
            return NULL;
        p = skip_ws(p + 1, end);
    }
}

/* One JSON value starting at p (no leading whitespace): the byte after it, or NULL. */
static const char *scan_value(const char *p, const char *end, int depth)
{
    if (p >= end || depth > MAX_DEPTH)
        return NULL;
    switch (*p) {
    case '"':
        return scan_string(p, end);
    case '{':
    case '[':
        return scan_container(p, end, depth);
    case 't':
        return end - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return end - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return end - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return scan_number(p, end);
    }
}

/* Copies valid JSON text, dropping whitespace outside strings. */
static void copy_compact(wbuf_t *b, const char *p, const char *end)
{
    while (p < end) {
        const char *s = p;
        if (*p == '"') {
            p = scan_string(p, end);
            wb_put(b, s, (size_t)(p - s));
            continue;
        }
        while (p < end && *p != '"' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        wb_put(b, s, (size_t)(p - s));
        p = skip_ws(p, end);
    }
}

/* An object member as found by next_member(). */
typedef struct st_member_t {
    const char *key, *kend, *val, *vend;
} member_t;

/* *pp inside an object (after '{' or after a member): reads the next member into m. Returns 1 for a
 * member, 0 at the closing '}', -1 on invalid text. */
static int next_member(const char **pp, const char *end, int first, member_t *m)
{
    const char *p = skip_ws(*pp, end);
    if (p < end && *p == '}') {
        *pp = p + 1;
        return 0;
    }
    if (!first) {
        if (p >= end || *p != ',')
            return -1;
        p = skip_ws(p + 1, end);
    }
    if (p >= end || *p != '"')
        return -1;
    m->key = p;
    m->kend = scan_string(p, end);
    p = skip_ws(m->kend, end);
    if (p == NULL || p >= end || *p != ':')
        return -1;
    m->val = skip_ws(p + 1, end);
    m->vend = scan_value(m->val, end, 1);
    if (m->vend == NULL)
        return -1;
    *pp = m->vend;
    return 1;
}

static int key_is(const member_t *m, const char *quoted)
{
    size_t n = strlen(quoted);
    return (size_t)(m->kend - m->key) == n && memcmp(m->key, quoted, n) == 0;
}

/* Writes the result object [p, end) renumbered: statement_id first, then its other members. */
static int put_renumbered(wbuf_t *b, const char *p, const char *end, int statement_id)
{
    member_t m;
    int r, first = 1;
    wb_str(b, "{\"statement_id\":");
    wb_int(b, statement_id);
    p++;
    while ((r = next_member(&p, end, first, &m)) == 1) {
        first = 0;
        if (key_is(&m, "\"statement_id\""))
            continue;
        wb_put(b, ",", 1);
        wb_put(b, m.key, (size_t)(m.kend - m.key));
        wb_put(b, ":", 1);
        copy_compact(b, m.val, m.vend);
    }
    wb_put(b, "}", 1);
    return r;
}

/* Locates results[index] and a top-level "error" in body. Returns 0 or a QM_E* code. */
static int find_result(const char *p, const char *end, size_t index, member_t *res, member_t *error, size_t *nresults)
{
    member_t m;
    int r, first = 1;
    *nresults = 0;
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return QM_EJSON;
    p++;
    while ((r = next_member(&p, end, first, &m)) == 1) {
        first = 0;
        if (key_is(&m, "\"error\"") && *m.val == '"')
            *error = m;
        if (!key_is(&m, "\"results\"") || *m.val != '[')
            continue;
        const char *q = skip_ws(m.val + 1, m.vend);
        while (*q != ']') {
            const char *e = scan_value(q, m.vend, 2);
            if (*nresults == index) {
                res->val = q;
                res->vend = e;
            }
            ++*nresults;
            q = skip_ws(e, m.vend);
            if (*q == ',')
                q = skip_ws(q + 1, m.vend);
        }
    }
    if (r != 0 || skip_ws(p, end) != end)
        return QM_EJSON;
    return 0;
}

int qm_extract(const char *body, size_t len, size_t index, int statement_id, size_t maxout, qm_buf_t *out, char *err,
               size_t errcap)
{
    member_t res = {NULL, NULL, NULL, NULL}, error = {NULL, NULL, NULL, NULL};
    size_t nresults;
    wbuf_t b;
    int ret;

    out->ptr = NULL;
    out->len = 0;
    wb_init(&b, maxout);
    ret = find_result(body, body + len, index, &res, &error, &nresults);
    if (ret != 0) {
        util_errf(err, errcap, "invalid JSON in backend response");
        goto Error;
    }
    if (res.val != NULL && *res.val == '{') {
        put_renumbered(&b, res.val, res.vend, statement_id);
    } else if (res.val != NULL) {
        ret = QM_EJSON;
        util_errf(err, errcap, "result %zu of backend response is not an object", index);
        goto Error;
    } else if (error.val != NULL) {
        wb_str(&b, "{\"statement_id\":");
        wb_int(&b, statement_id);
        wb_str(&b, ",\"error\":");
        wb_put(&b, error.val, (size_t)(error.vend - error.val));
        wb_put(&b, "}", 1);
    } else {
        ret = QM_ERANGE;
        util_errf(err, errcap, "backend response has %zu results, result %zu asked for", nresults, index);
        goto Error;
    }
    return wb_finish(&b, out, err, errcap);

Error:
    free(b.ptr);
    return ret;
}

/* ---- pretty printing: Go's json.Indent over compact, valid text ---- */

static void newline_indent(wbuf_t *b, int depth)
{
    wb_put(b, "\n", 1);
    for (int i = 0; i < depth; i++)
        wb_put(b, "    ", 4);
}

static void indent(wbuf_t *b, const char *p, const char *end)
{
    int depth = 0, need = 0;
    while (p < end) {
        const char *s = p;
        if (need && *p != '}' && *p != ']') {
            need = 0;
            newline_indent(b, ++depth);
        }
        switch (*p) {
        case '"':
            p = scan_string(p, end);
            wb_put(b, s, (size_t)(p - s));
            continue;
        case '{':
        case '[':
            need = 1;
            wb_put(b, p, 1);
            break;
        case ',':
            wb_put(b, ",", 1);
            newline_indent(b, depth);
            break;
        case ':':
            wb_put(b, ": ", 2);
            break;
        case '}':
        case ']':
            if (need)
                need = 0;
            else
                newline_indent(b, --depth);
            wb_put(b, p, 1);
            break;
        default:
            wb_put(b, p, 1);
            break;
        }
        p++;
    }
}

int qm_assemble(const qm_buf_t *results, size_t n, int pretty, size_t maxout, qm_buf_t *out, char *err, size_t errcap)
{
    wbuf_t compact, b;
    int ret = QM_OK;

    out->ptr = NULL;
    out->len = 0;
    wb_init(&compact, maxout);
    wb_init(&b, maxout);
    wb_str(&compact, "{\"results\":[");
    for (size_t i = 0; i < n; i++) {
        const char *p = results[i].ptr, *end = p + results[i].len;
        if (p == NULL || results[i].len == 0 || *p != '{' || scan_value(p, end, 1) != end) {
            ret = QM_EJSON;
            util_errf(err, errcap, "result %zu is not one compact JSON object", i);
            goto Error;
        }
        if (i > 0)
            wb_put(&compact, ",", 1);
        copy_compact(&compact, p, end);
    }
    wb_str(&compact, "]}");
    if (!pretty) {
        wb_put(&compact, "\n", 1);
        return wb_finish(&compact, out, err, errcap);
    }
    if (compact.over)
        return wb_finish(&compact, out, err, errcap);
    indent(&b, compact.ptr, compact.ptr + compact.len);
    wb_put(&b, "\n", 1);
    free(compact.ptr);
    return wb_finish(&b, out, err, errcap);

Error:
    free(compact.ptr);
    free(b.ptr);
    return ret;
}

/* ---- the merge ---- */

typedef enum en_answer_t { ANS_DOWN, ANS_BAD, ANS_ERROR, ANS_OK } answer_t;

/* One series of one backend's answer (borrowed from its tree). */
typedef struct st_series_t {
    const char *name;
    size_t namelen;
    json_t *tags, *columns, *values;
    size_t seq;
} series_t;

/* One row of a merged series; seq orders rows by backend, then by position. */
typedef struct st_row_t {
    json_t *row;
    size_t seq;
    int dup;
} row_t;

typedef struct st_merge_t {
    iql_kind_t kind;
    size_t nkeys;   /* leading columns that identify a row */
    int sorted;     /* rows sorted (else kept in arrival order) */
    json_t **roots; /* per body, NULL when it did not parse */
    series_t *series;
    size_t nseries;
    size_t nok, nbad;    /* answers usable, answers that were not influxd's JSON */
    json_t *first_error; /* the first backend's error message, borrowed from roots */
    char (*bad)[256];    /* per body: why it was not usable */
} merge_t;

static int kind_setup(merge_t *mg, iql_kind_t kind)
{
    mg->kind = kind;
    mg->nkeys = kind == IQL_K_SHOW_TAG_VALUES ? 2 : 1;
    mg->sorted = kind != IQL_K_SHOW_DATABASES && kind != IQL_K_SHOW_RETENTION_POLICIES;
    switch (kind) {
    case IQL_K_SHOW_DATABASES:
    case IQL_K_SHOW_RETENTION_POLICIES:
    case IQL_K_SHOW_MEASUREMENTS:
    case IQL_K_SHOW_TAG_KEYS:
    case IQL_K_SHOW_FIELD_KEYS:
    case IQL_K_SHOW_TAG_VALUES:
    case IQL_K_SHOW_SERIES:
        return 0;
    default:
        return -1;
    }
}

static const char *backend_name(const qm_body_t *b)
{
    return b->name != NULL ? b->name : "?";
}

/* Checks one series object and appends it to mg->series. Returns 0, or -1 when it is malformed. */
static int add_series(merge_t *mg, json_t *s, size_t *seq)
{
    json_t *name = json_object_get(s, "name"), *cols = json_object_get(s, "columns");
    json_t *vals = json_object_get(s, "values"), *tags = json_object_get(s, "tags");
    if (!json_is_object(s) || (name != NULL && !json_is_string(name)) || !json_is_array(cols) ||
        (vals != NULL && !json_is_array(vals)) || (tags != NULL && !json_is_object(tags)) ||
        json_array_size(cols) < mg->nkeys)
        return -1;
    for (size_t i = 0; i < json_array_size(vals); i++) {
        json_t *row = json_array_get(vals, i);
        if (!json_is_array(row) || json_array_size(row) < mg->nkeys)
            return -1;
    }
    series_t *e = &mg->series[mg->nseries++];
    e->name = name != NULL ? json_string_value(name) : "";
    e->namelen = name != NULL ? json_string_length(name) : 0;
    e->tags = tags;
    e->columns = cols;
    e->values = vals;
    e->seq = (*seq)++;
    return 0;
}

/* Parses one body and classifies the answer. ANS_OK adds its series to mg; ANS_ERROR points *msg at
 * the backend's error string (borrowed from mg->roots[i]); ANS_BAD writes the reason into bad. */
static answer_t read_answer(merge_t *mg, size_t i, const qm_body_t *b, size_t *seq, json_t **msg, char *bad,
                            size_t badcap)
{
    json_error_t jerr;
    json_t *root = json_loadb(b->ptr, b->len, JSON_ALLOW_NUL, &jerr), *res, *e, *series;
    if (root == NULL) {
        snprintf(bad, badcap, "invalid JSON response: %s at offset %d", jerr.text, jerr.position);
        return ANS_BAD;
    }
    mg->roots[i] = root;
    res = json_array_get(json_object_get(root, "results"), 0);
    e = res != NULL ? json_object_get(res, "error") : json_object_get(root, "error");
    if (json_is_string(e)) {
        *msg = e;
        return ANS_ERROR;
    }
    series = json_object_get(res, "series");
    if (!json_is_object(res) || (series != NULL && !json_is_array(series)))
        goto Error;
    mg->series = realloc(mg->series, (mg->nseries + json_array_size(series) + 1) * sizeof(*mg->series));
    if (mg->series == NULL)
        abort();
    for (size_t j = 0; j < json_array_size(series); j++)
        if (add_series(mg, json_array_get(series, j), seq) != 0)
            goto Error;
    return ANS_OK;

Error:
    snprintf(bad, badcap, "unexpected JSON response");
    return ANS_BAD;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn;
}

/* Next byte of an escaped series key: an unescaped ',' or '=' separates parts and sorts before any
 * byte (-1), the end sorts before everything (-2). Backslash escapes ',', '=' and ' '. */
static int key_next(const char **pp, const char *end)
{
    const char *p = *pp;
    if (p >= end)
        return -2;
    if (*p == '\\' && p + 1 < end && (p[1] == ',' || p[1] == '=' || p[1] == ' ')) {
        *pp = p + 2;
        return (unsigned char)p[1];
    }
    *pp = p + 1;
    return *p == ',' || *p == '=' ? -1 : (unsigned char)*p;
}

/* influxd orders series by measurement, then tag by tag (key, then value), not by the key string:
 * `cpu,host=a,…` comes before `cpu,host=a!` and `cpu` before `cpu!`. */
static int cmp_series_key(const char *a, size_t an, const char *b, size_t bn)
{
    const char *ae = a + an, *be = b + bn;
    for (;;) {
        int ca = key_next(&a, ae), cb = key_next(&b, be);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (ca == -2)
            return 0;
    }
}

static int cmp_cell(const json_t *a, const json_t *b, int serieskey)
{
    if (!json_is_string(a) || !json_is_string(b))
        return json_is_string(a) - json_is_string(b);
    if (serieskey)
        return cmp_series_key(json_string_value(a), json_string_length(a), json_string_value(b), json_string_length(b));
    return cmp_bytes(json_string_value(a), json_string_length(a), json_string_value(b), json_string_length(b));
}

static int cmp_row_key(const void *x, const void *y, void *arg)
{
    const row_t *a = x, *b = y;
    const merge_t *mg = arg;
    for (size_t i = 0; i < mg->nkeys; i++) {
        int c = cmp_cell(json_array_get(a->row, i), json_array_get(b->row, i), mg->kind == IQL_K_SHOW_SERIES);
        if (c != 0)
            return c;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int same_row_key(const merge_t *mg, const row_t *a, const row_t *b)
{
    for (size_t i = 0; i < mg->nkeys; i++) {
        json_t *x = json_array_get(a->row, i), *y = json_array_get(b->row, i);
        if (!json_equal(x, y))
            return 0;
    }
    return 1;
}

static int cmp_seq(const void *x, const void *y)
{
    const row_t *a = x, *b = y;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int cmp_series(const void *x, const void *y, void *arg)
{
    const series_t *a = x, *b = y;
    const merge_t *mg = arg;
    if (mg->sorted) {
        int c = cmp_bytes(a->name, a->namelen, b->name, b->namelen);
        if (c != 0)
            return c;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The rows of series[from..to) (one name), unique and ordered; returns how many are kept. */
static size_t gather_rows(const merge_t *mg, size_t from, size_t to, row_t **rowsp)
{
    size_t n = 0, k = 0;
    for (size_t i = from; i < to; i++)
        n += json_array_size(mg->series[i].values);
    row_t *rows = malloc((n + 1) * sizeof(*rows));
    if (rows == NULL)
        abort();
    for (size_t i = from; i < to; i++)
        for (size_t j = 0; j < json_array_size(mg->series[i].values); j++, k++) {
            rows[k].row = json_array_get(mg->series[i].values, j);
            rows[k].seq = k;
            rows[k].dup = 0;
        }
    qsort_r(rows, n, sizeof(*rows), cmp_row_key, (void *)mg);
    for (size_t i = 1; i < n; i++)
        rows[i].dup = same_row_key(mg, &rows[i - 1], &rows[i]);
    if (!mg->sorted)
        qsort(rows, n, sizeof(*rows), cmp_seq);
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (!rows[i].dup)
            rows[k++] = rows[i];
    *rowsp = rows;
    return k;
}

/* Writes one series with rows[off..n), "partial" when more of its rows follow in a later chunk; the first one written
 * opens the "series" member. */
static void put_rows(wbuf_t *b, const series_t *s, const row_t *rows, size_t off, size_t n, int partial, size_t *nout)
{
    wb_str(b, *nout == 0 ? ",\"series\":[{" : ",{");
    ++*nout;
    if (s->namelen > 0) {
        wb_str(b, "\"name\":");
        enc_string(b, s->name, s->namelen);
        wb_put(b, ",", 1);
    }
    if (s->tags != NULL && json_object_size(s->tags) > 0) {
        wb_str(b, "\"tags\":");
        enc_value(b, s->tags);
        wb_put(b, ",", 1);
    }
    wb_str(b, "\"columns\":");
    enc_value(b, s->columns);
    if (n > off) {
        wb_str(b, ",\"values\":[");
        for (size_t i = off; i < n; i++) {
            if (i > off)
                wb_put(b, ",", 1);
            enc_value(b, rows[i].row);
        }
        wb_put(b, "]", 1);
    }
    if (partial)
        wb_str(b, ",\"partial\":true");
    wb_put(b, "}", 1);
}

/* LIMIT/OFFSET on the n rows of one series: the rows kept are [*off, returned end). */
static size_t page_rows(const merge_t *mg, const qm_paging_t *pg, size_t n, size_t *off)
{
    *off = 0;
    if (mg->sorted && pg != NULL) {
        *off = pg->offset > 0 ? (size_t)pg->offset : 0;
        *off = *off < n ? *off : n;
        if (pg->limit > 0 && (uint64_t)pg->limit < n - *off)
            n = *off + (size_t)pg->limit;
    }
    return n;
}

/* One merged series (name of series[from], rows paged), unless paging left it empty. */
static void put_series(wbuf_t *b, const merge_t *mg, size_t from, size_t to, const qm_paging_t *pg, size_t *nout)
{
    row_t *rows;
    size_t off, n = page_rows(mg, pg, gather_rows(mg, from, to, &rows), &off);
    if (!mg->sorted || n > off)
        put_rows(b, &mg->series[from], rows, off, n, 0, nout);
    free(rows);
}

/* Sorts the series by name; returns the end of the group of series[from]'s name. */
static size_t group_end(const merge_t *mg, size_t from)
{
    const series_t *f = &mg->series[from];
    size_t to = from + 1;
    while (to < mg->nseries && cmp_bytes(f->name, f->namelen, mg->series[to].name, mg->series[to].namelen) == 0)
        to++;
    return to;
}

/* The ok answers merged: series grouped by name, in order. Series of SHOW statements carry no tags;
 * a group takes the columns and tags of its first member. */
static void put_merged(wbuf_t *b, merge_t *mg, const qm_paging_t *pg)
{
    size_t from = 0, nout = 0;
    qsort_r(mg->series, mg->nseries, sizeof(*mg->series), cmp_series, mg);
    while (from < mg->nseries) {
        size_t to = group_end(mg, from);
        put_series(b, mg, from, to, pg, &nout);
        from = to;
    }
    if (nout > 0)
        wb_put(b, "]", 1);
}

/* Whether chunked=true makes influxd send the statement's answer as several result objects. */
static int chunks_by_series(const merge_t *mg, const qm_paging_t *pg)
{
    return pg != NULL && pg->chunk_size > 0 &&
           (mg->kind == IQL_K_SHOW_TAG_KEYS || mg->kind == IQL_K_SHOW_TAG_VALUES || mg->kind == IQL_K_SHOW_FIELD_KEYS ||
            mg->kind == IQL_K_SHOW_SERIES);
}

/* The ok answers merged as influxd sends them with chunked=true, one result object per line: SHOW TAG KEYS and TAG
 * VALUES one object per series; SHOW FIELD KEYS and SERIES, which its query engine runs, in pieces of chunk_size rows,
 * a piece followed by more rows of its series marked "partial" in the series, and every object but the statement's
 * last one marked "partial" in the result. */
static void put_chunked(wbuf_t *b, merge_t *mg, const qm_paging_t *pg, int statement_id)
{
    static const char flag[] = ",\"partial\":true";
    int engine = mg->kind == IQL_K_SHOW_FIELD_KEYS || mg->kind == IQL_K_SHOW_SERIES;
    size_t cs = engine ? (size_t)pg->chunk_size : SIZE_MAX, from = 0, nobj = 0, last_flag = 0;

    qsort_r(mg->series, mg->nseries, sizeof(*mg->series), cmp_series, mg);
    while (from < mg->nseries) {
        size_t to = group_end(mg, from), off;
        row_t *rows;
        size_t n = page_rows(mg, pg, gather_rows(mg, from, to, &rows), &off);
        for (size_t p = off; p < n;) {
            size_t end = n - p > cs ? p + cs : n, one = 0;
            if (nobj++ > 0)
                wb_put(b, "\n", 1);
            wb_str(b, "{\"statement_id\":");
            wb_int(b, statement_id);
            put_rows(b, &mg->series[from], rows, p, end, end < n, &one);
            wb_put(b, "]", 1);
            if (engine) {
                last_flag = b->len;
                wb_str(b, flag);
            }
            wb_put(b, "}", 1);
            p = end;
        }
        free(rows);
        from = to;
    }
    if (nobj == 0) {
        wb_str(b, "{\"statement_id\":");
        wb_int(b, statement_id);
        wb_put(b, "}", 1);
    } else if (engine && !b->over) { /* the statement's last object ends it: not partial */
        size_t n = sizeof(flag) - 1;
        memmove(b->ptr + last_flag, b->ptr + last_flag + n, b->len - last_flag - n + 1);
        b->len -= n;
    }
}

/* "backend a: reason; backend b: reason" for the backends that gave no usable answer. */
static void failures_text(char *dst, size_t cap, const qm_body_t *bodies, size_t n, char (*bad)[256])
{
    size_t len = 0;
    dst[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++) {
        const char *why = bodies[i].ptr == NULL ? (bodies[i].reason != NULL ? bodies[i].reason : "no answer") : bad[i];
        int w = snprintf(dst + len, cap - len, "%sbackend %s: %s", len > 0 ? "; " : "", backend_name(&bodies[i]), why);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

/* Reads every body: the ok answers' series go to mg->series, the rest is counted and explained. */
static void read_all(merge_t *mg, const qm_body_t *bodies, size_t n)
{
    size_t seq = 0;
    mg->roots = calloc(n, sizeof(*mg->roots));
    mg->bad = calloc(n, sizeof(*mg->bad));
    if (mg->roots == NULL || mg->bad == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        json_t *msg = NULL;
        answer_t a = ANS_DOWN;
        if (bodies[i].ptr != NULL)
            a = read_answer(mg, i, &bodies[i], &seq, &msg, mg->bad[i], sizeof(mg->bad[i]));
        mg->nok += a == ANS_OK;
        mg->nbad += a == ANS_BAD;
        if (a == ANS_ERROR && mg->first_error == NULL)
            mg->first_error = msg;
    }
}

/* The error member when no backend answered without one; QM_EJSON when one sent garbage. */
static int put_failure(wbuf_t *b, const merge_t *mg, const qm_body_t *bodies, size_t n, char *err, size_t errcap)
{
    char text[4096];
    wb_str(b, ",\"error\":");
    if (mg->first_error != NULL) {
        enc_value(b, mg->first_error);
        return QM_OK;
    }
    failures_text(text, sizeof(text), bodies, n, mg->bad);
    enc_string(b, text, strlen(text));
    if (mg->nbad == 0)
        return QM_OK;
    util_errf(err, errcap, "%s", text);
    return QM_EJSON;
}

int qm_merge_show(iql_kind_t kind, const qm_body_t *bodies, size_t n, const qm_paging_t *paging, int statement_id,
                  size_t maxout, qm_buf_t *out, char *err, size_t errcap)
{
    merge_t mg = {0};
    wbuf_t b;
    int ret = QM_OK;

    out->ptr = NULL;
    out->len = 0;
    wb_init(&b, maxout);
    if (n == 0 || kind_setup(&mg, kind) != 0) {
        util_errf(err, errcap, "nothing to merge");
        return QM_EINVAL;
    }
    read_all(&mg, bodies, n);
    if (mg.nok > 0 && chunks_by_series(&mg, paging)) {
        put_chunked(&b, &mg, paging, statement_id);
    } else {
        wb_str(&b, "{\"statement_id\":");
        wb_int(&b, statement_id);
        if (mg.nok > 0)
            put_merged(&b, &mg, paging);
        else
            ret = put_failure(&b, &mg, bodies, n, err, errcap);
        wb_put(&b, "}", 1);
    }
    if (ret != QM_OK)
        goto Error;
    ret = wb_finish(&b, out, err, errcap);
    b.ptr = NULL;

Error:
    free(b.ptr);
    for (size_t i = 0; i < n; i++)
        json_decref(mg.roots[i]);
    free(mg.roots);
    free(mg.series);
    free(mg.bad);
    return ret;
}

const char *qm_strerror(int code)
{
    switch (code) {
    case QM_OK:
        return "ok";
    case QM_EJSON:
        return "invalid backend response";
    case QM_ETOOBIG:
        return "response too large";
    case QM_ERANGE:
        return "no such result";
    case QM_EINVAL:
        return "invalid argument";
    default:
        return "unknown error";
    }
}

/*
 * lineproto — InfluxDB line-protocol scanner and validator.
 *
 * DESIGN
 * A line is accepted or rejected exactly as influxd 1.6 (models/points.go, checked against a running
 * influxd 1.6.7) does it at parse time, because the proxy answers the client before any backend sees the
 * line: a line we let through that influxd refuses would be acknowledged and then lost in a replay queue.
 * The scanner therefore reproduces influxd's state machine, quirks included:
 *   - "escaped" means "the previous byte is a backslash" in measurements and tags (so `\\,` does not
 *     end a tag), while field sets skip backslash pairs;
 *   - line splitting counts '=' and ',' after the first space to know when a '"' opens a string, so a
 *     newline inside a string value (or after a backslash) does not end the line;
 *   - numbers are only range-checked where influxd range-checks them (>= 19 digit integers, floats in
 *     exponent form or of >= 25 characters), with Go's strconv rules;
 *   - errors are reported in influxd's order (key, key length, fields, the second walk of the fields that
 *     ends keys and values by other rules and checks field key length, timestamp).
 * Duplicate tag keys are found in one pass when tags are sorted (the usual case), else with a per-thread
 * hash table of tag offsets, so a line costs linear time whatever its tag order.
 * Nothing is allocated; results are slices into the caller's buffer.
 */
#include "lineproto.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_NANO_TIME (INT64_MIN + 2)
#define MAX_NANO_TIME (INT64_MAX - 1)
#define MAX_INT64_DIGITS 19
#define MAX_FLOAT64_DIGITS 25
/* Significant digits handed to strtod when a float sits at the overflow boundary; the exact halfway point
 * between DBL_MAX and 2^1024 has 309 digits, so this many always decide rounding correctly. */
#define FLOAT_SIG_DIGITS 780
/* Tag offsets remembered for the duplicate check of an unsorted tag set (a power of two). */
#define DUP_SLOTS 32768

enum { ST_TAGS, ST_FIELDS };

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\0';
}

static int is_numeric(char c)
{
    return (c >= '0' && c <= '9') || c == '.';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t skip_blank(const char *b, size_t i, size_t n)
{
    while (i < n && is_blank(b[i]))
        i++;
    return i;
}

/* ---- line splitting ---------------------------------------------------------------------------------- */

/* Index of the '\n' ending the line that starts at i, or n. Mirrors influxd's scanLine, including its
 * "i + 2 < n" escape rule (a backslash before the very last byte escapes nothing). */
static size_t scan_line(const char *b, size_t i, size_t n)
{
    int quoted = 0, fields = 0;
    size_t equals = 0, commas = 0;

    /* Fast path, the usual line: no quote and no backslash before the next newline, which then ends
     * it (the loop below would stop at the same place). memchr is vectorised; the loop is not. */
    const char *nl = memchr(b + i, '\n', n - i);
    size_t seg = (nl != NULL ? (size_t)(nl - b) : n) - i;
    if (memchr(b + i, '"', seg) == NULL && memchr(b + i, '\\', seg) == NULL)
        return i + seg;

    while (i < n) {
        if (b[i] == '\\' && i + 2 < n) {
            i += 2;
            continue;
        }
        if (b[i] == ' ')
            fields = 1;
        if (fields) {
            if (!quoted && b[i] == '=') {
                equals++;
                i++;
                continue;
            }
            if (!quoted && b[i] == ',') {
                commas++;
                i++;
                continue;
            }
            if (b[i] == '"' && equals > commas) {
                quoted = !quoted;
                i++;
                continue;
            }
        }
        if (b[i] == '\n' && !quoted)
            break;
        i++;
    }
    return i;
}

/* Is s[0..len) one of the words influxd takes for a boolean (its first byte already one of tTfF)? */
static int boolean_word(const char *s, size_t len)
{
    return len == 1 ||
           (len == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "TRUE", 4) == 0 || memcmp(s, "True", 4) == 0)) ||
           (len == 5 && (memcmp(s, "false", 5) == 0 || memcmp(s, "FALSE", 5) == 0 || memcmp(s, "False", 5) == 0));
}

void lp_iter_init(lp_iter_t *it, const char *body, size_t len, lp_precision_t prec)
{
    it->_buf = body;
    it->_len = len;
    it->_pos = 0;
    it->_prec = prec;
    it->_fast_lines = 0;
    /* the fast path takes lines up to the body's last '\n', which stops its scans (see fast_line) */
    const char *last = len > 0 ? memrchr(body, '\n', len) : NULL;
    it->_fast_end = last != NULL ? (size_t)(last - body) + 1 : 0;
}

void lp_iter_general_only(lp_iter_t *it)
{
    it->_fast_end = 0;
}

/* ---- the fast path ------------------------------------------------------------------------------------
 *
 * Most lines are plain: no escape, no quote inside keys, sorted tags, short numbers. fast_line() accepts
 * exactly such a line in one pass, with a byte table, and fills in the same lp_line_t the general path
 * would; on anything else (every error included) it returns 0 and the general path below scans the line
 * from its start, so results and error texts never depend on which path ran (the unit table and the
 * fuzz target compare both). */

/* Bytes that need no attention inside a key, a tag value or a number: all but , space = " \ CR LF TAB NUL. */
static const unsigned char plain_byte[256] = {
    0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, /* 00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 10 */
    0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, /* 30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 80 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 90 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* a0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* b0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* c0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* d0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* e0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* f0 */
};

#define PLAIN(c) plain_byte[(unsigned char)(c)]

/* The fast path scans a line that has a '\n' ahead (its own or a later one): no loop below needs a bounds check,
 * since each stops at a byte that is not plain, not a digit and not a quote, and '\n' is all three; the line is
 * plain only if the first byte a scan stops at in the end is its '\n'. */

/* A run of plain bytes from i; returns the first index not plain (the '\n' ahead at the latest). */
static inline size_t plain_run(const char *b, size_t i)
{
    while (PLAIN(b[i]))
        i++;
    return i;
}

/* One field value at b[i] (after '='): a short number, a boolean or a string without escapes and newlines.
 * Returns the index just past it, or 0 when the general path must decide. */
static size_t fast_value(const char *b, size_t i)
{
    size_t start = i, digits = 0;
    int dot = 0;
    char c = b[i];

    if (c == '"') {
        for (i++;; i++) {
            if (b[i] == '"')
                return i + 1;
            if (b[i] == '\\' || b[i] == '\n')
                return 0;
        }
    }
    if (c == 't' || c == 'f' || c == 'T' || c == 'F') {
        size_t e = plain_run(b, i + 1);
        return boolean_word(b + i, e - i) ? e : 0;
    }
    if (c == '-')
        i++;
    for (;; i++) {
        c = b[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (c == '.' && !dot)
            dot = 1;
        else
            break;
    }
    if (digits == 0)
        return 0;
    if (b[i] == 'i') {
        /* 19 digits may be out of range: the general path checks */
        if (dot || digits >= MAX_INT64_DIGITS)
            return 0;
        i++;
    } else if (i - start >= MAX_FLOAT64_DIGITS) {
        return 0;
    }
    return i;
}

/* If p[0..8) are decimal digits, their value in *out (the bytes put into one word, first byte lowest whatever the
 * host's byte order, and the digits summed in pairs, fours, then eight). */
static inline int eight_digits(const char *p, uint64_t *out)
{
    uint64_t x;
    unsigned char c[8];

    memcpy(c, p, 8);
    x = (uint64_t)c[0] | (uint64_t)c[1] << 8 | (uint64_t)c[2] << 16 | (uint64_t)c[3] << 24 | (uint64_t)c[4] << 32 |
        (uint64_t)c[5] << 40 | (uint64_t)c[6] << 48 | (uint64_t)c[7] << 56;
    /* every byte 0x30..0x39: high nibble 3, and adding 6 keeps it 3 */
    if ((x & 0xF0F0F0F0F0F0F0F0ull) != 0x3030303030303030ull ||
        ((x + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) != 0x3030303030303030ull)
        return 0;
    x -= 0x3030303030303030ull;
    x = x * 10 + (x >> 8); /* byte k (k even): digit k * 10 + digit k+1 */
    x = ((x & 0x000000FF000000FFull) * (100 + (1000000ull << 32)) +
         ((x >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32))) >>
        32;
    *out = x;
    return 1;
}

/* The line starting at it->_pos, if plain: fills *l, moves the iterator past it and returns 1; else 0. A last
 * line without its '\n' goes the general way. */
static int fast_line(lp_iter_t *it, lp_line_t *l)
{
    const char *b = it->_buf + it->_pos;
    size_t avail = it->_len - it->_pos, n, i, k, tags = 0, fields, prev_key = 0, prev_len = 0, ts = 0, end;
    uint64_t v = 0;
    int64_t ns = 0;

    /* a '\n' lies ahead (the body's last one, at the latest): every scan below stops at or before it */
    if (it->_pos >= it->_fast_end || !PLAIN(b[0]) || b[0] == '#')
        return 0;
    i = plain_run(b, 1);
    if (b[i] == '\n')
        return 0;
    k = i; /* measurement length */
    if (b[i] == ',') {
        tags = i + 1;
        for (;;) {
            size_t key = i + 1, e = plain_run(b, key);
            if (e == key || b[e] != '=')
                return 0;
            if (prev_len != 0) { /* keys in strictly increasing byte order, or the general path sorts it out */
                size_t m = prev_len < e - key ? prev_len : e - key, j = 0;
                while (j < m && b[prev_key + j] == b[key + j])
                    j++;
                if (j < m ? (unsigned char)b[prev_key + j] > (unsigned char)b[key + j] : prev_len >= e - key)
                    return 0;
            }
            prev_key = key;
            prev_len = e - key;
            i = plain_run(b, e + 1);
            if (i == e + 1 || b[i] == '\n')
                return 0;
            if (b[i] == ' ')
                break;
            if (b[i] != ',')
                return 0;
        }
    }
    if (b[i] != ' ')
        return 0;
    fields = ++i;
    for (;;) {
        size_t e = plain_run(b, i);
        if (e == i || b[e] != '=')
            return 0;
        i = fast_value(b, e + 1); /* never past the '\n': at it when the value is missing, and then 0 */
        if (i == 0)
            return 0;
        if (b[i] != ',')
            break;
        i++;
    }
    end = i;
    if (b[i] == ' ') {
        size_t d;
        ts = ++i;
        if (b[i] == '-')
            i++;
        /* the time is the rest of the line: up to 19 digits (they fit in v) */
        d = i;
        for (uint64_t eight; avail - i >= 8 && i - d < MAX_INT64_DIGITS && eight_digits(b + i, &eight); i += 8)
            v = v * 100000000 + eight;
        for (; b[i] >= '0' && b[i] <= '9' && i - d < MAX_INT64_DIGITS; i++)
            v = v * 10 + (uint64_t)(b[i] - '0');
        /* beyond MAX_NANO_TIME (or 19 digits) the general path words the error */
        if (i == d || i - d > MAX_INT64_DIGITS || v > (uint64_t)MAX_NANO_TIME)
            return 0;
        end = i;
    }
    if (b[end] != '\n')
        return 0;
    n = end;
    if (n > LP_MAX_KEY_LENGTH - 8)
        return 0;
    if (ts != 0) {
        int64_t sv = b[ts] == '-' ? -(int64_t)v : (int64_t)v;
        if (__builtin_mul_overflow(sv, lp_precision_ns(it->_prec), &ns) || ns < MIN_NANO_TIME || ns > MAX_NANO_TIME)
            return 0;
    }
    /* every field, as the general path leaves them (no memset: it costs more than the whole scan of a short line) */
    l->line = b;
    l->line_len = n;
    l->measurement = b;
    l->measurement_len = k;
    l->tags = tags != 0 ? b + tags : NULL;
    l->tags_len = tags != 0 ? fields - 1 - tags : 0;
    l->fields = b + fields;
    l->fields_len = (ts != 0 ? ts - 1 : n) - fields;
    l->ts = ts != 0 ? b + ts : NULL;
    l->ts_len = ts != 0 ? n - ts : 0;
    l->ts_ns = ns;
    l->err = 0;
    l->_err_arg = NULL;
    l->_err_arg_len = 0;
    l->_err_num = 0;
    it->_pos += n + 1;
    return 1;
}

int lp_iter_next(lp_iter_t *it, lp_line_t *line)
{
    while (it->_pos < it->_len) {
        if (fast_line(it, line)) {
            it->_fast_lines++;
            return 1;
        }
        const char *blk = it->_buf + it->_pos;
        size_t end = scan_line(it->_buf, it->_pos, it->_len);
        size_t len = end - it->_pos, start;

        it->_pos = end + 1;
        /* a block can end in '\n' only when a string value is still open at the end of the body */
        if (len > 0 && blk[len - 1] == '\n')
            len--;
        if (len > 0 && blk[len - 1] == '\r')
            len--;
        start = skip_blank(blk, 0, len);
        if (start >= len || blk[start] == '#')
            continue;
        lp_parse_line(blk + start, len - start, it->_prec, line);
        return 1;
    }
    return 0;
}

/* ---- numbers ----------------------------------------------------------------------------------------- */

/* Go strconv.ParseInt(s, 10, 64): 0, -1 invalid syntax, -2 out of range. */
static int parse_int64(const char *s, size_t n, int64_t *out)
{
    uint64_t v = 0, lim;
    int neg = 0;
    size_t i = 0;

    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (i == n)
        return -1;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d;
        if (!is_digit(s[i]))
            return -1;
        d = (unsigned)(s[i] - '0');
        /* up to 18 digits cannot overflow: no check (timestamps have 19, so this stays cheap) */
        if (v >= 100000000000000000ull && (v > (lim - d) / 10))
            return -2;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

typedef struct st_float_shape_t {
    size_t mant_start, int_digits, frac_start, frac_digits;
    long exp;
} float_shape_t;

/* Go's decimal float syntax restricted to what the scanner lets through: [-] digits [. digits]
 * [e [+-] digits], at least one mantissa digit. Fills *sh; returns 0 or -1. */
static int float_syntax(const char *s, size_t n, float_shape_t *sh)
{
    size_t i = 0;
    int eneg = 0;

    memset(sh, 0, sizeof(*sh));
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    sh->mant_start = i;
    while (i < n && is_digit(s[i]))
        i++;
    sh->int_digits = i - sh->mant_start;
    if (i < n && s[i] == '.') {
        i++;
        sh->frac_start = i;
        while (i < n && is_digit(s[i]))
            i++;
        sh->frac_digits = i - sh->frac_start;
    }
    if (sh->int_digits + sh->frac_digits == 0)
        return -1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i == n || !is_digit(s[i]))
            return -1;
        for (; i < n && is_digit(s[i]); i++) {
            if (sh->exp < 100000000) /* saturate like Go: far beyond any float64 exponent */
                sh->exp = sh->exp * 10 + (s[i] - '0');
        }
        if (eneg)
            sh->exp = -sh->exp;
    }
    return i == n ? 0 : -1;
}

/* Mantissa digit k (0-based over integer then fraction digits). */
static char mant_digit(const char *s, const float_shape_t *sh, size_t k)
{
    return k < sh->int_digits ? s[sh->mant_start + k] : s[sh->frac_start + (k - sh->int_digits)];
}

/* Go strconv.ParseFloat(s, 64) succeeds: valid syntax and no overflow (underflow to 0 is fine). */
static int float_ok(const char *s, size_t n)
{
    float_shape_t sh;
    size_t total, first = 0, k, m = 0;
    long e10;
    char tmp[FLOAT_SIG_DIGITS + 16];

    if (float_syntax(s, n, &sh) != 0)
        return 0;
    total = sh.int_digits + sh.frac_digits;
    while (first < total && mant_digit(s, &sh, first) == '0')
        first++;
    if (first == total)
        return 1;
    /* value = 0.d[first]d[first+1]... x 10^e10, so it lies in [10^(e10-1), 10^e10) */
    e10 = (long)sh.int_digits - (long)first + sh.exp;
    if (e10 <= 308)
        return 1;
    if (e10 >= 310)
        return 0;
    for (k = first; k < total && m < FLOAT_SIG_DIGITS; k++)
        tmp[m++] = mant_digit(s, &sh, k);
    for (; k < total; k++) {
        if (mant_digit(s, &sh, k) != '0') {
            tmp[m++] = '1'; /* sticky digit: the value is above the truncation */
            break;
        }
    }
    /* tmp holds the m significant digits as an integer: value = tmp x 10^(309 - m) */
    {
        long pexp = 309 - (long)m;
        char *p = tmp + m;
        size_t room = sizeof(tmp) - m;
        int w = snprintf(p, room, "e%ld", pexp);
        assert(w > 0 && (size_t)w < room);
        (void)w;
    }
    return !isinf(strtod(tmp, NULL));
}

typedef struct st_scan_err_t {
    const char *arg;
    size_t arg_len;
} scan_err_t;

static int number_end_check(const char *b, size_t start, size_t i, int is_int, int is_uns, int decimal, int sci,
                            scan_err_t *e)
{
    long digits = (long)(i - start);
    int64_t v;

    if ((is_int || is_uns) && (decimal || sci))
        return LP_ERR_INVALID_NUMBER;
    if (is_int)
        digits--;
    if (decimal)
        digits--;
    if (b[start] == '-')
        digits--;
    if (digits <= 0)
        return LP_ERR_INVALID_NUMBER;
    if (is_int) {
        if (b[i - 1] != 'i')
            return LP_ERR_INVALID_NUMBER;
        if (i - 1 - start >= MAX_INT64_DIGITS && parse_int64(b + start, i - 1 - start, &v) != 0) {
            e->arg = b + start;
            e->arg_len = i - 1 - start;
            return LP_ERR_INTEGER_RANGE;
        }
        return 0;
    }
    if (is_uns) /* influxd 1.6 is built without unsigned support */
        return LP_ERR_INVALID_NUMBER;
    if ((sci || i - start >= MAX_FLOAT64_DIGITS) && !float_ok(b + start, i - start))
        return LP_ERR_INVALID_FLOAT;
    return 0;
}

/* influxd's scanNumber: *pos is the first byte of the value, left on the ',' / ' ' / end after it. */
static int scan_number(const char *b, size_t n, size_t *pos, scan_err_t *e)
{
    size_t start = *pos, i = *pos;
    int is_int = 0, is_uns = 0, decimal = 0, sci = 0;

    if (i < n && b[i] == '-') {
        i++;
        if (i == n)
            return LP_ERR_INVALID_NUMBER;
    }
    while (i < n && b[i] != ',' && b[i] != ' ') {
        if ((b[i] == 'i' || b[i] == 'u') && i > start && !(is_int || is_uns)) {
            is_int = b[i] == 'i';
            is_uns = b[i] == 'u';
            i++;
            continue;
        }
        if (b[i] == '.') {
            if (decimal)
                return LP_ERR_INVALID_NUMBER;
            decimal = 1;
        }
        if (i > start && (b[i] == 'e' || b[i] == 'E')) {
            sci = 1;
            i++;
            continue;
        }
        if ((b[i] == '+' || b[i] == '-') && (b[i - 1] == 'e' || b[i - 1] == 'E')) {
            i++;
            continue;
        }
        if (!is_numeric(b[i])) /* includes influxd's separate NaN test: same error */
            return LP_ERR_INVALID_NUMBER;
        i++;
    }
    *pos = i;
    return number_end_check(b, start, i, is_int, is_uns, decimal, sci, e);
}

static int scan_boolean(const char *b, size_t n, size_t *pos)
{
    size_t start = *pos, i = *pos;
    char c = b[start];

    if (c != 't' && c != 'f' && c != 'T' && c != 'F')
        return LP_ERR_INVALID_BOOLEAN;
    i++;
    while (i < n && b[i] != ',' && b[i] != ' ')
        i++;
    *pos = i;
    return boolean_word(b + start, i - start) ? 0 : LP_ERR_INVALID_BOOLEAN;
}

/* ---- key: measurement and tags ----------------------------------------------------------------------- */

static int scan_measurement(const char *b, size_t n, size_t *pos, int *state)
{
    size_t i = 0;

    if (n == 0 || b[0] == ',')
        return LP_ERR_MISSING_MEASUREMENT;
    for (;;) {
        i++;
        if (i >= n)
            return LP_ERR_MISSING_FIELDS;
        if (b[i - 1] == '\\')
            continue;
        if (b[i] == ',') {
            *pos = i + 1;
            *state = ST_TAGS;
            return 0;
        }
        if (b[i] == ' ') {
            *pos = i;
            *state = ST_FIELDS;
            return 0;
        }
    }
}

static int scan_tag_key(const char *b, size_t n, size_t *pos)
{
    size_t i = *pos;

    if (i >= n || b[i] == ' ' || b[i] == ',' || b[i] == '=')
        return LP_ERR_MISSING_TAG_KEY;
    for (;;) {
        i++;
        if (i >= n || ((b[i] == ' ' || b[i] == ',') && b[i - 1] != '\\'))
            return LP_ERR_MISSING_TAG_VALUE;
        if (b[i] == '=' && b[i - 1] != '\\') {
            *pos = i + 1;
            return 0;
        }
    }
}

static int scan_tag_value(const char *b, size_t n, size_t *pos, int *more)
{
    size_t i = *pos;

    if (i >= n || b[i] == ',' || b[i] == ' ')
        return LP_ERR_MISSING_TAG_VALUE;
    for (;;) {
        i++;
        if (i >= n)
            return LP_ERR_MISSING_FIELDS;
        if (b[i] == '=' && b[i - 1] != '\\')
            return LP_ERR_INVALID_TAG_FORMAT;
        if ((b[i] == ',' || b[i] == ' ') && b[i - 1] != '\\') {
            *more = b[i] == ',';
            *pos = b[i] == ',' ? i + 1 : i;
            return 0;
        }
    }
}

/* Scans the tags starting at *pos; leaves *pos on the space before the fields. */
static int scan_tags(const char *b, size_t n, size_t *pos, size_t *ntags)
{
    int ret, more = 1;

    while (more) {
        (*ntags)++;
        ret = scan_tag_key(b, n, pos);
        if (ret != 0)
            return ret;
        ret = scan_tag_value(b, n, pos, &more);
        if (ret != 0)
            return ret;
    }
    return 0;
}

/* Length of the tag key at p (up to the first '=' not preceded by a backslash) and start of the next tag
 * (past its ','), or end. Only called on a tag set scan_tags accepted. */
static size_t next_tag(const char *b, size_t p, size_t end, size_t *klen)
{
    size_t i = p;

    while (i < end && !(b[i] == '=' && (i == p || b[i - 1] != '\\')))
        i++;
    *klen = i - p;
    while (i < end && !(b[i] == ',' && b[i - 1] != '\\'))
        i++;
    return i < end ? i + 1 : end;
}

static int bytes_compare(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static uint32_t hash_key(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static _Thread_local uint32_t dup_slots[DUP_SLOTS];

/* Any two equal tag keys among the tags in [start, end)? Unsorted sets go through a hash table of tag
 * offsets; beyond DUP_SLOTS/2 tags (only possible in keys far over the length limit) later tags are
 * looked up but not inserted. */
static int has_dup_hashed(const char *b, size_t start, size_t end, size_t ntags)
{
    size_t cap = 16, p = start, inserted = 0, klen, olen;
    uint32_t h, o;

    while (cap < 2 * ntags && cap < DUP_SLOTS)
        cap <<= 1;
    memset(dup_slots, 0, cap * sizeof(dup_slots[0]));
    while (p < end) {
        size_t q = next_tag(b, p, end, &klen);
        for (h = hash_key(b + p, klen) & (uint32_t)(cap - 1); dup_slots[h] != 0; h = (h + 1) & (uint32_t)(cap - 1)) {
            o = dup_slots[h] - 1;
            next_tag(b, o, end, &olen);
            if (olen == klen && memcmp(b + o, b + p, klen) == 0)
                return 1;
        }
        if (inserted < cap / 2 && p < UINT32_MAX) {
            dup_slots[h] = (uint32_t)p + 1;
            inserted++;
        }
        p = q;
    }
    return 0;
}

static int has_dup_tags(const char *b, size_t start, size_t end, size_t ntags)
{
    size_t p = start, prev = 0, prev_len = 0, klen;
    int first = 1, c;

    /* influxd's fast path: sorted keys only need neighbour comparisons */
    while (p < end) {
        size_t q = next_tag(b, p, end, &klen);
        if (!first) {
            c = bytes_compare(b + prev, prev_len, b + p, klen);
            if (c == 0)
                return 1;
            if (c > 0)
                return has_dup_hashed(b, start, end, ntags);
        }
        first = 0;
        prev = p;
        prev_len = klen;
        p = q;
    }
    return 0;
}

/* ---- fields ------------------------------------------------------------------------------------------ */

static int field_equals(const char *b, size_t n, size_t *pos, scan_err_t *e)
{
    size_t i = *pos;
    char v;

    /* "cpu =1" and "cpu a=1,=2" but not "cpu a\ =1" */
    if (i >= 2 && (b[i - 1] == ' ' || b[i - 1] == ',') && b[i - 2] != '\\')
        return LP_ERR_MISSING_FIELD_KEY;
    if (i + 1 >= n || b[i + 1] == ',' || b[i + 1] == ' ')
        return LP_ERR_MISSING_FIELD_VALUE;
    v = b[i + 1];
    if (is_numeric(v) || v == '-' || v == 'N' || v == 'n') {
        *pos = i + 1;
        return scan_number(b, n, pos, e);
    }
    if (v != '"') {
        *pos = i + 1;
        return scan_boolean(b, n, pos);
    }
    *pos = i + 1; /* the opening quote is handled by the caller's loop */
    return 0;
}

/* influxd's scanFields: *pos is on the separator after the key; sets [*fstart, *pos) to the field set. */
static int scan_fields(const char *b, size_t n, size_t *pos, size_t *fstart, scan_err_t *e)
{
    size_t i = skip_blank(b, *pos, n), equals = 0, commas = 0;
    int quoted = 0, ret;

    *fstart = i;
    while (i < n) {
        if (b[i] == '\\' && i + 1 < n) {
            i += 2;
            continue;
        }
        if (b[i] == '"' && equals > commas) {
            quoted = !quoted;
            i++;
            continue;
        }
        if (b[i] == '=' && !quoted) {
            equals++;
            ret = field_equals(b, n, &i, e);
            if (ret != 0) {
                *pos = i;
                return ret;
            }
            continue;
        }
        if (b[i] == ',' && !quoted)
            commas++;
        if (b[i] == ' ' && !quoted)
            break;
        i++;
    }
    *pos = i;
    if (quoted)
        return LP_ERR_UNBALANCED_QUOTES;
    if (equals == 0 || commas != equals - 1)
        return LP_ERR_INVALID_FIELD_FORMAT;
    return 0;
}

/* influxd's walkFields, a second pass over a field set that scan_fields accepted, with other rules: a key ends at
 * the first '=' not preceded by a backslash (so the '=' after an escaped backslash, "a\\\\=1", does not end it), a
 * value at the first ',' outside quotes (so text after a closing quote belongs to the value). When a key runs to
 * the end of the set (or to its last byte) the line is refused with "invalid value: field-key=<rest>"; when key +
 * 4 + field key is over LP_MAX_KEY_LENGTH it is refused for its length. The first of these in field order wins.
 * Returns 0 or the error, with the key (*arg) or the size (*num) for the reason. */
static int walk_fields(const char *f, size_t n, size_t key_len, const char **arg, size_t *arg_len, size_t *num)
{
    size_t i = 0;

    while (i < n) {
        size_t k = i, klen;
        int quoted = 0;
        while (i < n && !(f[i] == '=' && (i == k || f[i - 1] != '\\')))
            i++;
        klen = i - k;
        if (i + 2 > n) {
            *arg = f + k;
            *arg_len = klen;
            return LP_ERR_INVALID_VALUE;
        }
        i++;
        while (i < n) {
            if (f[i] == '\\' && i + 1 < n && (f[i + 1] == '"' || f[i + 1] == '\\')) {
                i += 2;
                continue;
            }
            if (f[i] == '"')
                quoted = !quoted;
            else if (f[i] == ',' && !quoted)
                break;
            i++;
        }
        if (key_len + 4 + klen > LP_MAX_KEY_LENGTH) {
            *num = key_len + 4 + klen;
            return LP_ERR_MAX_KEY_LENGTH;
        }
        i++;
    }
    return 0;
}

/* ---- timestamp --------------------------------------------------------------------------------------- */

static int scan_time(const char *b, size_t n, size_t *pos, size_t *tstart)
{
    size_t i = skip_blank(b, *pos, n);

    *tstart = i;
    while (i < n && b[i] != '\n' && b[i] != ' ') {
        if (!(i == *tstart && b[i] == '-') && !is_digit(b[i])) {
            *pos = i;
            return LP_ERR_BAD_TIMESTAMP;
        }
        i++;
    }
    *pos = i;
    return 0;
}

static int check_time(lp_line_t *l, lp_precision_t prec)
{
    int64_t v, ns;
    int ret = parse_int64(l->ts, l->ts_len, &v);

    if (ret != 0) {
        l->_err_arg = l->ts;
        l->_err_arg_len = l->ts_len;
        return ret == -1 ? LP_ERR_TIMESTAMP_SYNTAX : LP_ERR_TIMESTAMP_RANGE;
    }
    if (__builtin_mul_overflow(v, lp_precision_ns(prec), &ns) || ns < MIN_NANO_TIME || ns > MAX_NANO_TIME)
        return LP_ERR_TIME_OUTSIDE_RANGE;
    l->ts_ns = ns;
    return 0;
}

/* ---- one line ---------------------------------------------------------------------------------------- */

static int parse_key(const char *b, size_t n, lp_line_t *l, size_t *pos)
{
    size_t ntags = 0, tstart;
    int state, ret;

    ret = scan_measurement(b, n, pos, &state);
    if (ret != 0)
        return ret;
    if (state == ST_FIELDS) {
        l->measurement = b;
        l->measurement_len = *pos;
        return 0;
    }
    l->measurement = b;
    l->measurement_len = *pos - 1;
    tstart = *pos;
    ret = scan_tags(b, n, pos, &ntags);
    if (ret != 0)
        return ret;
    if (ntags > 1 && has_dup_tags(b, tstart, *pos, ntags))
        return LP_ERR_DUPLICATE_TAGS;
    l->tags = b + tstart;
    l->tags_len = *pos - tstart;
    return 0;
}

int lp_parse_line(const char *buf, size_t len, lp_precision_t prec, lp_line_t *l)
{
    size_t start = skip_blank(buf, 0, len), n = len - start, pos = 0, fstart, tstart;
    const char *b = buf + start;
    scan_err_t e = {NULL, 0};
    int ret;

    memset(l, 0, sizeof(*l));
    l->line = b;
    l->line_len = n;
    ret = parse_key(b, n, l, &pos);
    if (ret != 0)
        goto Error;
    if (pos > LP_MAX_KEY_LENGTH) {
        l->_err_num = pos;
        ret = LP_ERR_MAX_KEY_LENGTH;
        goto Error;
    }
    ret = scan_fields(b, n, &pos, &fstart, &e);
    if (ret != 0)
        goto Error;
    l->fields = b + fstart;
    l->fields_len = pos - fstart;
    ret = walk_fields(l->fields, l->fields_len,
                      l->tags_len > 0 ? l->measurement_len + 1 + l->tags_len : l->measurement_len, &e.arg, &e.arg_len,
                      &l->_err_num);
    if (ret != 0)
        goto Error;
    ret = scan_time(b, n, &pos, &tstart);
    if (ret != 0)
        goto Error;
    if (pos > tstart) {
        l->ts = b + tstart;
        l->ts_len = pos - tstart;
        ret = check_time(l, prec);
        if (ret != 0)
            goto Error;
        for (; pos < n; pos++) {
            if (b[pos] != ' ') {
                ret = LP_ERR_POINT_INVALID;
                goto Error;
            }
        }
    }
    return 0;

Error:
    if (e.arg != NULL) {
        l->_err_arg = e.arg;
        l->_err_arg_len = e.arg_len;
    }
    l->err = ret;
    return ret;
}

/* ---- errors ------------------------------------------------------------------------------------------ */

const char *lp_strerror(int code)
{
    switch (code) {
    case LP_OK:
        return "ok";
    case LP_ERR_MISSING_MEASUREMENT:
        return "missing measurement";
    case LP_ERR_MISSING_FIELDS:
        return "missing fields";
    case LP_ERR_MISSING_TAG_KEY:
        return "missing tag key";
    case LP_ERR_MISSING_TAG_VALUE:
        return "missing tag value";
    case LP_ERR_INVALID_TAG_FORMAT:
        return "invalid tag format";
    case LP_ERR_DUPLICATE_TAGS:
        return "duplicate tags";
    case LP_ERR_MAX_KEY_LENGTH:
        return "max key length exceeded";
    case LP_ERR_MISSING_FIELD_KEY:
        return "missing field key";
    case LP_ERR_MISSING_FIELD_VALUE:
        return "missing field value";
    case LP_ERR_INVALID_NUMBER:
        return "invalid number";
    case LP_ERR_INVALID_FLOAT:
        return "invalid float";
    case LP_ERR_INTEGER_RANGE:
        return "unable to parse integer";
    case LP_ERR_INVALID_BOOLEAN:
        return "invalid boolean";
    case LP_ERR_UNBALANCED_QUOTES:
        return "unbalanced quotes";
    case LP_ERR_INVALID_FIELD_FORMAT:
        return "invalid field format";
    case LP_ERR_BAD_TIMESTAMP:
        return "bad timestamp";
    case LP_ERR_TIMESTAMP_SYNTAX:
        return "invalid syntax";
    case LP_ERR_TIMESTAMP_RANGE:
        return "value out of range";
    case LP_ERR_TIME_OUTSIDE_RANGE:
        return "time outside range -9223372036854775806 - 9223372036854775806";
    case LP_ERR_POINT_INVALID:
        return "point is invalid";
    case LP_ERR_INVALID_VALUE:
        return "invalid value";
    case LP_ERR_BAD_PRECISION:
        return "invalid precision";
    case LP_ERR_NOSPACE:
        return "buffer too small";
    }
    return "unknown error";
}

/* Copies s[0..n) to dst at logical offset pos, as far as cap allows; returns the new logical offset. */
static size_t put(char *dst, size_t cap, size_t pos, const char *s, size_t n)
{
    if (pos < cap)
        memcpy(dst + pos, s, n < cap - pos ? n : cap - pos);
    return pos + n;
}

static size_t puts_(char *dst, size_t cap, size_t pos, const char *s)
{
    return put(dst, cap, pos, s, strlen(s));
}

size_t lp_line_reason(const lp_line_t *l, char *buf, size_t cap)
{
    size_t pos = 0, room = cap > 0 ? cap - 1 : 0;
    char num[LP_INT64_BUFSZ];

    switch (l->err) {
    case LP_ERR_MAX_KEY_LENGTH:
        lp_format_int64((int64_t)l->_err_num, num);
        pos = puts_(buf, room, pos, "max key length exceeded: ");
        pos = puts_(buf, room, pos, num);
        pos = puts_(buf, room, pos, " > 65535");
        break;
    case LP_ERR_INTEGER_RANGE:
        pos = puts_(buf, room, pos, "unable to parse integer ");
        pos = put(buf, room, pos, l->_err_arg, l->_err_arg_len);
        pos = puts_(buf, room, pos, ": strconv.ParseInt: parsing \"");
        pos = put(buf, room, pos, l->_err_arg, l->_err_arg_len);
        pos = puts_(buf, room, pos, "\": value out of range");
        break;
    case LP_ERR_INVALID_VALUE:
        pos = puts_(buf, room, pos, "invalid value: field-key=");
        pos = put(buf, room, pos, l->_err_arg, l->_err_arg_len);
        break;
    case LP_ERR_TIMESTAMP_SYNTAX:
    case LP_ERR_TIMESTAMP_RANGE:
        pos = puts_(buf, room, pos, "strconv.ParseInt: parsing \"");
        pos = put(buf, room, pos, l->_err_arg, l->_err_arg_len);
        pos =
            puts_(buf, room, pos, l->err == LP_ERR_TIMESTAMP_SYNTAX ? "\": invalid syntax" : "\": value out of range");
        break;
    default:
        pos = puts_(buf, room, pos, lp_strerror(l->err));
        break;
    }
    if (cap > 0)
        buf[pos < room ? pos : room] = '\0';
    return pos;
}

#define PW_PREFIX "partial write: "
#define PW_PREFIX_LEN (sizeof(PW_PREFIX) - 1)
#define PW_SUFFIX " dropped=0"
#define PW_SUFFIX_LEN (sizeof(PW_SUFFIX) - 1)

void lp_errbuf_init(lp_errbuf_t *eb, char *buf, size_t cap)
{
    assert(cap > PW_PREFIX_LEN + PW_SUFFIX_LEN + 1);
    eb->_buf = buf;
    eb->_cap = cap;
    eb->_len = 0;
    eb->count = 0;
    eb->truncated = 0;
}

int lp_errbuf_add(lp_errbuf_t *eb, const lp_line_t *l)
{
    /* entries live between the reserved prefix and the reserved suffix + NUL */
    char *area = eb->_buf + PW_PREFIX_LEN;
    size_t room = eb->_cap - PW_PREFIX_LEN - PW_SUFFIX_LEN - 1, pos = eb->_len, avail;

    eb->count++;
    if (eb->truncated)
        return -1;
    if (eb->count > 1)
        pos = put(area, room, pos, "\n", 1);
    pos = puts_(area, room, pos, "unable to parse '");
    pos = put(area, room, pos, l->line, l->line_len);
    pos = puts_(area, room, pos, "': ");
    avail = pos < room ? room - pos : 0;
    pos += lp_line_reason(l, area + (pos < room ? pos : room), avail > 0 ? avail + 1 : 0);
    if (pos > room) {
        eb->truncated = 1;
        pos = room;
    }
    eb->_len = pos;
    return eb->truncated ? -1 : 0;
}

const char *lp_errbuf_finish(lp_errbuf_t *eb, size_t nvalid, size_t *len)
{
    char *area = eb->_buf + PW_PREFIX_LEN;

    if (eb->count > 0 && nvalid > 0) {
        memcpy(eb->_buf, PW_PREFIX, PW_PREFIX_LEN);
        memcpy(area + eb->_len, PW_SUFFIX, PW_SUFFIX_LEN);
        area[eb->_len + PW_SUFFIX_LEN] = '\0';
        *len = PW_PREFIX_LEN + eb->_len + PW_SUFFIX_LEN;
        return eb->_buf;
    }
    area[eb->_len] = '\0';
    *len = eb->_len;
    return area;
}

/* ---- unescaping -------------------------------------------------------------------------------------- */

static int is_escapable(lp_escape_t kind, char c)
{
    switch (kind) {
    case LP_ESC_MEASUREMENT:
    case LP_ESC_FIELD_KEY:
        return c == ',' || c == ' ' || c == '=' || c == '"';
    case LP_ESC_TAG:
        return c == ',' || c == ' ' || c == '=';
    case LP_ESC_STRING:
        return c == '"' || c == '\\';
    }
    return 0;
}

ssize_t lp_unescape(lp_escape_t kind, const char *src, size_t len, char *dst, size_t cap)
{
    size_t i = 0, o = 0;

    while (i < len) {
        char c = src[i];
        if (c == '\\' && i + 1 < len && is_escapable(kind, src[i + 1])) {
            c = src[i + 1];
            i += 2;
        } else {
            i++;
        }
        if (o >= cap)
            return -1;
        dst[o++] = c;
    }
    return (ssize_t)o;
}

ssize_t lp_unescape_measurement(const lp_line_t *line, char *dst, size_t cap)
{
    return lp_unescape(LP_ESC_MEASUREMENT, line->measurement, line->measurement_len, dst, cap);
}

/* ---- precision and time ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    lp_precision_t prec;
} precision_names[] = {
    {"", LP_PREC_NS},   {"n", LP_PREC_NS}, {"ns", LP_PREC_NS}, {"u", LP_PREC_US}, {"us", LP_PREC_US},
    {"ms", LP_PREC_MS}, {"s", LP_PREC_S},  {"m", LP_PREC_M},   {"h", LP_PREC_H},
};

int lp_parse_precision(const char *s, size_t len, lp_precision_t *out)
{
    size_t i;

    for (i = 0; i < sizeof(precision_names) / sizeof(precision_names[0]); i++) {
        if (strlen(precision_names[i].name) == len && (len == 0 || memcmp(precision_names[i].name, s, len) == 0)) {
            *out = precision_names[i].prec;
            return 0;
        }
    }
    return LP_ERR_BAD_PRECISION;
}

const char *lp_precision_param(lp_precision_t p)
{
    static const char *const names[] = {"n", "u", "ms", "s", "m", "h"};
    return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "n";
}

int64_t lp_precision_ns(lp_precision_t p)
{
    static const int64_t mult[] = {1, 1000, 1000000, 1000000000, 60000000000LL, 3600000000000LL};
    return (unsigned)p < sizeof(mult) / sizeof(mult[0]) ? mult[p] : 1;
}

int64_t lp_now(const struct timespec *now, lp_precision_t p)
{
    int64_t ns = (int64_t)now->tv_sec * 1000000000 + now->tv_nsec, m = lp_precision_ns(p);
    int64_t q = ns / m;

    if (ns % m < 0) /* round toward the past, as influxd truncates times */
        q--;
    return q;
}

size_t lp_format_int64(int64_t v, char *buf)
{
    char tmp[LP_INT64_BUFSZ];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0, len = 0;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        buf[len++] = '-';
    while (n > 0)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}

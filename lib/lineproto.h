/*
 * lineproto — InfluxDB line-protocol scanner and validator (layer 1, pure).
 *
 * The write path splits every request body into lines, needs each line's measurement for routing, must
 * know whether the line carries a timestamp (lines without one get the receive time appended), and must
 * reject exactly the lines influxd 1.6 would reject, with influxd's own reason text.
 *
 * Everything here works on the caller's buffer: results are slices into it, nothing is allocated, every
 * scan is linear in the input and never reads outside [buf, buf + len). Bytes are arbitrary: NUL bytes,
 * invalid UTF-8, lone backslashes and unterminated quotes are handled like influxd handles them.
 *
 * Line splitting follows influxd: a newline inside a quoted string field value belongs to the value, a
 * backslash followed by a newline does not end the line either. Blank lines and lines whose first
 * non-blank byte (blank: space, tab, NUL) is '#' are skipped. Unlike influxd 1.6, a trailing "\r" is
 * removed from every line (SPEC §6: CRLF tolerated); influxd itself would reject such lines.
 *
 * All functions are reentrant and may be called from any thread.
 */
#ifndef IP_LINEPROTO_H
#define IP_LINEPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Negative result codes. The text of each is influxd 1.6's reason (see lp_strerror / lp_line_reason). */
enum {
    LP_OK = 0,
    LP_ERR_MISSING_MEASUREMENT = -1,   /* "missing measurement" */
    LP_ERR_MISSING_FIELDS = -2,        /* "missing fields" */
    LP_ERR_MISSING_TAG_KEY = -3,       /* "missing tag key" */
    LP_ERR_MISSING_TAG_VALUE = -4,     /* "missing tag value" */
    LP_ERR_INVALID_TAG_FORMAT = -5,    /* "invalid tag format" */
    LP_ERR_DUPLICATE_TAGS = -6,        /* "duplicate tags" */
    LP_ERR_MAX_KEY_LENGTH = -7,        /* "max key length exceeded: <n> > 65535" */
    LP_ERR_MISSING_FIELD_KEY = -8,     /* "missing field key" */
    LP_ERR_MISSING_FIELD_VALUE = -9,   /* "missing field value" */
    LP_ERR_INVALID_NUMBER = -10,       /* "invalid number" (also: 'u' suffix, unsupported by influxd 1.6) */
    LP_ERR_INVALID_FLOAT = -11,        /* "invalid float" */
    LP_ERR_INTEGER_RANGE = -12,        /* "unable to parse integer <n>: strconv.ParseInt: ... value out of range" */
    LP_ERR_INVALID_BOOLEAN = -13,      /* "invalid boolean" */
    LP_ERR_UNBALANCED_QUOTES = -14,    /* "unbalanced quotes" */
    LP_ERR_INVALID_FIELD_FORMAT = -15, /* "invalid field format" */
    LP_ERR_BAD_TIMESTAMP = -16,        /* "bad timestamp" */
    LP_ERR_TIMESTAMP_SYNTAX = -17,     /* "strconv.ParseInt: parsing \"-\": invalid syntax" */
    LP_ERR_TIMESTAMP_RANGE = -18,      /* "strconv.ParseInt: parsing \"<ts>\": value out of range" */
    LP_ERR_TIME_OUTSIDE_RANGE = -19,   /* "time outside range -9223372036854775806 - 9223372036854775806" */
    LP_ERR_POINT_INVALID = -20,        /* "point is invalid" (garbage after the timestamp) */
    LP_ERR_INVALID_VALUE = -21,        /* "invalid value: field-key=<rest>" (influxd's second walk of the fields) */
    LP_ERR_BAD_PRECISION = -22,        /* not a line error: unknown precision string */
    LP_ERR_NOSPACE = -23,              /* not a line error: caller's buffer too small */
};

/* influxd's limit on the series key (measurement + tags, and measurement + tags + 4 + field key). */
#define LP_MAX_KEY_LENGTH 65535
/* Bytes lp_format_int64 may write (sign, 19 digits, NUL). */
#define LP_INT64_BUFSZ 21

typedef enum en_lp_precision_t {
    LP_PREC_NS = 0,
    LP_PREC_US,
    LP_PREC_MS,
    LP_PREC_S,
    LP_PREC_M,
    LP_PREC_H,
} lp_precision_t;

/*
 * One parsed line. All pointers are slices into the body given to the iterator (or to lp_parse_line);
 * they are valid as long as that buffer is.
 *   line/line_len        the line as influxd parses and quotes it in errors: leading blanks skipped, no
 *                        '\n', no trailing '\r'. Forward exactly these bytes.
 *   measurement/_len     raw (escaped) measurement; see lp_unescape_measurement. Set whenever it could be
 *                        delimited, even on some errors; 0 length otherwise.
 *   tags/_len            raw tag set after the first unescaped ',' (0 length: no tags); valid lines only
 *   fields/_len          raw field set; valid lines only
 *   ts/ts_len            raw timestamp digits; ts_len == 0 means the line has no timestamp, and then the
 *                        caller appends " <now>" at line + line_len (the line never ends inside a value)
 *   ts_ns                timestamp scaled to nanoseconds by the precision (0 when there is none)
 *   err                  LP_OK or an LP_ERR_* line error; lp_line_reason gives influxd's text
 *   _err_arg/_err_num    details for the dynamic reasons
 */
typedef struct st_lp_line_t {
    const char *line;
    size_t line_len;
    const char *measurement;
    size_t measurement_len;
    const char *tags;
    size_t tags_len;
    const char *fields;
    size_t fields_len;
    const char *ts;
    size_t ts_len;
    int64_t ts_ns;
    int err;
    const char *_err_arg;
    size_t _err_arg_len;
    size_t _err_num;
} lp_line_t;

/* Iterator over the lines of one body; a small value type the caller keeps on its stack. */
typedef struct st_lp_iter_t {
    const char *_buf;
    size_t _len;
    size_t _pos;
    lp_precision_t _prec;
    size_t _fast_lines; /* lines the fast path took (tests) */
    size_t _fast_end;   /* the fast path takes lines starting before this: just past the body's last '\n' */
} lp_iter_t;

/* Starts iterating over body[0..len). The body is borrowed and must outlive the iteration. */
void lp_iter_init(lp_iter_t *it, const char *body, size_t len, lp_precision_t prec);
/* Tests: scan every line with the general scanner only, never the fast path for plain lines (both give
 * the same results; the unit table and the fuzz target compare them). */
void lp_iter_general_only(lp_iter_t *it);

/*
 * Fills *line with the next non-blank, non-comment line and returns 1, or returns 0 at the end of the
 * body. A returned line may be invalid: check line->err. Linear in the length of the line.
 */
int lp_iter_next(lp_iter_t *it, lp_line_t *line);

/*
 * Parses and validates one line (no '\n' terminator expected; leading blanks are skipped, a trailing '\r'
 * is not removed here) the way influxd 1.6 validates a point at parse time. Returns LP_OK or the line's
 * LP_ERR_* code, also stored in line->err. Schema checks done later by influxd (field type conflicts,
 * field or tag named "time") are not parse errors and are not reported.
 */
int lp_parse_line(const char *buf, size_t len, lp_precision_t prec, lp_line_t *line);

/* Static text for a code (dynamic reasons without their details); never NULL. */
const char *lp_strerror(int code);

/*
 * Writes influxd's exact reason for an invalid line (e.g. `invalid field format`) into buf, snprintf
 * style: NUL-terminated when cap > 0, returns the full length the text needs.
 */
size_t lp_line_reason(const lp_line_t *line, char *buf, size_t cap);

/*
 * The /write error body, built like influxd 1.6: one `unable to parse '<line>': <reason>` per invalid
 * line, joined with "\n"; when at least one line of the body was valid the whole text becomes
 * `partial write: <that> dropped=0`. The caller sends it as JSON {"error": ...} with status 400 (the text
 * holds raw line bytes: JSON-escape it). The buffer is the caller's and bounds the message: what does not
 * fit is cut and `truncated` is set; nothing is added after that.
 */
typedef struct st_lp_errbuf_t {
    char *_buf;
    size_t _cap;
    size_t _len;
    size_t count; /* invalid lines added */
    int truncated;
} lp_errbuf_t;

/* Uses buf[0..cap) for the message. cap should exceed 32 bytes; smaller buffers only hold truncations. */
void lp_errbuf_init(lp_errbuf_t *eb, char *buf, size_t cap);
/* Appends the message for one invalid line. Returns 0, or -1 when it did not fit (truncated is set). */
int lp_errbuf_add(lp_errbuf_t *eb, const lp_line_t *line);
/*
 * Finishes the message (may be called once): nvalid is the number of valid lines of the body. Returns a
 * pointer into the buffer and sets *len; the text is NUL-terminated. With count == 0 the text is empty.
 */
const char *lp_errbuf_finish(lp_errbuf_t *eb, size_t nvalid, size_t *len);

/*
 * Unescapes a raw slice the way influxd names things. Measurement and field keys: `\,` `\ ` `\=` `\"`
 * become the character; tag keys and values: `\,` `\ ` `\=`; string field values (without their
 * quotes): `\"` and `\\`. Any other backslash is kept. Writes at most cap bytes (no NUL) and returns the
 * length, or -1 (LP_ERR_NOSPACE semantics) when cap is too small. The result is never longer than len.
 */
typedef enum en_lp_escape_t {
    LP_ESC_MEASUREMENT = 0,
    LP_ESC_FIELD_KEY,
    LP_ESC_TAG,
    LP_ESC_STRING,
} lp_escape_t;
ssize_t lp_unescape(lp_escape_t kind, const char *src, size_t len, char *dst, size_t cap);
/* lp_unescape(LP_ESC_MEASUREMENT, line->measurement, ...) */
ssize_t lp_unescape_measurement(const lp_line_t *line, char *dst, size_t cap);

/*
 * Parses the `precision` query parameter: "" (absent) and n|ns → ns, u|us → us, ms, s, m, h. Returns 0
 * or LP_ERR_BAD_PRECISION.
 */
int lp_parse_precision(const char *s, size_t len, lp_precision_t *out);
/*
 * The spelling to send to a backend. influxd 1.6 does not know "us"/"ns" and silently treats unknown
 * precisions as nanoseconds, so always use this ("n", "u", "ms", "s", "m", "h").
 */
const char *lp_precision_param(lp_precision_t p);
/* Nanoseconds per unit of p. */
int64_t lp_precision_ns(lp_precision_t p);
/* "now" in units of p, from a clock reading the caller supplies (CLOCK_REALTIME), truncated. */
int64_t lp_now(const struct timespec *now, lp_precision_t p);
/* Decimal text of v into buf (>= LP_INT64_BUFSZ bytes), NUL-terminated; returns the length. */
size_t lp_format_int64(int64_t v, char *buf);

#endif

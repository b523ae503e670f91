/*
 * Unit tests for lib/lineproto: table-driven.
 *
 * The main table was recorded against a running influxd 1.6.7 (Debian's influxdb package): each body was
 * POSTed to /write on its own fresh database; for a rejected line the expected reason is influxd's text
 * after "unable to parse '<line>': "; for an accepted one the measurement is the series name influxd
 * stored and the timestamp is the time it stored (0 / no timestamp when it used the receive time). Lines
 * influxd refused only at the schema level (field type conflicts, a field or tag named "time") parsed
 * fine and are listed as valid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lineproto.h"

/* Every body goes through two iterators, the usual one (fast path for plain lines) and one limited to
 * the general scanner; each line must come out of both the same, field by field. */
typedef struct st_both_iter_t {
    lp_iter_t fast, general;
} both_iter_t;

static void both_init(both_iter_t *it, const char *body, size_t len, lp_precision_t prec)
{
    lp_iter_init(&it->fast, body, len, prec);
    lp_iter_init(&it->general, body, len, prec);
    lp_iter_general_only(&it->general);
}

static int both_next(both_iter_t *it, lp_line_t *l)
{
    lp_line_t g;
    int rf = lp_iter_next(&it->fast, l), rg = lp_iter_next(&it->general, &g);

    assert_int_equal(rf, rg);
    if (rf == 0)
        return 0;
    assert_ptr_equal(l->line, g.line);
    assert_int_equal(l->line_len, g.line_len);
    assert_int_equal(l->err, g.err);
    assert_ptr_equal(l->measurement, g.measurement);
    assert_int_equal(l->measurement_len, g.measurement_len);
    assert_ptr_equal(l->tags, g.tags);
    assert_int_equal(l->tags_len, g.tags_len);
    assert_ptr_equal(l->fields, g.fields);
    assert_int_equal(l->fields_len, g.fields_len);
    assert_ptr_equal(l->ts, g.ts);
    assert_int_equal(l->ts_len, g.ts_len);
    assert_int_equal(l->ts_ns, g.ts_ns);
    assert_ptr_equal(l->_err_arg, g._err_arg);
    assert_int_equal(l->_err_arg_len, g._err_arg_len);
    assert_int_equal(l->_err_num, g._err_num);
    assert_int_equal(it->fast._pos, it->general._pos);
    return 1;
}

typedef struct st_case_t {
    const char *body;
    size_t len;
    lp_precision_t prec;
    const char *reason;      /* influxd's reason, or NULL when the line is valid */
    const char *measurement; /* valid lines: unescaped measurement */
    int has_ts;
    int64_t ts_ns;
    size_t measurement_len; /* measurement may hold NUL bytes */
} case_t;

static const case_t cases[] = {
    {"c\\=pu v=1", 9, LP_PREC_NS, NULL, "c=pu", 0, 0LL, 4},
    {"c\\\"pu v=1", 9, LP_PREC_NS, NULL, "c\"pu", 0, 0LL, 4},
    {"c\\\\pu v=1", 9, LP_PREC_NS, NULL, "c\\\\pu", 0, 0LL, 5},
    {"c\\apu v=1", 9, LP_PREC_NS, NULL, "c\\apu", 0, 0LL, 5},
    {"cpu,t\\=k=v\\=x v=1", 17, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu,a=1,a=2 v=1", 15, LP_PREC_NS, "duplicate tags", NULL, 0, 0, 0},
    {"cpu,b=1,a=1,b=3 v=1", 19, LP_PREC_NS, "duplicate tags", NULL, 0, 0, 0},
    {"cpu,a= v=1", 10, LP_PREC_NS, "missing tag value", NULL, 0, 0, 0},
    {"cpu,a v=1", 9, LP_PREC_NS, "missing tag value", NULL, 0, 0, 0},
    {"cpu,=a v=1", 10, LP_PREC_NS, "missing tag key", NULL, 0, 0, 0},
    {"cpu, v=1", 8, LP_PREC_NS, "missing tag key", NULL, 0, 0, 0},
    {",cpu v=1", 8, LP_PREC_NS, "missing measurement", NULL, 0, 0, 0},
    {"cpu,a=1=2 v=1", 13, LP_PREC_NS, "invalid tag format", NULL, 0, 0, 0},
    {"cpu,a=1", 7, LP_PREC_NS, "missing fields", NULL, 0, 0, 0},
    {"cpu,a=1 ", 8, LP_PREC_NS, "invalid field format", NULL, 0, 0, 0},
    {"cpu ", 4, LP_PREC_NS, "invalid field format", NULL, 0, 0, 0},
    {"cpu  ", 5, LP_PREC_NS, "invalid field format", NULL, 0, 0, 0},
    {"cpu v=", 6, LP_PREC_NS, "missing field value", NULL, 0, 0, 0},
    {"cpu v= ", 7, LP_PREC_NS, "missing field value", NULL, 0, 0, 0},
    {"cpu v=,x=1", 10, LP_PREC_NS, "missing field value", NULL, 0, 0, 0},
    {"cpu =1", 6, LP_PREC_NS, "missing field key", NULL, 0, 0, 0},
    {"cpu v=1,=2", 10, LP_PREC_NS, "missing field key", NULL, 0, 0, 0},
    {"cpu v=1,", 8, LP_PREC_NS, "invalid field format", NULL, 0, 0, 0},
    {"cpu v=1,x", 9, LP_PREC_NS, "invalid field format", NULL, 0, 0, 0},
    {"cpu v=1 x", 9, LP_PREC_NS, "bad timestamp", NULL, 0, 0, 0},
    {"cpu v=1 -", 9, LP_PREC_NS, "strconv.ParseInt: parsing \"-\": invalid syntax", NULL, 0, 0, 0},
    {"cpu v=1 1.5", 11, LP_PREC_NS, "bad timestamp", NULL, 0, 0, 0},
    {"cpu v=1 12 ", 11, LP_PREC_NS, NULL, "cpu", 1, 12LL, 3},
    {"cpu v=1 12 x", 12, LP_PREC_NS, "point is invalid", NULL, 0, 0, 0},
    {"cpu v=1 99999999999999999999", 28, LP_PREC_NS,
     "strconv.ParseInt: parsing \"99999999999999999999\": value out of range", NULL, 0, 0, 0},
    {"cpu v=1 9223372036854775807", 27, LP_PREC_NS, "time outside range -9223372036854775806 - 9223372036854775806",
     NULL, 0, 0, 0},
    {"cpu v=1 9223372036854775806", 27, LP_PREC_NS, NULL, "cpu", 1, 9223372036854775806LL, 3},
    {"cpu v=1 -9223372036854775808", 28, LP_PREC_NS, "time outside range -9223372036854775806 - 9223372036854775806",
     NULL, 0, 0, 0},
    {"cpu v=1 -9223372036854775806", 28, LP_PREC_NS, NULL, "cpu", 1, -9223372036854775806LL, 3},
    {"cpu v=1 -9223372036854775807", 28, LP_PREC_NS, "time outside range -9223372036854775806 - 9223372036854775806",
     NULL, 0, 0, 0},
    {"cpu v=1i", 8, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=-1i", 9, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=9223372036854775807i", 26, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=9223372036854775808i", 26, LP_PREC_NS,
     "unable to parse integer 9223372036854775808: strconv.ParseInt: parsing \"9223372036854775808\": value out of "
     "range",
     NULL, 0, 0, 0},
    {"cpu v=-9223372036854775808i", 27, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=-9223372036854775809i", 27, LP_PREC_NS,
     "unable to parse integer -9223372036854775809: strconv.ParseInt: parsing \"-9223372036854775809\": value out of "
     "range",
     NULL, 0, 0, 0},
    {"cpu v=1u", 8, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=1.5i", 10, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=1e5i", 10, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=1i2", 9, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=1ii", 9, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=i", 7, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"cpu v=-", 7, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=-i", 8, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=.", 7, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=.5", 8, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=5.", 8, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=1.2.3", 11, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=1e5", 9, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=1E5", 9, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=1e+5", 10, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=1e-5", 10, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=1e", 8, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"cpu v=1e+", 9, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"cpu v=e5", 8, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"cpu v=1e400", 11, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"cpu v=-1e400", 12, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"cpu v=1e-400", 12, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=NaN", 9, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=nan", 9, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=Inf", 9, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"cpu v=inf", 9, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"cpu v=-Inf", 10, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=n", 7, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=na", 8, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=1x", 8, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=1-2", 9, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=0x10", 10, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=t", 7, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=T", 7, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=true", 10, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=True", 10, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=TRUE", 10, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=tRUE", 10, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"cpu v=f", 7, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=F", 7, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=false", 11, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=False", 11, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=FALSE", 11, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=fals", 10, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"cpu v=yes", 9, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"cpu v=\"abc\"", 11, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=\"a\\\"b\"", 12, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=\"a\\\\b\"", 12, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=\"a\\b\"", 11, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=\"abc", 10, LP_PREC_NS, "unbalanced quotes", NULL, 0, 0, 0},
    {"cpu v=\"abc\\\"", 12, LP_PREC_NS, "unbalanced quotes", NULL, 0, 0, 0},
    {"cpu v=abc\"", 10, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"cpu v=\"\"", 8, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=\"a b\",x=1", 15, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=\"a,b\"", 11, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=\"a=b\"", 11, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=1,v=2", 11, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=1 1 ", 10, LP_PREC_NS, NULL, "cpu", 1, 1LL, 3},
    {"cpu\\ x v=1", 10, LP_PREC_NS, NULL, "cpu x", 0, 0LL, 5},
    {"cpu\\,x v=1", 10, LP_PREC_NS, NULL, "cpu,x", 0, 0LL, 5},
    {"cpu\\ v=1", 8, LP_PREC_NS, "missing fields", NULL, 0, 0, 0},
    {"cpu\\", 4, LP_PREC_NS, "missing fields", NULL, 0, 0, 0},
    {"cpu v\\=x=1", 10, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v\\ x=1", 10, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v\\,x=1", 10, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v\\\"x=1", 10, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu \"v\"=1", 9, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=1\0111", 9, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"\011cpu v=1", 8, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {" cpu v=1", 8, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu\011v=1", 7, LP_PREC_NS, "missing fields", NULL, 0, 0, 0},
    {"cpu v=1  1", 10, LP_PREC_NS, NULL, "cpu", 1, 1LL, 3},
    {"cpu v=1 01", 10, LP_PREC_NS, NULL, "cpu", 1, 1LL, 3},
    {"cpu v=1 +1", 10, LP_PREC_NS, "bad timestamp", NULL, 0, 0, 0},
    {"cpu,a=1  v=1", 12, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu,a=b\\ c v=1", 14, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu,a=b\\,c v=1", 14, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu,a=b\\=c v=1", 14, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu,a\\ b=c v=1", 14, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu,a\\,b=c v=1", 14, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu,a\\\"b=c v=1", 14, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu,a=\"b\" v=1", 13, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu,a=b,b=c,c=d v=1", 19, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu,c=1,b=2,a=3 v=1", 19, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu,c=1,a=2,c=3 v=1", 19, LP_PREC_NS, "duplicate tags", NULL, 0, 0, 0},
    {"time v=1", 8, LP_PREC_NS, NULL, "time", 0, 0LL, 4},
    {"cpu time=1", 10, LP_PREC_NS, NULL, "cpu", 0, 0, 3},
    {"cpu,time=1 v=1", 14, LP_PREC_NS, NULL, "cpu", 0, 0, 3},
    {"c\000pu v=1", 8, LP_PREC_NS, NULL, "c\000pu", 0, 0LL, 4},
    {"\000cpu v=1", 8, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=1\000", 8, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"cpu v=\"a\000b\"", 11, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=1 1\000", 10, LP_PREC_NS, "bad timestamp", NULL, 0, 0, 0},
    {"cpu,a=\000 v=1", 11, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v\000=1", 8, LP_PREC_NS, NULL, "cpu", 0, 0LL, 3},
    {"cpu v=1 9223372036", 18, LP_PREC_S, NULL, "cpu", 1, 9223372036000000000LL, 3},
    {"cpu v=1 9223372037", 18, LP_PREC_S, "time outside range -9223372036854775806 - 9223372036854775806", NULL, 0, 0,
     0},
    {"cpu v=1 -9223372036", 19, LP_PREC_S, NULL, "cpu", 1, -9223372036000000000LL, 3},
    {"cpu v=1 -9223372037", 19, LP_PREC_S, "time outside range -9223372036854775806 - 9223372036854775806", NULL, 0, 0,
     0},
    {"cpu v=1 2562047", 15, LP_PREC_H, NULL, "cpu", 1, 9223369200000000000LL, 3},
    {"cpu v=1 2562048", 15, LP_PREC_H, "time outside range -9223372036854775806 - 9223372036854775806", NULL, 0, 0, 0},
    {"cpu v=1 -2562048", 16, LP_PREC_H, "time outside range -9223372036854775806 - 9223372036854775806", NULL, 0, 0, 0},
    {"cpu v=1 153722867", 17, LP_PREC_M, NULL, "cpu", 1, 9223372020000000000LL, 3},
    {"cpu v=1 153722868", 17, LP_PREC_M, "time outside range -9223372036854775806 - 9223372036854775806", NULL, 0, 0,
     0},
    {"cpu v=1 9223372036854", 21, LP_PREC_MS, NULL, "cpu", 1, 9223372036854000000LL, 3},
    {"cpu v=1 9223372036855", 21, LP_PREC_MS, "time outside range -9223372036854775806 - 9223372036854775806", NULL, 0,
     0, 0},
    {"cpu v=1 9223372036854775", 24, LP_PREC_US, NULL, "cpu", 1, 9223372036854775000LL, 3},
    {"cpu v=1 9223372036854776", 24, LP_PREC_US, "time outside range -9223372036854775806 - 9223372036854775806", NULL,
     0, 0, 0},
    {"cpu v=1 -9223372036854775", 25, LP_PREC_US, NULL, "cpu", 1, -9223372036854775000LL, 3},
    {"cpu v=1 -9223372036854", 22, LP_PREC_MS, NULL, "cpu", 1, -9223372036854000000LL, 3},
    {"cpu v=1 -9223372036855", 22, LP_PREC_MS, "time outside range -9223372036854775806 - 9223372036854775806", NULL, 0,
     0, 0},
    {"cpu v=1 -0", 10, LP_PREC_NS, NULL, "cpu", 1, 0LL, 3},
    {"cpu v=1 --1", 11, LP_PREC_NS, "bad timestamp", NULL, 0, 0, 0},
    {"cpu v=1 1-", 10, LP_PREC_NS, "bad timestamp", NULL, 0, 0, 0},
    {"x\\", 2, LP_PREC_NS, "missing fields", NULL, 0, 0, 0},
    {"x v=\"\\", 6, LP_PREC_NS, "unbalanced quotes", NULL, 0, 0, 0},
    {"x v=1 \\", 7, LP_PREC_NS, "bad timestamp", NULL, 0, 0, 0},
    {"x,a=\\", 5, LP_PREC_NS, "missing fields", NULL, 0, 0, 0},
    {"x,\\", 3, LP_PREC_NS, "missing tag value", NULL, 0, 0, 0},
    {"x v\\", 4, LP_PREC_NS, "invalid field format", NULL, 0, 0, 0},
    {"e7 v=1 \0111", 9, LP_PREC_NS, NULL, "e7", 1, 1LL, 2},
    {"e8 v=1 \0001", 9, LP_PREC_NS, NULL, "e8", 1, 1LL, 2},
    {"e9 v=1 1\011", 9, LP_PREC_NS, "bad timestamp", NULL, 0, 0, 0},
    {"e10 v=1 1 \011", 11, LP_PREC_NS, "point is invalid", NULL, 0, 0, 0},
    {"e11,a=1 v=1,v=2", 15, LP_PREC_NS, NULL, "e11", 0, 0LL, 3},
    {"e13  v=1", 8, LP_PREC_NS, NULL, "e13", 0, 0LL, 3},
    {"e14 v=1,  w=2", 13, LP_PREC_NS, "invalid field format", NULL, 0, 0, 0},
    {"e15 v=1, w=2", 12, LP_PREC_NS, "invalid field format", NULL, 0, 0, 0},
    {"e16 v=\"x\"y", 10, LP_PREC_NS, NULL, "e16", 0, 0LL, 3},
    {"e17 v=\"x\" y", 11, LP_PREC_NS, "bad timestamp", NULL, 0, 0, 0},
    {"e18 v=\"x\"1", 10, LP_PREC_NS, NULL, "e18", 0, 0LL, 3},
    {"e19 v=1\"x\"", 10, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"e20 v=t\"", 8, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"e21 v=\"a\"b\"c\"", 13, LP_PREC_NS, NULL, "e21", 0, 0LL, 3},
    {"e22 v=1,w=\"a,b=c\",x=3", 21, LP_PREC_NS, NULL, "e22", 0, 0LL, 3},
    {"e23 v=-1e-5", 11, LP_PREC_NS, NULL, "e23", 0, 0LL, 3},
    {"e24 v=1e5.5", 11, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"e25 v=1.e5", 10, LP_PREC_NS, NULL, "e25", 0, 0LL, 3},
    {"e26 v=.e5", 9, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"e27 v=-.5", 9, LP_PREC_NS, NULL, "e27", 0, 0LL, 3},
    {"e28 v=1.5e", 10, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"e29 v=00001", 11, LP_PREC_NS, NULL, "e29", 0, 0LL, 3},
    {"e30 v=1e05", 10, LP_PREC_NS, NULL, "e30", 0, 0LL, 3},
    {"e31 "
     "v="
     "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
     "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
     "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
     "9999999999999999999999999999999999999999999999999999999999999",
     406, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"e32 v=-0", 8, LP_PREC_NS, NULL, "e32", 0, 0LL, 3},
    {"e33 v=+1", 8, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"e34 v=1e1e1", 11, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"e35 v=1E-", 9, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"e36 v=1i ", 9, LP_PREC_NS, NULL, "e36", 0, 0LL, 3},
    {"e37 v=1i 5", 10, LP_PREC_NS, NULL, "e37", 1, 5LL, 3},
    {"e38 v=123456789012345678i", 25, LP_PREC_NS, NULL, "e38", 0, 0LL, 3},
    {"e39 v=1234567890123456789i", 26, LP_PREC_NS, NULL, "e39", 0, 0LL, 3},
    {"e41 v=-1234567890123456789i", 27, LP_PREC_NS, NULL, "e41", 0, 0LL, 3},
    {"e42 v=N", 7, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"e43 v=Na", 8, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"e44 v=-n", 8, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"e45 v=1n", 8, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"e46 v=1na", 9, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"e47 v=1nan", 10, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"e48 v=t,w=1", 11, LP_PREC_NS, NULL, "e48", 0, 0LL, 3},
    {"e49 v=tr", 8, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"e50 v=TRue", 10, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"e51 v=T\\ ", 9, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"e52 v\\ =1", 9, LP_PREC_NS, NULL, "e52", 0, 0LL, 3},
    {"e53 \\ v=1", 9, LP_PREC_NS, NULL, "e53", 0, 0LL, 3},
    {"e54 v=1\\ x", 10, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"e55 v=\"a\"\\ ", 11, LP_PREC_NS, NULL, "e55", 0, 0LL, 3},
    {"e56,=x v=1", 10, LP_PREC_NS, "missing tag key", NULL, 0, 0, 0},
    {"e57,a=b,=c v=1", 14, LP_PREC_NS, "missing tag key", NULL, 0, 0, 0},
    {"e58,a=b, v=1", 12, LP_PREC_NS, "missing tag key", NULL, 0, 0, 0},
    {"e59,a=b\\ v=1", 12, LP_PREC_NS, "invalid tag format", NULL, 0, 0, 0},
    {"e60,a\\=b v=1", 12, LP_PREC_NS, "missing tag value", NULL, 0, 0, 0},
    {"e61,a=b\\", 8, LP_PREC_NS, "missing fields", NULL, 0, 0, 0},
    {"e62,a=b\\,c=d v=1", 16, LP_PREC_NS, "invalid tag format", NULL, 0, 0, 0},
    {"e63,a==b v=1", 12, LP_PREC_NS, NULL, "e63", 0, 0LL, 3},
    {"e64,a=b=c v=1", 13, LP_PREC_NS, "invalid tag format", NULL, 0, 0, 0},
    {"e65,a\\ =b v=1", 13, LP_PREC_NS, NULL, "e65", 0, 0LL, 3},
    {"e66,a=b\\ ,c=d v=1", 17, LP_PREC_NS, NULL, "e66", 0, 0LL, 3},
    {"e67 v==1", 8, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"e68 v=1=2", 9, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"e69 v=a=1", 9, LP_PREC_NS, "invalid boolean", NULL, 0, 0, 0},
    {"e70 ==1", 7, LP_PREC_NS, "missing field key", NULL, 0, 0, 0},
    {"e71 v=1,,w=2", 12, LP_PREC_NS, "invalid field format", NULL, 0, 0, 0},
    {"e72 ,v=1", 8, LP_PREC_NS, "invalid field format", NULL, 0, 0, 0},
    {"e73 v=1 1 2", 11, LP_PREC_NS, "point is invalid", NULL, 0, 0, 0},
    {"e74 v=\"a\\\\\"", 11, LP_PREC_NS, NULL, "e74", 0, 0LL, 3},
    {"e75 v=\"a\\\\\\\"b\"", 14, LP_PREC_NS, NULL, "e75", 0, 0LL, 3},
    {"e76 v=1i,w=2u", 13, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"e77 v=18446744073709551615u", 27, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"e78 v=1 1e5", 11, LP_PREC_NS, "bad timestamp", NULL, 0, 0, 0},
    {"e81,b=1,a=2,b=1 v=1", 19, LP_PREC_NS, "duplicate tags", NULL, 0, 0, 0},
    {"e82,a=1,b=1,a\\ =2 v=1", 21, LP_PREC_NS, NULL, "e82", 0, 0LL, 3},
    {"e84,a=1,a\\=x=2 v=1", 18, LP_PREC_NS, NULL, "e84", 0, 0LL, 3},
    {"e85,a=1,A=2 v=1", 15, LP_PREC_NS, NULL, "e85", 0, 0LL, 3},
    {"f1 \011=1", 6, LP_PREC_NS, NULL, "f1", 0, 0LL, 2},
    {"f2 \000=1", 6, LP_PREC_NS, NULL, "f2", 0, 0LL, 2},
    {"g1 v=1e308", 10, LP_PREC_NS, NULL, "g1", 0, 0LL, 2},
    {"g2 v=1.7976931348623157e308", 27, LP_PREC_NS, NULL, "g2", 0, 0LL, 2},
    {"g3 v=1.7976931348623159e308", 27, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"g4 v=1.797693134862315807e308", 29, LP_PREC_NS, NULL, "g4", 0, 0LL, 2},
    {"g5 v=1.797693134862315708e308", 29, LP_PREC_NS, NULL, "g5", 0, 0LL, 2},
    {"g6 v=0.0001e312", 15, LP_PREC_NS, NULL, "g6", 0, 0LL, 2},
    {"g7 v=179769313486231570000000000000000000e273", 45, LP_PREC_NS, NULL, "g7", 0, 0LL, 2},
    {"g8 v=1e99999999999999999999", 27, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"g9 v=0e99999999999", 18, LP_PREC_NS, NULL, "g9", 0, 0LL, 2},
    {"g10 v=1e-99999999999", 20, LP_PREC_NS, NULL, "g10", 0, 0LL, 3},
    {"g11 "
     "v="
     "11111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"
     "11111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"
     "11111111111111111111111111111111111111111111111111111111111111111111111111111111111",
     315, LP_PREC_NS, NULL, "g11", 0, 0LL, 3},
    {"g12 "
     "v="
     "11111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"
     "11111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"
     "111111111111111111111111111111111111111111111111111111111111111111111111111111111111",
     316, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"g13 "
     "v=-"
     "11111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"
     "11111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"
     "11111111111111111111111111111111111111111111111111111111111111111111111111111111111.5",
     318, LP_PREC_NS, NULL, "g13", 0, 0LL, 3},
    {"g14 "
     "v=0."
     "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "00000000000000000000000000000000000000000000000000000000000001e400",
     413, LP_PREC_NS, NULL, "g14", 0, 0LL, 3},
    {"g15 v=9223372036854775807i", 26, LP_PREC_NS, NULL, "g15", 0, 0LL, 3},
    {"g16 v=-9223372036854775808i", 27, LP_PREC_NS, NULL, "g16", 0, 0LL, 3},
    {"g17 v=9223372036854775808i", 26, LP_PREC_NS,
     "unable to parse integer 9223372036854775808: strconv.ParseInt: parsing \"9223372036854775808\": value out of "
     "range",
     NULL, 0, 0, 0},
    {"g18 v=0000000000000000000000001i", 32, LP_PREC_NS, NULL, "g18", 0, 0LL, 3},
    {"g19 v=1.5,w=2e3,x=-3i,y=t,z=\"s\"", 31, LP_PREC_NS, NULL, "g19", 0, 0LL, 3},
    {"g20 v=1E+05", 11, LP_PREC_NS, NULL, "g20", 0, 0LL, 3},
    {"g21 v=1e5i", 10, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"g22 v=-e5", 9, LP_PREC_NS, "invalid float", NULL, 0, 0, 0},
    {"g23 v=1.2.3e4", 13, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"g24 v=12345678901234567890123456", 32, LP_PREC_NS, NULL, "g24", 0, 0LL, 3},
    {"g25 v=1234567890123456789012345.", 32, LP_PREC_NS, NULL, "g25", 0, 0LL, 3},
    {"g26 v=n", 7, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"g27 v=nope", 10, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"g28 v=Nope", 10, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"g29 v=-", 7, LP_PREC_NS, "invalid number", NULL, 0, 0, 0},
    {"g30 v=1 ", 8, LP_PREC_NS, NULL, "g30", 0, 0LL, 3},
    {"g31 v=1  ", 9, LP_PREC_NS, NULL, "g31", 0, 0LL, 3},
    {"g32 v=1 \011", 9, LP_PREC_NS, NULL, "g32", 0, 0LL, 3},
    {"h1,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10,k=11,l=12,m=13,n=14,o=15,p=16,q=17,r=18,a=19 v=1", 92, LP_PREC_NS,
     "duplicate tags", NULL, 0, 0, 0},
    {"h4,a=1,b=2,b=3 v=1", 18, LP_PREC_NS, "duplicate tags", NULL, 0, 0, 0},
    {"h5,b=1,a=1 v=1", 14, LP_PREC_NS, NULL, "h5", 0, 0LL, 2},
    {"h6,a\\,=1,a,=2 v=1", 17, LP_PREC_NS, "missing tag value", NULL, 0, 0, 0},
    {"i6 a=1,b=\"c=\\\"d,e\",f=2", 22, LP_PREC_NS, NULL, "i6", 0, 0LL, 2},
    {"i7,a=x\"y v=\"q", 13, LP_PREC_NS, "unbalanced quotes", NULL, 0, 0, 0},
    {"i8 v=\"a\\\\\\\\\" 5", 14, LP_PREC_NS, NULL, "i8", 1, 5LL, 2},
    {"j1 v=1 1", 8, LP_PREC_NS, NULL, "j1", 1, 1LL, 2},
    {"j2 v=1 1", 8, LP_PREC_NS, NULL, "j2", 1, 1LL, 2},
    {"j3 v=1 1", 8, LP_PREC_S, NULL, "j3", 1, 1000000000LL, 2},
    {"j4 v=1 1", 8, LP_PREC_M, NULL, "j4", 1, 60000000000LL, 2},
    {"j5 v=1 1", 8, LP_PREC_H, NULL, "j5", 1, 3600000000000LL, 2},
    {"j6 v=1 1", 8, LP_PREC_MS, NULL, "j6", 1, 1000000LL, 2},
    {"j7 v=1 1", 8, LP_PREC_US, NULL, "j7", 1, 1000LL, 2},
    /* influxd's second walk of the field set (walkFields), checked against influxd 1.6.7 */
    {"m a\\\\=1", 7, LP_PREC_NS, "invalid value: field-key=a\\\\=1", NULL, 0, 0, 0},
    {"m a\\\\=1 1 2", 11, LP_PREC_NS, "invalid value: field-key=a\\\\=1", NULL, 0, 0, 0},
    {"m a\\\\=1 9223372036854775808", 27, LP_PREC_NS, "invalid value: field-key=a\\\\=1", NULL, 0, 0, 0},
    {"m b=2,a\\\\=1", 11, LP_PREC_NS, "invalid value: field-key=a\\\\=1", NULL, 0, 0, 0},
    {"m,t=1 a\\\\=1", 11, LP_PREC_NS, "invalid value: field-key=a\\\\=1", NULL, 0, 0, 0},
    {"m a\\\\=1i,b\\\\=2 5", 16, LP_PREC_NS, "invalid value: field-key=a\\\\=1i,b\\\\=2", NULL, 0, 0, 0},
    {"m b=\"x\",a\\\\=\"y\"", 15, LP_PREC_NS, "invalid value: field-key=a\\\\=\"y\"", NULL, 0, 0, 0},
    {"m a\\\\\\\\=1", 9, LP_PREC_NS, "invalid value: field-key=a\\\\\\\\=1", NULL, 0, 0, 0},
    {"m b=\"ab\"c=1e5,d", 15, LP_PREC_NS, "invalid value: field-key=d", NULL, 0, 0, 0},
    {"m a\\\\=1,b=2", 11, LP_PREC_NS, NULL, "m", 0, 0LL, 1},
    {"m b=\"ab\"c=1,d=2", 15, LP_PREC_NS, "invalid field format", NULL, 0, 0, 0},
    {"m a=1,b\\\\=", 10, LP_PREC_NS, "missing field value", NULL, 0, 0, 0},
};

/* Parses a one-line body through the iterator; fails the test unless exactly one line comes out. */
static void parse_one(const char *body, size_t len, lp_precision_t prec, lp_line_t *l)
{
    both_iter_t it;
    lp_line_t extra;

    both_init(&it, body, len, prec);
    assert_int_equal(both_next(&it, l), 1);
    assert_int_equal(both_next(&it, &extra), 0);
}

static int check_case(size_t idx, const case_t *c)
{
    lp_line_t l;
    char reason[512], name[256];
    ssize_t n;

    parse_one(c->body, c->len, c->prec, &l);
    if (c->reason != NULL) {
        lp_line_reason(&l, reason, sizeof(reason));
        if (l.err == 0 || strcmp(reason, c->reason) != 0) {
            print_error("case %zu: %s: want error \"%s\", got %d \"%s\"\n", idx, c->body, c->reason, l.err,
                        l.err ? reason : "");
            return 1;
        }
        return 0;
    }
    if (l.err != 0) {
        lp_line_reason(&l, reason, sizeof(reason));
        print_error("case %zu: %s: want valid, got \"%s\"\n", idx, c->body, reason);
        return 1;
    }
    n = lp_unescape_measurement(&l, name, sizeof(name));
    if (n < 0 || (size_t)n != c->measurement_len || memcmp(name, c->measurement, (size_t)n) != 0 ||
        (l.ts_len > 0) != c->has_ts || l.ts_ns != c->ts_ns) {
        print_error("case %zu: %s: measurement/ts mismatch (ts_len %zu, ts_ns %lld)\n", idx, c->body, l.ts_len,
                    (long long)l.ts_ns);
        return 1;
    }
    return 0;
}

static void test_influxd_table(void **state)
{
    size_t i, failed = 0, n = sizeof(cases) / sizeof(cases[0]);

    (void)state;
    assert_true(n >= 150);
    for (i = 0; i < n; i++)
        failed += (size_t)check_case(i, &cases[i]);
    assert_int_equal(failed, 0);
}

/* The error message as influxd quotes it: the line without its leading blanks. */
static void test_error_message_quotes_line(void **state)
{
    static const char body[] = " \t cpu v=1 x";
    char msg[256];
    lp_errbuf_t eb;
    lp_line_t l;
    size_t len;
    const char *m;

    (void)state;
    parse_one(body, sizeof(body) - 1, LP_PREC_NS, &l);
    lp_errbuf_init(&eb, msg, sizeof(msg));
    assert_int_equal(lp_errbuf_add(&eb, &l), 0);
    m = lp_errbuf_finish(&eb, 0, &len);
    assert_string_equal(m, "unable to parse 'cpu v=1 x': bad timestamp");
    assert_int_equal(len, strlen(m));
}

typedef struct st_scan_case_t {
    const char *line;
    const char *measurement;
} scan_case_t;

/* conformance A.4.1 (ScanKey) */
static void test_scankey_vectors(void **state)
{
    static const scan_case_t v[] = {
        {"cpu,host=server01,region=uswest value=1 1434055562000000000", "cpu"},
        {"cpu value=3,value2=4 1434055562000010000", "cpu"},
        {"temper\\ ature,machine=unit42,type=assembly internal=32,external=100 1434055562000000035", "temper ature"},
        {"temper\\,ature,machine=unit143,type=assembly internal=22,external=130 1434055562005000035", "temper,ature"},
        {"\"measurement\\ with\\ spaces\\,\\ commas\\ and\\ \"quotes\"\",tag\\ key\\ with\\ equals\\ \\==tag\\,value\\,"
         "with\"commas\" field_k\\ey\\ with\\ \\==\"string field value, only \\\" need be escaped\"",
         "\"measurement with spaces, commas and \"quotes\"\""},
        {"cpu1,host=server02 value=0.67,id=2i,running=true,status=\"ok\"", "cpu1"},
        {"cpu2,host=server04,region=us-west,direction=out running=false,status=\"fail\" 1596819659", "cpu2"},
        {"cpu3,host=server05,region=cn\\ north,tag\\ key=tag\\ value idle=64,system=1i,user=\"Dwayne Johnson\","
         "admin=true",
         "cpu3"},
        {"cpu3,host=server06,region=cn\\ south,tag\\ key=value\\=with\"equals\" idle=16,system=16i,user=\"Jay "
         "Chou\",admin=false  439888",
         "cpu3"},
        {"cpu3,host=server07,region=cn\\ south,tag\\ key=value\\,with\"commas\" idle=74,system=23i,user=\"Stephen "
         "Chow\" 440204",
         "cpu3"},
        {"cpu4 idle=39,system=56i,user=\"Jay Chou\",brief\\ desc=\"the best \\\"singer\\\"\" 1422568543702", "cpu4"},
        {"measurement\\ with\\ spaces\\,\\ commas\\ and\\ \"quotes\",tag\\ key\\ with\\ equals\\ \\==tag\\ value\\ "
         "with\"spaces\" field_k\\ey\\ with\\ \\==\"string field value, multiple backslashes "
         "\\,\\\\,\\\\\\,\\\\\\\\\"",
         "measurement with spaces, commas and \"quotes\""},
    };
    size_t i;
    char name[256];
    lp_line_t l;
    ssize_t n;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        parse_one(v[i].line, strlen(v[i].line), LP_PREC_NS, &l);
        assert_int_equal(l.err, 0);
        n = lp_unescape_measurement(&l, name, sizeof(name));
        assert_int_equal(n, strlen(v[i].measurement));
        assert_memory_equal(name, v[i].measurement, (size_t)n);
    }
}

typedef struct st_rapid_case_t {
    const char *line;
    int valid;
} rapid_case_t;

/* conformance A.4.3 (RapidCheck: a field set is present); influxd agrees on every vector */
static void test_rapidcheck_vectors(void **state)
{
    static const rapid_case_t v[] = {
        {"cpu1,host=server02,region=us-west value=0.55,id=2i,running=true,status=\"ok\" 1422568543702900257", 1},
        {"cpu2,host=server04,region=us-west,direction=out running=false,status=\"fail\" 1596819659000000000", 1},
        {"cpu3,host=server05,region=cn\\ north,tag\\ key=tag\\ value idle=64,system=1i,user=\"Dwayne Johnson\","
         "admin=true 1434055562000010000",
         1},
        {"cpu3,host=server06,region=cn\\ south,tag\\ key=value\\=with\"equals\" idle=16,system=16i,user=\"Jay "
         "Chou\",admin=false  1422568543702900257",
         1},
        {"cpu3,host=server07,region=cn\\ south,tag\\ key=value\\,with\"commas\" idle=74,system=23i,user=\"Stephen "
         "Chow\" 1583599143422568543",
         1},
        {"cpu4 idle=39,system=56i,user=\"Jay Chou\",brief\\ desc=\"the best \\\"singer\\\"\" 1422568543702000000", 1},
        {"cpu4 idle=47,system=93i,user=\"Stephen Chow\",admin=true,brief\\ desc=\"the best \\\"novelist\\\"\"  "
         "1596819420440000000",
         1},
        {"cpu  1422568543702900257", 0},
        {"cpu\\ idle  1422568543702900257", 0},
        {"cpu\\ idle,host=server02,region=us-west 1422568543702900257", 0},
        {"cpu,host=server02,region\\ area=us-west 1422568543702900257", 0},
        {"cpu,host=server02,region=us\\ west 1422568543702900257", 0},
        {"cpu,host=server02,region=us-west   1422568543702900257", 0},
        {"cpu,host=server02,region=us-west brief\\ value=0.93 1422568543702900257", 1},
        {"cpu,host=server02,region=us\\ west brief\\ value=0.93 1422568543702900257", 1},
        {"cpu,host=server02,region=us-west brief\\ desc=\"test server\" 1422568543702900257", 1},
    };
    size_t i;
    lp_line_t l;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        parse_one(v[i].line, strlen(v[i].line), LP_PREC_NS, &l);
        if ((l.err == 0) != v[i].valid)
            fail_msg("rapidcheck %zu: %s: err %d", i, v[i].line, l.err);
    }
}

typedef struct st_body_line_t {
    const char *measurement; /* unescaped; NULL: the line is invalid */
    int has_ts;
    const char *line; /* expected line text, or NULL to skip the check */
} body_line_t;

static void check_body(const char *body, size_t len, lp_precision_t prec, const body_line_t *want, size_t nwant)
{
    both_iter_t it;
    lp_line_t l;
    size_t i = 0;
    char name[512];
    ssize_t n;

    both_init(&it, body, len, prec);
    while (both_next(&it, &l)) {
        assert_true(i < nwant);
        if (want[i].line != NULL) {
            assert_int_equal(l.line_len, strlen(want[i].line));
            assert_memory_equal(l.line, want[i].line, l.line_len);
        }
        if (want[i].measurement == NULL) {
            assert_int_not_equal(l.err, 0);
        } else {
            if (l.err != 0)
                fail_msg("line %zu unexpectedly invalid: %s", i, lp_strerror(l.err));
            n = lp_unescape_measurement(&l, name, sizeof(name));
            assert_int_equal(n, strlen(want[i].measurement));
            assert_memory_equal(name, want[i].measurement, (size_t)n);
            assert_int_equal(l.ts_len > 0, want[i].has_ts);
        }
        i++;
    }
    assert_int_equal(i, nwant);
}

#define CHECK_BODY(body, prec, ...)                                                                                    \
    do {                                                                                                               \
        static const body_line_t want_[] = {__VA_ARGS__};                                                              \
        check_body(body, sizeof(body) - 1, prec, want_, sizeof(want_) / sizeof(want_[0]));                             \
    } while (0)

/* conformance A.4.4: bodies as clients send them, newlines inside string values included */
static void test_write_body_vectors(void **state)
{
    static const char body[] =
        "cpu1,host=server02 value=0.67,id=2i,running=true,status=\"ok\"\n"
        "cpu1,host=server01,region=us-east,direction=in value=2.0,id=1i,running=false,status=\"fail\" "
        "1583599143422568543\n"
        "cpu4 idle=14,system=31i,user=\"Dwayne Johnson\",admin=true,character=\"\\\", ,\\,\\\\,\\\\\\,\\\\\\\\\"\n"
        "cpu4 idle=39,system=56i,user=\"Jay Chou\",brief\\ desc=\"the best\n \\\"singer\\\"\" 1422568543702\n"
        "cpu4 idle=47,system=93i,user=\"Stephen Chow\",admin=true,brief\\ desc=\"the best\n \\\"novelist\\\"\"  "
        "1596819420440\n"
        "measurement\\ with\\ spaces\\,\\ commas\\ and\\ 'quotes','quote\\ tag\\ key\"=\"quote\\ value' \"quote\\ "
        "field\\ key'=16,system=16i\n"
        "'measurement\\ with\\ spaces\\,\\ commas\\ and\\ 'quotes'','quote\\ tag\\ key\"='quote\\ value\" \"quote\\ "
        "field\\ key'=74,system=23i\n"
        "measurement\\ with\\ emoji\\ we\xe2\x9b\x85\xef\xb8\x8fther,location=us-midwest temper\xf0\x9f\x94\xa5ture=82 "
        "1465839830100400200\n"
        "\"measurement\\ with\\ quo\xe2\x9a\xa1\xef\xb8\x8f"
        "es\\ and\\ emoji\xf0\x9f\x94\xa5\",tag\\ key\\ with\\ sp\xf0\x9f\x9a\x80"
        "ces=tag\\,value\\,with\"commas\" field_k\\ey=\"string field value, only \\\" need be esc\xf0\x9f\x8d\xad"
        "ped\"\n";

    (void)state;
    CHECK_BODY(body, LP_PREC_NS, {"cpu1", 0, NULL}, {"cpu1", 1, NULL}, {"cpu4", 0, NULL},
               {"cpu4", 1,
                "cpu4 idle=39,system=56i,user=\"Jay Chou\",brief\\ desc=\"the best\n \\\"singer\\\"\" 1422568543702"},
               {"cpu4", 1, NULL}, {"measurement with spaces, commas and 'quotes'", 0, NULL},
               {"'measurement with spaces, commas and 'quotes''", 0, NULL},
               {"measurement with emoji we\xe2\x9b\x85\xef\xb8\x8fther", 1, NULL},
               {"\"measurement with quo\xe2\x9a\xa1\xef\xb8\x8f"
                "es and emoji\xf0\x9f\x94\xa5\"",
                0, NULL});
}

/* Plain lines take the fast path, every other shape the general scanner (both_next compares them). */
static void test_fast_path_taken(void **state)
{
    static const char plain[] = "cpu,host=server01,region=uswest value=7.49,count=123i 1700000123000000000\n"
                                "mem free=1i,ok=true,s=\"a b,c=d\"\n"
                                "disk v=-.5 -12\n"
                                "net,a=1,b=2,c=3 x=1.,y=F\n";
    static const char *const general[] = {
        "cpu,host=a\\ b v=1\n",         /* escape */
        "cpu,b=1,a=2 v=1\n",            /* unsorted tags */
        "cpu,a=1,a=2 v=1\n",            /* duplicate tags: an error */
        "cpu  v=1\n",                   /* two blanks */
        "cpu v=1e3\n",                  /* exponent */
        "cpu v=1 123\r\n",              /* CRLF */
        "cpu v=\"multi\nline\"\n",      /* newline in a string */
        "cpu v=1 \n",                   /* trailing blank */
        "cpu v=1234567890123456789i\n", /* 19 digits */
        "# comment\ncpu v=1\n",         /* the comment goes the general way, the next line is fast again */
        "\tcpu v=1\n",                  /* leading blank */
        "cpu v=1",                      /* the last line without its newline */
        "cpu v=1 99999999999999999\n",  /* out of range at precision h */
    };
    both_iter_t it;
    lp_line_t l;
    size_t i, n = 0;

    (void)state;
    both_init(&it, plain, sizeof(plain) - 1, LP_PREC_NS);
    while (both_next(&it, &l)) {
        assert_int_equal(l.err, 0);
        n++;
    }
    assert_int_equal(n, 4);
    assert_int_equal(it.fast._fast_lines, 4);
    assert_int_equal(it.general._fast_lines, 0);
    for (i = 0; i < sizeof(general) / sizeof(general[0]); i++) {
        both_init(&it, general[i], strlen(general[i]),
                  i + 1 == sizeof(general) / sizeof(general[0]) ? LP_PREC_H : LP_PREC_NS);
        n = 0;
        while (both_next(&it, &l))
            n++;
        assert_true(n >= 1);
        if (it.fast._fast_lines != (strncmp(general[i], "# ", 2) == 0 ? 1u : 0u))
            fail_msg("case %zu took the fast path: %s", i, general[i]);
    }
}

/* bodies without any point: nothing comes out */
static void test_no_lines(void **state)
{
    static const char *const bodies[] = {
        "", "\n", "\n\n\n", "\r\n", " \t\r\n", "# only a comment", "  # indented\n\t#tab\n", "#a=\"b c\"\n"};
    both_iter_t it;
    lp_line_t l;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        both_init(&it, bodies[i], strlen(bodies[i]), LP_PREC_NS);
        assert_int_equal(both_next(&it, &l), 0);
    }
    both_init(&it, "\0\0\0", 3, LP_PREC_NS);
    assert_int_equal(both_next(&it, &l), 0);
}

static void test_body_splitting(void **state)
{
    (void)state;
    /* CRLF: the '\r' is not part of the line (SPEC §6), "\r\n" alone is a blank line */
    CHECK_BODY("a v=1\r\n\r\nb v=2 5\r\n", LP_PREC_NS, {"a", 0, "a v=1"}, {"b", 1, "b v=2 5"});
    /* comments after leading blanks, blank lines of spaces, tabs and NULs, last line without '\n' */
    CHECK_BODY("# c1\n  # c2\n\t\n \0 \n\nm v=1\n#tail", LP_PREC_NS, {"m", 0, "m v=1"});
    /* a newline inside a string value belongs to the value */
    CHECK_BODY("m v=\"a\nb\" 5\nn w=1 6", LP_PREC_NS, {"m", 1, "m v=\"a\nb\" 5"}, {"n", 1, "n w=1 6"});
    /* quotes in tags do not protect a newline */
    CHECK_BODY("m,t=\"a\nb\" v=1", LP_PREC_NS, {NULL, 0, "m,t=\"a"}, {"b\"", 0, "b\" v=1"});
    /* a backslash before a newline joins the lines, as in influxd */
    CHECK_BODY("e1\\\ne1x v=1", LP_PREC_NS, {"e1\\\ne1x", 0, NULL});
    /* an unterminated string swallows the rest of the body */
    CHECK_BODY("m v=\"open\nn v=1\nk v=2\n", LP_PREC_NS, {NULL, 0, "m v=\"open\nn v=1\nk v=2"});
    /* a comment line with an open quote also swallows the following lines (influxd splits before it skips) */
    CHECK_BODY("# x a=\"b\ne2 v=1\n\"\nok v=1", LP_PREC_NS, {"ok", 0, "ok v=1"});
    /* trailing lone backslash at the end of the body */
    CHECK_BODY("a v=1\nx\\", LP_PREC_NS, {"a", 0, NULL}, {NULL, 0, "x\\"});
    /* NUL bytes: leading ones are blanks, inside a value they are an error */
    CHECK_BODY("\0\0a v=1\nb v=1\0\n", LP_PREC_NS, {"a", 0, "a v=1"}, {NULL, 0, NULL});
}

static void test_partial_write_message(void **state)
{
    static const char body[] = "cpu v=1\ncpu v=2 x\ncpu v=3 y\n";
    char msg[256];
    lp_errbuf_t eb;
    both_iter_t it;
    lp_line_t l;
    size_t nvalid = 0, len;
    const char *m;

    (void)state;
    lp_errbuf_init(&eb, msg, sizeof(msg));
    both_init(&it, body, sizeof(body) - 1, LP_PREC_NS);
    while (both_next(&it, &l)) {
        if (l.err == 0)
            nvalid++;
        else
            assert_int_equal(lp_errbuf_add(&eb, &l), 0);
    }
    m = lp_errbuf_finish(&eb, nvalid, &len);
    /* recorded from influxd 1.6.7 */
    assert_string_equal(m, "partial write: unable to parse 'cpu v=2 x': bad timestamp\n"
                           "unable to parse 'cpu v=3 y': bad timestamp dropped=0");
    assert_int_equal(len, strlen(m));
    assert_int_equal(eb.count, 2);
    assert_false(eb.truncated);
}

static void test_all_invalid_message(void **state)
{
    static const char body[] = "cpu v=1 x\ncpu v=2 y";
    char msg[128];
    lp_errbuf_t eb;
    both_iter_t it;
    lp_line_t l;
    size_t len;

    (void)state;
    lp_errbuf_init(&eb, msg, sizeof(msg));
    both_init(&it, body, sizeof(body) - 1, LP_PREC_NS);
    while (both_next(&it, &l))
        lp_errbuf_add(&eb, &l);
    assert_string_equal(lp_errbuf_finish(&eb, 0, &len),
                        "unable to parse 'cpu v=1 x': bad timestamp\nunable to parse 'cpu v=2 y': bad timestamp");
}

static void test_errbuf_truncation(void **state)
{
    char msg[40];
    lp_errbuf_t eb;
    lp_line_t l;
    size_t len;
    const char *m;

    (void)state;
    lp_errbuf_init(&eb, msg, sizeof(msg));
    parse_one("cpu v=1 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 51, LP_PREC_NS, &l);
    assert_int_equal(lp_errbuf_add(&eb, &l), -1);
    assert_true(eb.truncated);
    assert_int_equal(lp_errbuf_add(&eb, &l), -1);
    assert_int_equal(eb.count, 2);
    m = lp_errbuf_finish(&eb, 3, &len);
    /* 40 bytes: prefix, 14 bytes of entries, suffix, NUL */
    assert_string_equal(m, "partial write: unable to pars dropped=0");
    assert_int_equal(len, 39);
}

static void test_errbuf_empty(void **state)
{
    char msg[64];
    lp_errbuf_t eb;
    size_t len = 99;

    (void)state;
    lp_errbuf_init(&eb, msg, sizeof(msg));
    assert_string_equal(lp_errbuf_finish(&eb, 5, &len), "");
    assert_int_equal(len, 0);
}

/* a 1 MiB line: valid, then the same with a lone backslash at its very end */
static void test_very_long_line(void **state)
{
    size_t n = 1 << 20, i;
    char *buf = malloc(n + 1);
    lp_line_t l;

    (void)state;
    assert_non_null(buf);
    memcpy(buf, "big v=\"", 7);
    for (i = 7; i < n - 1; i++)
        buf[i] = (char)('a' + i % 26);
    buf[n - 1] = '"';
    parse_one(buf, n, LP_PREC_NS, &l);
    assert_int_equal(l.err, 0);
    assert_int_equal(l.fields_len, n - 4);
    buf[n - 1] = '\\';
    parse_one(buf, n, LP_PREC_NS, &l);
    assert_int_equal(l.err, LP_ERR_UNBALANCED_QUOTES);
    free(buf);
}

static void expect_reason(const char *buf, size_t len, const char *reason)
{
    lp_line_t l;
    char got[256];

    parse_one(buf, len, LP_PREC_NS, &l);
    lp_line_reason(&l, got, sizeof(got));
    assert_string_equal(got, reason);
}

/* series key limit: reasons recorded from influxd 1.6.7 */
static void test_max_key_length(void **state)
{
    size_t cap = 80000;
    char *buf = malloc(cap);
    lp_line_t l;

    (void)state;
    assert_non_null(buf);
    memset(buf, 'k', 65535);
    memcpy(buf + 65535, " v=1", 4);
    expect_reason(buf, 65539, "max key length exceeded: 65540 > 65535");
    memset(buf, 'k', 65536);
    memcpy(buf + 65536, " v=1", 4);
    expect_reason(buf, 65540, "max key length exceeded: 65536 > 65535");
    memset(buf, 'k', 65530);
    memcpy(buf + 65530, " v=1", 4);
    parse_one(buf, 65534, LP_PREC_NS, &l);
    assert_int_equal(l.err, 0);
    memcpy(buf + 65530, " vvvvvv=1", 9);
    expect_reason(buf, 65539, "max key length exceeded: 65540 > 65535");
    /* duplicate tags are reported before the key length */
    memset(buf, 'k', 70000);
    memcpy(buf + 70000 - 12, ",a=1,a=2 v=1", 12);
    expect_reason(buf, 70000, "duplicate tags");
    free(buf);
}

/* duplicate detection on large unsorted tag sets (hash path) */
static void test_many_tags(void **state)
{
    size_t cap = 64000, len, i;
    char *buf = malloc(cap);
    lp_line_t l;

    (void)state;
    assert_non_null(buf);
    len = (size_t)snprintf(buf, cap, "h");
    for (i = 3000; i > 0; i--)
        len += (size_t)snprintf(buf + len, cap - len, ",t%zu=1", i);
    memcpy(buf + len, " v=1", 4);
    parse_one(buf, len + 4, LP_PREC_NS, &l);
    assert_int_equal(l.err, 0);
    len += (size_t)snprintf(buf + len, cap - len, ",t1500=2");
    memcpy(buf + len, " v=1", 4);
    parse_one(buf, len + 4, LP_PREC_NS, &l);
    assert_int_equal(l.err, LP_ERR_DUPLICATE_TAGS);
    free(buf);
}

typedef struct st_unesc_case_t {
    lp_escape_t kind;
    const char *in;
    const char *out;
} unesc_case_t;

static void test_unescape(void **state)
{
    static const unesc_case_t v[] = {
        {LP_ESC_MEASUREMENT, "a\\,b\\ c\\=d\\\"e", "a,b c=d\"e"},
        {LP_ESC_MEASUREMENT, "a\\\\b\\tc", "a\\\\b\\tc"},
        {LP_ESC_MEASUREMENT, "trailing\\", "trailing\\"},
        {LP_ESC_MEASUREMENT, "x\\\\,y", "x\\,y"},
        {LP_ESC_FIELD_KEY, "f\\ k\\=\\\"", "f k=\""},
        {LP_ESC_TAG, "a\\,b\\ c\\=d\\\"e", "a,b c=d\\\"e"},
        {LP_ESC_STRING, "say \\\"hi\\\" \\\\ \\n", "say \"hi\" \\ \\n"},
        {LP_ESC_STRING, "end\\", "end\\"},
        {LP_ESC_STRING, "", ""},
    };
    char out[64];
    size_t i;
    ssize_t n;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        n = lp_unescape(v[i].kind, v[i].in, strlen(v[i].in), out, sizeof(out));
        assert_int_equal(n, strlen(v[i].out));
        assert_memory_equal(out, v[i].out, (size_t)n);
    }
    assert_int_equal(lp_unescape(LP_ESC_MEASUREMENT, "abc", 3, out, 2), -1);
    assert_int_equal(lp_unescape(LP_ESC_MEASUREMENT, "a\\,", 3, out, 2), 2);
}

static void test_precision(void **state)
{
    static const struct {
        const char *s;
        int ok;
        lp_precision_t p;
        const char *param;
        int64_t ns;
    } v[] = {
        {"", 1, LP_PREC_NS, "n", 1},
        {"n", 1, LP_PREC_NS, "n", 1},
        {"ns", 1, LP_PREC_NS, "n", 1},
        {"u", 1, LP_PREC_US, "u", 1000},
        {"us", 1, LP_PREC_US, "u", 1000},
        {"ms", 1, LP_PREC_MS, "ms", 1000000},
        {"s", 1, LP_PREC_S, "s", 1000000000},
        {"m", 1, LP_PREC_M, "m", 60000000000LL},
        {"h", 1, LP_PREC_H, "h", 3600000000000LL},
        {"x", 0, LP_PREC_NS, NULL, 0},
        {"S", 0, LP_PREC_NS, NULL, 0},
        {"mss", 0, LP_PREC_NS, NULL, 0},
        {"rfc3339", 0, LP_PREC_NS, NULL, 0},
    };
    size_t i;
    lp_precision_t p;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        p = LP_PREC_H;
        if (!v[i].ok) {
            assert_int_equal(lp_parse_precision(v[i].s, strlen(v[i].s), &p), LP_ERR_BAD_PRECISION);
            continue;
        }
        assert_int_equal(lp_parse_precision(v[i].s, strlen(v[i].s), &p), 0);
        assert_int_equal(p, v[i].p);
        assert_string_equal(lp_precision_param(p), v[i].param);
        assert_int_equal(lp_precision_ns(p), v[i].ns);
    }
    /* "ms" must not match a prefix of a longer buffer */
    assert_int_equal(lp_parse_precision("msx", 2, &p), 0);
    assert_int_equal(p, LP_PREC_MS);
}

static void test_now_and_format(void **state)
{
    struct timespec ts = {1596819659, 123456789};
    char buf[LP_INT64_BUFSZ];

    (void)state;
    assert_int_equal(lp_now(&ts, LP_PREC_NS), 1596819659123456789LL);
    assert_int_equal(lp_now(&ts, LP_PREC_US), 1596819659123456LL);
    assert_int_equal(lp_now(&ts, LP_PREC_MS), 1596819659123LL);
    assert_int_equal(lp_now(&ts, LP_PREC_S), 1596819659LL);
    assert_int_equal(lp_now(&ts, LP_PREC_M), 26613660LL);
    assert_int_equal(lp_now(&ts, LP_PREC_H), 443561LL);
    assert_int_equal(lp_format_int64(0, buf), 1);
    assert_string_equal(buf, "0");
    assert_int_equal(lp_format_int64(INT64_MIN, buf), 20);
    assert_string_equal(buf, "-9223372036854775808");
    assert_int_equal(lp_format_int64(INT64_MAX, buf), 19);
    assert_string_equal(buf, "9223372036854775807");
    assert_int_equal(lp_format_int64(-42, buf), 3);
    assert_string_equal(buf, "-42");
}

/* a line without timestamp plus " <now>" is valid and carries that time */
static void test_append_now(void **state)
{
    static const char *lines[] = {"cpu v=1", "cpu v=1 ", "cpu v=1 \t", "cpu,a=b v=\"x y\"", "m f=t"};
    struct timespec ts = {1596819659, 0};
    char buf[128], num[LP_INT64_BUFSZ];
    size_t i, n;
    lp_line_t l;

    (void)state;
    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        parse_one(lines[i], strlen(lines[i]), LP_PREC_S, &l);
        assert_int_equal(l.err, 0);
        assert_int_equal(l.ts_len, 0);
        lp_format_int64(lp_now(&ts, LP_PREC_S), num);
        n = (size_t)snprintf(buf, sizeof(buf), "%.*s %s", (int)l.line_len, l.line, num);
        parse_one(buf, n, LP_PREC_S, &l);
        assert_int_equal(l.err, 0);
        assert_int_equal(l.ts_ns, 1596819659000000000LL);
    }
}

static void test_strerror(void **state)
{
    int c;

    (void)state;
    for (c = LP_ERR_NOSPACE; c <= 0; c++)
        assert_string_not_equal(lp_strerror(c), "unknown error");
    assert_string_equal(lp_strerror(1), "unknown error");
    assert_string_equal(lp_strerror(LP_ERR_INVALID_FIELD_FORMAT), "invalid field format");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_influxd_table),
        cmocka_unit_test(test_fast_path_taken),
        cmocka_unit_test(test_error_message_quotes_line),
        cmocka_unit_test(test_scankey_vectors),
        cmocka_unit_test(test_rapidcheck_vectors),
        cmocka_unit_test(test_write_body_vectors),
        cmocka_unit_test(test_body_splitting),
        cmocka_unit_test(test_partial_write_message),
        cmocka_unit_test(test_all_invalid_message),
        cmocka_unit_test(test_errbuf_truncation),
        cmocka_unit_test(test_errbuf_empty),
        cmocka_unit_test(test_no_lines),
        cmocka_unit_test(test_very_long_line),
        cmocka_unit_test(test_max_key_length),
        cmocka_unit_test(test_many_tags),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_precision),
        cmocka_unit_test(test_now_and_format),
        cmocka_unit_test(test_append_now),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

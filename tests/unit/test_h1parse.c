/*
 * Unit tests for lib/h1parse.c: the chunked decoder over a table of bodies, each fed whole, a byte at a time and
 * split at every position, which must all give the same body, the same verdict and the same bytes after the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1parse.h"

typedef struct st_case_t {
    const char *name, *in;
    int want;         /* H1P_END, H1P_MORE, H1P_ERROR */
    const char *body; /* decoded; for H1P_ERROR, what comes before the bad byte */
    size_t extra;     /* bytes after the end */
} case_t;

static const case_t cases[] = {
    {"one chunk", "5\r\nhello\r\n0\r\n\r\n", H1P_END, "hello", 0},
    {"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", H1P_END, "hello world", 0},
    {"empty body", "0\r\n\r\n", H1P_END, "", 0},
    {"upper and lower hex", "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n", H1P_END, "0123456789abcdefghijk", 0},
    {"leading zeros", "0005\r\nhello\r\n000\r\n\r\n", H1P_END, "hello", 0},
    {"extensions", "5;a=b;c\r\nhello\r\n0;last\r\n\r\n", H1P_END, "hello", 0},
    {"space before extension", "5 ;a=1\r\nhello\r\n0\r\n\r\n", H1P_END, "hello", 0},
    {"trailer fields", "5\r\nhello\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n", H1P_END, "hello", 0},
    {"LF only", "5\nhello\n0\n\n", H1P_END, "hello", 0},
    {"LF-only trailer", "5\nhello\n0\nX-A: 1\n\n", H1P_END, "hello", 0},
    {"data holding CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", H1P_END, "\r\n\r\n", 0},
    {"data holding size-like text", "5\r\n0\r\n\r\n\r\n0\r\n\r\n", H1P_END, "0\r\n\r\n", 0},
    {"bytes after the end", "5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200", H1P_END, "hello", 12},
    {"not ended: in the data", "5\r\nhel", H1P_MORE, "hel", 0},
    {"not ended: in a size line", "5\r\nhello\r\n1", H1P_MORE, "hello", 0},
    {"not ended: no last chunk", "5\r\nhello\r\n", H1P_MORE, "hello", 0},
    {"not ended: in the trailer", "5\r\nhello\r\n0\r\nX-A: 1\r\n", H1P_MORE, "hello", 0},
    {"not ended: empty", "", H1P_MORE, "", 0},
    {"no digits", "\r\nhello\r\n0\r\n\r\n", H1P_ERROR, "", 0},
    {"not hex", "xyz\r\nhello\r\n", H1P_ERROR, "", 0},
    {"negative", "-5\r\nhello\r\n", H1P_ERROR, "", 0},
    {"data too long", "5\r\nhelloXX\r\n0\r\n\r\n", H1P_ERROR, "hello", 0},
    {"CR without LF after data", "5\r\nhello\rX0\r\n\r\n", H1P_ERROR, "hello", 0},
    {"CR without LF ending the trailer", "0\r\n\rX", H1P_ERROR, "", 0},
    {"size over 2^60", "10000000000000000\r\nx\r\n", H1P_ERROR, "", 0},
    {"size at 2^60 - 1 is taken", "fffffffffffffff\r\nabc", H1P_MORE, "abc", 0},
};

/* Feeds @in as a client does: a first piece of @first bytes, then pieces of @step bytes (0 = all the rest), each
 * appended behind the body bytes decoded so far and decoded from there. */
static int feed(const char *in, size_t first, size_t step, char *out, size_t *out_len, size_t *extra)
{
    size_t n = strlen(in), off = 0, have = 0, want = first;
    h1p_chunked_t c;
    int rc = H1P_MORE;
    char *buf = malloc(n + 1);

    memset(&c, 0, sizeof(c));
    *extra = 0;
    do {
        size_t k = n - off < want ? n - off : want;
        memcpy(buf + have, in + off, k);
        off += k;
        size_t len = k;
        rc = h1p_dechunk(&c, buf + have, &len, extra);
        assert_true(len <= k);
        have += len;
        if (rc == H1P_END)
            *extra += n - off; /* what the client never fed */
        want = step != 0 ? step : n;
    } while (rc == H1P_MORE && off < n);
    memcpy(out, buf, have);
    *out_len = have;
    free(buf);
    return rc;
}

static void check(const case_t *t, size_t first, size_t step)
{
    char out[256];
    size_t len, extra;
    int rc = feed(t->in, first, step, out, &len, &extra);
    if (rc != t->want)
        fail_msg("%s (%zu bytes, then pieces of %zu): verdict %d, want %d", t->name, first, step, rc, t->want);
    if (len != strlen(t->body) || memcmp(out, t->body, len) != 0)
        fail_msg("%s (%zu bytes, then pieces of %zu): body %.*s, want %s", t->name, first, step, (int)len, out,
                 t->body);
    if (rc == H1P_END && extra != t->extra)
        fail_msg("%s (%zu bytes, then pieces of %zu): %zu bytes after the end, want %zu", t->name, first, step, extra,
                 t->extra);
}

/* Whole, and in pieces of every size. */
static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        size_t n = strlen(cases[i].in);
        check(&cases[i], n, 0);
        for (size_t step = 1; step <= n; ++step)
            check(&cases[i], step, step);
    }
}

/* Split at every single position into two pieces. */
static void test_every_split(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i)
        for (size_t at = 0; at <= strlen(cases[i].in); ++at)
            check(&cases[i], at, 0);
}

/* Decodes the string @text (copied) with @c. */
static int dechunk_text(h1p_chunked_t *c, const char *text, size_t *len, size_t *extra)
{
    char buf[64];
    *len = strlen(text);
    memcpy(buf, text, *len);
    return h1p_dechunk(c, buf, len, extra);
}

/* After the end or an error the state stays final. */
static void test_final_states(void **state)
{
    h1p_chunked_t c;
    size_t len, extra;
    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(dechunk_text(&c, "0\r\n\r\n", &len, &extra), H1P_END);
    assert_int_equal(dechunk_text(&c, "5\r\nhello", &len, &extra), H1P_END);
    assert_int_equal(len, 0);
    assert_int_equal(extra, 8);
    memset(&c, 0, sizeof(c));
    assert_int_equal(dechunk_text(&c, "zz", &len, &extra), H1P_ERROR);
    assert_int_equal(dechunk_text(&c, "5\r\nhello", &len, &extra), H1P_ERROR);
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_final_states),
    };
    return cmocka_run_group_tests_name("h1parse", tests, NULL, NULL);
}

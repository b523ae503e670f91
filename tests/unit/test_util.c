/*
 * Unit tests of util: capped buffers, gzip round trips, multi-member streams, bombs stopped at the
 * cap, corrupt and truncated streams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "util.h"

static void test_ubuf_cap(void **state)
{
    (void)state;
    ubuf_t b;
    ubuf_init(&b, 10);
    assert_int_equal(ubuf_append(&b, "12345", 5), 0);
    assert_int_equal(ubuf_append(&b, "67890", 5), 0);
    assert_int_equal(ubuf_append(&b, "x", 1), UBUF_ETOOBIG);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.base, "1234567890", 10);
    assert_null(ubuf_reserve(&b, SIZE_MAX));
    ubuf_free(&b);
    ubuf_init(&b, 0);
    assert_int_equal(ubuf_append(&b, "", 0), 0);
    assert_int_equal(ubuf_append(&b, "a", 1), UBUF_ETOOBIG);
    ubuf_free(&b);
}

static void roundtrip(const char *data, size_t len, size_t cap, int expect)
{
    ubuf_t z, out;
    ubuf_init(&z, len + 1024);
    ubuf_init(&out, cap);
    assert_int_equal(util_gzip(data, len, &z), 0);
    assert_int_equal(util_gunzip(z.base, z.len, &out), expect);
    if (expect == 0) {
        assert_int_equal(out.len, len);
        if (len != 0)
            assert_memory_equal(out.base, data, len);
    }
    ubuf_free(&z);
    ubuf_free(&out);
}

static void test_gzip_roundtrip(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 100, 65535, 65536, 65537, 1 << 20};
    char *big = malloc(1 << 20);
    for (size_t i = 0; i < (1 << 20); i++)
        big[i] = (char)("cpu,host=a value=1\n"[i % 19]);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        roundtrip(big, sizes[i], sizes[i], 0); /* exactly at the cap */
        if (sizes[i] > 0)
            roundtrip(big, sizes[i], sizes[i] - 1, UTIL_GZ_ETOOBIG); /* one byte over */
    }
    free(big);
}

static void test_gzip_bomb(void **state)
{
    (void)state;
    size_t n = 64 << 20; /* 64 MiB of zeros compress to ~64 KiB */
    char *zeros = calloc(1, n);
    ubuf_t z, out;
    ubuf_init(&z, n + n / 100 + 4096); /* deflateBound */
    ubuf_init(&out, 1 << 20);
    assert_int_equal(util_gzip(zeros, n, &z), 0);
    assert_true(z.len < n / 100); /* a real bomb: over 100:1 */
    assert_int_equal(util_gunzip(z.base, z.len, &out), UTIL_GZ_ETOOBIG);
    assert_true(out.size <= (1 << 20)); /* never allocated past the cap */
    ubuf_free(&z);
    ubuf_free(&out);
    free(zeros);
}

static void test_gzip_multi_member(void **state)
{
    (void)state;
    ubuf_t z, out;
    ubuf_init(&z, 4096);
    ubuf_init(&out, 4096);
    assert_int_equal(util_gzip("first\n", 6, &z), 0);
    assert_int_equal(util_gzip("second\n", 7, &z), 0);
    assert_int_equal(util_gunzip(z.base, z.len, &out), 0);
    assert_int_equal(out.len, 13);
    assert_memory_equal(out.base, "first\nsecond\n", 13);
    ubuf_free(&z);
    ubuf_free(&out);
}

static void test_gzip_bad(void **state)
{
    (void)state;
    ubuf_t z, out;
    ubuf_init(&z, 4096);
    assert_int_equal(util_gzip("cpu value=1\n", 12, &z), 0);
    /* every truncation is an error (Go: unexpected EOF), never a success with partial data */
    for (size_t cut = 0; cut < z.len; cut++) {
        ubuf_init(&out, 4096);
        assert_int_equal(util_gunzip(z.base, cut, &out), UTIL_GZ_EOF);
        ubuf_free(&out);
    }
    /* not gzip at all */
    ubuf_init(&out, 4096);
    assert_int_equal(util_gunzip("cpu value=1\n", 12, &out), UTIL_GZ_EHEADER);
    ubuf_free(&out);
    /* corrupted CRC */
    z.base[z.len - 6] ^= 0x55;
    ubuf_init(&out, 4096);
    assert_int_equal(util_gunzip(z.base, z.len, &out), UTIL_GZ_ECHECKSUM);
    ubuf_free(&out);
    /* corrupted length trailer */
    z.base[z.len - 6] ^= 0x55;
    z.base[z.len - 2] ^= 0x55;
    ubuf_init(&out, 4096);
    assert_int_equal(util_gunzip(z.base, z.len, &out), UTIL_GZ_ECHECKSUM);
    ubuf_free(&out);
    z.base[z.len - 2] ^= 0x55;
    /* trailing garbage after a member: shorter than a header, Go's io.ReadFull fails first */
    for (size_t n = 1; n < 10; n++) {
        ubuf_t t;
        ubuf_init(&t, 4096);
        assert_int_equal(ubuf_append(&t, z.base, z.len), 0);
        assert_int_equal(ubuf_append(&t, "\x1f\x8bxyzxyzx", n), 0);
        ubuf_init(&out, 4096);
        assert_int_equal(util_gunzip(t.base, t.len, &out), UTIL_GZ_EOF);
        ubuf_free(&out);
        ubuf_free(&t);
    }
    assert_int_equal(ubuf_append(&z, "xyzxyzxyzxyz", 12), 0);
    ubuf_init(&out, 4096);
    assert_int_equal(util_gunzip(z.base, z.len, &out), UTIL_GZ_EHEADER);
    ubuf_free(&out);
    assert_string_equal(util_gunzip_strerror(UTIL_GZ_EOF), "unexpected EOF");
    assert_string_equal(util_gunzip_strerror(UTIL_GZ_ECHECKSUM), "gzip: invalid checksum");
    assert_string_equal(util_gunzip_strerror(UTIL_GZ_EHEADER), "gzip: invalid header");
    ubuf_free(&z);
}

static void test_utf8_len(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n, want;
    } cases[] = {
        {"a", 1, 1},
        {"\xc3\xa9", 2, 2},         /* é */
        {"\xe2\x80\x83", 3, 3},     /* U+2003 */
        {"\xf0\x9f\x98\x80", 4, 4}, /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 4}, /* U+10FFFF */
        {"\xc3\xa9", 1, 0},         /* cut short */
        {"\x80", 1, 0},             /* a continuation byte alone */
        {"\xc0\xaf", 2, 0},         /* overlong */
        {"\xe0\x80\xaf", 3, 0},     /* overlong */
        {"\xed\xa0\x80", 3, 0},     /* a surrogate */
        {"\xf4\x90\x80\x80", 4, 0}, /* past U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\xc3x", 2, 0},
        {"\xff", 1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (util_utf8_len(cases[i].s, cases[i].n) != cases[i].want)
            fail_msg("case %zu: got %zu", i, util_utf8_len(cases[i].s, cases[i].n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ubuf_cap),  cmocka_unit_test(test_gzip_roundtrip),
        cmocka_unit_test(test_gzip_bomb), cmocka_unit_test(test_gzip_multi_member),
        cmocka_unit_test(test_gzip_bad),  cmocka_unit_test(test_utf8_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

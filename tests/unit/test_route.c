/*
 * Unit tests of route: which backend gets which line, timestamps added only where missing, nexts,
 * invalid and unroutable lines reported in InfluxDB's words while the others are delivered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "route.h"

/* Backends A, B, C; keymaps cpu→A, mem→B, "c pu"→C, cpu.load.one→C, _default_→A,B (optional); node nexts optional. */
static cfg_t *make_cfg(int with_default, const char *nexts)
{
    static const char *uf[] = {"url"};
    static const char *ua[] = {"http://a"}, *ub[] = {"http://b"}, *uc[] = {"http://c"};
    static const char *cpu[] = {"A"}, *mem[] = {"B"}, *cspu[] = {"C"}, *dflt[] = {"A", "B"};
    cfg_hash_t b[] = {{"A", 1, uf, ua}, {"B", 1, uf, ub}, {"C", 1, uf, uc}};
    cfg_list_t k[] = {
        {"cpu", 1, cpu}, {"mem", 1, mem}, {"c pu", 1, cspu}, {"cpu.load.one", 1, cspu}, {"_default_", 2, dflt}};
    const char *nf[] = {"listenaddr", "nexts"}, *nv[] = {":7000", nexts};
    cfg_hash_t n = {"l1", nexts != NULL ? 2 : 1, nf, nv};
    cfg_src_t src = {b, 3, k, with_default ? 5 : 4, NULL, &n, "l1"};
    cfg_t *cfg;
    char err[512];
    assert_int_equal(cfg_build(&src, &cfg, err, sizeof(err)), 0);
    return cfg;
}

static const struct timespec NOW = {1700000000, 123456789};

static const struct {
    const char *body;
    lp_precision_t prec;
    const char *a, *b, *c; /* expected bodies per backend */
    size_t valid, invalid;
} cases[] = {
    {"cpu v=1 1\n", LP_PREC_NS, "cpu v=1 1\n", "", "", 1, 0},
    {"mem v=1 1", LP_PREC_NS, "", "mem v=1 1\n", "", 1, 0},
    {"disk v=1 5\n", LP_PREC_NS, "disk v=1 5\n", "disk v=1 5\n", "", 1, 0},
    {"c\\ pu v=1 1\n", LP_PREC_NS, "", "", "c\\ pu v=1 1\n", 1, 0},
    {"cpu,host=a v=1\n", LP_PREC_NS, "cpu,host=a v=1 1700000000123456789\n", "", "", 1, 0},
    {"cpu v=1\n", LP_PREC_US, "cpu v=1 1700000000123456\n", "", "", 1, 0},
    {"cpu v=1\n", LP_PREC_MS, "cpu v=1 1700000000123\n", "", "", 1, 0},
    {"cpu v=1\n", LP_PREC_S, "cpu v=1 1700000000\n", "", "", 1, 0},
    {"cpu v=1\n", LP_PREC_M, "cpu v=1 28333333\n", "", "", 1, 0},
    {"cpu v=1\n", LP_PREC_H, "cpu v=1 472222\n", "", "", 1, 0},
    {"cpu v=1 7\r\nmem v=2 8\r\n", LP_PREC_NS, "cpu v=1 7\n", "mem v=2 8\n", "", 2, 0},
    {"\n\n# comment\n   \ncpu v=1 1\n", LP_PREC_NS, "cpu v=1 1\n", "", "", 1, 0},
    {"cpu v=1 1\nbad\nmem v=2 2\n", LP_PREC_NS, "cpu v=1 1\n", "mem v=2 2\n", "", 2, 1},
    {"cpu s=\"a\\\"b\" 1\n", LP_PREC_NS, "cpu s=\"a\\\"b\" 1\n", "", "", 1, 0},
    {"", LP_PREC_NS, "", "", "", 0, 0},
    {"cpu\n", LP_PREC_NS, "", "", "", 0, 1},
    /* more measurements than the lookup remembers, escaped and plain names alike */
    {"cpu v=1 1\nc\\ pu v=1 2\ncpu v=1 3\nc\\ pu v=1 4\nmem v=1 5\nx v=1 6\ny v=1 7\nz v=1 8\ncpu v=1 9\nc\\ pu v=1 "
     "10\n",
     LP_PREC_NS, "cpu v=1 1\ncpu v=1 3\nx v=1 6\ny v=1 7\nz v=1 8\ncpu v=1 9\n",
     "mem v=1 5\nx v=1 6\ny v=1 7\nz v=1 8\n", "c\\ pu v=1 2\nc\\ pu v=1 4\nc\\ pu v=1 10\n", 10, 0},
    /* names alike in their first 8 bytes, or shorter, each with its own route while the lookup remembers them */
    {"cpu.load.one v=1 1\ncpu.load.two v=1 2\ncpu.load v=1 3\ncpu.load.one v=1 4\ncpu.load.two v=1 5\ncpu v=1 6\n"
     "cp v=1\ncpu.load.onf v=1 7\n",
     LP_PREC_NS,
     "cpu.load.two v=1 2\ncpu.load v=1 3\ncpu.load.two v=1 5\ncpu v=1 6\ncp v=1 1700000000123456789\n"
     "cpu.load.onf v=1 7\n",
     "cpu.load.two v=1 2\ncpu.load v=1 3\ncpu.load.two v=1 5\ncp v=1 1700000000123456789\ncpu.load.onf v=1 7\n",
     "cpu.load.one v=1 1\ncpu.load.one v=1 4\n", 8, 0},
};

static void check_body(const rt_write_t *w, size_t b, const char *expected)
{
    size_t len = strlen(expected);
    if (w->out[b].len != len || (len != 0 && memcmp(w->out[b].base, expected, len) != 0))
        fail_msg("backend %zu: expected [%s] got [%.*s]", b, expected, (int)w->out[b].len,
                 w->out[b].base != NULL ? w->out[b].base : "");
}

static void test_cases(void **state)
{
    (void)state;
    cfg_t *cfg = make_cfg(1, NULL);
    /* every case twice: lines always copied, and slices of the body where they can be */
    for (size_t j = 0; j < 2 * sizeof(cases) / sizeof(cases[0]); j++) {
        size_t i = j / 2;
        rt_write_t w;
        rt_write_init(&w, cfg->nbackends, 1 << 20);
        w.borrow_body = (int)(j % 2);
        assert_int_equal(rt_split(cfg, cases[i].body, strlen(cases[i].body), cases[i].prec, &NOW, &w), 0);
        check_body(&w, 0, cases[i].a);
        check_body(&w, 1, cases[i].b);
        check_body(&w, 2, cases[i].c);
        assert_int_equal(w.valid, cases[i].valid);
        assert_int_equal(w.invalid, cases[i].invalid);
        rt_write_free(&w);
    }
    cfg_release(cfg);
}

static int points_into(const rt_slice_t *o, const char *body)
{
    return o->base >= body && o->base + o->len <= body + strlen(body);
}

/* With borrow_body, a backend whose lines are a run of the body as it stands gets a slice of it; any change
 * (a time added, a line of another backend in between, CRLF, a blank line) makes it a copy. */
static void test_slices_of_the_body(void **state)
{
    (void)state;
    cfg_t *cfg = make_cfg(1, NULL);
    static const struct {
        const char *body;
        int a_slice, b_slice; /* backends A and B: expect a slice of the body (1), a copy (0) */
    } cases[] = {
        {"x v=1 1\ny v=2 2\n", 1, 1},                /* _default_: both get the whole body */
        {"cpu v=1 1\ncpu v=2 2\nmem v=3 3\n", 1, 1}, /* each a run of its own */
        {"cpu v=1 1\nmem v=3 3\ncpu v=2 2\n", 0, 1}, /* A's two lines are apart */
        {"x v=1 1\ny v=2\n", 0, 0},                  /* a time added */
        {"x v=1 1\r\ny v=2 2\n", 0, 0},              /* CRLF */
        {"x v=1 1\n\ny v=2 2\n", 0, 0},              /* blank line in between */
        {"x v=1 1\ny v=2 2", 0, 0},                  /* no final newline */
        {"\n# c\nx v=1 1\n", 1, 1},                  /* skipped lines before the first are not part of it */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rt_write_t w;
        rt_write_init(&w, cfg->nbackends, 1 << 20);
        w.borrow_body = 1;
        assert_int_equal(rt_split(cfg, cases[i].body, strlen(cases[i].body), LP_PREC_NS, &NOW, &w), 0);
        if (points_into(&w.out[0], cases[i].body) != cases[i].a_slice ||
            points_into(&w.out[1], cases[i].body) != cases[i].b_slice)
            fail_msg("case %zu: %s", i, cases[i].body);
        rt_write_free(&w);
    }
    cfg_release(cfg);
}

static void test_errors_text(void **state)
{
    (void)state;
    cfg_t *cfg = make_cfg(0, NULL);
    rt_write_t w;
    const char *body = "cpu v=1 1\nbad\nunknown v=1 2\nmem v= 3\n";
    rt_write_init(&w, cfg->nbackends, 1 << 20);
    assert_int_equal(rt_split(cfg, body, strlen(body), LP_PREC_NS, &NOW, &w), 0);
    assert_int_equal(w.valid, 1);
    assert_int_equal(w.invalid, 3);
    assert_int_equal(w.unroutable, 1);
    ubuf_append(&w.errors, "", 1);
    assert_string_equal(w.errors.base,
                        "unable to parse 'bad': missing fields\n"
                        "unable to parse 'unknown v=1 2': measurement \"unknown\" has no backend set (no m:unknown "
                        "and no m:_default_)\n"
                        "unable to parse 'mem v= 3': missing field value");
    check_body(&w, 0, "cpu v=1 1\n");
    rt_write_free(&w);
    cfg_release(cfg);
}

static void test_nexts(void **state)
{
    (void)state;
    cfg_t *cfg = make_cfg(1, "C,A,C");
    rt_write_t w;
    const char *body = "cpu v=1 1\nmem v=2 2\n";
    rt_write_init(&w, cfg->nbackends, 1 << 20);
    assert_int_equal(rt_split(cfg, body, strlen(body), LP_PREC_NS, &NOW, &w), 0);
    check_body(&w, 0, "cpu v=1 1\nmem v=2 2\n"); /* A: keymap for cpu, nexts for mem; once each */
    check_body(&w, 1, "mem v=2 2\n");
    check_body(&w, 2, "cpu v=1 1\nmem v=2 2\n"); /* C listed twice in nexts: still once */
    assert_int_equal(w.nlines[0], 2);
    assert_int_equal(w.nlines[2], 2);
    rt_write_free(&w);
    cfg_release(cfg);
}

static void test_cap(void **state)
{
    (void)state;
    cfg_t *cfg = make_cfg(1, NULL);
    rt_write_t w;
    const char *body = "cpu v=1 1\ncpu v=2 2\n";
    /* copied, and as a slice of the body: the cap holds either way */
    for (int borrow = 0; borrow < 2; borrow++) {
        rt_write_init(&w, cfg->nbackends, 12);
        w.borrow_body = borrow;
        assert_int_equal(rt_split(cfg, body, strlen(body), LP_PREC_NS, &NOW, &w), -1);
        rt_write_free(&w);
    }
    cfg_release(cfg);
}

static void test_many_lines_linear(void **state)
{
    (void)state;
    cfg_t *cfg = make_cfg(1, NULL);
    enum { N = 100000 };
    ubuf_t body;
    ubuf_init(&body, 64 << 20);
    for (int i = 0; i < N; i++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "%s,host=h%d v=%di %d\n", i % 2 ? "cpu" : "mem", i, i, i);
        ubuf_append(&body, line, (size_t)n);
    }
    rt_write_t w;
    rt_write_init(&w, cfg->nbackends, 64 << 20);
    assert_int_equal(rt_split(cfg, body.base, body.len, LP_PREC_NS, &NOW, &w), 0);
    assert_int_equal(w.nlines[0], N / 2);
    assert_int_equal(w.nlines[1], N / 2);
    assert_int_equal(w.out[0].len + w.out[1].len, body.len);
    rt_write_free(&w);
    ubuf_free(&body);
    cfg_release(cfg);
}

/* Backends A (maxrowlimit 3) and B (the default, 10000); _default_ -> A, B. */
static cfg_t *make_cfg_rowlimit(void)
{
    static const char *af[] = {"url", "maxrowlimit"}, *av[] = {"http://a", "3"};
    static const char *bf[] = {"url"}, *bv[] = {"http://b"};
    static const char *dflt[] = {"A", "B"};
    cfg_hash_t b[] = {{"A", 2, af, av}, {"B", 1, bf, bv}};
    cfg_list_t k[] = {{"_default_", 2, dflt}};
    const char *nf[] = {"listenaddr"}, *nv[] = {":7000"};
    cfg_hash_t n = {"l1", 1, nf, nv};
    cfg_src_t src = {b, 2, k, 1, NULL, &n, "l1"};
    cfg_t *cfg;
    char err[512];
    assert_int_equal(cfg_build(&src, &cfg, err, sizeof(err)), 0);
    return cfg;
}

/* Backend @b's pieces as "piece|piece|..." with each piece's line count checked against its '\n' count (@nl_in_str:
 * newlines inside string values, which do not end a line). */
static void check_pieces(const rt_write_t *w, size_t b, const char *expected, size_t nl_in_str)
{
    char got[4096];
    size_t len = 0, lines = 0, n = rt_npieces(w, b), at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t nl, newlines = 0;
        rt_slice_t p = rt_piece(w, b, i, &nl);
        assert_true(p.base == w->out[b].base + at); /* the pieces follow each other in out[b] */
        at += p.len;
        assert_true(p.len > 0 && p.base[p.len - 1] == '\n');
        for (size_t j = 0; j < p.len; j++)
            newlines += p.base[j] == '\n';
        assert_true(nl >= 1 && nl <= newlines);
        lines += nl;
        len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%.*s", i ? "|" : "", (int)p.len, p.base);
    }
    assert_int_equal(at, w->out[b].len);
    assert_int_equal(lines, w->nlines[b]);
    size_t total_nl = 0;
    for (size_t j = 0; j < w->out[b].len; j++)
        total_nl += w->out[b].base[j] == '\n';
    assert_int_equal(total_nl, w->nlines[b] + nl_in_str);
    if (strcmp(got, expected) != 0)
        fail_msg("backend %zu: expected [%s] got [%s]", b, expected, got);
}

/* Each backend's lines in pieces of at most its maxrowlimit lines and piece_bytes bytes, a line too long for a piece a
 * piece of its own; the same whether the lines are copied (times added) or slices of the body. */
static void test_pieces(void **state)
{
    (void)state;
    cfg_t *cfg = make_cfg_rowlimit();
    static const struct {
        const char *body;
        size_t piece_bytes, nl_in_str;
        const char *a, *b;
    } cases[] = {
        {"m v=1 1\n", 0, 0, "m v=1 1\n", "m v=1 1\n"},
        {"m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\nm v=5 5\nm v=6 6\nm v=7 7\n", 0, 0,
         "m v=1 1\nm v=2 2\nm v=3 3\n|m v=4 4\nm v=5 5\nm v=6 6\n|m v=7 7\n",
         "m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\nm v=5 5\nm v=6 6\nm v=7 7\n"},
        /* no times: each line gets one, so every line is a copy */
        {"m v=1\nm v=2\nm v=3\nm v=4\n", 0, 0,
         "m v=1 1700000000123456789\nm v=2 1700000000123456789\nm v=3 1700000000123456789\n|"
         "m v=4 1700000000123456789\n",
         "m v=1 1700000000123456789\nm v=2 1700000000123456789\nm v=3 1700000000123456789\n"
         "m v=4 1700000000123456789\n"},
        /* a run of the body, then copies (a time added): the cut still falls every 3rd line */
        {"m v=1 1\nm v=2 2\nm v=3\nm v=4 4\n", 0, 0, "m v=1 1\nm v=2 2\nm v=3 1700000000123456789\n|m v=4 4\n",
         "m v=1 1\nm v=2 2\nm v=3 1700000000123456789\nm v=4 4\n"},
        /* 16 bytes a piece: two 8-byte lines fit, a 9th byte does not; a longer line alone */
        {"m v=1 1\nm v=2 2\nm v=3 3\nm v=10 10\nm v=4 4\n", 16, 0, "m v=1 1\nm v=2 2\n|m v=3 3\n|m v=10 10\n|m v=4 4\n",
         "m v=1 1\nm v=2 2\n|m v=3 3\n|m v=10 10\n|m v=4 4\n"},
        {"m v=100000000000 1\nm v=1 1\n", 16, 0, "m v=100000000000 1\n|m v=1 1\n", "m v=100000000000 1\n|m v=1 1\n"},
        /* a newline inside a string value does not end the line */
        {"m s=\"a\nb\" 1\nm v=2 2\nm v=3 3\nm v=4 4\n", 0, 1, "m s=\"a\nb\" 1\nm v=2 2\nm v=3 3\n|m v=4 4\n",
         "m s=\"a\nb\" 1\nm v=2 2\nm v=3 3\nm v=4 4\n"},
        /* invalid and skipped lines are not counted */
        {"m v=1 1\nbad\n\n# c\nm v=2 2\nm v=3 3\nm v=4 4\n", 0, 0, "m v=1 1\nm v=2 2\nm v=3 3\n|m v=4 4\n",
         "m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\n"},
    };
    for (size_t j = 0; j < 2 * sizeof(cases) / sizeof(cases[0]); j++) {
        size_t i = j / 2;
        rt_write_t w;
        rt_write_init(&w, cfg->nbackends, 1 << 20);
        w.borrow_body = (int)(j % 2);
        w.piece_bytes = cases[i].piece_bytes != 0 ? cases[i].piece_bytes : RT_PIECE_BYTES;
        assert_int_equal(rt_split(cfg, cases[i].body, strlen(cases[i].body), LP_PREC_NS, &NOW, &w), 0);
        check_pieces(&w, 0, cases[i].a, cases[i].nl_in_str);
        check_pieces(&w, 1, cases[i].b, cases[i].nl_in_str);
        rt_write_free(&w);
    }
    /* piece_bytes 0: one piece whatever maxrowlimit says; a backend without lines has none */
    rt_write_t w;
    rt_write_init(&w, cfg->nbackends, 1 << 20);
    const char *body = "m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\n";
    assert_int_equal(rt_split(cfg, body, strlen(body), LP_PREC_NS, &NOW, &w), 0);
    assert_int_equal(rt_npieces(&w, 0), 1);
    rt_write_free(&w);
    rt_write_init(&w, cfg->nbackends, 1 << 20);
    w.piece_bytes = RT_PIECE_BYTES;
    assert_int_equal(rt_split(cfg, "bad\n", 4, LP_PREC_NS, &NOW, &w), 0);
    assert_int_equal(rt_npieces(&w, 0), 0);
    assert_int_equal(rt_npieces(&w, 1), 0);
    rt_write_free(&w);
    cfg_release(cfg);
}

/* Backends A (maxrowlimit 3), B (maxrowlimit 5), C; keymaps a→A, b→B, ab→A,B, _default_→B,C; nexts as given. */
static cfg_t *make_cfg_mixed(const char *nexts)
{
    static const char *af[] = {"url", "maxrowlimit"}, *av[] = {"http://a", "3"}, *bv[] = {"http://b", "5"};
    static const char *cf[] = {"url"}, *cv[] = {"http://c"};
    static const char *ka[] = {"A"}, *kb[] = {"B"}, *kab[] = {"A", "B"}, *dflt[] = {"B", "C"};
    cfg_hash_t b[] = {{"A", 2, af, av}, {"B", 2, af, bv}, {"C", 1, cf, cv}};
    cfg_list_t k[] = {{"a", 1, ka}, {"b", 1, kb}, {"ab", 2, kab}, {"_default_", 2, dflt}};
    const char *nf[] = {"listenaddr", "nexts"}, *nv[] = {":7000", nexts};
    cfg_hash_t n = {"l1", nexts != NULL ? 2 : 1, nf, nv};
    cfg_src_t src = {b, 3, k, 4, NULL, &n, "l1"};
    cfg_t *cfg;
    char err[512];
    assert_int_equal(cfg_build(&src, &cfg, err, sizeof(err)), 0);
    return cfg;
}

static size_t rnd(uint64_t *seed, size_t n)
{
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    return (size_t)(*seed >> 33) % n;
}

/* Random bodies (keymaps alternating or in runs, lines with and without times, invalid, blank and comment lines, CRLF)
 * under every way of cutting pieces, with and without borrowing the body, and a cap some bodies pass: each backend's
 * pieces are those of a model that appends its lines one by one (what rt_split does with a run of lines at once). */
static void test_pieces_model(void **state)
{
    (void)state;
    static const char *meas[] = {"a", "b", "ab", "zz", "a\\ x"};
    static const size_t targets[][4] = {{0}, {1}, {0, 1}, {1, 2}, {1, 2}}, ntargets[] = {1, 1, 2, 2, 2};
    static const size_t maxrow[] = {3, 5, 10000};
    static const size_t piece_bytes[] = {RT_PIECE_BYTES, 40, 100, 0};
    const char *nexts[] = {NULL, "C", "A,C"};
    uint64_t seed = 42;

    for (size_t nx = 0; nx < 3; nx++) {
        cfg_t *cfg = make_cfg_mixed(nexts[nx]);
        for (int iter = 0; iter < 600; iter++) {
            char body[4096], want[3][4096];
            size_t len = 0, wlen[3] = {0}, wlines[3] = {0}, npieces[3] = {0}, pbytes[3] = {0}, plines[3] = {0};
            size_t pb = piece_bytes[iter % 4], cap = iter % 7 == 0 ? 300 : 1 << 20;
            size_t cuts[3][64];
            int run_of = (int)rnd(&seed, 3); /* 0: any measurement per line, else long runs of one */
            size_t m = rnd(&seed, 5), nlines = 1 + rnd(&seed, 30);
            for (size_t i = 0; i < nlines; i++) {
                char line[128];
                int kind = (int)rnd(&seed, 100);
                if (run_of == 0 || rnd(&seed, 8) == 0)
                    m = rnd(&seed, 5);
                int has_ts = rnd(&seed, 5) != 0;
                int ll = snprintf(line, sizeof(line), "%s,t=%u v=%ui%s", meas[m], (unsigned)rnd(&seed, 1000),
                                  (unsigned)rnd(&seed, 100000), has_ts ? " 1700000000000000001" : "");
                if (kind < 4) { /* invalid: not delivered */
                    len += (size_t)snprintf(body + len, sizeof(body) - len, "%s bad\n", meas[m]);
                    continue;
                }
                if (kind < 7) {
                    len += (size_t)snprintf(body + len, sizeof(body) - len, kind < 5 ? "\n" : "# c\n");
                    continue;
                }
                int crlf = kind < 10, last = i + 1 == nlines && rnd(&seed, 2) == 0;
                len += (size_t)snprintf(body + len, sizeof(body) - len, "%s%s", line, last ? "" : crlf ? "\r\n" : "\n");
                /* the model: this line, with the time added if it has none, to each target once */
                size_t tg[3], nt = 0;
                for (size_t j = 0; j < ntargets[m]; j++)
                    tg[nt++] = targets[m][j];
                for (const char *p = nexts[nx]; p != NULL && *p != '\0'; p += p[1] == ',' ? 2 : 1) {
                    size_t b = (size_t)(*p - 'A'), dup = 0;
                    for (size_t j = 0; j < nt; j++)
                        dup |= tg[j] == b;
                    if (!dup)
                        tg[nt++] = b;
                }
                for (size_t j = 0; j < nt; j++) {
                    size_t b = tg[j], add = (size_t)ll + (has_ts ? 0 : 20) + 1;
                    if (pb != 0 && plines[b] != 0 && (plines[b] >= maxrow[b] || pbytes[b] + add > pb)) {
                        cuts[b][npieces[b]++] = wlen[b];
                        plines[b] = pbytes[b] = 0;
                    }
                    wlen[b] += (size_t)snprintf(want[b] + wlen[b], sizeof(want[b]) - wlen[b], "%s%s\n", line,
                                                has_ts ? "" : " 1700000000123456789");
                    plines[b]++;
                    pbytes[b] += add;
                    wlines[b]++;
                }
            }
            rt_write_t w;
            rt_write_init(&w, cfg->nbackends, cap);
            w.borrow_body = iter % 2;
            w.piece_bytes = pb;
            int rc = rt_split(cfg, body, len, LP_PREC_NS, &NOW, &w);
            int over = wlen[0] > cap || wlen[1] > cap || wlen[2] > cap;
            if (rc != (over ? -1 : 0))
                fail_msg("iteration %d: rt_split gave %d, the model %d, body [%.*s]", iter, rc, over ? -1 : 0, (int)len,
                         body);
            for (size_t b = 0; b < 3 && !over; b++) {
                size_t at = 0, n = rt_npieces(&w, b);
                assert_int_equal(w.nlines[b], wlines[b]);
                assert_int_equal(n, wlines[b] == 0 ? 0 : pb == 0 ? 1 : npieces[b] + 1);
                for (size_t i = 0; i < n; i++) {
                    size_t nl, end = pb == 0 || i == npieces[b] ? wlen[b] : cuts[b][i];
                    rt_slice_t p = rt_piece(&w, b, i, &nl);
                    if (p.len != end - at || memcmp(p.base, want[b] + at, p.len) != 0)
                        fail_msg("iteration %d, backend %zu, piece %zu: [%.*s], the model [%.*s]; body [%.*s]", iter, b,
                                 i, (int)p.len, p.base, (int)(end - at), want[b] + at, (int)len, body);
                    at = end;
                }
            }
            rt_write_free(&w);
        }
        cfg_release(cfg);
    }
}

/* 100,000 lines for a backend with maxrowlimit 3: 33,334 pieces, each of the lines it should hold. */
static void test_many_pieces(void **state)
{
    (void)state;
    cfg_t *cfg = make_cfg_rowlimit();
    enum { N = 100000 };
    ubuf_t body;
    ubuf_init(&body, 64 << 20);
    for (int i = 0; i < N; i++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "m,host=h%d v=%di%s\n", i, i, i % 7 ? " 1" : "");
        ubuf_append(&body, line, (size_t)n);
    }
    rt_write_t w;
    rt_write_init(&w, cfg->nbackends, 64 << 20);
    w.borrow_body = 1;
    w.piece_bytes = RT_PIECE_BYTES;
    assert_int_equal(rt_split(cfg, body.base, body.len, LP_PREC_NS, &NOW, &w), 0);
    assert_int_equal(rt_npieces(&w, 0), (N + 2) / 3);
    assert_int_equal(rt_npieces(&w, 1), N / 10000); /* the default maxrowlimit */
    for (size_t i = 0; i < rt_npieces(&w, 0); i++) {
        size_t nl;
        rt_slice_t p = rt_piece(&w, 0, i, &nl);
        char want[64];
        snprintf(want, sizeof(want), "m,host=h%zu ", i * 3);
        assert_int_equal(nl, i + 1 < rt_npieces(&w, 0) ? 3 : N - i * 3);
        assert_true(p.len > strlen(want) && memcmp(p.base, want, strlen(want)) == 0);
    }
    rt_write_free(&w);
    ubuf_free(&body);
    cfg_release(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),        cmocka_unit_test(test_slices_of_the_body),
        cmocka_unit_test(test_errors_text),  cmocka_unit_test(test_nexts),
        cmocka_unit_test(test_cap),          cmocka_unit_test(test_many_lines_linear),
        cmocka_unit_test(test_pieces),       cmocka_unit_test(test_many_pieces),
        cmocka_unit_test(test_pieces_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

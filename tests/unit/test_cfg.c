/*
 * Unit tests of cfg: defaults of every field, parsing of every type, every validation message,
 * node overlay, keymap routing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "cfg.h"

#define MAXF 16

/* A compact way to write a Redis hash in a table: "field=value" strings. */
typedef struct {
    const char *key;
    const char *kv[MAXF];
} hash_spec_t;

typedef struct {
    const char *fields[MAXF], *values[MAXF];
    char buf[MAXF][256];
    cfg_hash_t h;
} hash_t;

static void make_hash(const hash_spec_t *s, hash_t *out)
{
    size_t n = 0;
    for (; n < MAXF && s->kv[n] != NULL; n++) {
        snprintf(out->buf[n], sizeof(out->buf[n]), "%s", s->kv[n]);
        char *eq = strchr(out->buf[n], '=');
        assert_non_null(eq);
        *eq = '\0';
        out->fields[n] = out->buf[n];
        out->values[n] = eq + 1;
    }
    out->h.key = s->key;
    out->h.n = n;
    out->h.fields = out->fields;
    out->h.values = out->values;
}

/* Builds a config from one backend hash "A", keymaps and node hashes. */
typedef struct {
    hash_spec_t backends[3];
    size_t nbackends;
    struct {
        const char *key;
        const char *items[4];
        size_t n;
    } keymaps[3];
    size_t nkeymaps;
    const hash_spec_t *default_node, *node;
} src_spec_t;

static int build(const src_spec_t *s, cfg_t **cfg, char *err, size_t errcap)
{
    hash_t b[3], dn, n;
    cfg_hash_t bh[3];
    cfg_list_t kl[3];
    for (size_t i = 0; i < s->nbackends; i++) {
        make_hash(&s->backends[i], &b[i]);
        bh[i] = b[i].h;
    }
    for (size_t i = 0; i < s->nkeymaps; i++) {
        kl[i].key = s->keymaps[i].key;
        kl[i].n = s->keymaps[i].n;
        kl[i].items = (const char **)s->keymaps[i].items;
    }
    if (s->default_node != NULL)
        make_hash(s->default_node, &dn);
    if (s->node != NULL)
        make_hash(s->node, &n);
    cfg_src_t src = {bh, s->nbackends, kl, s->nkeymaps, s->default_node ? &dn.h : NULL, s->node ? &n.h : NULL, "l1"};
    return cfg_build(&src, cfg, err, errcap);
}

static const hash_spec_t node_min = {"l1", {"listenaddr=127.0.0.1:7000", NULL}};

static void test_defaults(void **state)
{
    (void)state;
    src_spec_t s = {.backends = {{"A", {"url=http://127.0.0.1:8086/", NULL}}},
                    .nbackends = 1,
                    .keymaps = {{"_default_", {"A"}, 1}},
                    .nkeymaps = 1,
                    .node = &node_min};
    cfg_t *cfg;
    char err[1024];
    assert_int_equal(build(&s, &cfg, err, sizeof(err)), 0);
    const cfg_backend_t *b = &cfg->backends[0];
    assert_string_equal(b->url, "http://127.0.0.1:8086");
    assert_string_equal(b->db, "");
    assert_string_equal(b->zone, "");
    assert_int_equal(b->interval, 0);
    assert_int_equal(b->timeout, 10000);
    assert_int_equal(b->timeoutquery, 600000);
    assert_int_equal(b->maxrowlimit, 10000);
    assert_int_equal(b->checkinterval, 1000);
    assert_int_equal(b->rewriteinterval, 10000);
    assert_int_equal(b->writeonly, 0);
    assert_int_equal(b->gzip, 0);
    assert_int_equal(b->insecure, 0);
    assert_string_equal(b->username, "");
    assert_string_equal(b->password, "");
    const cfg_node_t *n = &cfg->node;
    assert_string_equal(n->name, "l1");
    assert_string_equal(n->listenaddr, "127.0.0.1:7000");
    assert_int_equal(n->interval, 10);
    assert_int_equal(n->idletimeout, 10);
    assert_int_equal(n->queuemaxmb, 1024);
    assert_int_equal(n->maxbodymb, 25);
    assert_int_equal(n->threads, 0);
    assert_int_equal(n->fsync, CFG_FSYNC_EVERYSEC);
    assert_int_equal(n->writetracing, 0);
    assert_int_equal(n->querytracing, 0);
    assert_string_equal(n->datadir, "./data/l1");
    assert_string_equal(n->udpaddr, "");
    assert_int_equal(n->nnexts, 0);
    assert_ptr_equal(cfg->default_keymap, &cfg->keymaps[0]);
    cfg_release(cfg);
}

static void test_every_field_set(void **state)
{
    (void)state;
    static const hash_spec_t node = {"l1",
                                     {"listenaddr=:6667", "db=mydb", "zone=z1", "nexts=B, A", "interval=5",
                                      "idletimeout=30", "writetracing=1", "querytracing=1", "username=u", "password=p",
                                      "datadir=/tmp/x", "queuemaxmb=5", "fsync=always", "maxbodymb=7", "threads=3",
                                      "udpaddr=127.0.0.1:8089"}};
    src_spec_t s = {.backends = {{"A",
                                  {"url=https://h:1", "db=d", "zone=z", "interval=5", "timeout=6", "timeoutquery=7",
                                   "maxrowlimit=8", "checkinterval=9", "rewriteinterval=10", "writeonly=1",
                                   "username=u", "password=p", "gzip=1", "insecure=1", NULL}},
                                 {"B", {"url=http://h2:2", NULL}}},
                    .nbackends = 2,
                    .keymaps = {{"cpu", {"B", "A"}, 2}},
                    .nkeymaps = 1,
                    .node = &node};
    cfg_t *cfg;
    char err[1024];
    assert_int_equal(build(&s, &cfg, err, sizeof(err)), 0);
    const cfg_backend_t *b = &cfg->backends[0];
    assert_string_equal(b->name, "A");
    assert_string_equal(b->url, "https://h:1");
    assert_string_equal(b->db, "d");
    assert_string_equal(b->zone, "z");
    assert_int_equal(b->interval, 5);
    assert_int_equal(b->timeout, 6);
    assert_int_equal(b->timeoutquery, 7);
    assert_int_equal(b->maxrowlimit, 8);
    assert_int_equal(b->checkinterval, 9);
    assert_int_equal(b->rewriteinterval, 10);
    assert_true(b->writeonly && b->gzip && b->insecure);
    assert_string_equal(b->username, "u");
    assert_string_equal(b->password, "p");
    const cfg_node_t *n = &cfg->node;
    assert_string_equal(n->listenaddr, ":6667");
    assert_string_equal(n->db, "mydb");
    assert_string_equal(n->zone, "z1");
    assert_int_equal(n->interval, 5);
    assert_int_equal(n->idletimeout, 30);
    assert_true(n->writetracing && n->querytracing);
    assert_string_equal(n->username, "u");
    assert_string_equal(n->password, "p");
    assert_string_equal(n->datadir, "/tmp/x");
    assert_int_equal(n->queuemaxmb, 5);
    assert_int_equal(n->fsync, CFG_FSYNC_ALWAYS);
    assert_int_equal(n->maxbodymb, 7);
    assert_int_equal(n->threads, 3);
    assert_string_equal(n->udpaddr, "127.0.0.1:8089");
    assert_int_equal(n->nnexts, 2);
    assert_string_equal(cfg->backends[n->next_backends[0]].name, "B");
    assert_string_equal(cfg->backends[n->next_backends[1]].name, "A");
    /* keymap order is kept as written */
    assert_string_equal(cfg->backends[cfg->keymaps[0].backends[0]].name, "B");
    assert_null(cfg->default_keymap);
    cfg_release(cfg);
}

static void test_node_overlay(void **state)
{
    (void)state;
    static const hash_spec_t dn = {"default_node", {"listenaddr=:7001", "zone=dz", "threads=2", NULL}};
    static const hash_spec_t n = {"l1", {"zone=nz", NULL}};
    src_spec_t s = {.backends = {{"A", {"url=http://h", NULL}}},
                    .nbackends = 1,
                    .keymaps = {{"_default_", {"A"}, 1}},
                    .nkeymaps = 1,
                    .default_node = &dn,
                    .node = &n};
    cfg_t *cfg;
    char err[1024];
    assert_int_equal(build(&s, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->node.listenaddr, ":7001");
    assert_string_equal(cfg->node.zone, "nz");
    assert_int_equal(cfg->node.threads, 2);
    cfg_release(cfg);
    /* default_node alone is enough */
    s.node = NULL;
    assert_int_equal(build(&s, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->node.zone, "dz");
    cfg_release(cfg);
}

/* Every validation message: one bad value per row, the message expected among the errors. */
static const struct {
    const char *backend_kv, *node_kv, *keymap_item, *expected;
} error_cases[] = {
    {"url=ftp://h", NULL, NULL, "b:A field \"url\": not an http:// or https:// URL with a host: \"ftp://h\""},
    {"url=http://", NULL, NULL, "b:A field \"url\": not an http:// or https:// URL with a host"},
    {"url=http://a b", NULL, NULL, "b:A field \"url\": not an http:// or https:// URL"},
    {"url=", NULL, NULL, "b:A field \"url\": not an http:// or https:// URL"},
    {"timeout=abc", NULL, NULL, "b:A field \"timeout\": not a non-negative integer: \"abc\""},
    {"timeout=-5", NULL, NULL, "b:A field \"timeout\": not a non-negative integer: \"-5\""},
    {"timeout=0", NULL, NULL, "b:A field \"timeout\": 0 is out of range"},
    {"timeout=1.5", NULL, NULL, "b:A field \"timeout\": not a non-negative integer"},
    {"timeout= 5", NULL, NULL, "b:A field \"timeout\": not a non-negative integer"},
    {"timeout=99999999999999999999999", NULL, NULL, "b:A field \"timeout\": not a non-negative integer"},
    {"interval=x", NULL, NULL, "b:A field \"interval\": not a non-negative integer"},
    {"timeoutquery=", NULL, NULL, "b:A field \"timeoutquery\": not a non-negative integer: \"\""},
    {"maxrowlimit=0", NULL, NULL, "b:A field \"maxrowlimit\": 0 is out of range"},
    {"checkinterval=0", NULL, NULL, "b:A field \"checkinterval\": 0 is out of range"},
    {"rewriteinterval=q", NULL, NULL, "b:A field \"rewriteinterval\": not a non-negative integer"},
    {"writeonly=yes", NULL, NULL, "b:A field \"writeonly\": not 0 or 1: \"yes\""},
    {"gzip=2", NULL, NULL, "b:A field \"gzip\": not 0 or 1"},
    {"insecure=true", NULL, NULL, "b:A field \"insecure\": not 0 or 1"},
    {"colour=red", NULL, NULL, "b:A has unknown field \"colour\""},
    {NULL, "listenaddr=6666", NULL, "n:l1 field \"listenaddr\": not HOST:PORT or :PORT: \"6666\""},
    {NULL, "listenaddr=:99999", NULL, "n:l1 field \"listenaddr\": not HOST:PORT or :PORT"},
    {NULL, "listenaddr=", NULL, "n:l1 field \"listenaddr\": empty"},
    {NULL, "fsync=sometimes", NULL, "n:l1 field \"fsync\": not always, everysec or no: \"sometimes\""},
    {NULL, "threads=65", NULL, "n:l1 field \"threads\": 65 is out of range [0, 64]"},
    {NULL, "queuemaxmb=0", NULL, "n:l1 field \"queuemaxmb\": 0 is out of range"},
    {NULL, "maxbodymb=z", NULL, "n:l1 field \"maxbodymb\": not a non-negative integer"},
    {NULL, "idletimeout=0", NULL, "n:l1 field \"idletimeout\": 0 is out of range"},
    {NULL, "interval=-1", NULL, "n:l1 field \"interval\": not a non-negative integer"},
    {NULL, "writetracing=on", NULL, "n:l1 field \"writetracing\": not 0 or 1"},
    {NULL, "querytracing=2", NULL, "n:l1 field \"querytracing\": not 0 or 1"},
    {NULL, "nexts=A,zz", NULL, "n:l1 field \"nexts\": unknown backend \"zz\""},
    {NULL, "udpaddr=nope", NULL, "n:l1 field \"udpaddr\": not HOST:PORT or :PORT"},
    {NULL, "udpprecision=x", NULL, "n:l1 field \"udpprecision\": not one of n, ns, u, us, ms, s, m, h: \"x\""},
    {NULL, "nodefield=1", NULL, "n:l1 has unknown field \"nodefield\""},
    {NULL, NULL, "ghost", "m:cpu names unknown backend \"ghost\""},
    {NULL, NULL, "A", "m:cpu names backend \"A\" twice"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        hash_spec_t b = {"A", {"url=http://h:1", error_cases[i].backend_kv, NULL}};
        if (error_cases[i].backend_kv != NULL && strncmp(error_cases[i].backend_kv, "url=", 4) == 0)
            b.kv[0] = error_cases[i].backend_kv, b.kv[1] = NULL;
        hash_spec_t n = {"l1", {"listenaddr=:7000", error_cases[i].node_kv, NULL}};
        if (error_cases[i].node_kv != NULL && strncmp(error_cases[i].node_kv, "listenaddr=", 11) == 0)
            n.kv[0] = error_cases[i].node_kv, n.kv[1] = NULL;
        src_spec_t s = {.backends = {b}, .nbackends = 1, .keymaps = {{"cpu", {"A"}, 1}}, .nkeymaps = 1, .node = &n};
        if (error_cases[i].keymap_item != NULL) {
            s.keymaps[0].items[1] = error_cases[i].keymap_item;
            s.keymaps[0].n = 2;
        }
        cfg_t *cfg = (cfg_t *)0x1;
        char err[2048];
        int ret = build(&s, &cfg, err, sizeof(err));
        if (ret != -1 || strstr(err, error_cases[i].expected) == NULL)
            fail_msg("case %zu: expected error containing [%s], got ret %d [%s]", i, error_cases[i].expected, ret, err);
        assert_null(cfg);
    }
}

static void test_every_problem_reported(void **state)
{
    (void)state;
    static const hash_spec_t n = {"l1", {"listenaddr=:7000", "fsync=x", NULL}};
    src_spec_t s = {.backends = {{"A", {"url=bad", "timeout=x", NULL}}, {"B", {"timeout=1", NULL}}},
                    .nbackends = 2,
                    .keymaps = {{"cpu", {"A", "nope"}, 2}, {"mem", {NULL}, 0}},
                    .nkeymaps = 2,
                    .node = &n};
    cfg_t *cfg;
    char err[4096];
    assert_int_equal(build(&s, &cfg, err, sizeof(err)), -1);
    static const char *const expected[] = {"b:A field \"url\"",
                                           "b:A field \"timeout\"",
                                           "b:B field \"url\": missing (required)",
                                           "m:cpu names unknown backend \"nope\"",
                                           "m:mem is an empty list",
                                           "n:l1 field \"fsync\""};
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        if (strstr(err, expected[i]) == NULL)
            fail_msg("missing [%s] in [%s]", expected[i], err);
    /* one problem per line */
    size_t lines = 1;
    for (const char *p = err; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 6);
}

static void test_missing_node_and_keymaps(void **state)
{
    (void)state;
    src_spec_t s = {.backends = {{"A", {"url=http://h", NULL}}}, .nbackends = 1};
    cfg_t *cfg;
    char err[1024];
    assert_int_equal(build(&s, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "node \"l1\" not found in redis (no n:l1 and no default_node)"));
    assert_non_null(strstr(err, "m: no keymaps at all"));
}

static void test_error_buffer_truncation(void **state)
{
    (void)state;
    src_spec_t s = {.backends = {{"A", {"url=bad", "timeout=x", "gzip=3", NULL}}},
                    .nbackends = 1,
                    .keymaps = {{"cpu", {"A"}, 1}},
                    .nkeymaps = 1,
                    .node = &node_min};
    cfg_t *cfg;
    char err[16];
    memset(err, 'x', sizeof(err));
    assert_int_equal(build(&s, &cfg, err, sizeof(err)), -1);
    assert_true(strlen(err) < sizeof(err));
}

static void test_routing_hash(void **state)
{
    (void)state;
    src_spec_t s = {.backends = {{"A", {"url=http://a", NULL}}, {"B", {"url=http://b", NULL}}},
                    .nbackends = 2,
                    .keymaps = {{"cpu", {"A"}, 1}, {"_default_", {"A", "B"}, 2}, {"c p,u", {"B"}, 1}},
                    .nkeymaps = 3,
                    .node = &node_min};
    cfg_t *cfg;
    char err[1024];
    assert_int_equal(build(&s, &cfg, err, sizeof(err)), 0);
    const cfg_keymap_t *k = cfg_route(cfg, "cpu", 3);
    assert_string_equal(k->measurement, "cpu");
    assert_int_equal(k->n, 1);
    assert_string_equal(cfg_route(cfg, "c p,u", 5)->measurement, "c p,u");
    assert_string_equal(cfg_route(cfg, "cp", 2)->measurement, "_default_");
    assert_string_equal(cfg_route(cfg, "cpux", 4)->measurement, "_default_");
    assert_null(cfg_keymap_find(cfg, "cpux", 4));
    assert_null(cfg_keymap_find(cfg, "", 0));
    /* a name with NUL bytes (line protocol allows them) is none of the keymaps, wherever its hash falls */
    char nul_name[72] = "cpu";
    for (size_t n = 4; n < sizeof(nul_name); n++) {
        nul_name[n - 1] = n % 9 == 0 ? 'x' : '\0';
        assert_null(cfg_keymap_find(cfg, nul_name, n));
        assert_string_equal(cfg_route(cfg, nul_name, n)->measurement, "_default_");
    }
    assert_int_equal(cfg_backend_index(cfg, "B"), 1);
    assert_int_equal(cfg_backend_index(cfg, "C"), -1);
    /* references */
    cfg_retain(cfg);
    cfg_release(cfg);
    assert_string_equal(cfg->backends[0].name, "A");
    cfg_release(cfg);
}

static void test_many_keymaps(void **state)
{
    (void)state;
    enum { N = 5000 };
    static char names[N][16];
    static cfg_list_t lists[N];
    static const char *items[] = {"A"};
    hash_t b, n;
    hash_spec_t bs = {"A", {"url=http://a", NULL}};
    make_hash(&bs, &b);
    make_hash(&node_min, &n);
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "m%zu", i);
        lists[i] = (cfg_list_t){names[i], 1, items};
    }
    cfg_src_t src = {&b.h, 1, lists, N, NULL, &n.h, "l1"};
    cfg_t *cfg;
    char err[256];
    assert_int_equal(cfg_build(&src, &cfg, err, sizeof(err)), 0);
    for (size_t i = 0; i < N; i++)
        assert_string_equal(cfg_keymap_find(cfg, names[i], strlen(names[i]))->measurement, names[i]);
    assert_null(cfg_route(cfg, "zzz", 3));
    cfg_release(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_field_set),
        cmocka_unit_test(test_node_overlay),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_every_problem_reported),
        cmocka_unit_test(test_missing_node_and_keymaps),
        cmocka_unit_test(test_error_buffer_truncation),
        cmocka_unit_test(test_routing_hash),
        cmocka_unit_test(test_many_keymaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests of meta: /meta carries every configured field with its effective value and type,
 * secrets masked; /health passes only when every keymap has a healthy backend.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "cfg.h"
#include "meta.h"

static cfg_t *make_cfg(void)
{
    static const char *af[] = {"url", "password", "writeonly", "timeout"};
    static const char *av[] = {"http://a:1", "secret", "1", "250"};
    static const char *bf[] = {"url"};
    static const char *bv[] = {"http://b:2"};
    static const char *nf[] = {"listenaddr", "password", "fsync"};
    static const char *nv[] = {"127.0.0.1:7000", "nodesecret", "no"};
    static const char *cpu[] = {"A"}, *dflt[] = {"A", "B"};
    cfg_hash_t b[] = {{"A", 4, af, av}, {"B", 1, bf, bv}};
    cfg_list_t k[] = {{"cpu", 1, cpu}, {"_default_", 2, dflt}};
    cfg_hash_t n = {"l1", 3, nf, nv};
    cfg_src_t src = {b, 2, k, 2, NULL, &n, "l1"};
    cfg_t *cfg;
    char err[512];
    assert_int_equal(cfg_build(&src, &cfg, err, sizeof(err)), 0);
    return cfg;
}

static json_t *parse(char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    free(s);
    assert_non_null(j);
    return j;
}

static void test_meta_document(void **state)
{
    (void)state;
    cfg_t *cfg = make_cfg();
    int healthy[] = {1, 0};
    meta_queue_t q[] = {{10, 2, 3, 1, 1}, {0, 0, 0, 0, 0}};
    meta_counters_t c[] = {{.writes_ok = 4, .lines_ok = 400, .bytes_ok = 9000, .lines_queued = 7},
                           {.queries_failed = 2}};
    meta_rt_t rt = {.version = "9.9",
                    .listen = "127.0.0.1:7000",
                    .uptime_s = 5,
                    .config_loaded_at = 100,
                    .healthy = healthy,
                    .queues = q,
                    .counters = c};
    json_t *j = parse(meta_build(cfg, &rt));
    json_t *a = json_object_get(json_object_get(j, "backends"), "A");
    assert_string_equal(json_string_value(json_object_get(a, "url")), "http://a:1");
    assert_string_equal(json_string_value(json_object_get(a, "password")), "******");
    assert_true(json_is_true(json_object_get(a, "writeonly")));
    assert_true(json_is_false(json_object_get(a, "gzip")));
    assert_int_equal(json_integer_value(json_object_get(a, "timeout")), 250);
    assert_int_equal(json_integer_value(json_object_get(a, "timeoutquery")), 600000);
    assert_string_equal(json_string_value(json_object_get(a, "db")), "");
    /* every field of the table is there */
    for (const cfg_field_t *f = cfg_backend_fields; f->name != NULL; f++)
        assert_non_null(json_object_get(a, f->name));
    json_t *bb = json_object_get(json_object_get(j, "backends"), "B");
    assert_string_equal(json_string_value(json_object_get(bb, "password")), "");
    json_t *st = json_object_get(j, "backendStatus");
    assert_true(json_is_true(json_object_get(st, "A")));
    assert_true(json_is_false(json_object_get(st, "B")));
    json_t *km = json_object_get(j, "measurementToBackends");
    assert_int_equal(json_array_size(json_object_get(km, "_default_")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(km, "_default_"), 1)), "B");
    json_t *node = json_object_get(j, "node");
    assert_string_equal(json_string_value(json_object_get(node, "name")), "l1");
    assert_string_equal(json_string_value(json_object_get(node, "listen")), "127.0.0.1:7000");
    assert_true(json_is_null(json_object_get(node, "reload_error")));
    json_t *nc = json_object_get(node, "config");
    assert_string_equal(json_string_value(json_object_get(nc, "password")), "******");
    assert_string_equal(json_string_value(json_object_get(nc, "fsync")), "no");
    assert_string_equal(json_string_value(json_object_get(nc, "datadir")), "./data/l1");
    json_t *qa = json_object_get(json_object_get(j, "queues"), "A");
    assert_int_equal(json_integer_value(json_object_get(qa, "bytes")), 10);
    assert_true(json_is_true(json_object_get(qa, "replaying")));
    assert_true(json_is_array(json_object_get(j, "proxies")));
    json_t *sa = json_object_get(json_object_get(j, "stats"), "A");
    assert_int_equal(json_integer_value(json_object_get(sa, "lines_ok")), 400);
    assert_int_equal(json_integer_value(json_object_get(sa, "bytes_ok")), 9000);
    assert_int_equal(json_integer_value(json_object_get(sa, "lines_queued")), 7);
    json_t *sb = json_object_get(json_object_get(j, "stats"), "B");
    assert_int_equal(json_integer_value(json_object_get(sb, "queries_failed")), 2);
    assert_int_equal(json_integer_value(json_object_get(sb, "writes_ok")), 0);
    /* no secret anywhere in the document */
    char *s = json_dumps(j, 0);
    assert_null(strstr(s, "secret"));
    free(s);
    json_decref(j);
    cfg_release(cfg);
}

static void test_meta_without_queues(void **state)
{
    (void)state;
    cfg_t *cfg = make_cfg();
    int healthy[] = {0, 0};
    meta_rt_t rt = {.version = "v", .listen = "l", .healthy = healthy, .reload_error = "bad"};
    json_t *j = parse(meta_build(cfg, &rt));
    assert_null(json_object_get(j, "queues"));
    assert_null(json_object_get(j, "stats"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "node"), "reload_error")), "bad");
    json_decref(j);
    cfg_release(cfg);
}

static const struct {
    int a, b, pass;
    const char *failing;
} health_cases[] = {
    {1, 1, 1, NULL},
    {1, 0, 1, NULL},
    {0, 1, 0, "cpu"},
    {0, 0, 0, "_default_"},
};

static void test_health(void **state)
{
    (void)state;
    cfg_t *cfg = make_cfg();
    for (size_t i = 0; i < sizeof(health_cases) / sizeof(health_cases[0]); i++) {
        int healthy[] = {health_cases[i].a, health_cases[i].b}, pass = -1;
        meta_rt_t rt = {.version = "v", .listen = "l", .healthy = healthy};
        json_t *j = parse(meta_health(cfg, &rt, &pass));
        assert_int_equal(pass, health_cases[i].pass);
        assert_string_equal(json_string_value(json_object_get(j, "status")), pass ? "pass" : "fail");
        json_t *f = json_object_get(j, "keymaps_without_healthy_backend");
        if (health_cases[i].failing == NULL) {
            assert_int_equal(json_array_size(f), 0);
        } else {
            int found = 0;
            for (size_t k = 0; k < json_array_size(f); k++)
                found |= strcmp(json_string_value(json_array_get(f, k)), health_cases[i].failing) == 0;
            assert_true(found);
        }
        json_t *b = json_object_get(json_object_get(j, "backends"), "B");
        assert_int_equal(json_is_true(json_object_get(b, "healthy")), health_cases[i].b);
        json_decref(j);
    }
    cfg_release(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_document),
        cmocka_unit_test(test_meta_without_queues),
        cmocka_unit_test(test_health),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

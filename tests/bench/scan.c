/*
 * bench-scan — the CPU cost of reading a write body, without any I/O (SPEC §9: "line-protocol scanning in MB/s;
 * cost must grow linearly with body size and stay flat in the number of keymaps and backends").
 *
 * Three series, each point timed in CPU time of this process (a shared machine's other work does not count):
 *   size      the scanner alone (lib/lineproto, every line validated) over bodies of 1 KiB to 16 MiB;
 *   keymaps   a split (lib/route: scan, look up each line's measurement, build each backend's body) of one body
 *             whose lines use 64 measurements, under configurations with 64 to 100,000 keymaps;
 *   backends  the same split, each line going to 2 backends, under configurations with 2 to 256 backends.
 * Each point repeats its work until it has run at least BENCH_SCAN_MS (default 300) ms of CPU time.
 *
 * Output, one line per point, for scripts/bench:
 *     SCAN series=S param=N bytes=B lines=L reps=R cpu_ns=T
 *
 * Usage: bench-scan
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cfg.h"
#include "lineproto.h"
#include "route.h"

#define NAMES 64 /* distinct measurements in the split bodies: more than route's cache of recent names */

static long long cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long budget_ns(void)
{
    const char *e = getenv("BENCH_SCAN_MS");
    long ms = e != NULL && *e != '\0' ? strtol(e, NULL, 10) : 300;
    return (ms > 0 ? ms : 300) * 1000000LL;
}

/* Lines shaped like the write bench's (tags, a float and an integer field, a timestamp) until @size bytes; the
 * measurement of line k is names[k % nnames]. */
static char *make_body(size_t size, char **names, size_t nnames, size_t *len, size_t *lines)
{
    static const char *regions[] = {"uswest", "useast", "euwest", "apsouth"};
    char *b = malloc(size + 256);
    size_t n = 0, k = 0;

    if (b == NULL)
        abort();
    while (n < size) {
        int w = snprintf(b + n, 256, "%s,host=server%02zu,region=%s value=%zu.%02zu,count=%zui %lld\n",
                         names[k % nnames], k % 50, regions[(k / 7) % 4], k % 100, (k * 7) % 100, k,
                         1700000000000000000LL + (long long)k * 1000000000LL);
        n += (size_t)w;
        k++;
    }
    *len = n;
    *lines = k;
    return b;
}

static void report(const char *series, size_t param, size_t bytes, size_t lines, long long reps, long long ns)
{
    printf("SCAN series=%s param=%zu bytes=%zu lines=%zu reps=%lld cpu_ns=%lld\n", series, param, bytes, lines, reps,
           ns);
    fflush(stdout);
}

static void series_size(void)
{
    static const size_t sizes[] = {1 << 10, 64 << 10, 1 << 20, 16 << 20};
    char *name[] = {"cpu"};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t len, lines, seen = 0;
        char *body = make_body(sizes[i], name, 1, &len, &lines);
        /* the clock is read once per MiB scanned: reading it costs a system call, more than a small body's scan */
        long long reps = 0, block = (long long)((1 << 20) / len + 1), t0 = cpu_ns(), t;
        do {
            for (long long r = 0; r < block; r++) {
                lp_iter_t it;
                lp_line_t l;
                lp_iter_init(&it, body, len, LP_PREC_NS);
                while (lp_iter_next(&it, &l))
                    seen += l.err == LP_OK;
            }
            reps += block;
        } while ((t = cpu_ns() - t0) < budget_ns());
        if (seen != lines * (size_t)reps) {
            fprintf(stderr, "bench-scan: %zu valid lines, expected %zu\n", seen, lines * (size_t)reps);
            exit(1);
        }
        report("size", sizes[i], len, lines, reps, t);
        free(body);
    }
}

/* A configuration of @nbackends backends (b0, b1, ...) and @nkeymaps keymaps (m0, m1, ...), keymap k sending to
 * backends k % nbackends and (k + 1) % nbackends, and m:_default_ to b0. */
static cfg_t *make_cfg(size_t nbackends, size_t nkeymaps)
{
    static const char *url_field[] = {"url"};
    cfg_hash_t *b = calloc(nbackends, sizeof(*b));
    cfg_list_t *k = calloc(nkeymaps + 1, sizeof(*k));
    char **bnames = calloc(nbackends, sizeof(*bnames)), **urls = calloc(nbackends, sizeof(*urls));
    const char **items = calloc(2 * nkeymaps + 1, sizeof(*items));
    char **knames = calloc(nkeymaps, sizeof(*knames));
    const char *nf[] = {"listenaddr"}, *nv[] = {":7000"};
    cfg_hash_t node = {"l1", 1, nf, nv};
    cfg_t *cfg;
    char err[512];

    if (b == NULL || k == NULL || bnames == NULL || urls == NULL || items == NULL || knames == NULL)
        abort();
    for (size_t i = 0; i < nbackends; i++) {
        bnames[i] = malloc(24);
        urls[i] = malloc(48);
        if (bnames[i] == NULL || urls[i] == NULL)
            abort();
        snprintf(bnames[i], 24, "b%zu", i);
        snprintf(urls[i], 48, "http://127.0.0.1:%zu", 10000 + i);
        b[i] = (cfg_hash_t){bnames[i], 1, url_field, (const char **)&urls[i]};
    }
    for (size_t i = 0; i < nkeymaps; i++) {
        knames[i] = malloc(24);
        if (knames[i] == NULL)
            abort();
        snprintf(knames[i], 24, "m%zu", i);
        items[2 * i] = bnames[i % nbackends];
        items[2 * i + 1] = bnames[(i + 1) % nbackends];
        k[i] = (cfg_list_t){knames[i], nbackends > 1 ? 2 : 1, &items[2 * i]};
    }
    items[2 * nkeymaps] = bnames[0];
    k[nkeymaps] = (cfg_list_t){"_default_", 1, &items[2 * nkeymaps]};
    cfg_src_t src = {b, nbackends, k, nkeymaps + 1, NULL, &node, "l1"};
    if (cfg_build(&src, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench-scan: configuration: %s\n", err);
        exit(1);
    }
    for (size_t i = 0; i < nbackends; i++) {
        free(bnames[i]);
        free(urls[i]);
    }
    for (size_t i = 0; i < nkeymaps; i++)
        free(knames[i]);
    free(b);
    free(k);
    free(bnames);
    free(urls);
    free(items);
    free(knames);
    return cfg;
}

/* Splits a 1 MiB body whose lines use NAMES measurements (m0 .. m63, each a keymap of @cfg) under @cfg. */
static void split_point(const char *series, size_t param, const cfg_t *cfg)
{
    static const struct timespec now = {1700000000, 0};
    char *names[NAMES];
    size_t len, lines;

    for (size_t i = 0; i < NAMES; i++) {
        names[i] = malloc(24);
        if (names[i] == NULL)
            abort();
        snprintf(names[i], 24, "m%zu", i);
    }
    char *body = make_body(1 << 20, names, NAMES, &len, &lines);
    long long reps = 0, t0 = cpu_ns(), t;
    do {
        rt_write_t w;
        rt_write_init(&w, cfg->nbackends, 64 << 20);
        if (rt_split(cfg, body, len, LP_PREC_NS, &now, &w) != 0 || w.valid != lines) {
            fprintf(stderr, "bench-scan: split failed (%zu of %zu lines valid)\n", w.valid, lines);
            exit(1);
        }
        rt_write_free(&w);
        reps++;
    } while ((t = cpu_ns() - t0) < budget_ns());
    report(series, param, len, lines, reps, t);
    free(body);
    for (size_t i = 0; i < NAMES; i++)
        free(names[i]);
}

int main(void)
{
    static const size_t keymaps[] = {NAMES, 1000, 10000, 100000};
    static const size_t backends[] = {2, 16, 256};

    series_size();
    for (size_t i = 0; i < sizeof(keymaps) / sizeof(keymaps[0]); i++) {
        cfg_t *cfg = make_cfg(2, keymaps[i]);
        split_point("keymaps", keymaps[i], cfg);
        cfg_release(cfg);
    }
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        cfg_t *cfg = make_cfg(backends[i], 1000);
        split_point("backends", backends[i], cfg);
        cfg_release(cfg);
    }
    return 0;
}

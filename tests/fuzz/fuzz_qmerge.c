/*
 * libFuzzer driver for lib/qmerge: the JSON that backends send back for fanned-out SHOW statements and for the
 * statements of a multi-statement request. The first input byte picks the SHOW kind, whether one backend is down,
 * and LIMIT/OFFSET/chunk_size; the rest is up to four backend bodies separated by "\n--\n". Every body goes through
 * qm_merge_show and qm_extract (results 0 to 2); what they return as QM_OK must be JSON jansson reads (one object
 * per line when chunked), and qm_assemble of the extracted results must give the same document compact and pretty.
 * Anything else they may refuse, never crash on or read past (ASan, UBSan).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmerge.h"

enum { MAXB = 4, MAXOUT = 1 << 20 };

/* Each '\n'-separated line of buf[0..len) is one JSON document (one line when !lines): returns them parsed, in an
 * array, or aborts. A backend's strings, numbers and nesting are copied as it wrote them, so jansson's own limits
 * (UTF-8, numbers beyond a double, a depth of 2048) may refuse what is otherwise well formed: NULL then. */
static json_t *must_parse(const char *buf, size_t len, int lines)
{
    json_t *all = json_array();
    size_t at = 0;
    do {
        const char *nl = lines ? memchr(buf + at, '\n', len - at) : NULL;
        size_t end = nl != NULL ? (size_t)(nl - buf) : len;
        json_error_t e;
        json_t *j = json_loadb(buf + at, end - at, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
        if (j == NULL) {
            if (strstr(e.text, "unable to decode byte") == NULL && strstr(e.text, "depth") == NULL &&
                strstr(e.text, "overflow") == NULL) {
                fprintf(stderr, "fuzz_qmerge: not JSON (%s): %.*s\n", e.text, (int)(end - at), buf + at);
                abort();
            }
            json_decref(all);
            return NULL;
        }
        json_array_append_new(all, j);
        at = end + 1;
    } while (at < len);
    return all;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const iql_kind_t kinds[] = {IQL_K_SHOW_DATABASES, IQL_K_SHOW_RETENTION_POLICIES, IQL_K_SHOW_MEASUREMENTS,
                                       IQL_K_SHOW_TAG_KEYS,  IQL_K_SHOW_FIELD_KEYS,         IQL_K_SHOW_TAG_VALUES,
                                       IQL_K_SHOW_SERIES,    IQL_K_SHOW_MEASUREMENTS};
    static const char *const names[MAXB] = {"a", "b", "c", "d"};
    char err[512];

    if (size < 1 || size > 65536)
        return 0;
    uint8_t sel = data[0];
    /* a private copy without slack, so ASan catches any read past the end */
    char *in = malloc(size);
    if (in == NULL)
        return 0;
    memcpy(in, data + 1, size - 1);
    size_t len = size - 1;

    qm_body_t bodies[MAXB];
    size_t n = 0, at = 0;
    while (n < MAXB) {
        const char *sep = len - at >= 4 ? memmem(in + at, len - at, "\n--\n", 4) : NULL;
        size_t end = sep != NULL ? (size_t)(sep - in) : len;
        bodies[n] = (qm_body_t){names[n], in + at, end - at, NULL};
        n++;
        if (sep == NULL)
            break;
        at = end + 4;
    }
    if (sel & 0x80) /* the last backend did not answer */
        bodies[n - 1] = (qm_body_t){names[n - 1], NULL, 0, "connection refused"};

    qm_paging_t paging = {(sel >> 3) & 3 ? (sel >> 3) & 3 : -1, (sel >> 5) & 1 ? 1 : -1, -1, -1,
                          (sel >> 6) & 1 ? 2 : 0};
    qm_buf_t out = {NULL, 0};
    if (qm_merge_show(kinds[sel & 7], bodies, n, &paging, 3, MAXOUT, &out, err, sizeof(err)) == QM_OK) {
        json_decref(must_parse(out.ptr, out.len, paging.chunk_size > 0));
        free(out.ptr);
    }

    /* the statements of each body, cut out and put together again */
    qm_buf_t results[3 * MAXB];
    size_t nres = 0;
    for (size_t b = 0; b < n; b++) {
        for (size_t i = 0; i < 3 && bodies[b].ptr != NULL; i++) {
            qm_buf_t r = {NULL, 0};
            if (qm_extract(bodies[b].ptr, bodies[b].len, i, (int)nres, MAXOUT, &r, err, sizeof(err)) != QM_OK)
                break;
            json_decref(must_parse(r.ptr, r.len, 0));
            results[nres++] = r;
        }
    }
    qm_buf_t compact = {NULL, 0}, pretty = {NULL, 0};
    int rc1 = qm_assemble(results, nres, 0, MAXOUT, &compact, err, sizeof(err));
    int rc2 = qm_assemble(results, nres, 1, MAXOUT, &pretty, err, sizeof(err));
    if (rc1 == QM_OK && rc2 == QM_OK) {
        json_t *a = must_parse(compact.ptr, compact.len, 0), *p = must_parse(pretty.ptr, pretty.len, 0);
        if ((a == NULL) != (p == NULL) || (a != NULL && !json_equal(a, p)))
            abort();
        json_decref(a);
        json_decref(p);
    } else if ((rc1 == QM_OK && rc2 == QM_EJSON) || (rc1 == QM_EJSON && rc2 == QM_OK)) {
        abort(); /* one layout refused as JSON what the other took */
    }
    free(compact.ptr);
    free(pretty.ptr);
    for (size_t i = 0; i < nres; i++)
        free(results[i].ptr);
    free(in);
    return 0;
}

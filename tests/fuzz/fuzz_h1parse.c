/*
 * libFuzzer driver for the chunked decoder (lib/h1parse.c). The first two bytes choose how the rest is cut into
 * reads; the rest is the body as a backend would send it. Checks the contract rather than just crashes: the body,
 * the verdict and the bytes after the end do not depend on where the reads were cut, and the output never grows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct st_run_t {
    int rc;
    size_t body_len, extra;
    char *body;
} run_t;

/* Decodes @in in reads of lengths taken in turn from @cuts (cycling; 0 = the rest at once). */
static run_t decode(const char *in, size_t n, const uint8_t *cuts, size_t ncuts)
{
    run_t r = {H1P_MORE, 0, 0, malloc(n + 1)};
    h1p_chunked_t c;
    size_t off = 0, i = 0;

    memset(&c, 0, sizeof(c));
    while (r.rc == H1P_MORE && off < n) {
        size_t k = ncuts == 0 || cuts[i % ncuts] == 0 ? n - off : cuts[i % ncuts];
        if (k > n - off)
            k = n - off;
        ++i;
        memcpy(r.body + r.body_len, in + off, k);
        size_t len = k, extra = 0;
        r.rc = h1p_dechunk(&c, r.body + r.body_len, &len, &extra);
        if (len > k || extra > k)
            abort();
        r.body_len += len;
        off += k;
        if (r.rc == H1P_END)
            r.extra = extra + (n - off);
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t cuts[2] = {data[0] % 17, data[1]};
    const char *in = (const char *)data + 2;
    size_t n = size - 2;
    run_t whole = decode(in, n, NULL, 0), cut = decode(in, n, cuts, 2), bytes = decode(in, n, (const uint8_t *)"\1", 1);

    for (int k = 0; k != 2; ++k) {
        const run_t *o = k == 0 ? &cut : &bytes;
        if (o->rc != whole.rc || o->body_len != whole.body_len ||
            (whole.body_len != 0 && memcmp(o->body, whole.body, whole.body_len) != 0))
            abort();
        if (whole.rc == H1P_END && o->extra != whole.extra)
            abort();
    }
    if (whole.body_len > n)
        abort();
    free(whole.body);
    free(cut.body);
    free(bytes.body);
    return 0;
}

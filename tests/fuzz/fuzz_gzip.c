/*
 * libFuzzer driver for util_gunzip, which decompresses the gzip bodies of client writes (Content-Encoding: gzip)
 * under the maxbodymb cap. The first input byte picks the cap; the rest is the stream. Whatever it holds, the call
 * must not crash or read past it, and its output must stay within the cap; a stream it takes must come out the same
 * under a cap of exactly its size and be refused as too big one byte below. The input is also compressed with
 * util_gzip and must come back byte for byte.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int gunzip_capped(const char *in, size_t len, size_t cap, ubuf_t *out)
{
    ubuf_init(out, cap);
    return util_gunzip(in, len, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {0, 1, 100, 4096, 1 << 16, 1 << 20, 8 << 20, 64 << 20};
    ubuf_t out, again, z;

    if (size < 1 || size > (1 << 20))
        return 0;
    size_t cap = caps[data[0] & 7];
    /* a private copy without slack, so ASan catches any read past the end */
    char *in = malloc(size);
    if (in == NULL)
        return 0;
    memcpy(in, data + 1, size - 1);
    size_t len = size - 1;

    int rc = gunzip_capped(in, len, cap, &out);
    if (out.len > cap)
        abort();
    if (rc == 0) {
        if (gunzip_capped(in, len, out.len, &again) != 0 || again.len != out.len ||
            (out.len != 0 && memcmp(again.base, out.base, out.len) != 0))
            abort();
        ubuf_free(&again);
        if (out.len != 0) {
            if (gunzip_capped(in, len, out.len - 1, &again) != UTIL_GZ_ETOOBIG)
                abort();
            ubuf_free(&again);
        }
    } else if (rc != UTIL_GZ_EINVAL && rc != UTIL_GZ_ETOOBIG && rc != UTIL_GZ_EOF && rc != UTIL_GZ_ECHECKSUM &&
               rc != UTIL_GZ_EHEADER) {
        abort();
    }
    if (util_gunzip_strerror(rc) == NULL)
        abort();
    ubuf_free(&out);

    /* the round trip */
    ubuf_init(&z, SIZE_MAX);
    if (util_gzip(in, len, &z) != 0)
        abort();
    if (gunzip_capped(z.base, z.len, len, &again) != 0 || again.len != len ||
        (len != 0 && memcmp(again.base, in, len) != 0))
        abort();
    ubuf_free(&again);
    ubuf_free(&z);
    free(in);
    return 0;
}

/*
 * util — bounded buffers and gzip.
 *
 * Every buffer that grows with client or backend input has a hard cap (curl's dynbuf idea), so a
 * hostile body or a runaway backend answer fails with an error instead of exhausting memory.
 */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void ubuf_init(ubuf_t *b, size_t cap)
{
    b->base = NULL;
    b->len = b->size = 0;
    b->cap = cap;
}

void ubuf_free(ubuf_t *b)
{
    free(b->base);
    b->base = NULL;
    b->len = b->size = 0;
}

char *ubuf_reserve(ubuf_t *b, size_t len)
{
    if (len > b->cap || b->len > b->cap - len)
        return NULL;
    if (b->len + len > b->size) {
        size_t n = b->size < 4096 ? 4096 : b->size;
        while (n < b->len + len)
            n = n > SIZE_MAX / 2 ? SIZE_MAX : n * 2;
        if (n > b->cap)
            n = b->cap;
        char *p = realloc(b->base, n);
        if (p == NULL)
            abort();
        b->base = p;
        b->size = n;
    }
    return b->base + b->len;
}

int ubuf_append(ubuf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    char *p = ubuf_reserve(b, len);
    if (p == NULL)
        return UBUF_ETOOBIG;
    memcpy(p, data, len);
    b->len += len;
    return 0;
}

/* What went wrong in a gzip stream, in the words Go's compress/gzip uses (InfluxDB's answers). */
static int classify(const z_stream *zs, int zr)
{
    if (zr == Z_DATA_ERROR && zs->msg != NULL &&
        (strcmp(zs->msg, "incorrect data check") == 0 || strcmp(zs->msg, "incorrect length check") == 0))
        return UTIL_GZ_ECHECKSUM;
    if (zr == Z_DATA_ERROR && zs->msg != NULL &&
        (strcmp(zs->msg, "incorrect header check") == 0 || strcmp(zs->msg, "unknown compression method") == 0 ||
         strcmp(zs->msg, "unknown header flags set") == 0))
        return UTIL_GZ_EHEADER;
    return UTIL_GZ_EINVAL;
}

int util_gunzip(const void *in, size_t len, ubuf_t *out)
{
    z_stream zs;
    int ret = UTIL_GZ_EOF, zr = Z_OK;

    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        abort();
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    if (len < 10)
        goto Exit; /* not even a gzip header */
    for (;;) {
        size_t room = out->cap - out->len < 65536 ? out->cap - out->len : 65536;
        char *dst = room != 0 ? ubuf_reserve(out, room) : NULL;
        unsigned char probe;
        zs.next_out = dst != NULL ? (Bytef *)dst : &probe;
        zs.avail_out = dst != NULL ? (uInt)room : 1;
        zr = inflate(&zs, Z_NO_FLUSH);
        if (dst == NULL && zs.avail_out == 0) {
            ret = UTIL_GZ_ETOOBIG; /* one byte past the cap was produced */
            goto Exit;
        }
        if (dst != NULL)
            out->len += room - zs.avail_out;
        if (zr == Z_STREAM_END) {
            if (zs.avail_in == 0) {
                ret = 0;
                goto Exit;
            }
            /* another gzip member follows; Go reads its 10-byte header whole before looking at it */
            if (zs.avail_in < 10) {
                ret = UTIL_GZ_EOF;
                goto Exit;
            }
            if (inflateReset(&zs) != Z_OK)
                abort();
            continue;
        }
        if (zr != Z_OK && !(zr == Z_BUF_ERROR && zs.avail_out == 0)) {
            ret = zr == Z_BUF_ERROR ? UTIL_GZ_EOF : classify(&zs, zr);
            goto Exit;
        }
        if (zs.avail_in == 0 && zs.avail_out != 0)
            goto Exit; /* the stream stops before its end */
    }
Exit:
    inflateEnd(&zs);
    return ret;
}

const char *util_gunzip_strerror(int code)
{
    switch (code) {
    case UTIL_GZ_EOF:
        return "unexpected EOF";
    case UTIL_GZ_ECHECKSUM:
        return "gzip: invalid checksum";
    case UTIL_GZ_EHEADER:
        return "gzip: invalid header";
    case UTIL_GZ_ETOOBIG:
        return "Request Entity Too Large";
    default:
        return "flate: corrupt input";
    }
}

int util_gzip(const void *in, size_t len, ubuf_t *out)
{
    z_stream zs;
    int ret = 0;

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t bound = deflateBound(&zs, (uLong)len);
    char *dst = ubuf_reserve(out, bound);
    if (dst == NULL) {
        ret = UBUF_ETOOBIG;
        goto Exit;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)dst;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        abort(); /* cannot happen with deflateBound room */
    out->len += bound - zs.avail_out;
Exit:
    deflateEnd(&zs);
    return ret;
}

void util_errf(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

size_t util_utf8_len(const void *s, size_t n)
{
    const unsigned char *p = s;
    size_t len = p[0] < 0x80 ? 1 : p[0] < 0xc2 ? 0 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : p[0] < 0xf5 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
        (p[0] == 0xf4 && p[1] > 0x8f))
        return 0; /* overlong, surrogate, or past U+10FFFF */
    return len;
}

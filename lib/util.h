/*
 * util — small pure helpers shared by the write and query paths: a byte buffer with a hard cap, and
 * bounded gzip decoding.
 */
#ifndef IP_UTIL_H
#define IP_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The length of the valid UTF-8 sequence at @p (at most @n bytes, n > 0): 1 for ASCII, 2 to 4, or 0 when it is not
 * one (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, cut short). */
size_t util_utf8_len(const void *p, size_t n);

/* A growable buffer that never grows past `cap` bytes. Owns `base` (free with ubuf_free). */
typedef struct st_ubuf_t {
    char *base;
    size_t len, size, cap;
} ubuf_t;

#define UBUF_ETOOBIG (-1)

void ubuf_init(ubuf_t *b, size_t cap);
void ubuf_free(ubuf_t *b);
/* Appends @len bytes. Returns 0, or UBUF_ETOOBIG (buffer unchanged) when the cap would be passed. */
int ubuf_append(ubuf_t *b, const void *data, size_t len);
/* Makes room for @len more bytes and returns a pointer to them (not yet counted in len), or NULL when
 * the cap would be passed. */
char *ubuf_reserve(ubuf_t *b, size_t len);

#define UTIL_GZ_EINVAL (-1)    /* corrupt compressed data */
#define UTIL_GZ_ETOOBIG (-2)   /* decompressed size would pass the cap */
#define UTIL_GZ_EOF (-3)       /* the stream ends before its end (or is shorter than a header) */
#define UTIL_GZ_ECHECKSUM (-4) /* CRC or length trailer does not match */
#define UTIL_GZ_EHEADER (-5)   /* not a gzip header (also: garbage after a member) */

/* Decompresses the gzip stream @in (several members allowed, as Go's reader does) into @out, which must
 * be empty; its cap bounds the decompressed size (a gzip bomb stops at the cap). Returns 0 or a code. */
int util_gunzip(const void *in, size_t len, ubuf_t *out);

/* The message for a util_gunzip code, worded as Go's compress/gzip (and so InfluxDB) words it. */
const char *util_gunzip_strerror(int code);

/* Compresses @in into @out as one gzip member. Returns 0, or UBUF_ETOOBIG. */
int util_gzip(const void *in, size_t len, ubuf_t *out);

/* Writes a formatted message into a caller's error buffer (nothing when @err is NULL or @cap is 0). */
void util_errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

/*
 * h1parse — the chunked transfer coding, decoded in place.
 *
 * One pass over the bytes given, with a read and a write position: chunk data is moved down over the framing
 * already passed (the write position never overtakes the read position), everything else only moves the state.
 * Nothing but the state is kept between calls, so a size line or a line end split across two reads is no special
 * case.
 */
#include <string.h>
#include "h1parse.h"

enum {
    C_SIZE,         /* at the first hex digit of a size line */
    C_SIZE_MORE,    /* in the digits */
    C_EXT,          /* after the digits: extensions, up to the LF */
    C_DATA,         /* _size bytes of chunk data */
    C_DATA_CR,      /* the line end after the data */
    C_DATA_LF,      /* its LF, after a CR */
    C_TRAILER,      /* at the start of a trailer line; an empty one ends the body */
    C_TRAILER_LINE, /* in a trailer field, up to its LF */
    C_TRAILER_LF,   /* the LF of the empty line, after its CR */
    C_END,
    C_BAD
};

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* One framing byte (anything but chunk data): the next state. */
static int step(h1p_chunked_t *c, char ch)
{
    int d;

    switch (c->_state) {
    case C_SIZE:
    case C_SIZE_MORE:
        d = hex_digit(ch);
        if (d >= 0) {
            if (c->_size >> 56) /* one more digit would pass 2^60 */
                return C_BAD;
            c->_size = c->_size * 16 + (uint64_t)d;
            return C_SIZE_MORE;
        }
        if (c->_state == C_SIZE)
            return C_BAD;
        /* the first byte after the digits */
        /* fall through */
    case C_EXT:
        if (ch != '\n')
            return C_EXT;
        return c->_size != 0 ? C_DATA : C_TRAILER;
    case C_DATA_CR:
        return ch == '\r' ? C_DATA_LF : ch == '\n' ? C_SIZE : C_BAD;
    case C_DATA_LF:
        return ch == '\n' ? C_SIZE : C_BAD;
    case C_TRAILER:
        return ch == '\r' ? C_TRAILER_LF : ch == '\n' ? C_END : C_TRAILER_LINE;
    case C_TRAILER_LINE:
        return ch == '\n' ? C_TRAILER : C_TRAILER_LINE;
    case C_TRAILER_LF:
        return ch == '\n' ? C_END : C_BAD;
    }
    return C_BAD;
}

int h1p_dechunk(h1p_chunked_t *c, char *buf, size_t *len, size_t *extra)
{
    size_t r = 0, w = 0, n = *len;

    *extra = 0;
    while (r < n && c->_state != C_END && c->_state != C_BAD) {
        if (c->_state == C_DATA) {
            size_t take = n - r < c->_size ? n - r : (size_t)c->_size;
            if (w != r)
                memmove(buf + w, buf + r, take);
            w += take;
            r += take;
            c->_size -= take;
            if (c->_size == 0)
                c->_state = C_DATA_CR;
            continue;
        }
        c->_state = step(c, buf[r++]);
    }
    *len = w;
    if (c->_state == C_BAD)
        return H1P_ERROR;
    if (c->_state != C_END)
        return H1P_MORE;
    *extra = n - r;
    return H1P_END;
}

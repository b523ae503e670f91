/*
 * h1parse — the parts of reading an HTTP/1.1 answer that need no socket (layer 1): the chunked transfer coding,
 * decoded in place and incrementally, so that a client can decode each read's bytes behind the body bytes it has
 * not handed over yet. Split from the client (h1client) so it can be unit-tested and fuzzed alone.
 */
#ifndef IP_H1PARSE_H
#define IP_H1PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Decoder state; all zero starts a body. */
typedef struct st_h1p_chunked_t {
    int _state;
    uint64_t _size; /* of the chunk being read */
} h1p_chunked_t;

enum { H1P_ERROR = -1, H1P_MORE = 0, H1P_END = 1 };

/* Decodes buf[0, *len) in place: the body bytes it holds are moved to the front and *len is set to their count.
 * Returns H1P_MORE when the body has not ended (every byte given was taken: call again with the bytes that follow),
 * H1P_END when the last chunk and the trailer are complete (*extra is then the number of bytes given after the end,
 * not part of the body), or H1P_ERROR on bytes that are not a chunked body (a bad size line, a chunk not followed by
 * its line end, a size over 2^60). Chunk extensions and trailer fields are skipped; lines may end in LF alone.
 * After H1P_END or H1P_ERROR the state is final: further calls return the same. */
int h1p_dechunk(h1p_chunked_t *c, char *buf, size_t *len, size_t *extra);

#endif

/*
 * http_util — the answers every handler shares: InfluxDB's headers, JSON errors, query parameters.
 */
#ifndef IP_HTTP_UTIL_H
#define IP_HTTP_UTIL_H

#include <h2o.h>
#include <stddef.h>
#include "util.h"

/* Adds X-Influxdb-Version / X-Influxdb-Build, and InfluxDB's CORS headers when the request has an Origin, to the
 * response. Call once per response. */
void hu_add_influx_headers(h2o_req_t *req);

/* Sends @status with body {"error":"<msg>"} (JSON-escaped), Content-Type application/json and
 * X-Influxdb-Error: <msg>, as InfluxDB does. */
void hu_send_error(h2o_req_t *req, int status, const char *msg);

/* The same for a message of @len bytes that may hold any bytes (NULs, invalid UTF-8: parse errors quote
 * the client's line): JSON-encoded as InfluxDB (Go) encodes it. */
void hu_send_error_n(h2o_req_t *req, int status, const char *msg, size_t len);

/* Gives the answers h2o makes itself on @fallback (the host's fallback path), before any handler runs, InfluxDB's
 * shape: a body over the size limit gets influxd's JSON 413 instead of h2o's text/plain one. */
void hu_register_fallback_filter(h2o_pathconf_t *fallback);

/* Sends @status with a JSON body (borrowed; copied into the request pool). */
void hu_send_json(h2o_req_t *req, int status, const char *json, size_t len);

/* Sends @status with no body (204, or a HEAD answer). */
void hu_send_empty(h2o_req_t *req, int status);
/* An OPTIONS request (a browser's CORS preflight) to /write or /query, answered as InfluxDB does: 200, no body, and
 * the CORS headers when it has an Origin (hu_add_influx_headers adds them to every answer). 1 when it was one. */
int hu_preflight(h2o_req_t *req);

/* Looks up form/query parameter @name in the urlencoded @qs (without the leading '?') as influxd's Go reads it (a
 * pair holding a ';' or a malformed %-escape does not count). Returns 1 and the decoded value (allocated in @pool) of
 * the first pair of that name, 0 when there is none. */
int hu_param(h2o_mem_pool_t *pool, h2o_iovec_t qs, const char *name, h2o_iovec_t *out);
/* hu_param() for the @n @names at once, in one pass over @qs: a name whose @found is 0 gets its value in *out[i] and
 * found[i] = 1 when @qs has it (a name already found, and the *out[i] of a name not found, are left as they are).
 * Returns how many were found here. */
size_t hu_params(h2o_mem_pool_t *pool, h2o_iovec_t qs, const char *const *names, size_t n, h2o_iovec_t *const *out,
                 unsigned char *found);

/* The query string of @req without '?', or an empty iovec. */
h2o_iovec_t hu_query_string(h2o_req_t *req);

/* The path of @req without the query string. */
h2o_iovec_t hu_path(h2o_req_t *req);

/* Percent-encodes @s for a query-string value (RFC 3986 unreserved kept), allocated in @pool. */
h2o_iovec_t hu_url_encode(h2o_mem_pool_t *pool, const char *s, size_t len);

/* Appends name=value (value percent-encoded) to a query string or form body in @u: after '?' as is,
 * otherwise after '&'. An empty value adds nothing (InfluxDB reads an absent and an empty parameter
 * alike). */
void hu_form_add(ubuf_t *u, const char *name, const char *value, size_t len, h2o_mem_pool_t *pool);

/* The value of hex digit @c, or -1. */
int hu_hexval(int c);

/* The reason phrase for @status. */
const char *hu_reason(int status);

/* Keeps the HTTP/1 connection of @req registered with the loop's epoll while its answer is pending, without reading
 * from it (see http_util.c): saves the two epoll_ctl calls h2o 2.2.5 makes per request that is answered later. Call
 * it from a handler that answers asynchronously; harmless when the answer goes out at once. Does nothing for
 * HTTP/2, TLS, or unless hu_keep_polled_check() passed. */
void hu_keep_polled(h2o_req_t *req);

/* Checks, on @loop, that the socket fields hu_keep_polled() uses are where it expects them in this libh2o, and
 * enables it if so. Call once at start-up, before the loop threads run. Returns whether it is enabled. */
int hu_keep_polled_check(h2o_loop_t *loop);

#endif

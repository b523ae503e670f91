/*
 * auth — client authentication, as an InfluxDB 1.x with `[http] auth-enabled = true` does it.
 *
 * Which requests need credentials (only when the node has a password):
 *   /write (POST) and /query (GET, POST)  as influxd: other methods go on to the handler's 405,
 *                                         as influxd's router answers them before authenticating
 *   /meta, /metrics, /reload              any method: they show or change the cluster layout
 *   /ping, /health, unknown paths, OPTIONS  open (influxd's /ping is open; /health is for load
 *                                         balancers and shows health only)
 *
 * Credentials are read as influxd 1.6 reads them: `u` and `p` from the query string (both non-empty;
 * a form body is not looked at), else the Authorization header (`Bearer <token>`, answered as an
 * influxd with no shared secret does, or `Basic <base64 user:password>`). The node's username and
 * password are compared in constant time. An empty node username accepts any username.
 */
#ifndef IP_AUTH_H
#define IP_AUTH_H

#include <h2o.h>
#include "cfg.h"

/* Whether @req needs credentials under the rules above (not looking at the configuration). */
int ip_auth_required(h2o_req_t *req);

/* Returns 0 when @req may go on to its handler: @node has no password, the request needs no
 * credentials, or its credentials match @node's. Otherwise answers the request itself with influxd's
 * 401 (JSON error, WWW-Authenticate: Basic realm="InfluxDB") and returns -1. @node is only read
 * during the call. Loop thread; nothing is logged (credentials never are). */
int ip_auth_check(h2o_req_t *req, const cfg_node_t *node);

#endif

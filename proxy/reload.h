/*
 * reload — live configuration changes: the influxdb-proxy:reload subscription, SIGHUP, POST /reload.
 */
#ifndef IP_RELOAD_H
#define IP_RELOAD_H

#include <h2o.h>
#include <stdint.h>

/* Reads the configuration from Redis again and swaps it in. Returns 0, or -1 with @err (also kept for
 * /meta node.reload_error) when it is refused; the current configuration then stays. Any thread;
 * blocks on Redis for a few round trips. */
int ip_reload(char *err, size_t errcap);

/* Reloads done and refused since start. */
void ip_reload_counts(uint64_t *ok, uint64_t *failed);

/* The subscriber thread (also serves SIGHUP). */
void ip_reload_start(void);
void ip_reload_stop(void);

/* POST /reload */
void ip_handle_reload(h2o_req_t *req);

#endif

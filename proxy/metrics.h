/*
 * metrics — GET /metrics (Prometheus text format) and the counters only it needs.
 */
#ifndef IP_METRICS_H
#define IP_METRICS_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

/* Allocates the per-backend histograms. Call once at startup, before the loops run. */
void ip_metrics_init(size_t nbackends);

/* Writes an access log line for every answered request to @path ("-" = stderr), from now on. Call
 * before ip_metrics_init(). Returns 0, or -1 with @err. */
int ip_metrics_access_log(const char *path, char *err, size_t errcap);

/* Counts every answered request by endpoint and status (an h2o logger on @pathconf). */
void ip_metrics_register(h2o_pathconf_t *pathconf);

/* Upstream latencies of backend @b, in microseconds. Any thread. */
void ip_metrics_write_latency(size_t b, uint64_t us);
void ip_metrics_query_latency(size_t b, uint64_t us);

void ip_handle_metrics(h2o_req_t *req);

#endif

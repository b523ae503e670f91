/*
 * log — one line per event on stderr: time, level, message. Thread-safe (one write(2) per line).
 */
#ifndef IP_LOG_H
#define IP_LOG_H

typedef enum en_ip_log_level_t { IP_LOG_DEBUG, IP_LOG_INFO, IP_LOG_WARN, IP_LOG_ERROR } ip_log_level_t;

/* Sets the level from "debug", "info", "warn" or "error". Returns 0 or -1. */
int ip_log_set_level(const char *name);

/* Whether @level would be printed. */
int ip_log_enabled(ip_log_level_t level);

void ip_log(ip_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A log site that can fire for every request (a full disk, a flood of connections): it prints at most one line per
 * interval_ms (0: a second), and the next line it prints tells how many it held back. One static ip_log_limit_t per
 * site, zeroed but for interval_ms. Thread-safe. */
typedef struct st_ip_log_limit_t {
    long long interval_ms;
    long long next_ms;
    unsigned long long held;
} ip_log_limit_t;

void ip_log_limited(ip_log_limit_t *site, ip_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

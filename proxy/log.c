/*
 * log — stderr logging. A line is formatted into a stack buffer and written with one write(2), so
 * lines from several threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static ip_log_level_t min_level = IP_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

int ip_log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            min_level = (ip_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

int ip_log_enabled(ip_log_level_t level)
{
    return level >= min_level;
}

static void vlog(ip_log_level_t level, unsigned long long held, const char *fmt, va_list ap)
{
    char line[4096];
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts); /* the wall clock itself (gettimeofday() is the loop's clock: clock.c) */
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ %-5s ", (int)(ts.tv_nsec / 1000000), names[level]);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    n = m < 0 ? n : (n + (size_t)m < sizeof(line) - 1 ? n + (size_t)m : sizeof(line) - 2);
    if (held != 0) {
        m = snprintf(line + n, sizeof(line) - n - 1, " (%llu more like it since the last one, not logged)", held);
        n = m < 0 ? n : (n + (size_t)m < sizeof(line) - 1 ? n + (size_t)m : sizeof(line) - 2);
    }
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}

void ip_log(ip_log_level_t level, const char *fmt, ...)
{
    va_list ap;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    vlog(level, 0, fmt, ap);
    va_end(ap);
}

void ip_log_limited(ip_log_limit_t *site, ip_log_level_t level, const char *fmt, ...)
{
    struct timespec now;
    va_list ap;

    if (level < min_level)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    long long next = __atomic_load_n(&site->next_ms, __ATOMIC_RELAXED);
    if (now_ms < next || !__atomic_compare_exchange_n(&site->next_ms, &next,
                                                      now_ms + (site->interval_ms != 0 ? site->interval_ms : 1000), 0,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        __atomic_add_fetch(&site->held, 1, __ATOMIC_RELAXED);
        return;
    }
    va_start(ap, fmt);
    vlog(level, __atomic_exchange_n(&site->held, 0, __ATOMIC_RELAXED), fmt, ap);
    va_end(ap);
}

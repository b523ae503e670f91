/*
 * clock — the time of day as the event loop sees it: a gettimeofday() that never goes back.
 *
 * DESIGN: h2o 2.2.5's event loop reads the time with gettimeofday() and runs its timers by it: when the system
 * clock steps back (an NTP step, a VM resumed with a stale clock, an operator's `date -s`), every timer linked
 * before the step waits that much longer: health checks and replay ticks stop, query deadlines and lingering
 * batches hang, for as long as the step. This file defines gettimeofday() in the executable, which the dynamic
 * linker then binds for the libraries too (as an allocator's malloc() is): CLOCK_MONOTONIC plus an offset that
 * starts as the wall clock's and only ever grows. A step forward moves it forward with the wall clock, as before
 * (timers fire early: idle connections close, a query's deadline may cut it short); a step back leaves it running
 * on, ahead of the wall clock by the step (so are h2o's Date headers, which clients do not read).
 *
 * Code that needs the wall clock itself (log lines, the time given to points without one) reads CLOCK_REALTIME.
 */
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* The wall clock is read again only this long (monotonic) after the last read: h2o asks for the time several times
 * per request, and one clock read instead of two took it from 4.4 % to 1.8 % of the proxy's CPU for a small query.
 * A step forward is followed that much later. */
#define WALL_CHECK_US 20000

static int64_t offset_us;     /* wall clock minus monotonic clock, the largest seen; 0 until the first call */
static int64_t wall_check_us; /* monotonic time of the last read of the wall clock */

static int64_t us_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The prototype glibc declares (the second argument is void * under _GNU_SOURCE; the first is never NULL). */
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz;
    int64_t mono = us_of(CLOCK_MONOTONIC), seen = __atomic_load_n(&offset_us, __ATOMIC_RELAXED);
    if (seen == 0 || mono - __atomic_load_n(&wall_check_us, __ATOMIC_RELAXED) >= WALL_CHECK_US) {
        int64_t wall = us_of(CLOCK_REALTIME);
        __atomic_store_n(&wall_check_us, mono, __ATOMIC_RELAXED);
        while (wall - mono > seen &&
               !__atomic_compare_exchange_n(&offset_us, &seen, wall - mono, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        if (wall - mono > seen)
            seen = wall - mono;
    }
    int64_t now = mono + seen;
    tv->tv_sec = (time_t)(now / 1000000);
    tv->tv_usec = (suseconds_t)(now % 1000000);
    return 0;
}

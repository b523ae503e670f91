/*
 * clockstep — an LD_PRELOAD library for the e2e tests: the wall clock of the process it is loaded into steps back
 * once, the way an NTP step or a resumed VM moves it.
 *
 *   CLOCKSTEP_AFTER_MS  when, in ms of CLOCK_MONOTONIC after the process first reads the time
 *   CLOCKSTEP_BACK_S    by how many seconds CLOCK_REALTIME and gettimeofday() go back then
 *
 * Only those two clocks move; CLOCK_MONOTONIC and the others are the system's.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static clock_gettime_fn real_clock_gettime(void)
{
    static clock_gettime_fn fn;
    if (fn == NULL)
        fn = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
    return fn;
}

static int64_t env_int(const char *name)
{
    const char *v = getenv(name);
    return v != NULL ? strtoll(v, NULL, 10) : 0;
}

/* The step in ns to take off the wall clock now: 0 before CLOCKSTEP_AFTER_MS, the whole step after. */
static int64_t back_ns(void)
{
    static int64_t start_ns = -1;
    struct timespec m;
    real_clock_gettime()(CLOCK_MONOTONIC, &m);
    int64_t now = (int64_t)m.tv_sec * 1000000000 + m.tv_nsec;
    if (__atomic_load_n(&start_ns, __ATOMIC_RELAXED) < 0) {
        int64_t unset = -1;
        __atomic_compare_exchange_n(&start_ns, &unset, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    }
    if (now - __atomic_load_n(&start_ns, __ATOMIC_RELAXED) < env_int("CLOCKSTEP_AFTER_MS") * 1000000)
        return 0;
    return env_int("CLOCKSTEP_BACK_S") * 1000000000;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int ret = real_clock_gettime()(id, ts);
    if (ret == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        int64_t ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec - back_ns();
        ts->tv_sec = (time_t)(ns / 1000000000);
        ts->tv_nsec = (long)(ns % 1000000000);
    }
    return ret;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    (void)tz;
    clock_gettime(CLOCK_REALTIME, &ts);
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

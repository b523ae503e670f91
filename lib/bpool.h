/*
 * bpool — backend health and backend selection for queries (SPEC §5, §7).
 *
 * Health is a small state machine per backend, in the manner of HAProxy's checks: a backend moves
 * between UP and DOWN only after `fall` consecutive failures or `rise` consecutive successes, passing
 * through GOING_DOWN / GOING_UP on the way, so that one lost ping does not flush a healthy backend and
 * one lucky ping does not bring a flapping one back.
 *
 *   UNKNOWN --ok--> UP          UNKNOWN --fail--> DOWN
 *   UP --fail--> GOING_DOWN (DOWN if fall == 1)    GOING_DOWN --ok--> UP
 *   GOING_DOWN --fail x (fall-1)--> DOWN
 *   DOWN --ok--> GOING_UP (UP if rise == 1)         GOING_UP --fail--> DOWN
 *   GOING_UP --ok x (rise-1)--> UP
 *
 * Choices:
 * - Before its first check a backend is UNKNOWN: not healthy (never queried), and its first ping is
 *   due at once. The first answer decides directly (ok -> UP, fail -> DOWN): there is no history to
 *   distrust yet, and the proxy should not wait rise intervals after startup to serve queries.
 * - SPEC requires a killed backend to be reported down within 2 x checkinterval. The defaults are
 *   rise = 2, fall = 2, and while a backend is in a transitional state (GOING_UP, GOING_DOWN) it is
 *   pinged every `fastinter` ms (default checkinterval / 4, at least 1) instead of every checkinterval
 *   (HAProxy's fastinter). A backend killed right after a good check fails the next one at most
 *   checkinterval later and the confirming one fastinter after that: DOWN after 1.25 x checkinterval
 *   plus two ping round trips. This holds while a failing ping fails fast (connection refused); a
 *   ping to a host that drops packets fails only at the caller's ping timeout.
 * - Passive observations (a write or query that failed with a connection error) count toward `fall`
 *   exactly like a failed check, and make the next check due within fastinter so the failure is
 *   confirmed or refuted quickly. A passive success on an UP or GOING_DOWN backend proves it
 *   reachable and resets the failure count; a passive success never raises a DOWN backend: only
 *   active checks do, so `rise` keeps its meaning and recovery (which starts the queue replay) is
 *   always the result of a /ping.
 * - A backend is healthy (may receive queries) in UP and GOING_DOWN only.
 *
 * Selection: given a keymap's candidates in keymap order, the order to try is the eligible ones
 * (healthy, not writeonly, not replaying its queue) in the node's zone first, then the eligible ones
 * of other zones, keymap order kept within each group. A node without a zone has no preference.
 *
 * Layer 1: no clock reads (every function that needs time takes a monotonic `now_ms`), no I/O, no
 * logging, no allocation. A bp_health_t is not synchronised: it belongs to one thread (the one that
 * runs the checks); other threads read a copy of what they need.
 */
#ifndef IP_BPOOL_H
#define IP_BPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BP_DEFAULT_RISE 2
#define BP_DEFAULT_FALL 2
#define BP_MAX_COUNT 1000 /* upper bound for rise and fall */

/* Error codes (negative). */
#define BP_EINVAL (-1) /* invalid parameters */
#define BP_EBUSY (-2)  /* a check is already in flight */
#define BP_ESTATE (-3) /* a result was reported while no check was in flight */

typedef enum en_bp_state_t {
    BP_UNKNOWN = 0, /* not checked yet: not healthy, check due immediately */
    BP_UP,
    BP_GOING_DOWN, /* UP with failures counting toward fall: still healthy */
    BP_DOWN,
    BP_GOING_UP, /* DOWN with successes counting toward rise: not healthy */
} bp_state_t;

/* What a result did to the state (>= 0), returned by bp_check_result and bp_observe. */
typedef enum en_bp_change_t {
    BP_NOCHANGE = 0,
    BP_WENT_UP,   /* became UP from a state that was not healthy: start the queue replay */
    BP_WENT_DOWN, /* became DOWN from UNKNOWN, UP or GOING_DOWN: report it */
    BP_CHANGED,   /* any other state change (into or out of a transitional state) */
} bp_change_t;

typedef struct st_bp_params_t {
    uint64_t interval_ms;  /* between checks in UNKNOWN, UP and DOWN (backend `checkinterval`) */
    uint64_t fastinter_ms; /* between checks in GOING_UP and GOING_DOWN */
    unsigned rise;         /* consecutive successes to go from DOWN to UP */
    unsigned fall;         /* consecutive failures to go from UP to DOWN */
} bp_params_t;

/*
 * Health of one backend. The caller embeds it (no allocation) and treats it as read-only: the
 * public fields are counters for /meta and /metrics; fields starting with '_' are private.
 */
typedef struct st_bp_health_t {
    bp_state_t state;
    uint64_t checks;            /* active check results received */
    uint64_t check_failures;    /* of which failed */
    uint64_t observed_failures; /* passive failures reported through bp_observe */
    uint64_t last_change_ms;    /* time of the last state change (or of init) */
    unsigned consec_ok;         /* consecutive successes (checks and passive) */
    unsigned consec_fail;       /* consecutive failures (checks and passive) */
    bp_params_t _params;
    uint64_t _next_due_ms;
    uint64_t _started_ms;
    int _in_flight;
} bp_health_t;

/* One query candidate, filled by the caller from the keymap and the current health. */
typedef struct st_bp_cand_t {
    const char *zone;        /* backend zone; NULL or "" means none. Borrowed for the call. */
    unsigned char healthy;   /* bp_is_healthy() of the backend */
    unsigned char writeonly; /* backend `writeonly` */
    unsigned char replaying; /* its disk queue is not empty */
} bp_cand_t;

/*
 * Fills *p with the defaults for a backend whose checkinterval is `checkinterval_ms`: rise and fall
 * BP_DEFAULT_*, fastinter = checkinterval / 4 (at least 1).
 */
void bp_params_default(bp_params_t *p, uint64_t checkinterval_ms);

/*
 * Validates parameters: intervals >= 1, 1 <= rise, fall <= BP_MAX_COUNT. Returns 0, or BP_EINVAL with
 * a message written into errbuf (always NUL-terminated when errlen > 0).
 */
int bp_params_check(const bp_params_t *p, char *errbuf, size_t errlen);

/*
 * Initialises *h to UNKNOWN with zeroed counters; the first check is due at once. Returns 0, or
 * BP_EINVAL (h untouched) if the parameters do not pass bp_params_check.
 */
int bp_health_init(bp_health_t *h, const bp_params_t *p, uint64_t now_ms);

/*
 * Replaces the parameters (config reload) keeping state and counters. The next check is brought
 * forward if the new interval for the current state makes it due earlier. Returns 0 or BP_EINVAL.
 */
int bp_health_set_params(bp_health_t *h, const bp_params_t *p);

/* Returns 1 when a check should be started now: none in flight and the interval has elapsed. */
int bp_check_due(const bp_health_t *h, uint64_t now_ms);

/*
 * Time at which the next check becomes due (for the caller's timer), or UINT64_MAX while one is in
 * flight (the caller's ping timeout bounds it).
 */
uint64_t bp_next_due_ms(const bp_health_t *h);

/* Records that a ping was sent. Returns 0, or BP_EBUSY if one is already in flight (h unchanged). */
int bp_check_started(bp_health_t *h, uint64_t now_ms);

/*
 * Records the result of the ping in flight: ok = 1 when /ping answered 204, 0 on any failure
 * including the caller's timeout. The next check is due one interval of the new state after the
 * ping was started (at once if the ping took longer than that). Returns a bp_change_t (>= 0), or
 * BP_ESTATE if no check was in flight (h unchanged).
 */
int bp_check_result(bp_health_t *h, int ok, uint64_t now_ms);

/*
 * Forgets the check in flight without counting it (its request was cancelled, e.g. on shutdown).
 * The next check is due at once. Harmless when none is in flight.
 */
void bp_check_abort(bp_health_t *h);

/*
 * Passive observation from real traffic: ok = 0 for a write or query that failed with a connection
 * error or timeout, 1 for one that succeeded. See the choices above: a failure counts toward fall
 * (and toward observed_failures) and brings the next check forward to now + fastinter at the latest;
 * a success on a backend that is not healthy is ignored entirely. Returns a bp_change_t (>= 0).
 */
int bp_observe(bp_health_t *h, int ok, uint64_t now_ms);

/* Returns 1 if the backend may receive queries (UP or GOING_DOWN), else 0. */
int bp_is_healthy(const bp_health_t *h);

/* Lower-case name of a state ("unknown", "up", "going_down", "down", "going_up"); "invalid" if out of range. */
const char *bp_state_str(bp_state_t s);

/* Message for a BP_E* code. */
const char *bp_strerror(int code);

/*
 * Query order: writes into order_out (room for n entries) the positions in cands of the eligible
 * candidates, in the order to try them (see the DESIGN comment), and returns how many (0 when none
 * is eligible, e.g. all unhealthy). node_zone NULL or "" means no zone preference. If tried is not
 * NULL, tried[i] != 0 excludes candidate i (already tried).
 */
size_t bp_select(const bp_cand_t *cands, size_t n, const char *node_zone, const unsigned char *tried,
                 size_t *order_out);

/*
 * Next candidate after a failover: the position of the first candidate bp_select would return with
 * the same arguments, or -1 if none is left. Candidates' health may have changed since the first
 * choice; the caller refreshes cands and marks the failed one in tried.
 */
ssize_t bp_next(const bp_cand_t *cands, size_t n, const char *node_zone, const unsigned char *tried);

#endif

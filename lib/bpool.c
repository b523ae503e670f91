/*
 * bpool — backend health state machine and query candidate ordering.
 *
 * DESIGN: the health of a backend is one value (bp_health_t) that the check thread owns. Every
 * input — a check starting, a check result, a passive observation — is a function taking the time
 * as an argument, so the whole machine is deterministic and tested without a clock. A transition is
 * computed by next_on_ok()/next_on_fail() from the current state and the consecutive counters, then
 * apply() records it and classifies it for the caller (went up / went down / other). Scheduling is
 * one field, the time the next check is due, recomputed from the start time of the last check and
 * the interval of the state the backend is now in. Selection is a rank per candidate (-1 ineligible,
 * 0 preferred zone, 1 other zone) and a stable pass per rank.
 */
#include "bpool.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

void bp_params_default(bp_params_t *p, uint64_t checkinterval_ms)
{
    p->interval_ms = checkinterval_ms;
    p->fastinter_ms = checkinterval_ms / 4;
    if (p->fastinter_ms == 0)
        p->fastinter_ms = 1;
    p->rise = BP_DEFAULT_RISE;
    p->fall = BP_DEFAULT_FALL;
}

int bp_params_check(const bp_params_t *p, char *errbuf, size_t errlen)
{
    const char *msg = NULL;

    if (p->interval_ms == 0)
        msg = "check interval must be at least 1 ms";
    else if (p->fastinter_ms == 0)
        msg = "fast check interval must be at least 1 ms";
    else if (p->rise < 1 || p->rise > BP_MAX_COUNT)
        msg = "rise must be between 1 and 1000";
    else if (p->fall < 1 || p->fall > BP_MAX_COUNT)
        msg = "fall must be between 1 and 1000";
    if (msg == NULL)
        return 0;
    if (errlen > 0)
        snprintf(errbuf, errlen, "%s", msg);
    return BP_EINVAL;
}

int bp_health_init(bp_health_t *h, const bp_params_t *p, uint64_t now_ms)
{
    if (bp_params_check(p, NULL, 0) != 0)
        return BP_EINVAL;
    memset(h, 0, sizeof(*h));
    h->state = BP_UNKNOWN;
    h->last_change_ms = now_ms;
    h->_params = *p;
    h->_next_due_ms = 0;
    return 0;
}

static int is_healthy_state(bp_state_t s)
{
    return s == BP_UP || s == BP_GOING_DOWN;
}

/* Transitional states are pinged faster so that rise/fall do not delay a verdict by whole intervals. */
static uint64_t interval_of(const bp_health_t *h)
{
    if (h->state == BP_GOING_UP || h->state == BP_GOING_DOWN)
        return h->_params.fastinter_ms;
    return h->_params.interval_ms;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static unsigned inc_sat(unsigned v)
{
    return v == UINT_MAX ? v : v + 1;
}

int bp_health_set_params(bp_health_t *h, const bp_params_t *p)
{
    uint64_t due;

    if (bp_params_check(p, NULL, 0) != 0)
        return BP_EINVAL;
    h->_params = *p;
    /* Never postpone a check already scheduled: only a shorter interval moves it. */
    if (h->state != BP_UNKNOWN) {
        due = add_sat(h->_started_ms, interval_of(h));
        if (due < h->_next_due_ms)
            h->_next_due_ms = due;
    }
    return 0;
}

int bp_check_due(const bp_health_t *h, uint64_t now_ms)
{
    return !h->_in_flight && now_ms >= h->_next_due_ms;
}

uint64_t bp_next_due_ms(const bp_health_t *h)
{
    return h->_in_flight ? UINT64_MAX : h->_next_due_ms;
}

int bp_check_started(bp_health_t *h, uint64_t now_ms)
{
    if (h->_in_flight)
        return BP_EBUSY;
    h->_in_flight = 1;
    h->_started_ms = now_ms;
    return 0;
}

void bp_check_abort(bp_health_t *h)
{
    h->_in_flight = 0;
    h->_next_due_ms = 0;
}

static bp_state_t next_on_ok(const bp_health_t *h)
{
    switch (h->state) {
    case BP_DOWN:
    case BP_GOING_UP:
        return h->consec_ok >= h->_params.rise ? BP_UP : BP_GOING_UP;
    default: /* UNKNOWN decides at once; UP and GOING_DOWN are reset by any success */
        return BP_UP;
    }
}

static bp_state_t next_on_fail(const bp_health_t *h)
{
    switch (h->state) {
    case BP_UP:
    case BP_GOING_DOWN:
        return h->consec_fail >= h->_params.fall ? BP_DOWN : BP_GOING_DOWN;
    default: /* UNKNOWN decides at once; GOING_UP needs an unbroken run of successes */
        return BP_DOWN;
    }
}

static bp_change_t classify(bp_state_t from, bp_state_t to)
{
    if (from == to)
        return BP_NOCHANGE;
    if (to == BP_UP && !is_healthy_state(from))
        return BP_WENT_UP;
    if (to == BP_DOWN && (from == BP_UNKNOWN || is_healthy_state(from)))
        return BP_WENT_DOWN;
    return BP_CHANGED;
}

static bp_change_t apply(bp_health_t *h, bp_state_t to, uint64_t now_ms)
{
    bp_change_t c = classify(h->state, to);

    if (c != BP_NOCHANGE) {
        h->state = to;
        h->last_change_ms = now_ms;
    }
    return c;
}

/* Counts one result, active or passive, and moves the state. */
static bp_change_t count_result(bp_health_t *h, int ok, uint64_t now_ms)
{
    if (ok) {
        h->consec_fail = 0;
        h->consec_ok = inc_sat(h->consec_ok);
        return apply(h, next_on_ok(h), now_ms);
    }
    h->consec_ok = 0;
    h->consec_fail = inc_sat(h->consec_fail);
    return apply(h, next_on_fail(h), now_ms);
}

int bp_check_result(bp_health_t *h, int ok, uint64_t now_ms)
{
    bp_change_t c;

    if (!h->_in_flight)
        return BP_ESTATE;
    h->_in_flight = 0;
    h->checks++;
    if (!ok)
        h->check_failures++;
    c = count_result(h, ok, now_ms);
    /* From the start, not the end, of the ping: keeps the cadence at one interval. */
    h->_next_due_ms = add_sat(h->_started_ms, interval_of(h));
    return c;
}

int bp_observe(bp_health_t *h, int ok, uint64_t now_ms)
{
    bp_change_t c;
    uint64_t due;

    /* Only a /ping raises a backend that is not healthy: see the DESIGN notes in bpool.h. */
    if (ok && !is_healthy_state(h->state))
        return BP_NOCHANGE;
    if (!ok)
        h->observed_failures++;
    c = count_result(h, ok, now_ms);
    if (!ok && !h->_in_flight) {
        due = add_sat(now_ms, h->_params.fastinter_ms);
        if (due < h->_next_due_ms)
            h->_next_due_ms = due;
    }
    return c;
}

int bp_is_healthy(const bp_health_t *h)
{
    return is_healthy_state(h->state);
}

const char *bp_state_str(bp_state_t s)
{
    static const char *const names[] = {"unknown", "up", "going_down", "down", "going_up"};

    if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
        return "invalid";
    return names[s];
}

const char *bp_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case BP_EINVAL:
        return "invalid health check parameters";
    case BP_EBUSY:
        return "a health check is already in flight";
    case BP_ESTATE:
        return "no health check in flight";
    default:
        return "unknown error";
    }
}

static int zone_is_empty(const char *z)
{
    return z == NULL || z[0] == '\0';
}

/* -1: not eligible; 0: preferred (same zone, or the node has none); 1: another zone. */
static int rank(const bp_cand_t *c, const char *node_zone, int tried)
{
    if (tried || !c->healthy || c->writeonly || c->replaying)
        return -1;
    if (zone_is_empty(node_zone))
        return 0;
    if (!zone_is_empty(c->zone) && strcmp(c->zone, node_zone) == 0)
        return 0;
    return 1;
}

size_t bp_select(const bp_cand_t *cands, size_t n, const char *node_zone, const unsigned char *tried, size_t *order_out)
{
    size_t count = 0;
    int r;

    for (r = 0; r <= 1; r++) {
        for (size_t i = 0; i < n; i++) {
            if (rank(&cands[i], node_zone, tried != NULL && tried[i]) == r)
                order_out[count++] = i;
        }
    }
    return count;
}

ssize_t bp_next(const bp_cand_t *cands, size_t n, const char *node_zone, const unsigned char *tried)
{
    ssize_t other = -1;

    for (size_t i = 0; i < n; i++) {
        int r = rank(&cands[i], node_zone, tried != NULL && tried[i]);
        if (r == 0)
            return (ssize_t)i;
        if (r == 1 && other < 0)
            other = (ssize_t)i;
    }
    return other;
}

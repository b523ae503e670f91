/*
 * Unit tests for lib/bpool: the health state machine (every transition with rise/fall, passive
 * observations, change reporting), check scheduling (interval, fastinter, in-flight), and the query
 * candidate order (zones, writeonly, replaying, unhealthy, tried, ties in keymap order).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "bpool.h"

#define MAXSTEPS 12

/* ---- state machine ---------------------------------------------------------------------------- */

/*
 * events: '+' check ok, '-' check failed, 'p' passive success, 'n' passive failure.
 * states[i] / changes[i]: expected after event i.
 */
typedef struct {
    const char *name;
    unsigned rise, fall;
    const char *events;
    bp_state_t states[MAXSTEPS];
    bp_change_t changes[MAXSTEPS];
} sm_case_t;

#define U BP_UP
#define D BP_DOWN
#define GU BP_GOING_UP
#define GD BP_GOING_DOWN
#define UN BP_UNKNOWN
#define NC BP_NOCHANGE
#define WU BP_WENT_UP
#define WD BP_WENT_DOWN
#define CH BP_CHANGED

static const sm_case_t sm_cases[] = {
    {"unknown, first check ok -> up", 2, 2, "+", {U}, {WU}},
    {"unknown, first check fails -> down", 2, 2, "-", {D}, {WD}},
    {"unknown, first ok even with rise 5", 5, 5, "+", {U}, {WU}},
    {"unknown, first fail even with fall 5", 5, 5, "-", {D}, {WD}},
    {"up stays up on success", 2, 2, "+++", {U, U, U}, {WU, NC, NC}},
    {"up, one failure -> going_down (fall 2)", 2, 2, "+-", {U, GD}, {WU, CH}},
    {"going_down, second failure -> down", 2, 2, "+--", {U, GD, D}, {WU, CH, WD}},
    {"going_down, success -> up again", 2, 2, "+-+", {U, GD, U}, {WU, CH, CH}},
    {"fall 1: one failure takes it down", 2, 1, "+-", {U, D}, {WU, WD}},
    {"fall 3: down on the third failure", 2, 3, "+---", {U, GD, GD, D}, {WU, CH, NC, WD}},
    {"fall 3: broken run restarts the count", 2, 3, "+--+--", {U, GD, GD, U, GD, GD}, {WU, CH, NC, CH, CH, NC}},
    {"down stays down on failure", 2, 2, "---", {D, D, D}, {WD, NC, NC}},
    {"down, one success -> going_up (rise 2)", 2, 2, "-+", {D, GU}, {WD, CH}},
    {"going_up, second success -> up", 2, 2, "-++", {D, GU, U}, {WD, CH, WU}},
    {"going_up, failure -> down", 2, 2, "-+-", {D, GU, D}, {WD, CH, CH}},
    {"rise 1: one success brings it up", 1, 2, "-+", {D, U}, {WD, WU}},
    {"rise 3: up on the third success", 3, 2, "-+++", {D, GU, GU, U}, {WD, CH, NC, WU}},
    {"rise 3: failure in between restarts", 3, 2, "-++-+++", {D, GU, GU, D, GU, GU, U}, {WD, CH, NC, CH, CH, NC, WU}},
    {"full cycle up-down-up", 2, 2, "+--++", {U, GD, D, GU, U}, {WU, CH, WD, CH, WU}},
    {"rise 1 fall 1 flaps every result", 1, 1, "+-+-", {U, D, U, D}, {WU, WD, WU, WD}},
    /* passive observations */
    {"passive failure on unknown -> down", 2, 2, "n", {D}, {WD}},
    {"passive success on unknown ignored", 2, 2, "p", {UN}, {NC}},
    {"passive failure counts toward fall", 2, 2, "+n", {U, GD}, {WU, CH}},
    {"two passive failures take it down", 2, 2, "+nn", {U, GD, D}, {WU, CH, WD}},
    {"passive then check failure -> down", 2, 2, "+n-", {U, GD, D}, {WU, CH, WD}},
    {"passive success resets going_down", 2, 2, "+-p", {U, GD, U}, {WU, CH, CH}},
    {"passive success on up: no change", 2, 2, "+p", {U, U}, {WU, NC}},
    {"passive success never raises down", 2, 2, "-pp", {D, D, D}, {WD, NC, NC}},
    {"passive success ignored in going_up", 2, 2, "-+p+", {D, GU, GU, U}, {WD, CH, NC, WU}},
    {"passive failure in going_up -> down", 2, 2, "-+n", {D, GU, D}, {WD, CH, CH}},
    {"passive failure on down: stays down", 2, 2, "-n", {D, D}, {WD, NC}},
    {"fall 1: passive failure takes it down", 2, 1, "+n", {U, D}, {WU, WD}},
};

static int sm_apply(bp_health_t *h, char ev, uint64_t now)
{
    switch (ev) {
    case '+':
    case '-':
        assert_int_equal(bp_check_started(h, now), 0);
        return bp_check_result(h, ev == '+', now + 1);
    case 'p':
        return bp_observe(h, 1, now);
    default:
        return bp_observe(h, 0, now);
    }
}

static void test_state_machine(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < sizeof(sm_cases) / sizeof(sm_cases[0]); k++) {
        const sm_case_t *c = &sm_cases[k];
        bp_params_t p = {1000, 250, c->rise, c->fall};
        bp_health_t h;
        uint64_t now = 5000, last_change = 5000;

        print_message("# %s\n", c->name);
        assert_int_equal(bp_health_init(&h, &p, now), 0);
        assert_int_equal(h.state, BP_UNKNOWN);
        assert_false(bp_is_healthy(&h));
        for (size_t i = 0; c->events[i] != '\0'; i++) {
            bp_state_t before = h.state;
            now += 100;
            int ret = sm_apply(&h, c->events[i], now);
            assert_int_equal(ret, c->changes[i]);
            assert_int_equal(h.state, c->states[i]);
            assert_int_equal(bp_is_healthy(&h), c->states[i] == BP_UP || c->states[i] == BP_GOING_DOWN);
            /* last_change_ms moves exactly when the state does */
            if (before != h.state)
                last_change = (c->events[i] == '+' || c->events[i] == '-') ? now + 1 : now;
            assert_int_equal(h.last_change_ms, last_change);
        }
    }
}

static void test_counters(void **unused)
{
    bp_params_t p = {1000, 250, 2, 3};
    bp_health_t h;
    uint64_t now = 0;
    const char *ev = "+-+--np-n";

    (void)unused;
    assert_int_equal(bp_health_init(&h, &p, 0), 0);
    for (size_t i = 0; ev[i] != '\0'; i++)
        sm_apply(&h, ev[i], now += 10);
    assert_int_equal(h.checks, 6);
    assert_int_equal(h.check_failures, 4);
    assert_int_equal(h.observed_failures, 2);
    assert_int_equal(h.state, BP_DOWN);
    assert_int_equal(h.consec_fail, 5);
    assert_int_equal(h.consec_ok, 0);
    sm_apply(&h, '-', now += 10);
    assert_int_equal(h.consec_fail, 6);
    sm_apply(&h, '+', now += 10);
    assert_int_equal(h.consec_ok, 1);
    assert_int_equal(h.consec_fail, 0);
}

/* ---- scheduling ------------------------------------------------------------------------------- */

typedef enum { OP_END = 0, OP_DUE, OP_NEXT, OP_START, OP_OK, OP_FAIL, OP_POK, OP_PFAIL, OP_ABORT, OP_PARAMS } op_t;

typedef struct {
    op_t op;
    uint64_t now;
    int64_t expect;               /* OP_DUE: 0/1; OP_NEXT: due time (-1 = UINT64_MAX); others: return value */
    uint64_t interval, fastinter; /* OP_PARAMS only */
} step_t;

typedef struct {
    const char *name;
    step_t steps[MAXSTEPS];
} sched_case_t;

#define S(op, now, expect)                                                                                             \
    {                                                                                                                  \
        op, now, expect, 0, 0                                                                                          \
    }
#define P(expect, interval, fastinter)                                                                                 \
    {                                                                                                                  \
        OP_PARAMS, 0, expect, interval, fastinter                                                                      \
    }

/* All cases start at t=1000 with interval 1000, fastinter 250, rise 2, fall 2. */
static const sched_case_t sched_cases[] = {
    {"unknown is due at once", {S(OP_DUE, 1000, 1), S(OP_NEXT, 1000, 0)}},
    {"nothing due while in flight",
     {S(OP_START, 1000, 0), S(OP_DUE, 1000, 0), S(OP_DUE, 50000, 0), S(OP_NEXT, 1000, -1)}},
    {"second start while in flight is refused",
     {S(OP_START, 1000, 0), S(OP_START, 1001, BP_EBUSY), S(OP_DUE, 1002, 0)}},
    {"result without a check is refused", {S(OP_OK, 1000, BP_ESTATE), S(OP_FAIL, 1000, BP_ESTATE), S(OP_DUE, 1000, 1)}},
    {"up: next check one interval after the start",
     {S(OP_START, 1000, 0), S(OP_OK, 1020, BP_WENT_UP), S(OP_NEXT, 0, 2000), S(OP_DUE, 1999, 0), S(OP_DUE, 2000, 1),
      S(OP_START, 2000, 0), S(OP_OK, 2005, 0), S(OP_DUE, 2999, 0), S(OP_DUE, 3000, 1)}},
    {"down: checked every interval",
     {S(OP_START, 1000, 0), S(OP_FAIL, 1003, BP_WENT_DOWN), S(OP_NEXT, 0, 2000), S(OP_DUE, 1999, 0),
      S(OP_DUE, 2000, 1)}},
    {"going_down: fast interval",
     {S(OP_START, 1000, 0), S(OP_OK, 1001, BP_WENT_UP), S(OP_START, 2000, 0), S(OP_FAIL, 2002, BP_CHANGED),
      S(OP_NEXT, 0, 2250), S(OP_DUE, 2249, 0), S(OP_DUE, 2250, 1)}},
    {"going_up: fast interval, then back to interval",
     {S(OP_START, 1000, 0), S(OP_FAIL, 1001, BP_WENT_DOWN), S(OP_START, 2000, 0), S(OP_OK, 2001, BP_CHANGED),
      S(OP_NEXT, 0, 2250), S(OP_START, 2250, 0), S(OP_OK, 2251, BP_WENT_UP), S(OP_NEXT, 0, 3250)}},
    {"ping slower than the interval: due at once on result",
     {S(OP_START, 1000, 0), S(OP_OK, 3500, BP_WENT_UP), S(OP_DUE, 3500, 1), S(OP_NEXT, 0, 2000)}},
    {"killed backend reported down within 2 x interval",
     {S(OP_START, 1000, 0), S(OP_OK, 1001, BP_WENT_UP), S(OP_DUE, 2000, 1), S(OP_START, 2000, 0),
      S(OP_FAIL, 2001, BP_CHANGED), S(OP_DUE, 2250, 1), S(OP_START, 2250, 0), S(OP_FAIL, 2251, BP_WENT_DOWN)}},
    {"passive failure brings the next check forward",
     {S(OP_START, 1000, 0), S(OP_OK, 1001, BP_WENT_UP), S(OP_PFAIL, 1100, BP_CHANGED), S(OP_NEXT, 0, 1350),
      S(OP_DUE, 1349, 0), S(OP_DUE, 1350, 1)}},
    {"passive failure never postpones a due check",
     {S(OP_START, 1000, 0), S(OP_FAIL, 1001, BP_WENT_DOWN), S(OP_PFAIL, 1900, 0), S(OP_NEXT, 0, 2000)}},
    {"passive failure during a check: schedule from its result",
     {S(OP_START, 1000, 0), S(OP_OK, 1001, BP_WENT_UP), S(OP_START, 2000, 0), S(OP_PFAIL, 2001, BP_CHANGED),
      S(OP_NEXT, 0, -1), S(OP_FAIL, 2002, BP_WENT_DOWN), S(OP_NEXT, 0, 3000)}},
    {"passive success does not move the schedule",
     {S(OP_START, 1000, 0), S(OP_OK, 1001, BP_WENT_UP), S(OP_POK, 1500, 0), S(OP_NEXT, 0, 2000)}},
    {"abort: nothing counted, due at once",
     {S(OP_START, 1000, 0), S(OP_ABORT, 1010, 0), S(OP_DUE, 1010, 1), S(OP_OK, 1011, BP_ESTATE), S(OP_START, 1012, 0)}},
    {"shorter interval on reload brings the check forward",
     {S(OP_START, 1000, 0), S(OP_OK, 1001, BP_WENT_UP), P(0, 500, 100), S(OP_NEXT, 0, 1500)}},
    {"longer interval on reload does not postpone",
     {S(OP_START, 1000, 0), S(OP_OK, 1001, BP_WENT_UP), P(0, 5000, 1000), S(OP_NEXT, 0, 2000)}},
    {"invalid params on reload refused",
     {S(OP_START, 1000, 0), S(OP_OK, 1001, BP_WENT_UP), P(BP_EINVAL, 0, 100), S(OP_NEXT, 0, 2000)}},
};

static void run_step(bp_health_t *h, const step_t *s)
{
    bp_params_t p = {s->interval, s->fastinter, 2, 2};

    switch (s->op) {
    case OP_DUE:
        assert_int_equal(bp_check_due(h, s->now), s->expect);
        break;
    case OP_NEXT:
        assert_true(bp_next_due_ms(h) == (s->expect < 0 ? UINT64_MAX : (uint64_t)s->expect));
        break;
    case OP_START:
        assert_int_equal(bp_check_started(h, s->now), s->expect);
        break;
    case OP_OK:
    case OP_FAIL:
        assert_int_equal(bp_check_result(h, s->op == OP_OK, s->now), s->expect);
        break;
    case OP_POK:
    case OP_PFAIL:
        assert_int_equal(bp_observe(h, s->op == OP_POK, s->now), s->expect);
        break;
    case OP_ABORT:
        bp_check_abort(h);
        break;
    case OP_PARAMS:
        assert_int_equal(bp_health_set_params(h, &p), s->expect);
        break;
    case OP_END:
        break;
    }
}

static void test_schedule(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < sizeof(sched_cases) / sizeof(sched_cases[0]); k++) {
        const sched_case_t *c = &sched_cases[k];
        bp_params_t p = {1000, 250, 2, 2};
        bp_health_t h;

        print_message("# %s\n", c->name);
        assert_int_equal(bp_health_init(&h, &p, 1000), 0);
        for (size_t i = 0; i < MAXSTEPS && c->steps[i].op != OP_END; i++)
            run_step(&h, &c->steps[i]);
    }
}

static void test_abort_not_counted(void **unused)
{
    bp_params_t p = {1000, 250, 2, 2};
    bp_health_t h;

    (void)unused;
    assert_int_equal(bp_health_init(&h, &p, 0), 0);
    assert_int_equal(bp_check_started(&h, 0), 0);
    bp_check_abort(&h);
    bp_check_abort(&h); /* harmless when none is in flight */
    assert_int_equal(h.checks, 0);
    assert_int_equal(h.state, BP_UNKNOWN);
}

/* ---- parameters and strings ------------------------------------------------------------------- */

typedef struct {
    bp_params_t p;
    int expect;
    const char *msg_part;
} params_case_t;

static const params_case_t params_cases[] = {
    {{1000, 250, 2, 2}, 0, ""},
    {{1, 1, 1, 1}, 0, ""},
    {{1000, 250, 1000, 1000}, 0, ""},
    {{0, 250, 2, 2}, BP_EINVAL, "check interval"},
    {{1000, 0, 2, 2}, BP_EINVAL, "fast check interval"},
    {{1000, 250, 0, 2}, BP_EINVAL, "rise"},
    {{1000, 250, 2, 0}, BP_EINVAL, "fall"},
    {{1000, 250, 1001, 2}, BP_EINVAL, "rise"},
    {{1000, 250, 2, 1001}, BP_EINVAL, "fall"},
};

static void test_params(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < sizeof(params_cases) / sizeof(params_cases[0]); k++) {
        const params_case_t *c = &params_cases[k];
        char err[128] = "";
        bp_health_t h;

        assert_int_equal(bp_params_check(&c->p, err, sizeof(err)), c->expect);
        assert_non_null(strstr(err, c->msg_part));
        if (c->expect != 0)
            assert_true(strlen(err) > 0);
        assert_int_equal(bp_health_init(&h, &c->p, 0), c->expect);
    }
}

static void test_params_default(void **unused)
{
    static const struct {
        uint64_t ci, fast;
    } cases[] = {{1000, 250}, {10000, 2500}, {4, 1}, {3, 1}, {1, 1}};
    bp_params_t p;
    char err[4];

    (void)unused;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        bp_params_default(&p, cases[k].ci);
        assert_int_equal(p.interval_ms, cases[k].ci);
        assert_int_equal(p.fastinter_ms, cases[k].fast);
        assert_int_equal(p.rise, BP_DEFAULT_RISE);
        assert_int_equal(p.fall, BP_DEFAULT_FALL);
        assert_int_equal(bp_params_check(&p, NULL, 0), 0);
        /* defaults satisfy SPEC: down within 2 x checkinterval (fall - 1 fast checks after the first) */
        assert_true(p.interval_ms + (p.fall - 1) * p.fastinter_ms < 2 * p.interval_ms || p.interval_ms == 1);
    }
    p.interval_ms = 0;
    assert_int_equal(bp_params_check(&p, err, sizeof(err)), BP_EINVAL);
    assert_int_equal(strlen(err), 3); /* truncated, terminated */
}

static void test_strings(void **unused)
{
    (void)unused;
    assert_string_equal(bp_state_str(BP_UNKNOWN), "unknown");
    assert_string_equal(bp_state_str(BP_UP), "up");
    assert_string_equal(bp_state_str(BP_GOING_DOWN), "going_down");
    assert_string_equal(bp_state_str(BP_DOWN), "down");
    assert_string_equal(bp_state_str(BP_GOING_UP), "going_up");
    assert_string_equal(bp_state_str((bp_state_t)42), "invalid");
    assert_string_equal(bp_strerror(0), "success");
    assert_string_equal(bp_strerror(BP_EBUSY), "a health check is already in flight");
    assert_string_equal(bp_strerror(BP_ESTATE), "no health check in flight");
    assert_string_equal(bp_strerror(BP_EINVAL), "invalid health check parameters");
    assert_string_equal(bp_strerror(-99), "unknown error");
}

/* ---- selection -------------------------------------------------------------------------------- */

#define MAXC 6

/* A candidate as a compact string: zone, then flags: 'h' healthy, 'w' writeonly, 'r' replaying. */
typedef struct {
    const char *zone;
    const char *flags;
} cand_spec_t;

typedef struct {
    const char *name;
    const char *node_zone;
    size_t n;
    cand_spec_t cands[MAXC];
    const char *tried; /* '1' = tried, NULL = none */
    size_t count;
    size_t order[MAXC];
} sel_case_t;

static const sel_case_t sel_cases[] = {
    {"empty set", "a", 0, {{0}}, NULL, 0, {0}},
    {"empty set, no zone", NULL, 0, {{0}}, NULL, 0, {0}},
    {"one healthy", "", 1, {{"", "h"}}, NULL, 1, {0}},
    {"one unhealthy", "", 1, {{"", ""}}, NULL, 0, {0}},
    {"all unhealthy", "a", 3, {{"a", ""}, {"b", ""}, {"", ""}}, NULL, 0, {0}},
    {"no zone: keymap order", NULL, 3, {{"b", "h"}, {"a", "h"}, {"", "h"}}, NULL, 3, {0, 1, 2}},
    {"empty node zone: keymap order", "", 3, {{"b", "h"}, {"a", "h"}, {"", "h"}}, NULL, 3, {0, 1, 2}},
    {"same zone first", "a", 3, {{"b", "h"}, {"a", "h"}, {"c", "h"}}, NULL, 3, {1, 0, 2}},
    {"ties in keymap order within groups",
     "a",
     5,
     {{"b", "h"}, {"a", "h"}, {"c", "h"}, {"a", "h"}, {"b", "h"}},
     NULL,
     5,
     {1, 3, 0, 2, 4}},
    {"zone-less backend is another zone", "a", 2, {{"", "h"}, {"a", "h"}}, NULL, 2, {1, 0}},
    {"NULL backend zone is another zone", "a", 2, {{NULL, "h"}, {"a", "h"}}, NULL, 2, {1, 0}},
    {"zone compare is exact", "a", 3, {{"A", "h"}, {"ab", "h"}, {"a", "h"}}, NULL, 3, {2, 0, 1}},
    {"no candidate in zone: others in order", "z", 2, {{"a", "h"}, {"b", "h"}}, NULL, 2, {0, 1}},
    {"writeonly never queried", "", 3, {{"", "hw"}, {"", "h"}, {"", "hw"}}, NULL, 1, {1}},
    {"writeonly in own zone skipped", "a", 2, {{"a", "hw"}, {"b", "h"}}, NULL, 1, {1}},
    {"replaying skipped", "a", 3, {{"a", "hr"}, {"a", "h"}, {"b", "h"}}, NULL, 2, {1, 2}},
    {"unhealthy same zone skipped", "a", 3, {{"a", ""}, {"b", "h"}, {"a", "h"}}, NULL, 2, {2, 1}},
    {"all ineligible for different reasons", "a", 3, {{"a", ""}, {"a", "hw"}, {"a", "hr"}}, NULL, 0, {0}},
    {"unhealthy writeonly replaying", "", 1, {{"", "wr"}}, NULL, 0, {0}},
    {"tried ones skipped", "a", 3, {{"a", "h"}, {"a", "h"}, {"b", "h"}}, "100", 2, {1, 2}},
    {"all same-zone tried: other zones", "a", 3, {{"a", "h"}, {"b", "h"}, {"a", "h"}}, "101", 1, {1}},
    {"everything tried", "", 2, {{"", "h"}, {"", "h"}}, "11", 0, {0}},
    {"mixed",
     "eu",
     6,
     {{"us", "h"}, {"eu", "hr"}, {"eu", "h"}, {"us", ""}, {"eu", "hw"}, {"", "h"}},
     NULL,
     3,
     {2, 0, 5}},
};

static void build_cands(const sel_case_t *c, bp_cand_t *out, unsigned char *tried)
{
    for (size_t i = 0; i < c->n; i++) {
        out[i].zone = c->cands[i].zone;
        out[i].healthy = strchr(c->cands[i].flags, 'h') != NULL;
        out[i].writeonly = strchr(c->cands[i].flags, 'w') != NULL;
        out[i].replaying = strchr(c->cands[i].flags, 'r') != NULL;
        tried[i] = c->tried != NULL && c->tried[i] == '1';
    }
}

static void test_select(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < sizeof(sel_cases) / sizeof(sel_cases[0]); k++) {
        const sel_case_t *c = &sel_cases[k];
        bp_cand_t cands[MAXC];
        unsigned char tried[MAXC];
        size_t order[MAXC + 1];

        print_message("# %s\n", c->name);
        build_cands(c, cands, tried);
        memset(order, 0xff, sizeof(order));
        size_t count = bp_select(cands, c->n, c->node_zone, c->tried != NULL ? tried : NULL, order);
        assert_int_equal(count, c->count);
        for (size_t i = 0; i < count; i++)
            assert_int_equal(order[i], c->order[i]);
        assert_true(order[count] == (size_t)-1); /* nothing written past the count */

        /* bp_next agrees with the head of the order */
        ssize_t next = bp_next(cands, c->n, c->node_zone, c->tried != NULL ? tried : NULL);
        if (c->count == 0)
            assert_int_equal(next, -1);
        else
            assert_int_equal(next, (ssize_t)c->order[0]);
    }
}

/* Failing over one by one with bp_next visits exactly the bp_select order, then reports -1. */
static void test_failover_walk(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < sizeof(sel_cases) / sizeof(sel_cases[0]); k++) {
        const sel_case_t *c = &sel_cases[k];
        bp_cand_t cands[MAXC];
        unsigned char tried[MAXC];
        size_t steps = 0;
        ssize_t next;

        build_cands(c, cands, tried);
        if (c->tried == NULL)
            memset(tried, 0, sizeof(tried));
        for (;;) {
            next = bp_next(cands, c->n, c->node_zone, tried);
            if (next < 0)
                break;
            assert_true(steps < c->count);
            assert_int_equal(next, (ssize_t)c->order[steps]);
            tried[next] = 1;
            steps++;
        }
        assert_int_equal(steps, c->count);
    }
}

/* Health changing between tries: a candidate that went down is not offered on failover. */
static void test_failover_health_change(void **unused)
{
    bp_cand_t cands[3] = {{"a", 1, 0, 0}, {"a", 1, 0, 0}, {"b", 1, 0, 0}};
    unsigned char tried[3] = {0, 0, 0};

    (void)unused;
    assert_int_equal(bp_next(cands, 3, "a", tried), 0);
    tried[0] = 1;
    cands[1].healthy = 0;
    assert_int_equal(bp_next(cands, 3, "a", tried), 2);
    tried[2] = 1;
    assert_int_equal(bp_next(cands, 3, "a", tried), -1);
    cands[1].healthy = 1; /* recovered meanwhile: offered again */
    assert_int_equal(bp_next(cands, 3, "a", tried), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_machine), cmocka_unit_test(test_counters),
        cmocka_unit_test(test_schedule),      cmocka_unit_test(test_abort_not_counted),
        cmocka_unit_test(test_params),        cmocka_unit_test(test_params_default),
        cmocka_unit_test(test_strings),       cmocka_unit_test(test_select),
        cmocka_unit_test(test_failover_walk), cmocka_unit_test(test_failover_health_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

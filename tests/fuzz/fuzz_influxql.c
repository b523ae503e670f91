/*
 * libFuzzer driver for the InfluxQL splitter and classifier: iql_split over arbitrary bytes, then
 * iql_classify on every statement and on the whole input. Checks the contract rather than just
 * crashes: every slice lies inside the input, an accepted statement decodes all of its identifiers,
 * a rejection always carries a message, and a decoded name quoted back with iql_quote_ident parses
 * to the same name. influxd's message for a statement no keyword starts, and Go's TrimSpace, over the same input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "influxql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static iql_t *plain, *forbidding;

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void check_inside(const iql_slice_t *s, const char *base, size_t len)
{
    if (s->ptr == NULL || s->ptr < base || s->ptr + s->len > base + len)
        abort();
}

static void check_ident(const iql_ident_t *id, const iql_slice_t *text)
{
    char name[4096], quoted[8200], stmt[8300];
    if (id->kind == IQL_ID_NONE)
        return;
    check_inside(&id->tok, text->ptr, text->len);
    int n = iql_ident_copy(id, name, sizeof(name));
    if (n < 0) {
        if (id->tok.len < sizeof(name)) /* a valid identifier always decodes when it fits */
            abort();
        return;
    }
    if (id->kind == IQL_ID_REGEX)
        return;
    int q = iql_quote_ident(name, (size_t)n, quoted, sizeof(quoted));
    if (q < 0)
        abort();
    /* built with memcpy: a decoded name may hold NUL bytes */
    memcpy(stmt, "CREATE DATABASE ", 16);
    memcpy(stmt + 16, quoted, (size_t)q);
    int sl = 16 + q;
    iql_stmt_t st;
    char back[4096];
    if (iql_classify(plain, stmt, (size_t)sl, &st, NULL, 0) != 0 || st.cls != IQL_BROADCAST ||
        iql_ident_copy(&st.db, back, sizeof(back)) != n || memcmp(back, name, (size_t)n) != 0)
        abort();
}

static void check_classify(const iql_t *iql, const char *s, size_t len)
{
    iql_stmt_t st;
    char err[256] = "";
    int rc = iql_classify(iql, s, len, &st, err, sizeof(err));
    if (rc != st.err)
        abort();
    if (rc != 0) {
        if (st.cls != IQL_REJECT || err[0] == '\0' || st.nsources != 0)
            abort();
        return;
    }
    if (st.cls == IQL_REJECT || err[0] != '\0')
        abort();
    check_inside(&st.text, s, len);
    check_inside(&st.bare, st.text.ptr, st.text.len);
    if (st.bare.ptr != st.text.ptr || st.nsources > IQL_MAX_SOURCES)
        abort();
    if (st.cls == IQL_ROUTE && st.nsources == 0)
        abort();
    for (size_t i = 0; i < st.nsources; i++) {
        if (st.sources[i].name.kind == IQL_ID_NONE)
            abort();
        check_ident(&st.sources[i].db, &st.text);
        check_ident(&st.sources[i].rp, &st.text);
        check_ident(&st.sources[i].name, &st.text);
    }
    check_ident(&st.on_db, &st.text);
    check_ident(&st.db, &st.text);
    if (st.cls == IQL_BROADCAST && st.db.kind == IQL_ID_NONE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *q = (const char *)data;
    iql_slice_t stmts[64];
    char err[128] = "";

    if (plain == NULL) {
        plain = iql_create(NULL, err, sizeof(err));
        forbidding = iql_create("(?i)secret|^\\s*show\\s+users", err, sizeof(err));
        if (plain == NULL || forbidding == NULL)
            abort();
    }
    int n = iql_split(q, size, stmts, 64, err, sizeof(err));
    if (n < 0 && err[0] == '\0')
        abort();
    for (int i = 0; i < n; i++) {
        check_inside(&stmts[i], q, size);
        /* trimmed at the front; the end may be blank inside an unterminated quote */
        if (stmts[i].len == 0 || is_blank((unsigned char)stmts[i].ptr[0]))
            abort();
        check_classify(plain, stmts[i].ptr, stmts[i].len);
        check_classify(forbidding, stmts[i].ptr, stmts[i].len);
        /* influxd's words for a statement no keyword starts: a message when there is one, a small buffer never
         * overrun */
        char msg[300], tiny[16];
        memset(tiny, 'x', sizeof(tiny));
        int r1 = iql_first_token_error(q, size, (size_t)(stmts[i].ptr - q), msg, sizeof(msg));
        int r2 = iql_first_token_error(q, size, (size_t)(stmts[i].ptr - q), tiny, 8);
        if (r1 != r2 ||
            (r1 == 1 && (strncmp(msg, "error parsing query: found ", 27) != 0 || tiny[7] != '\0' || tiny[8] != 'x')))
            abort();
    }
    check_classify(plain, q, size);
    iql_slice_t t = iql_trim_space(q, size);
    check_inside(&t, q, size);
    if (t.len != 0 && is_blank((unsigned char)t.ptr[0]))
        abort();
    iql_first_token_error(q, size, size, err, sizeof(err));
    return 0;
}

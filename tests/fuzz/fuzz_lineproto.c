/*
 * libFuzzer driver for lib/lineproto: the input is a /write body. Every line is parsed and validated,
 * its measurement and string-like slices unescaped, and its error text built into a bounded buffer, so
 * a read outside the body or an inconsistent slice shows up under ASan/UBSan. The first input byte picks
 * the precision, so timestamp scaling and range checks are exercised too. Every body is also scanned
 * with the general scanner only, and each line must come out of both paths the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lineproto.h"

static void check_slice(const uint8_t *base, size_t size, const char *p, size_t len)
{
    if (len == 0)
        return;
    if ((const uint8_t *)p < base || (const uint8_t *)p + len > base + size)
        abort();
}

static void unescape_all(const lp_line_t *l)
{
    char out[256];
    ssize_t n;

    n = lp_unescape_measurement(l, out, sizeof(out));
    if (n > (ssize_t)l->measurement_len)
        abort();
    lp_unescape(LP_ESC_TAG, l->tags, l->tags_len, out, sizeof(out));
    lp_unescape(LP_ESC_FIELD_KEY, l->fields, l->fields_len, out, sizeof(out));
    lp_unescape(LP_ESC_STRING, l->fields, l->fields_len, out, sizeof(out));
}

/* The fast path for plain lines must give exactly what the general scanner gives. */
static void same_line(const lp_line_t *a, const lp_line_t *b)
{
    if (a->line != b->line || a->line_len != b->line_len || a->err != b->err || a->measurement != b->measurement ||
        a->measurement_len != b->measurement_len || a->tags != b->tags || a->tags_len != b->tags_len ||
        a->fields != b->fields || a->fields_len != b->fields_len || a->ts != b->ts || a->ts_len != b->ts_len ||
        a->ts_ns != b->ts_ns || a->_err_arg != b->_err_arg || a->_err_arg_len != b->_err_arg_len ||
        a->_err_num != b->_err_num)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[512], reason[128];
    lp_errbuf_t eb;
    lp_iter_t it, general;
    lp_line_t l, g;
    size_t nvalid = 0, len;
    const char *m;
    char *body;
    lp_precision_t prec = LP_PREC_NS;

    if (size > 0) {
        prec = (lp_precision_t)(data[0] % 6);
        data++;
        size--;
    }
    /* a private copy without slack, so ASan catches any read past the end */
    body = size > 0 ? malloc(size) : NULL;
    if (size > 0 && body == NULL)
        return 0;
    if (size > 0)
        memcpy(body, data, size);
    lp_errbuf_init(&eb, msg, sizeof(msg));
    lp_iter_init(&it, body, size, prec);
    lp_iter_init(&general, body, size, prec);
    lp_iter_general_only(&general);
    while (lp_iter_next(&it, &l)) {
        if (!lp_iter_next(&general, &g))
            abort();
        same_line(&l, &g);
        check_slice((const uint8_t *)body, size, l.line, l.line_len);
        check_slice((const uint8_t *)body, size, l.measurement, l.measurement_len);
        if (l.err != 0) {
            if (lp_line_reason(&l, reason, sizeof(reason)) == 0)
                abort();
            lp_errbuf_add(&eb, &l);
            continue;
        }
        nvalid++;
        check_slice((const uint8_t *)body, size, l.tags, l.tags_len);
        check_slice((const uint8_t *)body, size, l.fields, l.fields_len);
        check_slice((const uint8_t *)body, size, l.ts, l.ts_len);
        if (l.measurement_len == 0 || l.fields_len == 0)
            abort();
        unescape_all(&l);
    }
    if (lp_iter_next(&general, &g))
        abort();
    /* the text may hold NUL bytes copied from the lines; it is terminated right after len */
    m = lp_errbuf_finish(&eb, nvalid, &len);
    if (m[len] != '\0' || len >= sizeof(msg))
        abort();
    free(body);
    return 0;
}

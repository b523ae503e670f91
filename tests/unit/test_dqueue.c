/*
 * Unit tests for the disk queue: framing, recovery from torn and corrupt files, rotation, the
 * persisted cursor, the cap, the rejected file, stats and the fsync policies. Every test works in
 * its own mkdtemp directory under /tmp, removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dqueue.h"

#define Q_SUBDIR "/data/backend-1"

typedef struct st_tdir_t {
    char root[64];
    char dir[128];
} tdir_t;

static void tdir_make(tdir_t *t)
{
    strcpy(t->root, "/tmp/dqtest-XXXXXX");
    assert_non_null(mkdtemp(t->root));
    snprintf(t->dir, sizeof(t->dir), "%s%s", t->root, Q_SUBDIR);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void tdir_remove(tdir_t *t)
{
    assert_int_equal(nftw(t->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static dq_slice_t S(const char *s)
{
    return (dq_slice_t){s, strlen(s)};
}

static dq_record_t wrec(const char *db, const char *rp, const char *prec, const char *body)
{
    return (dq_record_t){DQ_REC_WRITE, 0, S(db), S(rp), S(prec), S(body)};
}

static void assert_slice(dq_slice_t s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.base, want, s.len);
}

static dq_t *qopen(const tdir_t *t, uint64_t segbytes, uint64_t maxbytes, dq_fsync_t fs, char *msg, size_t msgsize)
{
    dq_options_t opt = {segbytes, maxbytes, fs};
    dq_t *q = NULL;
    char local[512];
    if (msg == NULL) {
        msg = local;
        msgsize = sizeof(local);
    }
    int ret = dq_open(&q, t->dir, &opt, msg, msgsize);
    if (ret != 0)
        fail_msg("dq_open: %s: %s", dq_strerror(ret), msg);
    return q;
}

static void seg_path(const tdir_t *t, uint64_t id, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%020llu.seg", t->dir, (unsigned long long)id);
}

static off_t file_size(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return -1;
    return sb.st_size;
}

static int count_segments(const tdir_t *t)
{
    DIR *d = opendir(t->dir);
    int n = 0;
    assert_non_null(d);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".seg") == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void xor_byte(const char *path, off_t off, uint8_t x)
{
    uint8_t b;
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= x;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void body_n(char *buf, size_t n, int i)
{
    snprintf(buf, n, "cpu,host=h%d value=%di %d", i, i, 1000 + i);
}

static void append_n(dq_t *q, int from, int to)
{
    char body[64];
    for (int i = from; i < to; i++) {
        body_n(body, sizeof(body), i);
        dq_record_t r = wrec("db", "autogen", "ns", body);
        assert_int_equal(dq_append(q, &r, 5000 + (uint64_t)i), 0);
    }
}

/* Peeks and acks everything, checking bodies are exactly `from`..`to`-1 in order. */
static void drain_expect(dq_t *q, const int *ids, size_t nids)
{
    dq_batch_t b = {0};
    char body[64];
    size_t seen = 0;
    int n = dq_peek(q, 1000, 1 << 20, &b);
    for (; n > 0; n = dq_peek(q, 1000, 1 << 20, &b)) {
        for (int i = 0; i < n; i++) {
            assert_true(seen < nids);
            body_n(body, sizeof(body), ids[seen++]);
            assert_slice(b.recs[i].body, body);
        }
        assert_int_equal(dq_ack(q, &b), 0);
    }
    assert_int_equal(n, 0);
    assert_int_equal(seen, nids);
    assert_int_equal(dq_pending(q), 0);
    dq_batch_dispose(&b);
}

static void drain_range(dq_t *q, int from, int to)
{
    int ids[4096];
    assert_true(to - from <= 4096);
    for (int i = from; i < to; i++)
        ids[i - from] = i;
    drain_expect(q, ids, (size_t)(to - from));
}

static size_t frame_size_n(int i)
{
    char body[64];
    body_n(body, sizeof(body), i);
    dq_record_t r = wrec("db", "autogen", "ns", body);
    return dq_frame_size(&r);
}

/* ---- framing ---- */

static void test_frame_roundtrip(void **state)
{
    (void)state;
    static char big[1 << 20];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);
    static const char bin[] = {'a', 0, 'b', '\n', (char)0xff, 0};
    struct {
        dq_record_t rec;
    } cases[] = {
        {{DQ_REC_WRITE, 1, S("telegraf"), S("autogen"), S("ns"), S("cpu value=1 1\nmem value=2 2\n")}},
        {{DQ_REC_WRITE, 0, S(""), S(""), S(""), S("")}},
        {{DQ_REC_STMT, UINT64_MAX, S("db"), S(""), S(""), S("CREATE DATABASE \"db\"")}},
        {{DQ_REC_STMT, 42, S("db"), S("rp"), S(""), S("CREATE RETENTION POLICY rp ON db DURATION 1d REPLICATION 1")}},
        {{DQ_REC_WRITE, 7, S("d b,\"x"), S("r\\p"), S("ms"), {bin, sizeof(bin)}}},
        {{DQ_REC_WRITE, 9, S("db"), S(""), S("s"), {big, sizeof(big)}}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const dq_record_t *in = &cases[i].rec;
        size_t fs = dq_frame_size(in);
        assert_int_equal(fs, DQ_HEADER_SIZE + DQ_PAYLOAD_FIXED + in->db.len + in->rp.len + in->precision.len +
                                 in->body.len);
        char *buf = malloc(fs);
        assert_int_equal(dq_encode(in, buf, fs - 1), DQ_ESHORT);
        assert_int_equal(dq_encode(in, buf, fs), (int64_t)fs);
        dq_record_t out;
        size_t flen = 0;
        char msg[128];
        assert_int_equal(dq_decode(buf, fs, &out, &flen, msg, sizeof(msg)), 0);
        assert_int_equal(flen, fs);
        assert_int_equal(out.type, in->type);
        assert_true(out.ts == in->ts);
        dq_slice_t a[] = {out.db, out.rp, out.precision, out.body}, b[] = {in->db, in->rp, in->precision, in->body};
        for (int k = 0; k < 4; k++) {
            assert_int_equal(a[k].len, b[k].len);
            if (b[k].len != 0)
                assert_memory_equal(a[k].base, b[k].base, b[k].len);
        }
        free(buf);
    }
}

static void test_encode_limits(void **state)
{
    (void)state;
    static char huge_name[70000];
    dq_record_t r = wrec("db", "", "", "x");
    char buf[256];
    r.db = (dq_slice_t){huge_name, 65536};
    assert_int_equal(dq_frame_size(&r), 0);
    assert_int_equal(dq_encode(&r, buf, sizeof(buf)), DQ_ETOOBIG);
    r.db = (dq_slice_t){huge_name, 65535};
    assert_int_not_equal(dq_frame_size(&r), 0);
    r = wrec("db", "", "", "x");
    r.body = (dq_slice_t){huge_name, DQ_MAX_PAYLOAD}; /* never read: rejected by its length */
    assert_int_equal(dq_encode(&r, buf, sizeof(buf)), DQ_ETOOBIG);
    r = wrec("db", "", "", "x");
    r.type = (dq_rectype_t)3;
    assert_int_equal(dq_encode(&r, buf, sizeof(buf)), DQ_EINVAL);
}

static void put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_crc(uint8_t *f, size_t flen)
{
    uint32_t crc = (uint32_t)crc32(0, f, 8);
    crc = (uint32_t)crc32(crc, f + DQ_HEADER_SIZE, (uInt)(flen - DQ_HEADER_SIZE));
    put32le(f + 8, crc);
}

static void test_decode_errors(void **state)
{
    (void)state;
    dq_record_t r = wrec("db", "rp", "ms", "m f=1 1");
    uint8_t good[128], f[128];
    char msg[128];
    dq_record_t out;
    size_t flen = (size_t)dq_encode(&r, good, sizeof(good)), fl;

    /* every truncation is "short", never corrupt and never success */
    for (size_t len = 0; len < flen; len++)
        assert_int_equal(dq_decode(good, len, &out, &fl, msg, sizeof(msg)), DQ_ESHORT);
    /* trailing bytes belong to the next frame */
    memcpy(f, good, flen);
    f[flen] = 0x55;
    assert_int_equal(dq_decode(f, flen + 1, &out, &fl, msg, sizeof(msg)), 0);
    assert_int_equal(fl, flen);

    struct {
        size_t off;
        uint32_t value; /* written as u8, or u32 at offset 4 */
        int recrc;
        int want;
        const char *why;
    } cases[] = {
        {0, 0x00, 1, DQ_ECORRUPT, "magic"},
        {1, 0x52, 1, DQ_ECORRUPT, "magic"},
        {2, 2, 1, DQ_ECORRUPT, "version"},
        {3, 0, 1, DQ_ECORRUPT, "type"},
        {3, 3, 1, DQ_ECORRUPT, "type"},
        {4, 13, 1, DQ_ECORRUPT, "length"},
        {4, DQ_MAX_PAYLOAD + 1, 1, DQ_ECORRUPT, "length"},
        {4, 0xffffffffu, 1, DQ_ECORRUPT, "length"},
        {4, 200, 1, DQ_ESHORT, "cut short"},
        {8, 0x01, 0, DQ_ECORRUPT, "CRC"},
        {12, 0x01, 0, DQ_ECORRUPT, "CRC"},
        {20, 0xff, 1, DQ_ECORRUPT, "name lengths"},
        {24, 0xff, 1, DQ_ECORRUPT, "name lengths"},
        {25, 0xff, 1, DQ_ECORRUPT, "name lengths"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(f, good, flen);
        if (cases[i].off == 4)
            put32le(f + 4, cases[i].value);
        else if (cases[i].off == 8 || cases[i].off == 12)
            f[cases[i].off] ^= (uint8_t)cases[i].value;
        else
            f[cases[i].off] = (uint8_t)cases[i].value;
        if (cases[i].recrc)
            fix_crc(f, flen);
        msg[0] = '\0';
        assert_int_equal(dq_decode(f, flen, &out, &fl, msg, sizeof(msg)), cases[i].want);
        if (strstr(msg, cases[i].why) == NULL)
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, msg, cases[i].why);
    }
    /* any single flipped bit anywhere is detected */
    for (size_t off = 0; off < flen; off++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(f, good, flen);
            f[off] ^= (uint8_t)(1u << bit);
            assert_int_not_equal(dq_decode(f, flen, &out, &fl, msg, sizeof(msg)), 0);
        }
    }
}

/* ---- queue ---- */

static void test_append_peek_ack(void **state)
{
    (void)state;
    tdir_t t;
    tdir_make(&t);
    dq_t *q = qopen(&t, 0, 0, DQ_FSYNC_EVERYSEC, NULL, 0);
    dq_batch_t b = {0};
    dq_stats_t st;
    dq_record_t s = {DQ_REC_STMT, 0, S("db"), S(""), S(""), S("CREATE DATABASE db")};
    dq_record_t w = wrec("db", "autogen", "s", "cpu v=1 1");
    assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 0);
    assert_int_equal(dq_append(q, &s, 100), 0);
    assert_int_equal(dq_append(q, &w, 200), 0);
    dq_stats(q, &st);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.bytes, dq_frame_size(&s) + dq_frame_size(&w));
    assert_int_equal(st.oldest_ts, 100);
    for (int round = 0; round < 2; round++) { /* a peek does not consume */
        assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 2);
        assert_int_equal(b.recs[0].type, DQ_REC_STMT);
        assert_int_equal(b.recs[0].ts, 100);
        assert_slice(b.recs[0].db, "db");
        assert_slice(b.recs[0].body, "CREATE DATABASE db");
        assert_int_equal(b.recs[1].type, DQ_REC_WRITE);
        assert_int_equal(b.recs[1].ts, 200);
        assert_slice(b.recs[1].rp, "autogen");
        assert_slice(b.recs[1].precision, "s");
        assert_slice(b.recs[1].body, "cpu v=1 1");
    }
    assert_int_equal(dq_ack(q, &b), 0);
    assert_int_equal(dq_ack(q, &b), DQ_ESTALE);
    dq_stats(q, &st);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.oldest_ts, 0);
    assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 0);
    dq_close(q);
    q = qopen(&t, 0, 0, DQ_FSYNC_EVERYSEC, NULL, 0);
    assert_int_equal(dq_pending(q), 0);
    assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 0);
    dq_batch_dispose(&b);
    dq_close(q);
    tdir_remove(&t);
}

static void test_peek_limits(void **state)
{
    (void)state;
    tdir_t t;
    tdir_make(&t);
    dq_t *q = qopen(&t, 0, 0, DQ_FSYNC_NO, NULL, 0);
    dq_batch_t b = {0};
    append_n(q, 0, 10);
    size_t fs = frame_size_n(0);
    struct {
        size_t max_records, max_bytes;
        int want;
    } cases[] = {
        {3, 1 << 20, 3},                                                            /* by count */
        {100, 1, 1},                                                                /* at least one, however large */
        {100, 2 * fs, 2}, {100, 2 * fs + 5, 2}, {0, 1 << 20, 0}, {100, 1 << 20, 2}, /* the rest */
    };
    char body[64];
    int next = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(dq_peek(q, cases[i].max_records, cases[i].max_bytes, &b), cases[i].want);
        for (int k = 0; k < cases[i].want; k++) {
            body_n(body, sizeof(body), next + k);
            assert_slice(b.recs[k].body, body);
        }
        if (cases[i].want > 0)
            assert_int_equal(dq_ack(q, &b), 0);
        next += cases[i].want;
    }
    assert_int_equal(dq_pending(q), 0);
    dq_batch_dispose(&b);
    dq_close(q);
    tdir_remove(&t);
}

static void test_replay_after_crash_before_ack(void **state)
{
    (void)state;
    tdir_t t;
    tdir_make(&t);
    dq_t *q = qopen(&t, 0, 0, DQ_FSYNC_ALWAYS, NULL, 0);
    dq_batch_t b = {0};
    append_n(q, 0, 5);
    assert_int_equal(dq_peek(q, 2, 1 << 20, &b), 2);
    assert_int_equal(dq_ack(q, &b), 0);
    assert_int_equal(dq_peek(q, 2, 1 << 20, &b), 2); /* 2 and 3, never acknowledged */
    dq_close(q);
    q = qopen(&t, 0, 0, DQ_FSYNC_ALWAYS, NULL, 0);
    assert_int_equal(dq_ack(q, &b), 0); /* same position: a reopened queue accepts it... */
    dq_close(q);
    q = qopen(&t, 0, 0, DQ_FSYNC_ALWAYS, NULL, 0);
    drain_range(q, 4, 5); /* ...and 2, 3 stay consumed */
    dq_close(q);
    q = qopen(&t, 0, 0, DQ_FSYNC_ALWAYS, NULL, 0);
    append_n(q, 5, 7);
    dq_close(q);
    q = qopen(&t, 0, 0, DQ_FSYNC_ALWAYS, NULL, 0);
    assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 2);
    dq_close(q); /* peeked, not acked */
    q = qopen(&t, 0, 0, DQ_FSYNC_ALWAYS, NULL, 0);
    drain_range(q, 5, 7);

    /* a batch peeked before a reopen that cut its segment short no longer fits */
    append_n(q, 7, 9);
    assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 2);
    dq_close(q);
    char path[256];
    seg_path(&t, 1, path, sizeof(path));
    assert_int_equal(truncate(path, file_size(path) - 1), 0);
    q = qopen(&t, 0, 0, DQ_FSYNC_ALWAYS, NULL, 0);
    assert_int_equal(dq_ack(q, &b), DQ_ESTALE);
    assert_int_equal(dq_pending(q), 1);
    drain_range(q, 7, 8);
    dq_batch_dispose(&b);
    dq_close(q);
    tdir_remove(&t);
}

/* Truncates the last record at every byte offset: what precedes it survives, appends continue. */
static void test_torn_tail_every_offset(void **state)
{
    (void)state;
    size_t s2 = frame_size_n(0) + frame_size_n(1), s3 = s2 + frame_size_n(2);
    for (size_t cut = s2; cut < s3; cut++) {
        tdir_t t;
        char path[256], msg[512];
        dq_stats_t st;
        tdir_make(&t);
        dq_t *q = qopen(&t, 0, 0, DQ_FSYNC_NO, NULL, 0);
        append_n(q, 0, 3);
        dq_close(q);
        seg_path(&t, 1, path, sizeof(path));
        assert_int_equal(file_size(path), s3);
        assert_int_equal(truncate(path, (off_t)cut), 0);
        q = qopen(&t, 0, 0, DQ_FSYNC_NO, msg, sizeof(msg));
        dq_stats(q, &st);
        assert_int_equal(st.records, 2);
        assert_int_equal(st.bytes, s2);
        assert_int_equal(file_size(path), s2);
        if (cut == s2) {
            assert_string_equal(msg, "");
            assert_int_equal(st.corrupt_events, 0);
        } else {
            assert_non_null(strstr(msg, "torn tail"));
            assert_int_equal(st.corrupt_events, 1);
            assert_int_equal(st.corrupt_bytes, cut - s2);
            assert_string_not_equal(st.note, "");
        }
        append_n(q, 3, 4);
        int ids[] = {0, 1, 3};
        drain_expect(q, ids, 3);
        dq_close(q);
        tdir_remove(&t);
    }
}

/* A damaged byte in the last record of the last segment: records before it survive. */
static void test_corrupt_last_record(void **state)
{
    (void)state;
    size_t s1 = frame_size_n(0), f2 = frame_size_n(1);
    size_t offs[] = {0, 1, 2, 3, 4, 7, 8, 11, 12, 19, 20, 26, f2 - 1};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        tdir_t t;
        char path[256], msg[512];
        dq_stats_t st;
        tdir_make(&t);
        dq_t *q = qopen(&t, 0, 0, DQ_FSYNC_NO, NULL, 0);
        append_n(q, 0, 2);
        dq_close(q);
        seg_path(&t, 1, path, sizeof(path));
        xor_byte(path, (off_t)(s1 + offs[i]), 0x40);
        q = qopen(&t, 0, 0, DQ_FSYNC_NO, msg, sizeof(msg));
        assert_string_not_equal(msg, "");
        dq_stats(q, &st);
        assert_int_equal(st.records, 1);
        assert_int_equal(st.corrupt_events, 1);
        assert_int_equal(file_size(path), s1);
        append_n(q, 2, 3);
        int ids[] = {0, 2};
        drain_expect(q, ids, 2);
        dq_close(q);
        tdir_remove(&t);
    }
}

/* Corruption inside an older segment drops the rest of that segment only. */
static void test_corrupt_middle_segment(void **state)
{
    (void)state;
    tdir_t t;
    char path[256], msg[512];
    dq_stats_t st;
    tdir_make(&t);
    uint64_t segbytes = 2 * frame_size_n(0);
    dq_t *q = qopen(&t, segbytes, 0, DQ_FSYNC_NO, NULL, 0);
    append_n(q, 0, 7); /* segments: [0 1] [2 3] [4 5] [6] */
    dq_close(q);
    assert_int_equal(count_segments(&t), 4);
    seg_path(&t, 2, path, sizeof(path));
    xor_byte(path, 30, 0x01); /* inside record 2 */
    q = qopen(&t, segbytes, 0, DQ_FSYNC_NO, msg, sizeof(msg));
    assert_non_null(strstr(msg, "00000000000000000002.seg"));
    assert_null(strstr(msg, "torn tail"));
    dq_stats(q, &st);
    assert_int_equal(st.records, 5);
    assert_int_equal(st.corrupt_bytes, 2 * frame_size_n(0));
    assert_int_equal(file_size(path), 0);
    int ids[] = {0, 1, 4, 5, 6};
    drain_expect(q, ids, 5);
    dq_close(q);
    tdir_remove(&t);
}

/* Corruption appearing under an open queue is skipped by dq_peek, counted, and appends go on. */
static void test_corrupt_found_by_peek(void **state)
{
    (void)state;
    tdir_t t;
    char path[256];
    dq_stats_t st;
    dq_batch_t b = {0};
    tdir_make(&t);
    size_t fs = frame_size_n(0);
    dq_t *q = qopen(&t, 2 * fs, 0, DQ_FSYNC_NO, NULL, 0);
    append_n(q, 0, 4); /* [0 1] [2 3] */
    seg_path(&t, 1, path, sizeof(path));
    xor_byte(path, 1, 0xff); /* header of record 0 */
    assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 2);
    assert_slice(b.recs[0].body, "cpu,host=h2 value=2i 1002");
    dq_stats(q, &st);
    assert_int_equal(st.corrupt_events, 1);
    assert_int_equal(st.corrupt_records, 2);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.bytes, 2 * fs);
    assert_int_equal(file_size(path), -1); /* skipped segment deleted */
    assert_int_equal(dq_ack(q, &b), 0);

    /* now in the write segment: the second record's body is damaged */
    append_n(q, 4, 6); /* [4 5] in segment 3 (segment 2 is full) */
    seg_path(&t, 3, path, sizeof(path));
    xor_byte(path, (off_t)(fs + 30), 0x01);
    assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 1); /* the batch stops before the bad record */
    assert_slice(b.recs[0].body, "cpu,host=h4 value=4i 1004");
    assert_int_equal(dq_ack(q, &b), 0);
    assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 0);
    dq_stats(q, &st);
    assert_int_equal(st.corrupt_events, 2);
    assert_int_equal(st.corrupt_records, 3);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.bytes, 0);
    append_n(q, 6, 7);
    drain_range(q, 6, 7);
    dq_batch_dispose(&b);
    dq_close(q);
    q = qopen(&t, 2 * fs, 0, DQ_FSYNC_NO, NULL, 0);
    assert_int_equal(dq_pending(q), 0);
    dq_close(q);
    tdir_remove(&t);
}

/* Records larger than the scanner's read buffer: streamed CRC on open, damage anywhere detected. */
static void test_large_records(void **state)
{
    (void)state;
    static char big[150 * 1024];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    dq_record_t r = wrec("db", "autogen", "ms", "");
    r.body = (dq_slice_t){big, sizeof(big)};
    size_t fb = dq_frame_size(&r);
    struct {
        int damage; /* 0 none, 1 flip a byte, 2 truncate, 3 name lengths */
        off_t at;
        uint64_t want_records;
    } cases[] = {
        {0, 0, 2},     {1, (off_t)fb - 5, 0}, {1, 70000, 0},         {2, 12, 0},
        {2, 70000, 0}, {2, (off_t)fb - 1, 0}, {2, (off_t)fb + 3, 1}, {3, 20, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tdir_t t;
        char path[256], msg[512];
        dq_batch_t b = {0};
        dq_stats_t st;
        tdir_make(&t);
        dq_t *q = qopen(&t, 0, 0, DQ_FSYNC_NO, NULL, 0);
        assert_int_equal(dq_append(q, &r, 1), 0);
        append_n(q, 0, 1);
        dq_close(q);
        seg_path(&t, 1, path, sizeof(path));
        if (cases[i].damage == 1)
            xor_byte(path, cases[i].at, 0x20);
        if (cases[i].damage == 2)
            assert_int_equal(truncate(path, cases[i].at), 0);
        for (int k = 0; cases[i].damage == 3 && k < 6; k++)
            xor_byte(path, cases[i].at + k, 0xff);
        q = qopen(&t, 0, 0, DQ_FSYNC_NO, msg, sizeof(msg));
        dq_stats(q, &st);
        assert_int_equal(st.records, cases[i].want_records);
        assert_int_equal(st.corrupt_events, cases[i].damage != 0);
        if (cases[i].want_records > 0) {
            assert_int_equal(dq_peek(q, 10, 1, &b), 1);
            assert_int_equal(b.recs[0].body.len, sizeof(big));
            assert_memory_equal(b.recs[0].body.base, big, sizeof(big));
            assert_int_equal(dq_ack(q, &b), 0);
        }
        if (cases[i].want_records > 1)
            drain_range(q, 0, 1);
        assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 0);
        dq_batch_dispose(&b);
        dq_close(q);
        tdir_remove(&t);
    }
}

static void test_rotation_and_cursor(void **state)
{
    (void)state;
    tdir_t t;
    dq_batch_t b = {0};
    dq_stats_t st;
    tdir_make(&t);
    size_t fs = frame_size_n(0);
    dq_t *q = qopen(&t, 3 * fs, 0, DQ_FSYNC_EVERYSEC, NULL, 0);
    append_n(q, 0, 10); /* [0 1 2] [3 4 5] [6 7 8] [9] */
    assert_int_equal(count_segments(&t), 4);
    dq_stats(q, &st);
    assert_int_equal(st.segments, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(dq_peek(q, 1, 1 << 20, &b), 1);
        assert_int_equal(dq_ack(q, &b), 0);
    }
    assert_int_equal(count_segments(&t), 3); /* segment 1 fully replayed and deleted */
    dq_close(q);
    q = qopen(&t, 3 * fs, 0, DQ_FSYNC_EVERYSEC, NULL, 0);
    dq_stats(q, &st);
    assert_int_equal(st.records, 6);
    assert_int_equal(st.oldest_ts, 5004);
    assert_int_equal(dq_peek(q, 100, 1 << 20, &b), 2); /* 4 5: a batch stays in one segment */
    assert_slice(b.recs[0].body, "cpu,host=h4 value=4i 1004");
    dq_close(q);
    q = qopen(&t, 3 * fs, 0, DQ_FSYNC_EVERYSEC, NULL, 0);
    drain_range(q, 4, 10);
    assert_int_equal(count_segments(&t), 1); /* only the write segment is left */
    dq_close(q);
    q = qopen(&t, 3 * fs, 0, DQ_FSYNC_EVERYSEC, NULL, 0);
    append_n(q, 10, 14);
    dq_close(q);
    q = qopen(&t, 3 * fs, 0, DQ_FSYNC_EVERYSEC, NULL, 0);
    drain_range(q, 10, 14);
    dq_batch_dispose(&b);
    dq_close(q);
    tdir_remove(&t);
}

static void test_cap(void **state)
{
    (void)state;
    tdir_t t;
    dq_batch_t b = {0};
    tdir_make(&t);
    size_t fs = frame_size_n(0);
    dq_t *q = qopen(&t, 2 * fs, 5 * fs, DQ_FSYNC_NO, NULL, 0);
    append_n(q, 0, 5);
    dq_record_t r = wrec("db", "autogen", "ns", "cpu,host=h5 value=5i 1005");
    assert_int_equal(dq_append(q, &r, 1), DQ_EFULL);
    assert_int_equal(dq_pending(q), 5);
    dq_close(q);
    q = qopen(&t, 2 * fs, 5 * fs, DQ_FSYNC_NO, NULL, 0);
    assert_int_equal(dq_append(q, &r, 1), DQ_EFULL); /* still full after reopen */
    assert_int_equal(dq_peek(q, 2, 1 << 20, &b), 2);
    assert_int_equal(dq_ack(q, &b), 0);
    append_n(q, 5, 7);
    assert_int_equal(dq_append(q, &r, 1), DQ_EFULL);
    drain_range(q, 2, 7);
    dq_batch_dispose(&b);
    dq_close(q);
    tdir_remove(&t);
}

/* A batch dealt with in part: dq_batch_keep leaves its first records, and ack or reject consume only those. */
static void test_batch_keep(void **state)
{
    (void)state;
    tdir_t t;
    dq_batch_t b = {0};
    dq_stats_t st;
    tdir_make(&t);
    dq_t *q = qopen(&t, 0, 0, DQ_FSYNC_ALWAYS, NULL, 0);
    append_n(q, 0, 6);
    assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 6);
    dq_batch_keep(&b, 8); /* more than it has: unchanged */
    assert_int_equal(b.n, 6);
    dq_batch_keep(&b, 2);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.bytes, frame_size_n(0) + frame_size_n(1));
    assert_int_equal(dq_ack(q, &b), 0);
    assert_int_equal(dq_peek(q, 10, 1 << 20, &b), 4); /* 2 to 5 */
    dq_batch_keep(&b, 1);
    assert_int_equal(dq_reject(q, &b), 0);
    dq_stats(q, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.rejected_bytes, frame_size_n(2));
    drain_range(q, 3, 6);
    dq_batch_dispose(&b);
    dq_close(q);
    tdir_remove(&t);
}

static void test_rejected(void **state)
{
    (void)state;
    tdir_t t;
    dq_batch_t b = {0};
    dq_stats_t st;
    char path[256];
    tdir_make(&t);
    size_t fs = frame_size_n(0);
    dq_t *q = qopen(&t, 0, 4 * fs, DQ_FSYNC_ALWAYS, NULL, 0);
    append_n(q, 0, 4);
    assert_int_equal(dq_peek(q, 2, 1 << 20, &b), 2);
    assert_int_equal(dq_reject(q, &b), 0);
    assert_int_equal(dq_reject(q, &b), DQ_ESTALE);
    dq_stats(q, &st);
    assert_int_equal(st.rejected, 2);
    assert_int_equal(st.rejected_bytes, 2 * fs);
    assert_int_equal(st.records, 2);
    dq_close(q);

    /* the rejected file holds the two frames, readable with dq_decode */
    snprintf(path, sizeof(path), "%s/rejected", t.dir);
    assert_int_equal(file_size(path), 2 * fs);
    char buf[512], body[64];
    FILE *fp = fopen(path, "rb");
    assert_int_equal(fread(buf, 1, 2 * fs, fp), 2 * fs);
    fclose(fp);
    size_t pos = 0;
    for (int i = 0; i < 2; i++) {
        dq_record_t r;
        size_t fl;
        assert_int_equal(dq_decode(buf + pos, 2 * fs - pos, &r, &fl, NULL, 0), 0);
        body_n(body, sizeof(body), i);
        assert_slice(r.body, body);
        pos += fl;
    }

    q = qopen(&t, 0, 4 * fs, DQ_FSYNC_ALWAYS, NULL, 0);
    dq_stats(q, &st);
    assert_int_equal(st.rejected, 2);
    assert_int_equal(st.rejected_bytes, 2 * fs);
    assert_int_equal(dq_peek(q, 1, 1 << 20, &b), 1);
    assert_int_equal(dq_reject(q, &b), 0);
    assert_int_equal(dq_peek(q, 1, 1 << 20, &b), 1);
    assert_int_equal(dq_reject(q, &b), 0);
    append_n(q, 4, 5);
    assert_int_equal(dq_peek(q, 1, 1 << 20, &b), 1);
    assert_int_equal(dq_reject(q, &b), 0); /* the rejected file is full: counted, not kept */
    dq_stats(q, &st);
    assert_int_equal(st.rejected, 4);
    assert_int_equal(st.rejected_dropped, 1);
    assert_int_equal(st.records, 0);
    dq_close(q);

    /* a torn rejected file is cut back to whole frames */
    assert_int_equal(truncate(path, (off_t)(4 * fs - 3)), 0);
    char msg[512];
    q = qopen(&t, 0, 4 * fs, DQ_FSYNC_ALWAYS, msg, sizeof(msg));
    assert_non_null(strstr(msg, "rejected"));
    dq_stats(q, &st);
    assert_int_equal(st.rejected, 3);
    assert_int_equal(file_size(path), 3 * fs);
    dq_batch_dispose(&b);
    dq_close(q);
    tdir_remove(&t);
}

static void test_stats_after_reopen(void **state)
{
    (void)state;
    tdir_t t;
    dq_batch_t b = {0};
    dq_stats_t st;
    tdir_make(&t);
    size_t fs = frame_size_n(0);
    dq_t *q = qopen(&t, 3 * fs, 0, DQ_FSYNC_EVERYSEC, NULL, 0);
    append_n(q, 0, 7);
    assert_int_equal(dq_peek(q, 2, 1 << 20, &b), 2);
    assert_int_equal(dq_ack(q, &b), 0);
    assert_int_equal(dq_peek(q, 1, 1 << 20, &b), 1);
    assert_int_equal(dq_reject(q, &b), 0);
    dq_stats_t before;
    dq_stats(q, &before);
    assert_int_equal(before.records, 4);
    assert_int_equal(before.bytes, 4 * fs);
    assert_int_equal(before.oldest_ts, 5003);
    assert_int_equal(before.rejected, 1);
    dq_close(q);
    q = qopen(&t, 3 * fs, 0, DQ_FSYNC_EVERYSEC, NULL, 0);
    dq_stats(q, &st);
    assert_int_equal(st.records, before.records);
    assert_int_equal(st.bytes, before.bytes);
    assert_int_equal(st.oldest_ts, before.oldest_ts);
    assert_int_equal(st.segments, before.segments);
    assert_int_equal(st.rejected, before.rejected);
    assert_int_equal(st.rejected_bytes, before.rejected_bytes);
    assert_int_equal(st.corrupt_events, 0);
    dq_batch_dispose(&b);
    dq_close(q);
    tdir_remove(&t);
}

static void test_bad_cursor(void **state)
{
    (void)state;
    tdir_t t;
    dq_batch_t b = {0};
    char path[256], msg[512];
    tdir_make(&t);
    dq_t *q = qopen(&t, 0, 0, DQ_FSYNC_NO, NULL, 0);
    append_n(q, 0, 3);
    assert_int_equal(dq_peek(q, 1, 1 << 20, &b), 1);
    assert_int_equal(dq_ack(q, &b), 0);
    dq_close(q);
    snprintf(path, sizeof(path), "%s/cursor", t.dir);
    assert_int_equal(file_size(path), 32);
    xor_byte(path, 17, 0x01);
    q = qopen(&t, 0, 0, DQ_FSYNC_NO, msg, sizeof(msg));
    assert_non_null(strstr(msg, "cursor"));
    drain_range(q, 0, 3); /* at least once: the acknowledged record comes again */
    dq_batch_dispose(&b);
    dq_close(q);
    tdir_remove(&t);
}

static ino_t inode_of(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_ino;
}

/* Opening a queue whose cursor file is right writes nothing (on a full disk it must still open); a cursor that has
 * to move (here: past a torn tail) is written again. */
static void test_reopen_leaves_a_right_cursor_alone(void **state)
{
    (void)state;
    tdir_t t;
    dq_batch_t b = {0};
    char path[256], seg[256];
    tdir_make(&t);
    dq_t *q = qopen(&t, 0, 0, DQ_FSYNC_NO, NULL, 0);
    append_n(q, 0, 3);
    assert_int_equal(dq_peek(q, 3, 1 << 20, &b), 3);
    assert_int_equal(dq_ack(q, &b), 0);
    dq_close(q);
    snprintf(path, sizeof(path), "%s/cursor", t.dir);
    ino_t before = inode_of(path);
    q = qopen(&t, 0, 0, DQ_FSYNC_NO, NULL, 0);
    assert_int_equal(dq_pending(q), 0);
    dq_close(q);
    assert_true(inode_of(path) == before);
    /* cut the segment below the cursor's offset: the cursor moves back to the end of what is left */
    seg_path(&t, 1, seg, sizeof(seg));
    assert_int_equal(truncate(seg, (off_t)frame_size_n(0)), 0);
    q = qopen(&t, 0, 0, DQ_FSYNC_NO, NULL, 0);
    dq_close(q);
    assert_true(inode_of(path) != before);
    dq_batch_dispose(&b);
    tdir_remove(&t);
}

/* A cursor naming a segment that is gone (deleted after the cursor was written) moves on. */
static void test_cursor_segment_missing(void **state)
{
    (void)state;
    tdir_t t;
    char path[256], msg[512];
    tdir_make(&t);
    size_t fs = frame_size_n(0);
    dq_t *q = qopen(&t, 2 * fs, 0, DQ_FSYNC_NO, NULL, 0);
    append_n(q, 0, 5); /* [0 1] [2 3] [4] */
    dq_close(q);
    seg_path(&t, 1, path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    q = qopen(&t, 2 * fs, 0, DQ_FSYNC_NO, msg, sizeof(msg));
    assert_non_null(strstr(msg, "missing"));
    drain_range(q, 2, 5);
    dq_close(q);
    tdir_remove(&t);
}

/* An append cut short by the file system (here: RLIMIT_FSIZE) leaves no partial frame behind. */
static void test_failed_append_leaves_no_garbage(void **state)
{
    (void)state;
    tdir_t t;
    char path[256], msg[512];
    struct rlimit old, lim;
    dq_stats_t st;
    tdir_make(&t);
    size_t fs = frame_size_n(0);
    dq_t *q = qopen(&t, 0, 0, DQ_FSYNC_NO, NULL, 0);
    append_n(q, 0, 2);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 2 * fs + fs / 2;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    dq_record_t r = wrec("db", "autogen", "ns", "cpu,host=h9 value=9i 1009");
    int ret = dq_append(q, &r, 1);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(ret, DQ_EIO);
    seg_path(&t, 1, path, sizeof(path));
    assert_int_equal(file_size(path), 2 * fs);
    dq_stats(q, &st);
    assert_int_equal(st.records, 2);
    append_n(q, 2, 3);
    dq_close(q);
    q = qopen(&t, 0, 0, DQ_FSYNC_NO, msg, sizeof(msg));
    assert_string_equal(msg, "");
    drain_range(q, 0, 3);
    dq_close(q);
    tdir_remove(&t);
}

static void test_locked(void **state)
{
    (void)state;
    tdir_t t;
    char msg[512];
    dq_options_t opt = {0, 0, DQ_FSYNC_NO};
    dq_t *q2 = (dq_t *)&opt;
    tdir_make(&t);
    dq_t *q = qopen(&t, 0, 0, DQ_FSYNC_NO, NULL, 0);
    assert_int_equal(dq_open(&q2, t.dir, &opt, msg, sizeof(msg)), DQ_ELOCKED);
    assert_null(q2);
    assert_non_null(strstr(msg, "in use"));
    opt.fsync = (dq_fsync_t)9;
    assert_int_equal(dq_open(&q2, t.dir, &opt, msg, sizeof(msg)), DQ_EINVAL);
    dq_close(q);
    opt.fsync = DQ_FSYNC_NO;
    assert_int_equal(dq_open(&q2, t.dir, &opt, msg, sizeof(msg)), 0);
    dq_close(q2);
    tdir_remove(&t);
}

static void test_fsync_policies(void **state)
{
    (void)state;
    dq_fsync_t pol[] = {DQ_FSYNC_ALWAYS, DQ_FSYNC_EVERYSEC, DQ_FSYNC_NO};
    for (size_t i = 0; i < 3; i++) {
        tdir_t t;
        dq_batch_t b = {0};
        dq_stats_t st;
        tdir_make(&t);
        size_t fs = frame_size_n(0);
        dq_t *q = qopen(&t, 2 * fs, 0, pol[i], NULL, 0);
        append_n(q, 0, 40); /* 20 rotations: more than DQ_MAX_UNSYNCED before any sync */
        assert_int_equal(dq_sync(q), 0);
        append_n(q, 40, 45);
        assert_int_equal(dq_peek(q, 3, 1 << 20, &b), 2);
        assert_int_equal(dq_reject(q, &b), 0);
        assert_int_equal(dq_sync(q), 0);
        assert_int_equal(dq_peek(q, 3, 1 << 20, &b), 2);
        assert_int_equal(dq_ack(q, &b), 0);
        dq_close(q);
        q = qopen(&t, 2 * fs, 0, pol[i], NULL, 0);
        dq_stats(q, &st);
        assert_int_equal(st.rejected, 2);
        assert_int_equal(st.records, 41);
        drain_range(q, 4, 45);
        dq_batch_dispose(&b);
        dq_close(q);
        tdir_remove(&t);
    }
}

/* Appenders, a syncer and the replayer on different threads: nothing lost, order kept. */
#define CONC_N 3000
static int conc_stop;

static void *conc_append(void *arg)
{
    append_n(arg, 0, CONC_N);
    return NULL;
}

static void *conc_sync(void *arg)
{
    while (!__atomic_load_n(&conc_stop, __ATOMIC_ACQUIRE)) {
        if (dq_sync(arg) != 0)
            return arg;
        dq_stats_t st;
        dq_stats(arg, &st);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    tdir_t t;
    dq_batch_t b = {0};
    pthread_t ta, ts;
    void *sret;
    char body[64];
    tdir_make(&t);
    dq_t *q = qopen(&t, 10 * frame_size_n(0), 0, DQ_FSYNC_EVERYSEC, NULL, 0);
    conc_stop = 0;
    assert_int_equal(pthread_create(&ta, NULL, conc_append, q), 0);
    assert_int_equal(pthread_create(&ts, NULL, conc_sync, q), 0);
    int next = 0;
    while (next < CONC_N) {
        int n = dq_peek(q, 7, 1 << 20, &b);
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
            body_n(body, sizeof(body), next++);
            assert_slice(b.recs[i].body, body);
        }
        if (n > 0)
            assert_int_equal(dq_ack(q, &b), 0);
    }
    pthread_join(ta, NULL);
    __atomic_store_n(&conc_stop, 1, __ATOMIC_RELEASE);
    pthread_join(ts, &sret);
    assert_null(sret);
    assert_int_equal(dq_pending(q), 0);
    assert_int_equal(count_segments(&t), 1);
    dq_batch_dispose(&b);
    dq_close(q);
    tdir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_roundtrip),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_append_peek_ack),
        cmocka_unit_test(test_peek_limits),
        cmocka_unit_test(test_replay_after_crash_before_ack),
        cmocka_unit_test(test_torn_tail_every_offset),
        cmocka_unit_test(test_corrupt_last_record),
        cmocka_unit_test(test_corrupt_middle_segment),
        cmocka_unit_test(test_corrupt_found_by_peek),
        cmocka_unit_test(test_large_records),
        cmocka_unit_test(test_rotation_and_cursor),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_stats_after_reopen),
        cmocka_unit_test(test_bad_cursor),
        cmocka_unit_test(test_cursor_segment_missing),
        cmocka_unit_test(test_reopen_leaves_a_right_cursor_alone),
        cmocka_unit_test(test_failed_append_leaves_no_garbage),
        cmocka_unit_test(test_batch_keep),
        cmocka_unit_test(test_locked),
        cmocka_unit_test(test_fsync_policies),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

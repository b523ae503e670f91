/*
 * dqueue — the durable per-backend disk queue.
 *
 * DESIGN. A queue directory holds:
 *   NNNNNNNNNNNNNNNNNNNN.seg  append-only segments (20-digit decimal id, ids increase by one)
 *   cursor                    the replay position, replaced atomically (cursor.tmp + rename)
 *   rejected                  frames of replayed batches the backend refused, same framing
 *   lock                      flock(2)ed while the queue is open, so two processes never share it
 *
 * A segment is a plain sequence of frames, no file header. Frame, all integers little-endian:
 *   0   u8   magic 0xD9
 *   1   u8   magic 0x51 ('Q')
 *   2   u8   version 1
 *   3   u8   record type: 1 WRITE (line protocol), 2 STMT (CREATE DATABASE / RETENTION POLICY)
 *   4   u32  payload length P, 14 <= P <= DQ_MAX_PAYLOAD; larger is corruption, never an allocation
 *   8   u32  CRC-32 (zlib) of bytes 0..7 followed by the P payload bytes
 *   12  payload:
 *       0   u64  append timestamp, the caller's clock (stats: age of the oldest record)
 *       8   u16  db length D
 *       10  u16  rp length R
 *       12  u16  precision length E
 *       14  D bytes db, R bytes rp, E bytes precision, then the body: the remaining P-14-D-R-E bytes
 * The cursor file is 32 bytes: "DQC1", u32 version 1, u64 segment id, u64 offset of the next frame
 * to replay, u32 CRC-32 of bytes 0..23, u32 zero.
 *
 * Recovery. On open every segment is scanned from the cursor and each frame fully checked. The first
 * invalid frame of a segment (short, bad magic/version/type/length, CRC mismatch) and everything
 * after it in that segment are truncated off. In the last segment that is the torn tail of a write
 * that was never acknowledged. In an earlier segment it is real corruption: the rest of that
 * segment cannot be resynchronised reliably, so it is dropped too, counted and described, and the
 * following segments are kept. Corruption met later by dq_peek is handled the same way: the rest of
 * the segment at the cursor is dropped (writes move on to a fresh segment if it was the current
 * one).
 *
 * The cursor is renamed into place without fsync: every state a crash can leave is safe. A stale
 * cursor replays acknowledged batches again (idempotent for InfluxDB); a cursor pointing at a
 * deleted segment moves to the next one; an unreadable cursor replays from the oldest segment.
 * Segments are unlinked only after the cursor that skips them is in place.
 *
 * An append that fails half-way is truncated back, so a frame is either whole or absent; if even
 * that fails the segment is closed and the next append starts a new one, leaving the garbage as the
 * tail of an older segment that the next open cuts off.
 */
#include "dqueue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC0 0xD9
#define MAGIC1 0x51
#define VERSION 1
#define CURSOR_SIZE 32
#define SCRATCH_SIZE (64 * 1024)
#define SEG_NAME_LEN 24 /* 20 digits + ".seg" */

typedef struct st_seg_t {
    uint64_t id;
    uint64_t size;    /* bytes of valid frames */
    uint64_t pending; /* records after the cursor in this segment */
} seg_t;

/* fds to flush outside the lock */
typedef struct st_sync_work_t {
    int files[DQ_MAX_UNSYNCED + 2];
    size_t nfiles;
    int dir;
} sync_work_t;

struct st_dq_t {
    pthread_mutex_t mu;
    dq_options_t opt;
    int dirfd;
    int lockfd;
    int wfd; /* the last segment, written with pwritev at segs[nsegs-1].size */
    int wdirty;
    int wbroken;
    int rfd; /* segs[0], for replay */
    uint64_t rfd_id;
    int rjfd; /* rejected file, opened on first use */
    int rjdirty;
    int dirdirty;
    int unsynced[DQ_MAX_UNSYNCED]; /* rotated segments not yet flushed (everysec) */
    size_t nunsynced;
    seg_t *segs; /* oldest first; segs[0] holds the cursor; never empty once open */
    size_t nsegs;
    size_t segs_cap;
    uint64_t cur_off;
    dq_stats_t st;
    char *openmsg; /* during dq_open: where notes are collected */
    size_t openmsgsize;
    uint8_t *scratch;
};

/* ---- byte order ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32);
}

static void set_msg(char *msg, size_t msgsize, const char *fmt, ...)
{
    va_list ap;
    if (msg == NULL || msgsize == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, msgsize, fmt, ap);
    va_end(ap);
}

/* Records a repair in the stats and, while opening, in the caller's message. */
static void note(dq_t *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->st.note, sizeof(q->st.note), fmt, ap);
    va_end(ap);
    if (q->openmsg != NULL) {
        size_t used = strlen(q->openmsg);
        if (used + 1 < q->openmsgsize)
            snprintf(q->openmsg + used, q->openmsgsize - used, "%s%s", used != 0 ? "; " : "", q->st.note);
    }
}

static void seg_name(char buf[SEG_NAME_LEN + 1], uint64_t id)
{
    snprintf(buf, SEG_NAME_LEN + 1, "%020" PRIu64 ".seg", id);
}

/* ---- framing ---- */

static uint32_t crc_slice(uint32_t crc, dq_slice_t s)
{
    if (s.len == 0)
        return crc;
    return (uint32_t)crc32(crc, (const Bytef *)s.base, (uInt)s.len);
}

static int check_header(const uint8_t *h, uint32_t *plen, char *msg, size_t msgsize)
{
    if (h[0] != MAGIC0 || h[1] != MAGIC1) {
        set_msg(msg, msgsize, "bad frame magic 0x%02x%02x", h[0], h[1]);
        return DQ_ECORRUPT;
    }
    if (h[2] != VERSION) {
        set_msg(msg, msgsize, "unknown frame version %u", h[2]);
        return DQ_ECORRUPT;
    }
    if (h[3] != DQ_REC_WRITE && h[3] != DQ_REC_STMT) {
        set_msg(msg, msgsize, "unknown record type %u", h[3]);
        return DQ_ECORRUPT;
    }
    *plen = get32(h + 4);
    if (*plen < DQ_PAYLOAD_FIXED || *plen > DQ_MAX_PAYLOAD) {
        set_msg(msg, msgsize, "bad record length %" PRIu32, *plen);
        return DQ_ECORRUPT;
    }
    return 0;
}

/* Validates a record for encoding and computes its payload length. */
static int record_plen(const dq_record_t *rec, uint32_t *plen)
{
    if (rec->type != DQ_REC_WRITE && rec->type != DQ_REC_STMT)
        return DQ_EINVAL;
    if (rec->db.len > UINT16_MAX || rec->rp.len > UINT16_MAX || rec->precision.len > UINT16_MAX)
        return DQ_ETOOBIG;
    uint64_t n = (uint64_t)DQ_PAYLOAD_FIXED + rec->db.len + rec->rp.len + rec->precision.len;
    if (rec->body.len > DQ_MAX_PAYLOAD || n + rec->body.len > DQ_MAX_PAYLOAD)
        return DQ_ETOOBIG;
    *plen = (uint32_t)(n + rec->body.len);
    return 0;
}

/* Fills the frame header (CRC included) and the fixed part of the payload. */
static int frame_prefix(const dq_record_t *rec, uint64_t ts, uint8_t hdr[DQ_HEADER_SIZE],
                        uint8_t fixed[DQ_PAYLOAD_FIXED])
{
    uint32_t plen;
    int ret = record_plen(rec, &plen);
    if (ret != 0)
        return ret;
    hdr[0] = MAGIC0;
    hdr[1] = MAGIC1;
    hdr[2] = VERSION;
    hdr[3] = (uint8_t)rec->type;
    put32(hdr + 4, plen);
    put64(fixed, ts);
    put16(fixed + 8, (uint16_t)rec->db.len);
    put16(fixed + 10, (uint16_t)rec->rp.len);
    put16(fixed + 12, (uint16_t)rec->precision.len);
    uint32_t crc = (uint32_t)crc32(0, hdr, 8);
    crc = (uint32_t)crc32(crc, fixed, DQ_PAYLOAD_FIXED);
    crc = crc_slice(crc, rec->db);
    crc = crc_slice(crc, rec->rp);
    crc = crc_slice(crc, rec->precision);
    crc = crc_slice(crc, rec->body);
    put32(hdr + 8, crc);
    return 0;
}

size_t dq_frame_size(const dq_record_t *rec)
{
    uint32_t plen;
    if (record_plen(rec, &plen) != 0)
        return 0;
    return DQ_HEADER_SIZE + (size_t)plen;
}

static uint8_t *put_slice(uint8_t *p, dq_slice_t s)
{
    if (s.len != 0)
        memcpy(p, s.base, s.len);
    return p + s.len;
}

int64_t dq_encode(const dq_record_t *rec, void *buf, size_t cap)
{
    uint8_t hdr[DQ_HEADER_SIZE], fixed[DQ_PAYLOAD_FIXED];
    int ret = frame_prefix(rec, rec->ts, hdr, fixed);
    if (ret != 0)
        return ret;
    size_t flen = dq_frame_size(rec);
    if (cap < flen)
        return DQ_ESHORT;
    uint8_t *p = buf;
    memcpy(p, hdr, DQ_HEADER_SIZE);
    memcpy(p + DQ_HEADER_SIZE, fixed, DQ_PAYLOAD_FIXED);
    p = put_slice(p + DQ_HEADER_SIZE + DQ_PAYLOAD_FIXED, rec->db);
    p = put_slice(p, rec->rp);
    p = put_slice(p, rec->precision);
    put_slice(p, rec->body);
    return (int64_t)flen;
}

int dq_decode(const void *buf, size_t len, dq_record_t *rec, size_t *frame_len, char *msg, size_t msgsize)
{
    const uint8_t *h = buf;
    uint32_t plen;
    if (len < DQ_HEADER_SIZE) {
        set_msg(msg, msgsize, "short frame header (%zu of %d bytes)", len, DQ_HEADER_SIZE);
        return DQ_ESHORT;
    }
    int ret = check_header(h, &plen, msg, msgsize);
    if (ret != 0)
        return ret;
    if (len - DQ_HEADER_SIZE < plen) {
        set_msg(msg, msgsize, "record of %" PRIu32 " bytes cut short after %zu", plen, len - DQ_HEADER_SIZE);
        return DQ_ESHORT;
    }
    const uint8_t *p = h + DQ_HEADER_SIZE;
    uint32_t crc = (uint32_t)crc32(0, h, 8);
    crc = (uint32_t)crc32(crc, p, plen);
    if (crc != get32(h + 8)) {
        set_msg(msg, msgsize, "CRC mismatch");
        return DQ_ECORRUPT;
    }
    size_t dlen = get16(p + 8), rlen = get16(p + 10), elen = get16(p + 12);
    if (DQ_PAYLOAD_FIXED + dlen + rlen + elen > plen) {
        set_msg(msg, msgsize, "name lengths exceed the record");
        return DQ_ECORRUPT;
    }
    const char *c = (const char *)p + DQ_PAYLOAD_FIXED;
    rec->type = (dq_rectype_t)h[3];
    rec->ts = get64(p);
    rec->db = (dq_slice_t){c, dlen};
    rec->rp = (dq_slice_t){c + dlen, rlen};
    rec->precision = (dq_slice_t){c + dlen + rlen, elen};
    rec->body = (dq_slice_t){c + dlen + rlen + elen, plen - DQ_PAYLOAD_FIXED - dlen - rlen - elen};
    *frame_len = DQ_HEADER_SIZE + (size_t)plen;
    return 0;
}

const char *dq_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case DQ_EIO:
        return "I/O error";
    case DQ_EFULL:
        return "queue is full";
    case DQ_ETOOBIG:
        return "record too large";
    case DQ_ECORRUPT:
        return "corrupt record";
    case DQ_ESHORT:
        return "truncated record";
    case DQ_ESTALE:
        return "batch is not at the queue cursor";
    case DQ_ELOCKED:
        return "queue is in use by another process";
    case DQ_EINVAL:
        return "invalid argument";
    default:
        return "unknown error";
    }
}

/* ---- file helpers ---- */

/* 0, DQ_ESHORT at end of file, DQ_EIO */
static int pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return DQ_EIO;
        if (r == 0)
            return DQ_ESHORT;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int pwritev_full(int fd, struct iovec *iov, int iovcnt, uint64_t off)
{
    while (iovcnt > 0) {
        ssize_t w = pwritev(fd, iov, iovcnt, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return DQ_EIO;
        }
        off += (uint64_t)w;
        while (iovcnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int mkdirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return DQ_EIO;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return DQ_EIO;
        path[i] = c;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int parse_seg_name(const char *name, uint64_t *id)
{
    if (strlen(name) != SEG_NAME_LEN || strcmp(name + 20, ".seg") != 0)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *id = v;
    return 0;
}

/* Sorted segment ids found in the directory; the caller frees *ids. */
static int list_segments(dq_t *q, uint64_t **ids, size_t *n)
{
    size_t cap = 16;
    *n = 0;
    *ids = malloc(cap * sizeof(**ids));
    if (*ids == NULL)
        abort();
    int fd = dup(q->dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return DQ_EIO;
    }
    rewinddir(d);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        uint64_t id;
        if (parse_seg_name(e->d_name, &id) != 0)
            continue;
        if (*n == cap) {
            cap *= 2;
            *ids = realloc(*ids, cap * sizeof(**ids));
            if (*ids == NULL)
                abort();
        }
        (*ids)[(*n)++] = id;
    }
    closedir(d);
    qsort(*ids, *n, sizeof(**ids), cmp_u64);
    return 0;
}

static void unlink_segment(dq_t *q, uint64_t id)
{
    char name[SEG_NAME_LEN + 1];
    seg_name(name, id);
    unlinkat(q->dirfd, name, 0);
    q->dirdirty = 1;
}

static void push_seg(dq_t *q, uint64_t id, uint64_t size, uint64_t pending)
{
    if (q->nsegs == q->segs_cap) {
        q->segs_cap = q->segs_cap == 0 ? 8 : q->segs_cap * 2;
        q->segs = realloc(q->segs, q->segs_cap * sizeof(*q->segs));
        if (q->segs == NULL)
            abort();
    }
    q->segs[q->nsegs++] = (seg_t){id, size, pending};
}

/* ---- cursor ---- */

static int cursor_write(dq_t *q, uint64_t seg, uint64_t off)
{
    uint8_t b[CURSOR_SIZE] = {'D', 'Q', 'C', '1'};
    put32(b + 4, 1);
    put64(b + 8, seg);
    put64(b + 16, off);
    put32(b + 24, (uint32_t)crc32(0, b, 24));
    int fd = openat(q->dirfd, "cursor.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return DQ_EIO;
    struct iovec iov = {b, sizeof(b)};
    int ret = pwritev_full(fd, &iov, 1, 0);
    if (close(fd) != 0 && ret == 0)
        ret = DQ_EIO;
    if (ret != 0)
        return ret;
    if (renameat(q->dirfd, "cursor.tmp", q->dirfd, "cursor") != 0)
        return DQ_EIO;
    q->dirdirty = 1;
    return 0;
}

/* 0 and the cursor, 1 when there is none, 2 when it is unreadable */
static int cursor_read(dq_t *q, uint64_t *seg, uint64_t *off)
{
    uint8_t b[CURSOR_SIZE];
    int fd = openat(q->dirfd, "cursor", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1 : 2;
    int ret = pread_full(fd, b, sizeof(b), 0);
    close(fd);
    if (ret != 0 || memcmp(b, "DQC1", 4) != 0 || get32(b + 4) != 1 || get32(b + 24) != (uint32_t)crc32(0, b, 24))
        return 2;
    *seg = get64(b + 8);
    *off = get64(b + 16);
    return 0;
}

/* ---- open: scanning ---- */

/* Checks the frame at `off` of a file of `fsize` bytes by streaming it through the CRC. */
static int scan_frame(dq_t *q, int fd, uint64_t off, uint64_t fsize, uint64_t *flen, uint64_t *ts, char *why,
                      size_t whysize)
{
    uint8_t *buf = q->scratch;
    uint32_t plen;
    size_t have = fsize - off < SCRATCH_SIZE ? (size_t)(fsize - off) : SCRATCH_SIZE;
    if (have < DQ_HEADER_SIZE) {
        set_msg(why, whysize, "short frame header (%zu of %d bytes)", have, DQ_HEADER_SIZE);
        return DQ_ESHORT;
    }
    int ret = pread_full(fd, buf, have, off);
    if (ret != 0)
        return DQ_EIO;
    ret = check_header(buf, &plen, why, whysize);
    if (ret != 0)
        return ret;
    if (fsize - off - DQ_HEADER_SIZE < plen) {
        set_msg(why, whysize, "record of %" PRIu32 " bytes cut short after %" PRIu64, plen,
                fsize - off - DQ_HEADER_SIZE);
        return DQ_ESHORT;
    }
    if (have >= DQ_HEADER_SIZE + (size_t)plen) {
        dq_record_t rec;
        size_t fl;
        ret = dq_decode(buf, have, &rec, &fl, why, whysize);
        *ts = rec.ts;
        *flen = fl;
        return ret;
    }
    /* large record: check the name lengths on the first chunk, then stream the CRC */
    uint8_t *p = buf + DQ_HEADER_SIZE;
    if (DQ_PAYLOAD_FIXED + (uint64_t)get16(p + 8) + get16(p + 10) + get16(p + 12) > plen) {
        set_msg(why, whysize, "name lengths exceed the record");
        return DQ_ECORRUPT;
    }
    *ts = get64(p);
    uint32_t crc = (uint32_t)crc32(0, buf, 8);
    crc = (uint32_t)crc32(crc, p, (uInt)(have - DQ_HEADER_SIZE));
    uint64_t pos = off + have, end = off + DQ_HEADER_SIZE + plen;
    uint32_t want = get32(buf + 8);
    while (pos < end) {
        size_t n = end - pos < SCRATCH_SIZE ? (size_t)(end - pos) : SCRATCH_SIZE;
        ret = pread_full(fd, buf, n, pos);
        if (ret != 0)
            return DQ_EIO;
        crc = (uint32_t)crc32(crc, buf, (uInt)n);
        pos += n;
    }
    if (crc != want) {
        set_msg(why, whysize, "CRC mismatch");
        return DQ_ECORRUPT;
    }
    *flen = DQ_HEADER_SIZE + (uint64_t)plen;
    return 0;
}

/* Scans one segment from `start`, truncating at the first invalid frame, and appends it to segs. */
static int load_segment(dq_t *q, uint64_t id, uint64_t start, int last)
{
    char name[SEG_NAME_LEN + 1], why[128];
    struct stat sb;
    uint64_t off = start, pending = 0;
    int ret = DQ_EIO;
    seg_name(name, id);
    int fd = openat(q->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0)
        goto Error;
    uint64_t fsize = (uint64_t)sb.st_size;
    if (off > fsize) {
        note(q, "segment %s: cursor offset %" PRIu64 " beyond its end %" PRIu64, name, off, fsize);
        off = fsize;
    }
    while (off < fsize) {
        uint64_t flen = 0, ts = 0;
        ret = scan_frame(q, fd, off, fsize, &flen, &ts, why, sizeof(why));
        if (ret == DQ_EIO)
            goto Error;
        if (ret != 0) {
            if (ftruncate(fd, (off_t)off) != 0)
                goto Error;
            q->st.corrupt_events++;
            q->st.corrupt_bytes += fsize - off;
            note(q, "segment %s: %s at offset %" PRIu64 "; dropped %" PRIu64 " bytes%s", name, why, off, fsize - off,
                 last ? " (torn tail)" : "");
            break;
        }
        if (q->st.records == 0)
            q->st.oldest_ts = ts;
        q->st.records++;
        q->st.bytes += flen;
        pending++;
        off += flen;
    }
    push_seg(q, id, off, pending);
    if (start > off)
        start = off;
    if (q->nsegs == 1)
        q->cur_off = start;
    ret = 0;
Error:
    if (fd >= 0)
        close(fd);
    return ret;
}

static int create_segment(dq_t *q, uint64_t id, int *fdp)
{
    char name[SEG_NAME_LEN + 1];
    seg_name(name, id);
    int fd = openat(q->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return DQ_EIO;
    push_seg(q, id, 0, 0);
    q->dirdirty = 1;
    *fdp = fd;
    return 0;
}

/* Picks the cursor, drops replayed segments, scans the rest and opens the last one for appending. */
static int load_segments(dq_t *q)
{
    uint64_t *ids = NULL, cseg = 0, coff = 0;
    size_t n = 0, first = 0;
    char name[SEG_NAME_LEN + 1];
    int ret = list_segments(q, &ids, &n);
    if (ret != 0)
        goto Error;
    int cst = cursor_read(q, &cseg, &coff);
    uint64_t disk_seg = cseg, disk_off = coff; /* the cursor file as read */
    if (cst == 2)
        note(q, "cursor file unreadable; replaying from the oldest segment");
    if (cst != 0) {
        cseg = n > 0 ? ids[0] : 1;
        coff = 0;
    }
    for (; first < n && ids[first] < cseg; first++)
        unlink_segment(q, ids[first]);
    if (first < n && ids[first] != cseg) {
        note(q, "cursor segment %" PRIu64 " missing; replaying from segment %" PRIu64, cseg, ids[first]);
        cseg = ids[first];
        coff = 0;
    }
    for (size_t i = first; i < n; i++) {
        ret = load_segment(q, ids[i], ids[i] == cseg ? coff : 0, i + 1 == n);
        if (ret != 0)
            goto Error;
    }
    if (q->nsegs == 0) {
        ret = create_segment(q, cseg == 0 ? 1 : cseg, &q->wfd);
    } else {
        seg_name(name, q->segs[q->nsegs - 1].id);
        q->wfd = openat(q->dirfd, name, O_WRONLY | O_CLOEXEC);
        ret = q->wfd < 0 ? DQ_EIO : 0;
    }
    if (ret != 0)
        goto Error;
    /* written only when it moved: on a full disk, a queue whose cursor file is right still opens */
    if (cst != 0 || disk_seg != q->segs[0].id || disk_off != q->cur_off)
        ret = cursor_write(q, q->segs[0].id, q->cur_off);
Error:
    free(ids);
    return ret;
}

/* Counts the rejected file's frames (headers only: it is never replayed) and cuts a torn tail. */
static int load_rejected(dq_t *q)
{
    struct stat sb;
    uint8_t h[DQ_HEADER_SIZE];
    char why[128];
    uint64_t off = 0;
    q->rjfd = openat(q->dirfd, "rejected", O_RDWR | O_CLOEXEC);
    if (q->rjfd < 0)
        return errno == ENOENT ? 0 : DQ_EIO;
    if (fstat(q->rjfd, &sb) != 0)
        return DQ_EIO;
    uint64_t fsize = (uint64_t)sb.st_size;
    while (off < fsize) {
        uint32_t plen = 0;
        int ret = pread_full(q->rjfd, h, sizeof(h), off);
        if (ret == DQ_EIO)
            return ret;
        if (ret == DQ_ESHORT)
            set_msg(why, sizeof(why), "short frame header");
        else
            ret = check_header(h, &plen, why, sizeof(why));
        if (ret == 0 && fsize - off - DQ_HEADER_SIZE < plen) {
            set_msg(why, sizeof(why), "record cut short");
            ret = DQ_ESHORT;
        }
        if (ret != 0) {
            if (ftruncate(q->rjfd, (off_t)off) != 0)
                return DQ_EIO;
            q->st.corrupt_events++;
            q->st.corrupt_bytes += fsize - off;
            note(q, "rejected: %s at offset %" PRIu64 "; dropped %" PRIu64 " bytes", why, off, fsize - off);
            break;
        }
        off += DQ_HEADER_SIZE + (uint64_t)plen;
        q->st.rejected++;
    }
    q->st.rejected_bytes = off;
    return 0;
}

static dq_t *new_queue(const dq_options_t *opt, char *msg, size_t msgsize)
{
    dq_t *q = calloc(1, sizeof(*q));
    if (q == NULL)
        abort();
    pthread_mutex_init(&q->mu, NULL);
    q->dirfd = q->lockfd = q->wfd = q->rfd = q->rjfd = -1;
    q->opt = *opt;
    if (q->opt.segment_bytes == 0)
        q->opt.segment_bytes = DQ_DEFAULT_SEGMENT_BYTES;
    if (q->opt.max_bytes == 0)
        q->opt.max_bytes = DQ_DEFAULT_MAX_BYTES;
    q->openmsg = msg;
    q->openmsgsize = msg != NULL ? msgsize : 0;
    q->scratch = malloc(SCRATCH_SIZE);
    if (q->scratch == NULL)
        abort();
    return q;
}

/* Creates the directory and takes the lock. */
static int lock_dir(dq_t *q, const char *dir)
{
    int ret = mkdirs(dir);
    if (ret != 0)
        return ret;
    q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (q->dirfd < 0)
        return DQ_EIO;
    q->lockfd = openat(q->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (q->lockfd < 0)
        return DQ_EIO;
    if (flock(q->lockfd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK ? DQ_ELOCKED : DQ_EIO;
    return 0;
}

int dq_open(dq_t **qp, const char *dir, const dq_options_t *opt, char *msg, size_t msgsize)
{
    int ret;
    *qp = NULL;
    set_msg(msg, msgsize, "%s", "");
    dq_t *q = new_queue(opt, msg, msgsize);
    if (opt->fsync != DQ_FSYNC_ALWAYS && opt->fsync != DQ_FSYNC_EVERYSEC && opt->fsync != DQ_FSYNC_NO) {
        ret = DQ_EINVAL;
        set_msg(msg, msgsize, "%s: invalid fsync policy", dir);
        goto Error;
    }
    ret = lock_dir(q, dir);
    if (ret == 0)
        ret = load_segments(q);
    if (ret == 0)
        ret = load_rejected(q);
    if (ret != 0) {
        set_msg(msg, msgsize, "%s: %s", dir, ret == DQ_EIO ? strerror(errno) : dq_strerror(ret));
        goto Error;
    }
    q->openmsg = NULL;
    *qp = q;
    return 0;
Error:
    q->opt.fsync = DQ_FSYNC_NO;
    q->openmsg = NULL;
    dq_close(q);
    return ret;
}

/* ---- syncing ---- */

/* Under the lock: takes what needs flushing. Failing dups leave the dirty flags set. */
static int collect_sync(dq_t *q, sync_work_t *w)
{
    w->nfiles = 0;
    w->dir = -1;
    for (size_t i = 0; i < q->nunsynced; i++)
        w->files[w->nfiles++] = q->unsynced[i];
    q->nunsynced = 0;
    int ret = 0;
    int *flags[] = {&q->wdirty, &q->rjdirty, &q->dirdirty};
    int fds[] = {q->wfd, q->rjfd, q->dirfd};
    for (int i = 0; i < 3; i++) {
        if (!*flags[i] || fds[i] < 0)
            continue;
        int fd = dup(fds[i]);
        if (fd < 0) {
            ret = DQ_EIO;
            continue;
        }
        *flags[i] = 0;
        if (i == 2)
            w->dir = fd;
        else
            w->files[w->nfiles++] = fd;
    }
    return ret;
}

/* Outside the lock: flushes and closes what collect_sync took. */
static int run_sync(sync_work_t *w)
{
    int ret = 0, err = 0;
    for (size_t i = 0; i < w->nfiles; i++) {
        if (fdatasync(w->files[i]) != 0 && ret == 0) {
            ret = DQ_EIO;
            err = errno;
        }
        close(w->files[i]);
    }
    if (w->dir >= 0) {
        if (fsync(w->dir) != 0 && ret == 0) {
            ret = DQ_EIO;
            err = errno;
        }
        close(w->dir);
    }
    if (ret != 0)
        errno = err;
    return ret;
}

int dq_sync(dq_t *q)
{
    sync_work_t w;
    pthread_mutex_lock(&q->mu);
    int ret = collect_sync(q, &w);
    pthread_mutex_unlock(&q->mu);
    int ret2 = run_sync(&w);
    return ret != 0 ? ret : ret2;
}

void dq_close(dq_t *q)
{
    if (q == NULL)
        return;
    if (q->opt.fsync != DQ_FSYNC_NO)
        dq_sync(q);
    for (size_t i = 0; i < q->nunsynced; i++)
        close(q->unsynced[i]);
    int fds[] = {q->wfd, q->rfd, q->rjfd, q->lockfd, q->dirfd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
    pthread_mutex_destroy(&q->mu);
    free(q->segs);
    free(q->scratch);
    free(q);
}

/* ---- appending ---- */

/* Starts a new write segment; the old one is flushed later by dq_sync (everysec). */
static int rotate(dq_t *q)
{
    int fd, old = q->wfd;
    int ret = create_segment(q, q->segs[q->nsegs - 1].id + 1, &fd);
    if (ret != 0)
        return ret;
    q->wfd = fd;
    q->wbroken = 0;
    if (q->opt.fsync == DQ_FSYNC_EVERYSEC && q->wdirty && q->nunsynced < DQ_MAX_UNSYNCED) {
        q->unsynced[q->nunsynced++] = old;
    } else {
        if (q->opt.fsync == DQ_FSYNC_EVERYSEC && q->wdirty)
            fdatasync(old); /* only when segments rotate faster than dq_sync runs */
        close(old);
    }
    q->wdirty = 0;
    return 0;
}

static int append_locked(dq_t *q, struct iovec *iov, uint64_t flen, uint64_t now)
{
    seg_t *last = &q->segs[q->nsegs - 1];
    if (q->st.bytes + flen > q->opt.max_bytes)
        return DQ_EFULL;
    if (q->wbroken || (last->size > 0 && last->size + flen > q->opt.segment_bytes)) {
        int ret = rotate(q);
        if (ret != 0)
            return ret;
        last = &q->segs[q->nsegs - 1];
    }
    if (pwritev_full(q->wfd, iov, 6, last->size) != 0) {
        int err = errno;
        if (ftruncate(q->wfd, (off_t)last->size) != 0)
            q->wbroken = 1;
        errno = err;
        return DQ_EIO;
    }
    last->size += flen;
    last->pending++;
    if (q->st.records == 0)
        q->st.oldest_ts = now;
    q->st.records++;
    q->st.bytes += flen;
    q->wdirty = 1;
    return 0;
}

int dq_append(dq_t *q, const dq_record_t *rec, uint64_t now)
{
    uint8_t hdr[DQ_HEADER_SIZE], fixed[DQ_PAYLOAD_FIXED];
    int ret = frame_prefix(rec, now, hdr, fixed);
    if (ret != 0)
        return ret;
    struct iovec iov[6] = {
        {hdr, sizeof(hdr)},
        {fixed, sizeof(fixed)},
        {(void *)rec->db.base, rec->db.len},
        {(void *)rec->rp.base, rec->rp.len},
        {(void *)rec->precision.base, rec->precision.len},
        {(void *)rec->body.base, rec->body.len},
    };
    sync_work_t w = {.nfiles = 0, .dir = -1};
    pthread_mutex_lock(&q->mu);
    ret = append_locked(q, iov, dq_frame_size(rec), now);
    if (ret == 0 && q->opt.fsync == DQ_FSYNC_ALWAYS)
        ret = collect_sync(q, &w);
    int err = errno;
    pthread_mutex_unlock(&q->mu);
    errno = err;
    int ret2 = run_sync(&w);
    return ret != 0 ? ret : ret2;
}

/* ---- replay ---- */

/* Moves the cursor past fully replayed segments (never past the write segment), persists it when
 * it moved or `force` is set, and only then deletes the skipped segments. */
static int advance_cursor(dq_t *q, int force)
{
    size_t k = 0;
    uint64_t off = q->cur_off;
    while (k + 1 < q->nsegs && off >= q->segs[k].size) {
        k++;
        off = 0;
    }
    if (k == 0 && !force)
        return 0;
    int ret = cursor_write(q, q->segs[k].id, off);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < k; i++) {
        if (q->rfd >= 0 && q->rfd_id == q->segs[i].id) {
            close(q->rfd);
            q->rfd = -1;
        }
        unlink_segment(q, q->segs[i].id);
    }
    memmove(q->segs, q->segs + k, (q->nsegs - k) * sizeof(*q->segs));
    q->nsegs -= k;
    q->cur_off = off;
    return 0;
}

static int open_reader(dq_t *q)
{
    char name[SEG_NAME_LEN + 1];
    if (q->rfd >= 0 && q->rfd_id == q->segs[0].id)
        return 0;
    if (q->rfd >= 0)
        close(q->rfd);
    seg_name(name, q->segs[0].id);
    q->rfd = openat(q->dirfd, name, O_RDONLY | O_CLOEXEC);
    q->rfd_id = q->segs[0].id;
    return q->rfd < 0 ? DQ_EIO : 0;
}

static void refresh_oldest(dq_t *q)
{
    uint8_t h[DQ_HEADER_SIZE + 8];
    q->st.oldest_ts = 0;
    if (q->st.records == 0 || open_reader(q) != 0)
        return;
    if (pread_full(q->rfd, h, sizeof(h), q->cur_off) == 0)
        q->st.oldest_ts = get64(h + DQ_HEADER_SIZE);
}

/* Drops the rest of the cursor's segment after corruption found during replay. */
static int skip_segment(dq_t *q, const char *why)
{
    char name[SEG_NAME_LEN + 1];
    seg_t *s = &q->segs[0];
    uint64_t lost = s->size - q->cur_off;
    seg_name(name, s->id);
    if (q->nsegs == 1) {
        int ret = rotate(q);
        if (ret != 0)
            return ret;
        s = &q->segs[0];
    }
    q->st.bytes -= lost;
    q->st.records -= s->pending;
    q->st.corrupt_events++;
    q->st.corrupt_bytes += lost;
    q->st.corrupt_records += s->pending;
    note(q, "segment %s: %s at offset %" PRIu64 "; dropped %" PRIu64 " bytes, %" PRIu64 " records", name, why,
         q->cur_off, lost, s->pending);
    s->pending = 0;
    q->cur_off = s->size;
    return advance_cursor(q, 0);
}

/* Sizes up the batch from frame headers: how many frames (*n) and bytes (*total) from the cursor. */
static int plan_batch(dq_t *q, size_t max_records, size_t max_bytes, size_t *n, uint64_t *total, char *why,
                      size_t whysize)
{
    const seg_t *s = &q->segs[0];
    uint64_t off = q->cur_off;
    uint8_t h[DQ_HEADER_SIZE];
    *n = 0;
    *total = 0;
    while (*n < max_records && off < s->size) {
        uint32_t plen = 0;
        int ret = pread_full(q->rfd, h, sizeof(h), off);
        if (ret == DQ_EIO)
            return ret;
        if (ret == DQ_ESHORT)
            set_msg(why, whysize, "segment shorter than expected");
        else
            ret = check_header(h, &plen, why, whysize);
        if (ret == 0 && off + DQ_HEADER_SIZE + plen > s->size) {
            set_msg(why, whysize, "record runs past the end of the segment");
            ret = DQ_ECORRUPT;
        }
        if (ret != 0)
            return *n == 0 ? DQ_ECORRUPT : 0;
        uint64_t flen = DQ_HEADER_SIZE + (uint64_t)plen;
        if (*n > 0 && *total + flen > max_bytes)
            break;
        (*n)++;
        *total += flen;
        off += flen;
    }
    return 0;
}

/* Reads the planned frames and decodes them; a bad frame after the first ends the batch there. */
static int load_batch(dq_t *q, dq_batch_t *b, size_t n, uint64_t total, char *why, size_t whysize)
{
    if (b->_buf_cap < total) {
        free(b->_buf);
        b->_buf = malloc(total);
        if (b->_buf == NULL)
            abort();
        b->_buf_cap = total;
    }
    if (b->_recs_cap < n) {
        free(b->recs);
        b->recs = malloc(n * sizeof(*b->recs));
        if (b->recs == NULL)
            abort();
        b->_recs_cap = n;
    }
    int ret = pread_full(q->rfd, b->_buf, total, q->cur_off);
    if (ret == DQ_EIO)
        return ret;
    if (ret == DQ_ESHORT) {
        set_msg(why, whysize, "segment shorter than expected");
        return DQ_ECORRUPT;
    }
    size_t pos = 0, i;
    for (i = 0; i < n; i++) {
        size_t flen;
        ret = dq_decode(b->_buf + pos, total - pos, &b->recs[i], &flen, why, whysize);
        if (ret != 0)
            break;
        pos += flen;
    }
    if (i == 0)
        return DQ_ECORRUPT;
    b->n = i;
    b->bytes = pos;
    b->_seg = q->segs[0].id;
    b->_start = q->cur_off;
    b->_end = q->cur_off + pos;
    return 0;
}

int dq_peek(dq_t *q, size_t max_records, size_t max_bytes, dq_batch_t *b)
{
    char why[128];
    int ret = 0;
    b->n = 0;
    b->bytes = 0;
    if (max_records == 0)
        return 0;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        size_t n;
        uint64_t total;
        ret = advance_cursor(q, 0);
        if (ret != 0 || q->cur_off >= q->segs[0].size)
            break;
        ret = open_reader(q);
        if (ret != 0)
            break;
        ret = plan_batch(q, max_records, max_bytes, &n, &total, why, sizeof(why));
        if (ret == 0)
            ret = load_batch(q, b, n, total, why, sizeof(why));
        if (ret == DQ_ECORRUPT) {
            ret = skip_segment(q, why);
            refresh_oldest(q);
            if (ret == 0)
                continue;
        }
        break;
    }
    pthread_mutex_unlock(&q->mu);
    return ret != 0 ? ret : (int)b->n;
}

static int consume(dq_t *q, const dq_batch_t *b)
{
    q->cur_off = b->_end;
    q->segs[0].pending -= b->n;
    q->st.records -= b->n;
    q->st.bytes -= b->bytes;
    int ret = advance_cursor(q, 1);
    if (ret == 0)
        ret = open_reader(q);
    refresh_oldest(q);
    return ret;
}

static int check_batch(dq_t *q, const dq_batch_t *b)
{
    if (b->n == 0)
        return 1;
    /* the end checks matter for a batch peeked before a reopen that cut the segment short */
    if (b->_seg != q->segs[0].id || b->_start != q->cur_off || b->_end > q->segs[0].size || b->n > q->segs[0].pending ||
        b->bytes > q->st.bytes)
        return DQ_ESTALE;
    return 0;
}

int dq_ack(dq_t *q, const dq_batch_t *b)
{
    pthread_mutex_lock(&q->mu);
    int ret = check_batch(q, b);
    if (ret == 0)
        ret = consume(q, b);
    pthread_mutex_unlock(&q->mu);
    return ret == 1 ? 0 : ret;
}

static int write_rejected(dq_t *q, const dq_batch_t *b)
{
    if (q->st.rejected_bytes + b->bytes > q->opt.max_bytes) {
        q->st.rejected_dropped += b->n;
        return 0;
    }
    if (q->rjfd < 0) {
        q->rjfd = openat(q->dirfd, "rejected", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (q->rjfd < 0)
            return DQ_EIO;
        q->dirdirty = 1;
    }
    struct iovec iov = {b->_buf, b->bytes};
    if (pwritev_full(q->rjfd, &iov, 1, q->st.rejected_bytes) != 0) {
        int err = errno;
        if (ftruncate(q->rjfd, (off_t)q->st.rejected_bytes) != 0) {
            /* keep the garbage out of future appends' way: start after it */
            struct stat sb;
            if (fstat(q->rjfd, &sb) == 0)
                q->st.rejected_bytes = (uint64_t)sb.st_size;
        }
        errno = err;
        return DQ_EIO;
    }
    q->st.rejected += b->n;
    q->st.rejected_bytes += b->bytes;
    q->rjdirty = 1;
    return 0;
}

int dq_reject(dq_t *q, const dq_batch_t *b)
{
    sync_work_t w = {.nfiles = 0, .dir = -1};
    pthread_mutex_lock(&q->mu);
    int ret = check_batch(q, b);
    if (ret == 0)
        ret = write_rejected(q, b);
    if (ret == 0)
        ret = consume(q, b);
    if (ret == 0 && q->opt.fsync == DQ_FSYNC_ALWAYS)
        ret = collect_sync(q, &w);
    pthread_mutex_unlock(&q->mu);
    int ret2 = run_sync(&w);
    if (ret == 1)
        ret = 0;
    return ret != 0 ? ret : ret2;
}

void dq_batch_keep(dq_batch_t *b, size_t n)
{
    if (n >= b->n)
        return;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += dq_frame_size(&b->recs[i]); /* the frame as dq_append wrote it */
    b->n = n;
    b->bytes = bytes;
    b->_end = b->_start + bytes;
}

void dq_batch_dispose(dq_batch_t *b)
{
    free(b->_buf);
    free(b->recs);
    memset(b, 0, sizeof(*b));
}

void dq_stats(dq_t *q, dq_stats_t *st)
{
    pthread_mutex_lock(&q->mu);
    *st = q->st;
    st->segments = q->nsegs;
    pthread_mutex_unlock(&q->mu);
}

uint64_t dq_pending(dq_t *q)
{
    pthread_mutex_lock(&q->mu);
    uint64_t n = q->st.records;
    pthread_mutex_unlock(&q->mu);
    return n;
}

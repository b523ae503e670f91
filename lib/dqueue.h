/*
 * dqueue — the durable per-backend disk queue (SPEC §6).
 *
 * Writes a backend could not store are appended here and replayed, in order, when it recovers. One
 * queue per backend lives in its own directory (<datadir>/<backend>/): append-only segment files of
 * framed, checksummed records, a persisted read cursor, and a `rejected` file for batches the
 * backend refused during replay. The on-disk format is described at the top of dqueue.c.
 *
 * Replay protocol: dq_peek() reads a batch without consuming it; once the backend has stored it the
 * caller calls dq_ack() (or dq_reject() when the backend refused it with a 4xx), which advances and
 * persists the cursor. A crash between peek and ack replays the batch again: delivery is at least
 * once, which is harmless because InfluxDB stores identical points idempotently.
 *
 * Threads: a queue has an internal mutex. dq_append, dq_sync, dq_stats and dq_pending may be called
 * from any thread at any time, concurrently with each other and with the replay calls. dq_peek,
 * dq_ack and dq_reject are also serialised by the mutex, but the batch protocol assumes a single
 * consumer per queue: an ack for a batch that no longer starts at the cursor fails with DQ_ESTALE.
 * fsync(2) is never called with the mutex held (except when more than DQ_MAX_UNSYNCED segments were
 * rotated between two dq_sync calls), so an `everysec` background sync does not stall appenders.
 * dq_open and dq_close must not race with any other call on the same queue.
 *
 * Layer 1: no event loop, no sockets, no logging, no clock (timestamps are passed in).
 */
#ifndef IP_DQUEUE_H
#define IP_DQUEUE_H

#include <stddef.h>
#include <stdint.h>

/* Return codes: 0 or one of these; dq_strerror() names them. */
#define DQ_EIO (-1)      /* a system call failed; errno is preserved */
#define DQ_EFULL (-2)    /* the append would take the queue over max_bytes: answer 503 */
#define DQ_ETOOBIG (-3)  /* the record exceeds DQ_MAX_PAYLOAD or a name exceeds 65535 bytes */
#define DQ_ECORRUPT (-4) /* a frame is invalid (bad magic, version, type, length or CRC) */
#define DQ_ESHORT (-5)   /* the buffer ends inside a frame (a torn tail on disk) */
#define DQ_ESTALE (-6)   /* dq_ack/dq_reject for a batch that does not start at the cursor */
#define DQ_ELOCKED (-7)  /* another process (or another dq_t) holds the queue directory */
#define DQ_EINVAL (-8)   /* invalid argument (unknown record type, bad options) */

#define DQ_HEADER_SIZE 12
#define DQ_PAYLOAD_FIXED 14                    /* timestamp + three name lengths */
#define DQ_MAX_PAYLOAD (128u * 1024 * 1024)    /* larger lengths on disk are corruption */
#define DQ_DEFAULT_SEGMENT_BYTES (64ull << 20) /* rotation size */
#define DQ_DEFAULT_MAX_BYTES (1024ull << 20)   /* queuemaxmb default */
#define DQ_MAX_UNSYNCED 16                     /* rotated segments awaiting dq_sync */

typedef enum en_dq_rectype_t {
    DQ_REC_WRITE = 1, /* body is line protocol for (db, rp, precision) */
    DQ_REC_STMT = 2   /* body is a CREATE DATABASE / CREATE RETENTION POLICY statement run on db */
} dq_rectype_t;

typedef enum en_dq_fsync_t {
    DQ_FSYNC_ALWAYS,   /* dq_append returns only after fdatasync */
    DQ_FSYNC_EVERYSEC, /* the caller runs dq_sync() about once a second from a background thread */
    DQ_FSYNC_NO        /* never fsync; the page cache still survives a SIGKILL */
} dq_fsync_t;

/* A borrowed byte range. */
typedef struct st_dq_slice_t {
    const char *base;
    size_t len;
} dq_slice_t;

/* One record. Slices are borrowed: from the caller (dq_append, dq_encode) or from the buffer given
 * to dq_decode / owned by the batch (dq_peek). */
typedef struct st_dq_record_t {
    dq_rectype_t type;
    uint64_t ts; /* the caller's clock at append time (ms since the epoch by convention) */
    dq_slice_t db;
    dq_slice_t rp;
    dq_slice_t precision;
    dq_slice_t body;
} dq_record_t;

typedef struct st_dq_options_t {
    uint64_t segment_bytes; /* rotate when a segment would grow past this; 0 = default */
    uint64_t max_bytes;     /* cap on pending bytes, and separately on the rejected file; 0 = default.
                             * Replayed parts of the oldest segment stay on disk until the whole
                             * segment is replayed: disk use can exceed the cap by one segment. */
    dq_fsync_t fsync;
} dq_options_t;

/* A batch returned by dq_peek. Put it on the stack zeroed ({0}), reuse it across peeks, release it
 * with dq_batch_dispose. recs[i] point into the batch's own buffer and stay valid until the next
 * dq_peek or dq_batch_dispose on this batch. */
typedef struct st_dq_batch_t {
    dq_record_t *recs;
    size_t n;
    uint64_t bytes; /* frame bytes on disk covered by the batch */
    char *_buf;
    size_t _buf_cap;
    size_t _recs_cap;
    uint64_t _seg;
    uint64_t _start;
    uint64_t _end;
} dq_batch_t;

typedef struct st_dq_stats_t {
    uint64_t bytes;            /* pending frame bytes after the cursor */
    uint64_t records;          /* pending records */
    uint64_t oldest_ts;        /* ts of the oldest pending record; 0 when empty */
    uint64_t segments;         /* segment files on disk */
    uint64_t rejected;         /* records in the rejected file */
    uint64_t rejected_bytes;   /* size of the rejected file */
    uint64_t rejected_dropped; /* rejected records not kept because the rejected file was full */
    uint64_t corrupt_events;   /* torn tails or corrupt records found since open (open included) */
    uint64_t corrupt_bytes;    /* bytes discarded by those events */
    uint64_t corrupt_records;  /* complete records known to be lost with them (at peek time) */
    char note[256];            /* the latest such event, human readable; "" when none */
} dq_stats_t;

typedef struct st_dq_t dq_t;

/* Opens (creating it and its parents if needed) the queue in `dir` and takes an exclusive lock on it.
 * Scans the segments from the persisted cursor: a torn or corrupt tail is truncated off, keeping
 * everything before it; a corrupt record inside a segment that is not the last drops the rest of
 * that segment only. Each such repair is described in `msg` ("" when none) and counted in the stats.
 * On failure returns a DQ_E* code, `*qp` is NULL and `msg` says why. The caller owns `*qp`. */
int dq_open(dq_t **qp, const char *dir, const dq_options_t *opt, char *msg, size_t msgsize);

/* Syncs (unless the policy is `no`), releases the lock and frees the queue. NULL is a no-op. */
void dq_close(dq_t *q);

/* Appends one record stamped with `now`. With DQ_FSYNC_ALWAYS returns after the record is on stable
 * storage. Returns 0, DQ_EFULL (nothing written), DQ_ETOOBIG, DQ_EINVAL or DQ_EIO (nothing kept:
 * a partial frame is truncated away; errno says why). Any thread. */
int dq_append(dq_t *q, const dq_record_t *rec, uint64_t now);

/* Flushes appended records, rotated segments and directory changes to stable storage. Returns 0 or
 * DQ_EIO. Any thread; meant for the `everysec` background thread. */
int dq_sync(dq_t *q);

/* Reads, without consuming, up to max_records records totalling at most max_bytes frame bytes from
 * the cursor, in append order (always at least one record if any is pending, however large). A batch
 * never spans two segments, so it may be shorter than the limits. Corrupt data met at the cursor is
 * skipped (the rest of its segment is dropped and counted) and reading continues after it.
 * Returns the number of records in `b` (0 when the queue is empty) or DQ_EIO. */
int dq_peek(dq_t *q, size_t max_records, size_t max_bytes, dq_batch_t *b);

/* Consumes the batch: advances the cursor past it, persists the cursor (write temporary + rename)
 * and deletes segments that are fully replayed. An empty batch is a no-op. Returns 0, DQ_ESTALE
 * (nothing changed) or DQ_EIO: the batch is consumed but the cursor could not be persisted, so a
 * restart may replay it again. */
int dq_ack(dq_t *q, const dq_batch_t *b);

/* Appends the batch's frames to the `rejected` file (unless that would exceed max_bytes: then they
 * are counted in rejected_dropped), then consumes it as dq_ack does. Returns 0, DQ_ESTALE or DQ_EIO
 * (if writing the rejected file failed, the batch is not consumed and the call can be retried). */
int dq_reject(dq_t *q, const dq_batch_t *b);

/* Keeps only the first @n records of batch @b (none are dropped when n >= b->n), so that dq_ack or dq_reject then
 * consumes just them: for a batch the caller dealt with in part. No I/O. */
void dq_batch_keep(dq_batch_t *b, size_t n);

/* Frees the batch's memory and zeroes it. */
void dq_batch_dispose(dq_batch_t *b);

/* Fills `st` with a consistent snapshot. Any thread. */
void dq_stats(dq_t *q, dq_stats_t *st);

/* Pending record count (the "queue is non-empty, append rather than send" test). Any thread. */
uint64_t dq_pending(dq_t *q);

/* Size of the frame that encodes `rec`, or 0 when it cannot be encoded (DQ_ETOOBIG). */
size_t dq_frame_size(const dq_record_t *rec);

/* Encodes `rec` (with rec->ts) into buf. Returns the frame length, DQ_ETOOBIG, DQ_EINVAL (bad type)
 * or DQ_ESHORT (cap too small). */
int64_t dq_encode(const dq_record_t *rec, void *buf, size_t cap);

/* Decodes the frame at the start of buf[0..len). On success returns 0, sets *frame_len and points
 * the slices of *rec into buf (nothing is allocated). Returns DQ_ESHORT when buf ends inside the
 * frame, DQ_ECORRUPT when it is invalid; either way `msg` says why. */
int dq_decode(const void *buf, size_t len, dq_record_t *rec, size_t *frame_len, char *msg, size_t msgsize);

const char *dq_strerror(int code);

#endif

/*
 * queue — per-backend disk queues at run time and their replay (SPEC §6). See queue.c.
 * Backends are named by their process-wide slot (backends.h), not by their index in a snapshot.
 */
#ifndef IP_QUEUE_H
#define IP_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include "cfg.h"
#include "meta.h"
#include "server.h"

/* Takes the node's datadir and queue options (they apply until restart) and starts the fsync thread
 * when the policy is everysec. Returns 0 or -1 with @err. Queues are opened per backend slot. */
int ip_queues_init(const cfg_t *cfg, char *err, size_t errcap);

/* Opens (creating) <datadir>/<name> for backend slot @s. Torn tails found are cut and logged. Called
 * by ip_backends_attach() for a new slot. Returns 0 or -1 with @err. */
int ip_queue_open_slot(size_t s, const char *name, char *err, size_t errcap);

/* Stops the fsync thread, cancels replays in flight (call on loop 0's thread), syncs and closes. */
void ip_queues_close(void);

/* Loop 0: replay with @cfg's backend settings from now on (at startup and after every reload). A slot
 * whose backend left the configuration keeps its queue and is not replayed until the backend returns. */
void ip_queues_set_cfg(cfg_t *cfg);

/* Whether backend @b has records waiting: new writes for it must then go behind them. Any thread. */
int ip_queue_nonempty(size_t b);

/* dq_strerror(@ret), or for DQ_EIO the system call's error (strerror(errno)): call it before anything else can
 * change errno. */
const char *ip_queue_strerror(int ret);

/* Appends one write body for backend @b. Returns 0 once the record is in the queue file (fsynced
 * first with fsync=always), or a DQ_E* code (DQ_EFULL: the queue is at queuemaxmb). Any thread. */
int ip_queue_append(size_t b, const char *db, size_t dblen, const char *rp, size_t rplen, const char *precision,
                    const char *body, size_t len);

/* Appends a CREATE DATABASE / RETENTION POLICY statement for backend @b, replayed before the writes
 * queued after it. Returns 0 or a DQ_E* code. Any thread. */
int ip_queue_append_stmt(size_t b, const char *db, size_t dblen, const char *stmt, size_t len);

/* Queue figures for /meta and /health. Any thread. */
void ip_queue_meta(size_t b, meta_queue_t *out, uint64_t now_ms);

/* Loop 0: called by the health tick for every backend; starts a replay batch when the backend is
 * healthy, has records, and its retry time has come (@now_ms: ip_mono_ms()). */
void ip_replay_tick(size_t b, int healthy, ip_thread_t *t, uint64_t now_ms);

/* Loop 0: the backend just came back; replay at once. */
void ip_replay_kick(size_t b);

/* Loop 0: starts the next batch now if none is in flight. */
void ip_replay_start(size_t b, ip_thread_t *t);

#endif

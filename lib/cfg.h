/*
 * cfg — the cluster configuration as the proxy uses it: backends, keymaps and this node.
 *
 * The raw configuration is a set of Redis hashes and lists of strings (SPEC §4). cfg_build() turns
 * it into an immutable, ref-counted snapshot: every field parsed through one declarative table per
 * hash (name, type, default, bounds), every problem collected and reported at once, one per line,
 * naming key and field. Layer 1: no I/O; cfg_redis reads the raw strings, this module only parses.
 */
#ifndef IP_CFG_H
#define IP_CFG_H

#include <stddef.h>
#include <stdint.h>

/* Raw input: one Redis hash (field/value strings) or list (items). Borrowed by cfg_build. */
typedef struct st_cfg_hash_t {
    const char *key; /* the name after the prefix: backend name, measurement or node name */
    size_t n;
    const char **fields;
    const char **values;
} cfg_hash_t;

typedef struct st_cfg_list_t {
    const char *key;
    size_t n;
    const char **items;
} cfg_list_t;

typedef struct st_cfg_src_t {
    const cfg_hash_t *backends; /* b:<name> */
    size_t nbackends;
    const cfg_list_t *keymaps; /* m:<measurement> */
    size_t nkeymaps;
    const cfg_hash_t *default_node; /* default_node, or NULL */
    const cfg_hash_t *node;         /* n:<node_name>, or NULL */
    const char *node_name;
} cfg_src_t;

typedef enum en_cfg_fsync_t { CFG_FSYNC_ALWAYS, CFG_FSYNC_EVERYSEC, CFG_FSYNC_NO } cfg_fsync_t;

typedef struct st_cfg_backend_t {
    char *name;
    char *url; /* base URL without trailing '/' */
    char *db, *zone, *username, *password;
    uint64_t interval, timeout, timeoutquery, maxrowlimit, checkinterval, rewriteinterval;
    int writeonly, gzip, insecure;
} cfg_backend_t;

typedef struct st_cfg_keymap_t {
    char *measurement;
    size_t n;
    size_t *backends; /* indices into cfg_t.backends, keymap order */
} cfg_keymap_t;

typedef struct st_cfg_node_t {
    char *name;
    char *listenaddr, *db, *zone, *nexts, *username, *password, *datadir;
    char *udpaddr, *udpdb, *udprp, *udpprecision, *httpscert, *queryforbid;
    uint64_t interval, idletimeout, queuemaxmb, maxbodymb, threads, udpreadbuffer;
    int writetracing, querytracing;
    cfg_fsync_t fsync;
    size_t nnexts;
    size_t *next_backends; /* indices of the backends named in nexts */
} cfg_node_t;

typedef struct st_cfg_t cfg_t;
struct st_cfg_t {
    cfg_backend_t *backends; /* sorted by name */
    size_t nbackends;
    cfg_keymap_t *keymaps; /* sorted by measurement */
    size_t nkeymaps;
    const cfg_keymap_t *default_keymap; /* m:_default_, or NULL */
    cfg_node_t node;
    /* Per backend, the daemon's process-wide slot for its runtime state (health, queue, counters), so
     * that state follows a backend by name across reloads. Set by the daemon, freed with the snapshot. */
    size_t *slots;
    /* private */
    int _refcnt;
    size_t _hmask;
    uint32_t *_htab; /* open addressing over keymaps: index + 1, 0 = empty */
};

/* Field types of the declarative tables, exported so /meta can print every field generically. */
typedef enum en_cfg_type_t {
    CFG_T_STR,
    CFG_T_SECRET,
    CFG_T_URL,
    CFG_T_U64,
    CFG_T_BOOL,
    CFG_T_FSYNC,
    CFG_T_ADDR,
    CFG_T_PRECISION
} cfg_type_t;

typedef struct st_cfg_field_t {
    const char *name;
    cfg_type_t type;
    size_t offset;
    const char *dflt; /* as it would be written in Redis; NULL = empty string */
    uint64_t min, max;
    int required;
} cfg_field_t;

/* The tables (terminated by a NULL name). */
extern const cfg_field_t cfg_backend_fields[];
extern const cfg_field_t cfg_node_fields[];

/* Builds a snapshot from @src. On success returns 0 and *out holds a snapshot with one reference.
 * On failure returns -1 and @err holds every problem, one per line ("b:x field \"url\": ..."),
 * truncated to @errcap. */
int cfg_build(const cfg_src_t *src, cfg_t **out, char *err, size_t errcap);

/* Reference counting; safe from any thread (atomic). The last release frees the snapshot. */
cfg_t *cfg_retain(cfg_t *cfg);
void cfg_release(cfg_t *cfg);

/* The keymap for measurement @name (unescaped bytes), or NULL. O(1): hash lookup. */
const cfg_keymap_t *cfg_keymap_find(const cfg_t *cfg, const char *name, size_t len);

/* The keymap used for @name: its own, else m:_default_, else NULL. */
const cfg_keymap_t *cfg_route(const cfg_t *cfg, const char *name, size_t len);

/* Index of backend @name, or -1. */
long cfg_backend_index(const cfg_t *cfg, const char *name);

/* Helpers for generic printing of a struct through the field tables. */
const char *cfg_field_str(const void *obj, const cfg_field_t *f);
uint64_t cfg_field_u64(const void *obj, const cfg_field_t *f);
const char *cfg_fsync_name(cfg_fsync_t f);

#endif

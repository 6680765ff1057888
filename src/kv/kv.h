/* kv.h - the replicated state machine: a map from JSON keys to JSON values.
 *
 * Commands travel through the Raft log as the bytes kv_command_encode()
 * makes; every node applies the same bytes in the same order and so computes
 * the same result, which is why any node may answer a client once the entry
 * is applied. Keys and values are arbitrary JSON and compare as JSON values
 * (1 and "1" differ; objects compare by content). The Redis front end maps
 * its binary-safe strings to JSON strings.
 */
#ifndef RAFTKV_KV_H
#define RAFTKV_KV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Result codes, chosen to be the Maelstrom error codes. */
#define KV_OK 0
#define KV_ERR_NO_KEY 20       /* read or cas of a missing key */
#define KV_ERR_PRECONDITION 22 /* cas whose `from` does not match; SET NX/XX not met;
                                * a transaction whose guard failed */
#define KV_ERR_MALFORMED 12    /* undecodable command bytes */
#define KV_ERR_TYPE 30         /* the operation does not apply to the value held
                                * (text says what, in Redis's words) */

/* How a value's bytes read: canonical JSON text (the Maelstrom node's
 * values) or a binary-safe string (the Redis front end's). The numbers are
 * the snapshot record types (src/storage/snap_format.h). */
#define KV_TYPE_JSON 0
#define KV_TYPE_STR 1

/* The operation registry's codes (ops.h holds each one's row: name, the
 * fields it uses, whether it writes, its apply function). Two families:
 * the Maelstrom node's read/write/cas/delete on JSON keys and values, whose
 * log entries are JSON text its wire embeds as it is; and the Redis front
 * end's operations on binary-safe strings, whose log entries are a binary
 * batch stamped with the leader's clock (command.c). KV_CLUSTER_ID is no
 * client operation: a leader of the TCP server proposes it once so that
 * every member learns the cluster's id (replica.h, config.cluster_id). Its
 * value is the id as 32 hex digits, and it has no key; `to` (optional) is
 * the cluster's map hash key, 32 hex digits (map.h: kept secret, it makes
 * SCAN cursors mean the same on every member). The first one
 * applied sets the id; a later one with the same id answers KV_OK and
 * changes nothing but the hash key, when it carries one and the map has
 * none yet (a cluster restored from an image without a key, as an older
 * release's restore made: its first leader draws one); one with another id is refused with
 * KV_ERR_PRECONDITION, on every node alike. Codes are part of the log's
 * format: never renumber, only add. */
enum kv_op {
    KV_READ = 0,
    KV_WRITE = 1,
    KV_CAS = 2,
    KV_DELETE = 3,
    KV_CLUSTER_ID = 4,
    /* ---- binary-safe strings (the Redis front end) ---- */
    KV_MULTI = 16,   /* sub[0..n_sub): applied as one, atomically (MSET, EXEC) */
    KV_GET = 17,     /* key -> bytes, or KV_ERR_NO_KEY */
    KV_SET = 18,     /* key, arg[0] value; flags KV_SET_*; num[0] the expiry */
    KV_DEL = 19,     /* key -> num 1 deleted, 0 absent */
    KV_EXISTS = 20,  /* key -> num 1 or 0 */
    KV_SCAS = 21,    /* key, arg[0] from, arg[1] to: as KV_CAS on strings */
    KV_VERSION = 22, /* key -> num: its version (> 0), or if absent minus
                      * the store's write counter; with KV_VERSION_EXPECT,
                      * KV_ERR_PRECONDITION if the key changed since it
                      * answered num[0] (WATCH's check at EXEC) */
    /* 24..47: more string commands (ops_string2.c) */
    KV_INCR = 24,      /* key, num[0] the increment -> num the new value */
    KV_INCRFLOAT = 25, /* key, arg[0] the increment as text -> bytes the new value */
    KV_APPEND = 26,    /* key, arg[0] -> num the new length; the TTL stays */
    KV_STRLEN = 27,    /* key -> num its length (0: absent) */
    KV_GETRANGE = 28,  /* key, num[0] start, num[1] end (Redis's indexes) -> bytes */
    KV_SETRANGE = 29,  /* key, num[0] offset, arg[0] -> num the new length */
    KV_GETDEL = 30,    /* key -> bytes, deleted; or KV_ERR_NO_KEY */
    KV_GETEX = 31,     /* key, flags KV_SET_EXPIRE_IN|AT or KV_GETEX_PERSIST,
                        * num[0] -> bytes; or KV_ERR_NO_KEY */
    KV_MSETNX = 32,    /* key (the first), arg[0] the pairs (kv_pack_fields)
                        * -> num 1: all set, 0: a key existed, nothing set */
    /* ---- 48..79: the keyspace and expiry (ops_keys.c, ops_expire.c) ---- */
    KV_TYPE = 48,      /* key -> bytes: the type's name, "none" if absent */
    KV_RENAME = 49,    /* key, arg[0] the new name; KV_RENAME_NX. num 1 done,
                        * 0 NX held back; KV_ERR_NO_KEY if key is absent.
                        * The deadline goes along */
    KV_COPY = 50,      /* key, arg[0] the copy's name; KV_COPY_REPLACE.
                        * num 1 copied, 0 not (absent source, or the
                        * destination exists without REPLACE) */
    KV_KEYS = 51,      /* arg[0] a glob -> bytes: the live keys it matches
                        * as kv_bulks (below), num how many. num[0], when
                        * > 0, is the bound of a KEYS inside a transaction
                        * (its entry runs on every member's event loop in
                        * one pass): on a map of num[0] keys or more
                        * (deadlines passed included) it answers
                        * KV_ERR_MALFORMED without looking at the map. The
                        * member that builds the entry stamps it
                        * (--keys-walk-min), so every member decides alike;
                        * 0 (entries made before the bound) has none */
    KV_SCAN = 52,      /* num[0] cursor, num[1] COUNT; optional arg[0] a
                        * glob (MATCH), arg[1] a type name (TYPE) -> bytes a
                        * kv_list, num the next cursor (0: done). The cursor
                        * means the same on every member (map.h) */
    KV_RANDOMKEY = 53, /* num[0] a random seed, num[1] the most map slots
                        * to look at (0: KV_RANDOMKEY_MAX_SLOTS) -> bytes a
                        * live key, or KV_ERR_NO_KEY when those slots hold
                        * none (keys past their deadline not yet removed
                        * may hide the few live ones) */
    KV_DBSIZE = 54,    /* -> num: keys held (deadlines passed included, as
                        * Redis counts until they are removed) */
    KV_FLUSH = 55,     /* delete every key */
    KV_EXPIRE = 56,    /* key, num[0] the deadline (ms; from the entry's
                        * time with KV_EXPIRE_IN); KV_EXPIRE_NX/XX/GT/LT.
                        * num 1 set (or deleted: a deadline not after the
                        * entry's time), 0 absent or held back */
    KV_TTL = 57,       /* key -> num: -2 absent, -1 no deadline, else the
                        * ms left (KV_TTL_AT: the deadline itself) */
    KV_PERSIST = 58,   /* key -> num 1 if a deadline was removed */
    KV_EXPIRED = 59,   /* key -> num 1 if it was there with a deadline not
                        * after the entry's time, and is now deleted: the
                        * leader's active expiry (replica/expire.c) */
    /* ---- 80..95: Lua scripts (ops_script.c, script.h) ---- */
    KV_EVAL = 80,          /* arg[0] the body, arg[1] the keys then the
                            * arguments (kv_pack_fields), num[0] how many are
                            * keys, num[1] the instruction budget; flags
                            * KV_EVAL_RO and the memory cap in KiB
                            * (KV_EVAL_MEM_KIB) -> bytes: the reply as RESP2 */
    KV_SCRIPT_LOAD = 81,   /* arg[0] the body: cached -> bytes its SHA1 (hex) */
    KV_SCRIPT_FLUSH = 82,  /* empty every member's script cache */
    KV_SCRIPT_EXISTS = 83, /* arg[0] SHA1s (kv_pack_fields) -> bytes: a RESP2
                            * array of 1 or 0, from the cache of the member
                            * that serves the read (the leader, through
                            * ReadIndex: every committed LOAD and FLUSH) */
    KV_OP_LIMIT = 96 /* codes are below this */
};

/* KV_SET's flags (Redis SET's options). EX/PX give num[0] in ms from the
 * entry's time; EXAT/PXAT an absolute deadline in ms. */
#define KV_SET_NX (1u << 0)
#define KV_SET_XX (1u << 1)
#define KV_SET_GET (1u << 2)     /* answer the old value (bytes; none: code NO_KEY) */
#define KV_SET_KEEPTTL (1u << 3)
#define KV_SET_EXPIRE_IN (1u << 4) /* num[0] ms from now */
#define KV_SET_EXPIRE_AT (1u << 5) /* num[0] absolute ms */

#define KV_VERSION_EXPECT (1u << 0)

/* KV_GETEX: drop the key's deadline (GETEX PERSIST). */
#define KV_GETEX_PERSIST (1u << 6)

/* The longest string value, in bytes: Redis's proto-max-bulk-len default
 * (512 MiB). APPEND and SETRANGE past it answer Redis's "string exceeds
 * maximum allowed size" and change nothing. A constant, not an option: a
 * state-machine rule must be the same on every member. */
#define KV_STRING_MAX ((int64_t)512 * 1024 * 1024)

/* Numbers in string values, read as strictly as Redis reads them: a 64-bit
 * integer (string2ll: no spaces, no '+', no leading zeros, at most 20
 * characters) and a long double (string2ld: strtold over all of fewer than
 * KV_FLOAT_TEXT_MAX bytes, no leading space, no NaN). */
#define KV_FLOAT_TEXT_MAX 5120
bool kv_parse_ll(const void *p, size_t n, long long *out);
bool kv_parse_ld(const void *p, size_t n, long double *out);

#define KV_RENAME_NX (1u << 0)
#define KV_COPY_REPLACE (1u << 0)
/* KV_EXPIRE's flags (Redis 7.0's options) */
#define KV_EXPIRE_NX (1u << 0) /* only if it has no deadline */
#define KV_EXPIRE_XX (1u << 1) /* only if it has one */
#define KV_EXPIRE_GT (1u << 2) /* only if later than the current (none: infinite) */
#define KV_EXPIRE_LT (1u << 3) /* only if earlier than the current */
#define KV_EXPIRE_IN (1u << 4) /* num[0] is ms from the entry's time */
#define KV_TTL_AT (1u << 0)
/* KV_EVAL's flags: a read-only script (EVAL_RO: writes refused), and the
 * memory cap of its Lua state in KiB in the bits above the 8th. */
#define KV_EVAL_RO (1u << 0)
#define KV_EVAL_MEM_KIB(flags) ((flags) >> 8)
/* An EVALSHA (src/kv/script_tx.c decides at apply, from the entry alone):
 * KV_EVAL_SHA, arg[0] is the body the receiving member's cache gave, run
 * unless it does not compile or, in MULTI, a SCRIPT FLUSH came earlier in
 * the transaction and no SCRIPT LOAD or EVAL of the body since;
 * KV_EVAL_BY_SHA (queued in MULTI), arg[0] is only the SHA1 (that cache
 * lacked it), run only with the body a SCRIPT LOAD or EVAL earlier in the
 * transaction gave. Otherwise Redis's NOSCRIPT. */
#define KV_EVAL_SHA (1u << 1)
#define KV_EVAL_BY_SHA (1u << 2)

/* Scripts (script.h has the rest): the SHA1 of a body as 40 lowercase hex
 * digits plus NUL; and this process's cache of bodies by SHA1 (filled when
 * KV_EVAL and KV_SCRIPT_LOAD entries apply, and by the front end's SCRIPT
 * LOAD), bounded to kv_script_cache_max entries (the oldest leaves first).
 * The cache only turns EVALSHA into the body the entry carries: the
 * state machine never depends on it. */
void kv_script_sha1(const void *body, size_t n, char hex[41]);
/* The body for a SHA1 (40 hex digits, any case): a borrowed pointer valid
 * until the cache next changes, or NULL. */
const struct kv_str *kv_script_lookup(const char *sha, size_t sha_len);
/* 0, or -1 when out of memory. kv_script_remember is the state
 * machine's (an applied entry); the front end's own (SCRIPT LOAD, EVAL,
 * SCRIPT FLUSH through this member) are the _local ones, which this
 * member's clients see at once: until a locally issued flush has applied,
 * entries applied before it cache nothing here. */
int kv_script_remember(const void *body, size_t n);
int kv_script_remember_local(const void *body, size_t n);
void kv_script_forget(const char *sha);
void kv_script_forget_all(void);       /* an applied KV_SCRIPT_FLUSH */
void kv_script_forget_all_local(void); /* a SCRIPT FLUSH proposed here */
void kv_script_forget_all_shown(void); /* one EXEC's reply showed applied */
void kv_script_cache_limit(size_t max_entries);
/* Whether a body compiles as Lua 5.1: NULL, or Redis's error text
 * ("Error compiling script (new function): ...") in buf. */
const char *kv_script_check(const void *body, size_t n, char *buf, size_t cap);

/* A kv_list: a result's bytes holding keys, each as a u32 little-endian
 * length then its bytes. kv_list_next walks one: start with *pos = 0; it
 * returns false at the end (or if the bytes are malformed). */
bool kv_list_next(const uint8_t *p, size_t n, size_t *pos, const uint8_t **key, size_t *key_len);

/* kv_bulks: a result's bytes holding keys already framed as the RESP
 * bulk strings of a reply, "$<len>\r\n<key>\r\n" each (KEYS: the reply is
 * the array header "*<num>\r\n" and these bytes as they are, on the member
 * that gathered them and on one the answer was forwarded to).
 * kv_bulks_next walks one as kv_list_next does. */
bool kv_bulks_next(const uint8_t *p, size_t n, size_t *pos, const uint8_t **key, size_t *key_len);

/* Redis's glob (KEYS, SCAN MATCH): * ? [abc] [^a] [a-z] and \x escapes,
 * byte for byte as Redis 7.0's stringmatchlen, case-sensitive (glob.c). */
bool kv_glob_match(const char *pat, size_t plen, const char *s, size_t slen);

/* In a KV_MULTI, a sub-command flagged KV_GUARD is a condition: every guard
 * must come before the other sub-commands and be a read; if any answers
 * other than KV_OK, nothing is applied and the MULTI answers
 * KV_ERR_PRECONDITION (EXEC after a WATCHed key changed: nil). */
#define KV_GUARD (1u << 31)

/* A binary-safe string the command owns (malloc'd; p NULL when absent). */
struct kv_str {
    uint8_t *p;
    size_t n;
};

/* RANDOMKEY's bound by default: 64 slots drawn, then a run of the rest
 * (about 1 ms of the event loop when every key it meets has expired). */
#define KV_RANDOMKEY_MAX_SLOTS 16384

struct kv_command {
    enum kv_op op;
    /* The Maelstrom family's JSON values. All references are borrowed by
     * encode, owned after decode. */
    json_t *key;   /* READ WRITE CAS DELETE */
    json_t *value; /* WRITE; CLUSTER_ID: the id's hex string */
    json_t *from;  /* CAS */
    json_t *to;    /* CAS */
    /* The string family's fields (owned; kv_command_release frees). */
    struct kv_str skey;
    struct kv_str arg[2];
    int64_t num[2];
    uint32_t flags;
    struct kv_command *sub; /* KV_MULTI: owned array */
    size_t n_sub;
};

struct kv_result {
    int code;      /* KV_OK or KV_ERR_* */
    json_t *value; /* READ ok: a new reference the result owns */
    uint8_t *bytes; /* string family: a value (malloc'd), NULL for none */
    size_t len;
    int64_t num;   /* an integer answer: counts, lengths, numbers, TTLs */
    struct kv_result *sub; /* KV_MULTI: one result per sub-command, owned */
    size_t n_sub;
    char text[160];
};

/* Free what a result owns and zero it. */
void kv_result_release(struct kv_result *r);
/* A deep copy (0), or -1 when out of memory (dst then holds nothing). */
int kv_result_copy(struct kv_result *dst, const struct kv_result *src);
/* A result as bytes for another member (the server's proxied answers), and
 * back; decode refuses anything malformed (-1, nothing held). */
int kv_result_encode(const struct kv_result *r, uint8_t **data, size_t *len);
int kv_result_decode(const uint8_t *data, size_t len, struct kv_result *r);

/* Whether an operation only reads (served through ReadIndex, never logged)
 * and whether the registry knows it at all. */
bool kv_op_reads(enum kv_op op);
/* A read that may be answered long after it is served (KEYS: a walk of
 * the whole map), which the router gives its own order (router.h, rule 9). */
bool kv_op_long_read(enum kv_op op);
bool kv_op_known(enum kv_op op);
const char *kv_op_name(enum kv_op op);

/* Set a string field to a copy of n bytes: 0 or -1. */
int kv_str_set(struct kv_str *s, const void *p, size_t n);
/* n byte strings packed into one field (KV_MSETNX's pairs): each as a
 * 32-bit little-endian length and its bytes. 0, or -1 out of memory. */
int kv_pack_fields(struct kv_str *out, char *const *p, const size_t *len, size_t n);

struct kv_store;

struct kv_store *kv_store_new(void);
void kv_store_free(struct kv_store *s);
size_t kv_store_size(const struct kv_store *s);
/* The map a large FLUSHALL detached (an old store of its own), taken by
 * the caller, who frees it (kv_store_free) where it does not hold up the
 * event loop; NULL when there is none. Not taken, it is freed with the
 * store or at the next such FLUSHALL. */
struct kv_store *kv_store_take_flushed(struct kv_store *s);
/* Bytes the map requested: entries (header, key, value) and its slots. */
size_t kv_store_bytes(const struct kv_store *s);
/* The map grows, shrinks and re-keys a bounded step at a time
 * (kv/map.h): the event loop moves up to max_slots more entries (and as
 * many deadlines) each turn; true while some remain. */
bool kv_store_rehash(struct kv_store *s, size_t max_slots);
bool kv_store_rehashing(const struct kv_store *s);

/* Apply a command (reads included: reads through the log use it) at time
 * now_ms: the entry's stamped time for a logged command, the read's time for
 * a read. A key whose deadline is <= now_ms is absent. r is filled whatever
 * happens; release it with kv_result_release. */
void kv_apply(struct kv_store *s, const struct kv_command *c, int64_t now_ms, struct kv_result *r);
/* Apply the bytes of a log entry at the time stamped in it (or, for an
 * entry with none, fallback_ms); a malformed entry yields KV_ERR_MALFORMED
 * and changes nothing. */
void kv_apply_bytes(struct kv_store *s, const uint8_t *data, size_t len, int64_t fallback_ms,
                    struct kv_result *r);

/* Encode a command as log-entry bytes (malloc'd). Returns 0 or -1. A
 * string-family entry carries a time, 0 here; the leader stamps its own
 * clock into it when it proposes (kv_entry_stamp). */
int kv_command_encode(const struct kv_command *c, uint8_t **data, size_t *len);
/* The time stamped in entry bytes (ms), or -1 if the entry carries none. */
int64_t kv_entry_time(const uint8_t *data, size_t len);
/* The key a one-op entry's bytes name (pointing into data), or false (a
 * MULTI, an op without a key, JSON-family bytes, a short entry). */
bool kv_entry_key_hint(const uint8_t *data, size_t len, const uint8_t **key, size_t *key_len);
/* Cache hints for applying a run of entries' bytes in order (map.h's
 * kv_map_prefetch_slot and _entry): kv_prefetch_slot some entries ahead,
 * true with the key's hash when the bytes name a key; kv_prefetch_entry
 * with that hash a few entries later. They change nothing. */
bool kv_prefetch_slot(const struct kv_store *s, const uint8_t *data, size_t len, uint64_t *h);
void kv_prefetch_entry(const struct kv_store *s, uint64_t h);
/* Stamp time_ms into entry bytes that carry a time; others are left as
 * they are. */
void kv_entry_stamp(uint8_t *data, size_t len, int64_t time_ms);
/* A deep copy: 0 or -1 (dst then holds nothing). */
int kv_command_copy(struct kv_command *dst, const struct kv_command *src);
/* Decode; on success the command owns its references (kv_command_release). */
int kv_command_decode(const uint8_t *data, size_t len, struct kv_command *c);
void kv_command_release(struct kv_command *c);
/* Whether the command has all its parts and none is an object or array:
 * its values cannot change under a holder's feet (nobody mutates jansson
 * scalars in place), so the command may be kept and applied instead of its
 * bytes. */
int kv_command_scalar(const struct kv_command *c);

/* Keys with a deadline (INFO keyspace's expires=). */
size_t kv_store_expiring(const struct kv_store *s);

/* Active expiry (the leader's, through the log): look at up to max_slots
 * more of the map's slots from *pos (wrapping to 0 at the end) and put up
 * to max_keys keys whose deadline is <= now_ms into a KV_MULTI of
 * KV_EXPIRED sub-commands (cmd filled, owned by the caller; n_sub 0 if
 * none was found). Returns 0, or -1 when out of memory. Deterministic
 * cleanup does not depend on it: each sub-command re-checks the deadline
 * at the entry's own time. */
int kv_expired_sample(const struct kv_store *s, int64_t now_ms, size_t *pos, size_t max_slots,
                      size_t max_keys, struct kv_command *cmd);

/* The latest time any applied entry carried (0 if none): a new leader
 * stamps at least this, so the cluster's time never goes backwards. */
int64_t kv_store_time(const struct kv_store *s);

/* The cluster id the state machine holds, if one was applied: true and
 * out filled, or false. */
bool kv_cluster_id(const struct kv_store *s, uint8_t out[16]);
/* Whether the map hashes under the cluster's hash key (one was applied,
 * or came with a snapshot); the key itself is not given out. */
bool kv_has_map_key(const struct kv_store *s);

/* The cluster configuration as of the applied index: the latest CONFIG
 * entry applied, its index and bytes (raft.h's encoding, then what the
 * driver put after it: the server's member table). Snapshots carry it as
 * the "raft_config" metadata entry (u64 index, then the bytes), so a node
 * that restarts from a snapshot or installs one knows its configuration
 * without the log that held the entry. An image without it (written
 * before any change, or by an older release) leaves the store without one.
 * set: 0, or -1 (no memory; len 1..KV_CONFIG_MAX_BYTES). get: false if none. */
#define KV_CONFIG_MAX_BYTES (32u * 1024)
int kv_set_configuration(struct kv_store *s, uint64_t index, const uint8_t *data, size_t len);
bool kv_configuration(const struct kv_store *s, uint64_t *index, const uint8_t **data, size_t *len);

/* ---- Snapshots (the format: src/storage/snap_format.h) ----
 * The map as a stream of records as of Raft (index, term), and the cluster
 * id as the header's "cluster_id" metadata entry: written to a
 * sink in bounded memory (one block), in no particular order; equal maps
 * may give different bytes on different nodes (kv_store_equal compares). */
typedef int (*kv_sink_fn)(void *ctx, const void *data, size_t n);
int kv_snapshot_write(const struct kv_store *s, uint64_t index, uint64_t term, kv_sink_fn sink,
                      void *ctx);
/* The same, with KV_SNAP_* flags. KV_SNAP_NO_MAP_KEY leaves the map's hash
 * key ("map_key") out: a backup's image, which leaves the cluster through
 * the client port, where the key must never be shown (map.h). An image
 * without it loads into a map with a key of its own, until a leader's
 * cluster-id entry gives the cluster's (kv_op_cluster_id). */
#define KV_SNAP_NO_MAP_KEY 1u
int kv_snapshot_write_flags(const struct kv_store *s, uint64_t index, uint64_t term, unsigned flags,
                            kv_sink_fn sink, void *ctx);
/* The same into one malloc'd buffer (the stdio node and tests). 0 or -1. */
int kv_snapshot(const struct kv_store *s, uint64_t index, uint64_t term, uint8_t **data,
                size_t *len);

/* A loader is fed a snapshot's bytes in pieces of any size and builds the
 * map aside (or, with build false, only checks it: every CRC, count, key and
 * value); kv_loader_finish() swaps the new map into `into` once the whole
 * stream checked out, so a refused image changes nothing. */
struct kv_loader;
struct kv_loader *kv_loader_new(bool build);
int kv_loader_feed(struct kv_loader *l, const uint8_t *data, size_t n); /* 0 or -1 */
/* The whole image at once (a mapped file): the same result as feeding it,
 * but from 1 MiB on a second thread checks the CRCs while this one builds
 * the map (kv/snapshot.c). 0 or -1. */
int kv_loader_load(struct kv_loader *l, const uint8_t *data, size_t len);
/* 0 (and the header's index and term, either may be NULL) or -1. */
int kv_loader_finish(struct kv_loader *l, struct kv_store *into, uint64_t *index, uint64_t *term);
const char *kv_loader_error(const struct kv_loader *l); /* what and at which offset */
/* After a successful finish: the image's cluster id (true and out filled),
 * or false when it carries none. Restoring sets the store's id to it. */
bool kv_loader_cluster_id(const struct kv_loader *l, uint8_t out[16]);
/* The same for the image's configuration (kv_configuration), before the
 * loader is freed; false when it carries none. */
bool kv_loader_configuration(const struct kv_loader *l, uint64_t *index, const uint8_t **data, size_t *len);
void kv_loader_free(struct kv_loader *l);
/* A whole image in memory; s NULL only checks it. 0 or -1. */
int kv_restore(struct kv_store *s, const uint8_t *data, size_t len, uint64_t *index,
               uint64_t *term);

/* Whether two stores hold the same keys with equal values and the same
 * cluster id (or none). */
bool kv_store_equal(const struct kv_store *a, const struct kv_store *b);

#endif

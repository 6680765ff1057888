/* script.h - what the script files of the KV module share (private to
 * src/kv): one run of a Lua script inside the state machine
 * (script_lua.c owns the Lua state, its sandbox and the conversion of the
 * result to RESP; script_call.c owns redis.call and the undo log).
 *
 * A script runs at apply time on every member, in a fresh Lua state, so
 * that nothing left by an earlier script (globals, garbage, the allocator's
 * count) can make two members differ. Its limits travel in the entry (the
 * leader's options), so every member stops a script at the same
 * instruction and the same allocation.
 */
#ifndef RAFTKV_KV_SCRIPT_H
#define RAFTKV_KV_SCRIPT_H

#include <lua.h>

#include "kv/kv_internal.h"

/* The longest reply a script may give (RESP bytes): past it the script
 * answers an error and its writes are undone. */
#define KV_SCRIPT_REPLY_MAX ((size_t)64 << 20)

/* One key's state before a script's first write to it. */
struct script_undo {
    struct kv_str key;
    bool existed;
    uint8_t type;
    struct kv_str value;
    int64_t expiry;
    uint64_t version;
    uint64_t deleted; /* the key's delete bucket (kv_store.deleted) */
};

struct script_run {
    struct kv_store *s;
    int64_t now;
    bool ro;                 /* EVAL_RO: writes refused */
    char sha[41];
    lua_State *L;
    size_t mem, mem_cap;     /* bytes the Lua state holds; its cap */
    bool over_memory, over_budget;
    int64_t budget;          /* instructions */
    int64_t spent;           /* of it: instructions counted, redis.call's cost included */
    int step;                /* instructions until the count hook's next call */
    struct script_undo *undo;
    size_t n_undo, cap_undo;
    uint64_t version0;       /* the store's write counter before the script */
    bool undo_failed;        /* out of memory recording: the script is refused */
    struct kv_result *held;  /* redis.call's results while they become Lua values */
    size_t n_held;
};

/* What a redis.call costs of the instruction budget, so that the budget
 * bounds the work a script does in the store, not only in Lua: this many
 * instructions an argument (an MGET of 1000 keys took 300 us, as 115
 * instructions a key), plus one per KV_SCRIPT_BYTES_COST bytes of its
 * arguments and reply. */
#define KV_SCRIPT_ARG_COST 100
#define KV_SCRIPT_BYTES_COST 16

/* redis.call (raise true) and redis.pcall: a Lua C function's body. */
int kv_script_call(lua_State *L, bool raise);
/* Put back every key the run wrote, as it was before (budget or memory
 * exhausted: the script applies nothing). */
void kv_script_undo(struct script_run *x);
void kv_script_undo_free(struct script_run *x);
/* Release the results a redis.call still holds (a Lua error, such as the
 * memory cap, may have cut its pushing short). */
void kv_script_held_free(struct script_run *x);
/* Count cost instructions against the run's budget; past it the run is
 * over budget and the count hook raises at every instruction: false. */
bool kv_script_charge(struct script_run *x, uint64_t cost);

/* What one transaction's entry (a KV_MULTI) did to the script cache so far
 * while it applies (script_tx.c), so that an EVALSHA or SCRIPT EXISTS
 * queued after a SCRIPT FLUSH, SCRIPT LOAD or EVAL in the same MULTI
 * answers as Redis's would, on every member alike: the entry decides, not
 * the member's cache. */
struct kv_script_tx_seen {
    char sha[41];
    const uint8_t *body; /* inside the entry's own sub-command */
    size_t n;
};
struct kv_script_tx {
    bool flushed; /* a SCRIPT FLUSH came earlier in the entry */
    bool failed;  /* out of memory recording a script */
    struct kv_script_tx_seen *seen; /* loaded since the start or the flush */
    size_t n_seen, cap_seen;
};
enum kv_script_tx_state {
    KV_SCRIPT_TX_UNKNOWN, /* the entry says nothing: the member's cache */
    KV_SCRIPT_TX_LOADED,  /* loaded earlier in the entry (since any flush) */
    KV_SCRIPT_TX_GONE,    /* flushed earlier in the entry, not loaded since */
    KV_SCRIPT_TX_FAILED   /* out of memory: the script cannot be told */
};
/* Begin and end a KV_MULTI's apply (a nested one, a script's MSET, keeps
 * the outer record). */
void kv_script_tx_begin(struct kv_store *s, struct kv_script_tx *tx);
void kv_script_tx_end(struct kv_store *s, struct kv_script_tx *tx);
/* A SCRIPT FLUSH applied; a body (SCRIPT LOAD, or an EVAL that compiled)
 * cached, sha its SHA1 in lowercase hex: no-ops outside a KV_MULTI. */
void kv_script_tx_flushed(struct kv_store *s);
void kv_script_tx_loaded(struct kv_store *s, const char *sha, const void *body, size_t n);
/* What the entry so far says of a SHA1 (40 hex digits, any case); *body,
 * *n the body when LOADED. */
enum kv_script_tx_state kv_script_tx_find(const struct kv_store *s, const char *sha, size_t sha_len,
                                          const uint8_t **body, size_t *n);

/* Run body with keys and args (the KV_EVAL entry's fields) into r: bytes a
 * RESP2 reply; num -1 when the body did not compile. */
void kv_script_run(struct kv_store *s, const struct kv_command *c, int64_t now,
                   struct kv_result *r);

#endif

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
    struct script_undo *undo;
    size_t n_undo, cap_undo;
    uint64_t version0;       /* the store's write counter before the script */
    bool undo_failed;        /* out of memory recording: the script is refused */
    struct kv_result *held;  /* redis.call's results while they become Lua values */
    size_t n_held;
};

/* redis.call (raise true) and redis.pcall: a Lua C function's body. */
int kv_script_call(lua_State *L, bool raise);
/* Put back every key the run wrote, as it was before (budget or memory
 * exhausted: the script applies nothing). */
void kv_script_undo(struct script_run *x);
void kv_script_undo_free(struct script_run *x);
/* Release the results a redis.call still holds (a Lua error, such as the
 * memory cap, may have cut its pushing short). */
void kv_script_held_free(struct script_run *x);

/* Run body with keys and args (the KV_EVAL entry's fields) into r: bytes a
 * RESP2 reply. */
void kv_script_run(struct kv_store *s, const struct kv_command *c, int64_t now,
                   struct kv_result *r);

#endif

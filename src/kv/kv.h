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
#define KV_ERR_PRECONDITION 22 /* cas whose `from` does not match */
#define KV_ERR_MALFORMED 12    /* undecodable command bytes */

/* KV_CLUSTER_ID is not a client operation: a leader of the TCP server
 * proposes it once so that every member learns the cluster's id (replica.h,
 * config.cluster_id). Its value is the id as 32 hex digits, and it has no
 * key. The first one applied sets the id; a later one with the same id
 * answers KV_OK and changes nothing, one with another id is refused with
 * KV_ERR_PRECONDITION, on every node alike. */
enum kv_op { KV_READ, KV_WRITE, KV_CAS, KV_DELETE, KV_CLUSTER_ID };

struct kv_command {
    enum kv_op op;
    json_t *key;   /* all references are borrowed by encode, owned after decode */
    json_t *value; /* WRITE; CLUSTER_ID: the id's hex string */
    json_t *from;  /* CAS */
    json_t *to;    /* CAS */
};

struct kv_result {
    int code;      /* KV_OK or KV_ERR_* */
    json_t *value; /* READ ok: a new reference the caller releases; else NULL */
    char text[160];
};

struct kv_store;

struct kv_store *kv_store_new(void);
void kv_store_free(struct kv_store *s);
size_t kv_store_size(const struct kv_store *s);

/* Apply a command (READ included: reads through the log use it). */
void kv_apply(struct kv_store *s, const struct kv_command *c, struct kv_result *r);
/* Apply the bytes of a log entry; a malformed entry yields KV_ERR_MALFORMED
 * and changes nothing. */
void kv_apply_bytes(struct kv_store *s, const uint8_t *data, size_t len, struct kv_result *r);

/* Encode a command as log-entry bytes (malloc'd). Returns 0 or -1. */
int kv_command_encode(const struct kv_command *c, uint8_t **data, size_t *len);
/* Decode; on success the command owns its references (kv_command_release). */
int kv_command_decode(const uint8_t *data, size_t len, struct kv_command *c);
void kv_command_release(struct kv_command *c);
/* Whether the command has all its parts and none is an object or array:
 * its values cannot change under a holder's feet (nobody mutates jansson
 * scalars in place), so the command may be kept and applied instead of its
 * bytes. */
int kv_command_scalar(const struct kv_command *c);

/* The cluster id the state machine holds, if one was applied: true and
 * out filled, or false. */
bool kv_cluster_id(const struct kv_store *s, uint8_t out[16]);

/* ---- Snapshots (the format: src/storage/snap_format.h) ----
 * The map as a stream of records as of Raft (index, term), and the cluster
 * id as the header's "cluster_id" metadata entry: written to a
 * sink in bounded memory (one block), in no particular order; equal maps
 * may give different bytes on different nodes (kv_store_equal compares). */
typedef int (*kv_sink_fn)(void *ctx, const void *data, size_t n);
int kv_snapshot_write(const struct kv_store *s, uint64_t index, uint64_t term, kv_sink_fn sink,
                      void *ctx);
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
/* 0 (and the header's index and term, either may be NULL) or -1. */
int kv_loader_finish(struct kv_loader *l, struct kv_store *into, uint64_t *index, uint64_t *term);
const char *kv_loader_error(const struct kv_loader *l); /* what and at which offset */
/* After a successful finish: the image's cluster id (true and out filled),
 * or false when it carries none. Restoring sets the store's id to it. */
bool kv_loader_cluster_id(const struct kv_loader *l, uint8_t out[16]);
void kv_loader_free(struct kv_loader *l);
/* A whole image in memory; s NULL only checks it. 0 or -1. */
int kv_restore(struct kv_store *s, const uint8_t *data, size_t len, uint64_t *index,
               uint64_t *term);

/* Whether two stores hold the same keys with equal values and the same
 * cluster id (or none). */
bool kv_store_equal(const struct kv_store *a, const struct kv_store *b);

#endif

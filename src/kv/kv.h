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

/* The whole map (and the cluster id) as bytes, and back; used for Raft
 * snapshots. */
int kv_snapshot(const struct kv_store *s, uint8_t **data, size_t *len);
int kv_restore(struct kv_store *s, const uint8_t *data, size_t len);

#endif

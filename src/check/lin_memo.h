/* lin_memo.h - the linearizability search's memo: a hash set of
 * configurations, each a register value and a compact encoding of the set
 * of linearized operations (see lin.c for the encoding), with keys of
 * variable length. Open addressing; keys live in one growing arena.
 */
#ifndef RAFTKV_CHECK_LIN_MEMO_H
#define RAFTKV_CHECK_LIN_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lin_memo_key {
    uint64_t hash;
    int32_t value;
    uint32_t lo;     /* where the words start in the full set (canonical offset) */
    uint32_t n_req;  /* words of the required-op window */
    uint32_t n_words; /* all words: the required window, then the unknown ops' words */
    const uint64_t *words;
};

struct lin_memo_slot;

struct lin_memo {
    struct lin_memo_slot *slots;
    size_t n_slots; /* a power of two */
    size_t n_used;
    uint64_t *arena;
    size_t arena_len; /* words used */
    size_t arena_cap; /* words allocated */
};

/* `expected`: about how many configurations the table will hold. */
int lin_memo_init(struct lin_memo *m, size_t expected);
void lin_memo_free(struct lin_memo *m);
bool lin_memo_contains(const struct lin_memo *m, const struct lin_memo_key *k);
/* 1 if the key was new (now stored), 0 if it was there, -1 out of memory. */
int lin_memo_insert(struct lin_memo *m, const struct lin_memo_key *k);
/* Bytes the table holds allocated (slots and arena). */
size_t lin_memo_bytes(const struct lin_memo *m);

#endif

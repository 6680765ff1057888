/* script_cache.c - this process's script cache: SHA1 (hex) -> body, for
 * EVALSHA and SCRIPT EXISTS. Filled when KV_EVAL and KV_SCRIPT_LOAD entries
 * apply and by the front end's SCRIPT LOAD; emptied by KV_SCRIPT_FLUSH.
 * Bounded: past kv_script_cache_limit entries the oldest leaves first. It
 * is no replicated state (the entries carry the bodies), so a member that
 * restarts or installs a snapshot starts empty, as Redis does after a
 * restart: clients answer NOSCRIPT with SCRIPT LOAD. */
#include <ctype.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"

#define DEFAULT_MAX 1000

struct cached {
    char sha[41];
    struct kv_str body;
    uint64_t seq; /* insertion order: the oldest leaves first */
};

static struct cached *cache;
static size_t n_cache, cap_cache, max_cache = DEFAULT_MAX;
static uint64_t seq;
static size_t unapplied_flushes; /* proposed here, not applied yet */

void kv_script_sha1(const void *body, size_t n, char hex[41])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(body, n, md);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[40] = '\0';
}

static struct cached *find(const char *sha, size_t len)
{
    if (len != 40)
        return NULL;
    char low[40];
    for (size_t i = 0; i < 40; i++)
        low[i] = (char)tolower((unsigned char)sha[i]);
    for (size_t i = 0; i < n_cache; i++)
        if (memcmp(cache[i].sha, low, 40) == 0)
            return &cache[i];
    return NULL;
}

const struct kv_str *kv_script_lookup(const char *sha, size_t sha_len)
{
    struct cached *c = find(sha, sha_len);
    return c ? &c->body : NULL;
}

static void drop(size_t i)
{
    free(cache[i].body.p);
    cache[i] = cache[--n_cache];
}

static void trim(size_t keep)
{
    while (n_cache > keep) {
        size_t oldest = 0;
        for (size_t i = 1; i < n_cache; i++)
            if (cache[i].seq < cache[oldest].seq)
                oldest = i;
        drop(oldest);
    }
}

int kv_script_remember(const void *body, size_t n)
{
    if (unapplied_flushes)
        return 0;
    return kv_script_remember_local(body, n);
}

int kv_script_remember_local(const void *body, size_t n)
{
    char sha[41];
    kv_script_sha1(body, n, sha);
    if (find(sha, 40) || max_cache == 0)
        return 0;
    trim(max_cache - 1);
    if (n_cache == cap_cache) {
        size_t cap = cap_cache ? cap_cache * 2 : 16;
        struct cached *p = realloc(cache, cap * sizeof *p);
        if (!p)
            return -1;
        cache = p;
        cap_cache = cap;
    }
    struct cached *c = &cache[n_cache];
    *c = (struct cached){.seq = ++seq};
    memcpy(c->sha, sha, sizeof sha);
    if (kv_str_set(&c->body, body, n) != 0)
        return -1;
    n_cache++;
    return 0;
}

void kv_script_forget(const char *sha)
{
    struct cached *c = find(sha, strlen(sha));
    if (c)
        drop((size_t)(c - cache));
}

void kv_script_forget_all(void)
{
    trim(0);
    if (unapplied_flushes)
        unapplied_flushes--;
}

void kv_script_forget_all_local(void)
{
    trim(0);
    unapplied_flushes++;
}

/* A SCRIPT FLUSH queued in MULTI, known applied from EXEC's reply: this
 * member may have applied it already, so no flush is counted as pending. */
void kv_script_forget_all_shown(void)
{
    trim(0);
}

void kv_script_cache_limit(size_t max_entries)
{
    max_cache = max_entries;
    trim(max_cache);
}

/* command_info.c - COMMAND INFO's and COMMAND DOCS's entries, written from
 * a command table row in Redis 7's reply shapes (RESP2 arrays; RESP3 sets
 * and maps where Redis uses them). Differences: DOCS has no `arguments`,
 * and `since` is the raftkv version that has the command. */
#include <stdio.h>
#include <string.h>

#include "server/command_table.h"

static void bulk(struct resp_buf *b, const char *s)
{
    resp_write_bulk(b, s, strlen(s));
}

static void simple(struct resp_buf *b, const char *prefix, const char *s)
{
    char line[64];
    snprintf(line, sizeof line, "%s%s", prefix, s);
    resp_write_simple(b, line);
}

static const struct {
    uint32_t flag;
    const char *name;
} flag_names[] = {
    {CMDF_WRITE, "write"},     {CMDF_READONLY, "readonly"}, {CMDF_DENYOOM, "denyoom"},
    {CMDF_ADMIN, "admin"},     {CMDF_MAY_BLOCK, "blocking"}, {CMDF_LOADING, "loading"},
    {CMDF_STALE, "stale"},     {CMDF_FAST, "fast"},          {CMDF_NO_AUTH, "no_auth"},
    {CMDF_NO_MULTI, "no_multi"},
};
#define N_FLAG_NAMES (sizeof flag_names / sizeof flag_names[0])

/* Redis's key spec: where the keys start (an index) and how they go on. */
static void write_key_spec(struct resp_buf *b, const struct command_def *c, const char *key_flags,
                           size_t flags_len, int first_key, int last_key, int proto)
{
    resp_write_map_len(b, 3, proto);
    bulk(b, "flags");
    char flags[64];
    snprintf(flags, sizeof flags, "%.*s", (int)flags_len, key_flags);
    size_t n = 1;
    for (char *p = flags; *p; p++)
        n += *p == ' ';
    resp_write_set_len(b, n, proto);
    for (char *save = NULL, *w = strtok_r(flags, " ", &save); w; w = strtok_r(NULL, " ", &save))
        resp_write_simple(b, w);
    bulk(b, "begin_search");
    resp_write_map_len(b, 2, proto);
    bulk(b, "type");
    bulk(b, "index");
    bulk(b, "spec");
    resp_write_map_len(b, 1, proto);
    bulk(b, "index");
    resp_write_int(b, first_key);
    bulk(b, "find_keys");
    resp_write_map_len(b, 2, proto);
    bulk(b, "type");
    bulk(b, "range");
    bulk(b, "spec");
    resp_write_map_len(b, 3, proto);
    bulk(b, "lastkey");
    resp_write_int(b, last_key < 0 ? last_key : last_key - first_key);
    bulk(b, "keystep");
    resp_write_int(b, c->key_step);
    bulk(b, "limit");
    resp_write_int(b, 0);
}

void command_write_info(struct resp_buf *b, const struct command_def *c, int proto, bool debug)
{
    (void)debug;
    resp_write_array_len(b, 10);
    bulk(b, c->name);
    resp_write_int(b, c->arity);
    size_t nf = 0;
    for (size_t i = 0; i < N_FLAG_NAMES; i++)
        nf += (c->flags & flag_names[i].flag) != 0;
    resp_write_set_len(b, nf, proto);
    for (size_t i = 0; i < N_FLAG_NAMES; i++)
        if (c->flags & flag_names[i].flag)
            resp_write_simple(b, flag_names[i].name);
    resp_write_int(b, c->first_key);
    resp_write_int(b, c->last_key);
    resp_write_int(b, c->key_step);
    /* A container shows only its own @slow, as Redis's. */
    uint32_t cats = c->n_subs && !c->handler ? CAT(CAT_SLOW) : command_categories(c);
    size_t nc = 0;
    for (int i = 0; i < CAT_COUNT; i++)
        nc += (cats & CAT(i)) != 0;
    resp_write_set_len(b, nc, proto);
    for (int i = 0; i < CAT_COUNT; i++)
        if (cats & CAT(i))
            simple(b, "@", command_category_name(i));
    resp_write_set_len(b, 0, proto); /* tips */
    /* "A|B": one spec per key from first_key on, each of one key (RENAME's
     * source and destination); otherwise one spec for the whole range. */
    size_t n_specs = 0;
    for (const char *p = c->key_flags; p && *p; p++)
        n_specs += *p == '|';
    n_specs += c->key_flags != NULL;
    resp_write_set_len(b, n_specs, proto);
    const char *f = c->key_flags;
    for (size_t i = 0; i < n_specs; i++) {
        const char *bar = strchr(f, '|');
        size_t len = bar ? (size_t)(bar - f) : strlen(f);
        int first = c->first_key + (int)i;
        write_key_spec(b, c, f, len, first, n_specs > 1 ? first : c->last_key, proto);
        f += len + (bar != NULL);
    }
    resp_write_set_len(b, c->n_subs, proto);
    for (size_t i = 0; i < c->n_subs; i++)
        command_write_info(b, &c->subs[i], proto, debug);
}

void command_write_docs(struct resp_buf *b, const struct command_def *c, int proto)
{
    resp_write_map_len(b, c->n_subs ? 5 : 4, proto);
    bulk(b, "summary");
    bulk(b, c->summary);
    bulk(b, "since");
    bulk(b, "0.1.0");
    bulk(b, "group");
    bulk(b, c->group);
    bulk(b, "complexity");
    bulk(b, c->complexity);
    if (c->n_subs) {
        bulk(b, "subcommands");
        resp_write_map_len(b, c->n_subs, proto);
        for (size_t i = 0; i < c->n_subs; i++) {
            bulk(b, c->subs[i].name);
            command_write_docs(b, &c->subs[i], proto);
        }
    }
}

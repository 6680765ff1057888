/* cmd_lcs.c - LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
 * (Redis 7.0): the longest common subsequence of two keys' values.
 *
 * The two values are read as MGET reads them (one linearizable read per
 * key, sharing a ReadIndex round); the reply function computes the LCS
 * (lcs.c) on this member's event loop. That takes time and a table of
 * (len1+1)*(len2+1) 2-byte cells, so it is bounded: past --max-lcs-cells
 * cells LCS answers "-ERR Insufficient memory, transient memory for LCS
 * exceeds max-lcs-cells" (Redis itself refuses past 512 MiB of table, with
 * its own text, which raftkv gives too). Replies and errors are Redis's.
 * The reply functions of one EXEC run one after another on the loop, so
 * there the bound is on the transaction's total: an LCS that would take
 * the cells of the EXEC's earlier LCS commands past --max-lcs-cells
 * answers "-ERR LCS cells of this transaction exceed max-lcs-cells" as its
 * element of EXEC's array (it ran: EXECABORT would say it was never
 * queued), and the others still answer.
 */
#include <stdlib.h>
#include <strings.h>

#include "server/commands.h"
#include "server/lcs.h"

/* What the handler tells the reply function, in reply_flags. */
#define LCS_LEN (1u << 0)
#define LCS_IDX (1u << 1)
#define LCS_WITHMATCHLEN (1u << 2)
#define LCS_MIN_SHIFT 3
#define LCS_MIN_MAX ((1u << (32 - LCS_MIN_SHIFT)) - 1) /* longer than any value */
/* Redis refuses a table past proto-max-bulk-len (512 MiB) of its 4-byte
 * cells: past that raftkv gives Redis's text. */
#define LCS_REDIS_MAX_TABLE_BYTES (512ull << 20)

void cmd_lcs(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    struct resp_buf *b = &x->r->reply;
    uint32_t flags = 0;
    long long min = 0;
    for (size_t i = 3; i < q->argc; i++) {
        if (cmd_arg_is(q, i, "idx")) {
            flags |= LCS_IDX;
        } else if (cmd_arg_is(q, i, "len")) {
            flags |= LCS_LEN;
        } else if (cmd_arg_is(q, i, "withmatchlen")) {
            flags |= LCS_WITHMATCHLEN;
        } else if (cmd_arg_is(q, i, "minmatchlen") && i + 1 < q->argc) {
            if (!cmd_arg_ll(q, i + 1, &min)) {
                resp_write_error(b, "ERR value is not an integer or out of range");
                return;
            }
            if (min < 0)
                min = 0;
            i++;
        } else {
            resp_write_error(b, "ERR syntax error");
            return;
        }
    }
    if ((flags & LCS_IDX) && (flags & LCS_LEN)) {
        resp_write_error(b, "ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    if ((unsigned long long)min > LCS_MIN_MAX)
        min = LCS_MIN_MAX;
    x->r->reply_flags = flags | (uint32_t)min << LCS_MIN_SHIFT;
    struct kv_command cmds[2];
    if (cmd_key_op(&cmds[0], KV_GET, q, 1) != 0) {
        resp_write_error(b, "ERR out of memory");
        return;
    }
    if (cmd_key_op(&cmds[1], KV_GET, q, 2) != 0) {
        kv_command_release(&cmds[0]);
        resp_write_error(b, "ERR out of memory");
        return;
    }
    cmd_run(x, cmds, 2);
}

static void write_range(struct resp_buf *b, size_t start, size_t end)
{
    resp_write_array_len(b, 2);
    resp_write_int(b, (int64_t)start);
    resp_write_int(b, (int64_t)end);
}

void cmd_reply_lcs(struct client_req *r, int proto)
{
    struct resp_buf *b = &r->reply;
    const struct kv_result *ka = &r->results[0].kv, *kb = &r->results[1].kv;
    /* A missing key is an empty string. */
    const uint8_t *a = ka->code == KV_OK && ka->bytes ? ka->bytes : (const uint8_t *)"";
    const uint8_t *bb = kb->code == KV_OK && kb->bytes ? kb->bytes : (const uint8_t *)"";
    size_t alen = a == ka->bytes ? ka->len : 0, blen = bb == kb->bytes ? kb->len : 0;
    uint32_t flags = r->reply_flags;
    size_t min = flags >> LCS_MIN_SHIFT;
    uint64_t cells = lcs_cells(alen, blen);
    uint64_t max = r->client ? r->client->srv->opt.max_lcs_cells : SERVER_DEFAULT_MAX_LCS_CELLS;
    if (cells > LCS_REDIS_MAX_TABLE_BYTES / 4) {
        resp_write_error(b, "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        return;
    }
    if (cells > max) {
        resp_write_error(b, "ERR Insufficient memory, transient memory for LCS exceeds max-lcs-cells");
        return;
    }
    uint64_t spent = r->lcs_spent ? *r->lcs_spent : 0;
    if (cells > max - spent) {
        resp_write_error(b, "ERR LCS cells of this transaction exceed max-lcs-cells");
        return;
    }
    if (r->lcs_spent)
        *r->lcs_spent += cells;
    int want = (flags & LCS_LEN) ? 0 : (flags & LCS_IDX) ? LCS_WANT_MATCHES : LCS_WANT_STR;
    struct lcs_result res;
    if (lcs_compute(a, alen, bb, blen, want, min, &res) != 0) {
        resp_write_error(b, "ERR Insufficient memory, failed allocating transient memory for LCS");
        return;
    }
    if (flags & LCS_LEN) {
        resp_write_int(b, (int64_t)res.len);
    } else if (flags & LCS_IDX) {
        resp_write_map_len(b, 2, proto);
        resp_write_bulk(b, "matches", 7);
        resp_write_array_len(b, res.n_matches);
        for (size_t i = 0; i < res.n_matches; i++) {
            const struct lcs_match *m = &res.matches[i];
            resp_write_array_len(b, (flags & LCS_WITHMATCHLEN) ? 3 : 2);
            write_range(b, m->a_start, m->a_end);
            write_range(b, m->b_start, m->b_end);
            if (flags & LCS_WITHMATCHLEN)
                resp_write_int(b, (int64_t)(m->a_end - m->a_start + 1));
        }
        resp_write_bulk(b, "len", 3);
        resp_write_int(b, (int64_t)res.len);
    } else {
        resp_write_bulk(b, res.str, res.len);
    }
    lcs_result_free(&res);
}

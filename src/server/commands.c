/* commands.c - running one client command: look its row up in the command
 * table (command_table.c), check its arity, the connection's right to run
 * it (acl.h), then call its handler; and writing a data command's reply
 * once its operations have ended.
 *
 * The order of the checks is Redis's: an unknown command or subcommand,
 * then a wrong number of arguments, then -NOAUTH, then -NOPERM.
 *
 * ERRORS of data commands, and what they promise:
 *   -TRYAGAIN ...   definite: the command did not and will not take effect
 *                   (no leader reachable, too many pending operations)
 *   -UNCERTAIN ...  indefinite: the command may or may not take effect (it
 *                   was appended, then leadership was lost, or no answer came
 *                   within --request-timeout-ms); read the key to find out
 *   -ERR ...        bad command, arity, or encoding; nothing happened
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kv/command_args.h"
#include "server/commands.h"

bool cmd_arg_is(const struct resp_request *q, size_t i, const char *word)
{
    return i < q->argc && strlen(word) == q->argl[i] && strncasecmp(q->argv[i], word, q->argl[i]) == 0;
}

void cmd_reply_arity(struct resp_buf *b, const char *fullname)
{
    char msg[96];
    snprintf(msg, sizeof msg, "ERR wrong number of arguments for '%s' command", fullname);
    resp_write_error(b, msg);
}

/* ---- Data command replies ---------------------------------------------------- */

const char *commands_kv_error(const struct kv_result *kv, char *buf, size_t cap)
{
    return kv_result_error_text(kv, buf, cap); /* one text for scripts and clients */
}

/* An error that is not the state machine's answer; NULL if there is none. */
static const char *result_error(const struct op_result *res, char *buf, size_t cap)
{
    switch (res->status) {
    case REPLICA_DONE:
        return commands_kv_error(&res->kv, buf, cap);
    case REPLICA_NOT_LEADER:
    case REPLICA_UNAVAILABLE:
        snprintf(buf, cap, "TRYAGAIN %s", res->text[0] ? res->text : "unavailable");
        return buf;
    case REPLICA_INDEFINITE:
    default:
        snprintf(buf, cap, "UNCERTAIN %s", res->text[0] ? res->text : "outcome unknown");
        return buf;
    }
}

void commands_format_reply(struct server *s, struct client_req *r)
{
    int proto = r->client ? r->client->proto : 2;
    char err[200];
    for (size_t i = 0; i < r->n_ops; i++) {
        const char *e = result_error(&r->results[i], err, sizeof err);
        if (e) {
            if (e[0] == 'T')
                s->stats.errors_tryagain++;
            else if (e[0] == 'U') {
                s->stats.errors_uncertain++;
                /* router.h rule 8: what the connection sends after a write
                 * of unknown outcome could take effect before it; it is
                 * refused, so close the connection once the replies are out. */
                if (r->client)
                    r->client->close_after_write = true;
            }
            resp_write_error(&r->reply, e);
            return;
        }
    }
    if (r->cmd && r->cmd->reply)
        r->cmd->reply(r, proto);
}

/* ---- Dispatch ------------------------------------------------------------------ */

/* Redis 7.0's words: the name (at most 128 bytes), then the arguments
 * quoted while the list is under 128 bytes; line breaks become spaces. */
static void reply_unknown(struct client_req *r, const struct resp_request *q)
{
    char msg[600];
    int n = snprintf(msg, sizeof msg, "ERR unknown command '%.*s', with args beginning with: ",
                     (int)(q->argl[0] > 128 ? 128 : q->argl[0]), q->argv[0]);
    size_t args = 0;
    for (size_t i = 1; i < q->argc && args < 128; i++) {
        int k = snprintf(msg + n, sizeof msg - (size_t)n, "'%.*s' ",
                         (int)(q->argl[i] > 128 - args ? 128 - args : q->argl[i]), q->argv[i]);
        args += (size_t)k;
        n += k;
    }
    for (int i = 0; i < n; i++)
        if (msg[i] == '\r' || msg[i] == '\n' || msg[i] == '\0')
            msg[i] = ' ';
    resp_write_error(&r->reply, msg);
}

static void reply_unknown_sub(struct client_req *r, const struct resp_request *q, const struct command_def *c)
{
    char upper[24], msg[200];
    size_t n = 0;
    for (; c->name[n] && n < sizeof upper - 1; n++)
        upper[n] = (char)toupper((unsigned char)c->name[n]);
    upper[n] = '\0';
    snprintf(msg, sizeof msg, "ERR unknown subcommand '%.*s'. Try %s HELP.",
             (int)(q->argl[1] > 128 ? 128 : q->argl[1]), q->argv[1], upper);
    for (char *p = msg; *p; p++)
        if (!isprint((unsigned char)*p))
            *p = '?';
    resp_write_error(&r->reply, msg);
}

/* The row to run, or NULL after writing why not (unknown, arity). */
static const struct command_def *dispatch_lookup(struct server *s, struct client_req *r,
                                                 const struct resp_request *q)
{
    const struct command_def *c = command_lookup(q->argv[0], q->argl[0], s->opt.debug_commands);
    if (!c) {
        reply_unknown(r, q);
        return NULL;
    }
    if (c->n_subs && q->argc >= 2) {
        const struct command_def *sub = command_lookup_sub(c, q->argv[1], q->argl[1]);
        if (!sub) {
            reply_unknown_sub(r, q, c);
            return NULL;
        }
        c = sub;
    }
    if (!command_arity_ok(c, q->argc)) {
        cmd_reply_arity(&r->reply, c->name);
        return NULL;
    }
    return c;
}

int commands_dispatch(struct client *c, struct resp_request *q)
{
    struct server *s = c->srv;
    if (q->argc == 0)
        return 0;
    s->stats.commands++;
    struct client_req *r = client_req_new(c);
    if (!r)
        return -1; /* no reply slot: the stream would be out of step */
    r->started_ns = uv_hrtime();

    const struct command_def *cmd = dispatch_lookup(s, r, q);
    bool queue = multi_queues(c, cmd);
    if (!cmd)
        multi_flag_error(c, r, q); /* unknown or wrong arity: EXEC aborts */
    /* The handshake deadline (client_sweep.c) ends with the first command
     * of an authenticated client: sending commands without logging in
     * does not buy a connection more time. */
    if (c->user)
        c->handshake_done = true;
    if (cmd) {
        c->last_cmd = cmd->name;
        c->last_cmd_ms = r->started_ns / 1000000;
        enum acl_verdict v = acl_check(c->user, cmd);
        if (v != ACL_ALLOW) {
            char err[128];
            if (v != ACL_NOAUTH)
                s->stats.acl_denied++;
            resp_write_error(&r->reply, acl_verdict_error(v, cmd, err, sizeof err));
            if (queue)
                multi_flag_error(c, r, q);
        } else if (queue) {
            struct cmd_ctx x = {.s = s, .c = c, .r = r, .q = q, .cmd = cmd};
            multi_queue(&x);
        } else {
            struct cmd_ctx x = {.s = s, .c = c, .r = r, .q = q, .cmd = cmd};
            /* Its operations may end inside the handler (refused at once):
             * pinned, r outlives that until here. */
            r->pinned = true;
            cmd->handler(&x);
            r->pinned = false;
            if (c->user) /* AUTH or HELLO AUTH just logged in */
                c->handshake_done = true;
            if (r->data || r->deferred) {
                if (r->done)
                    client_req_done(r); /* ended inside: send (or free) it now */
                return 0; /* its operations answer it (cmd_start_ops), or its module */
            }
        }
    }
    client_req_done(r);
    return 0;
}

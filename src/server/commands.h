/* commands.h - what a command handler gets, and the handlers of each
 * family (the rows that name them are in command_table.c). Private to
 * src/server.
 *
 * A handler writes its reply into x->r->reply with the resp_write_*
 * helpers, for the connection's protocol (x->c->proto). A data command
 * starts its operations instead (cmd_start_ops); its row's `reply`
 * function writes the reply once they have all ended.
 */
#ifndef RAFTKV_COMMANDS_H
#define RAFTKV_COMMANDS_H

#include "server/command_table.h"
#include "server/server_internal.h"

struct cmd_ctx {
    struct server *s;
    struct client *c;
    struct client_req *r;
    const struct resp_request *q;
    const struct command_def *cmd;
};

/* Whether argument i is `word` (any case). */
bool cmd_arg_is(const struct resp_request *q, size_t i, const char *word);
/* "-ERR wrong number of arguments for 'get' command" */
void cmd_reply_arity(struct resp_buf *b, const char *fullname);

/* cmd_data.c: GET SET DEL EXISTS MGET CAS */
void cmd_get(struct cmd_ctx *x);
void cmd_set(struct cmd_ctx *x);
void cmd_del(struct cmd_ctx *x);
void cmd_exists(struct cmd_ctx *x);
void cmd_mget(struct cmd_ctx *x);
void cmd_cas(struct cmd_ctx *x);
/* What the data commands share (cmd_data.c). cmd_run takes over the n
 * prepared commands (each becomes one routed operation; the row's reply
 * function formats r->results once all have ended). */
void cmd_run(struct cmd_ctx *x, struct kv_command *cmds, size_t n);
/* A command of type op on the key at argv[i]: 0 or -1 (out of memory). */
int cmd_key_op(struct kv_command *c, enum kv_op op, const struct resp_request *q, size_t i);
int cmd_arg_str(struct kv_str *f, const struct resp_request *q, size_t i);
/* argv[i] as a 64-bit integer, as strictly as Redis reads one. */
bool cmd_arg_ll(const struct resp_request *q, size_t i, long long *out);
/* This member's wall clock, ms since the epoch (argument checks only: the
 * leader stamps the time that counts into each entry). */
int64_t cmd_wall_ms(void);
void cmd_write_bulk_or_nil(struct resp_buf *b, const struct kv_result *kv, int proto);
void cmd_reply_set(struct client_req *r, int proto);
void cmd_reply_value(struct client_req *r, int proto);
void cmd_reply_ok(struct client_req *r, int proto);
void cmd_reply_count(struct client_req *r, int proto);
void cmd_reply_values(struct client_req *r, int proto);
void cmd_reply_cas(struct client_req *r, int proto);

/* cmd_string.c: INCR DECR INCRBY DECRBY INCRBYFLOAT APPEND STRLEN GETRANGE
 * SUBSTR SETRANGE GETSET GETDEL GETEX SETNX SETEX PSETEX MSET MSETNX */
void cmd_incr(struct cmd_ctx *x);
void cmd_decr(struct cmd_ctx *x);
void cmd_incrby(struct cmd_ctx *x);
void cmd_decrby(struct cmd_ctx *x);
void cmd_incrbyfloat(struct cmd_ctx *x);
void cmd_append(struct cmd_ctx *x);
void cmd_strlen(struct cmd_ctx *x);
void cmd_getrange(struct cmd_ctx *x);
void cmd_setrange(struct cmd_ctx *x);
void cmd_getset(struct cmd_ctx *x);
void cmd_getdel(struct cmd_ctx *x);
void cmd_getex(struct cmd_ctx *x);
void cmd_setnx(struct cmd_ctx *x);
void cmd_setex(struct cmd_ctx *x);
void cmd_psetex(struct cmd_ctx *x);
void cmd_mset(struct cmd_ctx *x);
void cmd_msetnx(struct cmd_ctx *x);
void cmd_reply_num(struct client_req *r, int proto);
void cmd_reply_setnx(struct client_req *r, int proto);
void cmd_reply_msetnx(struct client_req *r, int proto);
void cmd_reply_getex(struct client_req *r, int proto);

/* cmd_connection.c: PING ECHO HELLO AUTH QUIT SELECT CLIENT ACL */
void cmd_ping(struct cmd_ctx *x);
void cmd_echo(struct cmd_ctx *x);
void cmd_hello(struct cmd_ctx *x);
void cmd_auth(struct cmd_ctx *x);
void cmd_quit(struct cmd_ctx *x);
void cmd_select(struct cmd_ctx *x);
void cmd_client_setname(struct cmd_ctx *x);
void cmd_client_getname(struct cmd_ctx *x);
void cmd_client_id(struct cmd_ctx *x);
void cmd_client_setinfo(struct cmd_ctx *x);
void cmd_client_list(struct cmd_ctx *x);
void cmd_client_info(struct cmd_ctx *x);
void cmd_acl_whoami(struct cmd_ctx *x);

/* cmd_server.c: INFO LEADER CONFIG DEBUG.CUT COMMAND */
void cmd_info(struct cmd_ctx *x);
void cmd_leader(struct cmd_ctx *x);
void cmd_config_get(struct cmd_ctx *x);
void cmd_debug_cut(struct cmd_ctx *x);
void cmd_command(struct cmd_ctx *x);
void cmd_command_count(struct cmd_ctx *x);
void cmd_command_info(struct cmd_ctx *x);
void cmd_command_docs(struct cmd_ctx *x);

#endif

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

struct multi_item;

struct cmd_ctx {
    struct server *s;
    struct client *c;
    struct client_req *r;
    const struct resp_request *q;
    const struct command_def *cmd;
    /* Inside MULTI: where cmd_run puts the prepared operations instead of
     * running them (multi.c); NULL otherwise. */
    struct multi_item *capture;
};

/* A state machine's answer that is a client error, written into buf
 * ("ERR ..." or Redis's own line); NULL when the answer is no error. */
const char *commands_kv_error(const struct kv_result *kv, char *buf, size_t cap);

/* multi.c: MULTI EXEC DISCARD WATCH UNWATCH, and queueing inside MULTI. */
void cmd_multi(struct cmd_ctx *x);
void cmd_exec(struct cmd_ctx *x);
void cmd_discard(struct cmd_ctx *x);
void cmd_watch(struct cmd_ctx *x);
void cmd_unwatch(struct cmd_ctx *x);
void cmd_reply_exec(struct client_req *r, int proto);
void cmd_reply_watch(struct client_req *r, int proto);
/* Whether a command of this row is queued rather than run (the client is
 * inside MULTI and the row is no transaction control). */
bool multi_queues(const struct client *c, const struct command_def *cmd);
/* Queue the command (replies +QUEUED, or an error that aborts EXEC). */
void multi_queue(struct cmd_ctx *x);
/* A queue-time error (unknown command, arity, permission), already written
 * into r's reply: EXEC aborts; if the command was EXEC itself (inside
 * MULTI or not), any transaction ends now and the reply is Redis's
 * EXECABORT with the reason instead. */
void multi_flag_error(struct client *c, struct client_req *r, const struct resp_request *q);
/* Put the prepared operations of a command inside MULTI into its item. */
void multi_capture(struct multi_item *it, struct cmd_ctx *x, struct kv_command *cmds, size_t n);

/* Whether argument i is `word` (any case). */
bool cmd_arg_is(const struct resp_request *q, size_t i, const char *word);
/* "-ERR wrong number of arguments for 'get' command" */
void cmd_reply_arity(struct resp_buf *b, const char *fullname);

/* cmd_data.c: the handler of every command with a row in the shared
 * argument parser's table (src/kv/command_args.h: GET SET DEL ... the
 * string, key and deadline commands): parse, then cmd_run. */
void cmd_parsed(struct cmd_ctx *x);
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
void cmd_reply_num(struct client_req *r, int proto);
void cmd_reply_setnx(struct client_req *r, int proto);
void cmd_reply_getex(struct client_req *r, int proto);
/* cmd_lcs.c: LCS */
void cmd_lcs(struct cmd_ctx *x);
void cmd_reply_lcs(struct client_req *r, int proto);
/* cmd_keys.c: UNLINK TOUCH TYPE RENAME RENAMENX COPY KEYS SCAN RANDOMKEY
 * DBSIZE FLUSHDB FLUSHALL */
void cmd_keys(struct cmd_ctx *x);
void cmd_scan(struct cmd_ctx *x);
void cmd_randomkey(struct cmd_ctx *x);
void cmd_dbsize(struct cmd_ctx *x);
void cmd_flush(struct cmd_ctx *x);
void cmd_reply_type(struct client_req *r, int proto);
void cmd_reply_rename(struct client_req *r, int proto);
void cmd_reply_int(struct client_req *r, int proto);
void cmd_reply_keys(struct client_req *r, int proto);
void cmd_reply_scan(struct client_req *r, int proto);

/* cmd_expire.c: EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME
 * PEXPIRETIME PERSIST */
void cmd_reply_ttl(struct client_req *r, int proto);

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
void cmd_client_no_evict(struct cmd_ctx *x);
void cmd_acl_whoami(struct cmd_ctx *x);

/* cmd_script.c: EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT LOAD|EXISTS|FLUSH */
void cmd_eval(struct cmd_ctx *x);
void cmd_eval_ro(struct cmd_ctx *x);
void cmd_evalsha(struct cmd_ctx *x);
void cmd_evalsha_ro(struct cmd_ctx *x);
void cmd_script_load(struct cmd_ctx *x);
void cmd_script_exists(struct cmd_ctx *x);
void cmd_script_flush(struct cmd_ctx *x);
void cmd_script_resolve(struct server *s, struct kv_command *c); /* a queued EVALSHA, at EXEC */
void cmd_reply_script(struct client_req *r, int proto);
void cmd_reply_script_load(struct client_req *r, int proto);

/* transfer.c: RAFT.TRANSFER_LEADER */
void cmd_raft_transfer_leader(struct cmd_ctx *x);
/* cmd_raft_node.c: RAFT.NODE ADD|PROMOTE|REMOVE|LIST */
void cmd_raft_node(struct cmd_ctx *x);

/* cmd_backup.c: RAFTKV.BACKUP START | READ id offset length | END id */
void cmd_raftkv_backup(struct cmd_ctx *x);

/* client_list.c: CLIENT LIST and CLIENT INFO */
void cmd_client_list(struct cmd_ctx *x);
void cmd_client_info(struct cmd_ctx *x);
/* One connection's line, as Redis 7.0's CLIENT LIST writes it (with "\n");
 * now_ms on uv_hrtime's clock. */
void client_list_line(struct resp_buf *b, const struct client *c, uint64_t now_ms);

/* cmd_server.c: INFO TIME ROLE LEADER CONFIG DEBUG.CUT COMMAND */
void cmd_info(struct cmd_ctx *x);
void cmd_time(struct cmd_ctx *x);
void cmd_role(struct cmd_ctx *x);
void cmd_leader(struct cmd_ctx *x);
void cmd_config_get(struct cmd_ctx *x);
void cmd_debug_cut(struct cmd_ctx *x);
void cmd_command(struct cmd_ctx *x);
void cmd_command_count(struct cmd_ctx *x);
void cmd_command_info(struct cmd_ctx *x);
void cmd_command_docs(struct cmd_ctx *x);

#endif

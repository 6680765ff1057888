/* cmd_string.c - the replies of the string commands beyond GET/SET/MGET
 * (cmd_data.c): INCR DECR INCRBY DECRBY INCRBYFLOAT APPEND STRLEN GETRANGE
 * SUBSTR SETRANGE GETSET GETDEL GETEX SETNX SETEX PSETEX MSET MSETNX. Their
 * arguments are parsed, with Redis 7.0's checks and error texts, by the
 * shared parser (src/kv/command_args.c, run by cmd_parsed); what depends
 * on the value held (not an integer, an overflow, a string grown past
 * KV_STRING_MAX) is the state machine's answer (ops_string2.c), whose text
 * the reply carries as it is. MSET and MSETNX are one operation each (a
 * KV_MULTI, a KV_MSETNX), so every member applies all of their keys or
 * none.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kv/command_args.h"
#include "server/commands.h"

#define NOT_INT "ERR value is not an integer or out of range"

/* ---- replies ---- */

/* INCR ... APPEND STRLEN SETRANGE MSETNX: the operation's number. */
void cmd_reply_num(struct client_req *r, int proto)
{
    (void)proto;
    resp_write_int(&r->reply, r->results[0].kv.num);
}

/* SETNX: :1 set, :0 the key existed. */
void cmd_reply_setnx(struct client_req *r, int proto)
{
    (void)proto;
    resp_write_int(&r->reply, r->results[0].kv.num ? 1 : 0);
}

/* GETEX: the value or nil; run as a read with a bad expire time, the
 * error when the key exists. */
void cmd_reply_getex(struct client_req *r, int proto)
{
    const struct kv_result *kv = &r->results[0].kv;
    if (r->reply_flags && kv->code == KV_OK)
        resp_write_error(&r->reply, r->reply_flags == KV_ARGS_BAD_INT ? NOT_INT
                                                                    : "ERR invalid expire time in 'getex' command");
    else
        cmd_write_bulk_or_nil(&r->reply, kv, proto);
}

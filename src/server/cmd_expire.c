/* cmd_expire.c - deadlines, as Redis 7.0 answers them: EXPIRE, PEXPIRE,
 * EXPIREAT, PEXPIREAT (NX XX GT LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME,
 * PERSIST: their replies (the arguments are parsed by the shared parser,
 * src/kv/command_args.c). A relative time travels as it is (KV_EXPIRE_IN)
 * and becomes a deadline at the time the leader stamped on the entry, so
 * every member sets the same one; this member's clock only checks the
 * argument for overflow, as Redis does with its own. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "server/commands.h"

/* -2 absent, -1 no deadline; else TTL rounds the ms left to the nearest
 * second, EXPIRETIME truncates the deadline, as Redis. */
void cmd_reply_ttl(struct client_req *r, int proto)
{
    (void)proto;
    int64_t v = r->results[0].kv.num;
    const char *name = r->cmd ? r->cmd->name : "pttl";
    if (v >= 0 && name[0] != 'p')
        v = strstr(name, "time") ? v / 1000 : (v + 500) / 1000;
    resp_write_int(&r->reply, v);
}

/* command_table.c - the rows of the command table (command_table.h) and
 * looking them up. Adding a command is one row here and one handler. */
#include "server/command_table.h"

#include <string.h>
#include <strings.h>

#include "server/commands.h"

#define RO_FAST (CMDF_READONLY | CMDF_FAST)
#define CONN (CMDF_LOADING | CMDF_STALE)

static struct command_def command_subs[] = {
    /* COMMAND */
    {"command|count", 2, CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_command_count, NULL,
     "Count the commands this server knows", "server", "O(1)", NULL, 0, 0},
    {"command|info", -2, CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_command_info, NULL,
     "Describe the named commands (all without a name)", "server", "O(N) where N is the number of commands",
     NULL, 0, 0},
    {"command|docs", -2, CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_command_docs, NULL,
     "Documentation of the named commands (all without a name)", "server",
     "O(N) where N is the number of commands", NULL, 0, 0},
    /* CLIENT */
    {"client|setname", 3, CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_client_setname, NULL,
     "Name this connection", "connection", "O(1)", NULL, 0, 0},
    {"client|getname", 2, CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_client_getname, NULL,
     "This connection's name", "connection", "O(1)", NULL, 0, 0},
    {"client|id", 2, CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_client_id, NULL, "This connection's id",
     "connection", "O(1)", NULL, 0, 0},
    {"client|setinfo", 4, CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_client_setinfo, NULL,
     "Accept the client library's name or version (ignored)", "connection", "O(1)", NULL, 0, 0},
    {"client|list", -2, CMDF_ADMIN | CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_client_list, NULL,
     "One line per connection: address, name, user, protocol", "connection",
     "O(N) where N is the number of connections", NULL, 0, 0},
    {"client|info", 2, CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_client_info, NULL,
     "CLIENT LIST's line for this connection", "connection", "O(1)", NULL, 0, 0},
    {"client|no-evict", 3, CMDF_ADMIN | CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_client_no_evict, NULL,
     "Mark this connection as never evicted (raftkv evicts none)", "connection", "O(1)", NULL, 0, 0},
    /* CONFIG */
    {"config|get", -3, CMDF_ADMIN | CONN, 0, 0, 0, 0, NULL, cmd_config_get, NULL,
     "Values of the named settings redis-benchmark asks for", "server", "O(N) where N is the number of names",
     NULL, 0, 0},
    /* ACL */
    {"acl|whoami", 2, CONN, 0, 0, 0, 0, NULL, cmd_acl_whoami, NULL, "The user this connection is authenticated as",
     "server", "O(1)", NULL, 0, 0},
    /* SCRIPT (cmd_script.c) */
    {"script|load", 3, CMDF_STALE, CAT(CAT_SCRIPTING), 0, 0, 0, NULL, cmd_script_load, cmd_reply_script_load,
     "Cache a script on every member; its SHA1", "scripting", "O(N) with N being the length in bytes of the script body.",
     NULL, 0, 0},
    {"script|exists", -3, CMDF_STALE, CAT(CAT_SCRIPTING), 0, 0, 0, NULL, cmd_script_exists, cmd_reply_script,
     "Whether the cluster's script cache holds each SHA1", "scripting", "O(N) with N being the number of scripts to check",
     NULL, 0, 0},
    {"script|flush", -2, CMDF_STALE, CAT(CAT_SCRIPTING), 0, 0, 0, NULL, cmd_script_flush, cmd_reply_ok,
     "Empty every member's script cache", "scripting", "O(N) with N being the number of scripts in cache", NULL, 0, 0},
};
#define SUBS(first, n) &command_subs[first], n

struct command_def command_table[] = {
    {"get", 2, RO_FAST, CAT(CAT_STRING), 1, 1, 1, "RO access", cmd_parsed, cmd_reply_value,
     "The value of a key (linearizable)", "string", "O(1)", NULL, 0, 0},
    {"set", -3, CMDF_WRITE | CMDF_DENYOOM, CAT(CAT_STRING), 1, 1, 1, "RW access update", cmd_parsed, cmd_reply_set,
     "Set a key to a value, replicated before the reply", "string", "O(1)", NULL, 0, 0},
    {"del", -2, CMDF_WRITE, CAT(CAT_KEYSPACE), 1, -1, 1, "RM delete", cmd_parsed, cmd_reply_count,
     "Delete keys; the number deleted", "generic", "O(N) where N is the number of keys", NULL, 0, 0},
    {"exists", -2, RO_FAST, CAT(CAT_KEYSPACE), 1, -1, 1, "RO", cmd_parsed, cmd_reply_count,
     "How many of the keys exist", "generic", "O(N) where N is the number of keys", NULL, 0, 0},
    /* the keyspace and deadlines (cmd_keys.c, cmd_expire.c): flags and
     * categories as Redis 7.0's; "A|B" key flags: one key spec per key */
    {"unlink", -2, CMDF_WRITE | CMDF_FAST, CAT(CAT_KEYSPACE), 1, -1, 1, "RM delete", cmd_parsed, cmd_reply_count,
     "Delete keys (as DEL); the number deleted", "generic", "O(N) where N is the number of keys", NULL, 0, 0},
    {"touch", -2, RO_FAST, CAT(CAT_KEYSPACE), 1, -1, 1, "RO", cmd_parsed, cmd_reply_count,
     "How many of the keys exist", "generic", "O(N) where N is the number of keys", NULL, 0, 0},
    {"type", 2, RO_FAST, CAT(CAT_KEYSPACE), 1, 1, 1, "RO", cmd_parsed, cmd_reply_type,
     "The type of a key's value: string, or none", "generic", "O(1)", NULL, 0, 0},
    {"rename", 3, CMDF_WRITE, CAT(CAT_KEYSPACE), 1, 2, 1, "RW access delete|OW update", cmd_parsed,
     cmd_reply_rename, "Rename a key (its deadline goes along)", "generic", "O(1)", NULL, 0, 0},
    {"renamenx", 3, CMDF_WRITE | CMDF_FAST, CAT(CAT_KEYSPACE), 1, 2, 1, "RW access delete|OW insert", cmd_parsed,
     cmd_reply_rename, "Rename a key if the new name is free", "generic", "O(1)", NULL, 0, 0},
    {"copy", -3, CMDF_WRITE | CMDF_DENYOOM, CAT(CAT_KEYSPACE), 1, 2, 1, "RO access|OW update", cmd_parsed,
     cmd_reply_int, "Copy a key's value and deadline to another key (DB 0 only)", "generic", "O(1)", NULL, 0, 0},
    {"keys", 2, CMDF_READONLY, CAT(CAT_KEYSPACE) | CAT(CAT_DANGEROUS), 0, 0, 0, NULL, cmd_keys, cmd_reply_keys,
     "Every key matching a glob pattern (linearizable)", "generic", "O(N) with N being the number of keys",
     NULL, 0, 0},
    {"scan", -2, CMDF_READONLY, CAT(CAT_KEYSPACE), 0, 0, 0, NULL, cmd_scan, cmd_reply_scan,
     "Iterate over the keys; a cursor works on any member", "generic",
     "O(1) for every call. O(N) for a complete iteration", NULL, 0, 0},
    {"randomkey", 1, CMDF_READONLY, CAT(CAT_KEYSPACE), 0, 0, 0, NULL, cmd_randomkey, cmd_reply_value,
     "A random key, or nil", "generic", "O(1)", NULL, 0, 0},
    {"dbsize", 1, RO_FAST, CAT(CAT_KEYSPACE), 0, 0, 0, NULL, cmd_dbsize, cmd_reply_int,
     "The number of keys (linearizable)", "server", "O(1)", NULL, 0, 0},
    {"flushdb", -1, CMDF_WRITE, CAT(CAT_KEYSPACE) | CAT(CAT_DANGEROUS), 0, 0, 0, NULL, cmd_flush, cmd_reply_ok,
     "Delete every key (ASYNC and SYNC do the same)", "server", "O(N) where N is the number of keys", NULL, 0,
     0},
    {"flushall", -1, CMDF_WRITE, CAT(CAT_KEYSPACE) | CAT(CAT_DANGEROUS), 0, 0, 0, NULL, cmd_flush, cmd_reply_ok,
     "Delete every key (one database: as FLUSHDB)", "server", "O(N) where N is the number of keys", NULL, 0,
     0},
    {"expire", -3, CMDF_WRITE | CMDF_FAST, CAT(CAT_KEYSPACE), 1, 1, 1, "RW update", cmd_parsed, cmd_reply_int,
     "Set a key's time to live in seconds (NX XX GT LT)", "generic", "O(1)", NULL, 0, 0},
    {"pexpire", -3, CMDF_WRITE | CMDF_FAST, CAT(CAT_KEYSPACE), 1, 1, 1, "RW update", cmd_parsed, cmd_reply_int,
     "Set a key's time to live in milliseconds (NX XX GT LT)", "generic", "O(1)", NULL, 0, 0},
    {"expireat", -3, CMDF_WRITE | CMDF_FAST, CAT(CAT_KEYSPACE), 1, 1, 1, "RW update", cmd_parsed, cmd_reply_int,
     "Set a key's deadline as a Unix time in seconds (NX XX GT LT)", "generic", "O(1)", NULL, 0, 0},
    {"pexpireat", -3, CMDF_WRITE | CMDF_FAST, CAT(CAT_KEYSPACE), 1, 1, 1, "RW update", cmd_parsed, cmd_reply_int,
     "Set a key's deadline as a Unix time in milliseconds (NX XX GT LT)", "generic", "O(1)", NULL, 0, 0},
    {"ttl", 2, RO_FAST, CAT(CAT_KEYSPACE), 1, 1, 1, "RO access", cmd_parsed, cmd_reply_ttl,
     "Seconds left before a key expires (-1 none, -2 no key)", "generic", "O(1)", NULL, 0, 0},
    {"pttl", 2, RO_FAST, CAT(CAT_KEYSPACE), 1, 1, 1, "RO access", cmd_parsed, cmd_reply_ttl,
     "Milliseconds left before a key expires (-1 none, -2 no key)", "generic", "O(1)", NULL, 0, 0},
    {"expiretime", 2, RO_FAST, CAT(CAT_KEYSPACE), 1, 1, 1, "RO access", cmd_parsed, cmd_reply_ttl,
     "A key's deadline as a Unix time in seconds (-1 none, -2 no key)", "generic", "O(1)", NULL, 0, 0},
    {"pexpiretime", 2, RO_FAST, CAT(CAT_KEYSPACE), 1, 1, 1, "RO access", cmd_parsed, cmd_reply_ttl,
     "A key's deadline as a Unix time in milliseconds (-1 none, -2 no key)", "generic", "O(1)", NULL, 0, 0},
    {"persist", 2, CMDF_WRITE | CMDF_FAST, CAT(CAT_KEYSPACE), 1, 1, 1, "RW update", cmd_parsed, cmd_reply_int,
     "Remove a key's deadline", "generic", "O(1)", NULL, 0, 0},
    {"mget", -2, RO_FAST, CAT(CAT_STRING), 1, -1, 1, "RO access", cmd_parsed, cmd_reply_values,
     "The values of several keys", "string", "O(N) where N is the number of keys", NULL, 0, 0},
    {"cas", 4, CMDF_WRITE | CMDF_DENYOOM | CMDF_FAST, CAT(CAT_STRING), 1, 1, 1, "RW access update", cmd_parsed,
     cmd_reply_cas, "Compare and set: key from to (1 swapped, 0 differs, nil missing)", "string", "O(1)", NULL, 0,
     0},
    /* strings (cmd_string.c) */
    {"incr", 2, CMDF_WRITE | CMDF_DENYOOM | CMDF_FAST, CAT(CAT_STRING), 1, 1, 1, "RW access update", cmd_parsed, cmd_reply_num,
     "Add 1 to the integer a key holds (0 if absent); the new value", "string", "O(1)", NULL, 0, 0},
    {"decr", 2, CMDF_WRITE | CMDF_DENYOOM | CMDF_FAST, CAT(CAT_STRING), 1, 1, 1, "RW access update", cmd_parsed, cmd_reply_num,
     "Subtract 1 from the integer a key holds; the new value", "string", "O(1)", NULL, 0, 0},
    {"incrby", 3, CMDF_WRITE | CMDF_DENYOOM | CMDF_FAST, CAT(CAT_STRING), 1, 1, 1, "RW access update", cmd_parsed, cmd_reply_num,
     "Add an integer to the integer a key holds; the new value", "string", "O(1)", NULL, 0, 0},
    {"decrby", 3, CMDF_WRITE | CMDF_DENYOOM | CMDF_FAST, CAT(CAT_STRING), 1, 1, 1, "RW access update", cmd_parsed, cmd_reply_num,
     "Subtract an integer from the integer a key holds; the new value", "string", "O(1)", NULL, 0, 0},
    {"incrbyfloat", 3, CMDF_WRITE | CMDF_DENYOOM | CMDF_FAST, CAT(CAT_STRING), 1, 1, 1, "RW access update", cmd_parsed, cmd_reply_value,
     "Add a float to the number a key holds; the new value", "string", "O(1)", NULL, 0, 0},
    {"append", 3, CMDF_WRITE | CMDF_DENYOOM | CMDF_FAST, CAT(CAT_STRING), 1, 1, 1, "RW insert", cmd_parsed, cmd_reply_num,
     "Append to a key's value (keeping its TTL); the new length", "string", "O(1)", NULL, 0, 0},
    {"strlen", 2, RO_FAST, CAT(CAT_STRING), 1, 1, 1, "RO", cmd_parsed, cmd_reply_num,
     "The length of a key's value (0 if absent)", "string", "O(1)", NULL, 0, 0},
    {"getrange", 4, CMDF_READONLY, CAT(CAT_STRING), 1, 1, 1, "RO access", cmd_parsed, cmd_reply_value,
     "A substring of a key's value, by byte offsets (negative: from the end)", "string", "O(N) where N is the length of the returned string", NULL, 0, 0},
    {"substr", 4, CMDF_READONLY, CAT(CAT_STRING), 1, 1, 1, "RO access", cmd_parsed, cmd_reply_value,
     "GETRANGE's old name", "string", "O(N) where N is the length of the returned string", NULL, 0, 0},
    {"lcs", -3, CMDF_READONLY, CAT(CAT_STRING), 1, 2, 1, "RO access", cmd_lcs, cmd_reply_lcs,
     "The longest common subsequence of two keys' values (LEN, IDX, MINMATCHLEN, WITHMATCHLEN); "
     "bounded by --max-lcs-cells", "string", "O(N*M) where N and M are the lengths of s1 and s2, respectively",
     NULL, 0, 0},
    {"setrange", 4, CMDF_WRITE | CMDF_DENYOOM, CAT(CAT_STRING), 1, 1, 1, "RW update", cmd_parsed, cmd_reply_num,
     "Overwrite part of a key's value at an offset (zero-padded); the new length", "string", "O(1), not counting the time taken to copy the new string in place", NULL, 0, 0},
    {"getset", 3, CMDF_WRITE | CMDF_DENYOOM | CMDF_FAST, CAT(CAT_STRING), 1, 1, 1, "RW access update", cmd_parsed, cmd_reply_set,
     "Set a key's value (clearing its TTL); the old value", "string", "O(1)", NULL, 0, 0},
    {"getdel", 2, CMDF_WRITE | CMDF_FAST, CAT(CAT_STRING), 1, 1, 1, "RW access delete", cmd_parsed, cmd_reply_value,
     "A key's value, deleting the key", "string", "O(1)", NULL, 0, 0},
    {"getex", -2, CMDF_WRITE | CMDF_FAST, CAT(CAT_STRING), 1, 1, 1, "RW access update", cmd_parsed, cmd_reply_getex,
     "A key's value, setting or clearing its TTL (EX, PX, EXAT, PXAT, PERSIST)", "string", "O(1)", NULL, 0, 0},
    {"setnx", 3, CMDF_WRITE | CMDF_DENYOOM | CMDF_FAST, CAT(CAT_STRING), 1, 1, 1, "OW insert", cmd_parsed, cmd_reply_setnx,
     "Set a key only if it does not exist (1 set, 0 not)", "string", "O(1)", NULL, 0, 0},
    {"setex", 4, CMDF_WRITE | CMDF_DENYOOM, CAT(CAT_STRING), 1, 1, 1, "OW update", cmd_parsed, cmd_reply_set,
     "Set a key with a TTL in seconds", "string", "O(1)", NULL, 0, 0},
    {"psetex", 4, CMDF_WRITE | CMDF_DENYOOM, CAT(CAT_STRING), 1, 1, 1, "OW update", cmd_parsed, cmd_reply_set,
     "Set a key with a TTL in milliseconds", "string", "O(1)", NULL, 0, 0},
    {"mset", -3, CMDF_WRITE | CMDF_DENYOOM, CAT(CAT_STRING), 1, -1, 2, "OW update", cmd_parsed, cmd_reply_ok,
     "Set several keys, all in one replicated entry", "string", "O(N) where N is the number of keys to set", NULL, 0, 0},
    {"msetnx", -3, CMDF_WRITE | CMDF_DENYOOM, CAT(CAT_STRING), 1, -1, 2, "OW insert", cmd_parsed, cmd_reply_num,
     "Set several keys only if none exists (1 all set, 0 none)", "string", "O(N) where N is the number of keys to set", NULL, 0, 0},
    {"ping", -1, CMDF_FAST, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_ping, NULL, "PONG, or the message given",
     "connection", "O(1)", NULL, 0, 0},
    {"echo", 2, CMDF_FAST | CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_echo, NULL, "The message given",
     "connection", "O(1)", NULL, 0, 0},
    {"hello", -1, CMDF_FAST | CMDF_NO_AUTH | CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_hello, NULL,
     "Pick the protocol (2 or 3), authenticate, name the connection", "connection", "O(1)", NULL, 0, 0},
    {"auth", -2, CMDF_FAST | CMDF_NO_AUTH | CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_auth, NULL,
     "Authenticate the connection as a user (default: the default user)", "connection",
     "O(N) where N is the number of the user's passwords", NULL, 0, 0},
    {"quit", -1, CMDF_FAST | CMDF_NO_AUTH | CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_quit, NULL,
     "Close the connection once the replies before it are out", "connection", "O(1)", NULL, 0, 0},
    {"select", 2, CMDF_FAST | CONN, CAT(CAT_KEYSPACE), 0, 0, 0, NULL, cmd_select, NULL,
     "Select database 0 (the only one)", "connection", "O(1)", NULL, 0, 0},
    {"info", -1, CONN, CAT(CAT_DANGEROUS), 0, 0, 0, NULL, cmd_info, NULL,
     "This member's view by section: server, clients, memory, persistence, stats, replication, cpu, raft, "
     "keyspace", "server", "O(1)", NULL, 0, 0},
    {"time", 1, CMDF_FAST | CONN, 0, 0, 0, 0, NULL, cmd_time, NULL,
     "This member's clock: seconds and microseconds since the epoch", "server", "O(1)", NULL, 0, 0},
    {"role", 1, CMDF_FAST | CONN, CAT(CAT_ADMIN) | CAT(CAT_DANGEROUS), 0, 0, 0, NULL, cmd_role, NULL,
     "The leader as a master with its followers, a follower as a replica of the leader", "server", "O(1)",
     NULL, 0, 0},
    {"leader", -1, CMDF_FAST | CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_leader, NULL,
     "The name of the leader this member knows, or nil", "server", "O(1)", NULL, 0, 0},
    {"command", -1, CONN, CAT(CAT_CONNECTION), 0, 0, 0, NULL, cmd_command, NULL,
     "Describe every command (as COMMAND INFO)", "server", "O(N) where N is the number of commands",
     SUBS(0, 3), 0},
    {"client", -2, 0, 0, 0, 0, 0, NULL, NULL, NULL, "A container for connection commands", "connection",
     "Depends on subcommand.", SUBS(3, 7), 0},
    {"config", -2, 0, 0, 0, 0, 0, NULL, NULL, NULL, "A container for configuration commands", "server",
     "Depends on subcommand.", SUBS(10, 1), 0},
    {"acl", -2, 0, 0, 0, 0, 0, NULL, NULL, NULL, "A container for access control commands", "server",
     "Depends on subcommand.", SUBS(11, 1), 0},
    /* Lua scripts (cmd_script.c): keys are given by numkeys */
    {"eval", -3, CMDF_STALE, CAT(CAT_SCRIPTING), 0, 0, 0, NULL, cmd_eval, cmd_reply_script,
     "Run a Lua script atomically on every member (at apply time)", "scripting", "Depends on the script that is executed.", NULL, 0, 0},
    {"evalsha", -3, CMDF_STALE, CAT(CAT_SCRIPTING), 0, 0, 0, NULL, cmd_evalsha, cmd_reply_script,
     "Run a cached script by its SHA1", "scripting", "Depends on the script that is executed.", NULL, 0, 0},
    {"eval_ro", -3, CMDF_READONLY | CMDF_STALE, CAT(CAT_SCRIPTING), 0, 0, 0, NULL, cmd_eval_ro, cmd_reply_script,
     "Run a read-only Lua script (writes refused)", "scripting", "Depends on the script that is executed.", NULL, 0, 0},
    {"evalsha_ro", -3, CMDF_READONLY | CMDF_STALE, CAT(CAT_SCRIPTING), 0, 0, 0, NULL, cmd_evalsha_ro, cmd_reply_script,
     "Run a cached read-only script by its SHA1", "scripting", "Depends on the script that is executed.", NULL, 0, 0},
    {"script", -2, 0, 0, 0, 0, 0, NULL, NULL, NULL, "A container for Lua scripts commands", "scripting",
     "Depends on subcommand.", SUBS(12, 3), 0},
    {"multi", 1, CMDF_NO_MULTI | CMDF_FAST | CMDF_LOADING | CMDF_STALE, CAT(CAT_TRANSACTION), 0, 0, 0, NULL,
     cmd_multi, NULL, "Start a transaction: later commands are queued until EXEC", "transactions", "O(1)",
     NULL, 0, 0},
    {"exec", 1, CMDF_LOADING | CMDF_STALE, CAT(CAT_TRANSACTION), 0, 0, 0, NULL, cmd_exec, cmd_reply_exec,
     "Run the queued commands as one replicated entry, atomically; nil if a watched key changed",
     "transactions", "Depends on commands in the transaction", NULL, 0, 0},
    {"discard", 1, CMDF_NO_MULTI | CMDF_FAST | CMDF_LOADING | CMDF_STALE, CAT(CAT_TRANSACTION), 0, 0, 0, NULL,
     cmd_discard, NULL, "Drop the queued commands and the watches", "transactions",
     "O(N), when N is the number of queued commands", NULL, 0, 0},
    {"watch", -2, CMDF_NO_MULTI | CMDF_FAST | CMDF_LOADING | CMDF_STALE, CAT(CAT_TRANSACTION), 1, -1, 1, "RO",
     cmd_watch, cmd_reply_watch, "Make the next EXEC answer nil if any of the keys is written before it",
     "transactions", "O(1) for every key.", NULL, 0, 0},
    {"unwatch", 1, CMDF_FAST | CMDF_LOADING | CMDF_STALE, CAT(CAT_TRANSACTION), 0, 0, 0, NULL, cmd_unwatch, NULL,
     "Forget every watched key", "transactions", "O(1)", NULL, 0, 0},
    {"raft.transfer_leader", -1, CMDF_ADMIN | CMDF_NO_MULTI, 0, 0, 0, 0, NULL, cmd_raft_transfer_leader, NULL,
     "Hand leadership to the member named (or the most up-to-date one); +OK once it leads", "server",
     "O(1)", NULL, 0, 0},
    {"raft.node", -2, CMDF_ADMIN | CMDF_NO_MULTI, 0, 0, 0, 0, NULL, cmd_raft_node, NULL,
     "Membership: ADD name host:port [LEARNER], PROMOTE name, REMOVE name, LIST; +OK once the change commits",
     "server", "O(N) where N is the number of members", NULL, 0, 0},
    {"raftkv.backup", -2, CMDF_ADMIN | CMDF_NO_MULTI, 0, 0, 0, 0, NULL, cmd_raftkv_backup, NULL,
     "A linearizable image of the whole state machine, read in chunks (raftkv backup)", "server",
     "O(N) where N is the number of keys", NULL, 0, 0},
    {"debug.cut", 3, CMDF_ADMIN | CMDF_DEBUG, 0, 0, 0, 0, NULL, cmd_debug_cut, NULL,
     "Drop every frame to and from a peer for some milliseconds (tests only)", "server", "O(1)", NULL, 0, 0},
};
const size_t command_table_len = sizeof command_table / sizeof command_table[0];

static const struct command_def *command_ids[COMMAND_MAX_IDS];
static size_t command_n_ids;

_Static_assert(sizeof command_table / sizeof command_table[0] + sizeof command_subs / sizeof command_subs[0] <=
                   COMMAND_MAX_IDS,
               "a user's permission bitmap has COMMAND_MAX_IDS bits");

int command_table_init(void)
{
    if (command_n_ids)
        return (int)command_n_ids;
    size_t n = 0;
    for (size_t i = 0; i < command_table_len; i++) {
        command_table[i].id = (int)n;
        command_ids[n++] = &command_table[i];
    }
    for (size_t i = 0; i < sizeof command_subs / sizeof command_subs[0]; i++) {
        command_subs[i].id = (int)n;
        command_ids[n++] = &command_subs[i];
    }
    command_n_ids = n;
    return (int)n;
}

const struct command_def *command_by_id(int id)
{
    command_table_init();
    return id >= 0 && (size_t)id < command_n_ids ? command_ids[id] : NULL;
}

size_t command_count_ids(void)
{
    command_table_init();
    return command_n_ids;
}

static bool name_is(const char *row, const char *name, size_t len)
{
    return strlen(row) == len && strncasecmp(row, name, len) == 0;
}

const struct command_def *command_lookup(const char *name, size_t len, bool debug)
{
    for (size_t i = 0; i < command_table_len; i++) {
        const struct command_def *c = &command_table[i];
        if (name_is(c->name, name, len))
            return (c->flags & CMDF_DEBUG) && !debug ? NULL : c;
    }
    return NULL;
}

const struct command_def *command_lookup_sub(const struct command_def *c, const char *name, size_t len)
{
    size_t base = strlen(c->name) + 1; /* "client|" */
    for (size_t i = 0; i < c->n_subs; i++) {
        const char *sub = c->subs[i].name + base;
        if (name_is(sub, name, len))
            return &c->subs[i];
    }
    return NULL;
}

const struct command_def *command_lookup_full(const char *name, size_t len, bool debug)
{
    const char *bar = memchr(name, '|', len);
    if (!bar)
        return command_lookup(name, len, debug);
    const struct command_def *c = command_lookup(name, (size_t)(bar - name), debug);
    return c ? command_lookup_sub(c, bar + 1, len - (size_t)(bar - name) - 1) : NULL;
}

uint32_t command_categories(const struct command_def *c)
{
    uint32_t cat = c->categories;
    if (c->flags & CMDF_WRITE)
        cat |= CAT(CAT_WRITE);
    if (c->flags & CMDF_READONLY)
        cat |= CAT(CAT_READ);
    if (c->flags & CMDF_ADMIN)
        cat |= CAT(CAT_ADMIN) | CAT(CAT_DANGEROUS);
    if (c->flags & CMDF_MAY_BLOCK)
        cat |= CAT(CAT_BLOCKING);
    cat |= (c->flags & CMDF_FAST) ? CAT(CAT_FAST) : CAT(CAT_SLOW);
    return cat;
}

static const char *const category_names[CAT_COUNT] = {
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog", "geo",
    "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection", "transaction", "scripting",
};

const char *command_category_name(int cat)
{
    return cat >= 0 && cat < CAT_COUNT ? category_names[cat] : NULL;
}

int command_category_lookup(const char *name, size_t len)
{
    for (int i = 0; i < CAT_COUNT; i++)
        if (name_is(category_names[i], name, len))
            return i;
    return -1;
}

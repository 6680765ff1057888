#!/usr/bin/python3
"""redis_compare.py - raftkv's replies side by side with a real redis-server's.

  redis_compare.py --raftkv PORT --redis PORT [--seed N] [--count N]
  redis_compare.py --differences        the table of documented differences, as Markdown

A seeded generator (the seed is printed; REDIS_COMPARE_SEED=N or --seed N
replays it) draws commands from CATALOG, templates for Redis 7.0's string,
key, expiry, transaction and server commands with right and wrong arity,
non-integer and huge numbers, negative counts, missing keys, binary values
and unknown options. Only commands raftkv lists in `COMMAND` are sent to both
servers, over raw sockets (two connections to each, the second one to disturb
WATCHed keys; half the transactions without it go in one write, WATCH to
EXEC), and their replies compared: the same RESP type and the same
bytes. The others are sent to raftkv alone, which must answer Redis's
unknown-command (or unknown-subcommand) error exactly; so coverage grows by
itself as commands land. DIFFERENCES is the one table of replies that
legitimately differ, each with its reason; rows of kind "gap" are today's
shortcomings, tolerated only when raftkv's reply is exactly the one
recorded (REDIS_COMPARE_STRICT=1 fails on them), and reported as stale once
raftkv stops producing them. On a mismatch: the seed, the command's index,
the command, both replies and the commands before it; exit 1.
"""
import argparse
import os
import random
import re
import socket
import sys
import time

# ---- RESP over a socket ------------------------------------------------------------


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """One connection; replies parsed to (type, value) so types are kept:
    '+' '-' simple/error bytes, ':' int, '$' bytes or None, '*' list or None,
    RESP3 '_' None, ',' '(' '#' bytes, '=' bytes, '%' list of pairs, '~' '>' list."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")

    def call(self, args):
        self.s.sendall(encode(args))
        return self.read()

    def line(self):
        l = self.f.readline()
        if not l.endswith(b"\r\n"):
            raise ConnectionError("connection closed")
        return l[:-2]

    def read(self):
        l = self.line()
        t, rest = chr(l[0]), l[1:]
        if t in "+-,(#":
            return (t, rest)
        if t == ":":
            return (t, int(rest))
        if t == "_":
            return (t, None)
        if t in "$=!":
            n = int(rest)
            if n < 0:
                return (t, None)
            data = self.f.read(n + 2)[:-2]
            return ("$" if t == "$" else t, data)
        if t in "*~>":
            n = int(rest)
            return (t, None if n < 0 else [self.read() for _ in range(n)])
        if t == "%":
            n = int(rest)
            return (t, [(self.read(), self.read()) for _ in range(n)])
        if t == "|":  # attributes: skip them, return the reply they annotate
            for _ in range(2 * int(rest)):
                self.read()
            return self.read()
        raise ValueError("bad RESP line %r" % l)


def show(r):
    t, v = r
    if t in "*~>" and v is not None:
        return "%s[%s]" % (t, ", ".join(show(x) for x in v))
    if t == "%":
        return "%{" + ", ".join("%s: %s" % (show(k), show(x)) for k, x in v) + "}"
    return "%s%r" % (t, v)


# ---- The generator -------------------------------------------------------------------

INTS = [b"0", b"1", b"-1", b"5", b"100", b"-100", b"3", b"9223372036854775807", b"-9223372036854775808",
        b"9223372036854775808", b"99999999999999999999", b"abc", b"", b"1.5", b"+1", b" 1", b"01", b"1e3",
        b"0x10", b"-0"]
FLOATS = [b"1.5", b"-2.25", b"0", b"1e3", b"inf", b"-inf", b"nan", b"abc", b"", b"1e400", b"5", b"0.1",
          b"+1.0", b" 1"]
VALUES = [b"", b"v", b"hello", b"\x00", b"a\x00b\xff", b"\xff\xfe", b"12", b"-7", b"3.5", b"0",
          b"9223372036854775807", b"-9223372036854775808", b"1e3", b" 1", b"x" * 100, b"\r\n", b"'quote'",
          b"nan", b"10.50"]


class Gen:
    def __init__(self, rng, prefix):
        self.rng = rng
        self.p = prefix
        self.names = [b"a", b"b", b"c", b"d", b"{t}e", b"\x00\xff"]
        self.keys = []  # the keys of the command being generated

    def key(self, missing=False):
        k = self.p + (b"never" if missing or self.rng.random() < 0.05 else self.rng.choice(self.names))
        self.keys.append(k)
        return k

    def val(self):
        r = self.rng.random()
        if r < 0.02:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.choice([1000, 5000])))
        return self.rng.choice(VALUES)

    def int(self):
        return self.rng.choice(INTS) if self.rng.random() < 0.4 else b"%d" % self.rng.randint(-20, 20)

    def count(self):  # a small non-negative number, now and then a bad one
        return b"%d" % self.rng.randint(0, 10) if self.rng.random() < 0.8 else self.rng.choice(INTS)

    def float(self):
        return self.rng.choice(FLOATS)

    def secs(self):  # an expiry far enough not to pass during the run, or an odd one
        r = self.rng.random()
        if r < 0.7:
            return b"%d" % self.rng.randint(100, 100000)
        return self.rng.choice([b"0", b"-1", b"abc", b"", b"9223372036854775807", b"1.5", b"-100"])

    def ms(self):  # the same in milliseconds: never short enough to pass between the two servers' replies
        r = self.secs()
        return r + b"000" if r.isdigit() and r != b"0" else r

    def at(self, ms=False):  # an absolute time, mostly in the future
        now = int(time.time() * (1000 if ms else 1))
        r = self.rng.random()
        if r < 0.7:
            return b"%d" % (now + self.rng.randint(100, 100000) * (1000 if ms else 1))
        if r < 0.85:
            return b"%d" % (now - 1000)  # in the past: deletes
        return self.rng.choice([b"abc", b"-1", b"9223372036854775807"])

    def pick(self, *xs):
        return self.rng.choice(xs)

    def some(self, f, lo=1, hi=4):
        return [x for _ in range(self.rng.randint(lo, hi)) for x in f()]

    def pattern(self):
        return self.pick(b"*", self.p + b"*", self.p + b"?", self.p + b"[a-c]", b"nomatch*", self.p + b"\\*",
                         self.p + b"[^a]*", b"")


def set_opts(g):
    opts = []
    for _ in range(g.rng.randint(1, 3)):
        o = g.pick("EX", "PX", "EXAT", "PXAT", "NX", "XX", "GET", "KEEPTTL", "ex", "BOGUS")
        if o.upper() == "EX":
            opts += [o.encode(), g.secs()]
        elif o.upper() == "PX":
            opts += [o.encode(), g.ms()]
        elif o.upper() == "EXAT":
            opts += [o.encode(), g.at()]
        elif o.upper() == "PXAT":
            opts += [o.encode(), g.at(ms=True)]
        else:
            opts.append(o.encode())
    if g.rng.random() < 0.05:
        opts.append(b"EX")  # an option without its value
    return opts


def expire_opts(g):
    return [g.pick(b"NX", b"XX", b"GT", b"LT", b"nx", b"BOGUS")] if g.rng.random() < 0.4 else []


# Script bodies: redis-py lock()'s own, the commands scripts call most,
# Redis's conversion rules and its error texts.
SCRIPTS = [
    b"return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', 100000)",
    b"local t = redis.call('get', KEYS[1]) if not t or t ~= ARGV[1] then return 0 end "
    b"redis.call('del', KEYS[1]) return 1",
    b"local t = redis.call('get', KEYS[1]) if not t or t ~= ARGV[1] then return 0 end "
    b"local e = redis.call('pttl', KEYS[1]) if e < 0 then return 0 end "
    b"redis.call('pexpire', KEYS[1], ARGV[1] .. '000') return 1",
    b"return redis.call('incrby', KEYS[1], ARGV[1])",
    b"return redis.pcall('incr', KEYS[1])",
    b"return {redis.call('exists', KEYS[1]), redis.call('type', KEYS[1]), redis.call('ttl', KEYS[1])}",
    b"redis.call('mset', KEYS[1], ARGV[1], KEYS[2], ARGV[1]) return redis.call('mget', KEYS[1], KEYS[2])",
    b"return redis.call('append', KEYS[1], ARGV[1])",
    b"return {1, 2.9, 'x', {ok='fine'}, false, true, {3, {4}}, nil, 9}",
    b"return {err='My Error'}",
    b"return redis.call('get')",
    b"return redis.call('nosuch', KEYS[1])",
    b"return redis.call('set', KEYS[1], ARGV[1], 'BOGUS')",
    b"error('boom')",
    b"x = 1",
    b"return os.time()",
    b"syntax error here",
    b"return redis.call('getset', KEYS[1], ARGV[1])",
    b"return redis.call('del', KEYS[1], KEYS[2])",
    # commands scripts reach through the server's own argument parser
    # (src/kv/command_args.c): replies and error texts as redis-server's
    b"return redis.pcall('getex', KEYS[1], 'EX', ARGV[1])",
    b"return redis.pcall('setex', KEYS[1], ARGV[1], 'v')",
    b"return redis.pcall('getrange', KEYS[1], 0, ARGV[1])",
    b"return redis.pcall('incrbyfloat', KEYS[1], ARGV[1])",
    b"return redis.pcall('expire', KEYS[1], ARGV[1], 'GT')",
    b"return redis.pcall('set', KEYS[1], 'v', 'PX', ARGV[1], 'KEEPTTL')",
]


def sha1hex(b):
    import hashlib
    return hashlib.sha1(b).hexdigest().encode()


SCRIPT_SHAS = [sha1hex(b) for b in SCRIPTS]

# Sent first, on one connection, whatever the seed (no draw from it): the
# script cache inside one transaction, where raftkv decides from the log
# entry what Redis decides by running EXEC's commands in order (a flush
# then EVALSHA: NOSCRIPT; LOAD or EVAL after it: runs), and an EVALSHA
# right after an EVAL that did not compile (a follower answers EVAL before
# applying it).
_R7, _R8 = b"return 7", b"return redis.call('set', KEYS[1], 'v8')"
FIXED_SCRIPT_CASES = [
    [b"SCRIPT", b"LOAD", _R7], [b"SCRIPT", b"LOAD", _R8],
    [b"MULTI"], [b"SCRIPT", b"FLUSH", b"SYNC"], [b"AUTH", b"pw"], [b"EVALSHA_RO", sha1hex(_R7), b"0"],
    [b"EVALSHA", sha1hex(_R8), b"1", b"{fx}k"], [b"SCRIPT", b"EXISTS", sha1hex(_R7), sha1hex(_R8)], [b"EXEC"],
    [b"GET", b"{fx}k"], [b"EVALSHA", sha1hex(_R7), b"0"],
    [b"MULTI"], [b"SCRIPT", b"LOAD", _R7], [b"EVALSHA", sha1hex(_R7).upper(), b"0"], [b"EVAL", _R8, b"1", b"{fx}k"],
    [b"EVALSHA", sha1hex(_R8), b"1", b"{fx}k"], [b"SCRIPT", b"FLUSH"], [b"EVALSHA", sha1hex(_R7), b"0"],
    [b"EVAL", _R7, b"0"], [b"EVALSHA", sha1hex(_R7), b"0"], [b"SCRIPT", b"EXISTS", sha1hex(_R7), sha1hex(_R8)],
    [b"EXEC"],
    [b"EVALSHA", sha1hex(_R7), b"0"], [b"EVALSHA", sha1hex(_R8), b"1", b"{fx}k"],
    [b"EVAL", b"syntax error here", b"0"], [b"EVALSHA", sha1hex(b"syntax error here"), b"0"],
    [b"DEL", b"{fx}k"], [b"SCRIPT", b"FLUSH"],
]


def script_args(g, sha=False):
    i = g.rng.randrange(len(SCRIPTS))
    head = SCRIPT_SHAS[i] if sha else SCRIPTS[i]
    if sha and g.rng.random() < 0.1:
        head = g.pick(b"0123456789012345678901234567890123456789", b"abc")
    nk = g.rng.choice([0, 1, 2, 2, 2])
    args = [g.key() for _ in range(nk)] + [g.pick(b"1", b"10", b"tok", g.val())]
    if g.rng.random() < 0.05:
        return [head, g.pick(b"-1", b"abc", b"9")] + args  # a bad numkeys
    return [head, b"%d" % nk] + args


# (command name as COMMAND lists it, template). A template returns the
# arguments after the command's name; Gen records the keys it used.
CATALOG = [
    # strings
    ("get", lambda g: [g.key()]),
    ("set", lambda g: [g.key(), g.val()]),
    ("set", lambda g: [g.key(), g.val()] + set_opts(g)),
    ("getset", lambda g: [g.key(), g.val()]),
    ("getdel", lambda g: [g.key()]),
    ("getex", lambda g: [g.key()] + g.pick([], [b"EX", g.secs()], [b"PX", g.ms()], [b"EXAT", g.at()],
                                          [b"PXAT", g.at(True)], [b"PERSIST"], [b"PERSIST", b"EX", b"10"],
                                          [b"BOGUS"], [b"EX"])),
    ("setnx", lambda g: [g.key(), g.val()]),
    ("setex", lambda g: [g.key(), g.secs(), g.val()]),
    ("psetex", lambda g: [g.key(), g.ms(), g.val()]),
    ("mset", lambda g: g.some(lambda: [g.key(), g.val()])),
    ("mset", lambda g: g.some(lambda: [g.key(), g.val()]) + [g.key()]),  # odd count
    ("msetnx", lambda g: g.some(lambda: [g.key(), g.val()])),
    ("mget", lambda g: g.some(lambda: [g.key()], 1, 5)),
    ("append", lambda g: [g.key(), g.val()]),
    ("strlen", lambda g: [g.key()]),
    ("getrange", lambda g: [g.key(), g.int(), g.int()]),
    ("substr", lambda g: [g.key(), g.int(), g.int()]),
    ("setrange", lambda g: [g.key(), g.pick(b"0", b"1", b"3", b"-1", b"abc", b"536870912", b"100"), g.val()]),
    ("incr", lambda g: [g.key()]),
    ("decr", lambda g: [g.key()]),
    ("incrby", lambda g: [g.key(), g.int()]),
    ("decrby", lambda g: [g.key(), g.int()]),
    ("incrbyfloat", lambda g: [g.key(), g.float()]),
    ("lcs", lambda g: [g.key(), g.key()] + g.pick([], [b"LEN"], [b"IDX"], [b"IDX", b"MINMATCHLEN", g.int()],
                                               [b"IDX", b"WITHMATCHLEN"], [b"BOGUS"], [b"LEN", b"IDX"],
                                               [b"IDX", b"MINMATCHLEN", g.count(), b"WITHMATCHLEN"],
                                               [b"MINMATCHLEN"], [b"WITHMATCHLEN"], [b"len", b"MINMATCHLEN", b"2"],
                                               [b"idx", b"idx"])),
    # keys
    ("del", lambda g: g.some(lambda: [g.key()], 1, 4)),
    ("unlink", lambda g: g.some(lambda: [g.key()], 1, 4)),
    ("exists", lambda g: g.some(lambda: [g.key()], 1, 4)),
    ("type", lambda g: [g.key()]),
    ("rename", lambda g: [g.key(), g.key()]),
    ("renamenx", lambda g: [g.key(), g.key()]),
    ("copy", lambda g: [g.key(), g.key()] + g.pick([], [b"REPLACE"], [b"DB", b"0"], [b"DB", b"1"],
                                               [b"BOGUS"], [b"DB", b"abc"])),
    ("touch", lambda g: g.some(lambda: [g.key()], 1, 4)),
    ("keys", lambda g: [g.pattern()]),
    ("scan", lambda g: [b"0"] + g.pick([], [b"MATCH", g.pattern()], [b"COUNT", b"1000"],
                                         [b"TYPE", g.pick(b"string", b"list", b"bogus")], [b"COUNT", b"0"],
                                         [b"COUNT", b"abc"], [b"BOGUS", b"x"], [b"MATCH"])),
    ("scan", lambda g: [g.pick(b"abc", b"-1", b"18446744073709551616", b"")]),
    ("randomkey", lambda g: []),
    ("dbsize", lambda g: []),
    ("object", lambda g: [b"ENCODING", g.key()]),
    # expiry
    ("expire", lambda g: [g.key(), g.secs()] + expire_opts(g)),
    ("pexpire", lambda g: [g.key(), g.ms()] + expire_opts(g)),
    ("expireat", lambda g: [g.key(), g.at()] + expire_opts(g)),
    ("pexpireat", lambda g: [g.key(), g.at(True)] + expire_opts(g)),
    ("ttl", lambda g: [g.key()]),
    ("pttl", lambda g: [g.key()]),
    ("expiretime", lambda g: [g.key()]),
    ("pexpiretime", lambda g: [g.key()]),
    ("persist", lambda g: [g.key()]),
    # transactions (blocks of MULTI ... EXEC are made by steps() too)
    ("multi", lambda g: []),
    ("exec", lambda g: []),
    ("discard", lambda g: []),
    ("watch", lambda g: g.some(lambda: [g.key()], 1, 2)),
    ("unwatch", lambda g: []),
    # server and connection
    ("ping", lambda g: g.pick([], [g.val()])),
    ("echo", lambda g: [g.val()]),
    ("time", lambda g: []),
    ("role", lambda g: []),
    ("info", lambda g: g.pick([], [b"server"], [b"keyspace"], [b"bogus"], [b"server", b"clients"])),
    ("select", lambda g: [g.pick(b"0", b"abc", b"16", b"-1", b"1", b"")]),
    ("auth", lambda g: g.pick([b"pw"], [b"default", b"pw"])),
    ("hello", lambda g: g.pick([b"2"], [b"3"], [b"4"], [b"abc"], [b"2", b"BOGUS"], [b"2", b"SETNAME", b"n1"])),
    ("client|id", lambda g: []),
    ("client|getname", lambda g: []),
    ("client|setname", lambda g: [g.pick(b"rc", b"", b"a b", b"\xff", b"name-1")]),
    ("client|list", lambda g: g.pick([], [b"TYPE", b"normal"], [b"TYPE", b"bogus"])),
    ("client|info", lambda g: []),
    ("client|setinfo", lambda g: [g.pick(b"LIB-NAME", b"LIB-VER", b"bogus"), b"x"]),
    ("client|kill", lambda g: [b"ID", b"999999"]),
    ("client|no-evict", lambda g: [g.pick(b"on", b"off", b"bogus")]),
    ("config|get", lambda g: [g.pick(b"timeout", b"save", b"appendonly", b"databases", b"maxmemory",
                                     b"nonexistent", b"*max-*-entries*")]),
    ("command|count", lambda g: []),
    ("command|info", lambda g: [g.pick(b"get", b"set", b"del", b"mget", b"exists", b"ping", b"incr",
                                       b"nosuchcommand")]),
    ("command|docs", lambda g: [g.pick(b"get", b"nosuchcommand")]),
    ("acl|whoami", lambda g: []),
    ("flushdb", lambda g: g.pick([], [b"ASYNC"], [b"SYNC"], [b"BOGUS"])),
    ("flushall", lambda g: g.pick([], [b"ASYNC"], [b"BOGUS"])),
    ("lastsave", lambda g: []),
    ("lolwut", lambda g: []),  # a Redis command raftkv will not have: the unknown-command check
    ("frobnicate", lambda g: g.some(lambda: [g.val()], 0, 3)),  # known to neither
    ("cas", lambda g: [g.key(), g.val(), g.val()]),
    ("leader", lambda g: []),
    # Lua scripts (math.random is left out: Redis 7.0 does not reseed it per script, raftkv does)
    ("eval", lambda g: script_args(g)),
    ("eval_ro", lambda g: script_args(g)),
    ("evalsha", lambda g: script_args(g, sha=True)),
    ("evalsha_ro", lambda g: script_args(g, sha=True)),
    ("script|load", lambda g: [g.pick(*SCRIPTS)]),
    ("script|exists", lambda g: g.some(lambda: [g.pick(*SCRIPT_SHAS, b"ffff", b"")], 1, 3)),
    ("script|flush", lambda g: g.pick([], [b"ASYNC"], [b"SYNC"], [b"BOGUS"])),
]

# ---- The documented differences ------------------------------------------------------
# One row per reply that legitimately differs from Redis 7.0's. Modes:
#   skip          not sent (the reason says why)
#   type          the same RESP type
#   shape         the same structure (types, lengths, map keys), leaves compared by type
#   time          TIME: the shape, and both within 5 s of each other
#   tolerance N   integers within N of each other (negative ones exactly)
#   unordered     arrays compared as multisets
#   scan          [cursor, keys]: keys compared as sets when a SCAN from 0 ends at 0 on both, else the shape
#   randomkey     equal, or both a key
#   verbatim      a bulk string where Redis gives a verbatim one
#   raftkv-error  raftkv's reply is exactly the error RE (full match); Redis's is anything;
#                 the command's keys are then deleted on both, and AFTER is sent to Redis
# kind "design": raftkv differs on purpose; "gap": today's shortcoming, to be fixed.


def words(*ws):
    ws = [w.encode() for w in ws]
    return lambda a: len(a) >= len(ws) and all(x.lower() == w for x, w in zip(a, ws))


DIFFERENCES = [
    dict(name="TIME", match=words("time"), mode="time", kind="design",
         reason="two clocks; raftkv answers its own time"),
    dict(name="INFO", match=words("info"), mode="shape", kind="design",
         reason="each server describes itself: Redis's sections and field names, raftkv's values and its "
         "own fields and `raft` section"),
    dict(name="ROLE", match=words("role"), mode="type", kind="design",
         reason="the leader answers as a master with its followers, the others as replicas of the leader "
         "(src/server/role.h)"),
    dict(name="HELLO", match=words("hello"), mode="shape", kind="design",
         reason="server name, version, connection id"),
    dict(name="CLIENT ID/LIST/INFO", match=lambda a: words("client")(a) and len(a) > 1 and
         a[1].lower() in (b"id", b"list", b"info"), mode="shape", kind="design",
         reason="connection ids and addresses differ between two servers"),
    dict(name="CLIENT SETINFO", match=words("client", "setinfo"), mode="skip", kind="design",
         reason="Redis 7.2's; raftkv accepts it for newer clients, Redis 7.0 does not know it"),
    dict(name="COMMAND, COMMAND COUNT, COMMAND DOCS", match=lambda a: words("command")(a) and
         (len(a) == 1 or a[1].lower() in (b"count", b"docs")), mode="type", kind="design",
         reason="raftkv lists its own commands, with its own summaries; DOCS has no `arguments`"),
    dict(name="COMMAND INFO", match=lambda a: words("command", "info")(a), mode="command-info", kind="design",
         reason="nil for a command raftkv lacks; no command tips (request_policy, response_policy: cluster "
         "routing hints), no key-spec `notes`, and SET's key spec lacks `variable_flags` (its GET option is "
         "not implemented yet); otherwise name, arity, flags, keys, categories and key "
         "specs as Redis's"),
    dict(name="RANDOMKEY", match=words("randomkey"), mode="randomkey", kind="design",
         reason="random when there is more than one key"),
    dict(name="SCAN", match=words("scan"), mode="scan", kind="design",
         reason="cursors are each server's own; a full scan returns the same keys"),
    dict(name="KEYS", match=words("keys"), mode="unordered", kind="design",
         reason="order of a hash table's iteration"),
    dict(name="DBSIZE", match=words("dbsize"), mode="tolerance", tol=1, kind="design",
         reason="both count a key past its deadline until it is removed; Redis keeps one that SET gave a past "
         "EXAT/PXAT inside EXEC until its active expiry, raftkv removes it at once"),
    dict(name="TTL, EXPIRETIME", match=lambda a: words("ttl")(a) or words("expiretime")(a),
         mode="tolerance", tol=2, kind="design", reason="the two servers set the deadline at different instants"),
    dict(name="PTTL, PEXPIRETIME", match=lambda a: words("pttl")(a) or words("pexpiretime")(a),
         mode="tolerance", tol=2000, kind="design", reason="as TTL, in milliseconds"),
    dict(name="SELECT n (n > 0)", match=lambda a: words("select")(a) and len(a) == 2 and
         re.fullmatch(rb"[1-9]|1[0-5]", a[1]) is not None, mode="raftkv-error",
         re=rb"-ERR raftkv has only database 0", after=[[b"SELECT", b"0"]], kind="design",
         reason="one key space, replicated as a whole"),
    dict(name="COPY ... DB n", match=lambda a: words("copy")(a) and b"db" in [x.lower() for x in a[3:]],
         mode="skip", kind="design", reason="one database only"),
    dict(name="OBJECT ENCODING", match=words("object"), mode="skip", kind="design",
         reason="raftkv's values have no Redis encodings"),
    dict(name="LASTSAVE, LOLWUT", match=lambda a: words("lastsave")(a) or words("lolwut")(a), mode="shape",
         kind="design", reason="differ between any two servers"),
    dict(name="CAS, LEADER", match=lambda a: words("cas")(a) or words("leader")(a), mode="skip", kind="design",
         reason="raftkv's own commands, which Redis lacks"),
    dict(name="LCS past --max-lcs-cells", match=words("lcs"), mode="raftkv-error",
         re=rb"-ERR Insufficient memory, transient memory for LCS exceeds max-lcs-cells", kind="design",
         reason="LCS runs on the event loop in time and memory (len1+1)*(len2+1): past --max-lcs-cells "
         "(default 4194304 cells, two values of 2 KiB) raftkv refuses, in Redis's words for its own bound "
         "(512 MiB of table)"),
    dict(name="CONFIG GET", match=words("config", "get"), mode="type", kind="design",
         reason="raftkv answers each name asked for, in order, with its value or \"\" (appendonly yes, "
         "appendfsync always, timeout, maxclients), as redis-benchmark and redis-cli need; Redis omits unknown "
         "names and expands glob patterns"),
]


def differences(args, unknown=False, strict=False):
    """The rows that may excuse a differing reply to ARGS, in the table's order."""
    return [d for d in DIFFERENCES if bool(d.get("unknown_only")) == unknown and d["match"](args)
            and not (strict and d["kind"] == "gap")]


# ---- Comparing -------------------------------------------------------------------------


def same_shape(a, b):
    if a[0] != b[0]:
        return False
    if a[0] in "*~>" and a[1] is not None and b[1] is not None:
        return len(a[1]) == len(b[1]) and all(same_shape(x, y) for x, y in zip(a[1], b[1]))
    if a[0] == "%":
        ka = sorted(k[1] for k, _ in a[1])
        kb = sorted(k[1] for k, _ in b[1])
        return ka == kb and all(v1[0] == v2[0] for (_, v1), (_, v2) in
                                zip(sorted(a[1], key=lambda p: p[0][1]), sorted(b[1], key=lambda p: p[0][1])))
    return (a[1] is None) == (b[1] is None)


def normal_info(e):
    """A COMMAND INFO entry without its tips and its key specs' notes."""
    if e[1] is None:
        return e
    v = list(e[1])
    v[7] = ("*", [])
    specs = []
    for spec in v[8][1] or []:
        kv = spec[1] if spec[0] == "%" else list(zip(spec[1][0::2], spec[1][1::2]))
        pairs = [(k, v) if k[1] != b"flags" else (k, [f for f in v[1] if f[1] != b"variable_flags"])
                 for k, v in kv if k[1] != b"notes"]
        specs.append(pairs)
    v[8] = specs
    return v


def agree(d, mine, theirs, args):
    """Whether raftkv's reply MINE is acceptable against Redis's THEIRS under row D."""
    if mine == theirs:
        return True
    if d is None:
        return False
    m = d["mode"]
    if m == "shape":
        return same_shape(mine, theirs)
    if m == "type":
        return mine[0] == theirs[0]
    if m == "verbatim":
        return mine[0] == "$" and theirs[0] == "="
    if m == "command-info":
        if mine[0] != "*" or theirs[0] != "*" or len(mine[1]) != len(theirs[1]):
            return False
        return all(a[1] is None or normal_info(a) == normal_info(b) for a, b in zip(mine[1], theirs[1]))
    if m == "time":
        return same_shape(mine, theirs) and mine[0] == "*" and abs(int(mine[1][0][1]) - int(theirs[1][0][1])) <= 5
    if m == "tolerance":
        return mine[0] == theirs[0] == ":" and mine[1] >= 0 and theirs[1] >= 0 and \
            abs(mine[1] - theirs[1]) <= d["tol"]
    if m == "unordered":
        return mine[0] == theirs[0] and mine[1] is not None and theirs[1] is not None and \
            sorted(mine[1]) == sorted(theirs[1])
    if m == "scan":
        if not (same_shape(mine, theirs) and mine[0] == "*" and len(mine[1]) == 2 and mine[1][1][0] == "*"):
            # shapes differ: arrays of keys of different lengths are fine when a cursor is not 0
            if not (mine[0] == theirs[0] == "*" and len(mine[1]) == len(theirs[1]) == 2):
                return False
        c1, c2 = mine[1][0][1], theirs[1][0][1]
        if c1 == c2 == b"0" and args[1] == b"0":
            return sorted(mine[1][1][1]) == sorted(theirs[1][1][1])
        return mine[1][1][0] == theirs[1][1][0] == "*"
    if m == "randomkey":
        return mine[0] == theirs[0] == "$" and mine[1] is not None and theirs[1] is not None
    if m == "raftkv-error":
        return mine[0] == "-" and re.fullmatch(d["re"], b"-" + mine[1]) is not None
    return False


def unknown_text(args, listed_containers):
    """The error Redis 7.0 gives for a command it does not have (or a container's unknown subcommand)."""
    name = args[0]
    if name.lower().decode("latin-1") in listed_containers and len(args) >= 2:
        msg = b"ERR unknown subcommand '%s'. Try %s HELP." % (args[1].split(b"\0")[0][:128], name.upper())
    else:
        rest = b""
        for a in args[1:]:
            if len(rest) >= 128:
                break
            rest += b"'" + a.split(b"\0")[0][:128 - len(rest)] + b"' "
        msg = b"ERR unknown command '%s', with args beginning with: %s" % (name.split(b"\0")[0][:128], rest)
    return ("-", msg.replace(b"\r", b" ").replace(b"\n", b" "))


def listed_commands(port):
    c = Conn(port)
    r = c.call([b"COMMAND"])
    names, containers = set(), set()
    for e in r[1]:
        n = e[1][0][1].decode().lower()
        names.add(n)
        if len(e[1]) > 9 and e[1][9][0] == "*" and e[1][9][1]:
            containers.add(n)
            for s in e[1][9][1]:
                names.add(s[1][0][1].decode().lower())
    return names, containers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raftkv", type=int)
    ap.add_argument("--redis", type=int)
    ap.add_argument("--seed", type=int, default=int(os.environ.get("REDIS_COMPARE_SEED", "0")) or None)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--differences", action="store_true")
    o = ap.parse_args()
    if o.differences:
        for d in DIFFERENCES:
            tag = " (to be fixed)" if d["kind"] == "gap" else ""
            print("- %s%s: %s." % (d["name"], tag, d["reason"]))
        return 0
    seed = o.seed if o.seed is not None else random.SystemRandom().randrange(1, 2**31)
    strict = os.environ.get("REDIS_COMPARE_STRICT") == "1"
    print("seed %d (REDIS_COMPARE_SEED=%d replays)" % (seed, seed))
    listed, containers = listed_commands(o.raftkv)
    rng = random.Random(seed)
    g = Gen(rng, b"rc:%d:" % seed)
    ours = [Conn(o.raftkv), Conn(o.raftkv)]
    theirs = [Conn(o.redis), Conn(o.redis)]
    have = [(n, t) for n, t in CATALOG if n in listed]
    lacking = sorted({n for n, _ in CATALOG if n not in listed})
    print("compared with redis-server (raftkv lists them): %s" % " ".join(sorted({n for n, _ in have})))
    print("raftkv lacks (checked for Redis's unknown-command error): %s" % " ".join(lacking))
    for c in (ours[0], theirs[0]):  # the same key space on both: empty
        if "flushall" in listed:
            c.call([b"FLUSHALL"])
        elif "del" in listed:
            c.call([b"DEL"] + [g.p + n for n in g.names + [b"never"]])
        if "script|flush" in listed:  # and the same script cache: empty
            c.call([b"SCRIPT", b"FLUSH"])
    # Redis's arity per command, for the wrong-arity templates.
    arity = {}
    rc = Conn(o.redis)
    for n, _ in CATALOG:
        info = rc.call([b"COMMAND", b"INFO"] + [w.encode() for w in n.split("|")][:1])
        if info[1] and info[1][0][1]:
            e = info[1][0][1]
            if "|" in n:
                for s in (e[9][1] or []) if len(e) > 9 else []:
                    if s[1][0][1].decode().lower() == n:
                        arity[n] = s[1][1][1]
            else:
                arity[n] = e[1][1]
    history = []
    stats = {"same": 0, "unknown": 0}
    used = {}  # row name -> differing replies it excused
    hits = {}  # row name -> commands it matched
    in_multi = [False, False]
    no_multi = ("multi", "exec", "discard", "watch", "hello", "select", "flushall", "flushdb", "quit")

    def words_of(n):
        w = [x.encode() for x in n.split("|")]
        return [rng.choice([x, x.upper(), x.capitalize()]) for x in w]

    def make(n, t):
        g.keys = []
        args = words_of(n) + t(g)
        if rng.random() < 0.06 and n in arity:  # wrong arity
            a = arity[n]
            want = rng.choice([a - 1, a + 1]) if a > 0 else -a - 1
            base = len(n.split("|"))
            args = args[:want] if len(args) >= want else args + [g.key() for _ in range(want - len(args))]
            if want < base:
                return None
        return args

    def queueable():
        """A listed command whose reply is compared exactly, to queue in a transaction."""
        while True:
            n, t = rng.choice(have)
            args = make(n, t)
            if args and n not in no_multi and not differences(args):
                return args

    def fail(i, conn, args, mine, redis_r, why):
        print("MISMATCH (%s) at command %d of seed %d (REDIS_COMPARE_SEED=%d replays), connection %d:"
              % (why, i, seed, seed, conn))
        print("  command: %r" % args)
        print("  raftkv:  %s" % show(mine))
        print("  redis:   %s" % show(redis_r))
        print("  the commands before it:")
        for h in history[-int(os.environ.get("REDIS_COMPARE_CONTEXT", "12")):]:
            print("    %s" % h)
        sys.exit(1)

    for args in FIXED_SCRIPT_CASES if {"multi", "evalsha", "script|flush"} <= listed else []:
        mine, redis_r = ours[0].call(args), theirs[0].call(args)
        history.append("fixed: c0 %r -> raftkv %s, redis %s" % (args, show(mine)[:200], show(redis_r)[:200]))
        if mine != redis_r:
            fail(-1, 0, args, mine, redis_r, "the fixed script cases, before the seeded ones")
        stats["same"] += 1
    i = 0
    while i < o.count:
        pipelined = False
        conn = 1 if rng.random() < 0.15 else 0
        if not any(in_multi) and rng.random() < 0.08 and "multi" in listed:
            # a transaction: WATCH, another connection's write, MULTI, commands, EXEC or DISCARD
            block = []
            if "watch" in listed and rng.random() < 0.5:
                g.keys = []
                block.append((0, [b"WATCH"] + [g.key() for _ in range(rng.randint(1, 2))]))
                if rng.random() < 0.5:
                    block.append((1, [b"SET", rng.choice(g.keys), b"other"]))
            block.append((0, [b"MULTI"]))
            block += [(0, queueable()) for _ in range(rng.randint(0, 4))]
            block.append((0, [rng.choice([b"EXEC", b"EXEC", b"EXEC", b"DISCARD"])]))
            steps = block
            # Half of those on one connection go in one write, EXEC sent
            # before WATCH's reply is back: Redis runs them as sent.
            pipelined = all(c == 0 for c, _ in block) and rng.random() < 0.5
            if pipelined:
                for c in (ours[0], theirs[0]):
                    c.s.sendall(b"".join(encode(a) for _, a in block))
        elif in_multi[conn]:
            steps = [(conn, queueable() if rng.random() < 0.7 else [rng.choice([b"EXEC", b"DISCARD"])])]
        else:
            n, t = rng.choice(have if rng.random() < 0.7 else CATALOG)
            args = make(n, t)
            if args is None:
                continue
            if n not in listed:
                mine = ours[conn].call(args)
                want = unknown_text(args, containers)
                if n not in arity:  # unknown to Redis too: the expected text is checked against Redis's
                    r = theirs[conn].call(args)
                    if r != want:
                        fail(i, conn, args, want, r, "harness: Redis's unknown-command text is not what it predicts")
                history.append("%d: c%d raftkv only %r -> %s" % (i, conn, args, show(mine)))
                if mine == want:
                    stats["unknown"] += 1
                else:
                    d = next((d for d in differences(args, True, strict) if agree(d, mine, want, args)), None)
                    if d is None:
                        fail(i, conn, args, mine, want, "raftkv lacks the command: Redis's unknown-command "
                             "error expected")
                    used[d["name"]] = used.get(d["name"], 0) + 1
                i += 1
                continue
            steps = [(conn, args)]
        for conn, args in steps:
            rows = differences(args, strict=strict)
            if any(d["mode"] == "skip" for d in rows) and not pipelined:
                continue
            for d in rows:
                hits[d["name"]] = hits.get(d["name"], 0) + 1
            keys = list(g.keys)
            try:
                mine = ours[conn].read() if pipelined else ours[conn].call(args)
            except (ConnectionError, OSError) as e:
                fail(i, conn, args, ("!", str(e).encode()), ("?", None), "raftkv closed the connection")
            redis_r = theirs[conn].read() if pipelined else theirs[conn].call(args)
            history.append("%d: c%d%s %r -> raftkv %s, redis %s" % (i, conn, " pipelined" if pipelined else "",
                                                                   args, show(mine)[:200], show(redis_r)[:200]))
            verb = args[0].lower()
            if verb == b"multi" and redis_r == ("+", b"OK"):
                in_multi[conn] = True
            elif verb in (b"exec", b"discard"):
                in_multi[conn] = False
            if mine == redis_r:
                stats["same"] += 1
                i += 1
                continue
            d = next((d for d in rows if agree(d, mine, redis_r, args)), None)
            if d is None:
                fail(i, conn, args, mine, redis_r, "replies differ" if not rows else
                     "outside the documented differences %s" % ", ".join("'%s'" % r["name"] for r in rows))
            used[d["name"]] = used.get(d["name"], 0) + 1
            if d["mode"] == "raftkv-error":
                # keep the key spaces equal: the command took effect on Redis only
                if keys and "del" in listed:
                    for c in (ours[0], theirs[0]):
                        c.call([b"DEL"] + keys)
                for extra in d.get("after", []):
                    theirs[conn].call(extra)
            i += 1
    print("%d commands: %d replies identical to redis-server's, %d unknown-command errors exact"
          % (i, stats["same"], stats["unknown"]))
    for d in DIFFERENCES:
        n = d["name"]
        if n in used or (d["kind"] == "gap" and hits.get(n, 0) >= 10):
            note = "  <- none differed: remove this row if it stays so" if n not in used else ""
            print("  %-6s %-42s %4d differed as documented%s" % (d["kind"], n, used.get(n, 0), note))
    return 0


if __name__ == "__main__":
    sys.exit(main())

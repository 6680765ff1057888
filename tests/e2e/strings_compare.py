#!/usr/bin/python3
"""strings_compare.py - the string commands (INCR ... MSETNX) sent to raftkv
and to a real redis-server, replies compared byte for byte, for
test_server_strings.sh.

  strings_compare.py --raftkv PORT --redis PORT --prefix P

A fixed script of commands: right and wrong arity, numbers Redis refuses
(spaces, '+', leading zeros, 21 digits, overflow), INCRBYFLOAT's formatting,
GETRANGE's index arithmetic, SETRANGE's padding and limits, GETEX's option
syntax and its bad expire times on present and absent keys, MSETNX with an
existing key, binary values, and expiry observed by waiting (a TTL kept by
INCR, APPEND, SETRANGE, INCRBYFLOAT; cleared by GETSET, MSET; set by SETEX,
PSETEX, GETEX; dropped by GETEX PERSIST), and the same commands queued in
MULTI/EXEC. Keys start with P so runs do not
meet. Prints each mismatch (command, both replies) and "ok N commands";
exits 1 on any mismatch.
"""
import argparse
import socket
import sys
import time


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """One connection; a reply is read whole and returned as its raw bytes."""

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
        return l

    def read(self):
        l = self.line()
        t = l[:1]
        if t in (b"$", b"=", b"!"):
            n = int(l[1:-2])
            return l if n < 0 else l + self.f.read(n + 2)
        if t in (b"*", b"~", b">", b"%"):
            n = int(l[1:-2])
            if t == b"%":
                n *= 2
            return l + b"".join(self.read() for _ in range(max(n, 0)))
        return l


BIG = b"9223372036854775807"
SMALL = b"-9223372036854775808"


def script(p):
    """(args, ...) with b'{k}' replaced by the prefix; ('sleep', s) waits."""
    k = lambda name: p + name
    A, F, S, R, G, E, N, X, M, T = (k(b"a"), k(b"f"), k(b"s"), k(b"r"), k(b"g"), k(b"e"),
                                    k(b"n"), k(b"x"), k(b"m"), k(b"t"))
    cmds = [
        # INCR and its family
        [b"DEL", A], [b"INCR", A], [b"INCR", A], [b"DECR", A], [b"INCRBY", A, b"10"],
        [b"DECRBY", A, b"20"], [b"INCRBY", A, b"-1"], [b"incr", A], [b"InCrBy", A, b"0"],
        [b"SET", A, BIG], [b"INCR", A], [b"GET", A], [b"INCRBY", A, b"1"], [b"DECRBY", A, b"-1"],
        [b"DECR", A], [b"GET", A],
        [b"SET", A, SMALL], [b"DECR", A], [b"DECRBY", A, b"1"], [b"INCRBY", A, SMALL], [b"GET", A],
        [b"INCRBY", A, BIG], [b"GET", A],
        [b"DECRBY", A, SMALL], [b"INCRBY", A, SMALL], [b"GET", A],
        [b"INCRBY", A, b"abc"], [b"INCRBY", A, b" 1"], [b"INCRBY", A, b"+1"], [b"INCRBY", A, b"01"],
        [b"INCRBY", A, b"-0"], [b"INCRBY", A, b"99999999999999999999"], [b"INCRBY", A, b""],
        [b"INCRBY", A, b"9223372036854775808"], [b"DECRBY", A, b"1.5"],
    ]
    for bad in (b"abc", b" 1", b"1 ", b"012", b"", b"-0", b"1.5", b"+1", b"99999999999999999999",
                b"00000000000000000001", b"1\x00"):
        cmds += [[b"SET", A, bad], [b"INCR", A], [b"DECRBY", A, b"1"], [b"GET", A]]
    cmds += [
        [b"SET", A, b"-1"], [b"INCR", A], [b"INCR", A], [b"GET", A],
        [b"INCR"], [b"INCR", A, b"b"], [b"INCRBY", A], [b"DECRBY", A, b"1", b"2"], [b"DECR"],
        # INCRBYFLOAT
        [b"DEL", F], [b"INCRBYFLOAT", F, b"10.5"], [b"INCRBYFLOAT", F, b"0.1"], [b"GET", F],
        [b"SET", F, b"5.0e3"], [b"INCRBYFLOAT", F, b"2.0e2"], [b"INCRBYFLOAT", F, b"-5200"],
        [b"INCRBYFLOAT", F, b"1e-20"], [b"INCRBYFLOAT", F, b"-1e-20"], [b"GET", F],
        [b"INCRBYFLOAT", F, b"-0"], [b"INCRBYFLOAT", F, b"3"], [b"INCRBYFLOAT", F, b"0x10"],
        [b"INCRBYFLOAT", F, b"1.23456789012345678"], [b"INCRBYFLOAT", F, b"-1.5"],
        [b"INCRBYFLOAT", F, b"1e400"], [b"INCRBYFLOAT", F, b"-1e400"], [b"GET", F],
        [b"INCRBYFLOAT", F, b"inf"], [b"INCRBYFLOAT", F, b"-inf"], [b"INCRBYFLOAT", F, b"nan"],
        [b"INCRBYFLOAT", F, b"1e5000"], [b"INCRBYFLOAT", F, b"abc"], [b"INCRBYFLOAT", F, b" 1"],
        [b"INCRBYFLOAT", F, b"1 "], [b"INCRBYFLOAT", F, b""], [b"GET", F],
        [b"SET", F, b"abc"], [b"INCRBYFLOAT", F, b"1"], [b"SET", F, b"\x00"], [b"INCRBYFLOAT", F, b"1"],
        [b"SET", F, b"1\x00"], [b"INCRBYFLOAT", F, b"1"], [b"INCRBYFLOAT", F, b"1\x00"], [b"SET", F, b"inf"], [b"INCRBYFLOAT", F, b"1"],
        [b"SET", F, b" 2"], [b"INCRBYFLOAT", F, b"1"], [b"SET", F, b"1.5e308"],
        [b"INCRBYFLOAT", F, b"1.5e308"], [b"SET", F, BIG], [b"INCRBYFLOAT", F, b"1"],
        [b"SET", F, b"0.1"], [b"INCRBYFLOAT", F, b"0.2"], [b"INCRBYFLOAT", F, b"-0.3"],
        [b"SET", F, b"1"], [b"INCRBYFLOAT", F, b"-1"], [b"INCRBYFLOAT", F, b"-3.0"],
        [b"INCRBYFLOAT", F], [b"INCRBYFLOAT", F, b"1", b"2"],
        # APPEND, STRLEN, GETRANGE, SUBSTR
        [b"DEL", S], [b"STRLEN", S], [b"APPEND", S, b"hello"], [b"APPEND", S, b" world"],
        [b"APPEND", S, b""], [b"GET", S], [b"STRLEN", S], [b"APPEND", S, b"\x00\xff\r\n"],
        [b"STRLEN", S], [b"GET", S],
        [b"STRLEN"], [b"STRLEN", S, S], [b"APPEND", S], [b"APPEND"],
    ]
    for a, b in ((b"0", b"4"), (b"-5", b"-1"), (b"5", b"3"), (b"-1", b"-5"), (b"0", b"-1"),
                 (b"0", b"100"), (b"100", b"200"), (b"-100", b"-50"), (b"-100", b"2"),
                 (b"3", b"-100"), (b"-1", b"-1"), (SMALL, BIG), (BIG, SMALL), (b"a", b"1"),
                 (b"1", b"b"), (b"01", b"2")):
        cmds += [[b"GETRANGE", S, a, b], [b"SUBSTR", S, a, b]]
    cmds += [
        [b"GETRANGE", k(b"nokey"), b"0", b"-1"], [b"GETRANGE", S, b"0"], [b"SUBSTR", S],
        [b"SET", S, b""], [b"GETRANGE", S, b"0", b"-1"], [b"STRLEN", S],
        # SETRANGE
        [b"DEL", R], [b"SETRANGE", R, b"5", b"hi"], [b"GET", R], [b"SETRANGE", R, b"0", b""],
        [b"SETRANGE", R, b"1", b"ABCDEFGHIJ"], [b"GET", R], [b"SETRANGE", R, b"2", b"x"], [b"GET", R],
        [b"SETRANGE", k(b"nokey"), b"0", b""], [b"EXISTS", k(b"nokey")],
        [b"SETRANGE", k(b"nokey"), b"536870912", b""], [b"SETRANGE", R, b"536870912", b""],
        [b"SETRANGE", R, b"-1", b"x"], [b"SETRANGE", R, b"-1", b""], [b"SETRANGE", R, b"abc", b"x"],
        [b"SETRANGE", R, b"536870911", b"xy"], [b"SETRANGE", R, b"536870912", b"x"],
        [b"SETRANGE", R, BIG, b"x"], [b"SETRANGE", R, b"99999999999999999999", b"x"], [b"GET", R],
        [b"SETRANGE", R, b"1"], [b"SETRANGE", R, b"1", b"x", b"y"],
        # GETSET, GETDEL
        [b"DEL", G], [b"GETSET", G, b"1"], [b"GETSET", G, b"2"], [b"GET", G], [b"GETSET", G],
        [b"GETDEL", G], [b"GETDEL", G], [b"EXISTS", G], [b"GETDEL"], [b"GETDEL", G, G],
        # GETEX
        [b"SET", E, b"v"], [b"GETEX", E], [b"GETEX", E, b"EX", b"100"], [b"GETEX", E, b"PERSIST"],
        [b"GETEX", E, b"EX", b"0"], [b"GETEX", E, b"EX", b"-1"], [b"GETEX", E, b"PX", b"0"],
        [b"GETEX", E, b"EXAT", b"0"], [b"GETEX", E, b"PXAT", b"-5"], [b"GETEX", E, b"EX", b"abc"],
        [b"GETEX", E, b"EX", b"9223372036854775807"], [b"GETEX", E, b"PX", b"9223372036854775807"],
        [b"GETEX", E, b"EXAT", b"9223372036854775807"], [b"GETEX", E, b"PXAT", b"9223372036854775807"],
        [b"GETEX", E, b"EX", b"1.5"], [b"GETEX", E, b"ex", b"10", b"EX", b"20"],
        [b"GETEX", E, b"EX", b"abc", b"EX", b"20"], [b"GETEX", E, b"PERSIST", b"persist"],
        [b"GETEX", E, b"PX", b"100", b"EX", b"100"], [b"GETEX", E, b"PERSIST", b"EX", b"10"],
        [b"GETEX", E, b"EX", b"10", b"PERSIST"], [b"GETEX", E, b"FOO"], [b"GETEX", E, b"EX"],
        [b"GETEX", E, b"KEEPTTL"], [b"GETEX", E, b"NX"], [b"GETEX", E, b"EXAT", b"9223372036854775"],
        [b"GETEX", k(b"nokey")], [b"GETEX", k(b"nokey"), b"EX", b"abc"],
        [b"GETEX", k(b"nokey"), b"EX", b"0"], [b"GETEX", k(b"nokey"), b"PERSIST"],
        [b"GETEX", k(b"nokey"), b"FOO"], [b"GETEX"],
        [b"GETEX", E, b"EXAT", b"1"], [b"EXISTS", E], [b"GETEX", E],
        [b"SET", E, b"v"], [b"GETEX", E, b"PXAT", b"1"], [b"EXISTS", E],
        # SETNX, SETEX, PSETEX
        [b"DEL", N], [b"SETNX", N, b"1"], [b"SETNX", N, b"2"], [b"GET", N], [b"SETNX", N],
        [b"SETEX", X, b"100", b"v"], [b"GET", X], [b"SETEX", X, b"0", b"v"], [b"SETEX", X, b"-1", b"v"],
        [b"SETEX", X, b"abc", b"v"], [b"SETEX", X, b"9223372036854775807", b"v"],
        [b"SETEX", X, b"9223372036854775", b"v"], [b"SETEX", X, b"9223372036854776", b"v"],
        [b"PSETEX", X, b"0", b"v"], [b"PSETEX", X, b"-1", b"v"], [b"PSETEX", X, b"abc", b"v"],
        [b"PSETEX", X, b"9223372036854775807", b"v"], [b"SETEX", X, b"100"], [b"PSETEX", X],
        # MSET, MSETNX
        [b"MSET", M + b"1", b"1", M + b"2", b"2"], [b"MGET", M + b"1", M + b"2"], [b"MSET", M + b"1"],
        [b"MSET", M + b"1", b"1", M + b"2"], [b"MSET"], [b"MSET", M + b"1", b"x", M + b"1", b"y"],
        [b"GET", M + b"1"], [b"DEL", M + b"3", M + b"4", M + b"5"],
        [b"MSETNX", M + b"3", b"3", M + b"4", b"4"], [b"MGET", M + b"3", M + b"4"],
        [b"MSETNX", M + b"4", b"x", M + b"5", b"5"], [b"EXISTS", M + b"5"], [b"GET", M + b"4"],
        [b"MSETNX", M + b"6", b"a", M + b"6", b"b"], [b"GET", M + b"6"], [b"MSETNX", M + b"7"],
        [b"MSETNX", M + b"7", b"1", M + b"8"],
        # SET's options as Redis parses them: the same expire option twice, the last counts
        [b"SET", X, b"v", b"PX", b"0", b"PX", b"100000"], [b"SET", X, b"v", b"EX", b"abc", b"EX", b"100"],
        [b"SET", X, b"v", b"EX", b"10", b"PX", b"10"], [b"SET", X, b"v", b"KEEPTTL", b"EX", b"10"],
        [b"SET", X, b"v", b"EX", b"10", b"KEEPTTL"], [b"SET", X, b"v", b"NX", b"NX"],
        [b"SET", X, b"v", b"GET", b"GET"], [b"SET", X, b"v", b"XX", b"NX"], [b"SET", X, b"v", b"EX", b"0"],
        [b"SET", X, b"v", b"PERSIST"], [b"SET", X, b"v", b"EX", b"10", b"EX"],
        # deadlines: kept, cleared, set, dropped
        [b"SET", T + b"1", b"10", b"PX", b"400"], [b"INCR", T + b"1"],
        [b"SET", T + b"2", b"x", b"PX", b"400"], [b"APPEND", T + b"2", b"y"],
        [b"SET", T + b"3", b"x", b"PX", b"400"], [b"SETRANGE", T + b"3", b"3", b"y"],
        [b"SET", T + b"4", b"1", b"PX", b"400"], [b"INCRBYFLOAT", T + b"4", b"1.5"],
        [b"SET", T + b"5", b"x", b"PX", b"400"], [b"GETSET", T + b"5", b"y"],
        [b"SET", T + b"6", b"x", b"PX", b"400"], [b"MSET", T + b"6", b"y"],
        [b"SET", T + b"7", b"x", b"PX", b"400"], [b"GETEX", T + b"7", b"PERSIST"],
        [b"PSETEX", T + b"8", b"400", b"x"], [b"SET", T + b"9", b"x"], [b"GETEX", T + b"9", b"PX", b"400"],
        [b"SET", T + b"10", b"x", b"PX", b"400"], [b"DECRBY", T + b"10", b"x"],
        [b"SET", T + b"11", b"x", b"PX", b"400"], [b"MSETNX", T + b"11", b"y", T + b"12", b"z"],
        ("sleep", 0.8),
    ] + [[b"GET", T + b"%d" % i] for i in range(1, 13)] + [
        [b"DECR", T + b"1"], [b"EXISTS", T + b"1"], [b"APPEND", T + b"2", b"z"],
        [b"COMMAND", b"INFO", b"incr", b"decr", b"incrby", b"decrby", b"incrbyfloat", b"append",
         b"strlen", b"getrange", b"substr", b"setrange", b"getset", b"getdel", b"setnx", b"setex",
         b"psetex"],
        # queued in a transaction: each command's reply is its element of EXEC's array
        [b"SET", k(b"tx1"), b"x"], [b"MULTI"], [b"MSET", k(b"tx1"), b"1", k(b"tx2"), b"2"],
        [b"MSETNX", k(b"tx2"), b"9", k(b"tx3"), b"3"], [b"MSETNX", k(b"tx3"), b"3", k(b"tx4"), b"4"],
        [b"INCR", k(b"tx1")], [b"INCRBY", k(b"tx1"), b"abc"], [b"INCRBYFLOAT", k(b"tx2"), b"0.5"],
        [b"APPEND", k(b"tx2"), b"x"], [b"INCR", k(b"tx2")], [b"GETEX", k(b"tx1"), b"EX", b"0"],
        [b"GETEX", k(b"nokey"), b"EX", b"0"], [b"SETRANGE", k(b"tx4"), b"1", b"yz"],
        [b"GETRANGE", k(b"tx4"), b"0", b"-1"], [b"GETDEL", k(b"tx3")], [b"SETNX", k(b"tx3"), b"n"],
        [b"GETSET", k(b"tx3"), b"m"], [b"STRLEN", k(b"tx3")], [b"EXEC"],
        [b"MGET", k(b"tx1"), k(b"tx2"), k(b"tx3"), k(b"tx4")],
        [b"MULTI"], [b"MSET", k(b"tx1")], [b"INCR", k(b"tx1")], [b"EXEC"], [b"GET", k(b"tx1")],
        # RESP3's nil and the same replies once more
        ("hello3",), [b"GETDEL", k(b"nokey")], [b"GETEX", k(b"nokey")], [b"GETSET", k(b"r3"), b"1"],
        [b"GETSET", k(b"r3"), b"2"], [b"INCRBYFLOAT", k(b"r3"), b"0.5"], [b"STRLEN", k(b"r3")],
        [b"GETRANGE", k(b"nokey"), b"0", b"1"], [b"MSETNX", k(b"r3"), b"1"], [b"SETNX", k(b"r3"), b"1"],
        [b"MSET", k(b"r3"), b"1"], [b"INCR", k(b"r3")], [b"GETEX", k(b"r3"), b"EX", b"0"],
    ]
    return cmds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raftkv", type=int, required=True)
    ap.add_argument("--redis", type=int, required=True)
    ap.add_argument("--prefix", default="strings:")
    a = ap.parse_args()
    mine, theirs = Conn(a.raftkv), Conn(a.redis)
    bad = n = 0
    for c in script(a.prefix.encode()):
        if c[0] == "sleep":
            time.sleep(c[1])
            continue
        if c[0] == "hello3":  # the HELLO replies differ (server, version, id): not compared
            mine.call([b"HELLO", b"3"])
            theirs.call([b"HELLO", b"3"])
            continue
        n += 1
        x, y = mine.call(c), theirs.call(c)
        if x != y:
            bad += 1
            print("MISMATCH %r\n  raftkv: %r\n  redis:  %r" % (b" ".join(c)[:200], x[:300], y[:300]))
    print("%s %d commands, %d mismatches" % ("ok" if bad == 0 else "FAIL", n, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

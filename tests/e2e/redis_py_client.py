#!/usr/bin/python3
"""redis_py_client.py - redis-py (Debian's python3-redis) end to end against a
Redis-protocol server: raftkv, or redis-server to check the test itself.

  redis_py_client.py PORT [--require-all]

Each part first asks `COMMAND INFO` for the commands it needs (and tries SET's
options where it needs them); when the server lacks one, the part prints
SKIP with the reason instead of failing, so the test passes today and becomes
strict as commands land. --require-all turns a SKIP into a failure (used with
redis-server, which has them all). Prints PASS/SKIP a part, and the skip
list at the end; exit 1 on a failure.
"""
import multiprocessing
import sys
import threading
import time
import uuid

import redis

PORT = int(sys.argv[1])
REQUIRE_ALL = "--require-all" in sys.argv
PREFIX = "rp:%s:" % uuid.uuid4().hex[:8]  # the server may be shared with other runs


def client(**kw):
    return redis.Redis(host="127.0.0.1", port=PORT, socket_timeout=10, **kw)


def k(name):
    return PREFIX + name


def missing(*names):
    """The commands of NAMES the server lacks (COMMAND INFO gives nil for them)."""
    r = client()
    info = r.execute_command("COMMAND INFO", *names)
    return [n for n, e in zip(names, info) if e is None]


def set_options_missing(*opts):
    """Whether SET takes OPTS (e.g. "NX", "PX", "1000"): tried on a scratch key."""
    r = client()
    try:
        r.execute_command("SET", k("probe"), "v", *opts)
        r.delete(k("probe"))
        return []
    except redis.ResponseError as e:
        return ["SET %s (%s)" % (" ".join(opts), e)]


def check(what, got, want):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


# ---- the parts ------------------------------------------------------------------------


def part_basics():
    """GET, SET, MGET, DEL, EXISTS with binary values, and errors as exceptions."""
    r = client()
    blob = bytes(range(256)) * 4
    check("set", r.set(k("a"), blob), True)
    check("get", r.get(k("a")), blob)
    check("set empty", r.set(k("e"), b""), True)
    check("get empty", r.get(k("e")), b"")
    check("get missing", r.get(k("missing")), None)
    check("mget", r.mget([k("a"), k("missing"), k("e")]), [blob, None, b""])
    check("exists", r.exists(k("a"), k("e"), k("missing"), k("a")), 3)
    check("delete", r.delete(k("a"), k("missing")), 1)
    check("get deleted", r.get(k("a")), None)
    check("ping", r.ping(), True)
    check("echo", r.echo(b"\x00\xff"), b"\x00\xff")
    try:
        r.execute_command("GET")
        raise AssertionError("GET without a key did not raise")
    except redis.ResponseError as e:
        check("arity error", str(e), "wrong number of arguments for 'get' command")


def part_pipeline_plain():
    """pipeline(transaction=False): 500 commands, replies in order, errors in place."""
    r = client()
    p = r.pipeline(transaction=False)
    for i in range(250):
        p.set(k("p%d" % i), "v%d" % i)
        p.get(k("p%d" % i))
    out = p.execute()
    check("pipeline sets", out[0::2], [True] * 250)
    check("pipeline gets", out[1::2], [b"v%d" % i for i in range(250)])
    p = r.pipeline(transaction=False)
    p.get(k("p1"))
    p.execute_command("GET")  # wrong arity, in the middle
    p.mget([k("p2"), k("p3")])
    p.delete(*[k("p%d" % i) for i in range(250)])
    out = p.execute(raise_on_error=False)
    check("pipeline first", out[0], b"v1")
    check("pipeline error in place", isinstance(out[1], redis.ResponseError), True)
    check("pipeline after error", out[2], [b"v2", b"v3"])
    check("pipeline delete", out[3], 250)


def part_pipeline_transaction():
    """pipeline() (MULTI/EXEC): all or nothing, results in order."""
    r = client()
    with r.pipeline() as p:
        p.set(k("t1"), "1").set(k("t2"), "2").get(k("t1")).mget([k("t1"), k("t2")])
        check("transaction pipeline", p.execute(), [True, True, b"1", [b"1", b"2"]])
    r.delete(k("t1"), k("t2"))


def part_transaction_watch():
    """transaction() with WATCH under contention from 4 connections: the final
    counter equals the number of committed increments."""
    key = k("counter")
    client().set(key, 0)
    per, threads = 25, 4
    committed, retries, errors = [0], [0], []
    lock = threading.Lock()

    def worker():
        r = client()
        try:
            for _ in range(per):
                while True:
                    with r.pipeline() as p:
                        try:
                            p.watch(key)
                            v = int(p.get(key))
                            p.multi()
                            p.set(key, v + 1)
                            p.execute()
                            with lock:
                                committed[0] += 1
                            break
                        except redis.WatchError:
                            with lock:
                                retries[0] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise AssertionError("workers failed: %s" % errors[:3])
    final = int(client().get(key))
    check("final counter = committed increments", final, committed[0])
    check("committed increments", committed[0], per * threads)
    # the helper too: r.transaction(func, key) retries on WatchError
    r = client()

    def bump(p):
        v = int(p.get(key))
        p.multi()
        p.set(key, v + 1)

    r.transaction(bump, key)
    check("transaction()", int(r.get(key)), per * threads + 1)
    print("    (%d committed, %d WATCH retries)" % (committed[0], retries[0]))


def lock_worker(port, key, counter, n, q):
    try:
        r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
        for _ in range(n):
            with r.lock(key, timeout=5, blocking_timeout=20):
                v = int(r.get(counter))  # a read-modify-write only the lock makes safe
                time.sleep(0.001)
                r.set(counter, v + 1)
        q.put(None)
    except Exception as e:  # noqa: BLE001 - reported by the parent
        q.put(repr(e))


def part_lock():
    """lock() from 4 processes guarding a read-modify-write: no increment lost."""
    counter = k("locked-counter")
    client().set(counter, 0)
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=lock_worker, args=(PORT, k("lock"), counter, 10, q)) for _ in range(4)]
    for p in procs:
        p.start()
    errs = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join()
    errs = [e for e in errs if e]
    if errs:
        raise AssertionError("lock workers failed: %s" % errs[:3])
    check("counter under lock()", int(client().get(counter)), 40)
    check("lock released", client().exists(k("lock")), 0)


def part_scan_iter():
    """scan_iter(match=, count=) returns every key once or more, and only matching ones."""
    r = client()
    want = {("%sscan:%d" % (PREFIX, i)).encode() for i in range(300)}
    p = r.pipeline(transaction=False)
    for key in want:
        p.set(key, "x")
    p.set(k("other"), "y")
    p.execute()
    got = list(r.scan_iter(match=PREFIX + "scan:*", count=17))
    check("scan_iter keys", set(got), want)
    r.delete(*want, k("other"))


def part_incr():
    """incr() and incrby(): new keys count from 0; a non-integer value is refused."""
    r = client()
    key = k("n")
    check("incr new", r.incr(key), 1)
    check("incr", r.incr(key), 2)
    check("incr by 10", r.incr(key, 10), 12)
    check("incr by -20", r.incr(key, -20), -8)
    r.set(k("s"), "abc")
    try:
        r.incr(k("s"))
        raise AssertionError("INCR of a non-integer did not raise")
    except redis.ResponseError as e:
        check("incr error", str(e), "value is not an integer or out of range")
    r.set(k("big"), str(2**63 - 1))
    try:
        r.incr(k("big"))
        raise AssertionError("INCR past 2^63-1 did not raise")
    except redis.ResponseError as e:
        check("overflow error", str(e), "increment or decrement would overflow")
    check("value unchanged", r.get(k("big")), str(2**63 - 1).encode())
    r.delete(key, k("s"), k("big"))


def part_set_ex_nx():
    """set(ex=, nx=): nx refuses an existing key; an ex=1 key is there, then expires."""
    r = client()
    key = k("ex")
    check("set nx new", r.set(key, "v1", nx=True), True)
    check("set nx existing", r.set(key, "v2", nx=True), None)
    check("value kept", r.get(key), b"v1")
    check("set ex", r.set(key, "v3", ex=1), True)
    check("value before expiry", r.get(key), b"v3")
    ttl = r.ttl(key)
    if not 0 <= ttl <= 1:
        raise AssertionError("ttl after set(ex=1): %r" % ttl)
    deadline = time.time() + 3
    while r.get(key) is not None:
        if time.time() > deadline:
            raise AssertionError("key set with ex=1 still there after 3 s")
        time.sleep(0.05)
    check("exists after expiry", r.exists(key), 0)
    check("ttl after expiry", r.ttl(key), -2)
    check("set nx ex after expiry", r.set(key, "v4", nx=True, ex=100), True)
    if not 98 <= r.ttl(key) <= 100:
        raise AssertionError("ttl after set(nx=, ex=100): %r" % r.ttl(key))
    r.delete(key)


# (name, part, commands it needs, SET options it needs)
PARTS = [
    ("basics", part_basics, ["get", "set", "mget", "del", "exists", "ping", "echo"], None),
    ("pipeline(transaction=False)", part_pipeline_plain, ["get", "set", "mget", "del"], None),
    ("pipeline() transaction", part_pipeline_transaction, ["multi", "exec", "set", "get", "mget", "del"], None),
    ("transaction() with WATCH retries", part_transaction_watch,
     ["watch", "unwatch", "multi", "exec", "get", "set"], None),
    ("lock() from 4 processes", part_lock, ["set", "get", "exists", "evalsha", "script|load"], ["NX", "PX", "1000"]),
    ("scan_iter()", part_scan_iter, ["scan", "set", "del"], None),
    ("incr()", part_incr, ["incr", "incrby", "set", "get", "del"], None),
    ("set(ex=, nx=) with expiry", part_set_ex_nx, ["set", "get", "ttl", "exists", "del"], ["NX", "EX", "100"]),
]


def main():
    skipped, failed = [], []
    for name, fn, needs, set_opts in PARTS:
        lacks = missing(*needs)
        if set_opts and "set" not in lacks:
            lacks += set_options_missing(*set_opts)
        if lacks:
            why = "the server lacks %s" % ", ".join(lacks)
            if REQUIRE_ALL:
                failed.append(name)
                print("FAIL %s: %s" % (name, why))
            else:
                skipped.append(name)
                print("SKIP %s: %s" % (name, why))
            continue
        start = time.time()
        try:
            fn()
            print("PASS %s (%.1f s)" % (name, time.time() - start))
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failed.append(name)
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
    print("redis-py %s: %d passed, %d skipped, %d failed" %
          (redis.__version__, len(PARTS) - len(skipped) - len(failed), len(skipped), len(failed)))
    if skipped:
        print("skipped (until the server has their commands): %s" % "; ".join(skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

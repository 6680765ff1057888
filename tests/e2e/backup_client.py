#!/usr/bin/python3
"""backup_client.py - the writer and the checker of test_server_backup.sh.

  backup_client.py write --port P --stop FILE --acked FILE
      SETs w:<seq> = <seq> and the key "counter" = <seq>, one SET at a time,
      seq = 1, 2, ..., until FILE --stop exists. After each +OK of w:<seq>
      it appends "<seq>" to --acked (flushed), so every line was
      acknowledged before it was written. Errors are counted, not retried.

  backup_client.py load --port P --keys N --value-bytes B
      SETs bulk:<i> = a value of B bytes derived from i, for i < N,
      pipelined 1000 at a time.

  backup_client.py check --port P --acked-upto A --keys N --value-bytes B
      Requires w:1..w:A with their values, "counter" >= A, and every bulk
      key with its value; prints what it found and exits 1 on any miss.
"""
import argparse
import os
import sys

import redis


def bulk_value(i, n):
    s = ("%d-" % i) * (n // 2 + 1)
    return s[:n]


def write(a):
    r = redis.Redis(host="127.0.0.1", port=a.port, socket_timeout=10)
    seq = 0
    errors = 0
    with open(a.acked, "a") as acked:
        while not os.path.exists(a.stop):
            seq += 1
            try:
                r.set("w:%d" % seq, str(seq))
            except Exception as e:  # not acknowledged: never counted
                errors += 1
                if errors < 5:
                    print("write w:%d: %s" % (seq, e), file=sys.stderr)
                r = redis.Redis(host="127.0.0.1", port=a.port, socket_timeout=10)
                continue
            acked.write("%d\n" % seq)
            acked.flush()
            try:
                r.set("counter", str(seq))
            except Exception:
                errors += 1
    print("writer: seq=%d errors=%d" % (seq, errors))


def load(a):
    r = redis.Redis(host="127.0.0.1", port=a.port, socket_timeout=60)
    for base in range(0, a.keys, 1000):
        p = r.pipeline(transaction=False)
        for i in range(base, min(base + 1000, a.keys)):
            p.set("bulk:%d" % i, bulk_value(i, a.value_bytes))
        p.execute()


def check(a):
    r = redis.Redis(host="127.0.0.1", port=a.port, socket_timeout=60)
    bad = 0
    for base in range(1, a.acked_upto + 1, 1000):
        keys = ["w:%d" % i for i in range(base, min(base + 1000, a.acked_upto + 1))]
        for k, v in zip(keys, r.mget(keys)):
            if v != k[2:].encode():
                bad += 1
                if bad < 5:
                    print("missing or wrong: %s = %r" % (k, v))
    counter = r.get("counter")
    if a.acked_upto > 1 and (counter is None or int(counter) < a.acked_upto - 1):
        print("counter %r is older than the last write acknowledged before the backup (%d)" %
              (counter, a.acked_upto))
        bad += 1
    for base in range(0, a.keys, 1000):
        idx = range(base, min(base + 1000, a.keys))
        for i, v in zip(idx, r.mget(["bulk:%d" % i for i in idx])):
            if v != bulk_value(i, a.value_bytes).encode():
                bad += 1
                if bad < 10:
                    print("missing or wrong: bulk:%d = %r" % (i, v and v[:20]))
    print("checked w:1..w:%d, counter=%s, %d bulk keys: %d bad" %
          (a.acked_upto, counter and counter.decode(), a.keys, bad))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["write", "load", "check"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--stop")
    ap.add_argument("--acked")
    ap.add_argument("--keys", type=int, default=0)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--acked-upto", type=int, default=0)
    a = ap.parse_args()
    if a.mode == "write":
        write(a)
    elif a.mode == "load":
        load(a)
    else:
        sys.exit(check(a))


if __name__ == "__main__":
    main()

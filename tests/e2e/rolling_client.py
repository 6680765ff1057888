#!/usr/bin/python3
"""rolling_client.py - continuous writers for test_server_transfer.sh.

Each of --connections threads writes its own keys (w<thread>-<seq> = v<seq>)
one SET at a time with redis-py, to one member of the cluster, until the
file --stop exists. A broken or refused connection (the member is
restarting) moves the thread to the next member; the SET in flight then has
no answer and is not counted as acknowledged. Every +OK key goes to --acked
(one "key value" a line). At the end it prints
  ok=N tryagain=N uncertain=N other_errors=N broken=N
and exits 0; the shell test judges the counts and reads the keys back.

  rolling_client.py --ports P1,P2,P3 --connections C --stop FILE --acked FILE
"""
import argparse
import os
import threading
import time

import redis

counts = {"ok": 0, "tryagain": 0, "uncertain": 0, "other_errors": 0, "broken": 0}
errors_seen = []
lock = threading.Lock()


def bump(what, detail=None):
    with lock:
        counts[what] += 1
        if detail and len(errors_seen) < 20:
            errors_seen.append(detail)


def writer(tid, ports, stop, acked):
    node = tid % len(ports)
    conn = None
    seq = 0
    while not os.path.exists(stop):
        if conn is None:
            conn = redis.Redis(host="127.0.0.1", port=ports[node], socket_timeout=10,
                               socket_connect_timeout=2)
        key, value = "w%d-%d" % (tid, seq), "v%d" % seq
        seq += 1
        try:
            if conn.set(key, value):
                bump("ok")
                acked.append((key, value))
        except redis.exceptions.ResponseError as e:
            msg = str(e)
            if msg.startswith("UNCERTAIN"):
                bump("uncertain", "%s port %d: %s" % (key, ports[node], msg))
                conn.close()  # the server closes such a connection
                conn = None
            elif msg.startswith("TRYAGAIN"):
                bump("tryagain", "%s port %d: %s" % (key, ports[node], msg))
            else:
                bump("other_errors", "%s port %d: %s" % (key, ports[node], msg))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            bump("broken")
            try:
                conn.close()
            except Exception:
                pass
            conn = None
            node = (node + 1) % len(ports)
            time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", required=True)
    ap.add_argument("--connections", type=int, default=3)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--acked", required=True)
    a = ap.parse_args()
    ports = [int(p) for p in a.ports.split(",")]
    acked = [[] for _ in range(a.connections)]
    threads = [threading.Thread(target=writer, args=(t, ports, a.stop, acked[t]))
               for t in range(a.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(a.acked, "w") as f:
        for lst in acked:
            for k, v in lst:
                f.write("%s %s\n" % (k, v))
    print(" ".join("%s=%d" % (k, counts[k]) for k in
                   ("ok", "tryagain", "uncertain", "other_errors", "broken")))
    for e in errors_seen:
        print("  error: " + e)


if __name__ == "__main__":
    main()

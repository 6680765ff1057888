#!/usr/bin/env python3
"""scale_probe.py - the watcher bench_scale.sh runs beside the load.

Reads one GET every 10 ms from PORT (the leader's client port) and, once a
second, INFO of every member (term, leader, applied index). Writes one line
per GET to OUT.gets ("unix_ms latency_us ok") and one line a second to OUT.info
("unix_ms member term leader applied"). Stops when the file STOP exists.

  scale_probe.py OUT STOP PORT [PORT...]     (the first port is probed by GET)
"""
import os
import socket
import sys
import threading
import time


class Conn:
    """A minimal RESP client (no third-party module needed)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()
        if not line:
            raise OSError("closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"-":
            raise OSError(rest.decode())
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        return rest

    def info(self):
        d = {}
        for line in self.call("INFO").decode().splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                d[k] = v
        return d


def gets(out, stop, port):
    c = Conn(port)
    with open(out + ".gets", "w") as f:
        nxt = time.monotonic()
        while not os.path.exists(stop):
            w0 = time.time()
            t0 = time.monotonic()
            ok = 1
            try:
                c.call("GET", "key:000000000001")
            except Exception:
                ok = 0
                try:
                    c = Conn(port)
                except Exception:
                    pass
            t1 = time.monotonic()
            f.write("%d %d %d\n" % (int(w0 * 1000), int((t1 - t0) * 1e6), ok))
            nxt += 0.010
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
            else:
                nxt = time.monotonic()


def info(out, stop, ports):
    cs = [None] * len(ports)
    with open(out + ".info", "w") as f:
        while not os.path.exists(stop):
            t = int(time.time() * 1000)
            for i in range(len(ports)):
                try:
                    if cs[i] is None:
                        cs[i] = Conn(ports[i])
                    d = cs[i].info()
                    f.write("%d n%d %s %s %s\n" % (t, i + 1, d.get("term"), d.get("leader"),
                                                   d.get("applied_index")))
                except Exception:
                    cs[i] = None
                    f.write("%d n%d - - -\n" % (t, i + 1))
            f.flush()
            time.sleep(1)


def main():
    out, stop = sys.argv[1], sys.argv[2]
    ports = [int(p) for p in sys.argv[3:]]
    a = threading.Thread(target=gets, args=(out, stop, ports[0]))
    b = threading.Thread(target=info, args=(out, stop, ports))
    a.start()
    b.start()
    a.join()
    b.join()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""ping_probe.py - how long a server's event loop stalls: one connection
sends PING every INTERVAL ms and times each +PONG, until STOPFILE exists;
(or for 300 s at most); then prints `pings=N max_ms=M p99_ms=P at=T` (T: seconds since the probe
began, when the slowest answer came) and exits 0 (1 if no PONG came).

  ping_probe.py PORT STOPFILE [INTERVAL_MS]
"""
import os
import socket
import sys
import time


def utc(t):
    return time.strftime("%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def main():
    port, gofile, stopfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    interval = (int(sys.argv[4]) if len(sys.argv) > 4 else 10) / 1000.0
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    open(gofile + ".ready", "w").close()
    waited = time.monotonic()
    while not os.path.exists(gofile) and time.monotonic() - waited < 300:
        time.sleep(0.005)
    began, began_wall = time.monotonic(), time.time()
    lat, worst, worst_at = [], 0.0, 0.0
    while not os.path.exists(stopfile) and time.monotonic() - began < 300:
        t0 = time.monotonic()
        sock.sendall(b"PING\r\n")
        got = b""
        while not got.endswith(b"\r\n"):
            chunk = sock.recv(64)
            if not chunk:
                print("connection closed", file=sys.stderr)
                return 1
            got += chunk
        ms = (time.monotonic() - t0) * 1000.0
        if got != b"+PONG\r\n":
            print("unexpected reply %r" % got, file=sys.stderr)
            return 1
        lat.append(ms)
        if ms > worst:
            worst, worst_at = ms, time.time()
        time.sleep(interval)
    if not lat:
        return 1
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print("pings=%d max_ms=%.1f p99_ms=%.1f began=%s worst_at=%s"
          % (len(lat), worst, p99, utc(began_wall), utc(worst_at)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

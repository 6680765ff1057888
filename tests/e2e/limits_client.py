#!/usr/bin/python3
"""limits_client.py - raw sockets against `raftkv serve` for test_server_limits.sh.

  limits_client.py hold PORT N READY_FILE [MAX_S]
      open N connections that never send; write READY_FILE once all are
      connected; wait (at most MAX_S, default 10) until the server closes
      each; print "held=N closed=C data=D first_s=F last_s=L" (seconds from
      connect to the server's close; data counts sockets that were sent
      anything, e.g. a refusal).
  limits_client.py idle PORT SECONDS
      two clients: one sends PING once then stays silent, one sends PING
      every 0.5 s for SECONDS; print "quiet_closed_after_s=X" (or "never")
      and "busy_pongs=N busy_closed=0|1".
  limits_client.py flood PORT N PID HOLD
      hold HOLD silent connections (the server's --max-clients), then open N
      more, 100 at a time, each read to its end; print "refused=R other=O
      seconds=S rss_before_kb=A rss_max_kb=B rss_after_kb=C" (the server's
      VmRSS from /proc/PID/status).
"""
import select
import socket
import sys
import time

REFUSAL = b"-ERR max number of clients reached\r\n"


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    return s


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def readable(socks, timeout_s):
    """The sockets of socks with something to read (poll: select stops at fd 1024)."""
    p = select.poll()
    by_fd = {}
    for s in socks:
        p.register(s, select.POLLIN)
        by_fd[s.fileno()] = s
    return [by_fd[fd] for fd, _ in p.poll(timeout_s * 1000)]


def wait_closed(socks, max_s):
    """Seconds after start at which each socket was closed by the peer
    (None if not within max_s), and how many received bytes."""
    start = time.monotonic()
    closed_at = {}
    got_data = set()
    while len(closed_at) < len(socks) and time.monotonic() - start < max_s:
        live = [s for s in socks if s not in closed_at]
        ready = readable(live, 0.05)
        for s in ready:
            try:
                data = s.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if data:
                got_data.add(s)
            else:
                closed_at[s] = time.monotonic() - start
    return closed_at, len(got_data)


def cmd_hold(port, n, ready_file, max_s=10.0):
    socks = [connect(port) for _ in range(n)]
    with open(ready_file, "w") as f:
        f.write("ready\n")
    closed_at, data = wait_closed(socks, max_s)
    times = sorted(closed_at.values())
    print("held=%d closed=%d data=%d first_s=%.2f last_s=%.2f"
          % (n, len(times), data, times[0] if times else -1, times[-1] if times else -1))


def ping(s):
    s.sendall(b"PING\r\n")


def cmd_idle(port, seconds):
    quiet, busy = connect(port), connect(port)
    ping(quiet)
    ping(busy)
    quiet_buf, busy_buf = b"", b""
    quiet_pong_at = None
    quiet_closed = None
    busy_closed = 0
    next_ping = time.monotonic() + 0.5
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        live = [s for s in (quiet if quiet_closed is None else None, busy if not busy_closed else None) if s]
        ready = readable(live, 0.05)
        for s in ready:
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            if s is quiet:
                if not data:
                    quiet_closed = time.monotonic() - quiet_pong_at if quiet_pong_at else -1
                quiet_buf += data
                if quiet_pong_at is None and quiet_buf.startswith(b"+PONG\r\n"):
                    quiet_pong_at = time.monotonic()
            else:
                if not data:
                    busy_closed = 1
                busy_buf += data
        if not busy_closed and time.monotonic() >= next_ping:
            ping(busy)
            next_ping += 0.5
    print("quiet_closed_after_s=%s" % ("never" if quiet_closed is None else "%.2f" % quiet_closed))
    print("busy_pongs=%d busy_closed=%d" % (busy_buf.count(b"+PONG\r\n"), busy_closed))


def cmd_flood(port, n, pid, hold):
    held = [connect(port) for _ in range(hold)]
    time.sleep(0.3)
    before = rss_kb(pid)
    peak = before
    refused = other = 0
    start = time.monotonic()
    done = 0
    while done < n:
        batch = [connect(port) for _ in range(min(100, n - done))]
        bufs = {s: b"" for s in batch}
        t0 = time.monotonic()
        open_ = set(batch)
        while open_ and time.monotonic() - t0 < 10:
            ready = readable(open_, 0.05)
            for s in ready:
                try:
                    data = s.recv(4096)
                except ConnectionResetError:
                    data = b""
                if data:
                    bufs[s] += data
                else:
                    open_.discard(s)
        for s in batch:
            if bufs[s] == REFUSAL and s not in open_:
                refused += 1
            else:
                other += 1
            s.close()
        done += len(batch)
        peak = max(peak, rss_kb(pid))
    seconds = time.monotonic() - start
    after = rss_kb(pid)
    print("refused=%d other=%d seconds=%.2f rss_before_kb=%d rss_max_kb=%d rss_after_kb=%d"
          % (refused, other, seconds, before, peak, after))
    for s in held:
        s.close()


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "hold":
        cmd_hold(port, int(sys.argv[3]), sys.argv[4], float(sys.argv[5]) if len(sys.argv) > 5 else 10.0)
    elif cmd == "idle":
        cmd_idle(port, float(sys.argv[3]))
    elif cmd == "flood":
        cmd_flood(port, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()

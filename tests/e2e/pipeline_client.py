#!/usr/bin/python3
"""pipeline_client.py - pipelining Redis clients for test_server_pipeline_order.sh.

Several connections, one thread each, send random pipelines of SET, GET,
DEL, CAS and MGET (each pipeline in one write) to the members of a raftkv
cluster and record every operation in whirl's history.jsonl format
(docs/STORE.md): one connection is one process, so its operations overlap;
invocations are recorded before the pipeline is sent and completions as the
replies arrive, in order. MGET is one read per key, DEL a write of nil. A
connection that breaks, or that gets -UNCERTAIN (whose write may still take
effect later, out of the connection's order), is closed; its unanswered
operations stay without completion, and the thread goes on as a new process
on a new connection, with new private keys.

It also checks per-connection order itself, on keys only one connection
writes: a read of such a key must see the value of the connection's latest
earlier write (answered or still in the same pipeline), so a read sent after
a write on the same connection must see it.

  pipeline_client.py --nodes n1=HOST:PORT,... --seconds S --connections C
                     --seed N --out history.jsonl
  pipeline_client.py --one-process-per-op history.jsonl   (prints it rewritten)
Prints "ok=N fail=N info=N pipelines=N order_checked=N order_violations=N"
and exits 1 if an order violation was seen.
"""
import argparse
import json
import random
import socket
import sys
import threading
import time

SHARED_KEYS = ["k%d" % i for i in range(6)]


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reader:
    """RESP2 replies from a socket: ('+', text), ('-', text), (':', int),
    ('$', bytes or None), ('*', [replies] or None)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise ConnectionError("closed by the server")
        self.buf += d

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-"):
            return (t.decode(), rest.decode(errors="replace"))
        if t == b":":
            return (":", int(rest))
        if t == b"$":
            n = int(rest)
            if n < 0:
                return ("$", None)
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return ("$", data)
        if t == b"*":
            n = int(rest)
            return ("*", None if n < 0 else [self.reply() for _ in range(n)])
        raise ConnectionError("bad reply %r" % line)


class History:
    def __init__(self, path):
        self.f = open(path, "w")
        self.lock = threading.Lock()
        self.index = 0
        self.t0 = time.monotonic_ns()
        self.counts = {"ok": 0, "fail": 0, "info": 0}

    def add(self, process, type_, f, key, value, node, error=None):
        with self.lock:
            ev = {"index": self.index, "time": time.monotonic_ns() - self.t0, "process": process,
                  "type": type_, "f": f, "key": key, "value": value, "node": node}
            if error is not None:
                ev["error"] = error
            self.f.write(json.dumps(ev, separators=(",", ":")) + "\n")
            self.index += 1
            if type_ != "invoke":
                self.counts[type_] += 1

    def close(self):
        self.f.close()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.pipelines = self.order_checked = self.order_violations = 0
        self.next_process = 0

    def new_process(self):
        with self.lock:
            self.next_process += 1
            return self.next_process - 1


def worker(wid, nodes, deadline, seed, hist, stats, violations):
    rng = random.Random(seed * 1000 + wid)
    gen = 0
    while time.monotonic() < deadline:
        name, host, port = rng.choice(nodes)
        process = stats.new_process()
        gen += 1
        private = ["p%d.%d.%d" % (wid, gen, j) for j in range(2)]
        # What this connection last wrote to each private key, in send order:
        # its value, or None for deleted/never written.
        mine = {k: None for k in private}
        try:
            sock = socket.create_connection((host, port), timeout=5)
        except OSError:
            time.sleep(0.1)
            continue
        sock.settimeout(5)
        rd = Reader(sock)
        n_value = 0
        broken = False
        while not broken and time.monotonic() < deadline:
            cmds = []
            for _ in range(rng.randint(1, 8)):
                keys = private if rng.random() < 0.5 else SHARED_KEYS
                k = rng.choice(keys)
                n_value += 1
                v = "%d.%d.%d" % (process, n_value, rng.randrange(1000))
                r = rng.random()
                if r < 0.35:
                    cmds.append(("SET", k, v))
                elif r < 0.65:
                    cmds.append(("GET", k))
                elif r < 0.75:
                    cmds.append(("DEL", k))
                elif r < 0.85:
                    frm = mine.get(k) if k in mine and mine[k] is not None and rng.random() < 0.7 \
                        else "%d.%d.%d" % (process, rng.randint(1, max(1, n_value)), rng.randrange(1000))
                    cmds.append(("CAS", k, frm, v))
                else:
                    cmds.append(("MGET",) + tuple(rng.sample(private + SHARED_KEYS, rng.randint(1, 3))))
            # Invocations, and what each read of a private key must see: the
            # connection's latest write before it (a CAS's outcome is known
            # only from its reply: later reads of its key in the same
            # pipeline are not checked).
            expect = []  # per command: for each read key, the expected value or "?"
            pending = dict(mine)
            for c in cmds:
                op, ks = c[0], c[1:] if c[0] in ("MGET",) else (c[1],)
                if op in ("GET", "MGET"):
                    for k in ks:
                        hist.add(process, "invoke", "read", k, None, name)
                    expect.append([pending.get(k, "-") for k in ks])
                elif op == "SET":
                    hist.add(process, "invoke", "write", c[1], c[2], name)
                    if c[1] in pending:
                        pending[c[1]] = c[2]
                    expect.append(None)
                elif op == "DEL":
                    hist.add(process, "invoke", "write", c[1], None, name)
                    if c[1] in pending:
                        pending[c[1]] = None
                    expect.append(None)
                else:
                    hist.add(process, "invoke", "cas", c[1], [c[2], c[3]], name)
                    if c[1] in pending:
                        pending[c[1]] = "?"
                    expect.append(None)
            try:
                sock.sendall(b"".join(encode(c) for c in cmds))
            except OSError:
                break
            stats_checked = 0
            for i, c in enumerate(cmds):
                op = c[0]
                try:
                    rep = rd.reply()
                except (OSError, ConnectionError, ValueError):
                    broken = True
                    break
                f = {"GET": "read", "MGET": "read", "SET": "write", "DEL": "write", "CAS": "cas"}[op]
                ks = c[1:] if op == "MGET" else (c[1],)
                if rep[0] == "-":
                    code = 13 if rep[1].startswith("UNCERTAIN") else 11 if rep[1].startswith("TRYAGAIN") else 1
                    typ = "info" if code == 13 else "fail"
                    for k in ks:
                        val = None if f == "read" else [c[2], c[3]] if f == "cas" else (c[2] if op == "SET" else None)
                        hist.add(process, typ, f, k, val, name, [code, rep[1][:80]])
                    if code == 13:
                        broken = True  # its effect may come later: a new connection
                        break
                    if op in ("SET", "DEL", "CAS") and c[1] in mine:
                        # Definitely not done: the key holds what it held,
                        # which later reads' expectations did not assume.
                        for j in range(i + 1, len(cmds)):
                            expect[j] = None if expect[j] is None else ["?"] * len(expect[j])
                    continue
                if f == "read":
                    vals = [rep[1]] if op == "GET" else [x[1] for x in rep[1]]
                    for k, raw, want in zip(ks, vals, expect[i]):
                        got = None if raw is None else raw.decode()
                        hist.add(process, "ok", "read", k, got, name)
                        if k in mine and want != "?":
                            stats_checked += 1
                            if got != want:
                                violations.append("process %d on %s: GET %s read %r, its connection last wrote %r"
                                                  % (process, name, k, got, want))
                elif op == "SET":
                    hist.add(process, "ok", "write", c[1], c[2], name)
                    if c[1] in mine:
                        mine[c[1]] = c[2]
                elif op == "DEL":
                    hist.add(process, "ok", "write", c[1], None, name)
                    if c[1] in mine:
                        mine[c[1]] = None
                else:
                    if rep == (":", 1):
                        hist.add(process, "ok", "cas", c[1], [c[2], c[3]], name)
                        if c[1] in mine:
                            mine[c[1]] = c[3]
                    else:
                        code = 22 if rep == (":", 0) else 20
                        hist.add(process, "fail", "cas", c[1], [c[2], c[3]], name, [code, "cas refused"])
            with stats.lock:
                stats.pipelines += 1
                stats.order_checked += stats_checked
        try:
            sock.close()
        except OSError:
            pass


def one_process_per_op(path):
    """Print the history with a process of its own for every operation (a
    completion answers its process's oldest pending invocation of the same
    function): for a checker that allows one pending operation per process."""
    pending, serial = {}, 0
    with open(path) as f:
        for line in f:
            ev = json.loads(line)
            q = pending.setdefault((ev["process"], ev["f"]), [])
            if ev["type"] == "invoke":
                ev["process"] = serial
                q.append(serial)
                serial += 1
            else:
                ev["process"] = q.pop(0)
            print(json.dumps(ev, separators=(",", ":")))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--one-process-per-op":
        one_process_per_op(sys.argv[2])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", required=True)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--connections", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    nodes = []
    for item in a.nodes.split(","):
        name, addr = item.split("=")
        host, port = addr.rsplit(":", 1)
        nodes.append((name, host, int(port)))
    hist = History(a.out)
    stats = Stats()
    violations = []
    deadline = time.monotonic() + a.seconds
    threads = [threading.Thread(target=worker, args=(w, nodes, deadline, a.seed, hist, stats, violations))
               for w in range(a.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    hist.close()
    for v in violations[:10]:
        print("ORDER VIOLATION: " + v, file=sys.stderr)
    print("ok=%d fail=%d info=%d pipelines=%d processes=%d order_checked=%d order_violations=%d"
          % (hist.counts["ok"], hist.counts["fail"], hist.counts["info"], stats.pipelines,
             stats.next_process, stats.order_checked, len(violations)))
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    main()

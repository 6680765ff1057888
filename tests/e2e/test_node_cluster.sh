#!/usr/bin/env bash
# test_node_cluster.sh - three build/raftkv nodes behind a tiny in-test router
# (no whirl needed): a leader is elected, requests sent to every node are
# answered (followers forward to the leader, each batch tagged with the
# leader's term and its sender's epoch), writes are visible from every
# node, a leader cut off from the others steps down and the majority elects
# a new one and keeps answering, a leader appends a forwarded write only
# in the term it was forwarded in, and all nodes exit 0 when stdin closes.
#   tests/e2e/test_node_cluster.sh BUILD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$raftkv"
exec python3 - "$raftkv" <<'PY'
import json, os, select, shutil, subprocess, sys, tempfile, time

bin = sys.argv[1]
logdir = tempfile.mkdtemp(prefix="raftkv-cluster-")
def logpath(n):
    return os.path.join(logdir, n + ".log")
names = ["a1", "b2", "c3"]          # arbitrary names, not n0..n2
procs, bufs = {}, {}
for n in names:
    procs[n] = subprocess.Popen([bin, "--log-level", "info", "--seed", str(len(procs) + 1)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=open(logpath(n), "w"))
    bufs[n] = b""
cut = set()          # nodes isolated from the others
replies = {}         # (client, in_reply_to) -> body
counts = {"server": 0, "client": 0}
fwds, fwd_oks = [], []  # forward batches seen between nodes
checks = 0

def fail(why):
    print("FAIL:", why)
    for n, p in procs.items():
        p.kill()
        print(f"--- {n} log tail:")
        print("".join(open(logpath(n)).readlines()[-15:]))
    sys.exit(1)

def check(cond, what):
    global checks
    if not cond:
        fail(what)
    checks += 1
    print("ok -", what)

def send(dest, msg):
    try:
        procs[dest].stdin.write((json.dumps(msg) + "\n").encode())
        procs[dest].stdin.flush()
    except BrokenPipeError:
        fail(f"{dest} closed its stdin")

def pump(seconds):
    end = time.time() + seconds
    while True:
        left = end - time.time()
        if left <= 0:
            return
        outs = {procs[n].stdout.fileno(): n for n in names}
        r, _, _ = select.select(list(outs), [], [], left)
        for fd in r:
            n = outs[fd]
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                fail(f"{n} exited early")
            bufs[n] += chunk
            while b"\n" in bufs[n]:
                line, bufs[n] = bufs[n].split(b"\n", 1)
                m = json.loads(line)
                if m["src"] != n:
                    fail(f"{n} sent as {m['src']}")
                d = m["dest"]
                if d in procs:
                    counts["server"] += 1
                    if m["body"].get("type") == "fwd":
                        fwds.append(m["body"])
                    if m["body"].get("type") == "fwd_ok":
                        fwd_oks.append(m["body"])
                    if n in cut or d in cut:
                        continue
                    send(d, m)
                else:
                    counts["client"] += 1
                    replies[(d, m["body"].get("in_reply_to"))] = m["body"]

mid = [1000]
def request(node, body, client="c9", timeout=3.0):
    mid[0] += 1
    key = (client, mid[0])
    send(node, {"src": client, "dest": node, "body": dict(body, msg_id=mid[0])})
    end = time.time() + timeout
    while key not in replies and time.time() < end:
        pump(0.01)
    return replies.get(key)

for i, n in enumerate(names):
    send(n, {"src": "c0", "dest": n, "body": {"type": "init", "msg_id": i + 1,
                                             "node_id": n, "node_ids": names}})
pump(0.3)
check(all(replies.get(("c0", i + 1), {}).get("type") == "init_ok" for i in range(3)),
      "every node answers init")

def wait_write(node, key, value, limit=5.0):
    end = time.time() + limit
    while time.time() < end:
        b = request(node, {"type": "write", "key": key, "value": value})
        if b and b["type"] == "write_ok":
            return True
        pump(0.1)
    return False

check(wait_write("a1", 1, 10), "a write is acknowledged once a leader is elected")
for n in names:
    b = request(n, {"type": "read", "key": 1})
    check(b and b.get("type") == "read_ok" and b["value"] == 10, f"{n} reads the write")
for n in names:
    b = request(n, {"type": "cas", "key": 1, "from": 99, "to": 1})
    check(b and b.get("code") == 22, f"a cas with a wrong from via {n} gets 22")

# Many clients at once, one request each in flight, against all three nodes.
t0 = time.time()
sent, answered = 0, 0
pending = {}
for c in range(30):
    pending[f"c{100 + c}"] = None
ops = 0
while time.time() - t0 < 2.0:
    for c in list(pending):
        cur = pending[c]
        if cur is None or (c, cur) in replies:
            if cur is not None:
                answered += 1
                b = replies[(c, cur)]
                if b["type"] == "error" and b["code"] not in (20, 22):
                    fail(f"unexpected error under load: {b}")
            mid[0] += 1
            node = names[ops % 3]
            ops += 1
            body = ({"type": "write", "key": ops % 7, "value": ops} if ops % 2 else
                    {"type": "read", "key": ops % 7})
            send(node, {"src": c, "dest": node, "body": dict(body, msg_id=mid[0])})
            pending[c] = mid[0]
            sent += 1
    pump(0.002)
pump(0.5)
answered += sum(1 for c, m in pending.items() if (c, m) in replies)
check(answered == sent, f"all {sent} requests of 30 concurrent clients are answered "
      f"({answered / 2.0:.0f}/s through a Python router; {counts['server']} server msgs)")

# Cut off the leader: the other two elect a new one and carry on.
def leader_of():
    for n in names:
        log = open(logpath(n)).read().strip().split("\n")
        lines = [l for l in log if ": term " in l]
        if lines and ": leader, leader" in lines[-1]:
            return n
    return None
old = leader_of()
check(old is not None, f"the logs name the leader ({old})")
cut.add(old)
others = [n for n in names if n != old]
pump(1.5)
check(wait_write(others[0], 2, 20, limit=5.0), "the majority elects a new leader and takes writes")
b = request(others[1], {"type": "read", "key": 2})
check(b and b.get("type") == "read_ok" and b["value"] == 20, "the other majority node reads it")
b = request(old, {"type": "read", "key": 2}, timeout=2.5)
check(b is None or b["type"] == "error", "the cut-off old leader serves no read")
cut.clear()
pump(1.5)
b = request(old, {"type": "read", "key": 2})
check(b and b.get("type") == "read_ok" and b["value"] == 20, "after healing the old leader catches up")

check(fwds and all(isinstance(f.get("term"), int) and f["term"] > 0 and
                  isinstance(f.get("e"), int) and f["e"] > 0 for f in fwds),
      f"all {len(fwds)} forward batches carry a term and their sender's epoch")

# A forward as a follower would send it, by hand: in an earlier term it is
# refused definitely (11, replica status 1: not the leader) and not applied;
# in the leader's term it is applied; without a term it is malformed (12).
lead = leader_of()
term = int([l for l in open(logpath(lead)).read().split("\n") if ": term " in l][-1]
           .split(": term ")[1].split(":")[0])
peer = [n for n in names if n != lead][0]
def forward(term, i, value):
    body = {"type": "fwd", "msg_id": 9000 + i, "e": 4242,
            "reqs": [{"i": i, "op": "w", "k": 55, "v": value}]}
    if term is not None:
        body["term"] = term
    send(lead, {"src": peer, "dest": lead, "body": body})
    end = time.time() + 3
    while time.time() < end:
        pump(0.01)
        for f in fwd_oks:
            for r in f.get("reps", []):
                if r.get("i") == i:
                    return dict(r, e=f.get("e"))
    return None
r = forward(term - 1, 77001, 50)
check(r and r.get("code") == 11 and r.get("st") == 1 and r.get("e") == 4242,
      f"a write forwarded in term {term - 1} is refused by the leader of term {term}, "
      f"answered in the forward's epoch: {r}")
b = request(lead, {"type": "read", "key": 55})
check(b and b.get("code") == 20, "the refused forward changed nothing")
r = forward(term, 77002, 51)
check(r and r.get("code") == 0 and "st" not in r, f"a write forwarded in the leader's term is applied: {r}")
b = request(peer, {"type": "read", "key": 55})
check(b and b.get("value") == 51, "and read back through a follower")
r = forward(None, 77003, 52)
check(r and r.get("code") == 12, f"a forward without a term is malformed: {r}")

for n in names:
    procs[n].stdin.close()
for n in names:
    try:
        rc = procs[n].wait(timeout=5)
    except subprocess.TimeoutExpired:
        fail(f"{n} did not exit on EOF")
    check(rc == 0, f"{n} exits 0 on EOF")
shutil.rmtree(logdir)
print(f"test_node_cluster: {checks} checks passed")
PY

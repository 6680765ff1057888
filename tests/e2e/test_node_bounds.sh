#!/usr/bin/env bash
# test_node_bounds.sh - build/raftkv as node n1 of three, the test playing
# n2, n3 and a client with hand-written lines: Raft messages with a term of
# 2^63-1 or 2^53 are refused and logged and change nothing (the node goes on
# campaigning in term 1); a term of 2^53-1 is the last one adopted, after
# which the node refuses to campaign (it would need 2^53) and says so; every
# line it sends stays JSON whose integers are at most 2^53-1; a msg_id past
# 2^53-1 or below 0 gets error 12.
#   tests/e2e/test_node_bounds.sh BUILD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$raftkv"
exec python3 - "$raftkv" <<'PY'
import json, os, select, subprocess, sys, time

bin = sys.argv[1]
p = subprocess.Popen([bin, "--log-level", "info"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out = []        # every message the node wrote, in order
pending = b""
checks = 0
MAX = 2**53 - 1

def fail(why):
    print("FAIL:", why)
    p.kill()
    print("stderr:", p.stderr.read().decode(errors="replace")[-3000:])
    sys.exit(1)

def check(cond, what):
    global checks
    if not cond:
        fail(what)
    checks += 1
    print("ok -", what)

def ints(v):
    if isinstance(v, bool):
        return
    if isinstance(v, int):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from ints(x)
    elif isinstance(v, list):
        for x in v:
            yield from ints(x)

def pump(seconds):
    """Read what the node writes for this long; every line must be JSON
    whose integers a 2^53 parser reads exactly."""
    global pending
    deadline = time.time() + seconds
    while True:
        left = deadline - time.time()
        if left <= 0:
            return
        r, _, _ = select.select([p.stdout], [], [], left)
        if not r:
            continue
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            fail("stdout closed early")
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            try:
                m = json.loads(line)
            except ValueError:
                fail(f"stdout line is not JSON: {line[:100]!r}")
            # A reply echoes the client's own msg_id as sent; every other
            # integer, and all of every line to a peer, is the node's.
            body = dict(m["body"])
            if not m["dest"].startswith("n"):
                body.pop("in_reply_to", None)
            big = [i for i in ints(body) if i > MAX or i < -MAX]
            if big:
                fail(f"the node sent an integer past 2^53-1: {line[:200]!r}")
            out.append(m)

def send(src, body):
    p.stdin.write((json.dumps({"src": src, "dest": "n1", "body": body}) + "\n").encode())
    p.stdin.flush()

def reply_to(irt, seconds=3.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        for m in out:
            if m["body"].get("in_reply_to") == irt and not m.get("_seen"):
                m["_seen"] = True
                return m["body"]
        pump(0.05)
    fail(f"no reply to msg_id {irt}")

def sent_since(k, type_, dest):
    return [m["body"] for m in out[k:] if m["body"]["type"] == type_ and m["dest"] == dest]

# An init whose msg_id no peer parser reads exactly is refused, echoed.
send("c0", {"type": "init", "msg_id": 2**63 - 1, "node_id": "n1", "node_ids": ["n1", "n2", "n3"]})
b = reply_to(2**63 - 1)
check(b["type"] == "error" and b["code"] == 12, "an init with msg_id 2^63-1 gets error 12")
send("c0", {"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n1", "n2", "n3"]})
check(reply_to(1)["type"] == "init_ok", "init with msg_id 1 is answered")

for bad in (2**53, 2**63 - 1, -1):
    send("c1", {"type": "read", "key": 1, "msg_id": bad})
    b = reply_to(bad)
    check(b["type"] == "error" and b["code"] == 12 and "2^53-1" in b["text"],
          f"a read with msg_id {bad} gets error 12 naming the range")
send("c1", {"type": "read", "key": 1, "msg_id": MAX})
b = reply_to(MAX, 5.0)
check(b["type"] == "error" and b["code"] == 11, "msg_id 2^53-1 is served (no leader yet: 11)")

# Forged terms from members: refused, nothing adopted.
k = len(out)
send("n2", {"type": "raft_append", "msg_id": 5, "t": 2**63 - 1, "pi": 0, "pt": 0, "c": 0, "q": 1})
pump(1.1)  # one refusal line a second: the next one gets its own line
send("n3", {"type": "raft_vote", "msg_id": 6, "t": 2**53, "li": 0, "lt": 0})
send("n2", {"type": "raft_append", "msg_id": 7, "t": 2**53, "pi": 0, "pt": 0, "c": 0, "q": 1})
send("n2", {"type": "raft_append", "msg_id": 8, "t": 3, "pi": 2**53 - 2, "pt": 3, "c": 0,
            "q": 1, "e": [[3, 0, None], [3, 0, None]]})
pump(1.5)
check(not sent_since(k, "raft_append_resp", "n2") and not sent_since(k, "raft_vote_resp", "n3"),
      "no forged message was answered")
pv = sent_since(k, "raft_prevote", "n2")
check(pv and all(x["t"] == 1 for x in pv),
      f"the node still campaigns for term 1 with its peers ({len(pv)} pre-votes)")

# 2^53-1 is within the bound: adopted, answered; the node then cannot campaign.
k = len(out)
send("n2", {"type": "raft_append", "msg_id": 9, "t": MAX, "pi": 0, "pt": 0, "c": 0, "q": 1})
pump(0.5)
resp = sent_since(k, "raft_append_resp", "n2")
check(resp and resp[0]["t"] == MAX and resp[0]["s"] == 1,
      "term 2^53-1 is adopted and answered in that term")
k = len(out)
pump(1.5)  # n2 goes silent: the election timeout (250-500 ms) passes
check(not sent_since(k, "raft_prevote", "n2") and not sent_since(k, "raft_vote", "n2"),
      "at term 2^53-1 the node does not campaign")

p.stdin.close()
try:
    rc = p.wait(timeout=5)
except subprocess.TimeoutExpired:
    fail("did not exit after stdin closed")
pending += p.stdout.read()
for line in pending.split(b"\n"):
    if line.strip():
        out.append(json.loads(line))
check(rc == 0, "exits 0 when stdin closes")
err = p.stderr.read().decode(errors="replace")
check('refused a raft_append from n2: "t" is outside 0..2^53-1' in err,
      "the refused term is logged with the sender and the reason")
check('refused a raft_vote from n3: "t" is outside 0..2^53-1 (0 more' in err,
      "a refusal a second later gets its own line")
check("cannot start an election: term 9007199254740991" in err,
      "the election it cannot start is logged as an error")
print(f"test_node_bounds: {checks} checks passed")
PY

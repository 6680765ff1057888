#!/usr/bin/env bash
# test_node_protocol.sh - build/raftkv as a single Maelstrom node, driven by
# hand-written lines: init, bad input, every error code the node can give,
# JSON keys and values, unique msg_ids, only JSON on stdout, exit 0 on EOF.
#   tests/e2e/test_node_protocol.sh BUILD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$raftkv"
exec python3 - "$raftkv" <<'PY'
import json, subprocess, sys, time, select, os

bin = sys.argv[1]
p = subprocess.Popen([bin, "--log-level", "debug"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out_lines = []
pending = b""
checks = 0

def send(obj_or_text):
    line = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text)
    p.stdin.write(line.encode() + b"\n")
    p.stdin.flush()

def read_reply(want_irt, timeout=3.0):
    """Read stdout lines until the reply to msg_id want_irt arrives."""
    global pending
    deadline = time.time() + timeout
    while True:
        for m in out_lines:
            if m["body"].get("in_reply_to") == want_irt and not m.get("_seen"):
                m["_seen"] = True
                return m
        left = deadline - time.time()
        if left <= 0:
            fail(f"no reply to msg_id {want_irt}")
        r, _, _ = select.select([p.stdout], [], [], left)
        if r:
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
                if not isinstance(m, dict) or set(m) != {"src", "dest", "body"}:
                    fail(f"stdout line is not a message: {line[:100]!r}")
                out_lines.append(m)

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

mid = [100]
def req(body, client="c1"):
    mid[0] += 1
    body = dict(body, msg_id=mid[0])
    send({"src": client, "dest": "n7", "body": body})
    return read_reply(mid[0])["body"]

# Before init: a definite "temporarily unavailable".
b = req({"type": "read", "key": 0})
check(b["type"] == "error" and b["code"] == 11, "a request before init gets error 11")

send({"src": "c0", "dest": "n7", "body": {"type": "init", "msg_id": 1, "node_id": "n7",
                                         "node_ids": ["n7"]}})
b = read_reply(1)["body"]
check(b["type"] == "init_ok", "init is answered with init_ok")
send({"src": "c0", "dest": "n7", "body": {"type": "raft_init", "msg_id": 2, "node_id": "n7",
                                         "node_ids": ["n7"]}})
b = read_reply(2)["body"]
check(b["type"] == "raft_init_ok", "raft_init is answered with raft_init_ok")

# Wait for the single node to elect itself: retry a read until it is not 11.
deadline = time.time() + 5
while True:
    b = req({"type": "read", "key": 0})
    if b.get("code") != 11 or time.time() > deadline:
        break
    time.sleep(0.1)
check(b["type"] == "error" and b["code"] == 20, "reading a missing key gets error 20")

send("this is not json {")
send('{"src":"c1","dest":"n7","body":[1,2]}')
send('{"src":"c1"}')
send("")
b = req({"type": "write", "key": 1, "value": 10})
check(b["type"] == "write_ok", "garbage lines are dropped and the node carries on")

b = req({"type": "write", "value": 3})
check(b["type"] == "error" and b["code"] == 12, "a write without key gets error 12")
b = req({"type": "cas", "key": 1, "from": 10})
check(b["type"] == "error" and b["code"] == 12, "a cas without to gets error 12")
b = req({"type": "read"})
check(b["type"] == "error" and b["code"] == 12, "a read without key gets error 12")
send({"src": "c1", "dest": "n7", "body": {"type": "read", "key": 1, "msg_id": "x"}})
b = read_reply("x")["body"]
check(b["type"] == "error" and b["code"] == 12, "an ill-typed msg_id gets error 12, echoed")
b = req({"type": "frobnicate", "key": 1})
check(b["type"] == "error" and b["code"] == 10, "an unknown type gets error 10")

b = req({"type": "read", "key": 1})
check(b["type"] == "read_ok" and b["value"] == 10, "a read sees the write")
b = req({"type": "cas", "key": 1, "from": 11, "to": 12})
check(b["type"] == "error" and b["code"] == 22, "a cas with the wrong from gets error 22")
b = req({"type": "cas", "key": 1, "from": "10", "to": 12})
check(b["type"] == "error" and b["code"] == 22, "values compare as JSON: \"10\" is not 10")
b = req({"type": "cas", "key": 5, "from": 1, "to": 2})
check(b["type"] == "error" and b["code"] == 20, "a cas on a missing key gets error 20")
b = req({"type": "cas", "key": 1, "from": 10, "to": 12})
check(b["type"] == "cas_ok", "a cas with the right from succeeds")
b = req({"type": "read", "key": 1})
check(b["type"] == "read_ok" and b["value"] == 12, "a read sees the cas")

k = {"b": [1, 2], "a": "x"}
v = {"deep": {"list": [None, True, 1.5, "s"]}}
b = req({"type": "write", "key": k, "value": v})
check(b["type"] == "write_ok", "JSON keys and values can be written")
b = req({"type": "read", "key": {"a": "x", "b": [1, 2]}})
check(b["type"] == "read_ok" and b["value"] == v, "object keys compare by content")
b = req({"type": "read", "key": "1"})
check(b["type"] == "error" and b["code"] == 20, "key \"1\" is not key 1")

# Several requests from several clients in one batch, all answered.
ids = []
for i in range(20):
    mid[0] += 1
    ids.append(mid[0])
    send({"src": f"c{i % 4}", "dest": "n7", "body": {"type": "write", "key": 100 + i,
                                                     "value": i, "msg_id": mid[0]}})
for i in ids:
    b = read_reply(i)["body"]
    if b["type"] != "write_ok":
        fail(f"batched write {i}: {b}")
check(True, "a batch of 20 writes from 4 clients is answered")

# A repeated init keeps the data.
send({"src": "c0", "dest": "n7", "body": {"type": "init", "msg_id": 3, "node_id": "n7",
                                         "node_ids": ["n7"]}})
read_reply(3)
b = req({"type": "read", "key": 1})
check(b["type"] == "read_ok" and b["value"] == 12, "a repeated init does not reset the data")

p.stdin.close()
try:
    rc = p.wait(timeout=5)
except subprocess.TimeoutExpired:
    fail("did not exit after stdin closed")
rest = p.stdout.read()
for line in (pending + rest).split(b"\n"):
    if line.strip():
        out_lines.append(json.loads(line))
check(rc == 0, "exits 0 when stdin closes")

msg_ids = [m["body"]["msg_id"] for m in out_lines]
check(len(msg_ids) == len(set(msg_ids)), f"all {len(msg_ids)} msg_ids sent are unique")
check(all(m["src"] == "n7" for m in out_lines), "every message comes from n7")
replies_to_client = [m for m in out_lines if m["dest"].startswith("c")]
check(all("in_reply_to" in m["body"] for m in replies_to_client), "every reply has in_reply_to")
err = p.stderr.read().decode(errors="replace")
check("unparseable" in err, "the garbage line was logged on stderr")
check("in memory" in err, "the node says its state is in memory only")
print(f"test_node_protocol: {checks} checks passed")
PY

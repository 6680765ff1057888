#!/usr/bin/env bash
# test_node_fuzz.sh - random and ill-formed traffic never crashes build/raftkv:
# 20,000 seeded random lines (Raft messages with wild fields, forwards,
# client requests, truncated lines, inits) from peers, strangers and clients;
# the node must exit 0 on EOF with nothing on stderr from a sanitizer.
# The seed is printed; replay with RAFTKV_FUZZ_SEED=N.
#   tests/e2e/test_node_fuzz.sh BUILD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$raftkv"
scratch
python3 - "$raftkv" "${RAFTKV_FUZZ_SEED:-}" "$tmp/stderr" <<'PY'
import json, random, subprocess, sys, time
seed = int(sys.argv[2]) if sys.argv[2] else random.randrange(1 << 30)
print("seed", seed, "(replay with RAFTKV_FUZZ_SEED=%d)" % seed)
rng = random.Random(seed)
p = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(sys.argv[3], "w+"))
def w(s): p.stdin.write(s.encode() + b"\n")
w(json.dumps({"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2","n3"]}}))
def rv():
    return rng.choice([0, 1, 2, 3, 5, 100, 2**31, 2**62, 2**63-1, -1, "x", None, 1.5, [], {}, True])
def entry():
    return rng.choice([[rv(), rv(), rv()], [1, 1, {"op":"w","k":1,"v":2}], [1, 0, None], [2, 1, {"op":"c","k":1,"f":2,"t":3}], [1,1,{"op":"zz"}], rv()])
types = ["raft_prevote","raft_prevote_resp","raft_vote","raft_vote_resp","raft_append","raft_append_resp","raft_snapshot","raft_snapshot_resp","fwd","fwd_ok","read","write","cas","init"]
for i in range(20000):
    body = {"type": rng.choice(types), "msg_id": i + 2}
    for k in ["t","li","lt","g","pi","pt","c","q","s","mi","ri","hi","ht","si","st"]:
        if rng.random() < 0.6:
            body[k] = rng.choice([rv(), rng.randrange(0, 50), rng.randrange(0, 5)])
    if rng.random() < 0.5:
        body["e"] = [entry() for _ in range(rng.randrange(0, 5))]
    if rng.random() < 0.3:
        body["sd"] = rng.choice([{"1": 2}, {"\"a\"": [1]}, {"bad key": 1}, rv()])
    if body["type"] in ("fwd", "fwd_ok"):
        body["term"] = rng.choice([rv(), rng.randrange(0, 5)])
        body["e"] = rv()
        body["reqs"] = [{"i": rv(), "op": rng.choice(["r","w","c","x",1]), "k": rv(), "v": rv(), "f": rv(), "t": rv()} for _ in range(3)]
        body["reps"] = [{"i": rv(), "code": rv(), "st": rv(), "v": rv()} for _ in range(3)]
    if body["type"] in ("read","write","cas"):
        for k in ["key","value","from","to"]:
            if rng.random() < 0.7: body[k] = rv()
    src = rng.choice(["n2","n3","c1","n1","n9"])
    line = json.dumps({"src": src, "dest": "n1", "body": body})
    if rng.random() < 0.02:
        line = line[:rng.randrange(len(line))]
    w(line)
    if i % 500 == 0:
        p.stdin.flush(); time.sleep(0.01)
p.stdin.close()
rc = p.wait(timeout=30)
err = open(sys.argv[3]).read()
if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error" in err:
    print("FAIL: exit code", rc, "seed", seed); print(err[-3000:]); sys.exit(1)
print("ok - 20000 random lines, no crash, exit 0 on EOF")
PY

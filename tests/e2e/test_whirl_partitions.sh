#!/usr/bin/env bash
# test_whirl_partitions.sh - the partition nemesis: faulty phases alternate
# with healed ones, messages across a cut are dropped and counted, the
# network is healed before the end, and a seed replays the same schedule.
# Mechanics only: the verdict on the node is other tests' business. Uses
# build/raftkv for node-to-node traffic (skipped if it is not built).
#   tests/e2e/test_whirl_partitions.sh BUILD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
node=$raftkv
[ -x "$node" ] || node=build/raftkv
if [ ! -x "$node" ]; then echo "SKIP: no raftkv binary to make node-to-node traffic"; exit 0; fi
scratch

for i in 1 2; do
  set +e
  "$whirl" test --bin "$node" --node-count 5 --concurrency 1n --rate 40 --time-limit 4.5 --nemesis partition \
    --nemesis-interval 1 --latency 2 --latency-dist uniform --seed 21 --store "$tmp/s$i" >"$tmp/out$i" 2>&1
  rc=$?
  set -e
  [ $rc -le 2 ] || { cat "$tmp/out$i"; fail "run $i: exit code $rc"; }
done
python3 - "$tmp/s1/latest" "$tmp/s2/latest" <<'PY'
import json, sys
def load(d):
    ev = [json.loads(l) for l in open(d + "/history.jsonl")]
    return ev, json.load(open(d + "/results.json")), [json.loads(l) for l in open(d + "/messages.jsonl")]
ev, res, msgs = load(sys.argv[1])
nem = [e for e in ev if e["process"] == "nemesis"]
starts = [e for e in nem if e["f"] == "start-partition"]
stops = [e for e in nem if e["f"] == "stop-partition"]
assert len(starts) >= 2, f"{len(starts)} partitions in 4.5 s at a 1 s interval"
assert [e["f"] for e in nem] == ["start-partition", "stop-partition"] * len(starts), "phases do not alternate"
assert nem[-1]["f"] == "stop-partition", "the network was not healed at the end"
last_client = max(e["time"] for e in ev if e["process"] != "nemesis" and e["type"] == "invoke")
for s in starts:
    assert s["text"] and s["value"], "a partition without its shape"
assert res["net"]["dropped"] > 0, "no message dropped under partitions"
dropped = [m for m in msgs if m["dropped"]]
assert dropped and all(m["recv"] is None for m in dropped), "dropped messages in messages.jsonl"
assert all(m["src"].startswith("n") and m["dest"].startswith("n") for m in dropped), "a client message was cut"
rec = res["recovery"]
assert rec["changes"] == len(rec["list"]) and all({"at_s", "after", "ms", "never"} <= set(x) for x in rec["list"]), rec
assert all(x["after"] not in ("majority ring", "bridge") for x in rec["list"]), "ring/bridge have no majority side"
print(f"   recovery measured after {rec['changes']} changes, worst {rec['max_ms']:.0f} ms")
print(f"   {len(starts)} partitions ({', '.join(s['text'] for s in starts)}), {res['net']['dropped']} messages dropped")
ev2, _, _ = load(sys.argv[2])
sched = lambda evs: [(e["f"], json.dumps(e["value"])) for e in evs if e["process"] == "nemesis"]
a, b = sched(ev), sched(ev2)
n = min(len(a), len(b))
assert n >= 4 and a[:n] == b[:n], "seed 21 gave different partition schedules"
print(f"   seed 21 replayed the same {n} nemesis events")
PY
echo "ok"

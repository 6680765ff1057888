#!/usr/bin/env bash
# test_whirl_localkv.sh - whirl's verdicts on a store that is correct only on
# one node: localkv answers from its own local map, so whirl must find it
# valid on 1 node and invalid (exit 1) on 3, and a seed must replay the same
# workload.
#   tests/e2e/test_whirl_localkv.sh BUILD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
scratch

echo "== localkv on 1 node is linearizable (exit 0)"
set +e
"$whirl" test -w lin-kv --bin "$localkv" --node-count 1 --time-limit 3 --rate 50 --seed 11 --store "$tmp" >"$tmp/one.out" 2>&1
rc=$?
set -e
[ $rc -eq 0 ] || { cat "$tmp/one.out"; fail "1-node exit code $rc, want 0"; }
tail -n 1 "$tmp/one.out" | grep -qF 'Everything looks good! ヽ(‘ー`)ノ' || fail "closing line of a valid run"
grep -q 'seed 11' "$tmp/one.out" || fail "seed not printed"
run=$(readlink -f "$tmp/latest")
for f in history.jsonl history.txt history.edn results.json whirl.log messages.jsonl node-logs/n0.log; do
  [ -s "$run/$f" ] || fail "run folder lacks a non-empty $f"
done
python3 - "$run" <<'PY'
import json, sys
run = sys.argv[1]
events = [json.loads(l) for l in open(run + "/history.jsonl")]
assert events, "empty history"
assert all(e["index"] == i for i, e in enumerate(events)), "indexes not consecutive"
invokes = sum(e["type"] == "invoke" for e in events)
done = sum(e["type"] in ("ok", "fail", "info") for e in events)
assert invokes == done, f"{invokes} invokes but {done} completions"
assert 100 <= invokes <= 200, f"{invokes} requests in 3 s at rate 50"
r = json.load(open(run + "/results.json"))
assert r["valid"] is True and r["seed"] == 11, r["valid"]
assert r["stats"]["read"]["ok"] + r["stats"]["read"]["fail"] > 0
print(f"   {invokes} requests, all completed; results.json valid")
PY
"$whirl" check "$run/history.jsonl" "$run/history.edn" >/dev/null 2>&1 || fail "whirl check disagrees: valid run's history"
echo "   whirl check reads history.jsonl and history.edn back as valid"
cmp -s "$run/whirl.log" "$tmp/one.out" || fail "whirl.log is not what the console showed"

echo "== localkv on 3 nodes is not linearizable (exit 1)"
set +e
"$whirl" test -w lin-kv --bin "$localkv" --node-count 3 --concurrency 2n --time-limit 3 --rate 50 --seed 12 --store "$tmp" >"$tmp/three.out" 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || { tail -n 30 "$tmp/three.out"; fail "3-node exit code $rc, want 1"; }
tail -n 1 "$tmp/three.out" | grep -qF 'Analysis invalid! (ﾉಥ益ಥ）ﾉ ┻━┻' || fail "closing line of an invalid run"
grep -q 'is not linearizable' "$tmp/three.out" || fail "no explanation of an invalid key"
python3 - "$(readlink -f "$tmp/latest")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/results.json"))
assert r["valid"] is False
bad = [k for k, v in r["keys"].items() if v["valid"] is False]
assert bad and "failed_op_index" in r["keys"][bad[0]], "invalid key without its failing op"
print(f"   invalid keys: {bad}")
PY

set +e
"$whirl" check "$tmp/latest/history.jsonl" "$tmp/latest/history.edn" >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || fail "whirl check on the invalid run's history: exit code $rc, want 1"
echo "   whirl check reads history.jsonl and history.edn back as invalid"

echo "== the same seed replays the same workload, thread by thread"
for i in 1 2; do
  "$whirl" test -w lin-kv --bin "$localkv" --node-count 3 --concurrency 2n --time-limit 1 --rate 100 --seed 99 \
    --store "$tmp/replay$i" >/dev/null 2>&1 || [ $? -eq 1 ] || fail "replay run $i"
done
python3 - "$tmp/replay1/latest/history.jsonl" "$tmp/replay2/latest/history.jsonl" <<'PY'
import json, sys
def ops(p):
    d = {}
    for e in map(json.loads, open(p)):
        if e["type"] == "invoke":
            d.setdefault(e["process"], []).append((e["f"], json.dumps(e["value"])))
    return d
a, b = ops(sys.argv[1]), ops(sys.argv[2])
same = 0
for p in set(a) & set(b):
    n = min(len(a[p]), len(b[p]))
    assert a[p][:n] == b[p][:n], f"seed 99: process {p} asked for different operations"
    same += n
assert same >= 60, f"only {same} operations compared"
print(f"   {same} requests of {len(set(a) & set(b))} processes identical in both runs")
PY

echo "== --availability total fails a valid history with failed requests (exit 1)"
set +e
"$whirl" test --bin "$localkv" --node-count 1 --time-limit 1 --rate 100 --seed 13 --availability total \
  --store "$tmp/avail" >"$tmp/avail.out" 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || { tail -n 12 "$tmp/avail.out"; fail "--availability total: exit code $rc, want 1"; }
grep -q 'BELOW --availability' "$tmp/avail.out" || fail "no availability message"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); a=r["availability"]; assert a["valid"] is False and a["required"]==1.0 and r["linearizable"]["valid"] is True, a' \
  "$tmp/avail/latest/results.json" || fail "availability in results.json"
echo "   linearizable but only $(grep -o '[0-9.]*% of requests ok' "$tmp/avail.out") -> invalid"

echo "== --test-count 2 runs twice, each in its own folder, and sums up"
"$whirl" test --bin "$localkv" --node-count 1 --time-limit 0.5 --rate 50 --seed 40 --test-count 2 \
  --store "$tmp/multi" >"$tmp/multi.out" 2>&1 || { cat "$tmp/multi.out"; fail "--test-count 2"; }
[ "$(ls -d "$tmp"/multi/lin-kv/*/ | wc -l)" -eq 2 ] || fail "want 2 run folders"
grep -q '2 runs: 2 valid, 0 invalid, 0 unknown, 0 could not run (seeds 40..41)' "$tmp/multi.out" || fail "summary"
grep -q 'seed 41' "$tmp/multi.out" || fail "second run's seed"
python3 -c 'import json,glob,sys; [p]=glob.glob(sys.argv[1]+"/lin-kv/series-*.json"); s=json.load(open(p)); assert [r["verdict"] for r in s["runs"]]==["valid","valid"] and s["runs"][1]["seed"]==41, s' \
  "$tmp/multi" || fail "series summary file"
echo "   2 folders; $(grep '2 runs' "$tmp/multi.out")"
echo "ok"

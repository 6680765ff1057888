#!/usr/bin/env bash
# test_whirl_final_reads.sh - the durability check: after the faults end,
# every key is read; acknowledged writes that vanished are reported as lost
# writes and make the run invalid. localkv keeps its map in memory, so a
# killed and restarted localkv loses what it acknowledged.
#   tests/e2e/test_whirl_final_reads.sh BUILD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
scratch

echo "== a correct single node: every key read back, nothing lost (exit 0)"
"$whirl" test --bin "$localkv" --node-count 1 --concurrency 2 --rate 100 --time-limit 2 --per-key-limit 10 --final-reads \
  --seed 51 --store "$tmp/ok" >"$tmp/ok.out" 2>&1 || { tail -n 20 "$tmp/ok.out"; fail "exit code $?"; }
python3 - "$tmp/ok/latest" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/results.json"))
fr = r["final_reads"]
assert fr["keys"] >= 10 and fr["read"] == fr["keys"] and r["lost_writes"] == [], (fr, r["lost_writes"])
print(f"   {fr['read']} of {fr['keys']} keys read back, no lost writes")
PY

echo "== a node that forgets on restart: lost writes reported (exit 1)"
set +e
"$whirl" test --bin "$localkv" --node-count 1 --concurrency 2 --rate 100 --time-limit 3 --per-key-limit 10 \
  --nemesis kill --nemesis-interval 0.5 --seed 52 --store "$tmp/lost" >"$tmp/lost.out" 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || { tail -n 20 "$tmp/lost.out"; fail "exit code $rc, want 1"; }
grep -q '!!! LOST WRITES: key' "$tmp/lost.out" || fail "lost writes not shown on the console"
python3 - "$tmp/lost/latest" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/results.json"))
lost = r["lost_writes"]
assert lost and all(l["final"] is None and l["acknowledged"] > 0 for l in lost), lost
assert r["valid"] is False
print(f"   {len(lost)} keys lost acknowledged writes, e.g. {lost[0]}")
PY
echo "ok"

#!/usr/bin/env bash
# test_whirl_stats.sh - whirl's stats check (Jepsen's stats checker): a run
# in which some function (read, write, cas) was invoked but never succeeded
# is invalid (exit 1), with the reason on the console, in results.json's
# stats and on index.html, even though such a history is linearizable. The
# broken nodes are tests/nodes/brokenkv; raftkv stays valid. Also: the kill
# nemesis without {data} warns that killed nodes come back empty. `whirl
# check` judges linearizability only, so it keeps calling such a history valid.
#   tests/e2e/test_whirl_stats.sh BUILD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
brokenkv=$build/tests/nodes/brokenkv
need "$whirl" "$brokenkv" "$raftkv" "$localkv"
scratch

# run NAME EXPECTED_RC whirl-test-args...: one run into $tmp/NAME (EXPECTED_RC
# "verdict": any of 0, 1, 2).
run() {
  local name=$1 want=$2
  shift 2
  set +e
  "$whirl" test -w lin-kv --time-limit 1.5 --rate 40 --quiet-period 0.2 --store "$tmp/$name" "$@" >"$tmp/$name.out" 2>&1
  local rc=$?
  set -e
  [ "$want" = verdict ] && [ $rc -le 2 ] && return 0
  [ $rc -eq "$want" ] || { tail -n 25 "$tmp/$name.out"; fail "$name: exit code $rc, want $want"; }
}

echo "== every request answered with error 10, as the echo demo does: invalid (exit 1)"
run unsupported 1 --bin "$brokenkv" unsupported --node-count 1 --concurrency 4 --seed 61
tail -n 1 "$tmp/unsupported.out" | grep -qF 'Analysis invalid! (ﾉಥ益ಥ）ﾉ ┻━┻' || fail "closing line"
grep -q '^!!! STATS: no read ever succeeded (0 ok, [0-9]* fail, 0 info); no write ever succeeded' "$tmp/unsupported.out" \
  || fail "no STATS line on the console"
python3 - "$tmp/unsupported/latest" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1] + "/results.json"))
st = r["stats"]
assert r["valid"] is False and st["valid"] is False, (r["valid"], st)
assert r["linearizable"]["valid"] is True, "a history with no ok is linearizable: stats alone decide"
assert st["ok"] == 0 and st["info"] == 0 and st["fail"] == st["count"] > 0, st
for f in ("read", "write", "cas"):
    assert st[f]["ok"] == 0 and st[f]["valid"] is False and st[f]["fail"] == st[f]["count"] > 0, (f, st[f])
want = "; ".join(f"no {f} ever succeeded (0 ok, {st[f]['fail']} fail, 0 info)" for f in ("read", "write", "cas"))
assert st["reason"] == want, (st["reason"], want)
ev = [json.loads(l) for l in open(sys.argv[1] + "/history.jsonl")]
assert {tuple(e["error"][:1]) for e in ev if e["type"] == "fail"} == {(10,)}, "every failure is error 10"
html = open(sys.argv[1] + "/index.html").read()
assert "Analysis invalid: some operation never succeeded</div>" in html, "index.html banner"
assert 'Stats: <b style="color:#d62728">invalid</b>: no read ever succeeded' in html, "index.html stats line"
print(f"   {st['count']} requests, 0 ok; reason: {st['reason']}")
PY
set +e
"$whirl" check "$tmp/unsupported/latest" >"$tmp/check.out" 2>&1
rc=$?
set -e
[ $rc -eq 0 ] && grep -q ' valid$' "$tmp/check.out" || { cat "$tmp/check.out"; fail "whirl check: exit code $rc, want 0"; }
echo "   whirl check (linearizability only) still calls that history valid"

echo "== requests that go nowhere (never answered): invalid (exit 1)"
run silent 1 --bin "$brokenkv" silent --node-count 1 --concurrency 8 --seed 62
python3 - "$tmp/silent/latest/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
st = r["stats"]
assert r["valid"] is False and st["valid"] is False and st["ok"] == 0 and st["fail"] == 0 and st["info"] > 0, st
fs = [f for f in ("read", "write", "cas") if f in st]
assert fs and all(st[f]["ok"] == 0 and st[f]["info"] == st[f]["count"] for f in fs), st
assert st["reason"].startswith(f"no {fs[0]} ever succeeded (0 ok, 0 fail, {st[fs[0]]['info']} info)"), st["reason"]
print(f"   {st['info']} requests, all info; reason: {st['reason']}")
PY

echo "== reads and writes work, no cas ever succeeds (20, 22, or 11 when it would): invalid (exit 1)"
run casfails 1 --bin "$brokenkv" cas-fails --node-count 1 --concurrency 4 --seed 63
python3 - "$tmp/casfails/latest" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/results.json"))
st = r["stats"]
assert r["valid"] is False and st["valid"] is False and r["linearizable"]["valid"] is True, (r["valid"], st)
assert st["read"]["valid"] is True and st["read"]["ok"] > 0, st["read"]
assert st["write"]["valid"] is True and st["write"]["ok"] > 0, st["write"]
cas = st["cas"]
assert cas["valid"] is False and cas["ok"] == 0 and cas["info"] == 0 and cas["fail"] > 0, cas
assert st["reason"] == f"no cas ever succeeded (0 ok, {cas['fail']} fail, 0 info)", st["reason"]
ev = [json.loads(l) for l in open(sys.argv[1] + "/history.jsonl")]
codes = {e["error"][0] for e in ev if e["type"] == "fail" and e["f"] == "cas"}
assert 22 in codes and codes <= {11, 20, 22}, codes
print(f"   read {st['read']['ok']} ok, write {st['write']['ok']} ok, cas 0 of {cas['fail']}; reason: {st['reason']}")
PY

echo "== raftkv on 3 nodes: every function succeeds, valid (exit 0)"
run raftkv 0 --bin "$raftkv" --node-count 3 --concurrency 2n --time-limit 4 --rate 60 --seed 64
python3 - "$tmp/raftkv/latest" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/results.json"))
st = r["stats"]
assert r["valid"] is True and st["valid"] is True and st["reason"] is None, st
assert all(st[f]["ok"] > 0 and st[f]["valid"] is True for f in ("read", "write", "cas")), st
html = open(sys.argv[1] + "/index.html").read()
assert 'Stats: <b style="color:#2e9d46">valid</b>' in html, "index.html stats line"
print(f"   ok: read {st['read']['ok']}, write {st['write']['ok']}, cas {st['cas']['ok']}")
PY
! grep -q 'STATS' "$tmp/raftkv.out" || fail "a STATS line on a valid run"

echo "== the kill nemesis without {data} warns that killed nodes come back empty"
warning='whirl: warning: the kill nemesis restarts nodes, but no node argument holds {data}'
run kill-nodata verdict --bin "$localkv" --node-count 1 --concurrency 2 --time-limit 1 --nemesis partition,kill \
  --nemesis-interval 0.3 --final-read-timeout 1 --seed 65
grep -qF "$warning" "$tmp/kill-nodata.out" || { head -n 8 "$tmp/kill-nodata.out"; fail "no warning"; }
grep -qF "$warning" "$tmp/kill-nodata/latest/whirl.log" || fail "warning not in whirl.log"
set +e
"$whirl" test --bin "$localkv" --node-count 1 --concurrency 2 --time-limit 1 --rate 40 --nemesis kill \
  --nemesis-interval 0.3 --final-read-timeout 1 --seed 65 --store "$tmp/kill-data" -- --unused "{data}" >"$tmp/kill-data.out" 2>&1
"$whirl" test --bin "$localkv" --node-count 1 --time-limit 0.5 --rate 40 --nemesis partition --seed 66 \
  --store "$tmp/partition" >"$tmp/partition.out" 2>&1
set -e
! grep -q 'warning' "$tmp/kill-data.out" || fail "a warning although {data} is given"
! grep -q 'warning' "$tmp/partition.out" || fail "a warning without the kill nemesis"
echo "   warned under partition,kill without {data}; not with {data}, not without kill"
echo "ok"

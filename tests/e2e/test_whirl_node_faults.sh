#!/usr/bin/env bash
# test_whirl_node_faults.sh - nodes that misbehave are named, never ignored:
# one that never answers init, one that exits at once, one that writes
# junk to stdout, one that crashes mid-run.
#   tests/e2e/test_whirl_node_faults.sh BUILD
set -uo pipefail
source "$(dirname "$0")/lib.sh"
scratch
common=(--time-limit 2 --rate 20 --seed 5 --store "$tmp/store")

# A node that answers init, then behaves per $1.
cat >"$tmp/node.sh" <<'NODE'
#!/usr/bin/env bash
mode=$1
while IFS= read -r line; do
  case "$line" in
    *'"type":"init"'*)
      id=$(sed -E 's/.*"node_id":"([^"]+)".*/\1/' <<<"$line")
      [ "$mode" = silent-n1 ] && [ "$id" = n1 ] && continue
      echo "{\"src\":\"$id\",\"dest\":\"c0\",\"body\":{\"type\":\"init_ok\",\"in_reply_to\":1}}"
      if [ "$mode" = junk ]; then
        echo "this is not a message"
        echo '{"src":"'$id'","dest":"n1","body":{"type":"x"'            # truncated
        echo '{"src":"n9","dest":"n1","body":{"type":"x"}}'             # not its own id
        echo '{"src":"'$id'","dest":"n7","body":{"type":"x"}}'          # no such node
        echo '{"src":"'$id'","dest":"q1","body":{"type":"x"}}'          # neither node nor client
        echo '{"src":"'$id'","dest":"n1"}'                              # no body
        echo '{"src":"'$id'","dest":"n1","body":[1]}'                   # body not an object
        echo '{"src":"'$id'","dest":"n1","body":{"a":01x}}'             # bad number
        echo '{"src":"'$id'","dest":"n1","body":{}} trailing'           # text after the object
        echo '{"src":"'$id'","dest":"n1","body":{"type":"ok","v":[1,{"a":"\""}]}}'  # valid
      fi
      if [ "$mode" = huge ]; then
        head -c 20000000 /dev/zero | tr '\0' x; echo
        echo '{"src":"'$id'","dest":"'$id'","body":{"type":"after"}}'
      fi
      [ "$mode" = crash ] && { sleep 0.5; echo "crashing on purpose" >&2; exit 7; }
      ;;
  esac
done
NODE
chmod +x "$tmp/node.sh"

echo "== a node that never answers init"
start=$(date +%s)
"$whirl" test --bin "$tmp/node.sh" silent-n1 --node-count 3 --init-timeout 1 "${common[@]}" >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 3 ] || { cat "$tmp/out"; fail "exit code $rc, want 3"; }
grep -q 'node n1 did not answer init within 1 s' "$tmp/out" || { cat "$tmp/out"; fail "n1 not named"; }
[ $(( $(date +%s) - start )) -le 10 ] || fail "took too long to give up"
echo "   $(grep 'did not answer' "$tmp/out" | head -n 1)"

echo "== a node that exits at once"
"$whirl" test --bin /bin/false --node-count 2 "${common[@]}" >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 3 ] || { cat "$tmp/out"; fail "exit code $rc, want 3"; }
grep -q 'node n[01] exited before answering init' "$tmp/out" || { cat "$tmp/out"; fail "exit not named"; }
echo "   $(grep 'before answering init' "$tmp/out" | head -n 1)"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["valid"]=="unknown" and "before answering init" in r["error"], r' \
  "$tmp/store/latest/results.json" || fail "results.json of a run that could not run"
echo "   results.json says why the run could not run"

echo "== a node that writes junk to stdout"
"$whirl" test --bin "$tmp/node.sh" junk --node-count 2 "${common[@]}" >"$tmp/out" 2>&1
grep -q 'node n0 wrote a line that is not a valid message' "$tmp/out" || { cat "$tmp/out"; fail "junk not reported"; }
python3 - "$(readlink -f "$tmp/store/latest")" <<'PY' || fail "junk not in results.json"
import json, sys
r = json.load(open(sys.argv[1] + "/results.json"))
n0 = [n for n in r["nodes"] if n["id"] == "n0"][0]
assert n0["junk_lines"] == 9 and "this is not a message" in n0["first_junk"], n0
assert r["net"]["servers_msgs"] >= 2, "the valid node-to-node lines were not carried"

assert any("n0" in p for p in r["problems"]), r["problems"]
print("   results.json: n0 has 9 junk lines of 9 kinds, the first:", n0["first_junk"])
PY

echo "== a node that writes a 20 MB line"
"$whirl" test --bin "$tmp/node.sh" huge --node-count 1 "${common[@]}" >"$tmp/out" 2>&1
grep -q 'line longer than 16 MiB' "$tmp/out" || { tail -c 2000 "$tmp/out"; fail "overlong line not reported"; }
python3 - "$(readlink -f "$tmp/store/latest")" <<'PY' || fail "overlong line in results.json"
import json, sys
r = json.load(open(sys.argv[1] + "/results.json"))
assert r["nodes"][0]["junk_lines"] == 1, r["nodes"][0]["junk_lines"]
assert r["net"]["servers_msgs"] == 1, "the message after the overlong line was lost"
print("   one junk line reported (bounded buffering), the next message carried")
PY

echo "== a node that crashes during the run"
"$whirl" test --bin "$tmp/node.sh" crash --node-count 1 "${common[@]}" >"$tmp/out" 2>&1
grep -q 'node n0 exited unexpectedly with status 7' "$tmp/out" || { cat "$tmp/out"; fail "crash not reported"; }
grep -q 'crashing on purpose' "$tmp/store/latest/node-logs/n0.log" || fail "stderr not in node-logs/n0.log"
python3 - "$(readlink -f "$tmp/store/latest")" <<'PY' || fail "crash not in results.json"
import json, sys
r = json.load(open(sys.argv[1] + "/results.json"))
assert r["nodes"][0]["crashed"] is True and r["nodes"][0]["exit_status"] == 7, r["nodes"]
print("   results.json: n0 crashed, exit status 7; its stderr is in node-logs/n0.log")
PY
echo "ok"

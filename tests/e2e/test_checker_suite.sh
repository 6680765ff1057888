#!/usr/bin/env bash
# test_checker_suite.sh - `whirl check` reaches the verdict of the checker
# suite's expected.txt on every real Jepsen etcd history, with the exit codes
# documented in src/whirl/check_cmd.h.
#   tests/e2e/test_checker_suite.sh [BUILD]
# The suite lives in shared/ beside the clone (CI), or where RAFTKV_SHARED or
# SHARED point, or /work/shared.
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))
shared=""
for candidate in "${RAFTKV_SHARED:-}" "${SHARED:-}" "$root/../shared" /work/shared; do
  if [ -n "$candidate" ] && [ -f "$candidate/checker-suite/expected.txt" ]; then shared=$candidate; break; fi
done
[ -n "$shared" ] || { echo "checker suite not found (set SHARED)"; exit 1; }
suite=$shared/checker-suite
whirl=$build/whirl
case "$whirl" in /*) ;; *) whirl=$root/$whirl ;; esac
[ -x "$whirl" ] || { echo "no $whirl: build it with make"; exit 1; }

failures=0 checked=0
while read -r file expected; do
  [ -n "$file" ] || continue
  out=$("$whirl" check "$suite/etcd/$file" 2>&1)
  rc=$?
  got=$(printf '%s\n' "$out" | head -n 1 | awk '{print $2}')
  want_rc=0; [ "$expected" = invalid ] && want_rc=1
  checked=$((checked + 1))
  if [ "$got" != "$expected" ] || [ "$rc" -ne "$want_rc" ]; then
    echo "MISMATCH $file: expected $expected (exit $want_rc), got '$got' (exit $rc)"
    failures=$((failures + 1))
  fi
done < "$suite/expected.txt"
echo "checker suite: $checked files, $failures mismatches"

# Exit codes: all files at once (some invalid) -> 1; a state bound too small
# -> unknown, 2; a missing file -> 3; bad usage -> 64.
expect_rc() {
  local want=$1; shift
  "$@" >/dev/null 2>&1
  local rc=$?
  if [ "$rc" -ne "$want" ]; then echo "EXIT $rc, expected $want: $*"; failures=$((failures + 1)); fi
}
expect_rc 1 "$whirl" check "$suite"/etcd/*.log
expect_rc 0 "$whirl" check "$suite/etcd/etcd_002.log"
expect_rc 2 "$whirl" check --max-states 2 "$suite/etcd/etcd_002.log"
expect_rc 3 "$whirl" check "$suite/etcd/no_such_file.log"
expect_rc 64 "$whirl" check --max-states
expect_rc 64 "$whirl" check --bogus "$suite/etcd/etcd_002.log"
expect_rc 64 "$whirl" check

# An invalid file is explained: the op, the values possible before it.
explained=$("$whirl" check "$suite/etcd/etcd_001.log")
for want in "cannot linearize:" "register values possible just before it:" "longest linearizable prefix before it:"; do
  printf '%s\n' "$explained" | grep -qF "$want" || { echo "explanation lacks '$want'"; failures=$((failures + 1)); }
done

# The other two formats, detected from their content: Maelstrom's EDN
# (valid) and whirl's jsonl (a stale read: invalid).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/history.edn" <<'EDN'
{:type :invoke, :f :write, :value [0 3], :process 0, :time 1, :index 0}
{:type :invoke, :f :read, :value [0 nil], :process 1, :time 2, :index 1}
{:type :ok, :f :write, :value [0 3], :process 0, :time 3, :index 2}
{:type :info, :f :start-partition, :value nil, :process :nemesis, :time 4, :index 3}
{:type :ok, :f :read, :value [0 3], :process 1, :time 5, :index 4}
{:type :invoke, :f :cas, :value [0 [1 2]], :process 0, :time 6, :index 5}
{:type :fail, :f :cas, :value [0 [1 2]], :process 0, :time 7, :index 6, :error [22 "expected 1"]}
EDN
cat > "$tmp/h" <<'JSONL'
{"index":0,"time":1,"process":0,"type":"invoke","f":"write","key":7,"value":1,"node":"n0"}
{"index":1,"time":2,"process":0,"type":"ok","f":"write","key":7,"value":1,"node":"n0"}
{"index":2,"time":3,"process":1,"type":"invoke","f":"write","key":7,"value":2,"node":"n1"}
{"index":3,"time":4,"process":1,"type":"ok","f":"write","key":7,"value":2,"node":"n1"}
{"index":4,"time":5,"process":2,"type":"invoke","f":"read","key":7,"value":null,"node":"n2"}
{"index":5,"time":6,"process":2,"type":"ok","f":"read","key":7,"value":1,"node":"n2"}
JSONL
expect_rc 0 "$whirl" check "$tmp/history.edn"
expect_rc 1 "$whirl" check "$tmp/h"
mkdir "$tmp/run" && cp "$tmp/h" "$tmp/run/history.jsonl"
expect_rc 1 "$whirl" check "$tmp/run"   # a run folder means its history
"$whirl" check "$tmp/h" | grep -qF "can't read 1 from register 2" ||
  { echo "jsonl explanation lacks the stale read"; failures=$((failures + 1)); }

# --connection-order: a pipelined read that returns before its own
# connection's earlier write, with the old value: linearizable (the two
# overlap), not in the connection's order. Jepsen's histories, whose
# processes run one op at a time, keep their verdicts with the option.
cat > "$tmp/pipelined" <<'JSONL'
{"index":0,"time":1,"process":0,"type":"invoke","f":"write","key":7,"value":1}
{"index":1,"time":2,"process":0,"type":"invoke","f":"read","key":7,"value":null}
{"index":2,"time":3,"process":0,"type":"ok","f":"read","key":7,"value":null}
{"index":3,"time":4,"process":0,"type":"ok","f":"write","key":7,"value":1}
JSONL
expect_rc 0 "$whirl" check "$tmp/pipelined"
expect_rc 1 "$whirl" check --connection-order "$tmp/pipelined"
expect_rc 0 "$whirl" check --connection-order "$suite/etcd/etcd_002.log"
expect_rc 1 "$whirl" check --connection-order "$suite/etcd/etcd_001.log"

[ "$failures" -eq 0 ] && echo "test_checker_suite: ok"
[ "$failures" -eq 0 ]

#!/usr/bin/env bash
# test_whirl_options.sh - whirl's command line: --help documents every
# option, bad usage exits 64 with a message and the usage on stderr.
#   tests/e2e/test_whirl_options.sh BUILD
set -uo pipefail
source "$(dirname "$0")/lib.sh"
scratch

"$whirl" --help >"$tmp/help" 2>&1 || fail "--help exit code $?"
for opt in --workload --bin --node-count --time-limit --rate --concurrency --latency --latency-dist --nemesis \
           --nemesis-interval --availability --log-stderr --log-net-send --log-net-recv --test-count --seed --store \
           --message-log-limit; do
  grep -q -- "$opt" "$tmp/help" || fail "--help does not document $opt"
done
echo "--help documents every option"
"$whirl" --version | grep -q '^whirl ' || fail "--version"

expect_usage() { # description, then whirl's arguments
  local what=$1; shift
  "$whirl" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ $rc -eq 64 ] || fail "$what: exit code $rc, want 64"
  grep -q 'usage: whirl test' "$tmp/err" || fail "$what: no usage on stderr"
  [ ! -s "$tmp/out" ] || fail "$what: wrote to stdout"
  echo "$what -> 64: $(head -n 1 "$tmp/err")"
}
expect_usage "an unknown option" test -w lin-kv --bin "$localkv" --frobnicate
expect_usage "no --bin" test -w lin-kv --node-count 3
expect_usage "a missing binary" test -w lin-kv --bin "$tmp/nope"
expect_usage "a bad node count" test --bin "$localkv" --node-count zero
expect_usage "a bad concurrency" test --bin "$localkv" --concurrency 3x
expect_usage "a negative rate" test --bin "$localkv" --rate -1
expect_usage "an unknown latency distribution" test --bin "$localkv" --latency-dist pareto
expect_usage "an unknown fault" test --bin "$localkv" --nemesis meteor
expect_usage "a bad availability" test --bin "$localkv" --availability 1.5
expect_usage "an unknown workload" test -w broadcast --bin "$localkv"
expect_usage "a value missing at the end" test --bin "$localkv" --time-limit
expect_usage "an unknown command" frobnicate
# whirl check picks the model from the history's functions, or --model's
cat >"$tmp/incr.jsonl" <<'HIST'
{"index":0,"time":1,"process":0,"type":"invoke","f":"incr","key":1,"value":1}
{"index":1,"time":2,"process":1,"type":"invoke","f":"incr","key":1,"value":1}
{"index":2,"time":3,"process":0,"type":"ok","f":"incr","key":1,"value":1}
{"index":3,"time":4,"process":1,"type":"ok","f":"incr","key":1,"value":2}
HIST
"$whirl" check "$tmp/incr.jsonl" >"$tmp/out" 2>&1 || fail "two incrs 1 then 2: $(cat "$tmp/out")"
sed -i 's/"value":2}$/"value":1}/' "$tmp/incr.jsonl"
"$whirl" check "$tmp/incr.jsonl" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "two incrs both answering 1: exit $rc, want 1 (invalid)"
"$whirl" check --model register "$tmp/incr.jsonl" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 3 ] && grep -q "register model does not take incr" "$tmp/out" || fail "--model register on incr: exit $rc"
"$whirl" check --model nosuch "$tmp/incr.jsonl" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 64 ] || fail "--model nosuch: exit $rc, want 64"
echo "whirl check: the string model judges incr; --model register refuses it; --model nosuch -> 64"
echo "ok"

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
echo "ok"

#!/usr/bin/env bash
# run.sh - runs every tests/e2e/test_*.sh against a build folder and tallies them.
#   tests/e2e/run.sh BUILD [PATTERN]
# Each test script takes the build folder as $1, prints what it checked and
# exits non-zero on failure. Output of a failing script is shown in full.
set -u
build=${1:-build}
pattern=${2:-test_}
here=$(cd "$(dirname "$0")" && pwd)
export RAFTKV_SHARED=${RAFTKV_SHARED:-$(cd "$here/../../.." && pwd)/shared}
passed=0 failed=0 failures=()
for t in "$here"/${pattern}*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  log=$(mktemp)
  start=$(date +%s)
  if bash "$t" "$build" >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "PASS $name ($(( $(date +%s) - start )) s)"
  else
    failed=$((failed + 1)); failures+=("$name")
    echo "FAIL $name ($(( $(date +%s) - start )) s)"
    sed 's/^/    /' "$log" | tail -n 60
  fi
  rm -f "$log"
done
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || { echo "failed: ${failures[*]}"; exit 1; }

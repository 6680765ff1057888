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

[ "$failures" -eq 0 ] && echo "test_checker_suite: ok"
[ "$failures" -eq 0 ]

#!/usr/bin/env bash
# run.sh - `make fuzz`: run each libFuzzer target for a while over its corpus.
#   tests/fuzz/run.sh BUILD SECONDS SAVE TARGET...
# New inputs go to BUILD/corpus/<target> (scratch); with SAVE=1 those that add
# coverage are then merged into tests/fuzz/corpus/<target>. A crash, leak,
# sanitizer report or failed property leaves its input in BUILD/artifacts and
# fails the run. FUZZ_NICE (default 0) lowers the fuzzers' priority;
# FUZZ_ARGS adds libFuzzer options.
set -uo pipefail
build=$1 seconds=$2 save=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
# The WAL and snapshot targets write a file per input: keep them in memory.
[ -z "${TMPDIR:-}" ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
failed=()
mkdir -p "$build/artifacts"
for t in "$@"; do
  bin=$build/fuzz/fuzz_$t seeds=$here/corpus/$t scratch=$build/corpus/$t
  mkdir -p "$scratch" "$seeds"
  dict=(); [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
  echo "== fuzz $t for ${seconds}s"
  # shellcheck disable=SC2086
  nice -n "${FUZZ_NICE:-0}" "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "${dict[@]}" ${FUZZ_ARGS:-} \
    "$scratch" "$seeds" >"$build/fuzz-$t.log" 2>&1
  rc=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
    "$build/fuzz-$t.log" | sed 's/^/   /'
  if [ $rc -ne 0 ]; then
    echo "   FAILED (exit $rc): see $build/fuzz-$t.log"
    grep -E 'ERROR|SUMMARY|property failed|Test unit written' "$build/fuzz-$t.log" | head -5 | sed 's/^/   /'
    failed+=("$t")
    continue
  fi
  if [ "$save" = 1 ]; then
    "$bin" -merge=1 "$seeds" "$scratch" >>"$build/fuzz-$t.log" 2>&1 &&
      echo "   corpus: $(ls "$seeds" | wc -l) files in tests/fuzz/corpus/$t"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "make fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "make fuzz: no crash, leak or undefined behaviour in $* (${seconds}s each)"

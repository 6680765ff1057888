#!/usr/bin/env bash
# accept.sh - the full acceptance runs of issues 2 and 5 (raftkv under whirl),
# as `make accept` runs them. Takes about an hour on 2 cores.
#   tests/e2e/accept.sh BUILD
# Environment:
#   ACCEPT_SEED=N     first seed (default: from the clock; printed). Case k's
#                     run i uses N + 1000*k + i, so every run has its own seed.
#   ACCEPT_RUNS=K     runs per case instead of 10 (or 5) - for a quick pass
#   ACCEPT_ONLY=RE    run only the cases whose name matches RE (grep -E)
#   ACCEPT_OUT=DIR    where runs go (default BUILD/accept/<timestamp>)
# Each run's line says its seed, verdict, throughput, availability and
# recovery; a failing run prints its reason, the command that replays it and
# its run folder (with HTML reports). Ends with a table per case and
# `accept: N passed, N failed` (counting runs); exits 1 if any failed.
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
whirl=$build/whirl
raftkv=$build/raftkv
for b in "$whirl" "$raftkv"; do
  [ -x "$b" ] || { echo "accept: $b is not built (run make)"; exit 3; }
done
seed=${ACCEPT_SEED:-$(( $(date +%s) % 1000000 ))}
out=${ACCEPT_OUT:-$build/accept/$(date +%Y%m%dT%H%M%S)}
only=${ACCEPT_ONLY:-}
mkdir -p "$out"
summary=$out/summary.jsonl
: >"$summary"
echo "accept: seed $seed (replay everything with ACCEPT_SEED=$seed), runs in $out"
started=$(date +%s)
case_no=0

# case NAME RUNS [whirl_runs.py criteria...] -- whirl test args...
case_run() {
  local name=$1 runs=$2
  shift 2
  case_no=$((case_no + 1))
  if [ -n "$only" ] && ! grep -qE "$only" <<<"$name"; then return 0; fi
  runs=${ACCEPT_RUNS:-$runs}
  echo "== $name: $runs run(s) [$(( ($(date +%s) - started) / 60 )) min elapsed]"
  python3 "$here/accept/whirl_runs.py" --whirl "$whirl" --name "$name" --runs "$runs" \
    --seed $((seed + 1000 * case_no)) --store "$out/runs" --summary "$summary" --report-failures "$@"
}

chapter=(--bin "$raftkv" --node-count 3 --concurrency 4n --rate 30 --time-limit 60 --no-report)
harder=(--concurrency 10n --rate 100 --time-limit 60 --latency 20 --latency-dist exponential --no-report)

# Issue 2: the chapter's own run, 10 of 10 valid; recovery within 1 s.
case_run chapter-3-nodes 10 --expect-valid --max-recovery-ms 1000 --min-recovery-changes 0 -- \
  "${chapter[@]}" --nemesis partition --nemesis-interval 10
# Issue 2: harder, 5 and 7 nodes, valid every time; recovery within 1 s.
case_run harder-5-nodes 5 --expect-valid --max-recovery-ms 1000 -- \
  --bin "$raftkv" --node-count 5 "${harder[@]}" --nemesis partition --nemesis-interval 3
case_run harder-7-nodes 5 --expect-valid --max-recovery-ms 1000 -- \
  --bin "$raftkv" --node-count 7 "${harder[@]}" --nemesis partition --nemesis-interval 3
# Issue 2: without faults, at least 99.9% answered from the data (the
# chapter's load, and the harder load with its latency).
case_run no-faults-3-nodes 1 --expect-valid --min-answered 0.999 -- "${chapter[@]}"
case_run no-faults-5-nodes 1 --expect-valid --min-answered 0.999 -- --bin "$raftkv" --node-count 5 "${harder[@]}"
# Issue 5: kill -9, pause and partitions, durable: valid and no lost write, 10 of 10.
case_run kill-pause-partition-5-nodes 10 --expect-valid --no-lost-writes -- \
  --bin "$raftkv" --node-count 5 --nemesis kill,pause,partition --nemesis-interval 3 --concurrency 10n \
  --rate 100 --time-limit 60 --no-report -- --data-dir "{data}"

# Issue 5: 5 minutes durable at a high rate: memory and disk plateau.
bounded_fail=0
case_no=$((case_no + 1))
if [ -z "$only" ] || grep -qE "$only" <<<"bounded-300s"; then
  echo "== bounded-300s: memory and disk under snapshots [$(( ($(date +%s) - started) / 60 )) min elapsed]"
  python3 "$here/accept/bounded.py" --whirl "$whirl" --raftkv "$raftkv" --seconds 300 --interval 5 \
    --snapshot-entries 5000 --seed $((seed + 1000 * case_no)) --store "$out/bounded" | tee "$out/bounded.log"
  bounded_fail=${PIPESTATUS[0]}
  echo "{\"case\":\"bounded-300s\",\"passed\":$([ "$bounded_fail" = 0 ] && echo true || echo false),\"seed\":$((seed + 1000 * case_no))}" >>"$summary"
fi
case_no=$((case_no + 1))
if [ -z "$only" ] || grep -qE "$only" <<<"bounded-control"; then
  echo "== bounded-control: with compaction off the same measure must see growth"
  python3 "$here/accept/bounded.py" --whirl "$whirl" --raftkv "$raftkv" --seconds 120 --interval 3 \
    --snapshot-entries 1000000000 --expect-growth both --seed $((seed + 1000 * case_no)) --store "$out/control" \
    | tee "$out/control.log"
  c=${PIPESTATUS[0]}
  echo "{\"case\":\"bounded-control\",\"passed\":$([ "$c" = 0 ] && echo true || echo false),\"seed\":$((seed + 1000 * case_no))}" >>"$summary"
fi

echo
echo "== summary ($(( ($(date +%s) - started) / 60 )) min; seed $seed; runs in $out)"
python3 "$here/accept/summary.py" "$summary"

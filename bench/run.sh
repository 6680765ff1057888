#!/usr/bin/env bash
# run.sh - `make bench`: every figure the README quotes, each with the exact
# command that produced it. Not a test: nothing here passes or fails on speed.
#   bench/run.sh BUILD [SECTION...]   sections: node durable net check storage server membership snapload
# Env: BENCH_SECONDS (default 30) shortens the whirl runs.
set -u
build=${1:-build}; shift || true
sections=${*:-node durable net check storage server membership snapload}
secs=${BENCH_SECONDS:-30}
store=$(mktemp -d /tmp/raftkv-bench.XXXXXX)
trap 'rm -rf "$store"' EXIT

echo "raftkv bench on $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(date -u +%Y-%m-%d)"
echo

# One whirl run: prints the command, then whirl's summary lines.
whirl_run() {
  local title=$1; shift
  local cmd=("$build/whirl" test -w lin-kv --store "$store" --seed 1 --no-report "$@")
  echo "== $title"
  echo "\$ ${cmd[*]}"
  "${cmd[@]}" 2>&1 | grep -E '^(Operations|  (read|write|cas) |Latency|Messages|Availability|Throughput|Answered|Everything|Analysis|Errors)' | sed 's/^/   /'
  echo
}

for s in $sections; do
  case $s in
  node)
    whirl_run "raftkv, 3 nodes, latency 0, no faults ($secs s)" --bin "$build/raftkv" \
      --node-count 3 --concurrency 30 --rate 1000000 --time-limit "$secs"
    whirl_run "raftkv, 5 nodes, latency 0, no faults ($secs s)" --bin "$build/raftkv" \
      --node-count 5 --concurrency 30 --rate 1000000 --time-limit "$secs"
    whirl_run "raftkv, 3 nodes, latency 10 ms, no faults ($secs s)" --bin "$build/raftkv" \
      --node-count 3 --concurrency 30 --rate 1000000 --time-limit "$secs" --latency 10
    ;;
  durable)
    whirl_run "raftkv durable (--data-dir, fsync), 3 nodes, latency 0 ($secs s)" \
      --node-count 3 --concurrency 30 --rate 1000000 --time-limit "$secs" \
      --bin "$build/raftkv" -- --data-dir "{data}"
    # Group commit: each node logs its sync and commit counts when it exits.
    for log in "$store"/latest/node-logs/*.log; do
      grep -h 'stats:' "$log" | tail -n 1
    done | python3 -c '
import re, sys
for line in sys.stdin:
    m = re.search(r"^(\S+).*commit (\d+).* (\d+) syncs", line)
    if m and int(m.group(2)):
        print(f"   {m.group(1)}: {m.group(3)} fsyncs for {m.group(2)} committed entries = {int(m.group(3)) / int(m.group(2)):.3f} per entry")
'
    echo
    ;;
  net)
    # A trivial node (a local map, no replication) isolates whirl's own cost:
    # every request is two messages through whirl's network and client layer.
    whirl_run "whirl's network and clients, trivial node, 1 node ($secs s)" --bin "$build/tests/nodes/localkv" \
      --node-count 1 --concurrency 30 --rate 1000000 --time-limit "$secs"
    ;;
  check)
    echo "== linearizability checker"
    echo "\$ $build/bench/check_bench"
    "$build/bench/check_bench" 2>&1 | sed 's/^/   /'
    echo
    ;;
  storage)
    echo "== storage (write-ahead log on this disk)"
    echo "\$ $build/bench/storage_bench"
    "$build/bench/storage_bench" 2>&1 | sed 's/^/   /'
    echo
    ;;
  server)
    if [ -f bench/server_bench.sh ]; then
      echo "== TCP server with redis-benchmark, beside redis-server and etcd"
      bash bench/server_bench.sh "$build" 2>&1 | sed 's/^/   /'
    fi
    ;;
  membership)
    # KEYS=N for a quicker try (default 1,000,000): bench/membership_bench.sh
    echo "== membership (issue 13): writes while a learner catches up through a snapshot; leadership transfers"
    bash bench/membership_bench.sh "$build" 2>&1 | sed 's/^/   /'
    echo
    ;;
  snapload)
    # KEYS=N (2,000,000), RUNS=R (3): bench/snapload_bench.sh
    echo "== snapshot load at start beside Redis's RDB load, the same keys (issue 12)"
    bash bench/snapload_bench.sh "$build" 2>&1 | sed 's/^/   /'
    echo
    ;;
  *) echo "bench: unknown section $s" >&2; exit 64 ;;
  esac
done

#!/usr/bin/env bash
# replication_cpu.sh - CPU per committed entry of each member's role under
# the membership bench's write load, to find and compare the cost of
# replication (issue 13's catch-up target is set by it on 2 cores).
#   bench/replication_cpu.sh BUILD
# A durable 3-member cluster (TLS peers, as by default) is filled with KEYS
# keys (100-byte values), then measured for SECS seconds under
# redis-benchmark -t set -r KEYS -d 100 -c 50 -P 16 against the leader:
# CPU seconds (utime + stime, /proc/PID/stat) of each member divided by the
# commit index's growth, and the leader's frames per follower, fsync batches
# and the entries per frame. With LEARNER=1 a fourth member joins as a
# learner first and the window starts once it has caught up (its following
# cost). PERF=leader|follower|learner records `perf record -e cpu-clock -g`
# of that member over the window (written to PERF_OUT, default
# /tmp/repl.perf.data); STRACE=leader|follower|learner counts its system
# calls (strace -c -f) over the window instead. Not a test.
set -uo pipefail
build=${1:-build}
keys=${KEYS:-300000}
secs=${SECS:-8}
raftkv=$(cd "$build" && pwd)/raftkv
work=$(mktemp -d /tmp/raftkv-replcpu.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh" # port_free, free_port, now_ms, wait_pong, leader_name
info() { redis-cli -p "$1" INFO everything 2>/dev/null | tr -d '\r'; }
field() { awk -F: -v k="$2" '$1 == k {print $2}' <<<"$1"; }
cpu() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }

"$raftkv" certs --dir "$work/certs" --members n1,n2,n3,n4 >/dev/null
declare -A CP PP PID
peers=
for i in 1 2 3 4; do PP[$i]=$(free_port); CP[$i]=$(free_port); done
for i in 1 2 3; do peers+="${peers:+,}n$i=127.0.0.1:${PP[$i]}"; done
opts=(--election-timeout-ms 1000 --snapshot-entries 100000000 --snapshot-log-percent 0 --certs-dir "$work/certs")
for i in 1 2 3; do
  # shellcheck disable=SC2086
  "$raftkv" serve --id "n$i" --peers "$peers" --listen "127.0.0.1:${CP[$i]}" --data-dir "$work/n$i" --first-start \
    "${opts[@]}" ${RAFTKV_OPTS:-} >>"$work/n$i.log" 2>&1 &
  PID[$i]=$!; pids+=($!)
done
x=$(LEADER_WAIT_S=10 leader_name "${CP[1]}") || { echo "no leader" >&2; exit 1; }
L=${x#n}
F=$(( L % 3 + 1 ))
redis-benchmark -p "${CP[$L]}" -t set -r "$keys" -d 100 -c 50 -P 16 -n $((keys * 2)) -q >/dev/null 2>&1
echo "leader n$L, follower measured n$F; $(redis-cli -p "${CP[$L]}" DBSIZE | tr -d '\r') keys; load average $(cut -d' ' -f1-3 /proc/loadavg)"
redis-benchmark -p "${CP[$L]}" -t set -r "$keys" -d 100 -c 50 -P 16 -n 2000000000 -q >/dev/null 2>&1 &
bpid=$!; pids+=($bpid)
sleep 1
members="1 2 3"
if [ "${LEARNER:-0}" = 1 ]; then
  # shellcheck disable=SC2086
  "$raftkv" serve --id n4 --join "127.0.0.1:${PP[$L]}" --peer-listen "127.0.0.1:${PP[4]}" \
    --listen "127.0.0.1:${CP[4]}" --data-dir "$work/n4" "${opts[@]}" ${RAFTKV_OPTS:-} >>"$work/n4.log" 2>&1 &
  PID[4]=$!; pids+=($!)
  sleep 0.3
  redis-cli -p "${CP[$L]}" RAFT.NODE ADD n4 "127.0.0.1:${PP[4]}" LEARNER >/dev/null
  for _ in $(seq 1 600); do
    lag=$(grep "^peer_n4:" <<<"$(info "${CP[$L]}")" | sed -n 's/.*,lag=\([0-9]*\).*/\1/p')
    [[ "$lag" =~ ^[0-9]+$ ]] && [ "$lag" -lt 5000 ] && break
    sleep 0.5
  done
  echo "n4 caught up (lag $lag)"
  sleep 1
  members="1 2 3 4"
fi
declare -A C0 C1
i0=$(info "${CP[$L]}"); fi0=$(info "${CP[$F]}")
for i in $members; do C0[$i]=$(cpu "${PID[$i]}"); done
case "${PERF:-}" in
  leader) perf record -e cpu-clock ${PERF_ARGS:--g} -o "${PERF_OUT:-/tmp/repl.perf.data}" -p "${PID[$L]}" -- sleep "$secs" 2>/dev/null ;;
  follower) perf record -e cpu-clock ${PERF_ARGS:--g} -o "${PERF_OUT:-/tmp/repl.perf.data}" -p "${PID[$F]}" -- sleep "$secs" 2>/dev/null ;;
  learner) perf record -e cpu-clock ${PERF_ARGS:--g} -o "${PERF_OUT:-/tmp/repl.perf.data}" -p "${PID[4]}" -- sleep "$secs" 2>/dev/null ;;
  *) case "${STRACE:-}" in
       leader) timeout -s INT "$secs" strace -c -f -p "${PID[$L]}" 2>"$work/strace" ;;
       follower) timeout -s INT "$secs" strace -c -f -p "${PID[$F]}" 2>"$work/strace" ;;
       learner) timeout -s INT "$secs" strace -c -f -p "${PID[4]}" 2>"$work/strace" ;;
       *) sleep "$secs" ;;
     esac ;;
esac
for i in $members; do C1[$i]=$(cpu "${PID[$i]}"); done
i1=$(info "${CP[$L]}"); fi1=$(info "${CP[$F]}")
c0=$(field "$i0" commit_index); c1=$(field "$i1" commit_index)
n=$((c1 - c0))
echo "window ${secs} s: $n entries committed, $((n / secs)) /s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $members; do
  role=follower; [ "$i" = "$L" ] && role=leader; [ "$i" = 4 ] && role=learner
  awk -v a="${C0[$i]}" -v b="${C1[$i]}" -v n="$n" -v who="n$i ($role)" \
    'BEGIN { printf "  %-15s CPU %.2f s, %.2f us per entry\n", who, b - a, n ? (b - a) * 1e6 / n : 0 }'
done
for i in $members; do
  [ "$i" = "$L" ] && continue
  f0=$(grep "^peer_n$i:" <<<"$i0" | sed -n 's/.*frames_sent=\([0-9]*\).*/\1/p')
  f1=$(grep "^peer_n$i:" <<<"$i1" | sed -n 's/.*frames_sent=\([0-9]*\).*/\1/p')
  echo "  leader -> n$i: $((f1 - f0)) frames, $(( n / ((f1 - f0) > 0 ? (f1 - f0) : 1) )) entries per frame"
done
s0=$(field "$i0" fsync_batches); s1=$(field "$i1" fsync_batches)
t0=$(field "$fi0" fsync_batches); t1=$(field "$fi1" fsync_batches)
echo "  fsync batches: leader $((s1 - s0)) ($(( n / ((s1 - s0) > 0 ? (s1 - s0) : 1) )) entries each), follower n$F $((t1 - t0)) ($(( n / ((t1 - t0) > 0 ? (t1 - t0) : 1) )) entries each)"
if [ -s "$work/strace" ]; then
  echo "  strace -c of the ${STRACE} (calls per entry):"
  awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 { c = $4; name = $NF; if (c ~ /^[0-9]+$/) printf "    %-16s %8d calls, %.3f per entry\n", name, c, c / n }' "$work/strace" | sort -k2 -n -r | head -12
fi
[ -n "${PERF:-}" ] && echo "  perf data: ${PERF_OUT:-/tmp/repl.perf.data}"
kill "$bpid" 2>/dev/null
exit 0

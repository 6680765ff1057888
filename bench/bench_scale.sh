#!/usr/bin/env bash
# bench_scale.sh - `make bench-scale` (issue 12): a durable 3-member cluster
# on loopback loaded the way a user with a real data set loads it, side by
# side with Redis 7 (appendonly yes, appendfsync always) on the same keys.
#   bench/bench_scale.sh BUILD        KEYS=N (10000000) sets the key space
# Loads KEYS keys with 100-byte values (redis-benchmark -t mset -r KEYS
# -n 3*KEYS/10 -d 100 -P 16 -c 50 against the leader: MSETs of 10 random keys,
# 3*KEYS key writes, about 95% of the key space), then overwrites (KEYS key
# writes more). MSET, because 4*KEYS single-key SETs at 10 million keys take
# longer than the bench's 20 minutes even for Redis's side; MODE=set loads
# with SETs instead (one entry a key write). Meanwhile scale_probe.py reads
# one GET every 10 ms and every member's INFO once a second. Prints:
# throughput per 10 s, leader changes, -UNCERTAIN/-TRYAGAIN answers, GET
# p50/p99/max inside and outside snapshot windows, each snapshot's time and
# size, memory per key of each member (RSS / keys) right after the load, at
# rest (once no snapshot runs: INFO rdb_bgsave_in_progress:0, waited for at
# most REST_WAIT (120) s, then REST_SETTLE (10) s twice) and at its peak during a snapshot (RSS, and a
# snapshot child's private pages, sampled every second inside the member's
# snapshot windows), CPU per key write
# and per applied entry, disk use; KEYS over the whole key space (a pattern
# matching about 1% of it), timed, with the GETs and slow turns meanwhile;
# then kill -9 of
# all three, time from their restart to the first successful write; time for
# a member that replaces one (RAFT.NODE REMOVE, then a fresh n4 with --join
# and RAFT.NODE ADD) to catch up; and Redis's
# throughput, memory per key, BGSAVE and load time. Not a test: nothing here
# fails on speed. RAFTKV_OPTS adds options to every member; CATCHUP_WAIT (120)
# bounds the wait for the empty member, in seconds; KEEP=1 keeps the work
# directory. redis-benchmark stops at its first error reply, so a run with
# errors loaded fewer keys than the key count printed assumes. LOAD_ONLY=1
# stops after the memory figures (no restart, catch-up or Redis run).
set -uo pipefail
build=${1:-build}
keys=${KEYS:-10000000}
root=$(cd "$(dirname "$0")/.." && pwd)
raftkv=$(cd "$build" && pwd)/raftkv
bash "$root/scripts/deps.sh" bench >/dev/null
work=$(mktemp -d /tmp/raftkv-scale.XXXXXX)
pids=()
cleanup() {
  touch "$work/stop"
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

source "$(dirname "$0")/lib.sh" # port_free, free_port, now_ms, wait_pong, leader_name
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%.1f", ($12 + $13) / t}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# ... and with its reaped children's (snapshot and backup children: a fork's
# snapshot work is theirs, a walk's the member's own).
cpu_all_s() { awk -v t="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%.1f", ($12 + $13 + $14 + $15) / t}' "/proc/$1/stat" 2>/dev/null || echo 0; }

echo "raftkv bench-scale: $keys keys, $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uptime | sed 's/.*load/load/')"
# What a forked snapshot child costs its parent per page written depends on
# the host (2 us on some of these virtual machines, 50-300 us on others).
[ -x "$build/bench/cow_fault" ] && "$build/bench/cow_fault" 256
certs=$work/certs
"$raftkv" certs --dir "$certs" --members n1,n2,n3,n4 >/dev/null
declare -A CP PP PID
peers=
for i in 1 2 3; do PP[$i]=$(free_port); CP[$i]=$(free_port); peers+="${peers:+,}n$i=127.0.0.1:${PP[$i]}"; done
# shellcheck disable=SC2086
start_member() { # start_member I (a new data directory's first start gets --first-start)
  local first=; [ -e "$work/n$1" ] || first=--first-start
  "$raftkv" serve --id "n$1" --peers "$peers" --listen "127.0.0.1:${CP[$1]}" --data-dir "$work/n$1" $first \
    --certs-dir "$certs" --log-level info ${RAFTKV_OPTS:-} >>"$work/n$1.log" 2>&1 &
  PID[$1]=$!
  pids+=($!)
}
leader_port() {
  local l
  l=$(leader_name "${CP[1]}" "${CP[2]}" "${CP[3]}") || true
  case "$l" in n[123]) echo "${CP[${l#n}]} $l";; *) echo "0 none";; esac
}
for i in 1 2 3; do start_member "$i"; done
read -r LPORT LNAME <<<"$(leader_port)"
[ "$LPORT" != 0 ] || { echo "no leader"; tail -n 5 "$work"/n*.log; exit 1; }
echo "cluster: leader $LNAME on port $LPORT; data in $work"

python3 "$root/bench/scale_probe.py" "$work/probe" "$work/stop" "$LPORT" "${CP[1]}" "${CP[2]}" "${CP[3]}" &
pids+=($!)
probe_pid=$!
# Each member's RSS once a second ("unix_ms member rss_kb"), plus the
# private memory of its snapshot child if one runs (the pages the member
# wrote since the fork exist twice), until the memory figures are taken.
private_kb() { awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s + 0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
( while [ ! -e "$work/stop_rss" ]; do
    t=$(now_ms)
    for i in 1 2 3; do
      kb=$(rss_kb "${PID[$i]}")
      for c in $(pgrep -P "${PID[$i]}" 2>/dev/null); do kb=$((kb + $(private_kb "$c"))); done
      echo "$t n$i $kb"
    done
    sleep 1
  done >"$work/rss" ) &
pids+=($!)
rss_pid=$!

mode=${MODE:-mset}
per=10; [ "$mode" = set ] && per=1
load() { # load LABEL KEYWRITES PORT: redis-benchmark against PORT; prints rps and errors
  local label=$1 n=$(( $2 / per )) port=$3
  local cmd=(redis-benchmark -p "$port" -t "$mode" -r "$keys" -d 100 -P 16 -c 50 -n "$n" -q)
  echo "\$ ${cmd[*]}"
  local t0 t1 out
  t0=$(now_ms)
  out=$("${cmd[@]}" 2>&1 | tr '\r' '\n')
  t1=$(now_ms)
  echo "$out" | grep -E 'requests per second' | tail -n 1 | sed "s/^/  $label: /"
  local errs
  errs=$(echo "$out" | grep -cE 'UNCERTAIN|TRYAGAIN|Error' || true)
  local secs=$(( (t1 - t0) / 1000 ))
  echo "  $label: $n ${mode^^}s ($2 key writes) in $secs s ($(( $2 / (secs > 0 ? secs : 1) )) key writes/s), error lines: $errs"
  [ "$errs" = 0 ] || echo "$out" | grep -E 'UNCERTAIN|TRYAGAIN|Error' | sort | uniq -c | head -n 5 | sed 's/^/    /'
}
load_start=$(now_ms)
load "load" $((3 * keys)) "$LPORT"
load "overwrite" "$keys" "$LPORT"
load_end=$(now_ms)
sleep 2
touch "$work/stop"
wait "$probe_pid" 2>/dev/null

echo "== throughput (applied entries per 10 s on the leader, from INFO; key writes are $per an entry)"
awk -v l="$LNAME" -v per="$per" -v s="$load_start" -v e="$load_end" '$2 == l && $5 != "-" && $1 >= s - 1000 && $1 <= e + 1000 {
    w = int(($1 - s) / 10000); if (!(w in first)) first[w] = $5; last[w] = $5; if (w > maxw) maxw = w }
  END { for (w = 0; w <= maxw; w++) if (w in first) printf "  %4d-%4d s: %8.0f entries/s, %8.0f key writes/s\n", w * 10, w * 10 + 10, (last[w] - first[w]) / 10, (last[w] - first[w]) / 10 * per }' "$work/probe.info"
echo "== leader changes (distinct term/leader pairs seen by the members, minus one)"
awk '$3 != "-" {print $3, $4}' "$work/probe.info" | sort -u | awk 'END {print "  " (NR > 0 ? NR - 1 : 0)}'
echo "== -UNCERTAIN / -TRYAGAIN answered (metrics of each member)"
for i in 1 2 3; do
  redis-cli -p "${CP[$i]}" INFO 2>/dev/null | tr -d '\r' | grep -o 'tryagain=[0-9]*\|uncertain=[0-9]*' | tr '\n' ' ' | sed "s/^/  n$i: /"; echo
done

echo "== snapshots (each member's log)"
for i in 1 2 3; do
  grep 'event=snapshot_done' "$work/n$i.log" | sed -E -e 's/.*index=([0-9]+).* ms=([0-9.]+) fork_ms=([0-9.]+) commit_ms=([0-9.]+)( commit_loop_ms=([0-9.]+))? disk_bytes=([0-9]+).*/index \1: \2 ms, fork \3 ms, commit \4 ms (on the loop \6 ms), disk \7 bytes/' \
    -e 's/.*index=([0-9]+).* ms=([0-9.]+) method=walk loop_ms=([0-9.]+) loop_cpu_ms=([0-9.]+) slices=([0-9]+) max_slice_ms=[0-9.]+ max_slice_cpu_ms=([0-9.]+) kept_peak_bytes=[0-9]+ kept_keys=([0-9]+) (max_budget_ms=[0-9.]+ )?commit_ms=[0-9.]+.* disk_bytes=([0-9]+).*/index \1: \2 ms, walk on the loop \3 ms (CPU \4 ms) in \5 slices (longest CPU \6 ms), kept \7 keys, \8disk \9 bytes/' | sed "s/^/  n$i /"
done
echo "== slow event-loop turns (CPU past --slow-loop-ms; the longest three per member)"
for i in 1 2 3; do
  echo "  n$i: $(grep -c 'event=slow_loop_turn' "$work/n$i.log") lines"
  grep 'event=slow_loop_turn' "$work/n$i.log" | sed -E 's/.*(cpu_ms=[0-9.]+) (wall_ms=[0-9.]+) (callbacks=[^ ]+) (keys=[0-9]+).*/\1 \2 \3 \4/' |
    sort -t= -k2 -rn | head -n 3 | sed 's/^/    /'
done
# Snapshot windows: from each member's snapshot_started to its
# snapshot_done (the logs' UTC timestamps, the probe's Unix time).
echo "== GET latency every 10 ms on the leader (us): p50 / p99 / max, failures"
for i in 1 2 3; do grep -hE 'event=snapshot_(started|done|failed)' "$work/n$i.log"; done |
  sed -E 's/^ts=([^ ]+) .*event=snapshot_([a-z]+).*/\1 \2/' | while read -r ts ev; do
    echo "$(date -d "$ts" +%s%3N) $ev"; done | sort -n >"$work/windows"
awk 'FILENAME ~ /windows$/ { if ($2 == "started") { s[++n] = $1 } else if (n > c) { e[++c] = $1 }; next }
  { inside = 0; for (i = 1; i <= c; i++) if ($1 >= s[i] && $1 <= e[i]) { inside = 1; break }
    print (inside ? "inside" : "outside"), $2, $3 }' "$work/windows" "$work/probe.gets" >"$work/gets.tagged"
for w in outside inside; do
  awk -v w=$w '$1 == w {print $2}' "$work/gets.tagged" | sort -n | awk -v w=$w '{a[NR] = $1}
    END { if (NR) printf "  %-7s snapshots (%d GETs): p50 %d, p99 %d, max %d\n", w, NR, a[int(NR * 0.5) + 1], a[int(NR * 0.99) + 1], a[NR] }'
done
awk '!$3 {f++} END {printf "  failed GETs: %d\n", f}' "$work/gets.tagged"

echo "== memory per key and disk (after the load)"
# DBSIZE on the leader: a load cut short by an error reply holds fewer keys
# than KEYS x (1 - e^-4), what 4 x KEYS random writes leave.
dbkeys=$(redis-cli -p "$LPORT" DBSIZE 2>/dev/null | tr -d '\r')
[[ "$dbkeys" =~ ^[1-9][0-9]*$ ]] || dbkeys=$(awk -v k="$keys" 'BEGIN {printf "%d", k * (1 - exp(-4))}')
echo "  keys held: $dbkeys (DBSIZE on the leader; a full load leaves about $(awk -v k="$keys" 'BEGIN {printf "%d", k * (1 - exp(-4))}'))"
for i in 1 2 3; do
  r=$(rss_kb "${PID[$i]}")
  a=$(anon_kb "${PID[$i]}")
  d=$(du -sb "$work/n$i" | cut -f1)
  echo "  n$i: RSS $((r / 1024)) MB, $(awk -v r="$r" -v k="$dbkeys" 'BEGIN {printf "%.0f", r * 1024 / k}') bytes/key (RssAnon $(awk -v r="$a" -v k="$dbkeys" 'BEGIN {printf "%.0f", r * 1024 / k}')); disk $((d / 1048576)) MB; CPU $(cpu_s "${PID[$i]}") s"
done
# At rest: once no member writes a snapshot (INFO rdb_bgsave_in_progress:0,
# fork or walk), at most REST_WAIT seconds after the load.
# The commit (and the log it releases) follows the write, and the allocator
# returns freed pages over seconds (jemalloc: 10): twice, REST_SETTLE (10) s
# after each.
rest_t0=$(now_ms)
for _ in 1 2; do
  for i in 1 2 3; do
    while [ $(( $(now_ms) - rest_t0 )) -lt $(( ${REST_WAIT:-120} * 1000 )) ] &&
      ! redis-cli -p "${CP[$i]}" INFO 2>/dev/null | tr -d '\r' | grep -q '^rdb_bgsave_in_progress:0'; do
      sleep 0.2
    done
  done
  sleep "${REST_SETTLE:-10}"
done
rest_ms=$(( $(now_ms) - rest_t0 ))
echo "  at rest ($rest_ms ms after the figures above; REST_WAIT ${REST_WAIT:-120} s):"
for i in 1 2 3; do
  busy=$(redis-cli -p "${CP[$i]}" INFO 2>/dev/null | tr -d '\r' | awk -F: '$1 == "rdb_bgsave_in_progress" {print $2}')
  r=$(rss_kb "${PID[$i]}")
  a=$(anon_kb "${PID[$i]}")
  echo "  n$i: RSS $((r / 1024)) MB, $(awk -v r="$r" -v k="$dbkeys" 'BEGIN {printf "%.0f", r * 1024 / k}') bytes/key (RssAnon $(awk -v r="$a" -v k="$dbkeys" 'BEGIN {printf "%.0f", r * 1024 / k}'))$([ "${busy:-1}" = 0 ] || echo ", a snapshot still running")"
done
touch "$work/stop_rss"
wait "$rss_pid" 2>/dev/null
echo "  peak during a snapshot (RSS, plus a snapshot child's private pages, sampled once a second inside the member's snapshot windows):"
for i in 1 2 3; do
  grep -hE 'event=snapshot_(started|done|failed)' "$work/n$i.log" |
    sed -E 's/^ts=([^ ]+) .*event=snapshot_([a-z]+).*/\1 \2/' | while read -r ts ev; do
      echo "$(date -d "$ts" +%s%3N) $ev"; done | sort -n >"$work/windows.n$i"
  awk -v m="n$i" -v k="$dbkeys" 'FILENAME ~ /windows/ { if ($2 == "started") { s[++n] = $1 } else if (n > c) { e[++c] = $1 }; next }
    $2 == m { for (j = 1; j <= n; j++) if ($1 >= s[j] && (j > c || $1 <= e[j])) { if ($3 > p) p = $3; break } }
    END { if (p) printf "  %s: RSS %d MB, %.0f bytes/key (%d snapshots)\n", m, p / 1024, p * 1024 / k, n;
          else printf "  %s: no sample inside a snapshot (%d snapshots)\n", m, n }' "$work/windows.n$i" "$work/rss"
done
# CPU per key write and per applied entry: a loaded machine stretches wall
# time, much less the CPU a member spent.
applied=$(redis-cli -p "$LPORT" INFO 2>/dev/null | tr -d '\r' | awk -F: '$1 == "applied_index" {print $2}')
echo "  CPU, snapshot children's included, per key write ($((4 * keys)) written) and per applied entry (${applied:-?} on the leader):"
for i in 1 2 3; do
  c=$(cpu_all_s "${PID[$i]}")
  echo "  n$i: $(awk -v c="$c" -v w="$((4 * keys))" -v a="${applied:-0}" 'BEGIN {printf "%.2f us/key write, %.1f us/entry", c * 1e6 / w, (a > 0 ? c * 1e6 / a : 0)}')"
done

echo "== KEYS over the whole key space on the leader (a pattern matching about 1% of the keys: the walk visits every key), while a client GETs every 10 ms"
# redis-benchmark's keys are key:%012d of 0..KEYS-1: a prefix of 12-d zeros
# leaves d free digits, 10^d keys, d = floor(log10(KEYS / 100)).
digits=$(awk -v k="$keys" 'BEGIN {d = int(log(k / 100) / log(10)); print (d < 1 ? 1 : d)}')
kpat="key:$(printf '%0*d' $((12 - digits)) 0)*"
slow0=$(grep -c 'event=slow_loop_turn' "$work/$LNAME.log")
/usr/bin/python3 - "$LPORT" "$work/keys.stop" >"$work/keys.gets" <<'PY' &
import sys, time, os, redis
r = redis.Redis(port=int(sys.argv[1]), socket_timeout=10)
worst, n, fails = 0.0, 0, 0
while not os.path.exists(sys.argv[2]):
    t = time.monotonic()
    try:
        r.get("key:000000000001")
    except Exception:
        fails += 1
    worst = max(worst, time.monotonic() - t)
    n += 1
    time.sleep(0.01)
print(n, int(worst * 1000), fails)
PY
gets_pid=$!
sleep 0.3
t0=$(now_ms)
got=$(redis-cli -p "$LPORT" KEYS "$kpat" | wc -l)
t1=$(now_ms)
touch "$work/keys.stop"
wait "$gets_pid" 2>/dev/null
read -r gn gworst gfail <"$work/keys.gets"
echo "  \$ redis-cli -p $LPORT KEYS '$kpat': $got keys in $((t1 - t0)) ms; meanwhile $gn GETs, the slowest $gworst ms, $gfail failed"
echo "  slow event-loop turns on the leader during it: $(( $(grep -c 'event=slow_loop_turn' "$work/$LNAME.log") - slow0 ))"
grep -h 'event=keys_walk' "$work/$LNAME.log" | tail -n 1 | cut -c1-200 | sed 's/^/  /'
if [ "${LOAD_ONLY:-0}" = 1 ]; then echo "LOAD_ONLY=1: no restart, catch-up or Redis run"; exit 0; fi

echo "== restart: kill -9 all three, start them, time to the first successful write"
for i in 1 2 3; do kill -9 "${PID[$i]}" 2>/dev/null; done
wait "${PID[1]}" "${PID[2]}" "${PID[3]}" 2>/dev/null
t0=$(now_ms)
for i in 1 2 3; do start_member "$i"; done
ok=
for _ in $(seq 1 6000); do
  for i in 1 2 3; do
    if [ "$(redis-cli -p "${CP[$i]}" SET restart:probe 1 2>/dev/null | tr -d '\r')" = OK ]; then ok=$i; break 2; fi
  done
  sleep 0.02
done
t1=$(now_ms)
echo "  first successful write after $((t1 - t0)) ms (through n${ok:-none})"
for i in 1 2 3; do grep -E 'event=storage_opened' "$work/n$i.log" | tail -n 1 | sed "s/^/  n$i: /" | cut -c1-200; done
# Where the time went, per member, from its log after this start (ms since
# the start; CPU time is the process's so far): the log read back, the
# snapshot loaded, the part of the log tail its commit marks named applied
# (before any election), the leader known, the whole tail applied.
for i in 1 2 3; do
  python3 - "$work/n$i.log" "$t0" "$t1" "n$i" <<'PY'
import datetime, re, sys
path, t0, t1, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
got = {}
for line in open(path, errors="replace"):
    m = re.match(r"ts=(\S+?)Z .*?event=(\S+)", line)
    if not m:
        continue
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
    ms = int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000) - t0
    if ms < 0:
        continue
    ev = m.group(2)
    if ev == "role_change" and not re.search(r" leader=(?!none )\S", line):
        continue
    if ev in ("storage_opened", "snapshot_loaded", "restart_commit_applied", "role_change",
              "restart_tail_applied") and ev not in got:
        cpu = re.search(r" cpu_ms=([0-9.]+)", line)
        got[ev] = f"{ms} ms" + (f" (CPU {float(cpu.group(1)):.0f} ms)" if cpu else "")
parts = [("log read", "storage_opened"), ("snapshot loaded", "snapshot_loaded"),
         ("committed tail applied", "restart_commit_applied"),
         ("leader known", "role_change"), ("log tail applied", "restart_tail_applied")]
print(f"  {name}: " + ", ".join(f"{label} {got.get(ev, '-')}" for label, ev in parts)
      + f"; first write {t1 - t0} ms")
PY
done

echo "== an empty member catching up (a member replaced: RAFT.NODE REMOVE, then a fresh n4 joins)"
# A member that lost its disk may not come back under its old identity (it
# could vote again in a term it already voted in); docs/OPERATIONS.md's
# replacement is this: remove it, start a fresh member with --join, add it.
read -r LPORT LNAME <<<"$(leader_port)"
victim=1; [ "$LNAME" = n1 ] && victim=2
kill -9 "${PID[$victim]}" 2>/dev/null; wait "${PID[$victim]}" 2>/dev/null
rm -rf "$work/n$victim"
rm_reply=$(redis-cli -p "$LPORT" RAFT.NODE REMOVE "n$victim" | tr -d '\r')
echo "  RAFT.NODE REMOVE n$victim: $rm_reply"
PP[4]=$(free_port); CP[4]=$(free_port)
lead_applied=$(redis-cli -p "$LPORT" INFO | tr -d '\r' | awk -F: '$1 == "applied_index" {print $2}')
t0=$(now_ms)
mkdir -p "$work/n4"
"$raftkv" serve --id n4 --join "127.0.0.1:${PP[${LNAME#n}]}" --peer-listen "127.0.0.1:${PP[4]}" \
  --listen "127.0.0.1:${CP[4]}" --data-dir "$work/n4" --certs-dir "$certs" --log-level info ${RAFTKV_OPTS:-} \
  >>"$work/n4.log" 2>&1 &
PID[4]=$!
pids+=($!)
add=
for _ in $(seq 1 50); do
  add=$(redis-cli -p "$LPORT" RAFT.NODE ADD n4 "127.0.0.1:${PP[4]}" | tr -d '\r')
  [ "$add" = OK ] && break
  sleep 0.2
done
echo "  RAFT.NODE ADD n4: $add"
caught=
while [ $(( $(now_ms) - t0 )) -lt $(( ${CATCHUP_WAIT:-120} * 1000 )) ]; do
  a=$(redis-cli -p "${CP[4]}" INFO 2>/dev/null | tr -d '\r' | awk -F: '$1 == "applied_index" {print $2}')
  if [ -n "$a" ] && [ "$a" -ge "$lead_applied" ]; then caught=1; break; fi
  sleep 0.1
done
t1=$(now_ms)
if [ -n "$caught" ]; then
  echo "  n4 (empty) applied the leader's index $lead_applied after $((t1 - t0)) ms"
  grep -h -o 'event=snapshot_received.*' "$work/n4.log" | head -n 1 | cut -c1-200 | sed 's/^/  n4: /'
else
  echo "  n4 (empty) had not caught up after $((t1 - t0)) ms (applied ${a:-?} of $lead_applied)"
  grep -E 'level=(warn|error)' "$work/n4.log" | tail -n 3 | cut -c1-200 | sed 's/^/    /'
fi
kill -9 "${PID[4]}" 2>/dev/null
for i in 1 2 3; do kill -9 "${PID[$i]}" 2>/dev/null; done
wait 2>/dev/null

echo "== Redis $(redis-server --version | grep -oE 'v=[0-9.]+' | cut -c3-) (appendonly yes, appendfsync always), the same load"
rp=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$rp" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes --appendfsync always \
  --save '' --daemonize no >"$work/redis.out" 2>&1 &
rpid=$!
pids+=($rpid)
for _ in $(seq 1 50); do redis-cli -p "$rp" PING >/dev/null 2>&1 && break; sleep 0.1; done
load "redis load" $((3 * keys)) "$rp"
load "redis overwrite" "$keys" "$rp"
rk=$(redis-cli -p "$rp" DBSIZE | tr -d '\r')
r=$(rss_kb "$rpid")
echo "  keys $rk, RSS $((r / 1024)) MB, $(awk -v r="$r" -v k="$rk" 'BEGIN {printf "%.0f", r * 1024 / k}') bytes/key (used_memory $(redis-cli -p "$rp" INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory_human" {print $2}'))"
# Redis refuses BGSAVE while it rewrites its AOF (which the load may have
# started): wait for that first.
while redis-cli -p "$rp" INFO persistence | tr -d '\r' | grep -q 'aof_rewrite_in_progress:1'; do sleep 0.1; done
t0=$(now_ms)
redis-cli -p "$rp" BGSAVE >/dev/null
sleep 0.2
while redis-cli -p "$rp" INFO persistence | tr -d '\r' | grep -q 'rdb_bgsave_in_progress:1'; do sleep 0.1; done
t1=$(now_ms)
echo "  BGSAVE: $((t1 - t0)) ms, $(( $(stat -c %s "$work/redis/dump.rdb") / 1048576 )) MB"
redis-cli -p "$rp" SHUTDOWN NOSAVE >/dev/null 2>&1; wait "$rpid" 2>/dev/null
t0=$(now_ms)
redis-server --port "$rp" --bind 127.0.0.1 --dir "$work/redis" --appendonly no --save '' \
  --daemonize no >>"$work/redis.out" 2>&1 &
rpid=$!
pids+=($rpid)
until [ "$(redis-cli -p "$rp" PING 2>/dev/null | tr -d '\r')" = PONG ]; do sleep 0.02; done
t1=$(now_ms)
echo "  load of dump.rdb at start: $((t1 - t0)) ms to the first PONG ($(grep -oE 'Done loading RDB.*' "$work/redis.out" | tail -n 1))"
redis-cli -p "$rp" SHUTDOWN NOSAVE >/dev/null 2>&1; wait "$rpid" 2>/dev/null

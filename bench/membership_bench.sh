#!/usr/bin/env bash
# membership_bench.sh - issue 13's performance figures, in `make bench`:
# (a) the write throughput of a durable 3-member cluster while a learner
# catches up from an empty data directory through a snapshot of KEYS keys,
# against its throughput without the learner measured in the same run;
# (b) how long a
# leadership transfer takes, from RAFT.TRANSFER_LEADER sent to the new
# leader acknowledging a write, against the election timeout.
#   bench/membership_bench.sh BUILD
# Env: KEYS (1000000) the key count; WINDOW (8) seconds of each window
# without the learner; TRANSFERS (10) transfers per case; RAFTKV_OPTS adds
# options to every member (e.g. --snapshot-send-mbps N); KEEP=1 keeps the
# work directory; ELECTION_MS (1000) the members' election timeout. The
# members snapshot every KEYS/10+HEADROOM entries (HEADROOM 12000000) and not
# by log size; the load is KEYS/10 MSETs of 10 keys with 100-byte values,
# then HEADROOM SETs of one small key (one entry each, topped up until the
# snapshot starts: a request answered with an error may not be an entry),
# so it ends with a snapshot holding every key and the next snapshot is
# KEYS/10+HEADROOM entries away, past the measured windows (at 250,000
# writes/s, 48 s, room for a catch-up paced at 1.5 times the log's growth:
# a periodic snapshot inside a window, three forked
# children writing the map while the members serve, would be charged to
# that window; each window prints the snapshots that began in it).
# Throughput is the cluster's commit index per second (each SET is one
# entry; the highest any member reports), sampled every 0.5 s, under
# redis-benchmark -t set -P 16 -c 50 against the leader (started again at
# the new leader if leadership moves: it stops at its first error reply;
# each window prints the terms it began and ended in).
# The baseline: a window of WINDOW s with the three members alone before
# RAFT.NODE ADD, and one as long after n4 caught up and was removed again
# (a removed member stops), so both have the same members, load and client
# as the catch-up minus the learner. The serving members slow down over a
# run (the log grows in memory until the next snapshot), so the window
# before alone flatters the baseline, and a window with n4 following
# would charge the fourth member to it; the figure compared is the line
# through the two windows' rates read at the middle of the catch-up (their
# mean when it is centred between them; exact for a steady drift). The
# ratio against each window alone is printed too.
# Every window prints the CPU seconds (utime+stime) of each member and of
# redis-benchmark, the shares of the machine's CPU they and everything
# else got (/proc/stat), their CPU per committed entry, and each member's
# log syncs (INFO fsync_batches and fsync_avg_us), and the learner's CPU
# per entry it applied after the snapshot. On a machine others load,
# writes/s follow the CPU share the cluster gets, so the CPU per entry
# lines and their ratio (the throughput at an equal CPU share) are
# steadier, though an entry costs more at a lower rate (smaller batches):
# read both.
# Not a test: nothing here fails on speed; it prints the target and whether
# it was met.
set -uo pipefail
build=${1:-build}
keys=${KEYS:-1000000}
window=${WINDOW:-8}
transfers=${TRANSFERS:-10}
headroom=${HEADROOM:-12000000}
election_ms=${ELECTION_MS:-1000}
root=$(cd "$(dirname "$0")/.." && pwd)
raftkv=$(cd "$build" && pwd)/raftkv
bash "$root/scripts/deps.sh" bench >/dev/null
work=$(mktemp -d /tmp/raftkv-members-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

source "$(dirname "$0")/lib.sh" # port_free, free_port, now_ms, wait_pong, leader_name
load() { sed 's/.*load average: //' /proc/loadavg 2>/dev/null || uptime | sed 's/.*load average: //'; }
info() { redis-cli -p "$1" INFO 2>/dev/null | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'; }
die() { echo "membership_bench: $*" >&2; tail -n 5 "$work"/n*.log >&2; exit 1; }

echo "raftkv membership bench: $keys keys, $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$raftkv" certs --dir "$work/certs" --members n1,n2,n3,n4 >/dev/null
declare -A CP PP PID
peers=
for i in 1 2 3 4; do PP[$i]=$(free_port); CP[$i]=$(free_port); done
for i in 1 2 3; do peers+="${peers:+,}n$i=127.0.0.1:${PP[$i]}"; done
opts=(--election-timeout-ms $election_ms --snapshot-entries $((keys / 10 + headroom)) --snapshot-log-percent 0
      --certs-dir "$work/certs" --log-level info)
# shellcheck disable=SC2086
start_member() { # start_member I (n1..n3; a new data directory's first start gets --first-start)
  local first=; [ -e "$work/n$1" ] || first=--first-start
  "$raftkv" serve --id "n$1" --peers "$peers" --listen "127.0.0.1:${CP[$1]}" --data-dir "$work/n$1" $first \
    "${opts[@]}" ${RAFTKV_OPTS:-} >>"$work/n$1.log" 2>&1 &
  PID[$1]=$!; pids+=($!)
}
leader() { # the leader's index, once a running member names it
  local x i ports=()
  for i in 1 2 3 4; do [ -n "${PID[$i]:-}" ] && ports+=("${CP[$i]}"); done
  x=$(leader_name "${ports[@]}") || die "no leader"
  echo "${x#n}"
}
for i in 1 2 3; do start_member "$i"; done
L=$(leader)
LP=${CP[$L]}

# --- the data: KEYS keys key:000000000000 ... (redis-benchmark's names) with 100-byte values, ---
# --- 10 a MSET, then HEADROOM SETs of one key "pad" (20,000 commands a redis-cli --pipe, retried
# --- at the leader of the moment when a reply is an error: a pipe sends everything at once) ---
t0=$(now_ms)
mkdir -p "$work/load"
awk -v n="$keys" -v h="$headroom" 'BEGIN { v = sprintf("%0100d", 7)
  for (i = 0; i < n; i += 10) { printf "*21\r\n$4\r\nMSET\r\n"
    for (j = i; j < i + 10; j++) { k = sprintf("key:%012d", j); printf "$%d\r\n%s\r\n$100\r\n%s\r\n", length(k), k, v } }
  for (i = 0; i < h; i++) printf "*3\r\n$3\r\nSET\r\n$3\r\npad\r\n$1\r\n%d\r\n", i % 10 }' >"$work/load/all"
# split at command boundaries: every command starts with a line "*N"
awk -v dir="$work/load" '/^\*/ { if (c++ % 20000 == 0) { if (f) close(f); f = sprintf("%s/part.%06d", dir, c / 20000) } } { print > f }' "$work/load/all"
rm -f "$work/load/all"
errors=0
for f in "$work"/load/part.*; do
  for try in 1 2 3 4; do
    redis-cli -p "${CP[$(leader)]}" --pipe <"$f" >"$work/load.out" 2>&1
    e=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$work/load.out")
    [ "${e:-1}" = 0 ] && break
    errors=$((errors + ${e:-1}))
    sleep 0.5
  done
  rm -f "$f"
done
echo "loaded $(redis-cli -p "${CP[$(leader)]}" DBSIZE | tr -d '\r') keys with $((keys / 10)) MSETs and $headroom SETs in $(( ($(now_ms) - t0) / 1000 )) s ($errors error replies, their pipes sent again)"
# A request answered with an error may not have become an entry: top up with small SETs
# until the members start their snapshot.
awk 'BEGIN { for (i = 0; i < 2000; i++) printf "*3\r\n$3\r\nSET\r\n$3\r\npad\r\n$1\r\n%d\r\n", i % 10 }' >"$work/topup"
for _ in $(seq 1 100); do
  grep -q 'event=snapshot_started' "$work"/n[123].log && break
  redis-cli -p "${CP[$(leader)]}" --pipe <"$work/topup" >/dev/null 2>&1
  sleep 0.2
done
for _ in $(seq 1 600); do [ "$(grep -l 'event=snapshot_done' "$work"/n[123].log | wc -l)" = 3 ] && break; sleep 0.5; done
L=$(leader)
echo "leader n$L: $(grep -m1 -o 'event=snapshot_done.*' "$work/n$L.log")"
echo "snapshot file: $(du -m "$work/n$L"/*snap* 2>/dev/null | awk '{s += $1} END {print s}') MB"
# On a loaded machine a member may end the load with entries committed but not yet applied; a
# window that began then would charge their applying to the figure without the learner. So
# every member applies what the load committed first.
loaded=$(info "${CP[$L]}" commit_index); t0=$(now_ms)
while :; do
  ok=1; for i in 1 2 3; do a=$(info "${CP[$i]}" applied_index); [ "${a:-0}" -ge "${loaded:-0}" ] || ok=; done
  [ -n "$ok" ] || [ $(( $(now_ms) - t0 )) -ge 120000 ] && break; sleep 0.1
done
echo "every member applied the load's $loaded entries $(( ($(now_ms) - t0) / 100 ))00 ms after the last snapshot ended$([ -n "$ok" ] || echo " (NOT within 120 s)")"

# --- (a) throughput: before the learner, while it catches up, after ---------------------------
echo "load: \$ redis-benchmark -p <the leader's port> -t set -r $keys -d 100 -c 50 -P 16 -n 2000000000 -q"
(
  while [ ! -e "$work/stop_load" ]; do
    redis-benchmark -p "${CP[$(leader)]}" -t set -r "$keys" -d 100 -c 50 -P 16 -n 2000000000 -q >/dev/null 2>>"$work/bench.err" &
    echo $! >"$work/bench.pid"
    wait $!
    sleep 0.1
  done
) &
bpid=$!; pids+=($bpid)
sleep 2
# The sampler: every 0.5 s, "ms commit" with the highest commit index n1..n3 report (one
# connection each, kept open: lighter on a loaded machine than a redis-cli per sample).
/usr/bin/python3 - "$work/samples" "${CP[1]}" "${CP[2]}" "${CP[3]}" <<'EOF' &
import sys, time, redis
out = open(sys.argv[1], "a", buffering=1)
conns = [redis.Redis(host="127.0.0.1", port=int(p), socket_timeout=5) for p in sys.argv[2:]]
while True:
    best = 0
    for c in conns:
        try:
            best = max(best, int(c.info().get("commit_index", 0)))
        except (redis.RedisError, ValueError):
            pass
    out.write("%d %d\n" % (time.time() * 1000, best))
    time.sleep(0.5)
EOF
pids+=($!)
terms() { local i t=; for i in 1 2 3; do t+="${t:+/}$(info "${CP[$i]}" term)"; done; echo "$t"; }
# CPU seconds (utime + stime, /proc/PID/stat) each member and redis-benchmark ("rb") used so far,
# and the whole machine's busy CPU seconds ("all", /proc/stat: user nice system irq softirq),
# "n1=.. n2=.. ... rb=.. all=.."
cpu_all() { local i t; t=$(getconf CLK_TCK)
  for i in 1 2 3 4; do [ -n "${PID[$i]:-}" ] && [ -r "/proc/${PID[$i]}/stat" ] &&
    awk -v n="n$i" -v t="$t" '{printf "%s=%.2f ", n, ($14 + $15) / t}' "/proc/${PID[$i]}/stat" 2>/dev/null; done
  [ -r "/proc/$(cat "$work/bench.pid" 2>/dev/null)/stat" ] &&
    awk -v t="$t" '{printf "rb=%.2f ", ($14 + $15) / t}' "/proc/$(cat "$work/bench.pid")/stat"
  awk -v t="$t" '$1 == "cpu" {printf "all=%.2f", ($2 + $3 + $4 + $7 + $8) / t}' /proc/stat; echo " at=$(now_ms)"; }
cpu_delta() { # cpu_delta "BEFORE" "AFTER" COMMITS: CPU seconds each used between two cpu_all, shares, per entry
  awk -v a="$1" -v b="$2" -v c="$3" -v cores="$(nproc)" 'BEGIN { n = split(a, x, "[ =]"); for (i = 1; i < n; i += 2) s[x[i]] = x[i + 1]
    n = split(b, y, "[ =]"); for (i = 1; i < n; i += 2) { d = y[i + 1] - s[y[i]]
      if (y[i] == "at") w = d / 1000; else if (y[i] == "all") all = d; else { printf "%s %.2f s  ", y[i], d; ours += d; if (y[i] ~ /^n[123]$/) m += d; if (y[i] == "n4") l = d } }
    printf "\n  CPU shares of %d cores x %.1f s: raftkv members and redis-benchmark %.0f%%, the rest of the machine (other work, this script) %.0f%%, idle %.0f%%",
      cores, w, 100 * ours / (cores * w), 100 * (all - ours) / (cores * w), 100 * (1 - all / (cores * w))
    if (c > 0) printf "\n  CPU per committed entry (%d entries): n1-n3 %.1f us, n4 %.1f us, with redis-benchmark %.1f us", c, m * 1e6 / c, l * 1e6 / c, ours * 1e6 / c
    print "" }'; }
cpu_per_entry() { # cpu_per_entry "BEFORE" "AFTER" COMMITS: microseconds of CPU of the members, n4 and redis-benchmark per commit
  awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { n = split(a, x, "[ =]"); for (i = 1; i < n; i += 2) s[x[i]] = x[i + 1]
    n = split(b, y, "[ =]"); for (i = 1; i < n; i += 2) if (y[i] != "all" && y[i] != "at") ours += y[i + 1] - s[y[i]]
    printf "%.2f", (c > 0 ? ours * 1e6 / c : 0) }'; }
# Log syncs so far per member, "n1=BATCHES:US ..." (INFO fsync_batches, fsync_avg_us times it).
syncs_all() { local i; for i in 1 2 3 4; do [ -n "${PID[$i]:-}" ] && [ -r "/proc/${PID[$i]}/stat" ] &&
  redis-cli -p "${CP[$i]}" INFO 2>/dev/null | tr -d '\r' | awk -F: -v n="n$i" '$1 == "fsync_batches" {b = $2}
    $1 == "fsync_avg_us" {a = $2} END {printf "%s=%d:%d ", n, b, a * b}'; done; echo; }
syncs_delta() { # syncs_delta "BEFORE" "AFTER": syncs each member made between them and their mean time
  awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, "[ =:]"); for (i = 1; i < n; i += 3) { sb[x[i]] = x[i + 1]; su[x[i]] = x[i + 2] }
    n = split(b, y, "[ =:]"); for (i = 1; i < n; i += 3) { k = y[i + 1] - sb[y[i]]
      printf "%s %d (%d us avg)  ", y[i], k, (k > 0 ? (y[i + 2] - su[y[i]]) / k : 0) }; print "" }'; }
sample_for() { sleep "$1"; }
# Periodic snapshots the members began so far (each a forked child's CPU and disk, not in the CPU lines).
snaps() { cat "$work"/n*.log 2>/dev/null | grep -c 'event=snapshot_started'; }
rate() { # rate FROM_MS TO_MS: commits per second between the samples nearest those times
  awk -v a="$1" -v b="$2" '$1 >= a && !x { x = $1; cx = $2 } $1 <= b { y = $1; cy = $2 }
    END { if (y > x) printf "%.0f", (cy - cx) * 1000 / (y - x); else print 0 }' "$work/samples"
}
commits() { # commits FROM_MS TO_MS: entries committed between the samples nearest those times
  awk -v a="$1" -v b="$2" '$1 >= a && !x { x = $1; cx = $2 } $1 <= b { y = $1; cy = $2 }
    END { print (y > x ? cy - cx : 0) }' "$work/samples"
}
tb=$(terms); yb=$(syncs_all); sb=$(snaps); cb=$(cpu_all); b0=$(now_ms); sample_for "$window"; b1=$(now_ms); cb1=$(cpu_all); yb1=$(syncs_all)
before=$(rate "$b0" "$b1")
echo "without the learner (before): $before writes/s over ${window} s (terms of n1/n2/n3 $tb to $(terms); load average $(load | cut -d' ' -f1))"
echo "  CPU: $(cpu_delta "$cb" "$cb1" $(commits "$b0" "$b1")) snapshots begun: $(( $(snaps) - sb ))"
echo "  log syncs: $(syncs_delta "$yb" "$yb1")"

L=$(leader)
mkdir -p "$work/n4"
"$raftkv" serve --id n4 --join "127.0.0.1:${PP[$L]}" --peer-listen "127.0.0.1:${PP[4]}" --listen "127.0.0.1:${CP[4]}" \
  --data-dir "$work/n4" "${opts[@]}" ${RAFTKV_OPTS:-} >>"$work/n4.log" 2>&1 &
PID[4]=$!; pids+=($!)
tc=$(terms); yc=$(syncs_all); sc=$(snaps); cc=$(cpu_all); c0=$(now_ms)
for _ in $(seq 1 20); do
  add=$(redis-cli -p "${CP[$(leader)]}" RAFT.NODE ADD n4 "127.0.0.1:${PP[4]}" LEARNER | tr -d '\r')
  [ "$add" = "ERR not leader" ] || break
  sleep 0.2
done
[ "$add" = OK ] || die "RAFT.NODE ADD n4: $add"
caught=
deadline=$(( c0 + 300000 ))
while [ "$(now_ms)" -lt $deadline ]; do
  lag=$(redis-cli -p "${CP[$(leader)]}" RAFT.NODE LIST | tr -d '\r' | awk '$1 == "name=n4" { for (i = 1; i <= NF; i++) if ($i ~ /^lag=/) print substr($i, 5) }')
  if [[ "$lag" =~ ^[0-9]+$ ]] && [ "$lag" -lt 1000 ] && grep -q 'event=snapshot_installed' "$work/n4.log"; then caught=$(now_ms); break; fi
  sleep 0.5
done
[ -n "$caught" ] || die "n4 did not catch up within 300 s"
cc1=$(cpu_all); yc1=$(syncs_all) # n4 is still running
n4_applied=$(info "${CP[4]}" applied_index)
during=$(rate "$c0" "$caught")
echo "while n4 catches up (RAFT.NODE ADD to lag < 1000): $during writes/s over $(( (caught - c0) / 1000 )).$(( (caught - c0) % 1000 / 100 )) s (terms $tc to $(terms); load average $(load | cut -d' ' -f1))"
echo "  CPU: $(cpu_delta "$cc" "$cc1" $(commits "$c0" "$caught")) snapshots begun: $(( $(snaps) - sc ))"
echo "  log syncs: $(syncs_delta "$yc" "$yc1")"
grep -h -o 'event=snapshot_sent.*' "$work"/n[123].log | head -n 1 | sed 's/^/  leader: /'
grep -h -o 'event=snapshot_received.*' "$work/n4.log" | head -n 1 | sed 's/^/  n4: /'
grep -h -o 'event=snapshot_installed.*' "$work/n4.log" | head -n 1 | sed 's/^/  n4: /'
# The learner's own cost, steadier than the rates under load: its CPU over the entries it applied
# after the snapshot's index (the snapshot's receive, check and load are in its CPU too).
snap_index=$(grep -h -o 'event=snapshot_installed index=[0-9]*' "$work/n4.log" | head -n 1 | sed 's/.*index=//')
awk -v a="$cc" -v b="$cc1" -v n="${n4_applied:-0}" -v i="${snap_index:-0}" 'BEGIN {
  k = split(a, x, "[ =]"); for (j = 1; j < k; j += 2) s[x[j]] = x[j + 1]
  k = split(b, y, "[ =]"); for (j = 1; j < k; j += 2) if (y[j] == "n4") c = y[j + 1] - s["n4"]
  if (n > i && i > 0) printf "  n4 applied %d entries after the snapshot (index %d to %d): %.2f s of CPU, %.2f us an entry with the snapshot in it\n", n - i, i, n, c, c * 1e6 / (n - i) }'
# The figure without the learner must come from the same cluster at the same point of its run:
# the serving members slow down over the run (the log grows in memory until the next snapshot,
# KEYS/10+HEADROOM entries away), so a window before the catch-up alone flatters the baseline
# and one after it with n4 following charges a fourth member to it. So n4 is removed as soon as
# it has caught up (a removed member stops) and a window as long as the one before is measured
# with the same three members; the baseline is the line through the two windows' figures taken
# at the middle of the catch-up (their mean when the catch-up is centred between them, and
# exact for a steady drift). Both windows' figures and the ratio against each are printed.
for _ in $(seq 1 20); do
  rm_reply=$(redis-cli -p "${CP[$(leader)]}" RAFT.NODE REMOVE n4 | tr -d '\r')
  [ "$rm_reply" = "ERR not leader" ] || break
  sleep 0.2
done
[ "$rm_reply" = OK ] || die "RAFT.NODE REMOVE n4: $rm_reply"
running() { # a zombie has stopped; so has a process whose stat vanished while read
  local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]; }
r0=$(now_ms)
while running "${PID[4]}" && [ $(( $(now_ms) - r0 )) -lt 30000 ]; do sleep 0.1; done
if running "${PID[4]}"; then
  echo "  n4 still ran 30 s after its removal was acknowledged (a loaded machine): killed"; kill -9 "${PID[4]}" 2>/dev/null
else
  echo "  n4 stopped $(( $(now_ms) - r0 )) ms after its removal was acknowledged"
fi
ta=$(terms); ya=$(syncs_all); sa=$(snaps); ca=$(cpu_all); a0=$(now_ms); sample_for "$window"; a1=$(now_ms); ca1=$(cpu_all); ya1=$(syncs_all)
after=$(rate "$a0" "$a1")
echo "without the learner (after, n4 removed $(( (a0 - caught) / 100 ))00 ms after it caught up): $after writes/s over ${window} s (terms $ta to $(terms); load average $(load | cut -d' ' -f1))"
echo "  CPU: $(cpu_delta "$ca" "$ca1" $(commits "$a0" "$a1")) snapshots begun: $(( $(snaps) - sa ))"
echo "  log syncs: $(syncs_delta "$ya" "$ya1")"
touch "$work/stop_load"; kill "$(cat "$work/bench.pid")" 2>/dev/null; wait "$bpid" 2>/dev/null
grep -q . "$work/bench.err" && echo "  redis-benchmark said: $(tail -n 2 "$work/bench.err" | tr '\n' ' ')"
/usr/bin/python3 - "$before" "$during" "$after" "$b0" "$b1" "$c0" "$caught" "$a0" "$a1" \
  "$(cpu_per_entry "$cb" "$cb1" "$(commits "$b0" "$b1")")" "$(cpu_per_entry "$cc" "$cc1" "$(commits "$c0" "$caught")")" \
  "$(cpu_per_entry "$ca" "$ca1" "$(commits "$a0" "$a1")")" <<'EOF'
import sys
before, during, after = (float(x) for x in sys.argv[1:4])
b0, b1, c0, c1, a0, a1 = (float(x) for x in sys.argv[4:10])
ub, uc, ua = (float(x) for x in sys.argv[10:13])
tb, tc, ta = (b0 + b1) / 2, (c0 + c1) / 2, (a0 + a1) / 2
base = before + (after - before) * (tc - tb) / (ta - tb) if ta > tb else before
def pct(x, y):
    return x / y if y else 0
verdict = lambda r: "met" if r >= 0.70 else "MISSED"
print(f"baseline without the learner at the catch-up's middle: {base:.0f} writes/s (before {before:.0f} at "
      f"{(tb - tc) / 1000:+.1f} s, after {after:.0f} at {(ta - tc) / 1000:+.1f} s from it; their mean {(before + after) / 2:.0f})")
print(f"RESULT catch-up throughput ratio: {during:.0f} / {base:.0f} writes/s = {pct(during, base):.0%} of the figure "
      f"without the learner (target 70%: {verdict(pct(during, base))}); against the window before alone: "
      f"{pct(during, before):.0%} ({verdict(pct(during, before))}), after alone: {pct(during, after):.0%}")
# On a machine others load too, the writes/s follow the CPU share the cluster gets; the CPU the
# cluster (members, n4, redis-benchmark) spends per committed entry follows it less, and with the
# cores to itself its throughput would be their capacity over that cost. Less, not none: at a
# lower rate batches are smaller and each entry costs more, so this compares well only windows
# whose rates are close.
ubase = ub + (ua - ub) * (tc - tb) / (ta - tb) if ta > tb else ub
print(f"CPU per committed entry (members, n4 and redis-benchmark): before {ub:.2f} us, during {uc:.2f} us, after {ua:.2f} us; "
      f"at the catch-up's middle without the learner {ubase:.2f} us: the catch-up's throughput at an equal CPU share "
      f"{pct(ubase, uc):.0%} of the figure without the learner (comparable when the rates are close: {during:.0f} against "
      f"{base:.0f} writes/s)")
EOF

# --- (b) leadership transfers: RAFT.TRANSFER_LEADER to the new leader's first acknowledged write ---
ports=""
for i in 1 2 3; do ports+="${ports:+,}n$i=${CP[$i]}"; done
transfer_cmd=(/usr/bin/python3 - "$ports" "$transfers" "$election_ms")
run_transfers() {
  "${transfer_cmd[@]}" <<'EOF'
import sys, time, redis
ports = dict(kv.split("=") for kv in sys.argv[1].split(","))
n, election_ms = int(sys.argv[2]), int(sys.argv[3])
conns = {name: redis.Redis(host="127.0.0.1", port=int(p), socket_timeout=10) for name, p in ports.items()}
def leader():
    for _ in range(300):
        for c in conns.values():
            try:
                x = c.execute_command("LEADER")
                if x:
                    return x.decode()
            except redis.RedisError:
                pass
        time.sleep(0.05)
    raise SystemExit("no leader")
times = []
for k in range(n):
    l = leader()
    names = sorted(ports)
    target = names[(names.index(l) + 1) % len(names)]
    t0 = time.monotonic()
    r = conns[l].execute_command("RAFT.TRANSFER_LEADER", target)
    t1 = time.monotonic()
    while True:
        try:
            if conns[target].set("transfer:probe", str(k)):
                break
        except redis.RedisError:
            pass
        time.sleep(0.001)
    t2 = time.monotonic()
    times.append((t2 - t0) * 1000)
    print(f"  {l} -> {target}: {r.decode() if isinstance(r, bytes) else r} after {(t1 - t0) * 1000:.1f} ms, "
          f"first write acknowledged by {target} after {(t2 - t0) * 1000:.1f} ms")
    time.sleep(0.3)
times.sort()
print(f"RESULT transfer to first write: median {times[len(times) // 2]:.1f} ms, max {times[-1]:.1f} ms "
      f"(election timeout {election_ms} ms; within it: {sum(t <= election_ms for t in times)} of {len(times)})")
EOF
}
echo "transfers, idle cluster: \$ RAFT.TRANSFER_LEADER <next member> on the leader, then SET on the target until +OK (x$transfers)"
run_transfers
load_cmd=(redis-benchmark -p "${CP[1]}" -t set -r "$keys" -d 100 -c 20 -n 2000000000 -q)
echo "transfers under load: \$ ${load_cmd[*]} (through n1, which forwards when it does not lead)"
"${load_cmd[@]}" >/dev/null 2>&1 &
lpid=$!; pids+=($lpid)
sleep 1
run_transfers
kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

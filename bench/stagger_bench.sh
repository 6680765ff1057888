#!/usr/bin/env bash
# stagger_bench.sh - whether the members of a 3-member cluster fork their
# snapshot children together or in turn (--snapshot-stagger), and what the
# cluster applies meanwhile.
#   bench/stagger_bench.sh BUILD
# A durable 3-member cluster with --snapshot-entries ENTRIES (60000) and
# --snapshot-log-percent 0 is loaded with KEYS (1,000,000) random keys'
# worth of MSETs of 10 keys (redis-benchmark -t mset -d 100 -P 16 -c 50
# at the leader), then the same load runs for SECONDS (60) while every
# 100 ms the script counts the members with a snapshot child
# (/proc/PID/task/PID/children) and reads the leader's applied index.
# Prints the share of samples with 0, 1, 2 and 3 children running, the
# snapshots each member took, the entries applied and each member's CPU
# per applied entry (utime+stime: counts, not wall time), and the index at
# which each member started each snapshot (the whole run, the load
# included) with each child's time. RAFTKV_OPTS adds
# serve options to every member (e.g. --snapshot-stagger no).
set -uo pipefail
build=${1:-build}
keys=${KEYS:-1000000}
entries=${ENTRIES:-60000}
secs=${SECONDS_RUN:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
raftkv=$(cd "$build" && pwd)/raftkv
command -v redis-benchmark >/dev/null || bash "$root/scripts/deps.sh" bench >/dev/null
source "$(dirname "$0")/lib.sh" # bench_work, port_free, free_port
bench_work stagger
echo "raftkv stagger-bench: $keys keys, --snapshot-entries $entries, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uptime | sed 's/.*load/load/'); opts: ${RAFTKV_OPTS:-none}"
"$raftkv" certs --dir "$work/certs" --members n1,n2,n3 >/dev/null
declare -A CP PP PID
peers=
for i in 1 2 3; do PP[$i]=$(free_port); CP[$i]=$(free_port); peers+="${peers:+,}n$i=127.0.0.1:${PP[$i]}"; done
for i in 1 2 3; do
  # shellcheck disable=SC2086
  "$raftkv" serve --id "n$i" --peers "$peers" --listen "127.0.0.1:${CP[$i]}" --data-dir "$work/n$i" --first-start \
    --certs-dir "$work/certs" --snapshot-entries "$entries" --snapshot-log-percent 0 \
    --request-timeout-ms 60000 --election-timeout-ms 1000 --log-level info ${RAFTKV_OPTS:-} >>"$work/n$i.log" 2>&1 &
  PID[$i]=$!
  pids+=($!)
done
lport=0
for _ in $(seq 1 600); do
  for i in 1 2 3; do
    l=$(redis-cli -p "${CP[$i]}" LEADER 2>/dev/null | tr -d '\r')
    case "$l" in n[123]) lport=${CP[${l#n}]}; lname=$l;; esac
  done
  [ "$lport" != 0 ] && break
  sleep 0.05
done
[ "$lport" != 0 ] || { echo "no leader"; exit 1; }
redis-benchmark -p "$lport" -t mset -r "$keys" -n $((keys / 5)) -d 100 -P 16 -c 50 -q >/dev/null 2>&1
echo "loaded: leader $lname, $(redis-cli -p "$lport" DBSIZE) keys"
(while [ -d "$work" ]; do redis-benchmark -p "$lport" -t mset -r "$keys" -n 1000000000 -d 100 -P 16 -c 50 -q >/dev/null 2>&1; sleep 0.1; done) &
pids+=($!)
python3 - "$lport" "$secs" "${PID[1]}" "${PID[2]}" "${PID[3]}" "$work" <<'EOF'
import os, socket, sys, time
port, secs, pids, work = int(sys.argv[1]), float(sys.argv[2]), [int(p) for p in sys.argv[3:6]], sys.argv[6]
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def applied():
    s.sendall(b"*2\r\n$4\r\nINFO\r\n$4\r\nraft\r\n")
    n = int(f.readline()[1:])
    text = f.read(n + 2).decode()
    for l in text.splitlines():
        if l.startswith("applied_index:"):
            return int(l.split(":")[1])
def cpu(pid):
    x = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(x[11]) + int(x[12])
def children(pid):
    return len(open("/proc/%d/task/%d/children" % (pid, pid)).read().split())
def snaps(i):
    return sum(1 for l in open(os.path.join(work, "n%d.log" % i)) if "event=snapshot_done" in l)
hist = [0, 0, 0, 0]
a0, c0, s0, t0 = applied(), [cpu(p) for p in pids], [snaps(i) for i in (1, 2, 3)], time.monotonic()
while time.monotonic() - t0 < secs:
    hist[min(3, sum(1 for p in pids if children(p) > 0))] += 1
    time.sleep(0.1)
a1, c1, s1, t1 = applied(), [cpu(p) for p in pids], [snaps(i) for i in (1, 2, 3)], time.monotonic()
n = sum(hist)
print("samples: %d; members with a child: " % n + "  ".join("%d: %.0f%%" % (k, 100.0 * hist[k] / n) for k in range(4)))
print("snapshots done in the window: n1 %d, n2 %d, n3 %d" % tuple(s1[k] - s0[k] for k in range(3)))
e = a1 - a0
print("leader applied %d entries in %.1f s (%.0f/s)" % (e, t1 - t0, e / (t1 - t0)))
if e:
    print("CPU per applied entry: " + ", ".join("n%d %.0f us" % (k + 1, (c1[k] - c0[k]) * 1e4 / e) for k in range(3)))
for i in (1, 2, 3):
    starts = [l.split("index=")[1].split()[0] for l in open(os.path.join(work, "n%d.log" % i))
              if "event=snapshot_started" in l]
    took = [l.split(" ms=")[1].split()[0] for l in open(os.path.join(work, "n%d.log" % i))
            if "event=snapshot_done" in l]
    print("n%d snapshots started at %s; children took %s ms" % (i, " ".join(starts) or "-", " ".join(took) or "-"))
EOF

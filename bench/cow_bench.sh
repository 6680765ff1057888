#!/usr/bin/env bash
# cow_bench.sh - what applying writes costs a member while a forked child
# shares its pages (issue 12: snapshots and backups are written by forked
# children, and every page the member writes meanwhile is copied).
#   bench/cow_bench.sh BUILD
# One durable member (no periodic snapshot: --snapshot-entries 1e9,
# --snapshot-log-percent 0; --request-timeout-ms 60000) is loaded with KEYS (2,000,000) random keys'
# worth of MSETs of 10 keys with 100-byte values (redis-benchmark -t mset -r
# KEYS -n KEYS/5 -d 100 -P 16 -c 50: about 86% of the key space), then the
# same load runs on without end while REPS (3) times: WINDOW (8) seconds
# with no child, then one RAFTKV.BACKUP START (a forked child writing the
# whole map, as a snapshot's) from the fork to the child's exit. Counts,
# not wall time (the machine is shared): per applied entry, the member's
# minor page faults (/proc/PID/stat minflt), its CPU (utime+stime, all
# threads) and the event loop thread's CPU; the machine's THP and
# compaction counters (/proc/vmstat thp_*, compact_*: other processes add
# to these) over each window. RAFTKV_OPTS adds serve options; KEEP=1 keeps
# the work directory; PERF=FILE records the member (perf record -g) in the
# first child's first 2 s; TASKSET=CPUS runs the member under taskset -c
# CPUS; NOTHP=1 under prctl(PR_SET_THP_DISABLE), so without the huge pages
# its MADV_HUGEPAGE advice asks for.
set -uo pipefail
build=${1:-build}
keys=${KEYS:-2000000}
reps=${REPS:-3}
window=${WINDOW:-8}
root=$(cd "$(dirname "$0")/.." && pwd)
raftkv=$(cd "$build" && pwd)/raftkv
command -v redis-benchmark >/dev/null || bash "$root/scripts/deps.sh" bench >/dev/null
source "$(dirname "$0")/lib.sh" # bench_work, port_free, free_port
bench_work cow
pp=$(free_port); cp=$(free_port)
echo "raftkv cow-bench: $keys keys, $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uptime | sed 's/.*load/load/')"
echo "THP enabled: $(cat /sys/kernel/mm/transparent_hugepage/enabled), defrag: $(cat /sys/kernel/mm/transparent_hugepage/defrag); opts: ${RAFTKV_OPTS:-none}"
# shellcheck disable=SC2086
nothp=()
[ "${NOTHP:-0}" = 1 ] && nothp=(python3 -c 'import ctypes, os, sys
if ctypes.CDLL(None).prctl(41, 1, 0, 0, 0) != 0: sys.exit("PR_SET_THP_DISABLE failed")
os.execv(sys.argv[1], sys.argv[1:])')
${TASKSET:+taskset -c "$TASKSET"} "${nothp[@]}" "$raftkv" serve --id n1 --peers "n1=127.0.0.1:$pp" --listen "127.0.0.1:$cp" --data-dir "$work/n1" \
  --snapshot-entries 1000000000 --snapshot-log-percent 0 --request-timeout-ms 60000 --log-level info ${RAFTKV_OPTS:-} >>"$work/n1.log" 2>&1 &
member=$!
pids+=($member)
for _ in $(seq 1 200); do
  [ "$(redis-cli -p "$cp" SET probe 1 2>/dev/null)" = OK ] && break
  sleep 0.05
done
t0=$(date +%s)
redis-benchmark -p "$cp" -t mset -r "$keys" -n $((keys / 5)) -d 100 -P 16 -c 50 -q >"$work/load.txt" 2>&1
echo "loaded in $(($(date +%s) - t0)) s: $(redis-cli -p "$cp" DBSIZE) keys, RSS $(awk '/^VmRSS/ {print $2}' /proc/$member/status) kB"
# redis-benchmark stops at its first error reply: started again if it does
(while [ -d "$work" ]; do redis-benchmark -p "$cp" -t mset -r "$keys" -n 1000000000 -d 100 -P 16 -c 50 -q >/dev/null 2>&1; sleep 0.1; done) &
pids+=($!)
sleep 2
python3 - "$member" "$cp" "$reps" "$window" ${PERF:+"$PERF"} <<'EOF'
import socket, subprocess, sys, time, threading
pid, port, reps, window = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
perf = sys.argv[5] if len(sys.argv) > 5 else ""
HZ = 100

def cmd(sock, *args):
    out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() for x in args))
    sock.sendall(out)
    f = sock.makefile("rb")
    return read(f)

def read(f):
    line = f.readline().rstrip(b"\r\n")
    t, rest = line[:1], line[1:]
    if t in (b"+", b"-", b":"):
        return rest.decode()
    if t == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode(errors="replace")
    if t == b"*":
        return [read(f) for _ in range(int(rest))]
    raise ValueError(line)

info = socket.create_connection(("127.0.0.1", port))
def applied():
    for l in cmd(info, "INFO", "raft").splitlines():
        if l.startswith("applied_index:"):
            return int(l.split(":")[1])
def stat(path):
    f = open(path).read().rsplit(")", 1)[1].split()
    return int(f[7]), int(f[11]) + int(f[12])  # minflt, utime+stime (ticks)
VM = ("thp_fault_alloc", "thp_fault_fallback", "thp_split_pmd", "thp_collapse_alloc",
      "thp_deferred_split_page", "compact_stall", "compact_fail", "compact_success")
def vmstat():
    d = dict(l.split() for l in open("/proc/vmstat"))
    return {k: int(d.get(k, 0)) for k in VM}
def children():
    return open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
def anon_huge():
    for l in open("/proc/%d/smaps_rollup" % pid):
        if l.startswith("AnonHugePages"):
            return int(l.split()[1])
    return 0
def sample():
    a = applied()
    fl, cpu = stat("/proc/%d/stat" % pid)
    _, loop = stat("/proc/%d/task/%d/stat" % (pid, pid))
    return dict(t=time.monotonic(), applied=a, flt=fl, cpu=cpu, loop=loop, vm=vmstat())
def report(name, s0, s1):
    n = s1["applied"] - s0["applied"]
    if n <= 0:
        print("%-14s no entry applied in %.1f s" % (name, s1["t"] - s0["t"]))
        return
    us = 1e6 / HZ
    vm = " ".join("%s=%d" % (k, s1["vm"][k] - s0["vm"][k]) for k in VM if s1["vm"][k] != s0["vm"][k])
    print("%-14s %5.1f s %7d entries %6.0f/s  faults/entry %6.1f  cpu us/entry %6.0f  loop us/entry %6.0f  %s"
          % (name, s1["t"] - s0["t"], n, n / (s1["t"] - s0["t"]), (s1["flt"] - s0["flt"]) / n,
             (s1["cpu"] - s0["cpu"]) * us / n, (s1["loop"] - s0["loop"]) * us / n, vm), flush=True)

tot = {"none": [0, 0, 0, 0], "child": [0, 0, 0, 0], "child-first2s": [0, 0, 0, 0]}
def add(name, s0, s1):
    t = tot[name]
    t[0] += s1["applied"] - s0["applied"]; t[1] += s1["flt"] - s0["flt"]
    t[2] += s1["cpu"] - s0["cpu"]; t[3] += s1["loop"] - s0["loop"]
print("AnonHugePages of the member: %d kB" % anon_huge())
for rep in range(reps):
    s0 = sample(); time.sleep(window); s1 = sample()
    report("no child", s0, s1); add("none", s0, s1)
    bk = socket.create_connection(("127.0.0.1", port))
    res = {}
    th = threading.Thread(target=lambda: res.setdefault("r", cmd(bk, "RAFTKV.BACKUP", "START")))
    th.start()
    while not children():
        time.sleep(0.005)
    c0 = sample()
    if perf and rep == 0:
        subprocess.run(["perf", "record", "-g", "-o", perf, "-p", str(pid), "--", "sleep", "2"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        time.sleep(2)
    c2 = sample()
    while children():
        time.sleep(0.02)
    c1 = sample()
    th.join()
    report("child first 2s", c0, c2); add("child-first2s", c0, c2)
    report("child all", c0, c1); add("child", c0, c1)
    r = res.get("r")
    if isinstance(r, list) and len(r) > 1:
        cmd(bk, "RAFTKV.BACKUP", "END", str(r[1]))
    else:
        print("backup answered", r)
    bk.close()
    print("AnonHugePages of the member: %d kB" % anon_huge())
for k, (n, fl, cpu, loop) in tot.items():
    if n:
        print("total %-14s %8d entries  faults/entry %6.1f  cpu us/entry %6.0f  loop us/entry %6.0f"
              % (k, n, fl / n, cpu * 1e6 / HZ / n, loop * 1e6 / HZ / n))
EOF

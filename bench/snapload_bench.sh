#!/usr/bin/env bash
# snapload_bench.sh - issue 12 item 2 side by side: raftkv loading its
# snapshot against Redis loading its RDB file, the same keys, the same
# machine, runs alternating.
#   bench/snapload_bench.sh BUILD     KEYS=N (2000000) keys, RUNS=R (3) runs each
# The keys are key:000000000000 ... (16 bytes) with 100-byte values
# (printable, pseudo-random from a fixed seed, so Redis's LZF finds nothing
# to compress), sent as MSETs of 100 keys (8 in flight) into a
# durable one-member raftkv and into redis-server. raftkv's image comes out
# through `raftkv backup` and becomes a data directory with `raftkv restore`
# (the snapshot and an empty log, so a start loads the snapshot and nothing
# else); Redis's through SAVE (dump.rdb). Then, R times each, alternately:
# start the server, connect every 5 ms with PING until +PONG (Redis answers
# -LOADING meanwhile; raftkv listens once the map is loaded), and read the
# process's CPU time and RSS at that moment; each server's own figure as
# well (raftkv's event=snapshot_loaded line, Redis's "DB loaded from disk").
# The page cache is not dropped (both files stay warm; DROP_CACHES=1 drops
# it before every start, as root: it slows every other process's reads).
# Not a test: nothing fails on speed. KEEP=1 keeps the work directory;
# DATA=DIR (such a kept directory) times its files again with this BUILD,
# skipping the load (a build before and after a change, on the same files).
set -uo pipefail
build=${1:-build}
keys=${KEYS:-2000000}
runs=${RUNS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
raftkv=$(cd "$build" && pwd)/raftkv
if [ -n "${DATA:-}" ]; then work=$(cd "$DATA" && pwd); KEEP=1; else work=$(mktemp -d /tmp/raftkv-snapload.XXXXXX); fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh" # port_free, free_port, now_ms, wait_pong, leader_name

echo "raftkv snapload bench: $keys keys, $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uptime | sed 's/.*load/load/')"
cp=$(free_port); rp=$(free_port)
[ -n "${DATA:-}" ] || free_port >"$work/peer_port"
pp=$(cat "$work/peer_port")
peers="n1=127.0.0.1:$pp"
redis_cmd=(redis-server --port "$rp" --bind 127.0.0.1 --dir "$work/redis" --appendonly no --save '' --daemonize no)
if [ -z "${DATA:-}" ]; then
"$raftkv" certs --dir "$work/certs" --members n1 >/dev/null

# --- the keys: the same MSETs into either server, 8 in flight ----------------------------
put_keys() { # put_keys PORT
  python3 - "$1" "$keys" <<'PY'
import collections, random, socket, string, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
alnum = (string.ascii_letters + string.digits).encode()
table = bytes(alnum[i % 62] for i in range(256))
rnd = random.Random(1)
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
pending, errors = collections.deque(), 0
def answer():
    global errors
    line = f.readline()
    cmd = pending.popleft()
    if not line.startswith(b"+OK"):  # -UNCERTAIN, -TRYAGAIN: MSET again
        errors += 1
        if errors > 1000:
            sys.exit(f"too many errors: {line!r}")
        s.sendall(cmd)
        pending.append(cmd)
for start in range(0, n, 100):
    m = min(100, n - start)
    parts = [b"*%d\r\n$4\r\nMSET\r\n" % (1 + 2 * m)]
    for i in range(start, start + m):
        parts.append(b"$16\r\nkey:%012d\r\n$100\r\n%s\r\n" % (i, rnd.randbytes(100).translate(table)))
    cmd = b"".join(parts)
    s.sendall(cmd)
    pending.append(cmd)
    while len(pending) >= 8:
        answer()
while pending:
    answer()
print(f"{n} keys in {(n + 99) // 100} MSETs, {errors} error answers retried")
PY
}

# --- raftkv: one durable member, loaded, backed up, restored -----------------------------
mkdir -p "$work/load"
"$raftkv" serve --id n1 --peers "$peers" --listen "127.0.0.1:$cp" --data-dir "$work/load" \
  --certs-dir "$work/certs" >"$work/load.log" 2>&1 &
lpid=$!; pids+=($lpid)
wait_pong "$cp"
for _ in $(seq 1 100); do [ "$(redis-cli -p "$cp" LEADER 2>/dev/null | tr -d '\r')" = n1 ] && break; sleep 0.1; done
t0=$(date +%s%3N)
put_keys "$cp" | sed 's/^/  raftkv load: /'
echo "  raftkv load: $(( $(date +%s%3N) - t0 )) ms, DBSIZE $(redis-cli -p "$cp" DBSIZE | tr -d '\r')"
"$raftkv" backup --timeout-ms 1800000 --from "127.0.0.1:$cp" "$work/image.snap" >"$work/backup.out" 2>&1 ||
  { echo "raftkv backup failed: $(cat "$work/backup.out")"; exit 1; }
kill "$lpid"; wait "$lpid" 2>/dev/null
"$raftkv" restore "$work/image.snap" --data-dir "$work/n1" --id n1 --peers "$peers" \
  --cluster-token snapload >"$work/restore.out" 2>&1 || { echo "raftkv restore failed: $(cat "$work/restore.out")"; exit 1; }
rm -rf "$work/load"
snap=$(ls "$work"/n1/snap-*.snap)
echo "  raftkv snapshot: $(( $(stat -c %s "$snap") / 1048576 )) MB ($(basename "$snap"))"

# --- Redis: the same keys, SAVE ----------------------------------------------------------
mkdir -p "$work/redis"
"${redis_cmd[@]}" >"$work/redis-load.log" 2>&1 &
rpid=$!; pids+=($rpid)
wait_pong "$rp"
put_keys "$rp" | sed 's/^/  redis load: /'
redis-cli -p "$rp" SAVE >/dev/null
echo "  redis: DBSIZE $(redis-cli -p "$rp" DBSIZE | tr -d '\r'), dump.rdb $(( $(stat -c %s "$work/redis/dump.rdb") / 1048576 )) MB"
redis-cli -p "$rp" SHUTDOWN NOSAVE >/dev/null 2>&1; wait "$rpid" 2>/dev/null
fi

# --- side by side ------------------------------------------------------------------------
raftkv_cmd=("$raftkv" serve --id n1 --peers "$peers" --listen "127.0.0.1:$cp" --data-dir "$work/n1"
  --certs-dir "$work/certs" ${RAFTKV_OPTS:-})
echo "\$ $(printf "%q " "${raftkv_cmd[@]}")"
echo "\$ $(printf "%q " "${redis_cmd[@]}")"
echo "(start to the first +PONG; CPU and RSS of the process then; page cache $([ "${DROP_CACHES:-0}" = 1 ] && echo dropped || echo warm))"
# timed NAME PORT LOG CMD...: one start, one result line on stdout
timed() {
  python3 - "$@" <<'PY'
import os, signal, socket, subprocess, sys, time
name, port, log, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
tck = os.sysconf("SC_CLK_TCK")
with open(log, "ab") as out:
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    while True:
        if p.poll() is not None:
            sys.exit(f"{name} exited with {p.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        time.sleep(0.005)
    t1 = time.monotonic()
    st = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
    cpu = (int(st[11]) + int(st[12])) / tck
    rss = next(int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS"))
    p.send_signal(signal.SIGTERM)
    p.wait()
print(f"{name} {t1 - t0:.3f} {cpu:.2f} {rss}")
PY
}
res=$work/results
: >"$res"
for r in $(seq 1 "$runs"); do
  for who in raftkv redis; do
    [ "${DROP_CACHES:-0}" = 1 ] && { sync; echo 3 >/proc/sys/vm/drop_caches; }
    if [ $who = raftkv ]; then
      timed raftkv "$cp" "$work/n1.log" "${raftkv_cmd[@]}" >>"$res" || exit 1
      own=$(grep -o 'event=snapshot_loaded.*' "$work/n1.log" | tail -n 1)
    else
      timed redis "$rp" "$work/redis.log" "${redis_cmd[@]}" >>"$res" || exit 1
      own=$(grep -oE 'DB loaded from disk: [0-9.]+ seconds' "$work/redis.log" | tail -n 1)
    fi
    read -r _ wall cpu rss <<<"$(tail -n 1 "$res")"
    printf '  run %d %-6s %6.2f s to +PONG, CPU %5.2f s, RSS %4d MB (%d B/key); %s\n' "$r" "$who" "$wall" "$cpu" \
      $((rss / 1024)) $((rss * 1024 / keys)) "$own"
  done
done
awk '{ n[$1]++; w[$1] += $2; c[$1] += $3; if (!($1 in lo) || $2 < lo[$1]) lo[$1] = $2; if ($2 > hi[$1]) hi[$1] = $2 }
  END { for (k in n) printf "  %-6s to +PONG %.2f-%.2f s (mean %.2f), CPU mean %.2f s\n", k, lo[k], hi[k], w[k] / n[k], c[k] / n[k] }' "$res" | sort
echo "  $(uptime | sed 's/.*load/load/')"

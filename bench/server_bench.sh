#!/usr/bin/env bash
# server_bench.sh - issue 6's performance figures: redis-benchmark against a
# durable 3-node raftkv cluster on loopback and, side by side in the same
# run, a single redis-server with appendfsync always (and etcd, see below).
#   bench/server_bench.sh BUILD [N]      N requests per run (default 200000)
# Prints each exact command, throughput and p50/p99 latency, and the ratios
# (SET and GET; INCR and MSET of 10 keys, issue 14).
# etcd (Debian ships no etcd benchmark tool) is driven by bench/etcd_load.c
# over its v3 JSON gateway: 50 clients, puts and linearizable ranges.
# raftkv is measured against its leader (followers proxy to it, adding a hop),
# peers over TLS as by default.
# Then TLS (issue 11): SET and GET at -c 50 (and -P 16) on the leader's plain
# port and on its TLS port (--tls-port, redis-benchmark --tls with a client
# certificate), and, when this raftkv has peer TLS (--certs-dir), on a second
# cluster with TLS on both ports; TLS_ROUNDS (3) interleaved rounds, medians
# and ratios. SERVER_BENCH_ONLY=tls runs only that part.
set -euo pipefail
build=${1:-build}
n=${2:-200000}
root=$(cd "$(dirname "$0")/.." && pwd)
raftkv=$(cd "$build" && pwd)/raftkv
bash "$root/scripts/deps.sh" bench
work=$(mktemp -d /tmp/raftkv-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

source "$(dirname "$0")/lib.sh" # port_free, free_port, now_ms, wait_pong, leader_name

# One redis-benchmark run; prints "rps p50 p99" (ms) and the command.
declare -A RPS P50 P99
bench() { # bench LABEL PORT ARGS...
  local label=$1 port=$2
  shift 2
  local cmd=(redis-benchmark -p "$port" -r 100000 --csv "$@")
  echo "  \$ ${cmd[*]}" >&2
  local out
  if ! out=$("${cmd[@]}" 2>"$work/bench.err" | tr -d '"'); then
    echo "    FAILED: $(tail -n 3 "$work/bench.err" | tr '\n' ' ')" >&2
    { cat "$work"/*.log 2>/dev/null | grep -E 'level=(warn|error)' | tail -n 5 | sed 's/^/    /' >&2; } || true
  fi
  while IFS=, read -r test rps avg min p50 p95 p99 max; do
    case "$test" in SET|GET|INCR) ;; "MSET (10 keys)") test=MSET ;; *) continue ;; esac
    RPS[$label/$test]=${rps%.*}; P50[$label/$test]=$p50; P99[$label/$test]=$p99
    printf '    %-22s %-4s %9s req/s  p50 %7s ms  p99 %7s ms\n' "$label" "$test" "${rps%.*}" "$p50" "$p99" >&2
  done <<<"$out"
}

only=${SERVER_BENCH_ONLY:-}
certs=$work/certs
"$raftkv" certs --dir "$certs" --members n1,n2,n3,m1,m2,m3 --clients bench >/dev/null
tls_client=(--tls --cacert "$certs/ca.crt" --cert "$certs/bench.crt" --key "$certs/bench.key")
# Peer TLS came with --certs-dir; a raftkv without it talks plain to peers.
peer_tls_opts=() peer_plain_opts=()
if "$raftkv" serve --help 2>&1 | grep -q -- '--certs-dir'; then peer_tls_opts=(--certs-dir "$certs"); fi
if "$raftkv" serve --help 2>&1 | grep -q -- '--peer-insecure-plaintext'; then peer_plain_opts=(--peer-insecure-plaintext); fi
# A new cluster's members vouch for their empty directories (a late one is otherwise refused).
first_opts=(); if "$raftkv" serve --help 2>&1 | grep -q -- '--first-start'; then first_opts=(--first-start); fi

# start_cluster PREFIX EXTRA...: 3 durable members n1-n3 (or m1-m3), each
# with a TLS client port; sets LPORT (leader's plain port), LTLS (its TLS
# port) and FPORT (a follower's plain port).
start_cluster() {
  local prefix=$1 i peers= leader=
  shift
  declare -gA CP TP PP
  for i in 1 2 3; do PP[$prefix$i]=$(free_port); CP[$prefix$i]=$(free_port); TP[$prefix$i]=$(free_port); peers+="${peers:+,}$prefix$i=127.0.0.1:${PP[$prefix$i]}"; done
  for i in 1 2 3; do
    "$raftkv" serve --id $prefix$i --peers "$peers" --listen 127.0.0.1:${CP[$prefix$i]} --data-dir "$work/$prefix$i" "${first_opts[@]}" \
      --tls-port "${TP[$prefix$i]}" --tls-cert-file "$certs/$prefix$i.crt" --tls-key-file "$certs/$prefix$i.key" \
      --tls-ca-cert-file "$certs/ca.crt" --log-level warn "$@" 2>"$work/$prefix$i.log" &
    pids+=($!)
  done
  leader=$(LEADER_WAIT_S=10 leader_name "${CP[${prefix}1]}") || { echo "raftkv: no leader"; cat "$work/${prefix}1.log"; exit 1; }
  LPORT=${CP[$leader]} LTLS=${TP[$leader]}
  FPORT=${CP[$prefix$(( ${leader#$prefix} % 3 + 1 ))]}
  echo "  leader $leader: port $LPORT, TLS port $LTLS; data in $work" >&2
}

suite() { # suite NAME PORT
  bench "$1 c50" "$2" -t set,get -c 50 -n "$n"
  bench "$1 c50 P16" "$2" -t set,get -c 50 -n "$n" -P 16
  bench "$1 c1" "$2" -t set,get -c 1 -n $((n / 10))
  # issue 14: INCR and MSET of 10 keys (one log entry each), side by side
  bench "$1 c50" "$2" -t incr,mset -c 50 -n $((n / 2))
  bench "$1 c50 P16" "$2" -t incr,mset -c 50 -n $((n / 2)) -P 16
}

tls_part() {
  echo "== TLS: uptime $(uptime | sed 's/.*load/load/'); $(nproc) cores"
  echo "== TLS: cluster n, peers plain${peer_plain_opts:+ (${peer_plain_opts[*]})}: its plain port and its TLS port"
  start_cluster n "${peer_plain_opts[@]}"
  local a_plain=$LPORT a_tls=$LTLS b_tls= r mode
  if [ ${#peer_tls_opts[@]} -gt 0 ]; then
    echo "== TLS: cluster m, TLS on both ports (${peer_tls_opts[*]})"
    start_cluster m "${peer_tls_opts[@]}"
    b_tls=$LTLS
  else
    echo "  (this raftkv has no peer TLS: no 'TLS on both ports' cluster)"
  fi
  # Redis's own TLS cost on this machine, for scale (appendfsync always, as above).
  local rp rt
  rp=$(free_port) rt=$(free_port)
  mkdir -p "$work/redis-tls"
  redis-server --port "$rp" --tls-port "$rt" --tls-cert-file "$certs/n1.crt" --tls-key-file "$certs/n1.key" \
    --tls-ca-cert-file "$certs/ca.crt" --bind 127.0.0.1 --dir "$work/redis-tls" --appendonly yes \
    --appendfsync always --save '' --daemonize no >"$work/redis-tls.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do redis-cli -p "$rp" PING >/dev/null 2>&1 && break; sleep 0.1; done
  for r in $(seq 1 "${TLS_ROUNDS:-3}"); do
    for mode in c50 "c50 P16"; do
      local extra=(-c 50); [ "$mode" = "c50 P16" ] && extra+=(-P 16)
      bench "r$r plain $mode" "$a_plain" -t set,get -n "$n" "${extra[@]}"
      bench "r$r tls-client $mode" "$a_tls" -t set,get -n "$n" "${extra[@]}" "${tls_client[@]}"
      if [ -n "$b_tls" ]; then bench "r$r tls-both $mode" "$b_tls" -t set,get -n "$n" "${extra[@]}" "${tls_client[@]}"; fi
      bench "r$r redis $mode" "$rp" -t set,get -n "$n" "${extra[@]}"
      bench "r$r redis-tls $mode" "$rt" -t set,get -n "$n" "${extra[@]}" "${tls_client[@]}"
    done
  done
  echo "== TLS ratios (medians of ${TLS_ROUNDS:-3} interleaved rounds; issue 11 wants TLS on both ports >= 0.70 x plain at -c 50)"
  median() { tr ' ' '\n' | awk 'NF' | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
  local t kind vals
  for t in SET GET; do
    for mode in c50 "c50 P16"; do
      declare -A MED=()
      for kind in plain tls-client tls-both redis redis-tls; do
        vals=
        for r in $(seq 1 "${TLS_ROUNDS:-3}"); do vals+=" ${RPS["r$r $kind $mode/$t"]:-}"; done
        MED[$kind]=$(median <<<"$vals")
      done
      # The median of each round's own ratio: the pairs ran back to back, so
      # load from elsewhere moves both sides of a pair alike.
      for kind in tls-client tls-both redis-tls; do
        local base=plain; [ $kind = redis-tls ] && base=redis
        vals=
        for r in $(seq 1 "${TLS_ROUNDS:-3}"); do
          vals+=" $(ratio "${RPS["r$r $kind $mode/$t"]:-0}" "${RPS["r$r $base $mode/$t"]:-0}" | sed 's/n\/a//')"
        done
        MED[$kind/pairs]=$(median <<<"$vals")
      done
      printf '  %-3s %-8s raftkv plain %7s  tls-client %7s (%s, pairs %s)  tls-both %7s (%s, pairs %s)   redis %7s  redis-tls %7s (%s, pairs %s)\n' \
        "$t" "$mode" "${MED[plain]}" "${MED[tls-client]}" "$(ratio "${MED[tls-client]}" "${MED[plain]}")" \
        "${MED[tls-client/pairs]}" "${MED[tls-both]}" "$(ratio "${MED[tls-both]}" "${MED[plain]}")" \
        "${MED[tls-both/pairs]}" "${MED[redis]}" "${MED[redis-tls]}" "$(ratio "${MED[redis-tls]}" "${MED[redis]}")" \
        "${MED[redis-tls/pairs]}"
    done
  done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
if [ "$only" = tls ]; then tls_part; exit 0; fi

echo "== raftkv: 3 nodes on loopback, durable (every write fsynced on a majority before its reply), peers over TLS"
start_cluster n "${peer_tls_opts[@]}"
lport=$LPORT
suite raftkv "$lport"
bench "raftkv via follower" "$FPORT" -t set,get -c 50 -n "$n"
redis-cli -p "$lport" INFO | tr -d '\r' | grep -E '^(fsync_batches|fsync_avg_us|fsync_p99_us_le|log_entries_written):' | sed 's/^/    leader /' >&2
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

echo "== redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), appendonly yes, appendfsync always"
rport=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes --appendfsync always \
  --save '' --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$rport" PING >/dev/null 2>&1 && break; sleep 0.1; done
suite redis "$rport"

echo "== etcd $(etcd --version | sed -n 's/^etcd Version: //p'), 3 members on loopback (v3 JSON gateway, bench/etcd_load)"
ETCD_W=${ETCD_WRITES:-2800}
ETCD_R=${ETCD_READS:-5300}
etcd_src="the issue's anchors"
if command -v etcd >/dev/null && [ -x "$build/bench/etcd_load" ]; then
  cluster= eps=
  for i in 1 2 3; do EC[$i]=$(free_port); EP[$i]=$(free_port); cluster+="${cluster:+,}e$i=http://127.0.0.1:${EP[$i]}"; eps+="${eps:+,}127.0.0.1:${EC[$i]}"; done
  for i in 1 2 3; do
    etcd --name e$i --data-dir "$work/etcd$i" --listen-client-urls http://127.0.0.1:${EC[$i]} \
      --advertise-client-urls http://127.0.0.1:${EC[$i]} --listen-peer-urls http://127.0.0.1:${EP[$i]} \
      --initial-advertise-peer-urls http://127.0.0.1:${EP[$i]} --initial-cluster "$cluster" \
      --initial-cluster-state new --initial-cluster-token raftkv-bench >"$work/etcd$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1 100); do
    curl -s -m 1 -X POST "http://127.0.0.1:${EC[1]}/v3/kv/put" -d '{"key":"d2FybQ==","value":"eA=="}' 2>/dev/null | grep -q revision && break
    sleep 0.2
  done
  for op in put range; do
    reqs=$((n / 5)); [ $op = put ] && reqs=$((n / 10))
    cmd=("$build/bench/etcd_load" --endpoints "$eps" --op $op --clients 50 --requests $reqs)
    echo "  \$ ${cmd[*]}" >&2
    line=$("${cmd[@]}" || true)
    echo "    $line" >&2
    rps=$(sed -n 's/.* rps=\([0-9]*\).*/\1/p' <<<"$line")
    if [ -n "$rps" ] && [ "$rps" -gt 0 ]; then
      if [ $op = put ]; then ETCD_W=$rps; else ETCD_R=$rps; fi
      etcd_src="measured in this run"
    fi
  done
else
  echo "  etcd or build/bench/etcd_load missing: using the issue's anchors (2,800 writes/s, 5,300 reads/s)"
fi

echo
echo "== ratios (raftkv / other; issue 6 wants >= 5 x etcd and >= 0.5 x redis)"
for t in SET GET; do
  for mode in "c50" "c50 P16" "c1"; do
    r=${RPS["raftkv $mode/$t"]:-0}; d=${RPS["redis $mode/$t"]:-0}
    printf '  %-3s %-8s raftkv %9s  redis %9s  raftkv/redis %5s\n' "$t" "$mode" "$r" "$d" "$(ratio "$r" "$d")"
  done
done
for t in INCR MSET; do
  for mode in "c50" "c50 P16"; do
    r=${RPS["raftkv $mode/$t"]:-0}; d=${RPS["redis $mode/$t"]:-0}
    printf '  %-4s %-8s raftkv %9s  redis %9s  raftkv/redis %5s\n' "$t" "$mode" "$r" "$d" "$(ratio "$r" "$d")"
  done
done
printf '  SET c50      raftkv/etcd-writes %s (etcd %s/s, %s)\n' "$(ratio "${RPS["raftkv c50/SET"]:-0}" "$ETCD_W")" "$ETCD_W" "$etcd_src"
printf '  GET c50      raftkv/etcd-reads  %s (etcd %s/s, %s)\n' "$(ratio "${RPS["raftkv c50/GET"]:-0}" "$ETCD_R")" "$ETCD_R" "$etcd_src"
# The issue's anchors, measured once on this machine kind; the side-by-side
# servers above vary from run to run more than raftkv does.
echo "== against issue 6's anchors (Redis appendfsync always: 39,000 SET/s -c 50, 370,000 -P 16; etcd: 2,800 writes/s, 5,300-7,900 reads/s)"
printf '  SET c50      raftkv/redis-anchor %s   raftkv/etcd-anchor %s\n' "$(ratio "${RPS["raftkv c50/SET"]:-0}" 39000)" "$(ratio "${RPS["raftkv c50/SET"]:-0}" 2800)"
printf '  SET c50 P16  raftkv/redis-anchor %s\n' "$(ratio "${RPS["raftkv c50 P16/SET"]:-0}" 370000)"
printf '  GET c50      raftkv/etcd-anchor  %s (against the upper 7,900)\n' "$(ratio "${RPS["raftkv c50/GET"]:-0}" 7900)"

echo
tls_part

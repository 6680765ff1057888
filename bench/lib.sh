# lib.sh - helpers the bench scripts share (sourced, not run): free loopback
# ports, a millisecond clock, and waits for a member to answer or to name
# its leader. Each script keeps what is its own (how it starts members).

# Whether nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free port in 10000-30000 (below the kernel's ephemeral range); exits
# the script when none is found.
free_port() {
  local p
  for _ in $(seq 1 200); do p=$((10000 + RANDOM % 20000)); port_free $p && { echo $p; return; }; done
  echo "no free port" >&2; exit 1
}

now_ms() { date +%s%3N; }

# wait_pong PORT: until the client port answers PING with PONG (60 s);
# exits the script when it does not.
wait_pong() {
  for _ in $(seq 1 600); do [ "$(redis-cli -p "$1" PING 2>/dev/null | tr -d '\r')" = PONG ] && return 0; sleep 0.1; done
  echo "port $1 did not answer PING" >&2; exit 1
}

# leader_name PORT...: the leader's name as the first of these client
# ports to know one says it, asked every 0.1 s for LEADER_WAIT_S (30)
# seconds; nothing printed and status 1 when none answers.
leader_name() {
  local x p
  for _ in $(seq 1 $((${LEADER_WAIT_S:-30} * 10))); do
    for p in "$@"; do
      x=$(redis-cli -p "$p" LEADER 2>/dev/null | tr -d '\r')
      [ -n "$x" ] && { echo "$x"; return 0; }
    done
    sleep 0.1
  done
  return 1
}

# bench_work NAME: a fresh $work directory (/tmp/raftkv-NAME.XXXXXX) and a
# $pids list; at exit every pid is killed, the last started first, and
# $work is removed (KEEP=1 keeps it and says where).
bench_work() {
  work=$(mktemp -d "/tmp/raftkv-$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -9 "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}

# lib_server.sh - shared helpers for the TCP server's end-to-end tests: free
# loopback ports, a 3-node cluster as children of the test (so `wait` gives
# their exit codes), waiting for a leader, cutting links, and checks that
# print what they checked. Sourced, not run; not a test (the runner runs test_*.sh only).

: "${build:?set build before sourcing lib_server.sh}"
RAFTKV=$(cd "$build" && pwd)/raftkv
LINKV=$(cd "$build" && pwd)/tests/nodes/resp_linkv # Jepsen's lin-kv over RESP
WHIRL=$(cd "$build" && pwd)/whirl                  # its checker
[ -x "$RAFTKV" ] || { echo "missing $RAFTKV (run make)"; exit 1; }
command -v redis-cli >/dev/null || bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/deps.sh" test
command -v redis-cli >/dev/null || { echo "redis-cli missing (bash scripts/deps.sh test)"; exit 1; }

WORK=$(mktemp -d /tmp/raftkv-e2e.XXXXXX)
NODES=3
declare -a PID CPORT PPORT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Six free ports in 10000-30000, below the kernel's ephemeral range, so no
# outgoing connection takes the port a killed node must bind again. (A port
# could still be taken between the probe and the bind; the test then fails
# with the node's log saying so.)
pick_ports() {
  local base i p
  for _ in $(seq 1 50); do
    base=$((10000 + RANDOM % 20000))
    local ok=1
    for i in $(seq 0 $((2 * NODES - 1))); do port_free $((base + i)) || { ok=0; break; }; done
    [ $ok = 1 ] && break
  done
  for i in $(seq 1 $NODES); do
    CPORT[$i]=$((base + i - 1))
    PPORT[$i]=$((base + NODES + i - 1))
  done
  PEERS=
  for i in $(seq 1 $NODES); do PEERS+="${PEERS:+,}n$i=127.0.0.1:${PPORT[$i]}"; done
  make_certs
}

# Peer TLS is on by default: one CA and a certificate per member in
# $WORK/certs (start_node passes --certs-dir, or $PEER_OPTS when set; more
# names can be added later).
make_certs() { # make_certs [NAME...] (default n1..n$NODES)
  local names=("$@") list
  [ ${#names[@]} -gt 0 ] || names=($(seq -f 'n%g' 1 $NODES))
  list=$(IFS=,; echo "${names[*]}")
  "$RAFTKV" certs --dir "$WORK/certs" --members "$list" >/dev/null || fail "raftkv certs failed"
}

free_port() {
  local p
  for _ in $(seq 1 100); do p=$((10000 + RANDOM % 20000)); port_free $p && { echo $p; return; }; done
  fail "no free port"
}

# A data directory's first start gets --first-start (a member started a
# little after the others elected a leader is still a bootstrap member),
# unless NO_FIRST_START=1 (a member whose directory was wiped).
start_node() { # start_node I [extra options]
  local i=$1 first=--first-start
  shift
  [ ! -e "$WORK/n$i" ] && [ "${NO_FIRST_START:-0}" != 1 ] || first=
  mkdir -p "$WORK/n$i"
  "$RAFTKV" serve --id "n$i" --peers "$PEERS" --listen "127.0.0.1:${CPORT[$i]}" $first \
    --data-dir "$WORK/n$i" --election-timeout-ms 300 --heartbeat-ms 50 ${PEER_OPTS:---certs-dir $WORK/certs} \
    ${E2E_SERVE_OPTS:-} "$@" \
    >>"$WORK/n$i.log" 2>&1 &
  PID[$i]=$!
}

kill_node() { # kill_node I SIGNAL ; waits for it and sets LAST_EXIT
  kill "-$2" "${PID[$1]}" 2>/dev/null || true
  LAST_EXIT=0
  wait "${PID[$1]}" 2>/dev/null || LAST_EXIT=$?
}

cleanup() {
  for i in $(seq 1 $NODES); do
    [ -n "${PID[$i]:-}" ] && kill -9 "${PID[$i]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ] || [ "${FAILED:-0}" = 1 ] || [ -e "$WORK/failed" ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# fail WHY: stderr, so that a failure inside $(...) is seen too; the marker
# file keeps the logs when it runs in a subshell.
fail() {
  FAILED=1
  : >"$WORK/failed"
  {
    echo "FAIL: $*"
    for i in $(seq 1 $NODES); do echo "--- n$i.log (tail)"; tail -n 15 "$WORK/n$i.log" 2>/dev/null; done
  } >&2
  exit 1
}

cli() { local i=$1; shift; redis-cli -p "${CPORT[$i]}" "$@" 2>&1 || true; }

# Every node's client address, as resp_linkv's --nodes wants them.
client_addrs() {
  local i out=
  for i in $(seq 1 $NODES); do out+="${out:+,}n$i=127.0.0.1:${CPORT[$i]}"; done
  echo "$out"
}

cut_both() { # cut_both A B MS: drop frames between nA and nB, both ways (needs --enable-debug-commands)
  cli "$1" DEBUG.CUT "n$2" "$3" >/dev/null
  cli "$2" DEBUG.CUT "n$1" "$3" >/dev/null
}

expect() { # expect WHAT ACTUAL WANT
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
  echo "ok  $1"
}

# The leader's index, once every node in "$@" (default all) agrees on it
# (and it is not $NOT_LEADER, when set: a node just killed).
wait_leader() {
  local nodes=("$@") l i deadline=$((SECONDS + 15))
  [ ${#nodes[@]} -gt 0 ] || nodes=($(seq 1 $NODES))
  local said
  while [ $SECONDS -lt $deadline ]; do
    l= said=
    for i in "${nodes[@]}"; do
      local x
      x=$(cli "$i" LEADER)
      said+=" n$i:'$x'"
      # cli keeps stderr: redis-cli's "Could not connect ..." (a member not
      # yet listening) or "Error: ..." is no answer; an error reply such as
      # -NOAUTH is (the member is up).
      case "$x" in "Could not connect"* | "Error:"*) x= ;; esac
      if [ -z "$x" ] || { [ -n "$l" ] && [ "$x" != "$l" ]; }; then l=; break; fi
      l=$x
    done
    if [ -n "$l" ] && [ "${l#n}" != "${NOT_LEADER:-}" ]; then echo "${l#n}"; return 0; fi
    sleep 0.1
  done
  fail "no leader agreed by nodes ${nodes[*]} within 15 s (last answers:$said)"
}

# Wait until node I has applied at least index N.
wait_applied() {
  local deadline=$((SECONDS + 15)) a
  while [ $SECONDS -lt $deadline ]; do
    a=$(cli "$1" INFO | tr -d '\r' | awk -F: '/^applied_index:/{print $2}')
    [ -n "$a" ] && [ "$a" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "n$1 did not apply index $2 within 15 s (applied ${a:-?})"
}

info_field() { cli "$1" INFO | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'; }

# Send raw bytes to a port and print the first reply line (CR stripped).
raw() { # raw PORT BYTES
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf '%b' "$2" >&3
  local line=
  IFS= read -r -t 5 line <&3 || true
  exec 3<&- 3>&-
  printf '%s' "${line%$'\r'}"
}

# Send raw bytes and print the first N reply lines joined by '|'.
raw_lines() { # raw_lines PORT BYTES N
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf '%b' "$2" >&3
  local line out= n
  for n in $(seq 1 "$3"); do
    line=
    IFS= read -r -t 5 line <&3 || true
    out+="${out:+|}${line%$'\r'}"
  done
  exec 3<&- 3>&-
  printf '%s' "$out"
}

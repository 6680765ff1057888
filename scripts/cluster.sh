#!/usr/bin/env bash
# cluster.sh - a local raftkv cluster on 127.0.0.1 for trying things by hand.
#   scripts/cluster.sh start [BUILD]     start (or restart missing) nodes; `make cluster`
#   scripts/cluster.sh stop  [BUILD]     SIGTERM every node (graceful); `make cluster-stop`
#   scripts/cluster.sh restart NODE [BUILD]   kill -9 one node and start it again
#   scripts/cluster.sh status [BUILD]
# Environment: CLUSTER_DIR (default ./cluster), CLUSTER_NODES (3),
# CLUSTER_CLIENT_PORT (7001: n1 on 7001, n2 on 7002, ...), CLUSTER_PEER_PORT (7101).
# Each node keeps its data in $CLUSTER_DIR/<node>/ and logs to $CLUSTER_DIR/<node>.log;
# a node started again with its data directory rejoins with what it had.
# Peers authenticate with TLS: the first start makes a CA and the members'
# certificates in $CLUSTER_DIR/certs (raftkv certs), later starts reuse them.
set -euo pipefail
cmd=${1:-}
shift || true
node_arg=
if [ "$cmd" = restart ]; then node_arg=${1:?usage: cluster.sh restart NODE [BUILD]}; shift; fi
build=${1:-build}
dir=${CLUSTER_DIR:-$PWD/cluster}
n=${CLUSTER_NODES:-3}
cport=${CLUSTER_CLIENT_PORT:-7001}
pport=${CLUSTER_PEER_PORT:-7101}
bin=$(cd "$(dirname "$build/raftkv")" 2>/dev/null && pwd)/raftkv

peers=
for i in $(seq 1 "$n"); do peers+="${peers:+,}n$i=127.0.0.1:$((pport + i - 1))"; done

# Running, and not a zombie waiting for a parent that never reaps it.
alive() {
  [ -f "$dir/$1.pid" ] || return 1
  local pid state
  pid=$(cat "$dir/$1.pid")
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo X)
  [ "$state" != Z ] && [ "$state" != X ]
}

start_node() {
  local i=$1 id=n$1
  if alive "$id"; then echo "  $id already running (pid $(cat "$dir/$id.pid"))"; return; fi
  local first= # a directory's first start may find the others' leader elected already
  [ -e "$dir/$id" ] || first=--first-start
  mkdir -p "$dir/$id"
  nohup "$bin" serve --id "$id" --peers "$peers" --listen "127.0.0.1:$((cport + i - 1))" $first \
    --data-dir "$dir/$id" --certs-dir "$dir/certs" >>"$dir/$id.log" 2>&1 </dev/null &
  echo $! >"$dir/$id.pid"
  echo "  $id pid $! client 127.0.0.1:$((cport + i - 1)) peer 127.0.0.1:$((pport + i - 1)) data $dir/$id"
}

leader() {
  command -v redis-cli >/dev/null || return 1
  for i in $(seq 1 "$n"); do
    local l
    l=$(redis-cli -p $((cport + i - 1)) LEADER 2>/dev/null || true)
    if [ -n "$l" ]; then echo "$l"; return 0; fi
  done
  return 1
}

case "$cmd" in
start)
  [ -x "$bin" ] || { echo "cluster.sh: $bin not built (run make)" >&2; exit 1; }
  mkdir -p "$dir"
  names=$(seq -f 'n%g' 1 "$n" | paste -sd, -)
  "$bin" certs --dir "$dir/certs" --members "$names" | grep -v '^kept' | sed 's/^/  /' || true
  echo "raftkv cluster of $n nodes, data under $dir, peers over TLS (certificates in $dir/certs)"
  for i in $(seq 1 "$n"); do start_node "$i"; done
  l=
  for _ in $(seq 1 100); do l=$(leader) && break; sleep 0.1; done
  echo "leader: ${l:-not elected yet (see $dir/n*.log)}"
  echo
  echo "talk to it (any node; followers pass commands to the leader):"
  echo "  redis-cli -p $cport SET greeting hello"
  echo "  redis-cli -p $((cport + 1)) GET greeting"
  echo "  redis-cli -p $cport CAS greeting hello world    # 1 swapped, 0 differs, nil missing"
  echo "  redis-cli -p $cport INFO ; redis-cli -p $cport LEADER"
  echo "  redis-benchmark -p $cport -t set,get -n 100000 -c 50"
  echo "kill one:  scripts/cluster.sh restart n2   (kill -9, then start again with its data)"
  echo "stop:      make cluster-stop"
  ;;
stop)
  for i in $(seq 1 "$n"); do
    id=n$i
    if alive "$id"; then kill -TERM "$(cat "$dir/$id.pid")"; fi
  done
  for i in $(seq 1 "$n"); do
    id=n$i
    for _ in $(seq 1 100); do alive "$id" || break; sleep 0.1; done
    if alive "$id"; then echo "  $id did not stop in 10 s: kill -9"; kill -9 "$(cat "$dir/$id.pid")" || true; fi
    rm -f "$dir/$id.pid"
  done
  echo "raftkv cluster stopped (data kept in $dir)"
  ;;
restart)
  i=${node_arg#n}
  if alive "n$i"; then
    kill -9 "$(cat "$dir/n$i.pid")"; echo "  n$i killed (-9)"
    for _ in $(seq 1 50); do alive "n$i" || break; sleep 0.1; done
  fi
  start_node "$i"
  ;;
status)
  for i in $(seq 1 "$n"); do
    id=n$i
    if alive "$id"; then echo "  $id up (pid $(cat "$dir/$id.pid"))"; else echo "  $id down"; fi
  done
  echo "leader: $(leader || echo unknown)"
  ;;
*)
  echo "usage: $0 start|stop|status [BUILD] | restart NODE [BUILD]" >&2
  exit 64
  ;;
esac

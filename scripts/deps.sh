#!/usr/bin/env bash
# deps.sh - install the Debian packages raftkv needs, only those missing.
#   scripts/deps.sh build   compilers' libraries: jansson, libuv, jemalloc, Criterion, Lua 5.1 (EVAL)
#   scripts/deps.sh test    plus what the end-to-end tests drive: redis-tools, redis-server (auth replies side by side), chromium,
#                           python3-redis (pipeline order test), and to run them: python3, nodejs, curl
#   scripts/deps.sh bench   plus the servers measured side by side: redis-server, etcd; python3-redis (the benches' samplers)
#   scripts/deps.sh fuzz    plus clang and its runtime (libFuzzer, sanitizers)
set -euo pipefail
want=(pkg-config libjansson-dev libuv1-dev libcriterion-dev libjemalloc-dev libssl-dev liblua5.1-0-dev)
case "${1:-build}" in
  build) ;;
  test) want+=(redis-tools redis-server chromium python3 python3-redis nodejs curl) ;;
  bench) want+=(redis-tools redis-server etcd-server etcd-client python3 python3-redis) ;;
  fuzz) want+=(clang libclang-rt-dev) ;;
  *) echo "usage: $0 build|test|bench|fuzz" >&2; exit 64 ;;
esac
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

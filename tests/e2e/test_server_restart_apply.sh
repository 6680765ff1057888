#!/usr/bin/env bash
# test_server_restart_apply.sh - a member restarted over a long log applies
# the part its commit marks say was committed at once, a turn at a time,
# while its event loop goes on serving: it connects to its peers and
# learns the leader before that part is applied (the restart_commit_applied
# line names the leader), and answers PING meanwhile. A three-member cluster
# with no snapshots takes 300,000 SETs; a follower is killed (-9) and
# started again over its 300,000-entry log.
#   tests/e2e/test_server_restart_apply.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
command -v redis-benchmark >/dev/null || { echo "SKIP: redis-benchmark not installed"; exit 0; }

NOSNAP=(--snapshot-entries 100000000 --snapshot-log-percent 0)
pick_ports
for i in 1 2 3; do start_node "$i" "${NOSNAP[@]}"; done
L=$(wait_leader)
redis-benchmark -p "${CPORT[$L]}" -t set -r 100000 -d 100 -P 16 -c 20 -n 300000 -q >/dev/null 2>&1 ||
  fail "the load failed"
commit=$(info_field "$L" commit_index)
[ "$commit" -ge 300000 ] || fail "commit index $commit after 300,000 SETs"
F=1; [ "$L" = 1 ] && F=2
wait_applied "$F" "$commit"
kill_node "$F" 9
echo "=== restart" >>"$WORK/n$F.log"
start_node "$F" "${NOSNAP[@]}"
deadline=$((SECONDS + 30))
until sed -n '/=== restart/,$p' "$WORK/n$F.log" | grep -q 'event=restart_commit_applied'; do
  [ $SECONDS -lt $deadline ] || fail "n$F did not apply its committed log within 30 s"
  sleep 0.05
done
after=$(sed -n '/=== restart/,$p' "$WORK/n$F.log")
echo "$after" | grep -E 'event=(storage_opened|restart_commit_applied)' | cut -c1-220
marked=$(echo "$after" | grep -o 'event=storage_opened.* commit=[0-9]*' | grep -o 'commit=[0-9]*$' | cut -d= -f2)
[ "${marked:-0}" -ge 250000 ] || fail "n$F's log marked commit index ${marked:-none}, want most of $commit"
echo "ok  n$F's log held commit index $marked of $commit"
line=$(echo "$after" | grep 'event=restart_commit_applied')
echo "$line" | grep -q "leader=n$L" ||
  fail "n$F applied its committed log before it heard the leader n$L: $line"
echo "ok  n$F heard the leader while it applied its committed log"
expect "PING on n$F" "$(cli "$F" PING)" "PONG"
wait_applied "$F" "$commit"
echo "PASS"

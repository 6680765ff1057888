#!/usr/bin/env bash
# test_server_apply_backlog.sh - the leader's push-back while applying lags
# (--max-apply-backlog, src/server/apply_gate.c), end to end: a 3-member
# cluster that applies one entry per loop turn (--apply-batch 1) under
# redis-benchmark -P 16 -c 20 passes a bound of 32 unapplied entries; the
# leader then stops reading clients and resumes at 16 or fewer.
#   tests/e2e/test_server_apply_backlog.sh BUILD
# Checked: the leader paused at least once (INFO apply_backlog_pauses), every
# one of the 6,000 SETs was answered with no error (no -UNCERTAIN: committed
# writes wait for applying, and nothing was refused), reads resumed (not
# paused at the end, and a new connection's SET and GET are answered), and
# every member holds the same number of keys.
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"

pick_ports
for i in 1 2 3; do start_node "$i" --apply-batch 1 --max-apply-backlog 32; done
L=$(wait_leader)
expect "the bound in INFO before the load" "$(info_field "$L" apply_backlog_paused)" "0"

out=$(timeout 60 redis-benchmark -p "${CPORT[$L]}" -t set -r 2000 -d 10 -P 16 -c 20 -n 6000 -q 2>&1 | tr '\r' '\n')
errs=$(grep -cE 'UNCERTAIN|TRYAGAIN|Error|ERR' <<<"$out" || true)
expect "error answers under load" "$errs" "0"
grep -q 'requests per second' <<<"$out" || fail "redis-benchmark did not finish: $out"
echo "    $(grep 'requests per second' <<<"$out" | tail -n 1)"

pauses=$(info_field "$L" apply_backlog_pauses)
[ -n "$pauses" ] && [ "$pauses" -ge 1 ] || fail "the leader never paused (apply_backlog_pauses '$pauses')"
echo "ok  the leader paused $pauses times"
grep -q 'event=apply_backlog_paused' "$WORK/n$L.log" || fail "no apply_backlog_paused line in n$L's log"
echo "ok  apply_backlog_paused logged"

for _ in $(seq 1 50); do [ "$(info_field "$L" apply_backlog_paused)" = 0 ] && break; sleep 0.1; done
expect "paused after the load" "$(info_field "$L" apply_backlog_paused)" "0"
expect "a SET on a new connection" "$(cli "$L" SET after-load 22)" "OK"
expect "its GET" "$(cli "$L" GET after-load)" "22"
# The same keys on every member once they applied as much as the leader.
want=$(info_field "$L" commit_index)
for i in 1 2 3; do wait_applied "$i" "$want"; done
n=$(cli "$L" DBSIZE)
[ "$n" -gt 1000 ] && [ "$n" -le 2001 ] || fail "DBSIZE on the leader: $n"
for i in 1 2 3; do expect "DBSIZE on n$i" "$(cli "$i" DBSIZE)" "$n"; done
lines=$(cli "$L" INFO raft | tr -d '\r' | grep -c '^apply_backlog:' || true)
expect "apply_backlog in INFO raft" "$lines" "1"
echo "PASS test_server_apply_backlog"

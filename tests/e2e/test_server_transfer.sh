#!/usr/bin/env bash
# test_server_transfer.sh - leadership transfer (thesis 3.10) on a 3-member
# TCP cluster: RAFT.TRANSFER_LEADER to a named member, to the core's pick
# and to itself, its refusals (not leader, unknown name, non-admin user),
# the measured transfer time; then a rolling restart with SIGTERM of every
# member in turn, the leader included, while clients write without pause:
# no -UNCERTAIN answer at all, and every acknowledged write is read back.
#   tests/e2e/test_server_transfer.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
PY=/usr/bin/python3 # Debian's, with python3-redis (scripts/deps.sh test)
ELECTION_MS=300     # start_node's --election-timeout-ms

pick_ports
cat >"$WORK/users.acl" <<'ACL'
user default on nopass ~* +@all
user writer on >writerpw ~* +@all -@admin
ACL
chmod 600 "$WORK/users.acl"
for i in 1 2 3; do start_node "$i" --aclfile "$WORK/users.acl"; done
L=$(wait_leader)
F1=$(( L % 3 + 1 )); F2=$(( F1 % 3 + 1 ))
echo "cluster up: leader n$L, work dir $WORK"
expect "a write before" "$(cli $L SET before 1)" OK

# --- RAFT.TRANSFER_LEADER: refusals ---------------------------------------------
expect "on a follower" "$(cli $F1 RAFT.TRANSFER_LEADER n$F2)" "ERR not leader"
expect "an unknown name" "$(cli $L RAFT.TRANSFER_LEADER n9)" "ERR transfer failed: no member has that name"
expect "too many arguments" "$(cli $L RAFT.TRANSFER_LEADER n$F1 n$F2)" \
  "ERR wrong number of arguments for 'raft.transfer_leader' command"
expect "a user without @admin" \
  "$(redis-cli -p ${CPORT[$L]} --user writer --pass writerpw --no-auth-warning RAFT.TRANSFER_LEADER n$F1 2>&1)" \
  "NOPERM this user has no permissions to run the 'raft.transfer_leader' command"
expect "nothing moved" "$(wait_leader)" "$L"
expect "to itself" "$(cli $L RAFT.TRANSFER_LEADER n$L)" OK
expect "COMMAND INFO flags it admin" \
  "$(cli $L COMMAND INFO raft.transfer_leader | grep -c -x -e admin -e @admin -e @dangerous)" 3

# --- to a named member, measured ---------------------------------------------------
# Timed around the command alone, on an open connection (redis-cli's own
# start-up would count too).
read -r answer took_ms < <("$PY" - "${CPORT[$L]}" "n$F1" <<'PYEOF'
import sys, time, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
r.ping()
t0 = time.monotonic()
try:
    answer = r.execute_command("RAFT.TRANSFER_LEADER", sys.argv[2])
except redis.exceptions.ResponseError as e:
    answer = "ERR:" + str(e).replace(" ", "_")
print(answer.decode() if isinstance(answer, bytes) else answer, int((time.monotonic() - t0) * 1000))
PYEOF
)
expect "RAFT.TRANSFER_LEADER n$F1" "$answer" OK
expect "n$F1 is leader" "$(info_field $F1 raft_role)" leader
expect "n$L follows it" "$(info_field $L leader)" "n$F1"
# Each role change is one log line: the new leader's at info, the old one's stepping down as a warning.
grep -q "level=info node=n$F1 event=role_change role=leader term=[0-9]* leader=n$F1 was=candidate" "$WORK/n$F1.log" ||
  fail "n$F1 logged no role_change to leader: $(grep -h role_change "$WORK/n$F1.log" | tail -n 3)"
grep -q "level=warn node=n$L event=role_change role=follower term=[0-9]* leader=[a-z0-9]* was=leader" "$WORK/n$L.log" ||
  fail "n$L logged no role_change from leader: $(grep -h role_change "$WORK/n$L.log" | tail -n 3)"
core_ms=$(grep 'event=transfer_done' "$WORK/n$L.log" | tail -1 | sed 's/.* ms=\([0-9]*\).*/\1/')
echo "transfer time: ${took_ms} ms for the client (RAFT.TRANSFER_LEADER to +OK), ${core_ms} ms in the server's log; election timeout ${ELECTION_MS} ms"
[ "$took_ms" -lt "$ELECTION_MS" ] || fail "the transfer took ${took_ms} ms, not within an election timeout"
expect "writes go on at the new leader" "$(cli $L SET after 2)" OK
expect "and are read back" "$(cli $F2 GET before)$(cli $F1 GET after)" 12

# --- without a name: the most up-to-date follower -------------------------------------
L=$F1
expect "RAFT.TRANSFER_LEADER (no name)" "$(cli $L RAFT.TRANSFER_LEADER)" OK
NEW=$(wait_leader)
[ "$NEW" != "$L" ] || fail "leadership did not move"
echo "ok  leadership moved from n$L to n$NEW"
L=$NEW

# --- to a member that is down: abandoned after an election timeout ---------------------
D=$(( L % 3 + 1 ))
kill_node "$D" 9
out=$(cli $L RAFT.TRANSFER_LEADER "n$D")
case "$out" in
  "ERR transfer failed: n$D did not take over within the election timeout") echo "ok  to a dead member: $out" ;;
  *) fail "transfer to a dead member answered '$out'" ;;
esac
expect "the leader stays" "$(info_field $L raft_role)" leader
expect "and takes writes again" "$(cli $L SET abandoned 3)" OK
start_node "$D" --aclfile "$WORK/users.acl"
wait_leader >/dev/null

# --- rolling restart under continuous writes ------------------------------------------
"$PY" "$(dirname "$0")/rolling_client.py" --ports "${CPORT[1]},${CPORT[2]},${CPORT[3]}" \
  --connections 6 --stop "$WORK/stop" --acked "$WORK/acked.txt" >"$WORK/client.out" 2>&1 &
CLIENT=$!
sleep 1
restart() { # restart I: SIGTERM, must exit 0, start again, wait until every member agrees on a leader
  local i=$1 was
  was=$(info_field "$i" raft_role)
  kill_node "$i" TERM
  [ "$LAST_EXIT" = 0 ] || fail "n$i exited $LAST_EXIT on SIGTERM"
  start_node "$i" --aclfile "$WORK/users.acl"
  wait_leader >/dev/null
  echo "ok  n$i ($was) restarted after SIGTERM"
  sleep 1
}
L=$(wait_leader)
order=($L $(( L % 3 + 1 )) $(( (L + 1) % 3 + 1 )))
for i in "${order[@]}"; do restart "$i"; done
restart "$(wait_leader)" # the leader once more, whoever it is now
touch "$WORK/stop"
wait $CLIENT || fail "the client failed: $(cat "$WORK/client.out")"
cat "$WORK/client.out"
read -r ok tryagain uncertain other broken < <(head -1 "$WORK/client.out" | sed 's/[a-z_]*=//g')
[ "$ok" -gt 200 ] || fail "only $ok writes acknowledged"
expect "-UNCERTAIN answers during the rolling restart" "$uncertain" 0
expect "other errors" "$other" 0
grep -h 'event=transfer_done.*' "$WORK"/n*.log | grep -q . || fail "no transfer logged"
shutdown_transfers=$(grep -h -c 'event=transfer_begin.*reason=shutdown' "$WORK"/n*.log | paste -sd+ | bc)
[ "$shutdown_transfers" -ge 2 ] || fail "leaders handed over on SIGTERM $shutdown_transfers times, want 2"
echo "ok  $shutdown_transfers leaders handed over on SIGTERM; times (ms):" \
  "$(grep -h 'event=transfer_done' "$WORK"/n*.log | sed 's/.* ms=\([0-9]*\).*/\1/' | paste -sd' ')"

# --- every acknowledged write is there ------------------------------------------------
L=$(wait_leader)
missing=$("$PY" - "${CPORT[$L]}" "$WORK/acked.txt" <<'PYEOF'
import sys, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
pairs = [l.split() for l in open(sys.argv[2]) if l.strip()]
bad = 0
for i in range(0, len(pairs), 500):
    chunk = pairs[i:i + 500]
    got = r.mget([k for k, _ in chunk])
    bad += sum(1 for (k, v), g in zip(chunk, got) if g is None or g.decode() != v)
print(bad)
PYEOF
)
expect "acknowledged writes lost ($ok read back)" "$missing" 0
echo "PASS test_server_transfer"

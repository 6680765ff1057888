#!/usr/bin/env bash
# test_server_limits.sh - client limits of `raftkv serve` (issue 11, item 5):
# idle sockets cannot lock clients out (the handshake deadline frees their
# slots), --timeout closes idle clients as Redis does and spares busy ones,
# a flood of refused connections gives a bounded number of log lines with
# the count of those dropped, and memory stays bounded through it.
#   tests/e2e/test_server_limits.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
NODES=1 # one member is enough: these limits are each member's own
CLIENT="python3 $(dirname "$0")/limits_client.py"

pick_ports
P=${CPORT[1]}
start_node 1 --max-clients 50 --client-handshake-timeout-ms 1000 --timeout 2
wait_leader >/dev/null
expect "CONFIG GET timeout" "$(redis-cli -p $P CONFIG GET timeout | tr '\n' ' ')" "timeout 2 "
expect "CONFIG GET maxclients" "$(redis-cli -p $P CONFIG GET maxclients | tr '\n' ' ')" "maxclients 50 "

# --- 50 silent sockets hold every slot, until the handshake deadline ------------
sleep 0.3 # the CLI connections above are gone
rm -f "$WORK/ready"
$CLIENT hold $P 50 "$WORK/ready" 6 >"$WORK/hold.out" &
HOLD=$!
for _ in $(seq 1 50); do [ -e "$WORK/ready" ] && break; sleep 0.05; done
[ -e "$WORK/ready" ] || fail "the 50 sockets did not connect"
expect "a client past 50 silent sockets is refused" "$(redis-cli -p $P PING 2>&1)" "ERR max number of clients reached"
wait $HOLD
read -r held closed data first last < <(sed 's/[a-z_]*=//g' "$WORK/hold.out")
echo "    $(cat "$WORK/hold.out")"
expect "all 50 silent sockets closed by the server" "$closed" 50
expect "without a reply" "$data" 0
awk -v f="$first" 'BEGIN { exit !(f >= 0.9) }' || fail "a silent socket closed after $first s, before the 1000 ms deadline"
awk -v l="$last" 'BEGIN { exit !(l <= 2.5) }' || fail "the last silent socket closed after $last s (deadline 1 s)"
echo "ok  closed between $first and $last s after connecting (deadline 1000 ms)"
expect "then a client gets in" "$(redis-cli -p $P PING)" PONG
expect "INFO counts the handshake timeouts" "$(info_field 1 clients_handshake_timeout)" 50
grep -q 'event=client_handshake_timeout client=[0-9]* addr=127.0.0.1:[0-9]* timeout_ms=1000' "$WORK/n1.log" \
  || fail "no client_handshake_timeout line with the address"
echo "ok  handshake timeouts logged with the client's address"
grep -q 'event=client_refused addr=127.0.0.1:[0-9]* reason="max clients" max_clients=50' "$WORK/n1.log" \
  || fail "no client_refused line with the address"
echo "ok  the refused client logged with its address"

# --- --timeout 2: the quiet client goes, the busy one stays ------------------------
$CLIENT idle $P 4.5 >"$WORK/idle.out"
echo "    $(tr '\n' ' ' <"$WORK/idle.out")"
quiet=$(awk -F= '/^quiet_closed_after_s=/{print $2}' "$WORK/idle.out")
[ "$quiet" != never ] || fail "an idle client was not closed within 4.5 s (--timeout 2)"
awk -v q="$quiet" 'BEGIN { exit !(q >= 1.5 && q <= 3.5) }' || fail "the idle client closed after $quiet s, want 2-3 s"
echo "ok  the idle client closed $quiet s after its last reply (--timeout 2)"
expect "the client that keeps sending stays" "$(grep -o 'busy_closed=[0-9]' "$WORK/idle.out")" busy_closed=0
pongs=$(grep -o 'busy_pongs=[0-9]*' "$WORK/idle.out" | cut -d= -f2)
[ "$pongs" -ge 8 ] || fail "the busy client got $pongs PONGs in 4.5 s, want at least 8"
echo "ok  it got $pongs PONGs"
expect "INFO counts the idle timeout" "$(info_field 1 clients_idle_timeout)" 1

# --- a flood of 2,000 refused connections --------------------------------------------
kill_node 1 TERM
expect "SIGTERM exit" "$LAST_EXIT" 0
from=$(($(wc -l <"$WORK/n1.log") + 1))
start_node 1 --max-clients 50 --client-handshake-timeout-ms 60000
wait_leader >/dev/null
sleep 0.3
$CLIENT flood $P 2000 "${PID[1]}" 50 >"$WORK/flood.out"
echo "    $(cat "$WORK/flood.out")"
expect "2000 connections refused past --max-clients 50" "$(grep -o 'refused=[0-9]* other=[0-9]*' "$WORK/flood.out")" \
  "refused=2000 other=0"
sleep 1.3 # the sweep reports a window's count once it is over
tail -n +$from "$WORK/n1.log" >"$WORK/flood.log"
lines=$(grep -c 'event=client_refused' "$WORK/flood.log" || true)
counts=$(grep -c 'event=log_suppressed of=client_refused' "$WORK/flood.log" || true)
dropped=$(grep -o 'event=log_suppressed of=client_refused suppressed=[0-9]*' "$WORK/flood.log" | awk -F= '{s += $NF} END {print s + 0}')
secs=$(grep -o 'seconds=[0-9.]*' "$WORK/flood.out" | cut -d= -f2)
echo "    $lines client_refused lines and $counts count lines (dropped $dropped) over $secs s"
# At most 10 lines per 1000 ms window: the flood's seconds plus one window.
max_lines=$(awk -v s="$secs" 'BEGIN { printf "%d", (int(s) + 2) * 10 }')
[ "$lines" -le "$max_lines" ] && [ "$lines" -le 100 ] || fail "$lines client_refused lines for 2000 refusals in $secs s (at most $max_lines)"
[ "$lines" -ge 10 ] || fail "only $lines client_refused lines"
[ "$counts" -ge 1 ] && [ "$counts" -le "$max_lines" ] || fail "$counts log_suppressed lines"
expect "lines written + lines dropped = refusals" "$((lines + dropped))" 2000
total=$(wc -l <"$WORK/flood.log")
[ "$total" -le 150 ] || fail "$total log lines during the flood"
echo "ok  the whole log grew by $total lines"
expect "INFO rejected_connections" "$(info_field 1 rejected_connections)" 2000
expect "INFO log_lines_suppressed" "$(info_field 1 log_lines_suppressed)" "$dropped"
read -r before peak after < <(grep -o 'rss_[a-z]*_kb=[0-9]*' "$WORK/flood.out" | cut -d= -f2 | paste -sd' ')
[ $((peak - before)) -le 16384 ] || fail "RSS grew from $before kB to $peak kB during 2000 connections"
[ "$peak" -le 131072 ] || fail "RSS peaked at $peak kB"
echo "ok  RSS $before kB before, $peak kB at most, $after kB after 2000 connections"
expect "still serving" "$(redis-cli -p $P SET k v)" OK

# --- 2,000 silent connections at once, under the default --max-clients --------------
kill_node 1 TERM
start_node 1 --client-handshake-timeout-ms 2000
wait_leader >/dev/null
rss() { awk '/^VmRSS:/{print $2}' "/proc/${PID[1]}/status"; }
before=$(rss)
rm -f "$WORK/ready"
$CLIENT hold $P 2000 "$WORK/ready" 8 >"$WORK/hold2.out" &
HOLD=$!
for _ in $(seq 1 100); do [ -e "$WORK/ready" ] && break; sleep 0.05; done
[ -e "$WORK/ready" ] || fail "the 2000 sockets did not connect"
sleep 0.3
held_rss=$(rss)
expect "a client gets in beside 2000 silent ones" "$(redis-cli -p $P PING)" PONG
wait $HOLD
echo "    $(cat "$WORK/hold2.out")"
expect "all 2000 closed by the server" "$(grep -o 'closed=[0-9]* data=[0-9]*' "$WORK/hold2.out")" "closed=2000 data=0"
[ $((held_rss - before)) -le 32768 ] || fail "RSS grew from $before kB to $held_rss kB with 2000 silent connections"
echo "ok  RSS $before kB before, $held_rss kB holding 2000 silent connections, $(rss) kB after they were closed"
expect "INFO connected_clients back to this one" "$(info_field 1 connected_clients)" 1
kill_node 1 TERM
expect "SIGTERM exit" "$LAST_EXIT" 0

# --- with a password, commands that get -NOAUTH do not end the handshake ------------
printf 'sesame\n' >"$WORK/pass"
chmod 600 "$WORK/pass"
start_node 1 --requirepass-file "$WORK/pass" --client-handshake-timeout-ms 1000
wait_leader >/dev/null
out=$(/usr/bin/python3 - "$P" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(0.3); return s
def alive(s, probe):
    try:
        s.sendall(probe)
        return s.recv(100) != b""
    except OSError:
        return False
nauth, auth = conn(), conn()
auth.sendall(b"AUTH sesame\r\n"); ok = auth.recv(100)
first = nauth.sendall(b"PING\r\n") or nauth.recv(100)
t0 = time.time(); closed_at = None
while time.time() - t0 < 4:
    if not alive(nauth, b"PING\r\n"):
        closed_at = time.time() - t0; break
    time.sleep(0.2)
print(first.decode().strip(), ok.decode().strip(),
      "unauth_closed" if closed_at is not None and closed_at < 3 else "unauth_open",
      "auth_open" if alive(auth, b"PING\r\n") else "auth_closed")
PY
)
expect "an unauthenticated client sending PINGs is closed at the handshake deadline; a logged-in one stays" \
  "$out" "-NOAUTH Authentication required. +OK unauth_closed auth_open"
kill_node 1 TERM
echo "test_server_limits: all checks passed"

#!/usr/bin/env bash
# test_server_metrics.sh - the metrics port and the operations options of
# `raftkv serve` on a 3-member loopback cluster: /metrics is Prometheus text
# (every sample line `name{labels} value`) whose role, term, indexes, peer
# lag and histograms make sense and move with writes; /health is 200 on a
# healthy cluster and 503 with a reason on a member cut off from the others;
# a 100 KB request, garbage, idle and surplus connections are refused while
# the port keeps serving; --log-file is reopened on SIGHUP after a move, and
# SIGHUP without it does not stop the server.
#   tests/e2e/test_server_metrics.sh BUILD
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"

pick_ports
declare -a MPORT
for i in 1 2 3; do MPORT[$i]=$(free_port); done
LOGFILE=$WORK/n1.file.log

# http PORT METHOD PATH: the whole answer, CRs removed (the server closes).
http() {
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: e2e\r\n\r\n' "$2" "$3" >&3
  timeout 5 cat <&3 | tr -d '\r' || true
  exec 3<&- 3>&-
}
status() { http "$1" GET "$2" | head -1 | awk '{print $2}'; }
body() { http "$1" GET "$2" | sed '1,/^$/d'; }
metric() { # metric PORT 'name{labels}' -> its value
  body "$1" /metrics | awk -v n="$2" '$1 == n {print $2}'
}

# The sample config parses (--help stops after reading it), and a bad line
# is refused with its file and line.
here=$(cd "$(dirname "$0")/../.." && pwd)
"$RAFTKV" serve --config "$here/packaging/raftkv.conf" --help >/dev/null || fail "packaging/raftkv.conf is refused"
printf 'id n1\n# x\nmetrics-listen nowhere\n' >"$WORK/bad.conf"
rc=0; "$RAFTKV" serve --config "$WORK/bad.conf" 2>"$WORK/bad.err" || rc=$?
expect "a bad config line: exit" "$rc" 64
expect "a bad config line: message" "$(cat "$WORK/bad.err")" \
  "raftkv serve: $WORK/bad.conf:3: bad value for --metrics-listen: 'nowhere'"

start_node 1 --metrics-listen "127.0.0.1:${MPORT[1]}" --log-file "$LOGFILE" --metrics-max-clients 4 \
  --metrics-timeout-ms 1000
start_node 2 --metrics-listen "127.0.0.1:${MPORT[2]}"
start_node 3 --metrics-listen "127.0.0.1:${MPORT[3]}" --health-max-lag 1000
L=$(wait_leader)
echo "leader n$L"

# /metrics parses as Prometheus text on every member.
for i in 1 2 3; do
  out=$(http "${MPORT[$i]}" GET /metrics)
  expect "n$i /metrics status" "$(echo "$out" | head -1)" "HTTP/1.1 200 OK"
  echo "$out" | grep -q '^Content-Type: text/plain; version=0.0.4' || fail "n$i: no Prometheus content type"
  samples=$(echo "$out" | sed '1,/^$/d' | grep -v '^#' | grep -v '^$')
  bad=$(echo "$samples" | grep -Ev '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9]+(\.[0-9]+)?$' || true)
  [ -z "$bad" ] || fail "n$i: lines that are not 'name{labels} value': $bad"
  comments=$(echo "$out" | sed '1,/^$/d' | grep '^#' | grep -Ev '^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* ' || true)
  [ -z "$comments" ] || fail "n$i: bad comment lines: $comments"
  echo "ok  n$i /metrics: $(echo "$samples" | wc -l) samples, all 'name{labels} value'"
done

term=$(metric "${MPORT[$L]}" raftkv_term)
[ "${term:-0}" -ge 1 ] || fail "leader's term is '$term'"
for i in 1 2 3; do
  if [ "$i" = "$L" ]; then want=1 role=leader; else want=0 role=follower; fi
  expect "n$i raftkv_is_leader" "$(metric "${MPORT[$i]}" raftkv_is_leader)" "$want"
  expect "n$i raftkv_role{role=\"$role\"}" "$(metric "${MPORT[$i]}" "raftkv_role{role=\"$role\"}")" 1
  expect "n$i raftkv_term" "$(metric "${MPORT[$i]}" raftkv_term)" "$term"
  expect "n$i knows leader n$L" "$(metric "${MPORT[$i]}" "raftkv_leader{leader=\"n$L\"}")" 1
done
c0=$(metric "${MPORT[$L]}" raftkv_commit_index)
cmd0=$(metric "${MPORT[$L]}" raftkv_commands_total)
[ "$c0" -ge 1 ] || fail "commit index $c0 after the leader's first entry"

# 300 writes: commit and applied move on every member, the leader's lags
# for its followers come back to 0, the histograms count.
for k in $(seq 1 300); do echo "SET key$k value$k"; done | redis-cli -p "${CPORT[1]}" >/dev/null
c1=$(metric "${MPORT[$L]}" raftkv_commit_index)
[ "$c1" -ge $((c0 + 300)) ] || fail "commit index went from $c0 to $c1 after 300 writes"
echo "ok  leader commit index $c0 -> $c1"
cmd1=$(metric "${MPORT[1]}" raftkv_commands_total)
[ "$cmd1" -ge 300 ] || fail "n1 counted $cmd1 commands after 300"
echo "ok  n1 raftkv_commands_total $cmd1 (leader's: $cmd0 before)"
for i in 1 2 3; do
  [ "$i" = "$L" ] && continue
  deadline=$((SECONDS + 10))
  while :; do
    lag=$(metric "${MPORT[$L]}" "raftkv_peer_lag_entries{peer=\"n$i\"}")
    match=$(metric "${MPORT[$L]}" "raftkv_peer_match_index{peer=\"n$i\"}")
    [ "$lag" = 0 ] && [ "$match" -ge "$c1" ] && break
    [ $SECONDS -lt $deadline ] || fail "leader reports n$i lag $lag match $match (commit $c1)"
    sleep 0.1
  done
  echo "ok  leader reports n$i caught up: lag 0, match $match"
  a=$(metric "${MPORT[$i]}" raftkv_applied_index)
  [ "$a" -ge "$c0" ] || fail "n$i applied $a"
done
hc=$(metric "${MPORT[1]}" raftkv_command_duration_seconds_count)
hinf=$(metric "${MPORT[1]}" 'raftkv_command_duration_seconds_bucket{le="+Inf"}')
[ "$hc" -ge 300 ] && [ "$hc" = "$hinf" ] || fail "command histogram count $hc, +Inf bucket $hinf"
echo "ok  n1 command latency histogram: $hc observations"
fc=$(metric "${MPORT[$L]}" raftkv_fsync_duration_seconds_count)
[ "${fc:-0}" -ge 1 ] || fail "leader's fsync histogram count '$fc'"
echo "ok  leader fsync histogram: $fc syncs"
lc=$(metric "${MPORT[1]}" raftkv_loop_turn_cpu_seconds_count)
linf=$(metric "${MPORT[1]}" 'raftkv_loop_turn_cpu_seconds_bucket{le="+Inf"}')
lmax=$(metric "${MPORT[1]}" raftkv_loop_turn_cpu_max_microseconds)
lslow=$(metric "${MPORT[1]}" raftkv_loop_slow_turns_total)
[ "${lc:-0}" -ge 300 ] && [ "$linf" -ge "$lc" ] && [ "${lmax:-0}" -gt 0 ] && [ -n "$lslow" ] ||
  fail "loop turn histogram count '$lc', +Inf '$linf', max '$lmax' us, slow '$lslow'"
echo "ok  n1 loop turn CPU histogram: $lc turns, longest $lmax us, $lslow slow"

# /health: 200 everywhere; other paths and methods.
for i in 1 2 3; do
  expect "n$i /health" "$(status "${MPORT[$i]}" /health)" 200
  expect "n$i /health body" "$(body "${MPORT[$i]}" /health)" ok
done
expect "/nope" "$(status "${MPORT[2]}" /nope)" 404
expect "POST /metrics" "$(http "${MPORT[2]}" POST /metrics | head -1)" "HTTP/1.1 405 Method Not Allowed"
expect "HEAD /health" "$(http "${MPORT[2]}" HEAD /health | head -1)" "HTTP/1.1 200 OK"

# Hostile input: 100 KB of header, garbage, idle and surplus connections.
big=$(head -c 102400 /dev/zero | tr '\0' a)
exec 3<>"/dev/tcp/127.0.0.1/${MPORT[2]}"
(trap '' PIPE; printf 'GET /metrics HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n' "$big" >&3) 2>/dev/null || true
line=$(timeout 5 head -1 <&3 | tr -d '\r' || true)
exec 3<&- 3>&-
expect "100 KB request" "$line" "HTTP/1.1 431 Request Header Fields Too Large"
expect "n2 /health after it" "$(status "${MPORT[2]}" /health)" 200
exec 3<>"/dev/tcp/127.0.0.1/${MPORT[2]}"
printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' >&3
line=$(timeout 5 head -1 <&3 | tr -d '\r' || true)
exec 3<&- 3>&-
expect "TLS bytes on the HTTP port" "$line" "HTTP/1.1 400 Bad Request"
start=$SECONDS
exec 3<>"/dev/tcp/127.0.0.1/${MPORT[1]}"
got=$(timeout 4 cat <&3 || true)
exec 3<&- 3>&-
[ -z "$got" ] && [ $((SECONDS - start)) -le 3 ] || fail "idle connection not closed by --metrics-timeout-ms 1000"
echo "ok  an idle connection is closed after its timeout"
exec 4<>"/dev/tcp/127.0.0.1/${MPORT[1]}" 5<>"/dev/tcp/127.0.0.1/${MPORT[1]}"
exec 6<>"/dev/tcp/127.0.0.1/${MPORT[1]}" 7<>"/dev/tcp/127.0.0.1/${MPORT[1]}"
sleep 0.2
exec 3<>"/dev/tcp/127.0.0.1/${MPORT[1]}"
(trap '' PIPE; printf 'GET /health HTTP/1.0\r\n\r\n' >&3) 2>/dev/null || true # it may be closed already
got=$(timeout 2 cat <&3 2>/dev/null || true)
exec 3<&- 3>&- 4<&- 5<&- 6<&- 7<&-
expect "a 5th connection past --metrics-max-clients 4" "$got" ""
expect "n1 /health once they are gone" "$(status "${MPORT[1]}" /health)" 200
grep -q 'event=metrics_refused .*reason=max_clients' "$LOGFILE" || fail "no metrics_refused line in $LOGFILE"
echo "ok  the refusal is logged"

# SIGHUP: without --log-file nothing happens; with it the file is reopened.
kill -HUP "${PID[2]}"
sleep 0.5
kill -0 "${PID[2]}" 2>/dev/null || fail "SIGHUP stopped n2"
grep -q 'event=sighup' "$WORK/n2.log" || fail "n2 did not log the SIGHUP"
expect "n2 /health after SIGHUP" "$(status "${MPORT[2]}" /health)" 200
[ ! -s "$WORK/n1.log" ] || fail "n1 wrote to stderr despite --log-file: $(head -3 "$WORK/n1.log")"
grep -q 'event=started' "$LOGFILE" || fail "n1's --log-file has no start line"
mv "$LOGFILE" "$LOGFILE.1"
kill -HUP "${PID[1]}"
deadline=$((SECONDS + 5))
until [ -s "$LOGFILE" ]; do [ $SECONDS -lt $deadline ] || fail "no new $LOGFILE after SIGHUP"; sleep 0.1; done
grep -q 'event=log_reopened' "$LOGFILE" || fail "the new file does not start with log_reopened"
printf 'junk\r\n\r\n' | { exec 3<>"/dev/tcp/127.0.0.1/${MPORT[1]}"; cat >&3; timeout 3 cat <&3 >/dev/null || true; }
deadline=$((SECONDS + 5))
until grep -q 'event=metrics_bad_request' "$LOGFILE"; do
  [ $SECONDS -lt $deadline ] || fail "a later line did not reach the new $LOGFILE"; sleep 0.1
done
grep -q 'event=metrics_bad_request' "$LOGFILE.1" && fail "a line written after SIGHUP went to the moved file"
kill -0 "${PID[1]}" || fail "SIGHUP stopped n1"
echo "ok  SIGHUP reopened --log-file: later lines in the new file, none in the moved one"

# A member cut off from the others: 503 with the reason.
kill_node 2 9
kill_node 3 9
deadline=$((SECONDS + 10))
while :; do
  out=$(http "${MPORT[1]}" GET /health)
  code=$(echo "$out" | head -1 | awk '{print $2}')
  [ "$code" = 503 ] && break
  [ $SECONDS -lt $deadline ] || fail "n1 still answers /health $code alone"
  sleep 0.2
done
reason=$(echo "$out" | sed '1,/^$/d')
echo "$reason" | grep -Eq 'no leader known|not heard|without a quorum' || fail "503 reason: '$reason'"
echo "ok  n1 alone: /health 503 ($reason)"
expect "n1 raftkv_healthy alone" "$(metric "${MPORT[1]}" raftkv_healthy)" 0
echo "PASS test_server_metrics"

#!/usr/bin/env bash
# test_server_backup_walk.sh - raftkv backup from members run with
# --snapshot-method walk: the leader writes the image from a walk of the map
# on its loop (src/server/backup_walk.c), with no child. A 3-member cluster
# holds 100,000 keys of 300 bytes while a client writes w:1, w:2, ...
# through a follower, and snapshots come due every 5,000 entries. The image
# writer pauses 200 ms after every MiB (a test hook), so the backup takes
# seconds: meanwhile the leader has no child process, raftkv backup shows
# the image growing (RAFTKV.BACKUP STATUS) under a --timeout-ms shorter than
# the backup, and the snapshot that 20,000 more writes make due waits for
# the backup's walk (logged) and walks once it is done. A second backup started while the
# first walks forks its image instead (one walk of the map at a time; the
# log says why). The first image is restored into a new one-member cluster:
# every key acknowledged before the backup started is there with its value.
# That member, restarted with walks limited to 64 KiB of pre-images, takes
# a backup under 20,000 new keys: the walk gives up and a child writes the
# image (logged), which holds every key.
#   tests/e2e/test_server_backup_walk.sh BUILD      (KEEP=1 keeps the logs;
#   BACKUP_KEYS=N changes the 100,000)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
KEYS=${BACKUP_KEYS:-100000}
source "$(dirname "$0")/lib_backup.sh"

SECOND_PID=
BPID=
cleanup_all() {
  backup_stop_helpers
  [ -n "$SECOND_PID" ] && kill "$SECOND_PID" 2>/dev/null || true
  [ -n "$BPID" ] && kill -9 "$BPID" 2>/dev/null || true
  cleanup
}
trap cleanup_all EXIT

pick_ports
for i in 1 2 3; do
  RAFTKV_BACKUP_CHILD_PAUSE_MS=200 start_node "$i" --snapshot-method walk --snapshot-entries 5000
done
L=$(wait_leader)
backup_load "${CPORT[$L]}"

L=$(wait_leader)
F=$((L % 3 + 1))
backup_start_writer "${CPORT[$F]}"
# Snapshots walk on this cluster: at least one has been taken by the leader.
deadline=$((SECONDS + 30))
until grep -q "event=snapshot_done.*method=walk" "$WORK/n$L.log"; do
  [ $SECONDS -lt $deadline ] || fail "n$L took no walked snapshot: $(grep -m 3 snapshot_ "$WORK/n$L.log")"
  sleep 0.2
done

L=$(wait_leader)
LPID=${PID[$L]}
FROM="127.0.0.1:${CPORT[$L]}"
for i in 1 2 3; do [ "$i" = "$L" ] || FROM+=",127.0.0.1:${CPORT[$i]}"; done
# The leader's children while the backup runs (there must be none).
(while :; do pgrep -P "$LPID" >>"$WORK/children" || true; echo . >>"$WORK/samples"; sleep 0.05; done) &
SAMPLER_PID=$!

# Not in the middle of a snapshot's walk (the backup would fork): every
# snapshot started has ended.
snapshots_quiet() {
  [ "$(grep -c 'event=snapshot_started' "$WORK/n$L.log")" = \
    "$(grep -cE 'event=snapshot_(done|failed|superseded)' "$WORK/n$L.log")" ]
}
deadline=$((SECONDS + 20))
until snapshots_quiet; do
  [ $SECONDS -lt $deadline ] || fail "n$L's snapshots never ended: $(grep snapshot_ "$WORK/n$L.log" | tail -n 3)"
  sleep 0.02
done
ACKED=$(tail -n 1 "$WORK/acked") # every write up to here was acknowledged before the backup
t0=$(date +%s%N)
"$RAFTKV" backup --from "$FROM" --timeout-ms 1500 "$WORK/b.snap" >"$WORK/backup.out" 2>"$WORK/backup.err" &
BK=$!
# Once the first image is being walked, a second backup on its own
# connection: it cannot walk the map too, and forks.
deadline=$((SECONDS + 20))
until grep -q "event=backup_writing id=[0-9]* index=[0-9]* method=walk" "$WORK/n$L.log"; do
  [ $SECONDS -lt $deadline ] || fail "the leader did not start walking the image: $(grep backup_ "$WORK/n$L.log")"
  sleep 0.05
done
"$RAFTKV" backup --from "$FROM" --timeout-ms 5000 "$WORK/second.snap" >"$WORK/second.out" 2>&1 &
SECOND_PID=$!
# Writes enough to make a snapshot due while the first image is walked.
redis-benchmark -p "${CPORT[$L]}" -t set -n 20000 -r 100000000 -d 10 -P 16 -q >"$WORK/bench.out" 2>&1 || true
wait "$BK" || fail "raftkv backup failed: $(cat "$WORK/backup.err")"
ms=$((($(date +%s%N) - t0) / 1000000))
wait "$SECOND_PID" || fail "the second backup failed: $(cat "$WORK/second.out")"
SECOND_PID=
backup_stop_sampler
SIZE=$(stat -c %s "$WORK/b.snap")
echo "ok  backup of $SIZE bytes in $ms ms (w:1..w:$ACKED acknowledged before it)"
cat "$WORK/backup.err"
backup_check_size "$WORK/b.snap"
[ "$ms" -gt 1500 ] || fail "the backup took $ms ms: under its --timeout-ms, which it does not exercise"
grep -q "the leader is writing \(the image\|2 images\): .*[0-9.]* [KM]iB so far" "$WORK/backup.err" ||
  fail "no progress line while the image was walked: $(cat "$WORK/backup.err")"
# While the second backup's image is written too (its START came 2 s before
# the first progress line), the two are shown apart, never as one sum.
two='the leader is writing 2 images: id 1 [0-9.]* [KM]iB so far, [0-9.]* [KM]*i*B/s; id 2 [0-9.]* [KM]*i*B so far, [0-9.]* [KM]*i*B/s$'
grep -q "$two" "$WORK/backup.err" ||
  fail "no progress line telling the two images apart: $(cat "$WORK/backup.err")"
echo "ok  raftkv backup saw both images grow, apart: $(grep -m 1 "writing 2 images" "$WORK/backup.err")"

# The first image was walked by the loop; the second forked, saying why.
grep -q "event=backup_ready id=1 .*method=walk" "$WORK/n$L.log" ||
  fail "the first image was not walked: $(grep backup_ "$WORK/n$L.log")"
grep -q 'event=backup_writing id=2 index=[0-9]* method=fork detail="the walk cannot begin: a walk over the map is under way"' \
  "$WORK/n$L.log" || fail "the second backup did not fork for the running walk: $(grep backup_ "$WORK/n$L.log")"
grep -q "event=backup_ready id=2 .*method=fork" "$WORK/n$L.log" || fail "the second image: $(grep backup_ "$WORK/n$L.log")"
backup_check_size "$WORK/second.snap"
echo "ok  $(grep -o 'event=backup_ready id=1 .*' "$WORK/n$L.log")"
echo "ok  $(grep -o 'event=backup_writing id=2 .*' "$WORK/n$L.log")"
# No child but the second backup's (one pid, in the samples after it began).
n_children=$(sort -u "$WORK/children" | grep -c . || true)
[ "$n_children" -le 1 ] || fail "the leader forked $n_children children during the backups: $(sort -u "$WORK/children")"
echo "ok  the leader had $n_children child process (the second backup's) in $(wc -l <"$WORK/samples") samples"

# The snapshot that came due during the walk waited, then walked.
grep -q "event=snapshot_deferred backup=1 " "$WORK/n$L.log" ||
  fail "no snapshot waited for the backup's walk: $(grep -E 'snapshot_(started|deferred|failed)' "$WORK/n$L.log" | tail -n 5)"
ready_line=$(grep -n "event=backup_ready id=1 " "$WORK/n$L.log" | head -n 1 | cut -d: -f1)
tail -n +"$ready_line" "$WORK/n$L.log" | grep -q "event=snapshot_done.*method=walk" || {
  deadline=$((SECONDS + 20))
  until tail -n +"$ready_line" "$WORK/n$L.log" | grep -q "event=snapshot_done.*method=walk"; do
    [ $SECONDS -lt $deadline ] || fail "no walked snapshot after the backup"
    sleep 0.2
  done
}
! grep -q "event=snapshot_failed" "$WORK/n$L.log" || fail "a snapshot failed: $(grep -m 1 snapshot_failed "$WORK/n$L.log")"
echo "ok  $(grep -m 1 -o 'event=snapshot_deferred.*' "$WORK/n$L.log"); a walked snapshot followed"

backup_stop_writer "$ACKED"

# --- a new one-member cluster from the walked image --------------------------------------
BC=$(free_port)
BP=$(free_port)
"$RAFTKV" restore "$WORK/b.snap" --data-dir "$WORK/b1" --id n1 --peers "n1=127.0.0.1:$BP" \
  --cluster-token "test-restore-walk" >"$WORK/restore.out" 2>&1 || fail "restore: $(cat "$WORK/restore.out")"
serve_restored() { # serve_restored [extra options]: the one-member cluster, once it leads
  "$RAFTKV" serve --id n1 --peers "n1=127.0.0.1:$BP" --listen "127.0.0.1:$BC" --data-dir "$WORK/b1" \
    --election-timeout-ms 300 --heartbeat-ms 50 --certs-dir "$WORK/certs" "$@" >>"$WORK/b1.log" 2>&1 &
  BPID=$!
  local deadline=$((SECONDS + 30))
  until [ "$(redis-cli -p "$BC" LEADER 2>/dev/null)" = n1 ]; do
    [ $SECONDS -lt $deadline ] || fail "the restored member did not lead: $(tail -n 5 "$WORK/b1.log")"
    sleep 0.2
  done
}
serve_restored
backup_check_restored "$BC" "$ACKED"
echo "ok  the restored member holds every key acknowledged before the backup (w:1..w:$ACKED, $KEYS bulk keys)"

# --- a walk that gives up: a child writes the image instead ------------------------------
kill "$BPID"
wait "$BPID" 2>/dev/null || true
RAFTKV_BACKUP_CHILD_PAUSE_MS=200 serve_restored --snapshot-method walk --snapshot-walk-max-bytes 65536
B_KEYS=$(redis-cli -p "$BC" DBSIZE)
"$RAFTKV" backup --from "127.0.0.1:$BC" --timeout-ms 5000 "$WORK/gave-up.snap" >"$WORK/gave-up.out" 2>&1 &
BK=$!
deadline=$((SECONDS + 20))
until grep -q "event=backup_writing id=1 index=[0-9]* method=walk" "$WORK/b1.log"; do
  [ $SECONDS -lt $deadline ] || fail "the restarted member did not walk the image: $(grep backup_ "$WORK/b1.log")"
  sleep 0.05
done
redis-benchmark -p "$BC" -t set -n 20000 -r 100000000 -d 10 -P 16 -q >"$WORK/bench2.out" 2>&1 || true
wait "$BK" || fail "the backup whose walk gave up failed: $(cat "$WORK/gave-up.out")"
grep -q 'event=backup_walk_gave_up id=1 reason="[^"]*" detail="a forked child writes the image instead"' "$WORK/b1.log" ||
  fail "the walk did not give up: $(grep backup_ "$WORK/b1.log")"
grep -q "event=backup_ready id=1 .*method=fork" "$WORK/b1.log" || fail "the image after the walk: $(grep backup_ "$WORK/b1.log")"
G_KEYS=$(sed -n 's/.* \([0-9]*\) keys.*/\1/p' "$WORK/gave-up.out" | head -n 1)
[ "${G_KEYS:-0}" -ge "$B_KEYS" ] || fail "the image holds ${G_KEYS:-?} keys, fewer than the $B_KEYS before it: $(cat "$WORK/gave-up.out")"
echo "ok  $(grep -o 'event=backup_walk_gave_up.*' "$WORK/b1.log"); the child's image holds $G_KEYS keys (at least the $B_KEYS before it)"
echo "PASS test_server_backup_walk"

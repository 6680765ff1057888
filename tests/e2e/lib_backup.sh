# lib_backup.sh - the steps the backup tests share (test_server_backup.sh,
# plain; test_server_backup_walk.sh, the same steps on members run with
# --snapshot-method walk): KEYS keys of 300 bytes loaded, a writer of w:1,
# w:2, ... through one member recording what was acknowledged, the checks
# on a backup's file, the writer's stop, and the check that a restored
# cluster holds every key acknowledged before the backup. Sourced after
# lib_server.sh with KEYS set; not a test (the runner runs test_*.sh only).

: "${KEYS:?set KEYS before sourcing lib_backup.sh}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3 # Debian's, with python3-redis (scripts/deps.sh test)
WRITER_PID=
SAMPLER_PID=

# The writer and the sampler, if running (for the test's EXIT trap).
backup_stop_helpers() {
  [ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null || true
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
}

# backup_load PORT: KEYS keys of 300 bytes through that client port.
backup_load() {
  local t0=$SECONDS
  "$PY" "$HERE/backup_client.py" load --port "$1" --keys "$KEYS" --value-bytes 300 ||
    fail "loading $KEYS keys failed"
  echo "ok  loaded $KEYS keys of 300 bytes in $((SECONDS - t0)) s"
}

# backup_start_writer PORT: w:1, w:2, ... through that client port, each
# acknowledged one appended to $WORK/acked; returns once 200 are.
backup_start_writer() {
  "$PY" "$HERE/backup_client.py" write --port "$1" --stop "$WORK/stop" --acked "$WORK/acked" \
    >"$WORK/writer.log" 2>&1 &
  WRITER_PID=$!
  local deadline=$((SECONDS + 15))
  until [ -s "$WORK/acked" ] && [ "$(wc -l <"$WORK/acked")" -ge 200 ]; do
    [ $SECONDS -lt $deadline ] || fail "the writer acknowledged fewer than 200 writes in 15 s: $(cat "$WORK/writer.log")"
    sleep 0.1
  done
}

# backup_stop_sampler: a background sampler started by the test
# (SAMPLER_PID) ends.
backup_stop_sampler() {
  kill "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=
}

# backup_check_size FILE: the image is larger than the keys' values.
backup_check_size() {
  local size
  size=$(stat -c %s "$1")
  [ "$size" -gt $((KEYS * 300)) ] || fail "the image $1 ($size bytes) is smaller than the keys' values"
}

# backup_stop_writer ACKED: the writer stops; it must have had a write
# acknowledged after w:ACKED (the last before the backup began).
backup_stop_writer() {
  touch "$WORK/stop"
  wait "$WRITER_PID" || true
  WRITER_PID=
  cat "$WORK/writer.log"
  local total
  total=$(tail -n 1 "$WORK/acked")
  [ "$total" -gt "$1" ] || fail "no write was acknowledged after the backup started ($total)"
}

# backup_check_restored PORT ACKED: the restored cluster behind that client
# port holds w:1..w:ACKED and the KEYS loaded keys, with their values.
backup_check_restored() {
  "$PY" "$HERE/backup_client.py" check --port "$1" --acked-upto "$2" --keys "$KEYS" --value-bytes 300 ||
    fail "the restored cluster lacks writes acknowledged before the backup"
}

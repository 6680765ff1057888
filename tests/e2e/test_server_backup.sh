#!/usr/bin/env bash
# test_server_backup.sh - raftkv backup and raftkv restore (issue 13, item 5).
# A 3-member cluster (TLS client port, an ACL file) holds 200,000 keys while
# a client writes w:1, w:2, ... continuously through a follower; the writes
# acknowledged before the backup starts are recorded. A backup through a
# follower alone is refused with the leader named; a user without @admin
# is refused; through the TLS port, with AUTH, a follower then the leader,
# it is written and checked, and the leader's RSS is sampled meanwhile (it
# must stay well under the image's size above where it was). The file is
# restored into a new 3-member cluster (new data directories, new ports):
# every key acknowledged before the backup started is there with its value,
# the new cluster has another cluster id and, the backup holding no hash
# key (the cluster's secret), a hash key of its own under which a SCAN
# alternating between two members returns every key; a member of the old
# cluster started among the new one's members is refused by both sides
# (identity).
# A copy of the file with one byte flipped in the middle is refused by
# restore with a clear error, and no directory is made; so is a non-empty
# directory. A third image at once is refused (--max-backups 2), and the
# replies of RAFTKV.BACKUP are checked byte for byte.
#   tests/e2e/test_server_backup.sh BUILD      (KEEP=1 keeps the logs;
#   BACKUP_KEYS=N changes the 200,000)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
KEYS=${BACKUP_KEYS:-200000}
source "$(dirname "$0")/lib_backup.sh"

declare -a BPID BCPORT BPPORT TPORT
XPID=
cleanup_all() {
  backup_stop_helpers
  [ -n "$XPID" ] && kill -9 "$XPID" 2>/dev/null || true
  for i in 1 2 3; do [ -n "${BPID[$i]:-}" ] && kill -9 "${BPID[$i]}" 2>/dev/null || true; done
  cleanup
}
trap cleanup_all EXIT

# --- cluster A: TLS client port, users ------------------------------------------------
pick_ports
"$RAFTKV" certs --dir "$WORK/certs" --members n1,n2,n3 --clients backup >/dev/null
for i in 1 2 3; do TPORT[$i]=$(free_port); done
printf 'secret-backup\n' >"$WORK/backup.pass"
chmod 600 "$WORK/backup.pass"
cat >"$WORK/users.acl" <<'ACL'
user default on nopass ~* +@all
user backup on >secret-backup ~* +@all
user reader on >secret-reader ~* +@read +@connection
ACL
chmod 600 "$WORK/users.acl"
tls_opts() {
  echo --tls-port "${TPORT[$1]}" --tls-cert-file "$WORK/certs/n$1.crt" --tls-key-file "$WORK/certs/n$1.key" \
    --tls-ca-cert-file "$WORK/certs/ca.crt" --aclfile "$WORK/users.acl"
}
for i in 1 2 3; do start_node "$i" $(tls_opts "$i"); done
L=$(wait_leader)
F=$((L % 3 + 1))
A_ID=$(info_field "$L" cluster_id)
echo "cluster A: leader n$L, cluster id $A_ID"

backup_load "${CPORT[$L]}"

# --- a writer, and what it had acknowledged when the backup started ------------------
backup_start_writer "${CPORT[$F]}"

TLS=(--tls --cacert "$WORK/certs/ca.crt" --cert "$WORK/certs/backup.crt" --key "$WORK/certs/backup.key")

# A follower alone: refused, naming the leader; nothing written. (The
# leader of now: on a loaded machine the load may have moved it.)
L=$(wait_leader)
F=$((L % 3 + 1))
set +e
out=$("$RAFTKV" backup --from "127.0.0.1:${CPORT[$F]}" "$WORK/f.snap" 2>&1)
rc=$?
set -e
expect "backup through a follower alone exits" "$rc" 1
[[ "$out" == *"not leader: backups are taken by the leader, n$L"* ]] ||
  fail "the follower's refusal does not name the leader: $out"
[ ! -e "$WORK/f.snap" ] && [ ! -e "$WORK/f.snap.tmp" ] || fail "a refused backup left a file"
echo "ok  a follower alone refuses and names the leader: ${out%%$'\n'*}"

# A user without @admin: NOPERM.
set +e
out=$(REDISCLI_AUTH=secret-reader "$RAFTKV" backup --user reader --from "127.0.0.1:${CPORT[$L]}" "$WORK/r.snap" 2>&1)
rc=$?
set -e
expect "backup as a user without @admin exits" "$rc" 1
[[ "$out" == *NOPERM* ]] || fail "no NOPERM for a reader: $out"
echo "ok  a reader is refused: ${out%%$'\n'*}"

# The leader's memory while it streams the image.
LPID=${PID[$L]}
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
BASE_RSS=$(rss_kb "$LPID")
(while :; do rss_kb "$LPID" >>"$WORK/rss"; sleep 0.05; done) &
SAMPLER_PID=$!

ACKED=$(tail -n 1 "$WORK/acked")   # every write up to here was acknowledged before the backup
t0=$(date +%s%N)
"$RAFTKV" backup --from "127.0.0.1:${TPORT[$F]},127.0.0.1:${TPORT[$L]}" "${TLS[@]}" --user backup \
  --pass-file "$WORK/backup.pass" "$WORK/b.snap" >"$WORK/backup.out" 2>&1 ||
  fail "raftkv backup failed: $(cat "$WORK/backup.out")"
ms=$((($(date +%s%N) - t0) / 1000000))
backup_stop_sampler
cat "$WORK/backup.out"
grep -q "trying the next address" "$WORK/backup.out" || fail "the tool did not move on from the follower"
[ ! -e "$WORK/b.snap.tmp" ] || fail "b.snap.tmp left behind"
SIZE=$(stat -c %s "$WORK/b.snap")
PEAK_RSS=$(sort -n "$WORK/rss" | tail -n 1)
GROWTH=$((PEAK_RSS - BASE_RSS))
echo "ok  backup of $SIZE bytes in $ms ms (w:1..w:$ACKED acknowledged before it); leader RSS ${BASE_RSS} kB before, peak ${PEAK_RSS} kB ($(wc -l <"$WORK/rss") samples)"
backup_check_size "$WORK/b.snap"
# Bounded by the chunks in flight (4 of 1 MiB, each copied into the reply
# and the connection's output), not by the image: under 32 MB, which for
# the 200,000 keys is under half the image.
[ "$GROWTH" -lt 32768 ] || fail "the leader's RSS grew by $GROWTH kB while streaming a $SIZE-byte image"
echo "ok  the leader's RSS grew by $GROWTH kB while streaming $((SIZE / 1048576)) MB (bound: 32 MB)"

# The map's hash key (the cluster's secret, map.h) is not in the file: not
# as map_key metadata, not its bytes anywhere. The key from the data
# directory of the member that took the backup: its snapshot's map_key
# entry, or the cluster-id entry in its log.
hash_key() { # hash_key DIR CLUSTER_ID: the key as 32 hex digits, or nothing
  "$PY" - "$1" "$2" <<'PY'
import glob, re, sys
d, cid = sys.argv[1], sys.argv[2]
for f in sorted(glob.glob(d + "/snap-*.snap")):
    data = open(f, "rb").read(1 << 16)
    i = data.find(b"\x07map_key\x10\x00\x00\x00")
    if i >= 0:
        print(data[i + 12:i + 28].hex())
        sys.exit(0)
for f in sorted(glob.glob(d + "/wal-*.log")):
    m = re.search(rb'\{"h":"([0-9a-f]{32})","id":"' + cid.encode() + rb'"', open(f, "rb").read())
    if m:
        print(m.group(1).decode())
        sys.exit(0)
PY
}
A_KEY=$(hash_key "$WORK/n$L" "$A_ID")
[[ "$A_KEY" =~ ^[0-9a-f]{32}$ ]] || fail "no hash key in n$L's snapshot or log"
"$PY" - "$WORK/b.snap" "$A_KEY" <<'PY' || fail "the backup holds the cluster's hash key"
import sys
data = open(sys.argv[1], "rb").read()
key = bytes.fromhex(sys.argv[2])
bad = [what for what, b in (("map_key", b"map_key"), ("the key's bytes", key), ("the key in hex", sys.argv[2].encode()))
       if b in data]
sys.exit(f"found {', '.join(bad)}" if bad else 0)
PY
echo "ok  the backup holds no hash key (A's, from n$L's snapshot or log, is not in its $SIZE bytes)"

backup_stop_writer "$ACKED"

# --- a damaged copy and a non-empty directory are refused ------------------------------
cp "$WORK/b.snap" "$WORK/bad.snap"
"$PY" - "$WORK/bad.snap" <<'PY'
import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(0, 2)
    mid = f.tell() // 2
    f.seek(mid)
    b = f.read(1)
    f.seek(mid)
    f.write(bytes([b[0] ^ 0x5a]))
PY
set +e
out=$("$RAFTKV" restore "$WORK/bad.snap" --data-dir "$WORK/bad" --id n1 --peers "$PEERS" --cluster-token t 2>&1)
rc=$?
set -e
expect "restore of a damaged file exits" "$rc" 1
[[ "$out" == *"is damaged"*"CRC"*"refused, nothing was written"* ]] || fail "unclear refusal: $out"
[ ! -e "$WORK/bad" ] && ! ls -d "$WORK"/bad.restore-* >/dev/null 2>&1 || fail "a refused restore left a directory"
echo "ok  a flipped byte is refused: $out"
mkdir -p "$WORK/full" && touch "$WORK/full/x"
set +e
out=$("$RAFTKV" restore "$WORK/b.snap" --data-dir "$WORK/full" --id n1 --peers "$PEERS" --cluster-token t 2>&1)
rc=$?
set -e
expect "restore into a non-empty directory exits" "$rc" 1
[ "$(ls "$WORK/full")" = x ] || fail "the non-empty directory changed"
echo "ok  a non-empty directory is refused: $out"

# --- cluster B from the file -------------------------------------------------------------
for i in 1 2 3; do BCPORT[$i]=$(free_port); BPPORT[$i]=$(free_port); done
BPEERS="n1=127.0.0.1:${BPPORT[1]},n2=127.0.0.1:${BPPORT[2]},n3=127.0.0.1:${BPPORT[3]}"
for i in 1 2 3; do
  "$RAFTKV" restore "$WORK/b.snap" --data-dir "$WORK/b$i" --id "n$i" --peers "$BPEERS" \
    --cluster-token "test-restore" >"$WORK/restore$i.out" 2>&1 || fail "restore n$i: $(cat "$WORK/restore$i.out")"
done
head -n 1 "$WORK/restore1.out"
start_b() { # start_b I DATADIR
  "$RAFTKV" serve --id "n$1" --peers "$BPEERS" --listen "127.0.0.1:${BCPORT[$1]}" --data-dir "$2" \
    --election-timeout-ms 300 --heartbeat-ms 50 --certs-dir "$WORK/certs" >>"$WORK/b$1.log" 2>&1 &
  BPID[$1]=$!
}
bcli() { local i=$1; shift; redis-cli -p "${BCPORT[$i]}" "$@" 2>&1 || true; }
start_b 1 "$WORK/b1"
start_b 2 "$WORK/b2"
deadline=$((SECONDS + 30))
until [ "$(bcli 1 LEADER)" != "" ] && [ "$(bcli 1 LEADER)" = "$(bcli 2 LEADER)" ]; do
  [ $SECONDS -lt $deadline ] || fail "cluster B elected no leader in 30 s: $(tail -n 5 "$WORK/b1.log")"
  sleep 0.2
done
B_ID=$(bcli 1 INFO | tr -d '\r' | awk -F: '$1 == "cluster_id" {print $2}')
B_ID2=$(bcli 2 INFO | tr -d '\r' | awk -F: '$1 == "cluster_id" {print $2}')
[[ "$B_ID" =~ ^[0-9a-f]{32}$ ]] || fail "cluster B's id '$B_ID'"
expect "n1 and n2 of B agree on the cluster id" "$B_ID2" "$B_ID"
[ "$B_ID" != "$A_ID" ] || fail "the restored cluster kept the old cluster id $A_ID"
echo "ok  cluster B's id $B_ID differs from A's $A_ID"

backup_check_restored "${BCPORT[1]}" "$ACKED"
expect "B takes writes" "$(bcli 1 SET after-restore yes)" OK

# B has a new hash key (restore derived it from the file and B's id and put
# it in each member's snapshot), which both members hash under: a SCAN whose calls alternate between n1 and n2 returns
# every key (cursors mean the same on both only under one key).
B_KEY=
deadline=$((SECONDS + 15))
until [ -n "$B_KEY" ]; do
  B_KEY=$(hash_key "$WORK/b1" "$B_ID")
  [ $SECONDS -lt $deadline ] || fail "cluster B has no hash key"
  [ -n "$B_KEY" ] || sleep 0.2
done
[ "$B_KEY" != "$A_KEY" ] || fail "cluster B has A's hash key"
deadline=$((SECONDS + 15))
until [ "$(bcli 1 INFO | tr -d '\r' | awk -F: '$1 == "applied_index" {print $2}')" = \
        "$(bcli 2 INFO | tr -d '\r' | awk -F: '$1 == "applied_index" {print $2}')" ]; do
  [ $SECONDS -lt $deadline ] || fail "B's n1 and n2 did not reach the same applied index"
  sleep 0.2
done
"$PY" - "${BCPORT[1]}" "${BCPORT[2]}" <<'PY' || fail "SCAN across B's members"
import sys
import redis
rs = [redis.Redis(port=int(p)) for p in sys.argv[1:3]]
total = rs[0].dbsize()
seen, cursor, calls = set(), 0, 0
while True:
    cursor, keys = rs[calls % 2].scan(cursor, count=1000)
    seen.update(keys)
    calls += 1
    if cursor == 0:
        break
print(f"    SCAN alternating n1/n2: {len(seen)} distinct keys of {total} in {calls} calls")
sys.exit(0 if len(seen) == total else f"{len(seen)} keys seen, DBSIZE {total}")
PY
echo "ok  B has its own hash key ($B_KEY is not A's), and SCAN cursors carry across its members"

# RAFTKV.BACKUP's replies, byte for byte, on B's leader (its first backup: id 1).
BL=$(bcli 1 LEADER)
BL=${BL#n}
exec 3<>"/dev/tcp/127.0.0.1/${BCPORT[$BL]}"
read_lines() { local n line out=; for n in $(seq 1 "$1"); do line=; IFS= read -r -t 30 line <&"$2" || true; out+="${out:+|}${line%$'\r'}"; done; printf '%s' "$out"; }
printf 'RAFTKV.BACKUP START\r\n' >&3
got=$(read_lines 13 3)
# A second image open on another connection: a third is refused (--max-backups 2).
exec 4<>"/dev/tcp/127.0.0.1/${BCPORT[$BL]}"
printf 'RAFTKV.BACKUP START\r\n' >&4
read_lines 13 4 >/dev/null
set +e
out=$("$RAFTKV" backup --from "127.0.0.1:${BCPORT[$BL]}" "$WORK/third.snap" 2>&1)
rc=$?
set -e
expect "a third backup at once exits" "$rc" 1
[[ "$out" == *"ERR backup refused: 2 backups are open (--max-backups 2)"* ]] || fail "third backup: $out"
exec 4<&- 4>&-
printf 'RAFTKV.BACKUP READ 1 0 4\r\nRAFTKV.BACKUP END 1\r\nRAFTKV.BACKUP READ 1 0 4\r\n' >&3
got+="|$(read_lines 4 3)"
exec 3<&- 3>&-
[[ "$got" =~ ^'*8|$2|id|:1|$5|bytes|:'[0-9]+'|$5|index|:'[0-9]+'|$4|term|:'[0-9]+'|$4|RKVS|+OK|-ERR no such backup on this connection'$ ]] ||
  fail "RAFTKV.BACKUP replies: $got"
echo "ok  RAFTKV.BACKUP START, READ, END replies: $got"

# --- an old member among the new cluster's members is refused -----------------------------
kill_node 3 TERM
"$RAFTKV" serve --id n3 --peers "$BPEERS" --listen "127.0.0.1:${BCPORT[3]}" --data-dir "$WORK/n3" \
  --election-timeout-ms 300 --heartbeat-ms 50 --certs-dir "$WORK/certs" >>"$WORK/x3.log" 2>&1 &
XPID=$!
deadline=$((SECONDS + 15))
until grep -q "reason=cluster_id_mismatch" "$WORK/b1.log" "$WORK/b2.log" 2>/dev/null &&
  grep -q "reason=cluster_id_mismatch" "$WORK/x3.log"; do
  [ $SECONDS -lt $deadline ] || fail "the old member was not refused by cluster B: $(tail -n 5 "$WORK/x3.log")"
  sleep 0.2
done
echo "ok  an old member is refused both ways: $(grep -h -m1 'reason=cluster_id_mismatch' "$WORK/b1.log" "$WORK/b2.log" | head -n 1 | cut -c1-200)"
expect "B's id is unchanged" "$(bcli 1 INFO | tr -d '\r' | awk -F: '$1 == "cluster_id" {print $2}')" "$B_ID"
expect "B still serves its data" "$(bcli 2 GET w:1)" 1
kill -9 "$XPID" 2>/dev/null || true
wait "$XPID" 2>/dev/null || true
XPID=

# B's own n3 joins and holds the restored state.
start_b 3 "$WORK/b3"
deadline=$((SECONDS + 30))
until [ "$(bcli 3 GET after-restore)" = yes ]; do
  [ $SECONDS -lt $deadline ] || fail "B's n3 did not catch up: $(tail -n 5 "$WORK/b3.log")"
  sleep 0.2
done
K3=$(bcli 3 INFO keyspace | tr -d '\r' | sed -n 's/^db0:keys=\([0-9]*\).*/\1/p')
[ "${K3:-0}" -ge $((KEYS + ACKED)) ] || fail "B's n3 holds ${K3:-0} keys, want at least $((KEYS + ACKED))"
echo "ok  B's n3 holds $K3 keys"
echo "PASS test_server_backup"

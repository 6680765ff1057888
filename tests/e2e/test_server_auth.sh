#!/usr/bin/env bash
# test_server_auth.sh - client authentication of `raftkv serve` as Redis 7
# answers it, with redis-cli, redis-benchmark, redis-py and raw RESP bytes:
# NOAUTH, WRONGPASS, HELLO AUTH, users of an --aclfile at three levels
# (read-only, read-write, admin), --requirepass-file, protected mode from a
# client socket bound to 127.0.0.2, --protected-mode no, refused start-ups
# (files other users can read, empty, bad lines), and the same exchanges
# side by side with Debian's redis-server when it is installed.
#   tests/e2e/test_server_auth.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
PY=/usr/bin/python3
AC="$PY $(cd "$(dirname "$0")" && pwd)/auth_client.py"
EXTRA=()
REDIS_DIR=
stop_extra() {
  local p
  for p in "${EXTRA[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null || true; done
  cleanup
}
trap stop_extra EXIT
umask 077

pick_ports
cat >"$WORK/users.acl" <<ACL
user default on >admin-pass ~* +@all
user ro on >ro-pass ~* +@read +@connection
user rw on >rw-pass ~* +@all -@admin
user off1 off >off-pass ~* +@all
ACL
chmod 600 "$WORK/users.acl"

# --- Refused start-ups: each exits 64 with a clear reason ----------------------------
refused() { # refused WHAT WANT-IN-STDERR OPTIONS...
  local what=$1 want=$2 rc=0
  shift 2
  "$RAFTKV" serve --id n1 --peers "n1=127.0.0.1:${PPORT[1]}" --listen "127.0.0.1:${CPORT[1]}" --in-memory \
    "$@" >"$WORK/refused.out" 2>&1 || rc=$?
  [ $rc = 64 ] || fail "$what: exit $rc, want 64 ($(cat "$WORK/refused.out"))"
  grep -qF -- "$want" "$WORK/refused.out" || fail "$what: stderr '$(cat "$WORK/refused.out")' lacks '$want'"
  echo "ok  refused: $what"
}
cp "$WORK/users.acl" "$WORK/open.acl"; chmod 644 "$WORK/open.acl"
refused "an ACL file every user can read" "readable by every user" --aclfile "$WORK/open.acl"
printf 'user ro on >x ~* +@read\nuser rw on >y ~* +@sometimes\n' >"$WORK/bad.acl"; chmod 600 "$WORK/bad.acl"
refused "a bad ACL line, named by number" "$WORK/bad.acl:2: unknown command category '@sometimes'" \
  --aclfile "$WORK/bad.acl"
: >"$WORK/empty.pw"; chmod 600 "$WORK/empty.pw"
refused "an empty password file" "empty" --requirepass-file "$WORK/empty.pw"
printf 'pw\n' >"$WORK/open.pw"; chmod 644 "$WORK/open.pw"
refused "a password file every user can read" "readable by every user" --requirepass-file "$WORK/open.pw"
refused "a missing password file" "cannot read" --requirepass-file "$WORK/nonexistent.pw"
refused "a password on the command line" "--requirepass-file FILE" --requirepass secret
refused "a bad --protected-mode" "bad value for --protected-mode" --protected-mode maybe

# --- A 3-member cluster with users ----------------------------------------------------
export REDISCLI_AUTH=admin-pass # the default user is the admin; cli() and wait_leader use it
for i in 1 2 3; do start_node "$i" --aclfile "$WORK/users.acl"; done
L=$(wait_leader)
F1=$(( L % 3 + 1 ))
echo "cluster up: leader n$L, follower n$F1"

replies() { $AC replies "$@"; } # replies PORT [--bind IP] < commands: one repr()'d reply a line
as() { local u=$1 p=$2 i=$3; shift 3; redis-cli --no-auth-warning -p "${CPORT[$i]}" --user "$u" --pass "$p" "$@" 2>&1 || true; }

got=$(printf 'GET k\nPING\nGET\nHELLO 3\nAUTH wrong\nAUTH ro wrong\nAUTH off1 off-pass\nHELLO 3 AUTH rw wrong\nQUIT\n' |
  replies "${CPORT[$F1]}")
want="b'-NOAUTH Authentication required.\\\\r\\\\n'
b'-NOAUTH Authentication required.\\\\r\\\\n'
b\"-ERR wrong number of arguments for 'get' command\\\\r\\\\n\"
b'-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\\\\r\\\\n'
b'-WRONGPASS invalid username-password pair or user is disabled.\\\\r\\\\n'
b'-WRONGPASS invalid username-password pair or user is disabled.\\\\r\\\\n'
b'-WRONGPASS invalid username-password pair or user is disabled.\\\\r\\\\n'
b'-WRONGPASS invalid username-password pair or user is disabled.\\\\r\\\\n'
b'+OK\\\\r\\\\n'"
want=$(printf '%b' "$want")
[ "$got" = "$want" ] || fail "before authentication: got
$got
want
$want"
echo "ok  NOAUTH before AUTH (arity first), WRONGPASS for a wrong password, a wrong user and a user that is off, QUIT allowed"

got=$(printf 'HELLO 3 AUTH rw rw-pass SETNAME app1\nACL WHOAMI\nSET k v1\nGET k\n' | replies "${CPORT[$F1]}" | sed -n '2,4p')
want=$(printf '%s\n' "b'\$2\\\\r\\\\nrw\\\\r\\\\n'" "b'+OK\\\\r\\\\n'" "b'\$2\\\\r\\\\nv1\\\\r\\\\n'")
want=$(printf '%b' "$want")
[ "$got" = "$want" ] || fail "HELLO AUTH: got
$got
want
$want"
echo "ok  HELLO 3 AUTH user pass SETNAME: authenticated as rw, writes through a follower"

expect "read-only user reads" "$(as ro ro-pass $F1 GET k)" v1
expect "read-only user cannot SET" "$(as ro ro-pass $F1 SET k v2)" \
  "NOPERM this user has no permissions to run the 'set' command"
expect "read-only user cannot DEL" "$(as ro ro-pass $L DEL k)" \
  "NOPERM this user has no permissions to run the 'del' command"
expect "read-write user SETs" "$(as rw rw-pass $L SET k v3)" OK
expect "read-write user CAS" "$(as rw rw-pass $L CAS k v3 v4)" 1
expect "read-write user is refused an admin command" "$(as rw rw-pass $L CONFIG GET save)" \
  "NOPERM this user has no permissions to run the 'config|get' command"
expect "admin user runs it" "$(as default admin-pass $L CONFIG GET appendonly | tr '\n' ' ')" "appendonly yes "
expect "the value after all that" "$(as ro ro-pass $F1 GET k)" v4
expect "INFO shows the connection's user" "$(as rw rw-pass $L INFO | tr -d '\r' | grep '^client_user:')" \
  "client_user:rw"
expect "INFO shows the auth mode" "$(cli $L INFO | tr -d '\r' | grep '^auth:')" "auth:aclfile"
list=$(cli $L CLIENT LIST)
echo "$list" | grep -q ' user=default ' || fail "CLIENT LIST has no user field: $list"
echo "ok  CLIENT LIST shows each connection's user"
grep -q 'event=auth_failed client=[0-9]* addr=127.0.0.1:[0-9]* user="ro"' "$WORK/n$F1.log" ||
  fail "no auth_failed line with the address and user in n$F1.log"
echo "ok  failed authentications are logged with the client's address"

# redis-benchmark with --user and -a
out=$(redis-benchmark -p "${CPORT[$L]}" --user rw -a rw-pass -t set,get -n 4000 -c 10 -P 8 -q 2>&1 || true)
echo "$out" | grep -q 'SET: [0-9.]* requests per second' || fail "redis-benchmark --user rw: $out"
echo "$out" | grep -q 'GET: [0-9.]* requests per second' || fail "redis-benchmark --user rw: $out"
echo "ok  redis-benchmark --user rw -a ... runs SET and GET"
rc=0; out=$(redis-benchmark -p "${CPORT[$L]}" --user rw -a wrong -t get -n 100 -q 2>&1) || rc=$?
[ $rc != 0 ] && echo "$out" | grep -q WRONGPASS || fail "redis-benchmark with a wrong password: rc=$rc $out"
echo "ok  redis-benchmark with a wrong password stops with WRONGPASS"

# redis-py
got=$($AC redispy "${CPORT[$F1]}" 2>&1)
want="noauth get AuthenticationError: Authentication required.
wrongpass get ResponseError: WRONGPASS invalid username-password pair or user is disabled.
rw set True
rw get b'v1'
rw config NoPermissionError: this user has no permissions to run the 'config|get' command
ro get b'v1'
ro set NoPermissionError: this user has no permissions to run the 'set' command
rw pipeline b'49'
default whoami 'default'"
[ "$got" = "$want" ] || fail "redis-py: got
$got
want
$want"
echo "ok  redis-py: NOAUTH, WRONGPASS, per-user permissions, a pipeline"

# --- The same exchanges with redis-server 7 and the same ACL file ----------------------
if command -v redis-server >/dev/null; then
  RP=$(free_port)
  REDIS_DIR="$WORK/redis"; mkdir -p "$REDIS_DIR"
  redis-server --port "$RP" --bind 127.0.0.1 --dir "$REDIS_DIR" --save '' --appendonly no \
    --aclfile "$WORK/users.acl" >"$WORK/redis.log" 2>&1 &
  EXTRA+=($!)
  for _ in $(seq 1 50); do redis-cli -p "$RP" PING >/dev/null 2>&1 && break; sleep 0.1; done
  # Not compared: an unknown command's error, which raftkv keeps shorter
  # ("-ERR unknown command 'FROB'", without Redis's ", with args beginning with: ").
  seq_file="$WORK/compare.txt"
  cat >"$seq_file" <<'SEQ'
GET k
PING
GET
CLIENT FOO
HELLO
HELLO 3 SETNAME x
AUTH
AUTH a b c
AUTH wrong
AUTH ro wrong
AUTH off1 off-pass
HELLO 3 AUTH ro wrong
HELLO 2 AUTH ro
HELLO x
HELLO 4
HELLO 3 FOO
AUTH ro ro-pass
SET k v
DEL k
CONFIG GET save
ACL WHOAMI
CLIENT ID x
EXISTS nosuchkey
GET nosuchkey
AUTH rw rw-pass
ACL WHOAMI
CONFIG GET save
CLIENT LIST
COMMAND COUNT x
COMMAND INFO get
COMMAND INFO nosuch
SELECT 0
ECHO hi
PING a b
AUTH default admin-pass
ACL WHOAMI
SEQ
  $AC compare "${CPORT[$L]}" "$RP" <"$seq_file" >"$WORK/compare.out" || fail "replies differ from redis-server's:
$(grep DIFF "$WORK/compare.out")"
  echo "ok  $(grep -c '^same' "$WORK/compare.out") replies byte-identical to redis-server $(redis-server --version | awk '{print $3}')"

  # Protected mode's text, raftkv's naming its own options.
  RP2=$(free_port)
  redis-server --port "$RP2" --bind 127.0.0.1 --protected-mode yes --dir "$REDIS_DIR" --save '' \
    --appendonly no >"$WORK/redis2.log" 2>&1 &
  EXTRA+=($!)
  for _ in $(seq 1 50); do redis-cli -p "$RP2" PING >/dev/null 2>&1 && break; sleep 0.1; done
  redis_denied=$(echo PING | replies "$RP2" --bind 127.0.0.2 | head -1)
else
  echo "skip: redis-server not installed (bash scripts/deps.sh bench), no side-by-side comparison"
  redis_denied=
fi

# --- --requirepass-file, on a one-member cluster ----------------------------------------
printf 'pw with spaces\n' >"$WORK/pw"; chmod 600 "$WORK/pw"
P1=$(free_port); P2=$(free_port)
"$RAFTKV" serve --id s1 --peers "s1=127.0.0.1:$P2" --listen "127.0.0.1:$P1" --in-memory \
  --requirepass-file "$WORK/pw" >>"$WORK/s1.log" 2>&1 &
EXTRA+=($!)
for _ in $(seq 1 100); do [ "$(REDISCLI_AUTH='pw with spaces' redis-cli -p "$P1" LEADER 2>/dev/null)" = s1 ] && break; sleep 0.1; done
got=$(printf 'SET a 1\nAUTH default wrong\nAUTH pw\nAUTH pw with spaces\nAUTH default pw with spaces\nSET a 1\nGET a\n' |
  replies "$P1" | tr '\n' '|')
# "AUTH pw with spaces" is three words: user "pw", password "with", then one too many.
want="b'-NOAUTH Authentication required.\\\\r\\\\n'|b'-WRONGPASS invalid username-password pair or user is disabled.\\\\r\\\\n'|b'-WRONGPASS invalid username-password pair or user is disabled.\\\\r\\\\n'|b'-ERR syntax error\\\\r\\\\n'|"
want=$(printf '%b' "$want")
[ "${got:0:${#want}}" = "$want" ] || fail "requirepass: got $got"
out=$(REDISCLI_AUTH='pw with spaces' redis-cli -p "$P1" SET a 2 2>&1)
expect "redis-cli with the password from --requirepass-file" "$out" OK
out=$(redis-benchmark -p "$P1" -a 'pw with spaces' -t set -n 2000 -c 5 -q 2>&1 || true)
echo "$out" | grep -q 'SET: [0-9.]* requests per second' || fail "redis-benchmark -a: $out"
echo "ok  redis-benchmark -a with the password"
got=$($PY -c "
import redis
try:
    redis.Redis(port=$P1, password='nope').get('a'); print('no error')
except redis.exceptions.ResponseError as e: print(type(e).__name__ + ':', e)
print(redis.Redis(port=$P1, password='pw with spaces').get('a'))")
expect "redis-py with and without the password" "$(echo "$got" | tr '\n' '|')" \
  "ResponseError: WRONGPASS invalid username-password pair or user is disabled.|b'2'|"

# --- Protected mode ------------------------------------------------------------------
P3=$(free_port); P4=$(free_port)
"$RAFTKV" serve --id o1 --peers "o1=127.0.0.1:$P4" --listen "127.0.0.1:$P3" --in-memory >>"$WORK/o1.log" 2>&1 &
EXTRA+=($!)
for _ in $(seq 1 100); do [ "$(redis-cli -p "$P3" LEADER 2>/dev/null)" = o1 ] && break; sleep 0.1; done
got=$(printf 'PING\nPING\n' | replies "$P3" --bind 127.0.0.2)
first=$(echo "$got" | head -1)
case "$first" in
  "b\"-DENIED raftkv is running in protected mode because protected mode is enabled and no password is set for the default user."*"'--protected-mode no'"*) ;;
  *) fail "protected mode from 127.0.0.2: $got" ;;
esac
[ "$(echo "$got" | sed -n 2p)" = "b'<closed>'" ] || fail "the refused client was not closed: $got"
echo "ok  protected mode: a client from 127.0.0.2 gets -DENIED and is closed"
if [ -n "$redis_denied" ]; then
  # Redis's text with our name and options: the same up to the solutions.
  ours=$(echo "$first" | sed 's/raftkv/Redis/g; s/solutions: .*//')
  theirs=$(echo "$redis_denied" | sed 's/solutions: .*//')
  [ "$ours" = "$theirs" ] || fail "protected-mode text differs from Redis's: $ours / $theirs"
  echo "ok  the protected-mode text is Redis's (but for naming our options)"
fi
expect "protected mode: 127.0.0.1 is served" "$(echo PING | replies "$P3")" "b'+PONG\\r\\n'"
grep -q 'event=client_refused_protected_mode addr=127.0.0.2:' "$WORK/o1.log" || fail "no log line for the refusal"
echo "ok  the refusal is logged with the address"
P5=$(free_port); P6=$(free_port)
"$RAFTKV" serve --id o2 --peers "o2=127.0.0.1:$P6" --listen "127.0.0.1:$P5" --in-memory --protected-mode no \
  >>"$WORK/o2.log" 2>&1 &
EXTRA+=($!)
for _ in $(seq 1 100); do [ "$(redis-cli -p "$P5" LEADER 2>/dev/null)" = o2 ] && break; sleep 0.1; done
expect "--protected-mode no serves 127.0.0.2" "$(echo PING | replies "$P5" --bind 127.0.0.2)" "b'+PONG\\r\\n'"
echo "PASS test_server_auth"

#!/usr/bin/env bash
# test_server_tls.sh - TLS on the client port of `raftkv serve` (--tls-port
# and Redis's --tls-* options), with Redis's own clients: redis-cli --tls with
# and without a client certificate, redis-benchmark --tls, redis-py with
# ssl=True (a pipeline, and a large one that outruns the server's read chunk
# and its per-client limit), TLS 1.2 pinned. Refused: no certificate when
# --tls-auth-clients is yes, another CA's certificate, a plaintext client and
# garbage on the TLS port - each logged with its address, and the member
# keeps serving. --tls-auth-clients optional takes a client without a
# certificate; --listen HOST:0 closes the plain port; a bad key file stops
# the start with the file named.
#   tests/e2e/test_server_tls.sh BUILD
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
PY=/usr/bin/python3 # Debian's, with python3-redis (scripts/deps.sh test)
"$PY" -c 'import redis' 2>/dev/null || bash "$(dirname "$0")/../../scripts/deps.sh" test
"$PY" -c 'import redis' 2>/dev/null || fail "redis-py missing for $PY (bash scripts/deps.sh test)"
command -v redis-benchmark >/dev/null || fail "redis-benchmark missing (bash scripts/deps.sh test)"

T=$WORK/tls
"$RAFTKV" certs --dir "$T" --members n1,n2,n3 --clients alice >/dev/null
"$RAFTKV" certs --dir "$WORK/other" --members n1 --clients mallory >/dev/null
[ -f "$T/alice.crt" ] && [ -f "$WORK/other/mallory.crt" ] || fail "raftkv certs made no certificates"

pick_ports
declare -a TPORT
for i in 1 2 3; do
  TPORT[$i]=$(free_port)
  while [ "${TPORT[$i]}" = "${CPORT[$i]}" ] || [ "${TPORT[$i]}" = "${PPORT[$i]}" ]; do TPORT[$i]=$(free_port); done
done
tls_opts() { # tls_opts I: node I's TLS options
  echo --tls-port "${TPORT[$1]}" --tls-cert-file "$T/n$1.crt" --tls-key-file "$T/n$1.key" \
    --tls-ca-cert-file "$T/ca.crt"
}
for i in 1 2 3; do start_node "$i" $(tls_opts "$i"); done
leader=$(wait_leader)
f1=$(( leader % 3 + 1 ))
f2=$(( (leader + 1) % 3 + 1 ))
echo "leader n$leader, TLS ports ${TPORT[*]}"

# redis-cli over TLS; tcli I [--nocert|--other] ARGS...
tcli() {
  local i=$1 who=(--cert "$T/alice.crt" --key "$T/alice.key")
  shift
  case "${1:-}" in
    --nocert) who=(); shift ;;
    --other) who=(--cert "$WORK/other/mallory.crt" --key "$WORK/other/mallory.key"); shift ;;
  esac
  timeout 10 redis-cli -p "${TPORT[$i]}" --tls --cacert "$T/ca.crt" "${who[@]}" "$@" 2>&1 || true
}
tls_failures() { grep -c 'event=client_tls_failed' "$WORK/n$1.log" || true; }

expect "SET over TLS on the leader" "$(tcli "$leader" SET greeting hello)" "OK"
expect "GET over TLS on a follower" "$(tcli "$f1" GET greeting)" "hello"
expect "the plain port still serves beside it" "$(cli "$f2" GET greeting)" "hello"
expect "INFO names the TLS port" "$(info_field "$leader" tls_port)" "${TPORT[$leader]}"

# --tls-auth-clients yes (the default): no certificate, or another CA's, is refused.
before=$(tls_failures "$f1")
out=$(tcli "$f1" --nocert GET greeting)
[[ "$out" != *hello* ]] || fail "a client without a certificate read a key: $out"
echo "ok  no client certificate: refused ($out)"
out=$(tcli "$f1" --other GET greeting)
[[ "$out" != *hello* ]] || fail "a client with another CA's certificate read a key: $out"
echo "ok  another CA's client certificate: refused ($out)"
sleep 0.2
[ "$(tls_failures "$f1")" -ge $((before + 2)) ] || fail "the refused handshakes were not logged"
grep 'event=client_tls_failed' "$WORK/n$f1.log" | grep -q 'addr=127.0.0.1:[0-9]' ||
  fail "the failure log line does not give the client's address"
grep 'event=client_tls_failed' "$WORK/n$f1.log" | grep -q 'certificate' ||
  fail "the failure log line does not say the certificate was the reason"
echo "ok  refused handshakes logged with address and reason"

# A plaintext Redis client on the TLS port: no answer, closed, logged.
before=$(tls_failures "$leader")
reply=$(raw "${TPORT[$leader]}" '*1\r\n$4\r\nPING\r\n')
[ -z "$reply" ] || fail "a plaintext client on the TLS port got an answer: '$reply'"
out=$(timeout 10 redis-cli -p "${TPORT[$leader]}" PING 2>&1 || true)
[[ "$out" != *PONG* ]] || fail "redis-cli without --tls got PONG on the TLS port"
# Garbage: random bytes, and a TLS record header with a huge length.
head -c 65536 /dev/urandom >"$WORK/junk"
( exec 3<>"/dev/tcp/127.0.0.1/${TPORT[$leader]}"; cat "$WORK/junk" >&3 2>/dev/null || true; sleep 0.2 ) || true
raw "${TPORT[$leader]}" '\x16\x03\x01\xff\xff\x01\x00\xff\xfb' >/dev/null || true
sleep 0.2
[ "$(tls_failures "$leader")" -ge $((before + 3)) ] || fail "plaintext and garbage on the TLS port were not logged"
grep 'event=client_tls_failed' "$WORK/n$leader.log" | grep -q 'wrong version number\|unexpected\|record\|length' ||
  fail "the plaintext client's failure gives no TLS reason"
kill -0 "${PID[$leader]}" 2>/dev/null || fail "the leader died of garbage on its TLS port"
expect "the leader serves TLS after plaintext and garbage" "$(tcli "$leader" SET after junk)" "OK"
expect "and plain clients" "$(cli "$leader" GET after)" "junk"

# Many bad connections at once: all counted, but the log is rate-limited.
failed0=$(info_field "$leader" tls_handshake_failures)
logged0=$(tls_failures "$leader")
"$PY" - "${TPORT[$leader]}" <<'EOF' || fail "could not open 60 connections"
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) for _ in range(60)]
for s in socks:
    s.sendall(b"GET x\r\n")
for s in socks:
    try:
        s.recv(100)  # the alert, then end of file
    except OSError:
        pass
    s.close()
EOF
sleep 1.5 # then a line says how many were not logged
failed1=$(info_field "$leader" tls_handshake_failures)
logged1=$(tls_failures "$leader")
[ $((failed1 - failed0)) -ge 60 ] || fail "INFO counted $((failed1 - failed0)) of 60 failed handshakes"
[ $((logged1 - logged0)) -le 30 ] || fail "60 bad connections in a burst wrote $((logged1 - logged0)) log lines (rate limit)"
grep 'event=log_suppressed' "$WORK/n$leader.log" | grep -q 'of=client_tls_failed suppressed=[1-9]' ||
  fail "no log line says how many failures it did not log"
echo "ok  60 bad connections: all counted in INFO, $((logged1 - logged0)) log lines"

# redis-benchmark over TLS, with a client certificate.
bench=$(timeout 120 redis-benchmark -p "${TPORT[$leader]}" --tls --cacert "$T/ca.crt" --cert "$T/alice.crt" \
  --key "$T/alice.key" -t set,get -n 20000 -c 20 -r 1000 --csv 2>&1) || fail "redis-benchmark --tls failed: $bench"
[[ "$bench" != *rror* ]] || fail "redis-benchmark --tls reported an error: $bench"
grep -q '^"SET","[1-9]' <<<"$bench" || fail "redis-benchmark --tls: no SET figure: $bench"
grep -q '^"GET","[1-9]' <<<"$bench" || fail "redis-benchmark --tls: no GET figure: $bench"
echo "ok  redis-benchmark --tls -n 20000: $(tr '\n' ' ' <<<"$bench" | cut -c1-160)"
bench=$(timeout 120 redis-benchmark -p "${TPORT[$leader]}" --tls --cacert "$T/ca.crt" --cert "$T/alice.crt" \
  --key "$T/alice.key" -t set -n 20000 -c 10 -P 16 --csv 2>&1) || fail "redis-benchmark --tls -P 16 failed: $bench"
grep -q '^"SET","[1-9]' <<<"$bench" || fail "redis-benchmark --tls -P 16: no SET figure: $bench"
echo "ok  redis-benchmark --tls -P 16"
expect "INFO counts the TLS handshakes" "$([ "$(info_field "$leader" tls_handshakes)" -ge 30 ] && echo yes)" "yes"

# redis-py, as applications use it: ssl=True, a pipeline, then a pipeline of
# 4000 commands in one write (more plaintext than one read chunk, past the
# per-client pending limit), TLS 1.2 pinned, and protected mode's error.
"$PY" - "${TPORT[$f1]}" "$T" <<'EOF' || fail "redis-py over TLS failed"
import socket, ssl, sys
import redis
port, d = int(sys.argv[1]), sys.argv[2]
r = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=d + "/ca.crt",
                ssl_certfile=d + "/alice.crt", ssl_keyfile=d + "/alice.key",
                ssl_cert_reqs="required", ssl_check_hostname=True, socket_timeout=10)
assert r.set("py", "v1") is True
assert r.get("py") == b"v1", r.get("py")
p = r.pipeline(transaction=False)
for i in range(50):
    p.set("pk%d" % i, "val%d" % i)
    p.get("pk%d" % i)
res = p.execute()
assert res == [x for i in range(50) for x in (True, b"val%d" % i)], res
big = "x" * 100
p = r.pipeline(transaction=False)
for i in range(2000):
    p.set("bk%d" % i, big + str(i))
    p.get("bk%d" % i)
res = p.execute()
assert res == [x for i in range(2000) for x in (True, (big + str(i)).encode())], "big pipeline answers differ"
print("ok  redis-py ssl=True: SET, GET, a 100-command pipeline and a 4000-command one (%d bytes)" % (2000 * 160))
# TLS 1.2, pinned, with the raw protocol.
ctx = ssl.create_default_context(cafile=d + "/ca.crt")
ctx.load_cert_chain(d + "/alice.crt", d + "/alice.key")
ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="127.0.0.1")
assert s.version() == "TLSv1.2", s.version()
s.sendall(b"*1\r\n$4\r\nPING\r\n")
assert s.recv(64) == b"+PONG\r\n"
print("ok  TLS 1.2 pinned: PONG")
# Protected mode (no password): a client from 127.0.0.2 gets Redis's DENIED
# error, encrypted, once its handshake is done, then the connection closes.
raw = socket.socket()
raw.settimeout(10)
raw.bind(("127.0.0.2", 0))
raw.connect(("127.0.0.1", port))
ctx.maximum_version = ssl.TLSVersion.TLSv1_3
s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
got = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    got += b
assert got.startswith(b"-DENIED"), got
print("ok  protected mode over TLS: %s..." % got[:40].decode())
EOF

# --tls-auth-clients optional: no certificate is fine, another CA's is not.
kill_node "$f2" TERM
start_node "$f2" $(tls_opts "$f2") --tls-auth-clients optional
wait_leader >/dev/null
expect "optional: a client without a certificate" "$(tcli "$f2" --nocert GET greeting)" "hello"
expect "optional: a client with one" "$(tcli "$f2" GET greeting)" "hello"
out=$(tcli "$f2" --other GET greeting)
[[ "$out" != *hello* ]] || fail "optional: another CA's certificate was accepted: $out"
echo "ok  optional: another CA's certificate refused"

# --listen HOST:0: no plain port, TLS only (Redis's port 0).
kill_node "$f2" TERM
start_node "$f2" $(tls_opts "$f2") --listen 127.0.0.1:0
for _ in $(seq 1 50); do [ "$(tcli "$f2" PING)" = PONG ] && break; sleep 0.1; done
expect "plain port off: TLS serves" "$(tcli "$f2" GET greeting)" "hello"
port_free "${CPORT[$f2]}" || fail "plain port off, but ${CPORT[$f2]} still accepts connections"
echo "ok  plain port off: ${CPORT[$f2]} refuses connections"
expect "plain port off: INFO tcp_port" "$(tcli "$f2" INFO | tr -d '\r' | awk -F: '$1 == "tcp_port" {print $2}')" "0"

# A bad key file stops the start, with the file named.
kill_node "$f2" TERM
set +e
"$RAFTKV" serve --id "n$f2" --peers "$PEERS" --listen "127.0.0.1:${CPORT[$f2]}" --data-dir "$WORK/n$f2" --certs-dir "$WORK/certs" \
  --tls-port "${TPORT[$f2]}" --tls-cert-file "$T/n$f2.crt" --tls-key-file "$T/missing.key" \
  --tls-ca-cert-file "$T/ca.crt" >"$WORK/bad.log" 2>&1
rc=$?
set -e
expect "a missing key file: exit code" "$rc" "1"
grep -q "$T/missing.key" "$WORK/bad.log" || fail "the start failure does not name the key file: $(cat "$WORK/bad.log")"
echo "ok  a missing key file is named: $(grep -o 'reason=.*' "$WORK/bad.log" | cut -c1-100)"
echo "PASS test_server_tls"

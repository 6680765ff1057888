#!/usr/bin/env bash
# test_server_fuzz.sh - seeded random and truncated RESP, inline commands and
# raw garbage thrown at a client port and a peer port for a few seconds; the
# server must keep answering, stop with 0 on SIGTERM, and (in an ASan build,
# e.g. `tests/e2e/test_server_fuzz.sh build-asan`) report no memory error.
#   tests/e2e/test_server_fuzz.sh BUILD [SECONDS] [SEED]
set -euo pipefail
build=${1:-build}
secs=${2:-5}
seed=${3:-$(( $(date +%s) % 100000 ))}
source "$(dirname "$0")/lib_server.sh"
command -v python3 >/dev/null || { echo "python3 missing: fuzz test skipped"; exit 0; }
echo "seed $seed (replay: $0 $build $secs $seed)"
NODES=1
pick_ports
start_node 1
wait_leader >/dev/null
python3 - "${CPORT[1]}" "${PPORT[1]}" "$secs" "$seed" <<'EOF'
import random, socket, sys, time
cport, pport, secs, seed = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
names = [b"GET", b"SET", b"DEL", b"CAS", b"MGET", b"EXISTS", b"PING", b"HELLO", b"INFO", b"CLIENT",
         b"CONFIG", b"COMMAND", b"SELECT", b"LEADER", b"ECHO", b"QUIT", b"get", b"set", b"DEBUG.CUT"]
def multibulk(args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
def junk(n):
    return bytes(rng.getrandbits(8) for _ in range(n))
def message():
    r = rng.random()
    if r < 0.4:
        return multibulk([rng.choice(names)] + [junk(rng.randint(0, 8)) for _ in range(rng.randint(0, 5))])
    if r < 0.7:
        m = multibulk([rng.choice(names)] + [str(rng.randint(0, 4)).encode() for _ in range(rng.randint(0, 4))])
        return m[:rng.randint(0, len(m))] if rng.random() < 0.3 else m
    if r < 0.85:
        return b" ".join([rng.choice(names)] + [str(rng.randint(0, 4)).encode() for _ in range(rng.randint(0, 3))]) + rng.choice([b"\r\n", b"\n", b""])
    return junk(rng.randint(1, 64))
sent = 0
end = time.time() + secs
while time.time() < end:
    port = pport if rng.random() < 0.1 else cport
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.settimeout(0.2)
        for _ in range(rng.randint(1, 30)):
            s.sendall(message())
            sent += 1
        try:
            s.recv(65536)
        except OSError:
            pass
        s.close()
    except OSError:
        pass
print("fuzz: sent %d messages" % sent)
EOF
expect "still answers after the fuzzing" "$(cli 1 PING)" PONG
expect "still stores" "$(cli 1 SET after fuzz)" OK
kill_node 1 TERM
expect "stops with 0 on SIGTERM (no sanitizer report)" "$LAST_EXIT" 0
if grep -q -E 'ERROR: AddressSanitizer|runtime error' "$WORK/n1.log"; then fail "sanitizer report in the log"; fi
PID=()
echo "test_server_fuzz: all checks passed"

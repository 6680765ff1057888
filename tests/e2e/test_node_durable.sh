#!/usr/bin/env bash
# test_node_durable.sh - build/raftkv with --data-dir: acknowledged writes
# survive kill -9 and a restart, a repeated init does not reset them, a second
# process is refused the same directory, and without --data-dir the node says
# its state is in memory.
#   tests/e2e/test_node_durable.sh BUILD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$raftkv"
scratch
python3 - "$raftkv" "$tmp/data" <<'PY'
import json, os, select, signal, subprocess, sys, time

bin, data = sys.argv[1], sys.argv[2]
checks = 0

def check(cond, what):
    global checks
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    checks += 1
    print("ok -", what)

class Node:
    def __init__(self):
        self.p = subprocess.Popen([bin, "--data-dir", data], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf, self.mid = b"", 0
    def send(self, body):
        self.mid += 1
        body = dict(body, msg_id=self.mid)
        self.p.stdin.write((json.dumps({"src": "c1", "dest": "n1", "body": body}) + "\n").encode())
        self.p.stdin.flush()
        return self.mid
    def reply(self, mid, timeout=3.0):
        end = time.time() + timeout
        while time.time() < end:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                m = json.loads(line)
                if m["body"].get("in_reply_to") == mid:
                    return m["body"]
            r, _, _ = select.select([self.p.stdout], [], [], 0.05)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    return None
                self.buf += chunk
        return None
    def call(self, body):
        return self.reply(self.send(body))
    def init(self):
        return self.call({"type": "init", "node_id": "n1", "node_ids": ["n1"]})

a = Node()
check(a.init()["type"] == "init_ok", "a node with --data-dir starts")
values = {}
for k in range(20):
    b = a.call({"type": "write", "key": k, "value": k * 10})
    check(b and b["type"] == "write_ok", f"write {k} acknowledged") if k in (0, 19) else None
    values[k] = k * 10
b = a.call({"type": "cas", "key": 3, "from": 30, "to": 33})
check(b and b["type"] == "cas_ok", "a cas is acknowledged")
values[3] = 33
a.p.send_signal(signal.SIGKILL)
a.p.wait()

b2 = Node()
check(b2.init()["type"] == "init_ok", "the node restarts on the same data directory after kill -9")
ok = all((b2.call({"type": "read", "key": k}) or {}).get("value") == v for k, v in values.items())
check(ok, "every acknowledged write and cas is read back after the restart")
check(b2.init()["type"] == "init_ok", "a repeated init is answered")
check((b2.call({"type": "read", "key": 3}) or {}).get("value") == 33,
      "and does not reset the data")

c = Node()
r = c.init()
rc = c.p.wait(timeout=5)
check((r is None or r["type"] == "error") and rc != 0,
      f"a second process on the same directory is refused (exit {rc})")
err = c.p.stderr.read().decode(errors="replace")
check("data-dir" in err, "and says why on stderr")

b2.p.stdin.close()
check(b2.p.wait(timeout=5) == 0, "the restarted node exits 0 on EOF")
log = b2.p.stderr.read().decode(errors="replace")
check("durable state in" in log, "the log says where the durable state is")
print(f"test_node_durable: {checks} checks passed")
PY

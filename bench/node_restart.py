#!/usr/bin/env python3
"""node_restart.py - a durable Maelstrom node (raftkv with --data-dir)
restarted over a long committed log: how soon it reads and answers its
input, against when it has applied the log tail its commit marks name.

A one-member cluster takes N writes (no snapshot), closes cleanly (its log
then ends with a commit mark of all of it), and is restarted RUNS times
from a copy of that directory. Each restart prints, in ms from the init
message: init_ok; the answer to a second init sent as soon as init_ok came
(answered from the node's input loop, no Raft involved); the node's log
line saying the committed tail is applied; and a read (after its election
and the whole tail).

  python3 bench/node_restart.py BINARY [N] [RUNS]     (defaults 300000, 3)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

INIT = {"type": "init", "node_id": "n1", "node_ids": ["n1"]}


class Node:
    def __init__(self, binary, data_dir):
        self.applied_at = None
        self.p = subprocess.Popen(
            [binary, "--data-dir", data_dir, "--snapshot-entries", "100000000"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        threading.Thread(target=self._stderr, daemon=True).start()

    def _stderr(self):
        for line in self.p.stderr:
            if self.applied_at is None and b"applied the committed log tail" in line:
                self.applied_at = time.monotonic()

    def send(self, body):
        line = json.dumps({"src": "c1", "dest": "n1", "body": body}) + "\n"
        self.p.stdin.write(line.encode())

    def recv(self):
        line = self.p.stdout.readline()
        if not line:
            sys.exit("node_restart: the node closed its output")
        return json.loads(line)["body"]

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def fill(binary, data_dir, n):
    node = Node(binary, data_dir)
    node.send(dict(INIT, msg_id=1))
    assert node.recv()["type"] == "init_ok"
    window = threading.Semaphore(8000)  # well under --max-requests
    done = threading.Event()

    def reader():
        for _ in range(n):
            b = node.recv()
            if b["type"] != "write_ok":
                print("node_restart: unexpected answer %r" % b, file=sys.stderr)
                os._exit(1)
            window.release()
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    for i in range(1, n + 1):
        window.acquire()
        node.send({"type": "write", "key": i % 100000, "value": i, "msg_id": 10 + i})
    done.wait()
    node.close()


def restart(binary, data_dir):
    node = Node(binary, data_dir)
    t0 = time.monotonic()
    ms = lambda t: "%.1f" % ((t - t0) * 1e3) if t else "-"
    node.send(dict(INIT, msg_id=1))
    assert node.recv()["type"] == "init_ok"
    t_init = time.monotonic()
    node.send(dict(INIT, msg_id=2))
    b = node.recv()
    assert b["type"] == "init_ok" and b["in_reply_to"] == 2, b
    t_probe = time.monotonic()
    node.send({"type": "read", "key": 5, "msg_id": 3})
    assert node.recv()["type"] == "read_ok"
    t_read = time.monotonic()
    node.close()
    print("init_ok %s ms, second message answered %s ms, committed tail applied %s ms, "
          "read %s ms" % (ms(t_init), ms(t_probe), ms(node.applied_at), ms(t_read)))


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    work = tempfile.mkdtemp(prefix="raftkv-node-restart-")
    try:
        t = time.monotonic()
        fill(binary, os.path.join(work, "filled"), n)
        print("%d writes in %.1f s" % (n, time.monotonic() - t))
        for _ in range(runs):
            run = os.path.join(work, "run")
            shutil.rmtree(run, ignore_errors=True)
            shutil.copytree(os.path.join(work, "filled"), run)
            restart(binary, run)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

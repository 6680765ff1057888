#!/usr/bin/python3
"""auth_client.py - raw RESP exchanges for test_server_auth.sh.

  auth_client.py replies PORT [--bind IP] < commands   one line per command
      (words split on spaces); prints each reply's exact bytes, repr()'d,
      one a line; "<closed>" when the server closed the connection
  auth_client.py compare PORT_A PORT_B < commands      the same exchange on
      both servers; prints the commands whose replies differ, exit 1 if any
  auth_client.py redispy PORT                         redis-py's view of the
      users of the ACL file the test writes (exceptions as redis-py maps them)
"""
import socket
import sys
import time


def enc(words):
    out = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode()
        out += b"$%d\r\n%s\r\n" % (len(w), w)
    return out


def read_reply(f):
    """One whole reply's bytes from a buffered socket file."""
    line = f.readline()
    if not line:
        return None
    t = line[:1]
    if t in b"+-:_#,(":
        return line
    if t in b"$=!":
        n = int(line[1:-2])
        return line if n < 0 else line + f.read(n + 2)
    if t in b"*~%>":
        n = int(line[1:-2])
        if n < 0:
            return line
        n *= 2 if t == b"%" else 1
        out = line
        for _ in range(n):
            out += read_reply(f)
        return out
    return line


def exchange(port, lines, bind=None):
    s = socket.socket()
    if bind:
        s.bind((bind, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    f = s.makefile("rb")
    out = []
    for l in lines:
        try:
            s.sendall(enc(l.split(" ")))
            r = read_reply(f)
        except (ConnectionError, socket.timeout, OSError):
            r = None
        out.append(r if r is not None else b"<closed>")
        if r is None:
            break
    s.close()
    return out


def redispy(port):
    import redis
    from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

    def outcome(fn):
        try:
            return repr(fn())
        except AuthenticationError as e:
            return "AuthenticationError: %s" % e
        except NoPermissionError as e:
            return "NoPermissionError: %s" % e
        except ResponseError as e:
            return "ResponseError: %s" % e

    none = redis.Redis(port=port)
    print("noauth get", outcome(lambda: none.get("k")))
    bad = redis.Redis(port=port, username="rw", password="nope")
    print("wrongpass get", outcome(lambda: bad.get("k")))
    rw = redis.Redis(port=port, username="rw", password="rw-pass")
    print("rw set", outcome(lambda: rw.set("py", "v1")))
    print("rw get", outcome(lambda: rw.get("py")))
    print("rw config", outcome(lambda: rw.config_get("save")))
    ro = redis.Redis(port=port, username="ro", password="ro-pass")
    print("ro get", outcome(lambda: ro.get("py")))
    print("ro set", outcome(lambda: ro.set("py", "v2")))
    p = rw.pipeline(transaction=False)
    for i in range(50):
        p.set("pk%d" % i, str(i))
    p.get("pk49")
    print("rw pipeline", outcome(lambda: p.execute()[-1]))
    admin = redis.Redis(port=port, password="admin-pass")
    print("default whoami", outcome(lambda: admin.acl_whoami()))


def main():
    mode = sys.argv[1]
    if mode == "redispy":
        redispy(int(sys.argv[2]))
        return 0
    lines = [l.rstrip("\n") for l in sys.stdin if l.strip()]
    if mode == "replies":
        bind = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--bind" else None
        for r in exchange(int(sys.argv[2]), lines, bind):
            print(repr(r))
        return 0
    a = exchange(int(sys.argv[2]), lines)
    b = exchange(int(sys.argv[3]), lines)
    bad = 0
    for i, l in enumerate(lines):
        ra = a[i] if i < len(a) else b"<none>"
        rb = b[i] if i < len(b) else b"<none>"
        if ra != rb:
            print("DIFF %s: raftkv %r redis %r" % (l, ra, rb))
            bad = 1
        else:
            print("same %s: %r" % (l, ra[:70]))
    return bad


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""server_commands_client.py - RESP exchanges for test_server_commands.sh.

  server_commands_client.py compare RAFTKV_PORT REDIS_PORT < lines
      Each line is "= CMD" (replies must be byte-identical) or "~ CMD" (the
      same shape: types, lengths of arrays and maps, errors' texts; strings
      and numbers may differ), CMD's words separated by '|' (\\n in a word
      is a newline). Both servers
      get the same commands on one connection each. Prints one line per
      command, "same" or "DIFF"; exit 1 if any differ.
  server_commands_client.py replies PORT < lines    each reply's bytes, repr()'d
  server_commands_client.py fields PORT             CLIENT INFO's field names, space separated
  server_commands_client.py redispy PORT            redis-py's view of the server commands
"""
import socket
import sys


def enc(words):
    out = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode()
        out += b"$%d\r\n%s\r\n" % (len(w), w)
    return out


def read_reply(f):
    """(bytes, shape) of one whole reply from a buffered socket file."""
    line = f.readline()
    if not line:
        return None, None
    t = line[:1]
    if t == b"-":
        return line, line  # an error's text is its shape
    if t in b"+:_#,(":
        return line, t
    if t in b"$=!":
        n = int(line[1:-2])
        if n < 0:
            return line, line
        body = f.read(n + 2)
        return line + body, t
    if t in b"*~%>":
        n = int(line[1:-2])
        if n < 0:
            return line, line
        out, shape = line, line
        for _ in range(n * (2 if t == b"%" else 1)):
            b, s = read_reply(f)
            out += b
            shape += b"(" + s + b")"
        return out, shape
    return line, line


def exchange(port, cmds):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    f = s.makefile("rb")
    out = []
    for c in cmds:
        s.sendall(enc([w.replace("\\n", "\n") for w in c.split("|")]))
        out.append(read_reply(f))
    s.close()
    return out


def compare(pa, pb, lines):
    cmds = [l[2:] for l in lines]
    a, b = exchange(pa, cmds), exchange(pb, cmds)
    bad = 0
    for i, l in enumerate(lines):
        exact = l[0] == "="
        ka = a[i][0] if exact else a[i][1]
        kb = b[i][0] if exact else b[i][1]
        if ka != kb:
            print("DIFF %s: raftkv %r redis %r" % (l, a[i][0], b[i][0]))
            bad = 1
        else:
            print("same %s: %r" % (l, a[i][0][:60]))
    return bad


def redispy(port):
    import time
    import redis
    from redis.exceptions import ResponseError

    r = redis.Redis(port=port, client_name="py-app", decode_responses=True)
    print("getname", r.client_getname())
    try:
        r.client_setname("a b")
        print("setname a b", "accepted")
    except ResponseError as e:
        print("setname a b", e)
    print("getname after refusal", r.client_getname())
    info = r.client_info()
    print("client_info", info["name"], info["db"], info["flags"], info["cmd"], info["user"], info["resp"].strip())
    print("client_id matches", r.client_id() == int(info["id"]))
    mine = [c for c in r.client_list() if c["name"] == "py-app"]
    print("client_list has me", len(mine), mine[0]["cmd"] if mine else "")
    byid = r.client_list(client_id=[str(r.client_id())])
    print("client_list by id", " ".join(c["name"] for c in byid), len(byid))
    srv = r.info("server")
    print("info server", srv["redis_version"], srv["redis_mode"], "raftkv_version" in srv,
          sorted(r.info("server").keys()) == sorted(srv.keys()))
    print("info replication role", r.info("replication")["role"])
    sec, usec = r.time()
    print("time skew ok", abs(sec + usec / 1e6 - time.time()) < 2)
    print("role", r.role()[0])


def main():
    mode = sys.argv[1]
    if mode == "redispy":
        redispy(int(sys.argv[2]))
        return 0
    if mode == "fields":
        (b, _), = exchange(int(sys.argv[2]), ["CLIENT|INFO"])
        text = b.split(b"\r\n", 1)[1].decode().strip()
        print(" ".join(kv.split("=", 1)[0] for kv in text.split(" ")))
        return 0
    lines = [l.rstrip("\n") for l in sys.stdin if l.strip() and not l.startswith("#")]
    if mode == "replies":
        for b, _ in exchange(int(sys.argv[2]), lines):
            print(repr(b))
        return 0
    return compare(int(sys.argv[2]), int(sys.argv[3]), lines)


if __name__ == "__main__":
    sys.exit(main())

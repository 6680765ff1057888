#!/usr/bin/env python3
"""attack.py - a process that is not a raftkv member, attacking a member's
peer port (tests/e2e/test_server_attack.sh). Frames are crafted from the
layout in src/server/peer_codec.h, by hand, so a bug in the codec cannot
hide here. Each command prints one line saying what the server did.

  attack.py frames PORT --peers TEXT --claim NAME --to NAME --term T --leader-term T
                   [--snap-index N] [--tls CERT KEY]
      HELLO (as NAME, with the right peer-list fingerprint), a forged
      SNAPSHOT holding an empty map, then an APPEND with term T; plaintext,
      or over TLS with the given certificate.
  attack.py junk PORT BYTES [--tls CERT KEY]
      BYTES of junk before authenticating (over TLS: after the handshake, a
      HELLO frame header announcing BYTES, then junk).
  attack.py halfopen PORT N SECONDS
      N connections that send nothing or part of a ClientHello; print how
      many the server closed within SECONDS.
  attack.py proxy LISTEN TARGET DIR
      a TCP proxy from LISTEN to TARGET recording what each connection's
      client sent into DIR/conn-K.bin (runs until killed).
  attack.py replay PORT FILE
      send FILE's bytes to PORT as one new connection.
  attack.py hello PORT --claim NAME --to NAME --version V [--cluster-id HEX] [--tls CERT KEY]
      a HELLO (cluster id unknown, or HEX) in peer protocol version V, as a
      member of an older or newer release would send it; print what came
      back (a REMOVED frame is named) and whether the server closed.
  attack.py burst PORT --claim NAME --to NAME --cluster-id HEX --bytes N --pause PID --tls CERT KEY
      as a member (its real certificate): after the TLS handshake, stop
      PID (the server) with SIGSTOP, send a HELLO and right behind it N
      bytes of SNAP_ACK frames for no transfer (ignored), continue PID, so
      that its first read holds the HELLO and 64 KiB of frames; print
      whether it kept the connection.
Standard library only.
"""
import os
import socket
import ssl
import struct
import sys
import threading
import time

VERSION = 5  # PEER_CODEC_VERSION
HELLO, RAFT, SNAP_ACK, REMOVED = 1, 2, 7, 9
SNAPSHOT, APPEND = 6, 4
F_TERM, F_PREV_INDEX, F_PREV_TERM, F_COMMIT, F_SEQ, F_SNAP_INDEX, F_SNAP_TERM = 0, 3, 4, 5, 6, 11, 12


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def frame(kind, body):
    return struct.pack(">IBB", len(body) + 2, VERSION, kind) + body


def fnv1a(text):
    h = 14695981039346656037
    for c in text.encode():
        h ^= c
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def name_bytes(n):
    b = n.encode()
    return varint(len(b)) + b


def hello(sender, receiver, peers_text):
    # ... and the cluster id, all zero: "a fresh member, not told yet", which members accept
    return frame(HELLO, name_bytes(sender) + name_bytes(receiver) + varint(fnv1a(peers_text)) + bytes(16))


def raft(mtype, frm, to, fields, tail=b""):
    mask = 0
    vals = b""
    for i in sorted(fields):
        if fields[i]:
            mask |= 1 << i
            vals += varint(fields[i])
    body = bytes([mtype]) + varint(frm) + varint(to) + b"\x00" + struct.pack(">H", mask) + vals + tail
    return frame(RAFT, body)


def tls_wrap(sock, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the attacker does not care who answers
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    return ctx.wrap_socket(sock)


def connect(port, tls):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        try:
            s = tls_wrap(s, *tls)
        except (ssl.SSLError, OSError) as e:
            return None, f"handshake failed: {e.__class__.__name__}"
    return s, "connected"


def outcome(s, wait=3.0):
    """What the server did after our bytes: closed the connection or not."""
    s.settimeout(wait)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return "closed by the server"
    except socket.timeout:
        return "still open"
    except (ssl.SSLError, OSError) as e:
        return f"closed by the server ({e.__class__.__name__})"


def send_all(s, data):
    try:
        s.sendall(data)
        return len(data)
    except (ssl.SSLError, OSError):
        return -1


def cmd_frames(args):
    port = int(args[0])
    opt = dict(peers=None, claim="n2", to="n1", term=str(2**64 - 1), leader_term="1", snap_index="1000000")
    tls = None
    i = 1
    while i < len(args):
        if args[i] == "--tls":
            tls = (args[i + 1], args[i + 2])
            i += 3
            continue
        opt[args[i][2:].replace("-", "_")] = args[i + 1]
        i += 2
    names = [p.split("=")[0] for p in opt["peers"].split(",")]
    frm, to = names.index(opt["claim"]), names.index(opt["to"])
    lt = int(opt["leader_term"])
    snap = raft(SNAPSHOT, frm, to, {F_TERM: lt, F_SNAP_INDEX: int(opt["snap_index"]), F_SNAP_TERM: lt, F_SEQ: 1},
                varint(2) + b"{}")
    app = raft(APPEND, frm, to, {F_TERM: int(opt["term"]), F_PREV_INDEX: 1, F_PREV_TERM: 1, F_COMMIT: 1, F_SEQ: 2},
               varint(0))
    s, how = connect(port, tls)
    if not s:
        print(f"frames: {how}")
        return
    sent = send_all(s, hello(opt["claim"], opt["to"], opt["peers"]) + snap + app)
    print(f"frames: TLS {'on' if tls else 'off'}, {how}, sent {sent} bytes, {outcome(s)}")
    s.close()


def cmd_junk(args):
    port, total = int(args[0]), int(args[1])
    tls = (args[3], args[4]) if len(args) > 2 and args[2] == "--tls" else None
    s, how = connect(port, tls)
    if not s:
        print(f"junk: {how}")
        return
    chunk = os.urandom(65536)
    sent = 0
    if tls:  # a HELLO frame header announcing `total` bytes: buffered whole, were there no limit
        s.sendall(struct.pack(">IBB", total + 2, VERSION, HELLO))
    t0 = time.time()
    try:
        while sent < total:
            s.sendall(chunk[: min(len(chunk), total - sent)])
            sent += min(len(chunk), total - sent)
    except (ssl.SSLError, OSError) as e:
        print(f"junk: TLS {'on' if tls else 'off'}, cut off after {sent} of {total} bytes "
              f"({e.__class__.__name__}) in {time.time() - t0:.1f} s")
        return
    print(f"junk: TLS {'on' if tls else 'off'}, all {sent} bytes sent, then {outcome(s)}")


def partial_client_hello():
    # A TLS record header announcing a 512-byte handshake record, and only
    # the start of a ClientHello in it.
    return b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc\x03\x03" + os.urandom(20)


def cmd_halfopen(args):
    port, n, seconds = int(args[0]), int(args[1]), float(args[2])
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if i % 2:
            s.sendall(partial_client_hello())
        s.setblocking(False)
        socks.append(s)
    t0 = time.time()
    print(f"halfopen: {n} connections open", flush=True)
    closed = set()
    while time.time() - t0 < seconds and len(closed) < n:
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                if s.recv(4096) == b"":
                    closed.add(i)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
        time.sleep(0.1)
    print(f"halfopen: {len(closed)} of {n} closed by the server within {time.time() - t0:.1f} s")
    for s in socks:
        s.close()


def cmd_proxy(args):
    listen, target, out_dir = int(args[0]), int(args[1]), args[2]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen))
    srv.listen(16)
    count = [0]

    def pipe(a, b, record):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                if record:
                    record.write(d)
                    record.flush()
                b.sendall(d)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    while True:
        c, _ = srv.accept()
        try:
            t = socket.create_connection(("127.0.0.1", target))
        except OSError:
            c.close()
            continue
        count[0] += 1
        rec = open(os.path.join(out_dir, f"conn-{count[0]}.bin"), "wb")
        threading.Thread(target=pipe, args=(c, t, rec), daemon=True).start()
        threading.Thread(target=pipe, args=(t, c, None), daemon=True).start()


def cmd_replay(args):
    port, path = int(args[0]), args[1]
    data = open(path, "rb").read()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    sent = send_all(s, data)
    print(f"replay: {len(data)} recorded bytes, sent {sent}, {outcome(s)}")
    s.close()


def cmd_hello(args):
    port = int(args[0])
    opt = dict(claim="n2", to="n1", version=str(VERSION))
    tls = None
    i = 1
    while i < len(args):
        if args[i] == "--tls":
            tls = (args[i + 1], args[i + 2])
            i += 3
            continue
        opt[args[i][2:]] = args[i + 1]
        i += 2
    cid = bytes.fromhex(opt["cluster-id"]) if "cluster-id" in opt else bytes(16)
    body = name_bytes(opt["claim"]) + name_bytes(opt["to"]) + varint(0) + cid
    s, how = connect(port, tls)
    if not s:
        print(f"hello: {how}")
        return
    sent = send_all(s, struct.pack(">IBB", len(body) + 2, int(opt["version"]), HELLO) + body)
    got = bytearray()
    end = answer(s, got)
    said = ""
    if got:
        kind = got[5] if len(got) >= 6 else -1
        said = ", answered REMOVED" if kind == REMOVED else f", answered {len(got)} bytes (kind {kind})"
    print(f"hello: version {opt['version']}, {how}, sent {sent} bytes{said}, {end}")
    s.close()


def cmd_burst(args):
    import signal
    port = int(args[0])
    opt = dict(claim="n2", to="n1", bytes="102400")
    tls = None
    i = 1
    while i < len(args):
        if args[i] == "--tls":
            tls = (args[i + 1], args[i + 2])
            i += 3
            continue
        opt[args[i][2:]] = args[i + 1]
        i += 2
    body = name_bytes(opt["claim"]) + name_bytes(opt["to"]) + varint(0) + bytes.fromhex(opt["cluster-id"])
    ack = frame(SNAP_ACK, varint(1) + varint(0) + b"\x00")
    data = frame(HELLO, body) + ack * (int(opt["bytes"]) // len(ack) + 1)
    s, how = connect(port, tls)
    if not s:
        print(f"burst: {how}")
        return
    pid = int(opt["pause"])
    os.kill(pid, signal.SIGSTOP)
    try:
        sent = send_all(s, data)
        time.sleep(0.3)
    finally:
        os.kill(pid, signal.SIGCONT)
    print(f"burst: {how}, sent a HELLO and {sent} bytes in all while the server was stopped, {outcome(s)}")
    s.close()


def answer(s, got, wait=3.0):
    """Like outcome(), keeping what the server wrote in `got`."""
    s.settimeout(wait)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return "closed by the server"
            got += d
    except socket.timeout:
        return "still open"
    except (ssl.SSLError, OSError) as e:
        return f"closed by the server ({e.__class__.__name__})"


def main(argv):
    cmds = {"frames": cmd_frames, "junk": cmd_junk, "halfopen": cmd_halfopen, "proxy": cmd_proxy,
            "replay": cmd_replay, "hello": cmd_hello, "burst": cmd_burst}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 64
    cmds[argv[1]](argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

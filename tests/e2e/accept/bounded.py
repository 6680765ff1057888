#!/usr/bin/env python3
"""bounded.py - issue 5's long run: raftkv durable under whirl at a high
rate, with each node's memory (VmRSS) and data folder size sampled every
few seconds, must plateau - snapshots compact the log, so neither grows
with the number of entries written.

  bounded.py --whirl W --raftkv R --seconds S --store DIR [--seed N]
             [--nodes 3] [--rate 2000] [--concurrency 30] [--interval 2]
             [--snapshot-entries 1000] [--expect-growth disk|both]

Criterion, per node: drop the first fifth of the samples (start-up, the
first log filling up to the threshold) and split the rest into halves.
  log on disk (the records in the wal-* files, not the zeros the tail is
    allocated ahead with): the second half's max must not exceed the
    first half's by more than 25% plus 64 KiB. An uncompacted log grows
    linearly, so its max about doubles from one half to the next.
  memory (VmRSS): the same with 10% plus 512 KiB, plus an allowance for the
    state machine itself: whirl retires a key after 100 operations and
    starts a new one, so the map legitimately gains ~20 keys/s at 2000
    requests/s; each key created after the first half's peak allows 512
    bytes (measured: ~190 bytes per key). The log's own cost is ~70 bytes
    per entry, ~25 entries per key, which this still catches.
  snapshots: the snapshot file holds the state machine, so it grows with
    the key count; it is printed, not bounded.
Also required: whirl's verdict valid, the run kept at least a quarter of the
asked rate, and snapshots kept being taken in the second half (a plateau of
a stalled node proves nothing).

--expect-growth disk|both is the negative control: run with compaction
effectively off and require the criterion to catch the growth of the log on
disk (disk) or of the log on disk and in memory (both: needs a minute or
more; in memory the growth is slower to stand out of the slack).
Prints the series and the verdict; exits non-zero on failure.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time


def args_parse():
    p = argparse.ArgumentParser()
    p.add_argument("--whirl", required=True)
    p.add_argument("--raftkv", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--store", required=True)
    p.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--rate", type=float, default=2000)
    p.add_argument("--concurrency", default="30")
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--snapshot-entries", type=int, default=1000)
    p.add_argument("--expect-growth", choices=["disk", "both"])
    return p.parse_args()


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def node_of(pid):
    """The node id of a raftkv child, from its --data-dir argument."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return None
    for a in argv:
        m = re.search(rb"/data/(n\d+)$", a)
        if m:
            return m.group(1).decode()
    return None


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def wal_used_bytes(path, size):
    """A segment's bytes up to its last non-zero byte: the tail segment is
    allocated up to 4 MiB ahead of its records (zeros), a constant that
    would hide the growth this measures."""
    chunk = 64 << 10
    try:
        with open(path, "rb") as f:
            end = size
            while end > 0:
                start = max(0, end - chunk)
                f.seek(start)
                data = f.read(end - start)
                stripped = data.rstrip(b"\0")
                if stripped:
                    return start + len(stripped)
                end = start
    except OSError:
        return 0
    return 0


def dir_usage(path):
    """(bytes of the log's records in wal-* files, bytes of snapshot files,
    files, highest snapshot index)."""
    wal = snapb = files = 0
    snap = -1
    try:
        names = os.listdir(path)
    except OSError:
        return None
    for name in names:
        try:
            st = os.stat(os.path.join(path, name))
        except OSError:
            continue  # removed meanwhile (compaction)
        files += 1
        if name.startswith("wal-"):
            wal += wal_used_bytes(os.path.join(path, name), st.st_size)
        m = re.match(r"snap-(\d+)\.snap$", name)
        if m:
            snapb += st.st_size
            snap = max(snap, int(m.group(1)))
    return wal, snapb, files, snap


def key_birth_times(run_dir):
    """Seconds since the test's start at which each key got its first request."""
    first = {}
    try:
        with open(os.path.join(run_dir, "history.jsonl")) as f:
            for line in f:
                e = json.loads(line)
                if e["process"] != "nemesis" and e["type"] == "invoke" and e["key"] not in first:
                    first[e["key"]] = e["time"] / 1e9
    except OSError:
        pass
    return sorted(first.values())


def plateau(samples, rel, abs_slack, allowance=None):
    """(ok, first-half max, second-half max, allowance) for a list of (t, value);
    allowance(t) gives the extra bytes allowed for growth after time t."""
    xs = [(t, x) for t, x in samples if x is not None]
    xs = xs[len(xs) // 5:]
    if len(xs) < 4:
        return False, 0, 0, 0
    h = len(xs) // 2
    t1, m1 = max(xs[:h], key=lambda p: p[1])
    m2 = max(x for _, x in xs[h:])
    extra = allowance(t1) if allowance else 0
    return m2 <= m1 * (1 + rel) + abs_slack + extra, m1, m2, extra


def main():
    a = args_parse()
    os.makedirs(a.store, exist_ok=True)
    cmd = [a.whirl, "test", "--bin", a.raftkv, "--node-count", str(a.nodes), "--concurrency", a.concurrency,
           "--rate", str(a.rate), "--time-limit", str(a.seconds), "--seed", str(a.seed), "--store", a.store,
           "--no-report", "--", "--data-dir", "{data}", "--snapshot-entries", str(a.snapshot_entries)]
    print("bounded: " + " ".join(cmd), flush=True)
    log = open(os.path.join(a.store, "whirl-console.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    t0 = time.time()
    samples = []  # (t, {node: (rss_kib, wal_bytes, snapshot_bytes, files, snapshot_index)})
    run_dir = None
    while proc.poll() is None:
        time.sleep(a.interval)
        t = time.time() - t0
        if t > a.seconds:  # only the client phase: afterwards nodes idle and exit
            break
        if run_dir is None:
            found = sorted(glob.glob(os.path.join(a.store, "lin-kv", "*")))
            run_dir = found[-1] if found else None
        row = {}
        for pid in children_of(proc.pid):
            node = node_of(pid)
            if node is None or run_dir is None:
                continue
            du = dir_usage(os.path.join(run_dir, "data", node))
            if du is None:
                continue
            row[node] = (rss_kib(pid),) + du
        if row:
            samples.append((t, row))
            print(f"  t={t:6.1f}s " + "  ".join(
                f"{n}: rss {v[0] / 1024 if v[0] else 0:5.1f} MiB wal {v[1] / 1024:6.1f} KiB snap {v[2] / 1024:5.1f} KiB"
                f" @{v[4]}" for n, v in sorted(row.items())), flush=True)
    try:
        rc = proc.wait(timeout=a.seconds + 900)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = -1
    log.close()
    failures = []
    res = None
    try:
        with open(os.path.join(a.store, "latest", "results.json")) as f:
            res = json.load(f)
    except (OSError, ValueError):
        failures.append(f"no results.json (whirl exit {rc}); console in {a.store}/whirl-console.log")
    if res is not None:
        print(f"bounded: whirl exit {rc}, valid={res.get('valid')}, {res.get('requests_per_s', 0):.0f} req/s "
              f"(asked {a.rate:.0f}), answered {res['availability']['answered_fraction']:.2%}", flush=True)
        if rc != 0 or res.get("valid") is not True:
            failures.append(f"whirl verdict {res.get('valid')} (exit {rc})")
        if res.get("requests_per_s", 0) < a.rate / 4:
            failures.append(f"only {res.get('requests_per_s', 0):.0f} req/s of the {a.rate:.0f} asked")
    nodes = sorted({n for _, row in samples for n in row})
    if len(nodes) < a.nodes:
        failures.append(f"sampled only nodes {nodes}")
    births = key_birth_times(os.path.realpath(os.path.join(a.store, "latest")))
    per_key = 512
    def key_allowance(t):
        return per_key * sum(1 for b in births if b > t)
    growth = {"disk": [], "memory": []}
    for n in nodes:
        rss = [(t, row[n][0] * 1024 if n in row and row[n][0] else None) for t, row in samples]
        wal = [(t, row[n][1] if n in row else None) for t, row in samples]
        snapb = [row[n][2] for _, row in samples if n in row]
        snaps = [row[n][4] for _, row in samples if n in row]
        ok_r, r1, r2, extra = plateau(rss, 0.10, 512 << 10, key_allowance)
        ok_d, d1, d2, _ = plateau(wal, 0.25, 64 << 10)
        tail = snaps[len(snaps) // 2:]
        print(f"bounded: {n}: RSS max {r1 / 2**20:.2f} MiB in the first half, {r2 / 2**20:.2f} MiB in the second, "
              f"{extra / 1024:.0f} KiB allowed for new keys ({'plateau' if ok_r else 'GROWS'}); log on disk max "
              f"{d1 / 1024:.0f} KiB then {d2 / 1024:.0f} KiB ({'plateau' if ok_d else 'GROWS'}); snapshot "
              f"{snapb[-1] / 1024 if snapb else 0:.0f} KiB for {len(births)} keys; snapshot index "
              f"{snaps[0] if snaps else '-'} -> {snaps[-1] if snaps else '-'}", flush=True)
        if not ok_r:
            growth["memory"].append(f"{n} RSS grows: {r1 / 2**20:.2f} -> {r2 / 2**20:.2f} MiB")
        if not ok_d:
            growth["disk"].append(f"{n} log on disk grows: {d1 / 1024:.0f} -> {d2 / 1024:.0f} KiB")
        if not a.expect_growth and len(set(s for s in tail if s >= 0)) < 2:
            failures.append(f"{n} took fewer than 2 snapshots in the second half ({sorted(set(tail))})")
    if a.expect_growth:
        want = ["disk"] if a.expect_growth == "disk" else ["disk", "memory"]
        for w in want:
            if len(growth[w]) < len(nodes):
                failures.append(f"negative control: with compaction off the {w} criterion missed growth on "
                                f"{len(nodes) - len(growth[w])} node(s)")
        print("bounded: negative control saw: " + "; ".join(growth["disk"] + growth["memory"]), flush=True)
    else:
        failures += growth["disk"] + growth["memory"]
    for f in failures:
        print(f"bounded: FAIL {f}", flush=True)
    print(f"bounded: {'FAILED' if failures else 'passed'} (seed {a.seed}, run {os.path.realpath(os.path.join(a.store, 'latest'))})", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""whirl_runs.py - runs one acceptance case of whirl against raftkv K times,
each with its own seed and store folder, and judges every run from its
results.json (and history.jsonl) against the case's criteria.

  whirl_runs.py --whirl build/whirl --name NAME --runs K --seed S --store DIR
                [--expect-valid] [--no-lost-writes] [--min-answered F]
                [--max-recovery-ms MS] [--summary FILE] -- WHIRL-TEST-ARGS...

Run i uses seed S+i (printed, with the command that replays it). Prints one
line per run and a closing `NAME: P of K runs passed`; exits 1 if any run
failed. --summary appends one JSON line per run (for accept.sh's table).
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recovery_check  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--whirl", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--store", required=True)
    p.add_argument("--expect-valid", action="store_true", help="whirl must exit 0 and say valid")
    p.add_argument("--no-lost-writes", action="store_true", help="final reads ran and lost no write")
    p.add_argument("--min-answered", type=float, help="answered-from-data fraction at least this")
    p.add_argument("--max-recovery-ms", type=float,
                   help="whirl's recovery: every measured change within this, none silent")
    p.add_argument("--min-recovery-changes", type=int, default=1,
                   help="with --max-recovery-ms: at least this many changes measured")
    p.add_argument("--summary", help="append one JSON line per run here")
    p.add_argument("--report-failures", action="store_true",
                   help="write the HTML reports of failing runs (whirl report), for runs made with --no-report")
    p.add_argument("--grace", type=float, default=600, help="seconds past the time limit before giving up")
    p.add_argument("whirl_args", nargs=argparse.REMAINDER)
    a = p.parse_args()
    if a.whirl_args and a.whirl_args[0] == "--":
        a.whirl_args = a.whirl_args[1:]
    return a


def time_limit(args):
    for i, x in enumerate(args):
        if x == "--time-limit" and i + 1 < len(args):
            return float(args[i + 1])
    return 60.0


def judge(a, rc, res, run_dir):
    """(checks, reasons): each criterion asked for -> passed?, and why the
    run fails them (empty = passed)."""
    checks, why = {}, []
    def check(name, ok, reason):
        checks[name] = checks.get(name, True) and ok
        if not ok:
            why.append(reason)
    if res is None:
        return {"ran": False}, [f"no results.json (whirl exit {rc})"]
    if a.expect_valid:
        lin = res.get("linearizable", {})
        check("valid", rc == 0 and res.get("valid") is True,
              f"verdict {res.get('valid')!r} (exit {rc}; keys invalid {lin.get('keys_invalid')}, "
              f"unknown {lin.get('keys_unknown')}; stats {(res.get('stats') or {}).get('reason')}; "
              f"problems {res.get('problems')})")
    if a.no_lost_writes:
        lost = res.get("lost_writes")
        fr = res.get("final_reads")
        check("no_lost_writes", lost is not None, "no lost-writes check in results.json (final reads did not run)")
        check("no_lost_writes", not lost_count(res), f"lost writes: {json.dumps(lost)[:600]}")
        check("no_lost_writes", not (isinstance(fr, dict) and fr.get("read", 0) < fr.get("keys", 0)),
              f"final reads read only {(fr or {}).get('read')} of {(fr or {}).get('keys')} keys "
              f"(unread: {(fr or {}).get('unread')})")
    if a.min_answered is not None:
        ans = res.get("availability", {}).get("answered_fraction", 0)
        check("answered", ans + 1e-12 >= a.min_answered, f"answered from the data {ans:.4%} < {a.min_answered:.4%}")
    if a.max_recovery_ms is not None:
        rec = res.get("recovery") or {}
        check("recovery", rec.get("changes", 0) >= a.min_recovery_changes,
              f"recovery measured after only {rec.get('changes', 0)} changes")
        if rec.get("max_ms", 0) > a.max_recovery_ms or rec.get("never", 0) > 0:
            slow = [f"{x['after']}@{x['at_s']:.1f}s:{x['ms']:.0f}ms"
                    + (f"(never {','.join(x['never'])})" if x["never"] else "")
                    for x in rec.get("list", []) if x["ms"] > a.max_recovery_ms or x["never"]]
            check("recovery", False, f"recovery over {a.max_recovery_ms:.0f} ms or silent: {' '.join(slow)}")
        else:
            check("recovery", True, "")
    return checks, why


def lost_count(res):
    lost = res.get("lost_writes")
    if lost is None:
        return None
    return len(lost)


def main():
    a = parse_args()
    os.makedirs(a.store, exist_ok=True)
    limit = time_limit(a.whirl_args) + a.grace
    passed = 0
    failing = []
    for i in range(a.runs):
        seed = a.seed + i
        store = os.path.join(a.store, f"{a.name}-seed{seed}")
        cmd = [a.whirl, "test"] + a.whirl_args[:]
        # whirl's own options must come before a literal -- (node options after it).
        own = ["--seed", str(seed), "--store", store]
        if "--" in cmd:
            k = cmd.index("--")
            cmd = cmd[:k] + own + cmd[k:]
        else:
            cmd += own
        log = os.path.join(a.store, f"{a.name}-seed{seed}.log")
        start = time.time()
        with open(log, "w") as out:
            try:
                rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=limit).returncode
            except subprocess.TimeoutExpired:
                rc = -1
        took = time.time() - start
        run_dir = os.path.realpath(os.path.join(store, "latest"))
        res = None
        try:
            with open(os.path.join(run_dir, "results.json")) as f:
                res = json.load(f)
        except (OSError, ValueError):
            pass
        checks, why = judge(a, rc, res, run_dir)
        ours = None
        if res is not None and os.path.exists(os.path.join(run_dir, "history.jsonl")):
            try:
                ours = recovery_check.analyse(run_dir, res)
            except Exception as e:  # a cross-check must not hide the verdict
                ours = {"error": str(e)}
        line = f"{a.name} run {i + 1}/{a.runs} seed {seed}: "
        if res is not None:
            rec = res.get("recovery") or {}
            av = res.get("availability", {})
            lat = res.get("latency_ms", {}).get("all", {})
            line += (f"valid={res.get('valid')} exit={rc} {res.get('requests_per_s', 0):.1f} req/s, "
                     f"ok {av.get('ok_fraction', 0):.1%}, answered {av.get('answered_fraction', 0):.2%}, "
                     f"p50/p99 {lat.get('p50', 0):.1f}/{lat.get('p99', 0):.1f} ms")
            if rec.get("changes"):
                line += (f", recovery max {rec.get('max_ms', 0):.0f} ms over {rec['changes']} changes "
                         f"({rec.get('over_1s', 0)} >1 s, {rec.get('never', 0)} silent)")
            if ours and "first_answer_max_ms" in ours and ours["changes"]:
                line += (f" [cross-check: first answer max {ours['first_answer_max_ms']:.0f} ms, "
                         f"{ours['late_unanswered']} requests unanswered >1 s after a change]")
            lc = lost_count(res)
            if lc is not None:
                line += f", lost writes {lc}"
        else:
            line += f"exit={rc}"
        line += f" ({took:.0f} s)"
        ok = not why
        print(("PASS " if ok else "FAIL ") + line, flush=True)
        if ok:
            passed += 1
        else:
            failing.append(seed)
            for w in why:
                print(f"     - {w}", flush=True)
            print(f"     replay: {shlex.join(cmd)}", flush=True)
            print(f"     run folder: {run_dir}  console: {log}", flush=True)
            if a.report_failures and res is not None:
                subprocess.run([a.whirl, "report", run_dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if a.summary:
            rec = (res or {}).get("recovery") or {}
            with open(a.summary, "a") as f:
                f.write(json.dumps({
                    "case": a.name, "seed": seed, "passed": ok, "checks": checks, "exit": rc, "why": why, "run_dir": run_dir,
                    "valid": (res or {}).get("valid"), "requests_per_s": (res or {}).get("requests_per_s"),
                    "answered": (res or {}).get("availability", {}).get("answered_fraction"),
                    "ok_fraction": (res or {}).get("availability", {}).get("ok_fraction"),
                    "p99_ms": (res or {}).get("latency_ms", {}).get("all", {}).get("p99"),
                    "recovery_max_ms": rec.get("max_ms"), "recovery_changes": rec.get("changes"),
                    "recovery_over_1s": rec.get("over_1s"), "recovery_never": rec.get("never"),
                    "lost_writes": lost_count(res) if res else None, "cross_check": ours,
                    "seconds": round(took, 1)}) + "\n")
    tail = f"; failing seeds: {' '.join(map(str, failing))}" if failing else ""
    print(f"{a.name}: {passed} of {a.runs} runs passed{tail}", flush=True)
    return 0 if passed == a.runs else 1


if __name__ == "__main__":
    sys.exit(main())

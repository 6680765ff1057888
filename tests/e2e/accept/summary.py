#!/usr/bin/env python3
"""summary.py - the closing table of accept.sh: per case, runs passed,
failing seeds, throughput, availability, recovery (whirl's and the
cross-check's) and lost writes; then `accept: N passed, N failed` (runs).
Exits 1 if any run failed.

  summary.py SUMMARY.jsonl
"""
import json
import sys


def fmt(xs, f="{:.0f}"):
    xs = [x for x in xs if x is not None]
    return f.format(min(xs)) + ".." + f.format(max(xs)) if xs else "-"


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    cases = []
    for r in rows:
        if r["case"] not in cases:
            cases.append(r["case"])
    passed = sum(r["passed"] for r in rows)
    failed = len(rows) - passed
    for c in cases:
        rs = [r for r in rows if r["case"] == c]
        ok = sum(r["passed"] for r in rs)
        line = f"{c}: {ok} of {len(rs)} passed"
        bad = [str(r["seed"]) for r in rs if not r["passed"]]
        if bad:
            line += f" (failing seeds {' '.join(bad)})"
        names = []
        for r in rs:
            names += [k for k in r.get("checks", {}) if k not in names]
        if names:
            line += " [" + ", ".join(f"{k} {sum(r.get('checks', {}).get(k, False) for r in rs)}/{len(rs)}"
                                     for k in names) + "]"
        if "requests_per_s" in rs[0]:
            line += f"; req/s {fmt([r['requests_per_s'] for r in rs], '{:.1f}')}"
            line += f"; answered {fmt([r['answered'] and 100 * r['answered'] for r in rs], '{:.2f}')}%"
            line += f"; p99 {fmt([r['p99_ms'] for r in rs])} ms"
            if any(r.get("recovery_changes") for r in rs):
                cc = [r["cross_check"] for r in rs if isinstance(r.get("cross_check"), dict)]
                line += (f"; recovery max {fmt([r['recovery_max_ms'] for r in rs])} ms over "
                         f"{sum(r['recovery_changes'] or 0 for r in rs)} changes, "
                         f"{sum(r['recovery_over_1s'] or 0 for r in rs)} >1 s, "
                         f"{sum(r['recovery_never'] or 0 for r in rs)} silent")
                if cc:
                    line += (f" (cross-check: first answer max {fmt([x.get('first_answer_max_ms') for x in cc])} ms, "
                             f"{sum(x.get('late_unanswered', 0) for x in cc)} late unanswered)")
            lw = [r["lost_writes"] for r in rs if r.get("lost_writes") is not None]
            if lw:
                line += f"; lost writes {sum(lw)}"
        print(line)
        for r in rs:
            if not r["passed"] and r.get("why"):
                print(f"    seed {r['seed']}: {'; '.join(r['why'])[:400]}  ({r.get('run_dir')})")
    print(f"accept: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

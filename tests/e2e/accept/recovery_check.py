#!/usr/bin/env python3
"""recovery_check.py - an independent measure of recovery, from a run's
history.jsonl alone, to cross-check whirl's `recovery` in results.json.

Issue 2: "under partitions, requests sent to nodes on the majority side are
answered again within 1 s of a partition starting or healing". Per fault
change (a nemesis event before the time limit) whose majority side is known
(partition components, a healed network, or the nodes left running by a
kill or pause), and per node of that side:
  first answer: the first request invoked after the change that the node
    answered from the data (ok, or error 20/22: both show the node served
    the state machine) - whirl counts only ok;
  late unanswered: requests invoked 1 s or more after the change and
    completed before the next change without an answer from the data
    (another error, or a timeout) - what the criterion says must not happen.
Ring and bridge partitions have no majority side and are skipped.

  recovery_check.py RUN_DIR      prints the figures as JSON
"""
import json
import os
import sys


def _side(ev, nodes):
    """The majority side after nemesis event ev, or None if it has none."""
    majority = len(nodes) // 2 + 1
    f, v = ev["f"], ev.get("value")
    if f in ("stop-partition", "restart", "resume"):
        return set(nodes)
    if f in ("kill", "pause"):
        down = set(v or [])
        up = set(nodes) - down
        return up if len(up) >= majority else set()
    if f == "start-partition":
        if not isinstance(v, list):
            return None  # ring or bridge: no closed majority group
        comps = [set(c) for c in v]
        rest = set(nodes) - set().union(*comps) if comps else set(nodes)
        if rest:
            comps.append(rest)
        big = [c for c in comps if len(c) >= majority]
        return big[0] if big else set()
    return None


def _answered(e):
    if e["type"] == "ok":
        return True
    return e["type"] == "fail" and isinstance(e.get("error"), list) and e["error"][0] in (20, 22)


def analyse(run_dir, res=None):
    if res is None:
        with open(os.path.join(run_dir, "results.json")) as f:
            res = json.load(f)
    n = res["options"]["node_count"]
    limit_ns = res["options"]["time_limit"] * 1e9
    nodes = [f"n{i}" for i in range(n)]
    events = []
    with open(os.path.join(run_dir, "history.jsonl")) as f:
        for line in f:
            events.append(json.loads(line))
    # Pair each invoke with its completion (a process has one op at a time).
    ops, open_by_proc = [], {}
    nemesis = []
    for e in events:
        if e["process"] == "nemesis":
            nemesis.append(e)
            continue
        if e["type"] == "invoke":
            op = {"node": e["node"], "invoke": e["time"], "done": None, "answered": False}
            open_by_proc[e["process"]] = op
            ops.append(op)
        else:
            op = open_by_proc.pop(e["process"], None)
            if op is not None:
                op["done"] = e["time"]
                op["answered"] = _answered(e)
    end_ns = events[-1]["time"] if events else 0
    out = {"changes": 0, "first_answer_max_ms": 0.0, "never": 0, "late_unanswered": 0, "list": []}
    for i, ch in enumerate(nemesis):
        t0 = ch["time"]
        if t0 >= limit_ns:
            continue
        t1 = nemesis[i + 1]["time"] if i + 1 < len(nemesis) else end_ns
        side = _side(ch, nodes)
        if not side:
            continue
        worst, silent, late = 0.0, [], []
        asked_any = False
        for node in sorted(side):
            mine = [o for o in ops if o["node"] == node and t0 <= o["invoke"] < t1]
            if not mine:
                continue
            asked_any = True
            answers = [o["done"] for o in mine if o["answered"] and o["done"] is not None and o["done"] < t1]
            if answers:
                worst = max(worst, (min(answers) - t0) / 1e6)
            else:
                silent.append(node)
            late += [o for o in mine if o["invoke"] >= t0 + 1e9 and not o["answered"]
                     and o["done"] is not None and o["done"] < t1]
        if not asked_any:
            continue
        out["changes"] += 1
        out["first_answer_max_ms"] = max(out["first_answer_max_ms"], worst)
        out["never"] += bool(silent)
        out["late_unanswered"] += len(late)
        out["list"].append({"at_s": round(t0 / 1e9, 3), "after": ch.get("text") or ch["f"],
                            "first_answer_ms": round(worst, 1), "never": silent,
                            "late_unanswered": [(o["node"], round(o["invoke"] / 1e9, 3)) for o in late[:10]]})
    return out


if __name__ == "__main__":
    print(json.dumps(analyse(sys.argv[1]), indent=1))

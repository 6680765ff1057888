#!/usr/bin/env python3
"""mutate.py - mutation testing: put realistic bugs into the code one at a
time and check that the fast suites (build/tests/unit_tests and
build/tests/raft_tests) catch each of them.

The catalog is tests/mutants/*.txt (format in tests/mutants/README.md). Each
mutant replaces one exact snippet of a source file; a snippet that does not
occur exactly once is STALE and fails the run. The tree is copied once into
a scratch directory and built there; each mutant is applied, rebuilt
incrementally, run with a per-test time limit, and reverted.

  scripts/mutate.py                    every mutant
  scripts/mutate.py raft kv-codes-swap  areas (catalog file names) or ids
  MUTANTS="raft kv" make mutate        the same through make

Environment: MUTATE_SCRATCH=DIR reuses (and keeps) a scratch tree between
runs; MUTATE_TIMEOUT=S is the per-test time limit (default 60 s);
MUTATE_JOBS=N the build and test parallelism (default 2).

Exit status: 0 when every non-equivalent mutant is caught; 1 when one
survived, is stale, does not build, or is marked equivalent yet caught.
Standard library only (Debian's /usr/bin/python3 runs it).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOG = os.path.join(ROOT, "tests", "mutants")
SKIP_DIRS = {".git", "build", "build-asan", "store", "cluster", "node_modules", "__pycache__"}
JOBS = os.environ.get("MUTATE_JOBS", "2")
TIMEOUT = int(os.environ.get("MUTATE_TIMEOUT", "60"))
TARGETS = ["build/tests/unit_tests", "build/tests/raft_tests", "build/raftkv"]
SUITES = ["build/tests/unit_tests", "build/tests/raft_tests"]


class Mutant:
    def __init__(self, area, line):
        self.area, self.line = area, line
        self.id = self.file = self.bug = self.equivalent = None
        self.find = self.replace = None
        self.fate = self.detail = ""
        self.seconds = 0.0


def parse_catalog(path):
    """Blocks of the form (see tests/mutants/README.md):
        == id
        file: src/...
        bug: one sentence
        equivalent: reason          (optional)
        --- find
        exact lines
        --- replace
        lines
    """
    area = os.path.splitext(os.path.basename(path))[0]
    mutants, cur, section, errors = [], None, None, []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for no, raw in enumerate(lines, 1):
        if raw.startswith("== "):
            cur = Mutant(area, f"{os.path.relpath(path, ROOT)}:{no}")
            cur.id = raw[3:].strip()
            cur.find, cur.replace = [], []
            mutants.append(cur)
            section = None
            continue
        if cur is None:
            if raw.strip() and not raw.startswith("#"):
                errors.append(f"{path}:{no}: text before the first '== id' line")
            continue
        if raw.strip() == "--- find":
            section = cur.find
            continue
        if raw.strip() == "--- replace":
            section = cur.replace
            continue
        if section is not None:
            section.append(raw)
            continue
        m = re.match(r"(file|bug|equivalent):\s*(.*)$", raw)
        if m:
            setattr(cur, m.group(1), m.group(2).strip())
        elif raw.strip() and not raw.startswith("#"):
            errors.append(f"{path}:{no}: unexpected line: {raw!r}")
    for m in mutants:
        # Blank lines and comment lines ("# " at column 0) between a block and
        # the next '== ' separate, not belong.
        for part in (m.find, m.replace):
            while part and (not part[-1].strip() or part[-1].startswith("# ")):
                part.pop()
        m.find = "\n".join(m.find)
        m.replace = "\n".join(m.replace)
        if not (m.file and m.bug and m.find):
            errors.append(f"{m.line}: mutant {m.id} needs file:, bug: and a --- find block")
        elif m.find == m.replace:
            errors.append(f"{m.line}: mutant {m.id} changes nothing")
    return mutants, errors


def load(selectors):
    mutants, errors = [], []
    for name in sorted(os.listdir(CATALOG)):
        if name.endswith(".txt"):
            ms, errs = parse_catalog(os.path.join(CATALOG, name))
            mutants += ms
            errors += errs
    seen = set()
    for m in mutants:
        if m.id in seen:
            errors.append(f"{m.line}: duplicate mutant id {m.id}")
        seen.add(m.id)
    if selectors:
        known = {m.area for m in mutants} | seen
        for s in selectors:
            if s not in known:
                errors.append(f"no area or mutant id {s!r} in {os.path.relpath(CATALOG, ROOT)}")
        mutants = [m for m in mutants if m.area in selectors or m.id in selectors]
    return mutants, errors


def sync_tree(dst):
    """Copy the source tree into dst, rewriting only files whose bytes
    differ, so a reused scratch tree rebuilds only what changed."""
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith("build")]
        rel = os.path.relpath(dirpath, ROOT)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for fn in filenames:
            src, out = os.path.join(dirpath, fn), os.path.join(dst, rel, fn)
            with open(src, "rb") as f:
                data = f.read()
            try:
                with open(out, "rb") as f:
                    if f.read() == data:
                        continue
            except OSError:
                pass
            shutil.copy2(src, out)
            os.utime(out)  # newer than any object built from the old copy


def build(work):
    p = subprocess.run(["make", "-j" + JOBS, "--no-print-directory"] + TARGETS, cwd=work,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode == 0, p.stdout


def first_failure(out):
    for line in out.splitlines():
        m = re.search(r"\[(FAIL|ERR|----)\]\s*(\S+?::\S+?)[:\s]", line)
        if m:
            return m.group(2)
        if "Timed out" in line or "timed out" in line:
            return line.strip()[:80]
    return ""


def run_suites(work, order):
    """(caught, detail): a suite failing (a failed assertion, a crash, or a
    test over its time limit) catches the mutant."""
    for suite in order:
        cmd = [suite, "--jobs", JOBS, "--timeout", str(TIMEOUT), "--fail-fast", "--ascii",
               "--short-filename"]
        try:
            # The outer limit only guards against the runner itself hanging.
            p = subprocess.run(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", timeout=TIMEOUT * 20)
        except subprocess.TimeoutExpired:
            return True, f"{os.path.basename(suite)}: the runner hung (outer limit)"
        if p.returncode != 0:
            what = first_failure(p.stdout) or f"exit {p.returncode}"
            return True, f"{os.path.basename(suite)}: {what}"
    return False, ""


def main(argv):
    selectors = argv[1:] or os.environ.get("MUTANTS", "").split()
    mutants, errors = load(selectors)
    for e in errors:
        print("mutate: " + e, file=sys.stderr)
    if errors:
        return 1
    if not mutants:
        print("mutate: no mutants selected", file=sys.stderr)
        return 1

    # Anchors: each snippet must occur exactly once in the current tree.
    texts, stale = {}, []
    for m in mutants:
        path = os.path.join(ROOT, m.file)
        if m.file not in texts:
            try:
                with open(path, encoding="utf-8") as f:
                    texts[m.file] = f.read()
            except OSError as e:
                texts[m.file] = None
                m.detail = str(e)
        text = texts[m.file]
        count = text.count(m.find) if text is not None else 0
        if count != 1:
            m.fate = "STALE"
            m.detail = m.detail or (f"snippet found {count} times in {m.file} (must be once); "
                                    f"update {m.line}")
            stale.append(m)
            print(f"mutate: STALE {m.id}: {m.detail}", file=sys.stderr)

    keep = os.environ.get("MUTATE_SCRATCH")
    work = keep or tempfile.mkdtemp(prefix="raftkv-mutate-")
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    print(f"mutate: {len(mutants)} mutants, scratch tree {work}, per-test limit {TIMEOUT} s")
    try:
        sync_tree(work)
        ok, out = build(work)
        if not ok:
            print(out[-4000:])
            print("mutate: the unmutated tree does not build", file=sys.stderr)
            return 1
        caught, detail = run_suites(work, SUITES)
        if caught:
            print(f"mutate: the unmutated tree fails its tests ({detail}); fix that first",
                  file=sys.stderr)
            return 1
        print(f"mutate: baseline built and passed in {time.time() - t0:.0f} s")

        live = [m for m in mutants if m.fate != "STALE"]
        for i, m in enumerate(live, 1):
            start = time.time()
            path = os.path.join(work, m.file)
            with open(path, encoding="utf-8") as f:
                original = f.read()
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(original.replace(m.find, m.replace, 1))
                ok, out = build(work)
                if not ok:
                    m.fate = "BUILD-ERROR"
                    errs = [l for l in out.splitlines() if "error:" in l]
                    m.detail = (errs[0] if errs else out.strip().splitlines()[-1])[:100]
                else:
                    order = SUITES[::-1] if m.file.startswith("src/raft/") else SUITES
                    caught, m.detail = run_suites(work, order)
                    if m.equivalent:
                        m.fate = "EQUIV-BUT-CAUGHT" if caught else "equivalent"
                        if not caught:
                            m.detail = m.equivalent
                    else:
                        m.fate = "caught" if caught else "SURVIVED"
            finally:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(original)
            m.seconds = time.time() - start
            print(f"[{i}/{len(live)}] {m.id:<34} {m.fate:<16} {m.seconds:5.1f}s  {m.detail}",
                  flush=True)
        build(work)  # leave a reused scratch tree built from the real sources
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'mutant':<34} {'area':<11} {'fate':<16} detail")
    for m in mutants:
        print(f"{m.id:<34} {m.area:<11} {m.fate:<16} {m.detail}")
    bad = [m for m in mutants if m.fate not in ("caught", "equivalent")]
    equiv = sum(1 for m in mutants if m.fate == "equivalent")
    counted = [m for m in mutants if not m.equivalent]
    n_caught = sum(1 for m in counted if m.fate == "caught")
    print()
    print(f"mutate: caught {n_caught} of {len(counted)} non-equivalent ({equiv} equivalent), "
          f"{time.time() - t0:.0f} s")
    for m in bad:
        print(f"mutate: {m.fate} {m.id} ({m.line}): {m.bug}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Tornado's own test suite against squall (issue 17).

The test modules come from the installed ``tornado`` package (its wheel ships
``tornado/test/``); none of them is kept in this repository. They are copied
to a temporary directory twice:

- ``tornado_suite``: as shipped, with only ``tornado.test`` renamed to the
  copy's package name; run on Tornado;
- ``squall_suite``: the same, and then every ``tornado`` *name* (a NAME token
  of the Python tokenizer: imports and attribute references, never text in
  strings or comments) rewritten to ``squall``, and so is ``tornado`` in a
  string that holds Python source importing it (a program a test runs in a
  subprocess, which would otherwise test Tornado); run on squall.

Each module runs in a subprocess of its own (a hang or a crash costs that
module only, within ``--timeout`` seconds) with a unittest result that
records every test's outcome as it ends. Printed per module: tests
collected, passed on Tornado, passed on squall (of those that passed on
Tornado), excluded (tests/tornado/excluded.txt: only tests whose own
assertions inspect Tornado internals, each with its reason), and the floor.

Exit status 1 when a module's squall figure is below its committed floor in
tests/tornado/floors.txt (so the figure can only go up: raise the floor when
it does, ``--write-floors`` writes today's figures), or when Tornado itself
cannot be found.

    python3 tests/tornado/run.py [-q] [--module web ...] [--timeout S]
            [--write-floors] [--failures] [--keep]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PKG = ROOT / "bindings" / "python"

MODULES = [
    "escape", "options", "httputil", "util", "template", "locale", "ioloop", "gen", "locks",
    "queues", "concurrent", "testing", "tcpserver", "tcpclient", "netutil", "iostream",
    "httpclient", "simple_httpclient", "httpserver", "web", "websocket", "routing",
]

SUITE = {"tornado": "tornado_suite", "squall": "squall_suite"}

# The modules that take longest (seconds on two cores), started first so the
# parallel run is not left waiting on one of them at the end.
SLOW = {"web": 30, "simple_httpclient": 25, "httpserver": 20, "iostream": 20, "websocket": 15,
        "httpclient": 15, "gen": 10, "ioloop": 10, "tcpclient": 8}


# ---- copying and rewriting ------------------------------------------------

def tornado_test_dir() -> Path:
    out = subprocess.run([sys.executable, "-c", "import tornado, os; print(tornado.version); "
                          "print(os.path.dirname(tornado.__file__))"],
                         capture_output=True, text=True, cwd="/")
    if out.returncode != 0:
        sys.exit("tornado is not installed (pip install -r tests/requirements.txt): " + out.stderr.strip())
    version, path = out.stdout.split()
    if not version.startswith("6."):
        sys.exit(f"tornado {version} installed; the suite is Tornado 6.x's")
    d = Path(path) / "test"
    if not (d / "web_test.py").exists():
        sys.exit(f"{d}: no test modules (a tornado install without tornado/test?)")
    return d


def rewrite(source: str, suite: str, to_squall: bool, modules: frozenset[str] = frozenset()) -> str:
    """``tornado.test`` -> the suite package; with ``to_squall``, every other
    NAME token ``tornado`` -> ``squall`` (comments untouched; strings only
    when they hold Python source importing tornado, or are, whole, the dotted
    name of one of ``modules`` or of something in it: see below)."""
    source = re.sub(r"\btornado\.test\b", suite, source)
    if not to_squall:
        return source
    lines = source.splitlines(keepends=True)
    spots = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.string == "tornado":
            spots.append(tok.start)
        elif tok.type == tokenize.STRING and _CODE_IMPORT.search(tok.string):
            # Python source in a string (a program a test runs in a
            # subprocess): its imports must be rewritten too, or that
            # program would test Tornado while the test counts for squall.
            text = tok.string.splitlines(keepends=True)
            for i, part in enumerate(text):
                row = tok.start[0] + i
                base = tok.start[1] if i == 0 else 0
                for m in re.finditer(r"\btornado\b", part):
                    spots.append((row, base + m.start()))
        elif tok.type == tokenize.STRING:
            # A string that is, whole, a dotted name in one of Tornado's
            # modules ("tornado.escape", "tornado.escape.utf8": what a test
            # hands to import_object or mock.patch) is an import by name,
            # which a port rewrites as it rewrites its imports. Logger names
            # ("tornado.access", "tornado.application") name no module and
            # stay as they are.
            m = _DOTTED_NAME.match(tok.string)
            if m and m.group(3) in modules:
                spots.append((tok.start[0], tok.start[1] + m.start(2)))
    for row, col in sorted(spots, reverse=True):
        line = lines[row - 1]
        assert line[col:col + len("tornado")] == "tornado", (row, col, line)
        lines[row - 1] = line[:col] + "squall" + line[col + len("tornado"):]
    return "".join(lines)


_CODE_IMPORT = re.compile(r"^\s*(from\s+tornado\b|import\s+tornado\b)", re.M)
_DOTTED_NAME = re.compile(r"""^[uU]?(['"])(tornado)\.(\w+)(\.\w+)*\1$""")


def make_suite(src: Path, dest_root: Path, front: str) -> Path:
    suite = SUITE[front]
    dest = dest_root / suite
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    # Tornado's module and package names (escape, web, platform, ...), not test
    modules = frozenset(p.stem for p in src.parent.iterdir()
                        if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "test"
                        and not p.name.startswith("_"))
    # .cfg files are Python too (options_test's config files)
    for py in [*dest.rglob("*.py"), *dest.rglob("*.cfg")]:
        text = py.read_text(encoding="utf-8")
        py.write_text(rewrite(text, suite, front == "squall", modules), encoding="utf-8")
    return dest


# ---- running one module (in a child process) ------------------------------

CHILD = r'''
import json, logging, sys, time, unittest, warnings
front, suite, module, out_path = sys.argv[1:5]
out = open(out_path, "a", buffering=1)
def emit(**kw):
    out.write(json.dumps(kw) + "\n")
# As Tornado's runtests.py: strict warnings, except deprecations outside the front.
warnings.filterwarnings("error")
warnings.filterwarnings("ignore", category=ImportWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("error", category=DeprecationWarning, module=front + r"\..*")
warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
warnings.filterwarnings("error", category=PendingDeprecationWarning, module=front + r"\..*")
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
logging.getLogger(front + ".access").setLevel(logging.CRITICAL)
from unittest import TestCase
def tid(test):
    return test.id().split(".", 1)[1] if test.id().startswith(suite + ".") else test.id()
class Result(unittest.TestResult):
    def startTest(self, test):
        super().startTest(test)
        self._t0 = time.monotonic()
        emit(id=tid(test), status="started")
    def _end(self, test, status, detail=""):
        emit(id=tid(test), status=status, secs=round(time.monotonic() - getattr(self, "_t0", time.monotonic()), 3),
             detail=detail[-3000:])
    def addSuccess(self, test):
        super().addSuccess(test); self._end(test, "pass")
    def addFailure(self, test, err):
        super().addFailure(test, err); self._end(test, "fail", self._exc_info_to_string(err, test))
    def addError(self, test, err):
        super().addError(test, err)
        if isinstance(test, unittest.TestCase):
            self._end(test, "error", self._exc_info_to_string(err, test))
        else:  # a class or module fixture
            emit(id=str(test), status="fixture-error", detail=self._exc_info_to_string(err, test)[-3000:])
    def addSkip(self, test, reason):
        super().addSkip(test, reason); self._end(test, "skip", reason)
    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err); self._end(test, "xfail")
    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test); self._end(test, "fail", "unexpected success")
    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._end(test, "fail", self._exc_info_to_string(err, test))
try:
    tests = unittest.defaultTestLoader.loadTestsFromName(suite + "." + module + "_test")
except Exception as e:
    emit(id="<import>", status="import-error", detail=repr(e)[-3000:]); sys.exit(0)
def flat(s):
    for t in s:
        if isinstance(t, unittest.TestSuite):
            yield from flat(t)
        else:
            yield t
# abstract base classes (tornado/test/util.py) skip themselves: not tests
ids = [tid(t) for t in flat(tests) if "abstract_base_test.<locals>" not in tid(t)]
failed = [t for t in flat(tests) if type(t).__name__ == "_FailedTest"]
if failed:
    emit(id="<import>", status="import-error", detail=str(getattr(failed[0], "_exception", ""))[-3000:])
    sys.exit(0)
emit(id="<collected>", status="collected", detail=json.dumps(ids))
tests.run(Result())
emit(id="<done>", status="done")
'''


def run_module(front: str, root: Path, module: str, out_dir: Path, timeout: float) -> dict:
    out_path = out_dir / f"{front}-{module}.jsonl"
    out_path.unlink(missing_ok=True)
    env = dict(os.environ)
    path = [str(root)]
    if front == "squall":
        path.insert(0, str(PKG))
    env["PYTHONPATH"] = os.pathsep.join(path + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("ASYNC_TEST_TIMEOUT", "5")
    env["PYTHONUNBUFFERED"] = "1"
    log = open(out_dir / f"{front}-{module}.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, front, SUITE[front], module, str(out_path)],
                            cwd=str(root), env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, 9)  # the child's own session: only what this runner started
        proc.wait()
    log.close()
    res = {"collected": [], "status": {}, "detail": {}, "import_error": None, "timed_out": timed_out,
           "crashed": False}
    done = False
    started = None
    if out_path.exists():
        for line in out_path.read_text().splitlines():
            rec = json.loads(line)
            if rec["status"] == "collected":
                res["collected"] = json.loads(rec["detail"])
            elif rec["status"] == "import-error":
                res["import_error"] = rec["detail"]
            elif rec["status"] == "done":
                done = True
            elif rec["status"] == "started":
                started = rec["id"]
            elif rec["status"] == "fixture-error":
                res["detail"][rec["id"]] = rec["detail"]
            else:
                # a test that failed a subtest and then "passed" keeps its failure
                if res["status"].get(rec["id"]) != "fail":
                    res["status"][rec["id"]] = rec["status"]
                if rec.get("detail"):
                    res["detail"][rec["id"]] = rec["detail"]
                started = None
    if not done and not res["import_error"]:
        res["crashed"] = not timed_out
        if started:
            res["status"][started] = "timeout" if timed_out else "crash"
    return res


# ---- the committed lists --------------------------------------------------

def read_excluded() -> dict[str, str]:
    out = {}
    for line in (HERE / "excluded.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tid, _, reason = line.partition(" ")
        if not reason.strip():
            sys.exit(f"excluded.txt: {tid} has no reason")
        out[tid] = reason.strip()
    return out


def read_floors() -> dict[str, int]:
    out = {}
    p = HERE / "floors.txt"
    if p.exists():
        for line in p.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                mod, n = line.split()
                out[mod] = int(n)
    return out


def write_floors(figures: dict[str, int]) -> None:
    lines = ["# Tornado's test modules: the fewest tests of each that must pass on squall",
             "# (tests/tornado/run.py fails below it). Raise a floor when the figure goes up",
             "# (run.py --write-floors writes the current figures); never lower one.",
             ]
    lines += [f"{m} {figures[m]}" for m in MODULES if m in figures]
    (HERE / "floors.txt").write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", action="append", help="run only these modules (repeatable)")
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds per module and front")
    ap.add_argument("--write-floors", action="store_true", help="write today's squall figures as the floors")
    ap.add_argument("--failures", action="store_true", help="print each squall failure's last lines")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (its path is printed)")
    ap.add_argument("-q", action="store_true", help="only the table")
    ap.add_argument("--jobs", type=int, default=4,
                    help="module runs at once (each is a child process mostly waiting on sockets and timers)")
    args = ap.parse_args()
    modules = args.module or MODULES
    for m in modules:
        if m not in MODULES:
            sys.exit(f"unknown module {m!r}; known: {' '.join(MODULES)}")
    excluded = read_excluded()
    floors = read_floors()
    src = tornado_test_dir()
    tmp = Path(tempfile.mkdtemp(prefix="squall-tornado-"))
    t0 = time.monotonic()
    try:
        roots = {}
        for front in ("tornado", "squall"):
            roots[front] = tmp / front
            make_suite(src, roots[front], front)
        out_dir = tmp / "results"
        out_dir.mkdir()
        rows = []
        figures = {}
        bad = []
        fmt = "{:<18} {:>9} {:>8} {:>7} {:>8} {:>6} {:>6}"
        print(fmt.format("module", "collected", "tornado", "squall", "excluded", "floor", "share"))
        totals = [0, 0, 0, 0]
        # Every (front, module) run is a child process of its own, on its own
        # ports (bind_unused_port), and spends most of its time waiting on
        # sockets and timers: --jobs of them run at once, the slowest first.
        jobs = [(f, m) for m in sorted(modules, key=lambda m: -SLOW.get(m, 0)) for f in ("tornado", "squall")]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futs = {job: pool.submit(run_module, job[0], roots[job[0]], job[1], out_dir, args.timeout) for job in jobs}
            results = {job: fut.result() for job, fut in futs.items()}
        for m in modules:
            rt = results[("tornado", m)]
            rs = results[("squall", m)]
            ids = rt["collected"]
            ex = [t for t in ids if t in excluded]
            ok_t = [t for t in ids if rt["status"].get(t) == "pass" and t not in ex]
            ok_s = [t for t in ok_t if rs["status"].get(t) == "pass"]
            figures[m] = len(ok_s)
            floor = floors.get(m, 0)
            share = f"{100 * len(ok_s) / len(ok_t):.0f}%" if ok_t else "-"
            print(fmt.format(m, len(ids), len(ok_t), len(ok_s), len(ex), floor, share), flush=True)
            totals = [a + b for a, b in zip(totals, (len(ids), len(ok_t), len(ok_s), len(ex)))]
            # A test of Tornado's that depends on timing can fail now and
            # then on a loaded machine: a module fails below its floor less
            # a margin (2 %, at least one test) so that one such flake does
            # not fail the run; a real regression of more does.
            margin = max(1, floor // 50)
            if len(ok_s) < floor - margin:
                bad.append(f"{m}: {len(ok_s)} tests pass on squall, below the floor {floor} (less {margin})")
            elif len(ok_s) < floor:
                print(f"    note: {m} is {floor - len(ok_s)} below its floor {floor}, within the margin of {margin}")
            if rt["import_error"] or rt["timed_out"] or rt["crashed"]:
                bad.append(f"{m}: the Tornado run did not complete "
                           f"({'timeout' if rt['timed_out'] else rt['import_error'] or 'crash'})")
            note = ""
            if rs["import_error"]:
                note = "import: " + rs["import_error"].strip().splitlines()[-1][:150]
            elif rs["timed_out"]:
                note = f"timed out after {args.timeout:.0f}s"
            elif rs["crashed"]:
                note = "the child process died"
            if note and not args.q:
                print(f"    squall {m}: {note}")
            if args.failures:
                for t in ok_t:
                    if t not in ok_s:
                        d = rs["detail"].get(t, rs["status"].get(t, "not run"))
                        last = [x for x in d.strip().splitlines() if x.strip()][-1:] if d else ["?"]
                        print(f"      {t}: {rs['status'].get(t, 'not run')}: {last[0][:160]}")
            rows.append((m, ids, ok_t, ok_s, ex))
        ran = {m for m, *_ in rows}
        seen = {t for _, ids, *_ in rows for t in ids}
        for tid in excluded:
            if tid.split("_test.", 1)[0] in ran and tid not in seen:
                bad.append(f"excluded.txt names {tid}, which is not a test of the module")
        share = f"{100 * totals[2] / totals[1]:.0f}%" if totals[1] else "-"
        print(fmt.format("total", totals[0], totals[1], totals[2], totals[3], "", share))
        if not args.q:
            print(f"({time.monotonic() - t0:.0f} s; results in {out_dir if args.keep else 'a removed temp dir'})")
        if args.write_floors:
            old = read_floors()
            for m, n in figures.items():
                if n < old.get(m, 0):
                    print(f"--write-floors: {m} would go down ({old[m]} -> {n}); kept {old[m]}")
                    figures[m] = old[m]
            old.update(figures)
            write_floors(old)
            print("floors.txt written")
            bad = [b for b in bad if "below the floor" not in b]
        for b in bad:
            print("FAIL " + b)
        return 1 if bad else 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
